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
- :func:`gmm_nll` and :func:`kforest`: not differentiable (``gmm_nll`` raises a
  ``TypeError`` when differentiated; ``kforest`` returns integer labels).

References
----------
L. Stewart, F. Bach, F. Llinares-López, Q. Berthet. Differentiable Clustering with
Perturbed Spanning Forests. NeurIPS 2023. arXiv:2305.16358.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import numpy as np

try:
    import jax
    import jax.numpy as jnp
except ImportError as exc:  # pragma: no cover - jax is installed by the test extra
    raise ImportError(
        "diffclust.jax needs JAX; install it with: pip install 'diffclust[jax]'"
    ) from exc

from . import _ops
from ._validation import as_labels, check_k, check_n_samples, check_sigma, resolve_threads

__all__ = [
    "PerturbedForest",
    "dec_loss",
    "gmm_nll",
    "kforest",
    "kmeans_loss",
    "partial_fy_loss",
    "perturbed_kforest",
    "seeds",
    "soft_ncut",
]

Array = Any  # a jax.Array (or anything jnp.asarray accepts) at the public surface
_VMAP = "broadcast_all"
_COVARIANCE_NDIM = {"full": 3, "tied": 2, "diag": 2, "spherical": 1}


class PerturbedForest(NamedTuple):
    """``(A, M, F)`` of :func:`perturbed_kforest`: ``adjacency`` A_eps and
    ``connectivity`` M_eps of shape (..., n, n), ``value`` F_eps of shape (...)."""

    adjacency: Array
    connectivity: Array
    value: Array


# --------------------------------------------------------------------------- trace-time checks


def _float_input(x: Any, name: str, min_ndim: int) -> tuple[Array, Any]:
    """(x as a float32/float64 jax array, the dtype to return); checks ndim."""
    a = jnp.asarray(x)
    if not (jnp.issubdtype(a.dtype, jnp.floating) or jnp.issubdtype(a.dtype, jnp.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    if a.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, got shape {a.shape}")
    out_dtype = a.dtype if jnp.issubdtype(a.dtype, jnp.floating) else jnp.result_type(float)
    work = out_dtype if out_dtype in (jnp.float32, jnp.float64) else jnp.float32
    return a.astype(work), out_dtype


def _square(S: Array) -> int:
    n = int(S.shape[-1])
    if S.shape[-2] != n:
        raise ValueError(f"S must have shape (..., n, n), got {S.shape}")
    if n < 1:
        raise ValueError(f"S must have n >= 1 points, got shape {S.shape}")
    return n


def _words(key: Any, batch_shape: tuple[int, ...]) -> Array:
    """Two uint32 words of seed per element, drawn from ``key`` inside the trace."""
    if not isinstance(key, (jax.Array, np.ndarray)):
        raise TypeError(f"key must be a jax.random key (jax.random.key(0)), got {type(key).__name__}")
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"key must be a single key (shape ()), got shape {key.shape}; use vmap for many keys")
    elif key.dtype == jnp.uint32:
        if key.shape != (2,):
            raise ValueError(f"key must be a single raw key of shape (2,), got shape {key.shape}")
    else:
        raise TypeError(f"key must be a jax.random key, got dtype {key.dtype}")
    return jax.random.bits(key, (*batch_shape, 2), jnp.uint32)


def seeds(key: Any, batch_shape: tuple[int, ...] = ()) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """The uint64 seeds that :func:`perturbed_kforest` and :func:`partial_fy_loss`
    use for ``key`` and an S of shape ``(*batch_shape, n, n)``.

    ``seeds(key, batch_shape)[t]`` (``t`` a batch index) is the ``seed`` to pass to
    the NumPy API to reproduce that element; see the module docstring.
    """
    w = np.asarray(_words(key, tuple(batch_shape))).astype(np.uint64)
    out: np.ndarray[Any, np.dtype[np.uint64]] = (w[..., 0] << np.uint64(32)) | w[..., 1]
    return out


def _labels(values: Any, lead: tuple[int, ...], n: int, k: int, name: str) -> Array:
    """Partial labels broadcast to (*lead, n), int32; concrete (untraced) labels are checked now."""
    y = jnp.asarray(values)
    if not jnp.issubdtype(y.dtype, jnp.integer):
        raise TypeError(f"{name} must hold integers (-1 = unknown), got dtype {y.dtype}")
    if y.ndim < 1 or y.shape[-1] != n:
        raise ValueError(f"{name} must have shape (..., n) with n = {n}, got {y.shape}")
    try:
        y = jnp.broadcast_to(y, (*lead, n))
    except ValueError:
        raise ValueError(f"{name} of shape {y.shape} does not broadcast to the batch shape {(*lead, n)} of S") from None
    if not isinstance(y, jax.core.Tracer):
        for row in np.unique(np.asarray(y).reshape(-1, n), axis=0):
            row = as_labels(row, name, n=n, unknown=True)
            distinct = np.unique(row[row >= 0]).shape[0]
            if distinct > k:
                raise ValueError(f"{name} holds {distinct} distinct labels, more than k = {k} trees")
    return y.astype(jnp.int32)


def _sds(shape: Any, dtype: Any) -> Any:
    return jax.ShapeDtypeStruct(shape, dtype)  # type: ignore[no-untyped-call]


def _seed_ints(words: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.uint64]]:
    w = np.asarray(words).reshape(-1, 2).astype(np.uint64)
    out: np.ndarray[Any, np.dtype[np.uint64]] = (w[:, 0] << np.uint64(32)) | w[:, 1]
    return out


