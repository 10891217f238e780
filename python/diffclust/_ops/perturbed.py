"""The private layer: perturbed forests, their VJP and the partial Fenchel-Young loss (see :mod:`diffclust._ops`)."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import _core
from .._validation import (
    as_float_array,
    as_labels,
    check_constraints,
    check_finite,
    check_int,
    check_k,
    check_memory,
    check_n_samples,
    check_sigma,
    check_square,
    core_fn,
    resolve_metric,
)
from ._common import Array, PerturbedArrays, _as, _check_seed, _points
from .distances import check_allocation

__all__ = ["batch_seeds", "check_off_diagonal_finite", "check_working_memory", "element_seeds", "kernel_labels", "partial_fy_loss", "partial_fy_loss_prechecked", "perturbed_kforest", "perturbed_kforest_from_points", "perturbed_kforest_prechecked", "perturbed_kforest_vjp", "perturbed_kforest_vjp_prechecked"]


def _perturbation(sigma: float, n_samples: int, seed: int) -> tuple[float, int, int]:
    """The checked (sigma, n_samples, seed) of every perturbed kernel."""
    return check_sigma(sigma), check_n_samples(n_samples), _check_seed(seed)


def check_working_memory(n: int, n_threads: int, constrained: bool, what: str) -> None:
    """Outputs and per-thread count accumulators, plus, for constrained samples, the
    perturbed matrix (n^2 doubles) and the greedy's edge heap (n^2 / 2 edges) per thread.
    (A batch runs at most n_threads elements at once, each on one thread: the same bound.)"""
    per_thread = 2 * 4 * n * n + (8 * n * n + 12 * n * n if constrained else 0)
    check_memory(3 * 8 * n * n + n_threads * per_thread, what)


def _check_keep(keep_samples: Any, b: int, n_samples: int, n: int, what: str) -> bool:
    if not isinstance(keep_samples, (bool, np.bool_)):
        raise TypeError(f"keep_samples must be a bool, got {type(keep_samples).__name__}")
    if keep_samples:
        check_memory(b * n_samples * n * 3 * 8, what)  # edges (n - k pairs) and labels, int64
    return bool(keep_samples)


def _check_flag(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def _perturbed(out: Any, dtype: np.dtype[Any]) -> PerturbedArrays:
    A, M, F, *rest = out
    A = None if A is None else _as(A, dtype)
    M = None if M is None else _as(M, dtype)
    return (A, M, _as(F, dtype), *rest)


def element_seeds(seed: int, b: int) -> NDArray[np.uint64]:
    """The (b,) uint64 seeds of the elements of a batch drawn with the int ``seed``.

    Element t gets ``derive_seed(seed, t)`` (csrc/include/diffclust/core/rng.hpp): the
    first two 32-bit words ``w0 | w1 << 32`` of the Philox4x32-10 block with key
    ``(seed mod 2**32, seed >> 32)`` and counter ``(t mod 2**32, t >> 32, 0x62617463,
    0xFFFFFFFF)``. Element t's seed does not depend on b.
    """
    seed = _check_seed(seed)
    b = check_int(b, "b")
    if b < 0:
        raise ValueError(f"b must be non-negative, got {b}")
    return _core.element_seeds(seed, b)


def batch_seeds(seed: Any, b: int) -> NDArray[np.uint64]:
    """The seeds of a batch of b: an int seed gives ``element_seeds(seed, b)``; an integer
    array of shape (b,) gives each element its own seed (uint64 as is, signed integers by
    their two's complement bits, ``np.asarray(seed).astype(np.int64).view(np.uint64)``)."""
    if isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_)):
        return element_seeds(int(seed), b)
    if isinstance(seed, (bool, np.bool_)) or np.isscalar(seed) or seed is None:
        raise TypeError(
            f"seed must be an int or an integer array of shape (b,) = ({b},) for a batch, got {seed!r}"
        )
    a = np.asarray(seed)
    if a.dtype.kind not in "iu":
        raise TypeError(f"seed must be an int or an integer array of shape ({b},), got dtype {a.dtype}")
    if a.ndim == 0:
        return element_seeds(int(a), b)
    if a.shape != (b,):
        raise ValueError(f"seed must have shape (b,) = ({b},), one seed per batch element, got {a.shape}")
    if a.dtype.kind == "i":
        return np.array(a, dtype=np.int64).view(np.uint64)
    return np.array(a, dtype=np.uint64)


