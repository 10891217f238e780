"""k-medoids clustering: PAM BUILD (or random, or k-medoids++) then FasterPAM swaps.

The loss is ``sum_i d(x_i, m_{z_i})``, the total dissimilarity of the points to
their nearest medoid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import (
    as_float_array,
    check_int,
    check_k,
    core_fn,
    frozen,
    resolve_seed,
    resolve_threads,
)
from .distances import (
    _check_precomputed,
    _resolve_metric,
    check_allocation,
    pairwise_distances,
)

__all__ = ["KMedoidsResult", "kmedoids"]

INITS = ("build", "random", "k-medoids++")


@dataclass(frozen=True)
class KMedoidsResult:
    """A k-medoids clustering.

    Attributes
    ----------
    labels : ndarray of int64, shape (n,)
        Position in ``medoids`` of each point's nearest medoid (ties: the first).
    medoids : ndarray of int64, shape (k,)
        Indices of the medoid points.
    loss : float
        ``sum_i d(x_i, medoids[labels[i]])``.
    n_iter : int
        Passes over the swap candidates.
    n_swaps : int
        Swaps performed.
    """

    labels: NDArray[np.int64]
    medoids: NDArray[np.int64]
    loss: float
    n_iter: int
    n_swaps: int


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


def _kmedoids_plusplus(D: NDArray[Any], k: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """k-medoids++ seeding: each next medoid drawn with probability proportional to
    its dissimilarity to the nearest medoid chosen so far (the k-medoids loss, as
    k-means++ uses the k-means loss)."""
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
    X: ArrayLike,
    k: int,
    *,
    metric: str = "euclidean",
    init: str | ArrayLike = "build",
    max_iter: int = 100,
    seed: int | np.random.Generator | None = None,
    n_threads: int | None = None,
) -> KMedoidsResult:
    """k-medoids clustering by FasterPAM.

    Parameters
    ----------
    X : array_like, shape (n, d) or (n, n)
        Points, or with ``metric="precomputed"`` a dissimilarity matrix (finite,
        non-negative, symmetric up to ``sqrt(eps) * max(X)``).
    k : int
        Number of medoids, 1 <= k <= n.
    metric : {"euclidean", "sqeuclidean", "manhattan", "cosine", "precomputed"}
        Dissimilarity; for points, the (n, n) matrix is computed with
        :func:`~diffclust.pairwise_distances` (in the dtype of X).
    init : {"build", "random", "k-medoids++"} or array_like of int, shape (k,)
        "build": PAM BUILD (deterministic, O(n^2 k)); "random": k distinct points
        drawn uniformly; "k-medoids++": each next medoid drawn with probability
        proportional to its dissimilarity to the nearest medoid so far; or k
        distinct point indices.
    max_iter : int
        Maximum passes over the swap candidates (0: no swaps).
    seed : int, numpy.random.Generator or None
        Randomness of the "random" and "k-medoids++" initialisations.
    n_threads : int, optional
        Threads; the result never depends on it.

    Returns
    -------
    KMedoidsResult
        ``labels``, ``medoids``, ``loss``, ``n_iter``, ``n_swaps``.

    Raises
    ------
    ValueError
        Wrong shapes, NaN or infinity, k outside [1, n], an unknown metric or
        init, explicit medoids that are duplicate, out of range or not k of them,
        a precomputed matrix that is not square, negative or not symmetric,
        ``max_iter < 0``.
    TypeError
        Non-real X, non-integer k, max_iter or medoid indices.
    MemoryError
        (:class:`~diffclust.distances.OutputTooLargeError`, also a ``ValueError``)
        if the (n, n) distance matrix of X would exceed physical memory.

    Notes
    -----
    FasterPAM keeps each point's nearest and second-nearest medoid and each
    medoid's removal loss, so a candidate point is tried against all k medoids
    in O(n). Candidates are visited in index order, cyclically, and the best
    swap for a candidate is made at once if it lowers the loss; the search ends
    when n candidates in a row bring no improvement (or after ``max_iter``
    passes). Threads evaluate upcoming candidates speculatively and discard the
    evaluations overtaken by a swap, so the swaps are those of the serial
    algorithm. Losses are summed in float64.

    References
    ----------
    E. Schubert, P. J. Rousseeuw. Fast and eager k-medoids clustering: O(k)
    runtime improvement of the PAM, CLARA, and CLARANS algorithms. Information
    Systems 101, 2021.
    L. Kaufman, P. J. Rousseeuw. Partitioning Around Medoids (Program PAM).
    Finding Groups in Data, 1990 (BUILD).
    """
    name = _resolve_metric(metric, precomputed=True)
    threads = resolve_threads(n_threads)
    Xa = as_float_array(X, "X", ndims=(2,))
    n = Xa.shape[0]
    k = check_k(k, n)
    max_iter = check_int(max_iter, "max_iter")
    if max_iter < 0:
        raise ValueError(f"max_iter must be non-negative, got {max_iter}")
    if isinstance(init, str):
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS} or an array of k medoid indices, got {init!r}")
        medoids = None
    else:
        medoids = _explicit_medoids(init, n, k)
    if name == "precomputed":
        _check_precomputed(Xa, symmetric=True, threads=threads)
        D = Xa
    else:
        if not np.isfinite(Xa).all():
            raise ValueError("X contains NaN or infinity")
        check_allocation((n, n), Xa.dtype, "the (n, n) distance matrix k-medoids needs")
        D = pairwise_distances(Xa, metric=name, n_threads=threads)
    if medoids is None:
        if init == "build":
            medoids = core_fn("pam_build", D.dtype)(D, k, threads)
        else:
            rng = np.random.default_rng(resolve_seed(seed))
            if init == "random":
                medoids = np.sort(rng.choice(n, size=k, replace=False)).astype(np.int64)
            else:
                medoids = _kmedoids_plusplus(D, k, rng)
    med, labels, loss, n_iter, n_swaps = core_fn("fasterpam", D.dtype)(D, medoids, max_iter, threads)
    return KMedoidsResult(frozen(labels), frozen(med), float(loss), int(n_iter), int(n_swaps))