# --------------------------------------------------------------------------- the host side


class _Perturbation(NamedTuple):
    k: int
    sigma: float
    n_samples: int
    control_variate: bool = True


def _batched(
    op: str, cfg: _Perturbation, S: np.ndarray[Any, Any], seed: np.ndarray[Any, Any] | None,
    labels: np.ndarray[Any, Any] | None, VA: np.ndarray[Any, Any] | None = None,
    VM: np.ndarray[Any, Any] | None = None,
) -> tuple[Any, ...]:
    """``op`` on S (b, n, n) with per-element uint64 seeds (b,), labels (b, n) and
    cotangents (b, n, n), as one batched ``_ops`` call; returns arrays with a leading b.
    Element t uses ``seed[t]``, so it equals the NumPy API on S[t] with that seed."""
    n_threads = resolve_threads(None)
    b = S.shape[0]
    if op == "kforest":  # no randomness: seed is None; labels per element need one call each
        if labels is None:
            return (_ops.kforest(S, cfg.k, n_threads)[0],)
        return (np.stack([_ops.kforest(S[t], cfg.k, n_threads, known_labels=labels[t])[0] for t in range(b)]),)
    assert seed is not None
    if b == 1:  # the 2-D calls: less per-call work, the same numbers (element 0 with its seed)
        y = None if labels is None else labels[0]
        if op == "perturbed_kforest":
            A, M, F = _ops.perturbed_kforest(S[0], cfg.k, cfg.sigma, cfg.n_samples, int(seed[0]), n_threads,
                                             known_labels=y)[:3]
            return A[None], M[None], np.full(1, F)
        if op == "partial_fy_loss":
            loss, grad = _ops.partial_fy_loss(S[0], cfg.k, y, cfg.sigma, cfg.n_samples, int(seed[0]), n_threads)[:2]
            return np.full(1, loss), grad[None]
    if op == "perturbed_kforest":
        A, M, F = _ops.perturbed_kforest(S, cfg.k, cfg.sigma, cfg.n_samples, seed, n_threads, known_labels=labels)[:3]
        return A, M, np.asarray(F)
    if op == "perturbed_kforest_vjp":
        assert VA is not None and VM is not None
        g = np.zeros_like(S)
        has_a, has_m = VA.reshape(b, -1).any(axis=1), VM.reshape(b, -1).any(axis=1)
        live = np.flatnonzero(has_a | has_m)  # elements whose A or M is used: the others need no solve
        if live.size:
            g[live] = _ops.perturbed_kforest_vjp(
                S[live], cfg.k, VA[live] if has_a.any() else None, VM[live] if has_m.any() else None, cfg.sigma,
                cfg.n_samples, seed[live], n_threads, control_variate=cfg.control_variate,
                known_labels=None if labels is None else labels[live],
            )
        return (g,)
    if op == "partial_fy_loss":
        loss, grad = _ops.partial_fy_loss(S, cfg.k, labels, cfg.sigma, cfg.n_samples, seed, n_threads)[:2]
        return np.asarray(loss), grad
    raise AssertionError(op)


