"""The plumbing every ``diffclust.jax`` function shares: trace-time checks, keys to
seeds, and the host side of the callbacks (one batched ``_ops`` call per op)."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _ops
from .._validation import as_labels, resolve_threads

Array = Any  # a jax.Array (or anything jnp.asarray accepts) at the public surface
_VMAP = "broadcast_all"


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