def _batch_labels(known_labels: Any, b: int, n: int) -> NDArray[np.int64] | None:
    """Labels of a batch: (n,) shared by all elements, or (b, n), each row remapped to 0..L-1."""
    if known_labels is None:
        return None
    a = np.asarray(known_labels)
    if a.ndim == 1:
        labels, _, _ = check_constraints(n, known_labels, None, None)
        return labels
    if a.shape != (b, n):
        raise ValueError(
            f"known_labels must have shape (n,) = ({n},) or (b, n) = ({b}, {n}) for S of shape "
            f"({b}, {n}, {n}), got {a.shape}"
        )
    out = np.empty((b, n), dtype=np.int64)
    for t in range(b):
        y = as_labels(a[t], f"known_labels[{t}]", n=n, unknown=True)
        row = np.full(n, -1, dtype=np.int64)
        known = y >= 0
        row[known] = np.unique(y[known], return_inverse=True)[1]
        out[t] = row
    return out


def kernel_labels(labels: Any) -> NDArray[np.int64]:
    """Integer label rows (..., n) numbered for the kernels as the NumPy API numbers them.

    For the torch and JAX operators, whose front ends check the labels' dtype and shape
    (values are only seen here, inside the operator): each row's known labels become
    0..L-1 in increasing order of value, -1 stays unknown (what ``check_constraints``
    and ``_batch_labels`` do). Rows already numbered so (every value from 0 to the
    row's largest) are returned as they are, as C-contiguous int64 (no copy of such an
    array). The work runs on Python sets and lists: for the rows of a training batch
    (tens to hundreds of points) that is 3-7x faster than ``np.unique`` per row, whose
    fixed cost per call is larger than the whole row's work. Values below -1 are a
    ``ValueError``; more distinct labels than k is the kernel's ``ValueError``.
    """
    y = np.ascontiguousarray(labels, dtype=np.int64)
    if y.ndim < 1:
        raise ValueError(f"labels must have shape (..., n), got {y.shape}")
    rows = y.reshape(-1, y.shape[-1]).tolist()
    renumbered = False
    for t, row in enumerate(rows):
        values = set(row)
        if not values:
            continue
        low = min(values)
        if low < -1:
            raise ValueError(f"labels must be >= -1 (-1 = unknown), got {low}")
        values.discard(-1)
        if not values or max(values) == len(values) - 1:
            continue  # numbered already
        rank = {value: i for i, value in enumerate(sorted(values))}
        rank[-1] = -1
        rows[t] = [rank[value] for value in row]
        renumbered = True
    if not renumbered:
        return y
    return np.array(rows, dtype=np.int64).reshape(y.shape)


def _constraints(
    S: Array, known_labels: Any, must_link: Any, cannot_link: Any
) -> tuple[NDArray[np.int64] | None, NDArray[np.int64] | None, NDArray[np.int64] | None]:
    """The checked constraints of S, 2-D (labels (n,)) or 3-D (labels (n,) or (b, n))."""
    n = S.shape[-1]
    if S.ndim == 2:
        return check_constraints(n, known_labels, must_link, cannot_link)
    _, must, cannot = check_constraints(n, None, must_link, cannot_link)
    return _batch_labels(known_labels, S.shape[0], n), must, cannot


def _seed_for(S: Array, seed: Any) -> Any:
    """An int seed in [0, 2**64) for 2-D S, the (b,) uint64 element seeds for 3-D S."""
    if S.ndim == 3:
        return batch_seeds(seed, S.shape[0])
    if isinstance(seed, np.ndarray):
        if seed.ndim > 0:
            raise TypeError(
                f"seed must be an int for 2-D S (seed arrays are for a batch (b, n, n)), got shape {seed.shape}"
            )
        if seed.dtype.kind in "iu":
            seed = seed.item()  # a 0-d integer array is an int
    return _check_seed(seed)


