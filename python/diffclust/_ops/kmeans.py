"""The private layer of k-means: validation, dtype dispatch and the driver loops.

Same conventions as ``_ops``: arguments already resolved (``seed`` an int in
[0, 2**64), ``n_threads`` an int >= 1); errors name the argument; X is never
copied when it is a C-contiguous float32/float64 array; results are ordinary
arrays in X's float dtype (labels int64, inertia a Python float).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._validation import as_float_array, check_finite, check_int, check_k, core_fn

__all__ = [
    "ALGORITHMS",
    "INITS",
    "MiniBatchState",
    "check_init",
    "check_minibatch_args",
    "check_sample_weight",
    "initial_centers",
    "kmeans",
    "kmeans_assign",
    "kmeans_plusplus",
    "minibatch_kmeans",
    "minibatch_step",
    "points",
    "random_init_rows",
    "run_seeds",
    "tolerance",
]

Array = NDArray[Any]
INITS = ("k-means++", "random")
ALGORITHMS = ("auto", "lloyd", "elkan")


def points(X: Any, name: str = "X") -> Array:
    """X as a finite C-contiguous (n, d) float32/float64 array."""
    a = as_float_array(X, name, ndims=(2,))
    check_finite(a, name)
    return a


def check_sample_weight(sample_weight: Any, n: int) -> NDArray[np.float64] | None:
    """None, or a finite non-negative float64 vector (n,) with a positive sum."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Real) and not isinstance(sample_weight, (bool, np.bool_)):
        w = np.full(n, float(sample_weight))
    else:
        a = np.asarray(sample_weight)
        if a.dtype.kind not in "biuf":
            raise TypeError(f"sample_weight must hold real numbers, got dtype {a.dtype}")
        w = np.ascontiguousarray(a, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},) to match X, got {w.shape}")
    if not np.isfinite(w).all():
        raise ValueError("sample_weight contains NaN or infinity")
    if (w < 0).any():
        raise ValueError("sample_weight must be non-negative")
    if not w.sum() > 0:
        raise ValueError("sample_weight must not be all zero (its sum must be positive)")
    return w


def _check_positive_int(value: Any, name: str, low: int = 1) -> int:
    v = check_int(value, name)
    if v < low:
        raise ValueError(f"{name} must be at least {low}, got {v}")
    return v


def _check_tol(tol: Any) -> float:
    if isinstance(tol, (bool, np.bool_)) or not isinstance(tol, numbers.Real):
        raise TypeError(f"tol must be a real number, got {tol!r}")
    value = float(tol)
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {value}")
    return value


def tolerance(X: Array, tol: float) -> float:
    """scikit-learn's absolute tolerance: ``tol`` times the mean per-feature variance of X
    (``np.mean(np.var(X, axis=0))``; the variances by the compiled two-pass loop that adds
    the rows in NumPy's order, without NumPy's (n, d) temporary). Checks that X is finite."""
    if tol == 0 or X.shape[1] == 1:  # one column: NumPy sums it pairwise, so NumPy it is
        check_finite(X, "X")
        return 0.0 if tol == 0 else float(np.mean(np.var(X, axis=0, dtype=np.float64)) * tol)
    return float(np.mean(core_fn("column_variances", X.dtype)(X, 1)) * tol)


def run_seeds(seed: int, n_runs: int) -> list[int]:
    """One seed per run, derived from ``seed`` (the same seed gives the same runs)."""
    return [int(s) for s in np.random.default_rng(seed).integers(0, 2**63, size=n_runs, dtype=np.int64)]


def kmeans_plusplus(
    X: Any, k: int, sample_weight: Any, n_local_trials: Any, seed: int, n_threads: int
) -> tuple[Array, NDArray[np.int64]]:
    """(centers (k, d) in X's dtype, indices (k,)) of greedy k-means++."""
    Xa = as_float_array(X, "X", ndims=(2,))  # finiteness: the compiled call checks it
    n = Xa.shape[0]
    k = check_k(k, n)
    w = check_sample_weight(sample_weight, n)
    if n_local_trials is None:
        trials = 2 + int(np.log(k))
    else:
        trials = _check_positive_int(n_local_trials, "n_local_trials")
        if trials > 1 << 16:
            raise ValueError(f"n_local_trials must be at most 65536, got {trials}")
    indices, _ = core_fn("kmeans_plusplus", Xa.dtype)(Xa, w, k, trials, seed, n_threads)
    return Xa[indices].copy(), indices


def random_init_rows(n: int, k: int, w: NDArray[np.float64] | None, seed: int) -> NDArray[np.intp]:
    """The sorted rows of ``init="random"``: k distinct rows, drawn by weight when weighted."""
    rng = np.random.default_rng(seed)
    if w is None:
        idx = rng.choice(n, size=k, replace=False)
    else:
        if np.count_nonzero(w) < k:
            raise ValueError("init='random' needs at least k points with a positive sample_weight")
        idx = rng.choice(n, size=k, replace=False, p=w / w.sum())
    return np.sort(idx)


