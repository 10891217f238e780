"""The private layer between every front end and the compiled kernels.

Each function takes already-resolved arguments -- arrays (anything
``numpy.asarray`` accepts), an ``int`` k, a ``float`` sigma, an ``int`` seed in
[0, 2**64) (for a batch S (b, n, n) of the perturbed kernels: an int, meaning
``element_seeds(seed, b)``, or an integer array (b,) of the elements' seeds,
see ``batch_seeds``), an ``int`` n_threads >= 1 (see ``_validation.resolve_threads`` and
``resolve_seed``), a metric name from the one metric table -- and

1. validates: shapes, dtypes, finiteness, ranges, labels (the errors name the
   argument: ``ValueError``, ``TypeError``, ``IndexError``);
2. converts once: a C-contiguous float32/float64 array is never copied, other
   real dtypes become float64;
3. dispatches on dtype to the ``_core`` kernel (``name_f32`` / ``name_f64``);
4. returns plain arrays and tuples: ordinary writable arrays owned by the caller,
   float results in the input's dtype (float32 in, float32 out; a gradient has
   the dtype of its variable), Python floats for scalars.

The NumPy API (``forests``, ``perturb``, ``distances``, ``cluster``, ``metrics``,
``losses``) wraps these tuples in its result types; the torch, JAX,
scikit-learn and Dask front ends call these functions directly.
"""

from __future__ import annotations

import numbers
import sys
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _core
from ._validation import (
    as_float_array,
    as_index_array,
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
    dtype_suffix,
    resolve_metric,
)

__all__ = [
    "adjusted_rand_score",
    "batch_seeds",
    "check_allocation",
    "check_off_diagonal_finite",
    "check_precomputed",
    "check_working_memory",
    "davies_bouldin_score",
    "dec_loss",
    "element_seeds",
    "gmm_nll",
    "graph_cuts",
    "kforest",
    "kforest_from_edges",
    "kforest_from_points",
    "kmeans_loss",
    "kmedoids",
    "mutual_info_score",
    "normalized_mutual_info_score",
    "pairwise_distances",
    "partial_fy_loss",
    "perturbed_kforest",
    "perturbed_kforest_from_points",
    "perturbed_kforest_vjp",
    "silhouette_samples",
    "silhouette_score",
    "soft_ncut",
]

Array = NDArray[Any]
ForestArrays = tuple[Any, ...]  # labels, edges, weights, value (, what the kernel adds)
PerturbedArrays = tuple[Any, ...]  # A_eps, M_eps, F_eps, kept edges or None, kept labels or None

INITS = ("build", "random", "k-medoids++")
AVERAGE_METHODS = ("min", "geometric", "arithmetic", "max")
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
WEIGHT_TOLERANCE = 1e-6


def _as(value: Any, dtype: np.dtype[Any]) -> Any:
    """A float result in ``dtype``: arrays are cast (no copy if already right), scalars become float."""
    if isinstance(value, np.ndarray):
        return value.astype(dtype, copy=False)
    return float(value)


def _check_seed(seed: Any) -> int:
    value = check_int(seed, "seed")
    if not 0 <= value < 2**64:
        raise ValueError(f"seed must be in [0, 2**64), got {value}")
    return value


def _points(X: Any, name: str) -> Array:
    a = as_float_array(X, name, ndims=(2,))
    check_finite(a, name)
    return a


def _float64(x: Any, name: str, ndim: int) -> NDArray[np.float64]:
    a = as_float_array(x, name, ndims=(ndim,))
    check_finite(a, name)
    return np.ascontiguousarray(a, dtype=np.float64)


# --------------------------------------------------------------------------- forests


def _forest(out: Any, dtype: np.dtype[Any]) -> ForestArrays:
    labels, edges, weights, value, *rest = out
    return (labels, edges, _as(weights, dtype), _as(value, dtype), *rest)


def kforest(
    S: Any, k: int, n_threads: int, *, known_labels: Any = None, must_link: Any = None,
    cannot_link: Any = None, refine: bool = True,
) -> ForestArrays:
    """(labels, edges, weights, value) of the maximum-weight k-forest of S, (n, n) or (b, n, n)."""
    S = as_float_array(S, "S", ndims=(2, 3))
    n = check_square(S, "S")
    k = check_k(k, n)
    labels, must, cannot = check_constraints(n, known_labels, must_link, cannot_link)
    if labels is None and must is None and cannot is None:
        return _forest(core_fn("kforest", S.dtype)(S, k, n_threads), S.dtype)
    fn = core_fn("kforest_constrained", S.dtype)
    return _forest(fn(S, k, labels, must, cannot, bool(refine), n_threads), S.dtype)