def perturbed_kforest(
    S: Any, k: int, sigma: float, n_samples: int, seed: Any, n_threads: int, *,
    known_labels: Any = None, must_link: Any = None, cannot_link: Any = None, refine: bool = True,
    keep_samples: bool = False, want_adjacency: bool = True, want_connectivity: bool = True,
) -> PerturbedArrays:
    """(A_eps or None, M_eps or None, F_eps, kept edges, kept labels, n_repaired) of S.

    S is (n, n), or (b, n, n): then element t uses seed ``batch_seeds(seed, b)[t]``, labels
    are (n,) shared or (b, n) per element, F is a (b,) array and the kept samples gain a
    leading axis b; element t's outputs equal the 2-D call on S[t] with its seed, bit for bit.
    """
    S = as_float_array(S, "S", ndims=(2, 3))
    n = check_square(S, "S")
    k = check_k(k, n)
    sigma, n_samples = check_sigma(sigma), check_n_samples(n_samples)
    seeds = _seed_for(S, seed)
    labels, must, cannot = _constraints(S, known_labels, must_link, cannot_link)
    want_A = _check_flag(want_adjacency, "want_adjacency")
    want_M = _check_flag(want_connectivity, "want_connectivity")
    constrained = labels is not None or must is not None or cannot is not None
    check_working_memory(n, n_threads, constrained, "perturbed_kforest")
    b = S.shape[0] if S.ndim == 3 else 1
    if S.ndim == 3:
        check_allocation((b * (want_A + want_M), n, n), S.dtype, "the batch's estimates")
    keep = _check_keep(keep_samples, b, n_samples, n, "perturbed_kforest")
    name = "perturbed_kforest_batch" if S.ndim == 3 else "perturbed_kforest"
    out = core_fn(name, S.dtype)(
        S, k, sigma, n_samples, seeds, labels, must, cannot, bool(refine), want_A, want_M, keep, n_threads
    )
    return _perturbed(out, S.dtype)


def perturbed_kforest_from_points(
    X: Any, k: int, metric: str, sigma: float, n_samples: int, seed: int, n_threads: int, *,
    keep_samples: bool = False,
) -> PerturbedArrays:
    """(A_eps, M_eps, F_eps, kept edges, kept labels) of points, ``S_ij = -d(x_i, x_j)``."""
    X = _points(X, "X")
    k = check_k(k, X.shape[0])
    name = resolve_metric(metric)
    sigma, n_samples, seed = _perturbation(sigma, n_samples, seed)
    n = X.shape[0]
    check_working_memory(n, n_threads, False, "perturbed_kforest_from_points")
    keep = _check_keep(keep_samples, 1, n_samples, n, "perturbed_kforest_from_points")
    out = core_fn("perturbed_kforest_from_points", X.dtype)(
        X, k, name, sigma, n_samples, seed, True, True, keep, n_threads
    )
    return _perturbed(out, X.dtype)