def initial_centers(
    Xa: Array, k: int, init: Any, w: NDArray[np.float64] | None, seed: int, n_threads: int
) -> Array:
    if isinstance(init, str):
        if init == "k-means++":
            return kmeans_plusplus(Xa, k, w, None, seed, n_threads)[0]
        return Xa[random_init_rows(Xa.shape[0], k, w, seed)].copy()
    return np.ascontiguousarray(init, dtype=Xa.dtype)


def check_init(init: Any, k: int, d: int) -> Any:
    if isinstance(init, str):
        if init not in INITS:
            raise ValueError(f"init must be 'k-means++', 'random' or an array of shape (k, d), got {init!r}")
        return init
    if callable(init):
        raise TypeError("init must be 'k-means++', 'random' or an array of shape (k, d), not a callable")
    C = as_float_array(init, "init", ndims=(2,))
    if C.shape != (k, d):
        raise ValueError(f"init must have shape (k, d) = ({k}, {d}), got {C.shape}")
    check_finite(C, "init")
    return C


def kmeans(
    X: Any, k: int, init: Any, n_init: Any, max_iter: Any, tol: Any, sample_weight: Any,
    algorithm: Any, seed: int, n_threads: int,
) -> tuple[Array, NDArray[np.int64], float, int]:
    """(centers, labels, inertia, n_iter) of the best of ``n_init`` Lloyd runs (smallest
    inertia, the first run on ties)."""
    Xa = as_float_array(X, "X", ndims=(2,))
    tol_abs = tolerance(Xa, _check_tol(tol))  # and X's finiteness check
    n, d = Xa.shape
    k = check_k(k, n)
    init = check_init(init, k, d)
    n_init = _check_positive_int(n_init, "n_init")
    max_iter = _check_positive_int(max_iter, "max_iter")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    w = check_sample_weight(sample_weight, n)
    runs = 1 if not isinstance(init, str) else n_init
    lloyd = core_fn("kmeans_lloyd", Xa.dtype)
    best: tuple[Array, NDArray[np.int64], float, int] | None = None
    for run_seed in run_seeds(seed, runs):
        C0 = initial_centers(Xa, k, init, w, run_seed, n_threads)
        centers, labels, inertia, n_iter, _ = lloyd(Xa, w, C0, max_iter, tol_abs, n_threads)
        if best is None or inertia < best[2]:
            best = (centers, labels, float(inertia), int(n_iter))
    assert best is not None
    return best


def kmeans_assign(
    X: Any, centers: Any, sample_weight: Any, n_threads: int, *, name: str = "X"
) -> tuple[NDArray[np.int64], NDArray[np.float64], float]:
    """(labels, squared distances to the assigned centre, inertia) for the given centres.

    The centres are cast to X's dtype (the kernels compare in it)."""
    Xa = points(X, name)
    C = as_float_array(centers, "centers", ndims=(2,))
    if C.shape[1] != Xa.shape[1]:
        raise ValueError(f"{name} has {Xa.shape[1]} features, but the centers have {C.shape[1]}")
    check_finite(C, "centers")
    C = np.ascontiguousarray(C, dtype=Xa.dtype)
    w = check_sample_weight(sample_weight, Xa.shape[0])
    labels, dist, inertia = core_fn("kmeans_assign", Xa.dtype)(Xa, C, w, n_threads)
    return labels, dist, float(inertia)


def minibatch_step(
    X: Array, w: NDArray[np.float64] | None, centers: NDArray[np.float64], counts: NDArray[np.float64],
    n_threads: int,
) -> float:
    """One mini-batch update in place (scikit-learn's rule): each centre with points in
    the batch becomes the weighted mean of its old position (weight = its count so far)
    and its new points; returns the batch inertia against the old centres."""
    k, d = centers.shape
    labels, _, inertia = kmeans_assign(X, centers.astype(X.dtype), w, n_threads)
    weights = np.ones(X.shape[0]) if w is None else w
    wsum = np.bincount(labels, weights=weights, minlength=k)
    sums = np.zeros((k, d))
    np.add.at(sums, labels, X.astype(np.float64) * weights[:, None])
    hit = wsum > 0
    new_counts = counts[hit] + wsum[hit]
    centers[hit] = (centers[hit] * counts[hit, None] + sums[hit]) / new_counts[:, None]
    counts[hit] = new_counts
    return inertia


