"""The classical losses as JAX functions: soft Ncut, DEC, k-means and the Gaussian
mixture NLL (see the package docstring for what is differentiable)."""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from .. import _ops
from .._validation import resolve_threads
from ._host import _VMAP, Array, _float_input, _sds

_COVARIANCE_NDIM = {"full": 3, "tied": 2, "diag": 2, "spherical": 1}


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
