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


def _pack_ints(words: Array, labels: Array | None) -> Array:
    """The integer operands of a callback as ONE int32 array (..., 2 [+ n]): the two seed
    words (their bits) then the labels. Every callback operand costs a device transfer
    (about as much as a small kernel call), so the forest callbacks take two: S and this."""
    w = jax.lax.bitcast_convert_type(words, jnp.int32)
    return w if labels is None else jnp.concatenate([w, labels.astype(jnp.int32)], axis=-1)


def _unpack_ints(ints: Any, b: int) -> tuple[Any, np.ndarray[Any, Any] | None]:
    """(seeds, labels (b, n) or None) from the packed operand: for one matrix (b = 1) an int
    seed and labels (1, n); else uint64 seeds (b,)."""
    a = np.asarray(ints).reshape(b, -1)
    labels = a[:, 2:] if a.shape[1] > 2 else None
    if b == 1:
        hi, lo = a[0, :2].tolist()
        return ((hi & 0xFFFFFFFF) << 32) | (lo & 0xFFFFFFFF), labels
    return _seed_ints(np.ascontiguousarray(a[:, :2]).view(np.uint32)), labels


# --------------------------------------------------------------------------- the host side


class _Perturbation(NamedTuple):
    k: int
    sigma: float
    n_samples: int
    control_variate: bool = True


def _batched(
    op: str, cfg: _Perturbation, S: np.ndarray[Any, Any], seed: Any, labels: np.ndarray[Any, Any] | None,
    VA: np.ndarray[Any, Any] | None = None, VM: np.ndarray[Any, Any] | None = None,
) -> tuple[Any, ...]:
    """``op`` on one matrix S (n, n) with an int seed and labels (n,), or on a stack S
    (b, n, n) with uint64 seeds (b,), labels (b, n) and cotangents (b, n, n): one direct
    kernel call (``_ops``' prechecked calls: the arguments were checked at trace time, the
    bindings check the rest). Element t uses ``seed[t]``, so it equals the NumPy API on
    S[t] with that seed. Results: those of the ``_ops`` prechecked call."""
    n_threads = resolve_threads(None)
    if op == "kforest":  # no randomness: seed is None; labels per element need one call each
        if labels is None:
            return (_ops.kforest(S, cfg.k, n_threads)[0],)
        return (np.stack([_ops.kforest(S[t], cfg.k, n_threads, known_labels=labels[t])[0]
                          for t in range(S.shape[0])]),)
    y = None if labels is None else _ops.kernel_labels(labels)
    if op == "perturbed_kforest":
        return _ops.perturbed_kforest_prechecked(S, cfg.k, cfg.sigma, cfg.n_samples, seed, y, n_threads)
    if op == "perturbed_kforest_vjp":
        return (_ops.perturbed_kforest_vjp_prechecked(S, cfg.k, cfg.sigma, cfg.n_samples, seed, y, VA, VM,
                                                      cfg.control_variate, n_threads),)
    if op == "partial_fy_loss":
        assert y is not None
        return _ops.partial_fy_loss_prechecked(S, cfg.k, cfg.sigma, cfg.n_samples, seed, y, n_threads)
    raise AssertionError(op)


def _host(op: str, cfg: _Perturbation, dtype: Any) -> Callable[..., Any]:
    """The pure_callback body: S (..., n, n), the packed integers (..., 2 [+ n]) and the
    cotangents (..., n, n) to one ``_batched`` call (one matrix: the 2-D kernels); the
    results come back with the leading axes of S, in its dtype."""

    def call(S: Any, ints: Any, *cotangents: Any) -> Any:
        S = np.asarray(S)
        lead, n = S.shape[:-2], S.shape[-1]
        b = S.size // (n * n)
        seeds, labels = _unpack_ints(ints, b)
        shape = (n, n) if b == 1 else (b, n, n)
        X = np.ascontiguousarray(S.reshape(shape))
        y = None if labels is None else (labels[0] if b == 1 else labels)
        V = [np.ascontiguousarray(np.asarray(c).reshape(shape), dtype=X.dtype) for c in cotangents]
        out = _batched(op, cfg, X, seeds, y, *V)
        return tuple(np.asarray(o, dtype=dtype).reshape(lead if np.ndim(o) < 2 else S.shape) for o in out)

    return call


def _callback(op: str, cfg: _Perturbation, S: Array, words: Array, labels: Array | None,
              *cotangents: Array) -> tuple[Array, ...]:
    """The host call of a perturbed op on S (..., n, n): (A, M, F), (loss, grad) or (g,), in
    the dtype of S. Two operands: S and the seed words and labels packed in one array."""
    lead = S.shape[:-2]
    shapes = {"perturbed_kforest": [S.shape, S.shape, lead], "partial_fy_loss": [lead, S.shape]}.get(op, [S.shape])
    result = tuple(_sds(s, S.dtype) for s in shapes)
    out: tuple[Array, ...] = jax.pure_callback(_host(op, cfg, S.dtype), result, S, _pack_ints(words, labels),
                                               *cotangents, vmap_method=_VMAP)
    return out