def kforest_from_edges(edges: Any, weights: Any, n: int, k: int) -> ForestArrays:
    """(labels, edges, weights, value) of the maximum-weight k-forest of an edge list (Kruskal)."""
    n = check_int(n, "n")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    k = check_k(k, n)
    e = as_index_array(edges, "edges")
    if e.ndim != 2 or e.shape[1] != 2:
        if e.size == 0:
            e = e.reshape(0, 2)
        else:
            raise ValueError(f"edges must have shape (m, 2), got {e.shape}")
    w = np.asarray(weights)
    if w.dtype not in (np.float32, np.float64):
        if w.dtype.kind not in "biuf":
            raise TypeError(f"weights must hold real numbers, got dtype {w.dtype}")
        w = w.astype(np.float64)
    w = np.ascontiguousarray(w)
    if w.ndim != 1 or w.shape[0] != e.shape[0]:
        raise ValueError(f"weights must have shape ({e.shape[0]},) to match edges, got {w.shape}")
    check_finite(w, "weights")
    if e.size and (e.min() < 0 or e.max() >= n):
        bad = int(np.flatnonzero((e < 0).any(axis=1) | (e >= n).any(axis=1))[0])
        raise IndexError(f"edges[{bad}] = {tuple(e[bad].tolist())} is out of range for n = {n}")
    return _forest(core_fn("kforest_from_edges", w.dtype)(e, w, n, k), w.dtype)


def kforest_from_points(X: Any, k: int, metric: str, n_threads: int) -> ForestArrays:
    """(labels, edges, weights, value) of the k-forest of points, ``S_ij = -d(x_i, x_j)``."""
    X = _points(X, "X")
    k = check_k(k, X.shape[0])
    name = resolve_metric(metric)
    return _forest(core_fn("kforest_from_points", X.dtype)(X, k, name, n_threads), X.dtype)


# --------------------------------------------------------------------------- perturbed forests


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


# --------------------------------------------------------------------------- distances, silhouette


