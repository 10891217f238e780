"""JAX front end: diffclust's kernels as differentiable JAX functions.

Every function here is a ``jax.custom_vjp`` over ``jax.pure_callback`` with
``vmap_method="broadcast_all"``: ``jit``, ``grad``, ``vmap`` and their compositions
work, and ``vmap`` turns into ONE host call over the whole batch (not one call per
element). Works with ``jax_enable_x64`` on or off: float32 in, float32 out;
float64 in, float64 out; float16/bfloat16 are computed in float32 and cast back.

Arguments that shape the computation (``k``, ``sigma``, ``n_samples``, ``alpha``,
``covariance_type``) are static Python values, checked at trace time together with
every shape: a bad argument raises ``TypeError``/``ValueError`` naming it before any
callback runs. Values cannot be checked while tracing (``S`` is abstract under
``jit``): NaN or infinity in ``S``, labels that the kernels reject (more distinct
labels than k), or a negative affinity are detected by the kernel inside the
callback, and JAX then raises ``jax.errors.JaxRuntimeError`` (a ``RuntimeError``)
whose message holds the kernel's ``ValueError``. Concrete (non-traced) labels are
checked at call time.

Randomness
----------
A ``jax.random`` key becomes 64-bit seeds of diffclust's counter-based generator,
inside the traced function (so ``jit`` does not recompile per key)::

    words = jax.random.bits(key, (*batch_shape, 2), jnp.uint32)
    seed = (int(words[..., 0]) << 32) | int(words[..., 1])      # uint64

where ``batch_shape`` is ``S.shape[:-2]`` (``()`` for one (n, n) matrix). The same
words are drawn with x64 on or off, so a key gives the same noise in both modes.
:func:`seeds` returns these seeds as a NumPy ``uint64`` array: to reproduce a JAX
result with the NumPy API, pass ``seed=int(seeds(key, batch_shape)[t])`` for element
``t`` (of the flattened batch) to :func:`diffclust.perturbed_kforest`,
:func:`diffclust.perturbed_kforest_vjp` or :func:`diffclust.partial_fy_loss`.
Under ``vmap`` each call sees one element: a batched key gives each element
``seeds(key_t)``, and an unbatched key gives every element the same seed (as a
Python loop would).

What is differentiable
----------------------
- :func:`perturbed_kforest`: in S. ``dF/dS = A`` exactly; ``A`` and ``M`` through the
  Gaussian score estimator (:func:`diffclust.perturbed_kforest_vjp`, control variate
  on by default). Its callback is skipped for elements whose ``A`` and ``M``
  cotangents are both zero (only ``F`` used). ``known_labels`` are not differentiable.
- :func:`partial_fy_loss`: in S, ``dL/dS = A_eps(S) - A_eps(S; y)``, computed in the
  forward pass and kept as the residual (the backward pass costs nothing).
- :func:`soft_ncut`: in P (the kernel's gradient) and in W (closed form, below).
- :func:`dec_loss`: in Z and the centers (the kernel's gradients); ``target`` is held
  fixed (no gradient flows into it, as in DEC).
- :func:`kmeans_loss`: in X and the centers; the labels (given or nearest center)
  are piecewise constant.
- Reverse mode only (``grad``, ``vjp``, ``jacrev``), first order: forward mode
  (``jvp``, ``jacfwd``, ``hessian``) raises JAX's error for callbacks.
- :func:`perturbed_hdbscan`: in X, through ``mr_similarity`` and the score estimator
  of :func:`diffclust.perturbed_hdbscan_vjp` (the samples are solved again in the
  backward pass; one host call per element under ``vmap``).
- :func:`gmm_nll` and :func:`kforest`: not differentiable (``gmm_nll`` raises a
  ``TypeError`` when differentiated; ``kforest`` returns integer labels).

References
----------
L. Stewart, F. Bach, F. Llinares-López, Q. Berthet. Differentiable Clustering with
Perturbed Spanning Forests. NeurIPS 2023. arXiv:2305.16358.
"""

from __future__ import annotations

try:
    import jax  # noqa: F401
except ImportError as exc:  # pragma: no cover - jax is installed by the test extra
    raise ImportError(
        "diffclust.jax needs JAX; install it with: pip install 'diffclust[jax]'"
    ) from exc

from .. import _ops as _ops  # the kernels layer, for tests and tools
from ._host import seeds
from .density import mr_distances, mr_similarity, perturbed_hdbscan
from .forests import PerturbedForest, kforest, partial_fy_loss, perturbed_kforest
from .losses import dec_loss, gmm_nll, kmeans_loss, soft_ncut

__all__ = [
    "PerturbedForest",
    "dec_loss",
    "gmm_nll",
    "kforest",
    "kmeans_loss",
    "mr_distances",
    "mr_similarity",
    "partial_fy_loss",
    "perturbed_hdbscan",
    "perturbed_kforest",
    "seeds",
    "soft_ncut",
]