def _host(op: str, cfg: _Perturbation, dtype: Any) -> Callable[..., Any]:
    """The pure_callback body: flatten the leading axes, run ``_batched``, restore them."""

    def call(S: Any, words: Any, labels: Any, *cotangents: Any) -> Any:
        S = np.asarray(S)
        lead, n = S.shape[:-2], S.shape[-1]
        S3 = np.ascontiguousarray(S.reshape(-1, n, n))
        y = None if labels is None else np.asarray(labels).reshape(-1, n)
        V = [np.asarray(c).reshape(-1, n, n) for c in cotangents]
        out = _batched(op, cfg, S3, _seed_ints(words), y, *V)
        return tuple(np.asarray(o, dtype=dtype).reshape((*lead, *o.shape[1:])) for o in out)

    return call


def _callback(op: str, cfg: _Perturbation, shapes: list[tuple[int, ...]], S: Array, words: Array,
              labels: Array | None, *cotangents: Array) -> tuple[Array, ...]:
    result = tuple(_sds(s, S.dtype) for s in shapes)
    out: tuple[Array, ...] = jax.pure_callback(
        _host(op, cfg, S.dtype), result, S, words, labels, *cotangents, vmap_method=_VMAP
    )
    return out


# --------------------------------------------------------------------------- perturbed k-forest


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _perturbed(cfg: _Perturbation, S: Array, words: Array, labels: Array | None) -> tuple[Array, ...]:
    return _callback("perturbed_kforest", cfg, [S.shape, S.shape, S.shape[:-2]], S, words, labels)


def _perturbed_fwd(cfg: _Perturbation, S: Array, words: Array, labels: Array | None) -> Any:
    A, M, F = _callback("perturbed_kforest", cfg, [S.shape, S.shape, S.shape[:-2]], S, words, labels)
    return (A, M, F), (S, words, labels, A)


def _perturbed_bwd(cfg: _Perturbation, res: Any, g: Any) -> Any:
    S, words, labels, A = res
    gA, gM, gF = g
    (score,) = _callback("perturbed_kforest_vjp", cfg, [S.shape], S, words, labels, gA, gM)
    return gF[..., None, None] * A + score, None, None


_perturbed.defvjp(_perturbed_fwd, _perturbed_bwd)