def check_allocation(shape: tuple[int, ...], dtype: Any, what: str) -> None:
    """Raise ``OutputTooLargeError`` if an array of ``shape`` would exceed the memory available."""
    nbytes = float(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize
    check_memory(
        nbytes,
        f"{what} of shape {shape} and dtype {np.dtype(dtype)}",
        "work on blocks of rows instead (pairwise_distances(X[rows], X))",
    )


def pairwise_distances(X: Any, Y: Any, metric: str, n_threads: int) -> Array:
    """(n_x, n_y) distances; Y None means X (exactly zero diagonal)."""
    name = resolve_metric(metric)
    Xa = _points(X, "X")
    Ya: Array | None = None
    if Y is not None:
        Ya = _points(Y, "Y")
        if Ya.shape[1] != Xa.shape[1]:
            raise ValueError(
                f"X and Y must have the same number of features, got X.shape = {Xa.shape} "
                f"and Y.shape = {Ya.shape}"
            )
        if Ya.dtype != Xa.dtype:
            Xa = Xa.astype(np.float64)
            Ya = Ya.astype(np.float64)
    n_y = Xa.shape[0] if Ya is None else Ya.shape[0]
    check_allocation((Xa.shape[0], n_y), Xa.dtype, "the distance matrix")
    out: Array = core_fn("pairwise_distances", Xa.dtype)(Xa, Ya, name, n_threads)
    return out


def check_precomputed(D: Array, *, symmetric: bool, n_threads: int) -> None:
    """Check a precomputed dissimilarity matrix: square, finite, >= 0 (and symmetric)."""
    if D.shape[0] != D.shape[1]:
        raise ValueError(f"X (metric='precomputed') must be a square (n, n) matrix, got shape {D.shape}")
    rtol = float(np.sqrt(np.finfo(D.dtype).eps))
    core_fn("check_dissimilarity", D.dtype)(D, symmetric, rtol, "X", n_threads)


def silhouette_samples(X: Any, labels: Any, metric: str, n_threads: int) -> Array:
    """(n,) silhouette coefficients, in the dtype of X."""
    s, dtype = _silhouette(X, labels, metric, n_threads)
    return _as(s, dtype)  # type: ignore[no-any-return]


def silhouette_score(X: Any, labels: Any, metric: str, n_threads: int) -> float:
    """The mean silhouette coefficient (of the float64 coefficients)."""
    return float(np.mean(_silhouette(X, labels, metric, n_threads)[0]))


def _silhouette(X: Any, labels: Any, metric: str, n_threads: int) -> tuple[NDArray[np.float64], np.dtype[Any]]:
    name = resolve_metric(metric, precomputed=True)
    Xa = as_float_array(X, "X", ndims=(2,))
    n = Xa.shape[0]
    lab = as_labels(labels, "labels", n=n)
    uniques, codes = np.unique(lab, return_inverse=True)
    k = int(uniques.shape[0])
    if not 2 <= k <= n - 1:
        raise ValueError(
            f"the number of distinct labels is {k}; the silhouette needs it in [2, n - 1] = [2, {n - 1}]"
        )
    codes = np.ascontiguousarray(codes.reshape(-1), dtype=np.int64)
    if name == "precomputed":
        check_precomputed(Xa, symmetric=False, n_threads=n_threads)
        diag = np.abs(np.diagonal(Xa))
        if np.any(diag > 100 * np.finfo(Xa.dtype).eps):
            raise ValueError(
                "X (metric='precomputed') has non-zero elements on its diagonal; "
                "use np.fill_diagonal(X, 0) on a copy"
            )
    else:
        check_finite(Xa, "X")
    out: NDArray[np.float64] = core_fn("silhouette_samples", Xa.dtype)(Xa, codes, k, name, n_threads)
    return out, Xa.dtype


# --------------------------------------------------------------------------- k-medoids


def _explicit_medoids(init: Any, n: int, k: int) -> NDArray[np.int64]:
    m = np.asarray(init)
    if m.dtype.kind not in "iu":
        raise TypeError(f"init must be 'build', 'random', 'k-medoids++' or an array of ints, got dtype {m.dtype}")
    if m.shape != (k,):
        raise ValueError(f"init must hold k = {k} medoid indices, got shape {m.shape}")
    if m.min() < 0 or m.max() >= n:
        bad = int(m[(m < 0) | (m >= n)][0])
        raise ValueError(f"init holds medoid index {bad}, outside [0, n) = [0, {n})")
    if np.unique(m).shape[0] != k:
        raise ValueError("init holds duplicate medoid indices; the k medoids must be distinct")
    return np.array(m, dtype=np.int64)  # a copy: the kernel writes into it


def _kmedoids_plusplus(D: Array, k: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """k-medoids++ seeding: each next medoid drawn with probability proportional to
    its dissimilarity to the nearest medoid chosen so far."""
    n = D.shape[0]
    medoids = np.empty(k, dtype=np.int64)
    medoids[0] = rng.integers(n)
    nearest = np.array(D[medoids[0]], dtype=np.float64)
    taken = np.zeros(n, dtype=bool)
    taken[medoids[0]] = True
    for m in range(1, k):
        weights = np.where(taken, 0.0, nearest)
        total = weights.sum()
        if total > 0:
            c = int(rng.choice(n, p=weights / total))
        else:  # every remaining point coincides with a medoid
            c = int(rng.choice(np.flatnonzero(~taken)))
        medoids[m] = c
        taken[c] = True
        np.minimum(nearest, D[c], out=nearest)
    return medoids


def kmedoids(
    X: Any, k: int, metric: str, init: Any, max_iter: int, seed: int, n_threads: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], float, int, int]:
    """(labels, medoids, loss, n_iter, n_swaps) of FasterPAM; ``seed`` drives the random inits."""
    name = resolve_metric(metric, precomputed=True)
    Xa = as_float_array(X, "X", ndims=(2,))
    n = Xa.shape[0]
    k = check_k(k, n)
    max_iter = check_int(max_iter, "max_iter")
    if max_iter < 0:
        raise ValueError(f"max_iter must be non-negative, got {max_iter}")
    seed = _check_seed(seed)
    if isinstance(init, str):
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS} or an array of k medoid indices, got {init!r}")
        medoids = None
    else:
        medoids = _explicit_medoids(init, n, k)
    if name == "precomputed":
        check_precomputed(Xa, symmetric=True, n_threads=n_threads)
        D = Xa
    else:
        check_finite(Xa, "X")
        check_allocation((n, n), Xa.dtype, "the (n, n) distance matrix k-medoids needs")
        D = pairwise_distances(Xa, None, name, n_threads)
    if medoids is None:
        if init == "build":
            medoids = core_fn("pam_build", D.dtype)(D, k, n_threads)
        else:
            rng = np.random.default_rng(seed)
            if init == "random":
                medoids = np.sort(rng.choice(n, size=k, replace=False)).astype(np.int64)
            else:
                medoids = _kmedoids_plusplus(D, k, rng)
    med, labels, loss, n_iter, n_swaps = core_fn("fasterpam", D.dtype)(D, medoids, max_iter, n_threads)
    return labels, med, float(loss), int(n_iter), int(n_swaps)


