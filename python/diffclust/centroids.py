"""Centroid clustering: k-means (Lloyd), greedy k-means++ seeding and mini-batch k-means.

Every result is bit-identical for any ``n_threads``: the points are cut into fixed
chunks of rows (never depending on the thread count), each chunk sums its rows in
order, and the chunk sums are combined in chunk order. A label is the nearest
centre by the squared distance computed directly in double, ties going to the
smallest centre index. float32 input stays float32 (centres are float32, sums
are accumulated in float64).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._ops import kmeans as _ops_kmeans
from ._results import TupleResult
from ._validation import resolve_seed, resolve_threads

__all__ = ["KMeansResult", "kmeans", "kmeans_plusplus", "minibatch_kmeans"]


@dataclass(frozen=True, eq=False, repr=False)
class KMeansResult(TupleResult):
    """A k-means clustering; unpacks as ``centers, labels, inertia, n_iter``.

    Attributes
    ----------
    centers : ndarray, shape (k, d)
        Cluster centres, in the float dtype of X.
    labels : ndarray of intp, shape (n,)
        Index of each point's nearest centre (ties: the smallest index).
    inertia : float
        ``sum_i w_i ||x_i - centers[labels[i]]||^2``, computed directly (not by
        the Gram trick) in float64.
    n_iter : int
        Lloyd iterations of the returned run (mini-batch: batch steps).

    The repr is compact; arrays are ordinary writable arrays owned by the caller.
    """

    centers: NDArray[Any]
    labels: NDArray[np.intp]
    inertia: float
    n_iter: int

    _unpack: ClassVar[tuple[str, ...]] = ("centers", "labels", "inertia", "n_iter")

    def _repr_head(self) -> dict[str, Any]:
        return {"n": int(self.labels.shape[0]), "k": int(self.centers.shape[0])}


def kmeans(
    X: ArrayLike,
    k: int,
    *,
    init: str | ArrayLike = "k-means++",
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
    sample_weight: ArrayLike | None = None,
    algorithm: str = "auto",
    seed: int | np.random.Generator | None = None,
    n_threads: int | None = None,
) -> KMeansResult:
    """k-means clustering by Lloyd's algorithm.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Points (finite; float32 stays float32, other real dtypes become float64).
    k : int
        Number of clusters, 1 <= k <= n.
    init : {"k-means++", "random"} or array_like, shape (k, d)
        "k-means++": greedy k-means++ (:func:`kmeans_plusplus`); "random": k
        distinct points drawn with probability proportional to their weight; or
        the initial centres (then a single run, whatever ``n_init``).
    n_init : int
        Runs from different seeds; the one of smallest inertia is returned (the
        first on ties).
    max_iter : int
        Maximum Lloyd iterations per run (>= 1).
    tol : float
        Relative tolerance: a run stops when the sum over centres of the squared
        centre shift is at most ``tol`` times the mean per-feature variance of X
        (scikit-learn's rule), or at once when no label changed.
    sample_weight : array_like, shape (n,), optional
        Non-negative weights with a positive sum (None: all 1).
    algorithm : {"auto", "lloyd", "elkan"}
        Accepted for scikit-learn compatibility: every value runs the same
        Lloyd kernel, and the result does not depend on it.
    seed : int, numpy.random.Generator or None
        Randomness of the initialisation (k-means++ or random).
    n_threads : int, optional
        Threads; the result never depends on it.

    Returns
    -------
    KMeansResult
        ``centers``, ``labels``, ``inertia``, ``n_iter``.

    Raises
    ------
    ValueError
        X not 2-d, empty, NaN or infinity in X or init; k outside [1, n]; init
        of the wrong shape or an unknown name; n_init or max_iter < 1; tol < 0;
        sample_weight of the wrong shape, negative, non-finite or summing to 0;
        an unknown algorithm.
    TypeError
        Non-real X, non-integer k, n_init or max_iter.

    Notes
    -----
    Each iteration assigns every point to its nearest centre and moves each
    centre to the weighted mean of its points, as scikit-learn's
    ``KMeans(algorithm="lloyd")`` does; from the same initial centres both give
    the same labels and centres within rounding. The distances are proposed by
    a register-tiled Gram-trick kernel and near ties are decided by a direct
    computation, so a label is the exact nearest centre whatever the blocking.
    A cluster left without weight is moved to the point farthest from its own
    centre (largest distance first, smaller index on ties, never emptying
    another cluster); see ``csrc/include/diffclust/cluster/kmeans.hpp``.

    References
    ----------
    S. P. Lloyd. Least squares quantization in PCM. IEEE Transactions on
    Information Theory 28(2), 1982.
    """
    used_seed = resolve_seed(seed) if isinstance(init, str) else 0
    out = _ops_kmeans.kmeans(
        X, k, init, n_init, max_iter, tol, sample_weight, algorithm, used_seed, resolve_threads(n_threads)
    )
    return KMeansResult(*out)


def kmeans_plusplus(
    X: ArrayLike,
    k: int,
    *,
    sample_weight: ArrayLike | None = None,
    n_local_trials: int | None = None,
    seed: int | np.random.Generator | None = None,
    n_threads: int | None = None,
) -> tuple[NDArray[Any], NDArray[np.intp]]:
    """Greedy k-means++ seeding.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Points (finite).
    k : int
        Number of centres, 1 <= k <= n.
    sample_weight : array_like, shape (n,), optional
        Non-negative weights with a positive sum (None: all 1).
    n_local_trials : int, optional
        Candidates per centre; None means ``2 + floor(ln k)`` (scikit-learn's).
    seed : int, numpy.random.Generator or None
        Randomness of the draws.
    n_threads : int, optional
        Threads; the result never depends on it.

    Returns
    -------
    centers : ndarray, shape (k, d)
        ``X[indices]``, in X's float dtype.
    indices : ndarray of intp, shape (k,)
        Rows of X chosen, in the order chosen; distinct whenever X has at least
        k distinct points.

    Raises
    ------
    ValueError
        Bad X, k outside [1, n], n_local_trials < 1, bad sample_weight.
    TypeError
        Non-real X, non-integer k or n_local_trials.

    Notes
    -----
    The first centre is drawn with probability proportional to its weight;
    each next one draws ``n_local_trials`` candidates with probability
    proportional to ``w_i D_i`` (D_i: squared distance to the nearest centre so
    far) and keeps the one that gives the smallest potential ``sum_i w_i D_i``,
    scikit-learn's greedy recipe. The random stream (Philox4x32-10) differs from
    NumPy's, so the chosen points differ from scikit-learn's for the same seed;
    their distribution is the same. A point at distance 0 from a chosen centre
    (a duplicate) is never drawn while another point is farther.

    References
    ----------
    D. Arthur, S. Vassilvitskii. k-means++: the advantages of careful seeding.
    SODA 2007.
    """
    return _ops_kmeans.kmeans_plusplus(
        X, k, sample_weight, n_local_trials, resolve_seed(seed), resolve_threads(n_threads)
    )


def minibatch_kmeans(
    X: ArrayLike,
    k: int,
    *,
    init: str | ArrayLike = "k-means++",
    batch_size: int = 1024,
    max_iter: int = 100,
    tol: float = 0.0,
    max_no_improvement: int | None = 10,
    reassignment_ratio: float = 0.01,
    sample_weight: ArrayLike | None = None,
    seed: int | np.random.Generator | None = None,
    n_threads: int | None = None,
) -> KMeansResult:
    """Mini-batch k-means (Sculley 2010), scikit-learn's variant.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Points (finite).
    k : int
        Number of clusters, 1 <= k <= n.
    init : {"k-means++", "random"} or array_like, shape (k, d)
        Initial centres, as in :func:`kmeans` (computed on all of X).
    batch_size : int
        Points per batch, drawn uniformly with replacement.
    max_iter : int
        Maximum passes over the data (batch steps: ``ceil(max_iter * n / batch_size)``).
    tol : float
        Stop when the squared centre shift of a step is at most ``tol`` times the
        mean per-feature variance (0: never on this rule).
    max_no_improvement : int or None
        Stop after this many steps without improvement of the exponentially
        weighted average of the batch inertia (None: never on this rule).
    reassignment_ratio : float
        Centres whose weight count is below this fraction of the largest are
        moved to random batch points (every ``10 k`` samples, or when a count is 0).
    sample_weight : array_like, shape (n,), optional
        Non-negative weights with a positive sum.
    seed : int, numpy.random.Generator or None
        Randomness of the initialisation, the batches and the reassignments.
    n_threads : int, optional
        Threads of the assignment kernel; the result never depends on it.

    Returns
    -------
    KMeansResult
        ``centers``; ``labels`` and ``inertia`` of all of X against them;
        ``n_iter``: the batch steps taken.

    Raises
    ------
    ValueError
        As :func:`kmeans`, and batch_size < 1, reassignment_ratio < 0,
        max_no_improvement < 0.
    TypeError
        Non-real X, non-integer k, batch_size or max_iter.

    Notes
    -----
    Each step assigns the batch to the nearest centres (the kernel of
    :func:`kmeans`) and moves every centre that received points to the
    weighted mean of its previous position, weighted by all the weight it has
    received so far, and its new points.

    References
    ----------
    D. Sculley. Web-scale k-means clustering. WWW 2010.
    """
    out = _ops_kmeans.minibatch_kmeans(
        X, k, init, batch_size, max_iter, tol, max_no_improvement, reassignment_ratio, sample_weight,
        resolve_seed(seed), resolve_threads(n_threads),
    )
    return KMeansResult(*out)
