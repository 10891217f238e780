"""Differentiable mutual-reachability similarities as JAX functions.

``mr_similarity(X, min_samples)`` is ``S = -d_mr`` with ``d_mr(i, j) = max(core_i,
core_j, d(x_i, x_j))`` and the core distance the distance to the ``min_samples``-th
nearest point, **the point itself included** (:func:`diffclust.hdbscan`'s
convention). It is plain ``jax.numpy`` (pairwise differences, a sort, maxima), so
``jit``, ``grad`` and ``vmap`` work and gradients flow to X almost everywhere: feed it
to :func:`diffclust.jax.perturbed_kforest` or :func:`diffclust.jax.partial_fy_loss`.
``min_samples`` and ``metric`` are static. :func:`perturbed_hdbscan` runs HDBSCAN* on
the perturbed trees of that similarity (expected co-clustering and noise
probabilities), differentiable in X through it.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._validation import check_int, resolve_metric, resolve_threads
from ._host import _float_input, _sds, _seed_ints, _words

__all__ = ["mr_distances", "mr_similarity", "perturbed_hdbscan"]


def _pairwise(X: Any, metric: str) -> Any:
    """(..., n, n) distances with a zero diagonal; gradients 0 where a distance is 0."""
    if metric == "cosine":
        U = X / jnp.linalg.norm(X, axis=-1, keepdims=True)
        D = 1.0 - U @ jnp.swapaxes(U, -1, -2)
    else:
        diff = X[..., :, None, :] - X[..., None, :, :]
        if metric == "manhattan":
            D = jnp.abs(diff).sum(-1)
        else:
            sq = (diff * diff).sum(-1)
            if metric == "sqeuclidean":
                D = sq
            else:  # euclidean: sqrt with a zero gradient at zero distance; NaN stays NaN
                zero = sq == 0
                D = jnp.where(zero, 0.0, jnp.sqrt(jnp.where(zero, 1.0, sq)))
    n = X.shape[-2]
    return jnp.where(jnp.eye(n, dtype=bool), jnp.zeros((), D.dtype), D)


def mr_distances(X: Any, min_samples: int = 5, *, metric: str = "euclidean") -> Any:
    """Mutual-reachability distances ``max(core_i, core_j, d(x_i, x_j))``, differentiable.

    Parameters
    ----------
    X : jax array, shape (..., n, d)
        Points (floating point).
    min_samples : int, default 5
        Neighbours of a core point, the point itself included; in [1, n] (static).
    metric : {"euclidean", "sqeuclidean", "manhattan", "cosine"} or an alias (static)

    Returns
    -------
    jax array, shape (..., n, n)
        Symmetric with a zero diagonal, in X's dtype; equal to
        :func:`diffclust.mutual_reachability_distances` to rounding.
    """
    X = jnp.asarray(X)
    if not jnp.issubdtype(X.dtype, jnp.floating):
        raise TypeError(f"X must be a floating-point array, got {X.dtype}")
    if X.ndim < 2 or X.shape[-2] < 1 or X.shape[-1] < 1:
        raise ValueError(f"X must have shape (..., n, d) with n, d >= 1, got {tuple(X.shape)}")
    name = resolve_metric(metric)
    n = X.shape[-2]
    ms = check_int(min_samples, "min_samples")
    if not 1 <= ms <= n:
        raise ValueError(f"min_samples must be in [1, n_samples] = [1, {n}] (it counts the point itself), got {ms}")
    D = _pairwise(X, name)
    core = jnp.sort(D, axis=-1)[..., ms - 1]
    M = jnp.maximum(D, jnp.maximum(core[..., :, None], core[..., None, :]))
    return jnp.where(jnp.eye(n, dtype=bool), jnp.zeros((), M.dtype), M)


def mr_similarity(X: Any, min_samples: int = 5, *, metric: str = "euclidean") -> Any:
    """The mutual-reachability similarity ``S = -d_mr`` (zero diagonal), differentiable.

    See :func:`mr_distances` for the parameters. ``diffclust.jax.partial_fy_loss(
    mr_similarity(X, m), k, key, ...)`` trains X through density clustering.
    """
    return -mr_distances(X, min_samples, metric=metric)


# --------------------------------------------------------------------------- perturbed HDBSCAN*


class _Hdbscan(NamedTuple):  # the static arguments (hashable)
    min_cluster_size: int
    sigma: float
    sigma_scale: str
    n_samples: int
    selection: tuple[str, float, bool]


def _hdbscan_host(cfg: _Hdbscan, S: Any, words: Any) -> Any:
    from .. import density_perturbed as dp

    S = np.asarray(S)
    C, noise = dp.hdbscan_of_similarity(S, cfg.min_cluster_size, cfg.sigma, cfg.sigma_scale, cfg.n_samples,
                                        int(_seed_ints(words)[0]), cfg.selection, resolve_threads(None))
    return C, noise


def _hdbscan_vjp_host(cfg: _Hdbscan, S: Any, words: Any, gC: Any, gn: Any) -> Any:
    from .. import density_perturbed as dp

    S = np.asarray(S)
    VC, vn = np.asarray(gC), np.asarray(gn)
    return dp.hdbscan_of_similarity_vjp(S, None if not VC.any() else VC, None if not vn.any() else vn,
                                        cfg.min_cluster_size, cfg.sigma, cfg.sigma_scale, cfg.n_samples,
                                        int(_seed_ints(words)[0]), cfg.selection, resolve_threads(None))


def _hdbscan_call(cfg: _Hdbscan, S: Any, words: Any) -> Any:
    n = S.shape[-1]
    shapes = (_sds((n, n), S.dtype), _sds((n,), S.dtype))
    return jax.pure_callback(functools.partial(_hdbscan_host, cfg), shapes, S, words, vmap_method="sequential")


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _hdbscan(cfg: _Hdbscan, S: Any, words: Any) -> Any:
    return _hdbscan_call(cfg, S, words)


def _hdbscan_fwd(cfg: _Hdbscan, S: Any, words: Any) -> Any:
    return _hdbscan_call(cfg, S, words), (S, words)


def _hdbscan_bwd(cfg: _Hdbscan, res: Any, g: Any) -> Any:
    S, words = res
    gC, gn = g
    grad = jax.pure_callback(functools.partial(_hdbscan_vjp_host, cfg), _sds(S.shape, S.dtype), S, words,
                             gC.astype(S.dtype), gn.astype(S.dtype), vmap_method="sequential")
    return grad, None


_hdbscan.defvjp(_hdbscan_fwd, _hdbscan_bwd)


def perturbed_hdbscan(
    X: Any,
    key: Any,
    *,
    min_cluster_size: int = 5,
    min_samples: int | None = None,
    metric: str = "euclidean",
    sigma: float = 0.1,
    sigma_scale: str = "median_edge",
    n_samples: int = 100,
    cluster_selection_method: str = "eom",
    cluster_selection_epsilon: float = 0.0,
    allow_single_cluster: bool = False,
) -> tuple[Any, Any]:
    """Perturbed HDBSCAN*: expected co-clustering and noise probabilities, differentiable in X.

    :func:`diffclust.perturbed_hdbscan` as a JAX function: sample s takes the maximum
    spanning tree of ``S + noise_scale Z_s`` with ``S = mr_similarity(X, min_samples)``
    and runs HDBSCAN*'s condensing and selection on it. Reverse-mode gradients reach S
    through the score-function estimator of :func:`diffclust.perturbed_hdbscan_vjp`
    (control variate on, noise scale held fixed; the samples are solved again in the
    backward pass) and X through ``mr_similarity``. Works under ``jit``, ``grad`` and
    ``vmap`` (one host call per element), with x64 on or off.

    Parameters
    ----------
    X : jax array, shape (n, d)
        Points.
    key : jax.random key
        Seeds as in :func:`diffclust.jax.perturbed_kforest`: the NumPy function with
        ``seed=int(seeds(key)[()])`` gives the same result on the same similarity.
    min_cluster_size, min_samples, metric, sigma, sigma_scale, n_samples, cluster_selection_method, \
cluster_selection_epsilon, allow_single_cluster
        As in :func:`diffclust.perturbed_hdbscan` (static).

    Returns
    -------
    (co_clustering (n, n), noise_probability (n,)) in X's dtype.
    """
    from .. import density_perturbed as dp

    X, out_dtype = _float_input(X, "X", 2)
    if X.ndim != 2:
        raise ValueError(f"X must have shape (n, d) (vmap for batches), got {X.shape}")
    if not isinstance(X, jax.core.Tracer) and not bool(jnp.isfinite(X).all()):
        raise ValueError("X contains NaN or infinity")  # traced: the kernel rejects the NaN similarity
    mcs, ms, sig, B, sel = dp.check_arguments(int(X.shape[0]), min_cluster_size, min_samples, sigma, sigma_scale,
                                              n_samples, cluster_selection_method, cluster_selection_epsilon,
                                              allow_single_cluster)
    S = mr_similarity(X, ms, metric=metric)
    cfg = _Hdbscan(mcs, sig, sigma_scale, B, sel)
    C, noise = _hdbscan(cfg, S, _words(key, ()))
    return C.astype(out_dtype), noise.astype(out_dtype)