# --------------------------------------------------------------------------- metrics


def _label_pair(labels_true: Any, labels_pred: Any) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    a = as_labels(labels_true, "labels_true")
    b = as_labels(labels_pred, "labels_pred")
    if a.shape != b.shape:
        raise ValueError(
            f"labels_true and labels_pred must have the same length, got {a.shape[0]} and {b.shape[0]}"
        )
    return a, b


def adjusted_rand_score(labels_true: Any, labels_pred: Any, n_threads: int) -> float:
    a, b = _label_pair(labels_true, labels_pred)
    return float(_core.adjusted_rand_score(a, b, n_threads))


def mutual_info_score(labels_true: Any, labels_pred: Any, n_threads: int) -> float:
    a, b = _label_pair(labels_true, labels_pred)
    return float(_core.mutual_info_score(a, b, n_threads))


def normalized_mutual_info_score(labels_true: Any, labels_pred: Any, average_method: str, n_threads: int) -> float:
    if average_method not in AVERAGE_METHODS:
        raise ValueError(f"average_method must be one of {AVERAGE_METHODS}, got {average_method!r}")
    a, b = _label_pair(labels_true, labels_pred)
    return float(_core.normalized_mutual_info_score(a, b, average_method, n_threads))


def davies_bouldin_score(X: Any, labels: Any, n_threads: int) -> float:
    Xa = _points(X, "X")
    lab = as_labels(labels, "labels", n=Xa.shape[0])
    return float(core_fn("davies_bouldin_score", Xa.dtype)(Xa, lab, n_threads))


# --------------------------------------------------------------------------- losses


def kmeans_loss(X: Any, centers: Any, labels: Any, n_threads: int) -> float:
    Xa = _points(X, "X")
    C = _float64(centers, "centers", 2)
    if C.shape[1] != Xa.shape[1]:
        raise ValueError(f"centers must have shape (k, {Xa.shape[1]}) to match X, got {C.shape}")
    lab = None if labels is None else as_labels(labels, "labels", n=Xa.shape[0])
    return float(core_fn("kmeans_loss", Xa.dtype)(Xa, C, lab, n_threads))


def _gmm_inputs(
    X: Any, weights: Any, means: Any, covariances: Any, covariance_type: str
) -> tuple[Array, NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}")
    Xa = _points(X, "X")
    d = Xa.shape[1]
    M = _float64(means, "means", 2)
    if M.shape[1] != d:
        raise ValueError(f"means must have shape (k, {d}) to match X, got {M.shape}")
    k = M.shape[0]
    w = _float64(weights, "weights", 1)
    if w.shape != (k,):
        raise ValueError(f"weights must have shape ({k},) to match means, got {w.shape}")
    if (w < 0).any():
        raise ValueError(f"weights must be non-negative, got weights[{int(np.argmax(w < 0))}] = {w[w < 0][0]}")
    if abs(w.sum() - 1.0) > WEIGHT_TOLERANCE:
        raise ValueError(f"weights must sum to 1 (within {WEIGHT_TOLERANCE}), got {float(w.sum())!r}")
    expected = {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}[covariance_type]
    cov = _float64(covariances, "covariances", len(expected))
    if cov.shape != expected:
        raise ValueError(
            f"covariances must have shape {expected} for covariance_type={covariance_type!r}, got {cov.shape}"
        )
    if covariance_type in ("full", "tied"):
        mats = cov if covariance_type == "full" else cov[None]
        for j, c in enumerate(mats):
            if not np.allclose(c, c.T):
                which = f"[{j}]" if covariance_type == "full" else ""
                raise ValueError(f"covariances{which} is not symmetric")
    return Xa, w, M, cov


def gmm_nll(
    X: Any, weights: Any, means: Any, covariances: Any, covariance_type: str, return_samples: bool,
    n_threads: int,
) -> tuple[float, Array | None]:
    """(mean NLL, per-sample NLL in the dtype of X or None)."""
    Xa, w, M, cov = _gmm_inputs(X, weights, means, covariances, covariance_type)
    mean, samples = core_fn("gmm_nll", Xa.dtype)(Xa, w, M, cov, covariance_type, bool(return_samples), n_threads)
    return float(mean), None if samples is None else _as(samples, Xa.dtype)