class MiniBatchState:
    """What mini-batch k-means carries from one batch to the next (``partial_fit``):
    float64 centres, per-centre weight counts, the random stream and the
    convergence bookkeeping of scikit-learn's MiniBatchKMeans."""

    def __init__(self, centers: Array, rng: np.random.Generator, reassignment_ratio: float) -> None:
        self.centers = np.array(centers, dtype=np.float64)
        self.counts = np.zeros(self.centers.shape[0])
        self.rng = rng
        self.reassignment_ratio = reassignment_ratio
        self.n_since_reassign = 0
        self.steps = 0
        self.ewa: float | None = None
        self.ewa_min: float | None = None
        self.no_improvement = 0

    def step(self, X: Array, w: NDArray[np.float64] | None, n_threads: int) -> tuple[float, float]:
        """One batch: update, then random reassignment of starved centres (every
        10 k samples, or when a centre has weight 0). Returns (batch inertia per
        sample, squared centre shift)."""
        old = self.centers.copy()
        inertia = minibatch_step(X, w, self.centers, self.counts, n_threads)
        k = self.centers.shape[0]
        self.n_since_reassign += X.shape[0]
        if self.reassignment_ratio > 0 and ((self.counts == 0).any() or self.n_since_reassign >= 10 * k):
            self.n_since_reassign = 0
            starved = self.counts < self.reassignment_ratio * self.counts.max()
            if starved.sum() > 0.5 * X.shape[0]:  # at most half a batch of them
                worst = np.argsort(self.counts, kind="stable")[: int(0.5 * X.shape[0])]
                starved[:] = False
                starved[worst] = True
            m = int(starved.sum())
            weights = np.ones(X.shape[0]) if w is None else w
            if 0 < m <= np.count_nonzero(weights):
                rows = self.rng.choice(X.shape[0], size=m, replace=False, p=weights / weights.sum())
                self.centers[starved] = X[np.sort(rows)]
                rest = self.counts[~starved]
                self.counts[starved] = rest.min() if rest.size else 0.0
        self.steps += 1
        shift = float(((self.centers - old) ** 2).sum())
        total = X.shape[0] if w is None else float(w.sum())
        return inertia / max(total, 1e-300), shift

    def converged(self, batch_inertia: float, shift: float, batch_size: int, n: int, tol: float,
                  max_no_improvement: int | None) -> bool:
        """scikit-learn's early stopping: the centre shift, or no improvement of the
        exponentially weighted average of the batch inertia for a number of steps."""
        if self.steps <= 1:  # the first step only initialises the average
            self.ewa = batch_inertia
            self.ewa_min = batch_inertia
            return False
        assert self.ewa is not None and self.ewa_min is not None
        alpha = min(1.0, batch_size * 2.0 / (n + 1))
        self.ewa = self.ewa * (1 - alpha) + batch_inertia * alpha
        if tol > 0.0 and shift <= tol:
            return True
        if self.ewa < self.ewa_min:
            self.no_improvement = 0
            self.ewa_min = self.ewa
        else:
            self.no_improvement += 1
        return max_no_improvement is not None and self.no_improvement >= max_no_improvement


def check_minibatch_args(batch_size: Any, reassignment_ratio: Any, max_no_improvement: Any) -> tuple[int, float, int | None]:
    size = _check_positive_int(batch_size, "batch_size")
    if isinstance(reassignment_ratio, (bool, np.bool_)) or not isinstance(reassignment_ratio, numbers.Real):
        raise TypeError(f"reassignment_ratio must be a real number, got {reassignment_ratio!r}")
    ratio = float(reassignment_ratio)
    if not (np.isfinite(ratio) and ratio >= 0):
        raise ValueError(f"reassignment_ratio must be a finite number >= 0, got {ratio}")
    patience = None if max_no_improvement is None else _check_positive_int(max_no_improvement, "max_no_improvement", 0)
    return size, ratio, patience


def minibatch_kmeans(
    X: Any, k: int, init: Any, batch_size: Any, max_iter: Any, tol: Any, max_no_improvement: Any,
    reassignment_ratio: Any, sample_weight: Any, seed: int, n_threads: int,
) -> tuple[Array, NDArray[np.int64], float, int]:
    """(centers, labels, inertia, n_steps): mini-batch k-means, batches drawn with
    replacement, at most ``max_iter`` passes over the data; the labels and inertia
    are those of the whole data against the final centres."""
    Xa = points(X)
    n, d = Xa.shape
    k = check_k(k, n)
    init = check_init(init, k, d)
    max_iter = _check_positive_int(max_iter, "max_iter")
    tol_abs = tolerance(Xa, _check_tol(tol))
    size, ratio, patience = check_minibatch_args(batch_size, reassignment_ratio, max_no_improvement)
    w = check_sample_weight(sample_weight, n)
    init_seed, batch_seed = run_seeds(seed, 2)
    state = MiniBatchState(initial_centers(Xa, k, init, w, init_seed, n_threads), np.random.default_rng(batch_seed), ratio)
    size = min(size, n)
    n_steps = (max_iter * n + size - 1) // size
    for _ in range(n_steps):
        rows = state.rng.integers(0, n, size=size)
        wb = None if w is None else w[rows]
        if wb is not None and not wb.sum() > 0:
            continue
        inertia, shift = state.step(Xa[rows], wb, n_threads)
        if state.converged(inertia, shift, size, n, tol_abs, patience):
            break
    centers = state.centers.astype(Xa.dtype)
    labels, _, inertia_all = kmeans_assign(Xa, centers, w, n_threads)
    return centers, labels, inertia_all, state.steps
