"""k-medoids clustering: PAM BUILD (or random, or k-medoids++) then FasterPAM swaps.

The loss is ``sum_i d(x_i, m_{z_i})``, the total dissimilarity of the points to
their nearest medoid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _ops
from ._results import Result
from ._validation import resolve_seed, resolve_threads

__all__ = ["KMedoidsResult", "kmedoids"]


@dataclass(frozen=True, eq=False, repr=False)
class KMedoidsResult(Result):
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

    The repr is compact; arrays are ordinary writable arrays owned by the caller.
    """

    labels: NDArray[np.int64]
    medoids: NDArray[np.int64]
    loss: float
    n_iter: int
    n_swaps: int

    def _repr_head(self) -> dict[str, Any]:
        return {"n": int(self.labels.shape[0]), "k": int(self.medoids.shape[0])}


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
        Dissimilarity (with scikit-learn's aliases "l2", "l1", "cityblock"); for points, the (n, n) matrix is computed with
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
    uses_seed = isinstance(init, str) and init in ("random", "k-medoids++")
    used_seed = resolve_seed(seed) if uses_seed else 0  # a Generator is only consumed when used
    out = _ops.kmedoids(X, k, metric, init, max_iter, used_seed, resolve_threads(n_threads))
    return KMedoidsResult(*out)