def _is_sparse(W: Any) -> bool:
    sparse = sys.modules.get("scipy.sparse")  # a sparse matrix implies scipy is already imported
    return sparse is not None and bool(sparse.issparse(W))


def _graph(W: Any) -> tuple[str, tuple[Any, ...], int, np.dtype[Any]]:
    """(kind, arrays, n, dtype): ("dense_<f>", (W,), ...) or ("csr_<f>_<i>", (indptr, indices, data), ...)."""
    if _is_sparse(W):
        if W.ndim != 2 or W.shape[0] != W.shape[1]:
            raise ValueError(f"W must be square, got shape {W.shape}")
        if W.format != "csr":
            W = W.tocsr()  # CSC, COO, ...: one O(nnz) conversion by scipy
        data = np.asarray(W.data)
        if data.dtype not in (np.float32, np.float64):
            if data.dtype.kind not in "biuf":
                raise TypeError(f"W must hold real numbers, got dtype {data.dtype}")
            data = data.astype(np.float64)
        indptr, indices = np.asarray(W.indptr), np.asarray(W.indices)
        itype = np.int32 if indptr.dtype == np.int32 and indices.dtype == np.int32 else np.int64
        arrays = tuple(
            np.ascontiguousarray(a) for a in (indptr.astype(itype, copy=False), indices.astype(itype, copy=False), data)
        )
        kind = f"csr_{dtype_suffix(data.dtype)}_{'i32' if itype == np.int32 else 'i64'}"
        return kind, arrays, int(W.shape[0]), data.dtype
    Wa = as_float_array(W, "W", ndims=(2,))
    if Wa.shape[0] != Wa.shape[1]:
        raise ValueError(f"W must be square, got shape {Wa.shape}")
    return f"dense_{dtype_suffix(Wa.dtype)}", (Wa,), int(Wa.shape[0]), Wa.dtype


def _call_graph(prefix: str, kind: str, arrays: tuple[Any, ...], n: int, *args: Any) -> Any:
    fn = getattr(_core, f"{prefix}_{kind}")
    if kind.startswith("dense"):
        return fn(arrays[0], *args)
    return fn(*arrays, n, *args)


def graph_cuts(W: Any, labels: Any, n_threads: int) -> tuple[float, float]:
    """(normalized cut, ratio cut) of a labelling of a dense or scipy.sparse affinity."""
    kind, arrays, n, _ = _graph(W)
    lab = as_labels(labels, "labels", n=n)
    nc, rc = _call_graph("graph_cuts", kind, arrays, n, lab, n_threads)
    return float(nc), float(rc)


def soft_ncut(W: Any, P: Any, n_threads: int) -> tuple[float, Array]:
    """(value, d value / d P in the dtype of P) of the relaxed normalized cut."""
    kind, arrays, n, _ = _graph(W)
    P0 = as_float_array(P, "P", ndims=(2,))
    Pa = _float64(P0, "P", 2)
    if Pa.shape[0] != n:
        raise ValueError(f"P must have n = {n} rows (one per row of W), got shape {Pa.shape}")
    if (Pa < 0).any():
        raise ValueError("P must be non-negative (a soft assignment)")
    value, grad = _call_graph("soft_ncut", kind, arrays, n, Pa, n_threads)
    return float(value), _as(grad, P0.dtype)


def dec_loss(Z: Any, centers: Any, alpha: float, target: Any, n_threads: int) -> tuple[float, Array, Array]:
    """(KL(P || Q), grad_Z in the dtype of Z, grad_centers in the dtype of centers)."""
    Z0 = as_float_array(Z, "Z", ndims=(2,))
    C0 = as_float_array(centers, "centers", ndims=(2,))
    Za, C = _float64(Z0, "Z", 2), _float64(C0, "centers", 2)
    if C.shape[1] != Za.shape[1]:
        raise ValueError(f"centers must have shape (k, {Za.shape[1]}) to match Z, got {C.shape}")
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha must be a real number, got {alpha!r}")
    alpha = float(alpha)
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be positive and finite, got {alpha}")
    T = None
    if target is not None:
        T = _float64(target, "target", 2)
        if T.shape != (Za.shape[0], C.shape[0]):
            raise ValueError(f"target must have shape (n, k) = {(Za.shape[0], C.shape[0])}, got {T.shape}")
        if (T < 0).any():
            raise ValueError("target must be non-negative (a distribution per row)")
    loss, gz, gc = _core.dec_loss(Za, C, alpha, T, n_threads)
    return float(loss), _as(gz, Z0.dtype), _as(gc, C0.dtype)