def _cotangent(V: Any, name: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> Array | None:
    if V is None:
        return None
    V = np.asarray(V)
    if V.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {V.dtype}")
    if V.shape != shape:
        raise ValueError(f"{name} must have shape {shape} to match S, got {V.shape}")
    check_finite(V, name)
    return np.ascontiguousarray(V, dtype=dtype)


def check_off_diagonal_finite(S: Array, name: str = "S") -> None:
    """The kernels' rule: NaN or infinity off the diagonal is an error (the diagonal is ignored).
    S is (n, n) or (b, n, n) (then the error names the element)."""
    if S.ndim == 3:
        for t in range(S.shape[0]):
            check_off_diagonal_finite(S[t], f"{name}[{t}]")
        return
    finite = np.isfinite(S)
    np.fill_diagonal(finite, True)
    if not finite.all():
        raise ValueError(f"{name} contains NaN or infinity off the diagonal")


def perturbed_kforest_vjp(
    S: Any, k: int, grad_adjacency: Any, grad_connectivity: Any, sigma: float, n_samples: int,
    seed: Any, n_threads: int, *, control_variate: bool = True, known_labels: Any = None,
    must_link: Any = None, cannot_link: Any = None, refine: bool = True,
    kept_edges: Any = None, kept_labels: Any = None,
) -> Array:
    """The VJP g of A_eps and M_eps at S for the cotangents (None = zero), g of S's shape.

    S is (n, n), or (b, n, n) with cotangents (b, n, n), seeds as in
    :func:`perturbed_kforest` (an int or (b,) integers), labels (n,) or (b, n) and kept
    samples (b, B, n - k, 2) and (b, B, n).
    """
    S = as_float_array(S, "S", ndims=(2, 3))
    n = check_square(S, "S")
    k = check_k(k, n)
    sigma, n_samples = check_sigma(sigma), check_n_samples(n_samples)
    seeds = _seed_for(S, seed)
    VA = _cotangent(grad_adjacency, "grad_adjacency", S.shape, S.dtype)
    VM = _cotangent(grad_connectivity, "grad_connectivity", S.shape, S.dtype)
    labels, must, cannot = _constraints(S, known_labels, must_link, cannot_link)
    if VA is None and VM is None:
        check_off_diagonal_finite(S)  # the kernel, which would check it, is skipped
        return np.zeros_like(S)
    constrained = labels is not None or must is not None or cannot is not None
    check_working_memory(n, n_threads, constrained, "perturbed_kforest_vjp")
    name = "perturbed_kforest_vjp_batch" if S.ndim == 3 else "perturbed_kforest_vjp"
    grad: Array = core_fn(name, S.dtype)(
        S, k, VA, VM, sigma, n_samples, seeds, labels, must, cannot, bool(refine),
        bool(control_variate), kept_edges, kept_labels, n_threads,
    )
    return grad


def partial_fy_loss(
    S: Any, k: int, known_labels: Any, sigma: float, n_samples: int, seed: Any, n_threads: int, *,
    must_link: Any = None, cannot_link: Any = None, refine: bool = True,
) -> tuple[Any, ...]:
    """(loss, grad in the dtype of S, n_repaired) of the partial Fenchel-Young loss.

    S (n, n): loss is a float. S (b, n, n): loss is a (b,) float64 array, grad (b, n, n),
    labels (n,) shared or (b, n), seeds as in :func:`perturbed_kforest`, n_repaired summed.
    """
    S = as_float_array(S, "S", ndims=(2, 3))
    n = check_square(S, "S")
    k = check_k(k, n)
    sigma, n_samples = check_sigma(sigma), check_n_samples(n_samples)
    seeds = _seed_for(S, seed)
    if known_labels is None:
        raise TypeError("known_labels is required (use -1 for unknown points)")
    labels, must, cannot = _constraints(S, known_labels, must_link, cannot_link)
    check_working_memory(n, n_threads, True, "partial_fy_loss")
    if S.ndim == 3:
        losses, grad, n_repaired = core_fn("partial_fy_loss_batch", S.dtype)(
            S, k, sigma, n_samples, seeds, labels, must, cannot, bool(refine), n_threads
        )
        return (losses, _as(grad, S.dtype), n_repaired)
    loss, grad, *rest = core_fn("partial_fy_loss", S.dtype)(
        S, k, sigma, n_samples, seeds, labels, must, cannot, bool(refine), n_threads
    )
    return (float(loss), _as(grad, S.dtype), *rest)


# --------------------------------------------------------------------------- prechecked calls
#
# For the torch and JAX operators, whose front ends check every argument once (S's shape
# and dtype, k, sigma, n_samples, the seeds' and labels' shapes and dtypes): the operator
# bodies call the kernels through these functions, without a second round of checks. The
# bindings still check everything that could crash (shapes, ranges, finiteness, labels),
# so bad arguments are a clear error, never a crash. Arguments: one matrix S (n, n)
# (C-contiguous float32/float64) with an int seed in [0, 2**64) and labels (n,), or a
# stack S (b, n, n) with uint64 seeds (b,) and label rows (b, n); labels numbered by
# :func:`kernel_labels`; n_threads from ``resolve_threads``. Element t of a stack equals
# the 2-D call on S[t] with seed ``seeds[t]``, bit for bit (send a stack of one to the
# 2-D kernels: less per-call work).


def _kernel(name: str, dtype: np.dtype[Any]) -> Any:
    return getattr(_core, f"{name}_{'f32' if dtype == np.float32 else 'f64'}")


_MEMORY_CHECKED: set[tuple[int, int, bool, str]] = set()  # the memory limit is read once per process


def _check_memory_once(n: int, n_threads: int, constrained: bool, what: str) -> None:
    """``check_working_memory``, remembered once passed (the bound depends on these alone)."""
    key = (n, n_threads, constrained, what)
    if key not in _MEMORY_CHECKED:
        check_working_memory(n, n_threads, constrained, what)
        _MEMORY_CHECKED.add(key)


def perturbed_kforest_prechecked(
    S: Array, k: int, sigma: float, n_samples: int, seeds: Any, labels: NDArray[np.int64] | None, n_threads: int
) -> tuple[Array, Array, Any]:
    """(A, M) of S's shape and F: a float for one matrix, a (b,) array in S's dtype for a stack."""
    _check_memory_once(S.shape[-1], n_threads, labels is not None, "perturbed_kforest")
    if S.ndim == 2:
        A, M, F, *_ = _kernel("perturbed_kforest", S.dtype)(
            S, k, sigma, n_samples, seeds, labels, None, None, True, True, True, False, n_threads)
        return A, M, F
    A, M, F, *_ = _kernel("perturbed_kforest_batch", S.dtype)(
        S, k, sigma, n_samples, seeds, labels, None, None, True, True, True, False, n_threads)
    return A, M, F.astype(S.dtype, copy=False)


def perturbed_kforest_vjp_prechecked(
    S: Array, k: int, sigma: float, n_samples: int, seeds: Any, labels: NDArray[np.int64] | None,
    grad_adjacency: Array | None, grad_connectivity: Array | None, control_variate: bool, n_threads: int,
) -> Array:
    """The score-function VJP g (S's shape) of A and M for the cotangents (None = zero, in S's
    dtype and shape). In a stack, only the elements whose A or M cotangent is not zero are
    solved; the others get 0 (so does one matrix whose cotangents are both zero)."""
    _check_memory_once(S.shape[-1], n_threads, labels is not None, "perturbed_kforest_vjp")
    if S.ndim == 2:
        VA = None if grad_adjacency is None or not grad_adjacency.any() else grad_adjacency
        VM = None if grad_connectivity is None or not grad_connectivity.any() else grad_connectivity
        if VA is None and VM is None:
            return np.zeros_like(S)
        g: Array = _kernel("perturbed_kforest_vjp", S.dtype)(
            S, k, VA, VM, sigma, n_samples, seeds, labels, None, None, True, control_variate, None, None, n_threads)
        return g
    b = S.shape[0]
    used = [V.reshape(b, -1).any(axis=1) if V is not None else np.zeros(b, bool)
            for V in (grad_adjacency, grad_connectivity)]
    live = np.flatnonzero(used[0] | used[1])
    if live.size == 0:
        return np.zeros_like(S)
    fn = _kernel("perturbed_kforest_vjp_batch", S.dtype)
    if live.size == b:
        VA, VM = (V if u.any() else None for V, u in zip((grad_adjacency, grad_connectivity), used))
        out: Array = fn(S, k, VA, VM, sigma, n_samples, seeds, labels, None, None, True, control_variate, None,
                        None, n_threads)
        return out
    g = np.zeros_like(S)
    VA, VM = (V[live] if V is not None and u.any() else None for V, u in zip((grad_adjacency, grad_connectivity), used))
    g[live] = fn(np.ascontiguousarray(S[live]), k, VA, VM, sigma, n_samples, seeds[live],
                 None if labels is None else labels[live], None, None, True, control_variate, None, None, n_threads)
    return g


def partial_fy_loss_prechecked(
    S: Array, k: int, sigma: float, n_samples: int, seeds: Any, labels: NDArray[np.int64], n_threads: int
) -> tuple[Any, Array]:
    """(loss, dloss/dS of S's shape): a float loss for one matrix, a (b,) array in S's dtype for a stack."""
    _check_memory_once(S.shape[-1], n_threads, True, "partial_fy_loss")
    if S.ndim == 2:
        value, grad, _ = _kernel("partial_fy_loss", S.dtype)(
            S, k, sigma, n_samples, seeds, labels, None, None, True, n_threads)
        return value, grad
    values, grad, _ = _kernel("partial_fy_loss_batch", S.dtype)(
        S, k, sigma, n_samples, seeds, labels, None, None, True, n_threads)
    return values.astype(S.dtype, copy=False), grad