def perturbed_kforest(
    S: Array, k: int, key: Any, *, sigma: float, n_samples: int, known_labels: Array | None = None,
    control_variate: bool = True,
) -> PerturbedForest:
    """Perturbed maximum-weight k-forest ``(A, M, F)`` of S, differentiable in S.

    Parameters
    ----------
    S : jax array, shape (..., n, n)
        Similarities (edge {i, j} weighs ``(S_ij + S_ji) / 2``; the diagonal is ignored).
    k : int
        Number of trees, 1 <= k <= n (static).
    key : jax.random key
        One key (``jax.random.key`` or a raw ``PRNGKey``); element t of the batch uses
        seed ``seeds(key, S.shape[:-2])[t]`` (see the module docstring).
    sigma : float
        Noise scale, > 0 (static).
    n_samples : int
        Monte-Carlo samples B >= 1 (static).
    known_labels : int array, shape (..., n), optional
        Partial labels (-1 = unknown), broadcast against ``S.shape[:-1]``: every sample
        solves the constrained greedy. Not differentiable.
    control_variate : bool, default True
        Use the unperturbed solution as the score estimator's control variate.

    Returns
    -------
    PerturbedForest
        ``(adjacency, connectivity, value)``: A_eps and M_eps (..., n, n) and F_eps
        (...), in the dtype of S. The same numbers as
        :func:`diffclust.perturbed_kforest` with the seeds of :func:`seeds`.

    Notes
    -----
    ``dF/dS = A`` exactly; the VJP of A and M is the Gaussian score estimator of
    :func:`diffclust.perturbed_kforest_vjp`, which solves the B samples again (about
    one forward's cost) -- skipped for elements whose A and M cotangents are zero.

    Raises
    ------
    TypeError, ValueError
        At trace time: a bad shape, k, sigma, n_samples, key or labels (concrete
        labels are also checked for values). NaN or infinity in S surfaces at run
        time as ``jax.errors.JaxRuntimeError``.
    """
    S, out_dtype = _float_input(S, "S", 2)
    n = _square(S)
    cfg = _Perturbation(check_k(k, n), check_sigma(sigma), check_n_samples(n_samples), bool(control_variate))
    lead = tuple(S.shape[:-2])
    words = _words(key, lead)
    labels = None if known_labels is None else _labels(known_labels, lead, n, cfg.k, "known_labels")
    _ops.check_working_memory(n, resolve_threads(None), labels is not None, "perturbed_kforest")
    A, M, F = _perturbed(cfg, S, words, labels)
    return PerturbedForest(A.astype(out_dtype), M.astype(out_dtype), F.astype(out_dtype))


# --------------------------------------------------------------------------- partial Fenchel-Young loss


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _fy(cfg: _Perturbation, S: Array, words: Array, labels: Array) -> Array:
    return _callback("partial_fy_loss", cfg, [S.shape[:-2], S.shape], S, words, labels)[0]


def _fy_fwd(cfg: _Perturbation, S: Array, words: Array, labels: Array) -> Any:
    loss, grad = _callback("partial_fy_loss", cfg, [S.shape[:-2], S.shape], S, words, labels)
    return loss, grad


def _fy_bwd(cfg: _Perturbation, grad: Any, g: Any) -> Any:
    return g[..., None, None] * grad, None, None


_fy.defvjp(_fy_fwd, _fy_bwd)


def partial_fy_loss(
    S: Array, k: int, labels: Array, key: Any, *, sigma: float, n_samples: int
) -> Array:
    """Partial Fenchel-Young loss ``F_eps(S) - F_eps(S; y)`` per element, differentiable in S.

    Parameters
    ----------
    S : jax array, shape (..., n, n)
        Similarities.
    k : int
        Number of clusters (static).
    labels : int array, shape (..., n)
        Partial labels, -1 = unknown, broadcast against ``S.shape[:-1]``.
    key : jax.random key
        As in :func:`perturbed_kforest` (the same seeds).
    sigma, n_samples
        As in :func:`perturbed_kforest` (static).

    Returns
    -------
    jax array, shape S.shape[:-2]
        The loss of each element, in the dtype of S; its gradient
        ``A_eps(S) - A_eps(S; y)`` is computed by the forward call and kept (the
        backward pass only scales it). Equals :func:`diffclust.partial_fy_loss`
        with the seeds of :func:`seeds`.
    """
    S, out_dtype = _float_input(S, "S", 2)
    n = _square(S)
    cfg = _Perturbation(check_k(k, n), check_sigma(sigma), check_n_samples(n_samples))
    lead = tuple(S.shape[:-2])
    words = _words(key, lead)
    y = _labels(labels, lead, n, cfg.k, "labels")
    _ops.check_working_memory(n, resolve_threads(None), True, "partial_fy_loss")
    return _fy(cfg, S, words, y).astype(out_dtype)


# --------------------------------------------------------------------------- k-forest labels


def kforest(S: Array, k: int, *, known_labels: Array | None = None) -> Array:
    """Labels (..., n) of the maximum-weight k-forest of S (not differentiable).

    Clusters are numbered by first appearance, as :func:`diffclust.kforest`; the
    labels are int32. Gradients through them are zero (S is wrapped in
    ``stop_gradient``).
    """
    S, _ = _float_input(S, "S", 2)
    n = _square(S)
    k = check_k(k, n)
    lead = tuple(S.shape[:-2])
    y = None if known_labels is None else _labels(known_labels, lead, n, k, "known_labels")

    def host(S: Any, y: Any) -> Any:
        S = np.asarray(S)
        Y = None if y is None else np.asarray(y).reshape(-1, n)
        (labels,) = _batched("kforest", _Perturbation(k, 1.0, 1), S.reshape(-1, n, n), None, Y)
        return np.asarray(labels, dtype=np.int32).reshape(S.shape[:-1])

    result = _sds(S.shape[:-1], jnp.int32)
    return jax.pure_callback(host, result, jax.lax.stop_gradient(S), y, vmap_method=_VMAP)


# --------------------------------------------------------------------------- classical losses


def _per_element(fn: Callable[[int], Any], b: int) -> list[Any]:
    """Element-wise host loop of the classical losses (they have no batched kernels)."""
    return [fn(t) for t in range(b)]


def _broadcast(arrays: list[Array], core: list[int], names: list[str]) -> tuple[list[Array], tuple[int, ...]]:
    """Broadcast the leading (batch) axes of ``arrays``, whose last ``core[i]`` axes are their own."""
    leads = [a.shape[: a.ndim - c] for a, c in zip(arrays, core)]
    try:
        lead = tuple(np.broadcast_shapes(*leads))
    except ValueError:
        detail = ", ".join(f"{m} {a.shape}" for m, a in zip(names, arrays))
        raise ValueError(f"the batch axes of {detail} do not broadcast") from None
    return [jnp.broadcast_to(a, (*lead, *a.shape[a.ndim - c:])) for a, c in zip(arrays, core)], lead


def _flat(x: Any, core: int) -> np.ndarray[Any, Any]:
    a = np.asarray(x)
    return a.reshape(-1, *a.shape[a.ndim - core:]) if core else a.reshape(-1)


@jax.custom_vjp
def _soft_ncut(W: Array, P: Array) -> Array:
    return _soft_ncut_call(W, P)[0]


def _soft_ncut_call(W: Array, P: Array) -> tuple[Array, Array]:
    def host(W: Any, P: Any) -> Any:
        lead = np.shape(P)[:-2]
        W3, P3 = _flat(W, 2), _flat(P, 2)
        out = _per_element(lambda t: _ops.soft_ncut(W3[t], P3[t], resolve_threads(None)), P3.shape[0])
        value = np.array([o[0] for o in out], dtype=P.dtype).reshape(lead)
        grad = np.stack([o[1] for o in out]).astype(P.dtype).reshape(np.shape(P))
        return value, grad

    shapes = (_sds(P.shape[:-2], P.dtype), _sds(P.shape, P.dtype))
    out: tuple[Array, Array] = jax.pure_callback(host, shapes, W, P, vmap_method=_VMAP)
    return out


def _soft_ncut_fwd(W: Array, P: Array) -> Any:
    value, gP = _soft_ncut_call(W, P)
    return value, (W, P, gP)


def _soft_ncut_bwd(res: Any, g: Any) -> Any:
    W, P, gP = res
    # value = sum_c 1 - a_c / v_c with v_c = P_c^T W 1, a_c = P_c^T W P_c (columns with v_c = 0 add 0):
    # d value / d W_ij = sum_c P_ic (a_c / v_c^2 - P_jc / v_c)
    v = jnp.einsum("...ic,...ij->...c", P, W)
    a = jnp.einsum("...ic,...ij,...jc->...c", P, W, P)
    ok = v > 0
    safe = jnp.where(ok, v, 1)
    inv = jnp.where(ok, 1 / safe, 0)
    ratio = jnp.where(ok, a / (safe * safe), 0)
    gW = (P @ ratio[..., :, None]) - jnp.einsum("...ic,...c,...jc->...ij", P, inv, P)
    gW = gW.astype(W.dtype)
    gs = g[..., None, None]
    return gs * gW, (gs * gP).astype(P.dtype)


_soft_ncut.defvjp(_soft_ncut_fwd, _soft_ncut_bwd)


def soft_ncut(W: Array, P: Array) -> Array:
    """Relaxed normalized cut (..., ) of a soft assignment P (..., n, k) on a dense affinity W (..., n, n).

    The value of :func:`diffclust.soft_ncut`. Differentiable in P (the kernel's
    gradient) and in W: ``d value / d W_ij = sum_c P_ic (a_c / v_c^2 - P_jc / v_c)``
    with ``v_c = P_c^T W 1`` and ``a_c = P_c^T W P_c`` (0 for a column with v_c = 0).
    W and P are computed in the dtype of P (float32 or float64). A negative affinity or
    a negative entry of P is a run-time error (values cannot be checked while tracing).
    """
    P, out_dtype = _float_input(P, "P", 2)
    W, _ = _float_input(W, "W", 2)
    W = W.astype(P.dtype)
    n = int(P.shape[-2])
    if W.shape[-2:] != (n, n):
        raise ValueError(f"W must have shape (..., n, n) with n = {n} (the rows of P), got {W.shape}")
    (W, P), _ = _broadcast([W, P], [2, 2], ["W", "P"])
    return _soft_ncut(W, P).astype(out_dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _dec(alpha: float, Z: Array, C: Array, T: Array | None) -> Array:
    return _dec_call(alpha, Z, C, T)[0]


def _dec_call(alpha: float, Z: Array, C: Array, T: Array | None) -> tuple[Array, Array, Array]:
    def host(Z: Any, C: Any, T: Any) -> Any:
        lead = np.shape(Z)[:-2]
        Z3, C3 = _flat(Z, 2), _flat(C, 2)
        T3 = None if T is None else _flat(T, 2)
        out = _per_element(
            lambda t: _ops.dec_loss(Z3[t], C3[t], alpha, None if T3 is None else T3[t], resolve_threads(None)),
            Z3.shape[0],
        )
        loss = np.array([o[0] for o in out], dtype=Z.dtype).reshape(lead)
        gZ = np.stack([o[1] for o in out]).astype(Z.dtype).reshape(np.shape(Z))
        gC = np.stack([o[2] for o in out]).astype(Z.dtype).reshape(np.shape(C))
        return loss, gZ, gC

    shapes = tuple(_sds(s, Z.dtype) for s in (Z.shape[:-2], Z.shape, C.shape))
    out: tuple[Array, Array, Array] = jax.pure_callback(host, shapes, Z, C, T, vmap_method=_VMAP)
    return out


def _dec_fwd(alpha: float, Z: Array, C: Array, T: Array | None) -> Any:
    loss, gZ, gC = _dec_call(alpha, Z, C, T)
    return loss, (gZ, gC, T)


def _dec_bwd(alpha: float, res: Any, g: Any) -> Any:
    gZ, gC, T = res
    gs = g[..., None, None]
    return gs * gZ, gs * gC, None if T is None else jnp.zeros_like(T)


_dec.defvjp(_dec_fwd, _dec_bwd)


def dec_loss(Z: Array, centers: Array, *, alpha: float = 1.0, target: Array | None = None) -> Array:
    """DEC loss KL(P || Q) (a sum over the n points) of embeddings Z (..., n, d) and centers (..., k, d).

    The value of :func:`diffclust.dec_loss`, differentiable in Z and the centers with
    the kernel's gradients. ``target`` (..., n, k), if given, is held fixed: its
    cotangent is zero (as DEC's target, computed from Q when None, is).
    """
    Z, out_dtype = _float_input(Z, "Z", 2)
    C, _ = _float_input(centers, "centers", 2)
    C = C.astype(Z.dtype)
    d = int(Z.shape[-1])
    if C.shape[-1] != d:
        raise ValueError(f"centers must have shape (..., k, {d}) to match Z, got {C.shape}")
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, (int, float)):
        raise TypeError(f"alpha must be a real number, got {alpha!r}")
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be positive and finite, got {alpha}")
    arrays, core, names = [Z, C], [2, 2], ["Z", "centers"]
    if target is not None:
        T, _ = _float_input(target, "target", 2)
        if T.shape[-2:] != (Z.shape[-2], C.shape[-2]):
            raise ValueError(f"target must have shape (..., n, k) = (..., {Z.shape[-2]}, {C.shape[-2]}), got {T.shape}")
        arrays.append(jax.lax.stop_gradient(T.astype(Z.dtype)))
        core.append(2)
        names.append("target")
    arrays, _ = _broadcast(arrays, core, names)
    T = arrays[2] if target is not None else None
    return _dec(float(alpha), arrays[0], arrays[1], T).astype(out_dtype)


@jax.custom_vjp
def _kmeans(X: Array, C: Array, labels: Array | None) -> Array:
    def host(X: Any, C: Any, labels: Any) -> Any:
        lead = np.shape(X)[:-2]
        X3, C3 = _flat(X, 2), _flat(C, 2)
        L = None if labels is None else _flat(labels, 1)
        out = _per_element(
            lambda t: _ops.kmeans_loss(X3[t], C3[t], None if L is None else L[t], resolve_threads(None)),
            X3.shape[0],
        )
        return np.array(out, dtype=X.dtype).reshape(lead)

    result = _sds(X.shape[:-2], X.dtype)
    return jax.pure_callback(host, result, X, C, labels, vmap_method=_VMAP)


def _kmeans_fwd(X: Array, C: Array, labels: Array | None) -> Any:
    return _kmeans(X, C, labels), (X, C, labels)


def _kmeans_bwd(res: Any, g: Any) -> Any:
    X, C, labels = res
    if labels is None:  # the nearest center, as the kernel assigns
        d2 = jnp.sum((X[..., :, None, :] - C[..., None, :, :]) ** 2, axis=-1)
        labels = jnp.argmin(d2, axis=-1)
    onehot = jax.nn.one_hot(labels, C.shape[-2], dtype=X.dtype)  # (..., n, k)
    diff = X - onehot @ C
    gs = g[..., None, None]
    gX = gs * 2 * diff
    gC = gs * -2 * jnp.swapaxes(onehot, -1, -2) @ diff
    return gX, gC, None


_kmeans.defvjp(_kmeans_fwd, _kmeans_bwd)


def kmeans_loss(X: Array, centers: Array, labels: Array | None = None) -> Array:
    """k-means loss ``sum_i ||x_i - c_{l_i}||^2`` of X (..., n, d), centers (..., k, d).

    The value of :func:`diffclust.kmeans_loss`; ``labels`` (..., n) in [0, k) or None
    (nearest center). Differentiable in X and the centers: ``2 (x_i - c_{l_i})`` and
    ``-2 sum_{i: l_i = j} (x_i - c_j)``; the assignment is piecewise constant.
    """
    X, out_dtype = _float_input(X, "X", 2)
    C, _ = _float_input(centers, "centers", 2)
    C = C.astype(X.dtype)
    if C.shape[-1] != X.shape[-1]:
        raise ValueError(f"centers must have shape (..., k, {X.shape[-1]}) to match X, got {C.shape}")
    arrays, core, names = [X, C], [2, 2], ["X", "centers"]
    if labels is not None:
        y = jnp.asarray(labels)
        if not jnp.issubdtype(y.dtype, jnp.integer):
            raise TypeError(f"labels must hold integers, got dtype {y.dtype}")
        if y.ndim < 1 or y.shape[-1] != X.shape[-2]:
            raise ValueError(f"labels must have shape (..., n) with n = {X.shape[-2]}, got {y.shape}")
        arrays.append(y.astype(jnp.int32))
        core.append(1)
        names.append("labels")
    arrays, _ = _broadcast(arrays, core, names)
    return _kmeans(arrays[0], arrays[1], arrays[2] if labels is not None else None).astype(out_dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _gmm(covariance_type: str, X: Array, w: Array, M: Array, cov: Array) -> Array:
    c = _COVARIANCE_NDIM[covariance_type]

    def host(X: Any, w: Any, M: Any, cov: Any) -> Any:
        lead = np.shape(X)[:-2]
        X3, w2, M3, cov3 = _flat(X, 2), _flat(w, 1), _flat(M, 2), _flat(cov, c)
        out = _per_element(
            lambda t: _ops.gmm_nll(X3[t], w2[t], M3[t], cov3[t], covariance_type, False, resolve_threads(None))[0],
            X3.shape[0],
        )
        return np.array(out, dtype=X.dtype).reshape(lead)

    result = _sds(X.shape[:-2], X.dtype)
    return jax.pure_callback(host, result, X, w, M, cov, vmap_method=_VMAP)


def _gmm_fwd(covariance_type: str, *args: Array) -> Any:
    return _gmm(covariance_type, *args), None


def _gmm_bwd(covariance_type: str, res: Any, g: Any) -> Any:
    raise TypeError(
        "diffclust.jax.gmm_nll is not differentiable (its kernel computes no gradient); "
        "wrap its inputs in jax.lax.stop_gradient"
    )


_gmm.defvjp(_gmm_fwd, _gmm_bwd)


def gmm_nll(
    X: Array, weights: Array, means: Array, covariances: Array, *, covariance_type: str = "full"
) -> Array:
    """Mean negative log-likelihood (...,) of X (..., n, d) under a Gaussian mixture.

    The value of :func:`diffclust.gmm_nll` (the parameters carry the same leading
    batch axes as X, or none). Not differentiable: differentiating it raises
    ``TypeError``. Weights that do not sum to 1, or a covariance that is not symmetric
    positive definite, are run-time errors when traced.
    """
    if covariance_type not in _COVARIANCE_NDIM:
        raise ValueError(f"covariance_type must be one of {tuple(_COVARIANCE_NDIM)}, got {covariance_type!r}")
    X, out_dtype = _float_input(X, "X", 2)
    d = int(X.shape[-1])
    w, _ = _float_input(weights, "weights", 1)
    M, _ = _float_input(means, "means", 2)
    c = _COVARIANCE_NDIM[covariance_type]
    cov, _ = _float_input(covariances, "covariances", c)
    k = int(M.shape[-2])
    if M.shape[-1] != d:
        raise ValueError(f"means must have shape (..., k, {d}) to match X, got {M.shape}")
    if w.shape[-1] != k:
        raise ValueError(f"weights must have shape (..., {k}) to match means, got {w.shape}")
    expected = {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}[covariance_type]
    if cov.shape[cov.ndim - c:] != expected:
        raise ValueError(
            f"covariances must have shape (..., {', '.join(map(str, expected))}) for "
            f"covariance_type={covariance_type!r}, got {cov.shape}"
        )
    arrays, _ = _broadcast(
        [X, w.astype(X.dtype), M.astype(X.dtype), cov.astype(X.dtype)], [2, 1, 2, c],
        ["X", "weights", "means", "covariances"],
    )
    return _gmm(covariance_type, *arrays).astype(out_dtype)
