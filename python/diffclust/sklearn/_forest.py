"""``SpanningForestClustering``: single linkage as a maximum-weight k-forest."""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import forests
from .._validation import resolve_metric
from ._base import BaseEstimator, ClusterMixin, check_n_clusters, validate_data

__all__ = ["SpanningForestClustering"]


class SpanningForestClustering(ClusterMixin, BaseEstimator):  # type: ignore[misc]
    """Single-linkage clustering as a maximum-weight spanning k-forest.

    With similarities ``S = -d(x_i, x_j)`` the maximum-weight k-forest (Kruskal's
    greedy stopped at k trees, or the minimum spanning tree without its k - 1
    longest edges) has single linkage's k clusters as its trees. A scikit-learn
    estimator over :func:`diffclust.kforest_from_points` (distances computed inside
    Prim's algorithm, O(n d) memory) and :func:`diffclust.kforest` for a
    precomputed distance matrix.

    Parameters
    ----------
    n_clusters : int or None, default 2
        Number of trees (clusters). Exactly one of ``n_clusters`` and
        ``distance_threshold`` must be set (the other None).
    distance_threshold : float or None, default None
        Cut every edge of the minimum spanning tree longer than this distance: the
        clusters are the connected components of the graph of pairs at distance
        ``<= distance_threshold`` (scipy's ``fcluster(Z, t, criterion="distance")``
        on single linkage; scikit-learn's AgglomerativeClustering also cuts edges
        *equal* to its threshold).
    metric : {"euclidean", "sqeuclidean", "manhattan", "cosine", "precomputed"}, default "euclidean"
        Distance (with scikit-learn's aliases "l2", "l1", "cityblock"); the
        threshold is in its units. "precomputed": X is an (n, n) distance matrix
        (non-negative; entry {i, j} counts as ``(X_ij + X_ji) / 2``).
    n_threads : int, optional
        Threads of Prim's steps (None: ``DIFFCLUST_NUM_THREADS``,
        ``OMP_NUM_THREADS`` or the usable cores); the result never depends on it.

    Attributes
    ----------
    labels_ : ndarray of int, shape (n_samples,)
        Cluster of each point, numbered by first appearance (point 0 is in cluster 0).
    n_clusters_ : int
        Number of clusters found (``n_clusters``, or set by the threshold).
    edges_ : ndarray of int, shape (n_samples - n_clusters_, 2)
        The forest's edges (i, j), i < j, shortest first.
    distances_ : ndarray of float, shape (n_samples - n_clusters_,)
        Their lengths d(x_i, x_j).
    weights_ : ndarray of float, shape (n_samples - n_clusters_,)
        Their weights in the maximum-weight forest, ``-distances_``.
    n_features_in_ : int
        Number of features (columns) seen in ``fit``.

    Notes
    -----
    Ties between equal distances are broken by the pair's index order, so the
    forest is unique and the same for any thread count. Labels equal
    ``AgglomerativeClustering(linkage="single")``'s up to renumbering.

    References
    ----------
    L. Stewart, F. Bach, F. Llinares-López, Q. Berthet. Differentiable clustering
    with perturbed spanning forests. NeurIPS 2023.
    J. C. Gower, G. J. S. Ross. Minimum spanning trees and single linkage cluster
    analysis. Applied Statistics 18, 1969.

    Examples
    --------
    >>> import numpy as np
    >>> from diffclust.sklearn import SpanningForestClustering
    >>> X = np.array([[0.0], [1.0], [5.0], [6.0], [20.0]])
    >>> SpanningForestClustering(n_clusters=2).fit(X).labels_.tolist()
    [0, 0, 0, 0, 1]
    >>> SpanningForestClustering(n_clusters=None, distance_threshold=1.5).fit(X).labels_.tolist()
    [0, 0, 1, 1, 2]
    """

    def __init__(
        self,
        n_clusters: int | None = 2,
        *,
        distance_threshold: float | None = None,
        metric: str = "euclidean",
        n_threads: int | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.distance_threshold = distance_threshold
        self.metric = metric
        self.n_threads = n_threads

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = self.metric == "precomputed"
        return tags

    def fit(self, X: ArrayLike, y: Any = None) -> SpanningForestClustering:
        """Build the forest of X and cluster by its trees.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features) or (n_samples, n_samples)
            Points, or a distance matrix with ``metric="precomputed"``.
        y : ignored

        Returns
        -------
        self
        """
        Xv: NDArray[Any] = validate_data(self, X, dtype=[np.float64, np.float32])
        n = Xv.shape[0]
        if (self.n_clusters is None) == (self.distance_threshold is None):
            raise ValueError("exactly one of n_clusters and distance_threshold must be set, and the other None; "
                             f"got n_clusters={self.n_clusters!r}, distance_threshold={self.distance_threshold!r}")
        threshold = None
        if self.distance_threshold is not None:
            if isinstance(self.distance_threshold, bool) or not isinstance(self.distance_threshold, Real):
                raise TypeError(f"distance_threshold must be a real number, got {self.distance_threshold!r}")
            threshold = float(self.distance_threshold)
            if not threshold >= 0:
                raise ValueError(f"distance_threshold must be >= 0, got {self.distance_threshold}")
            k = 1
        else:
            k = check_n_clusters(self.n_clusters, n)
        metric = resolve_metric(self.metric, precomputed=True)
        if metric == "precomputed":
            if Xv.shape[1] != n:
                raise ValueError(f"with metric='precomputed' X must be a square (n, n) matrix, got shape {Xv.shape}")
            if (Xv < 0).any():
                raise ValueError("with metric='precomputed' X must hold non-negative distances")
            forest = forests.kforest(-Xv, k, n_threads=self.n_threads)
        else:
            forest = forests.kforest_from_points(Xv, k, metric=metric, n_threads=self.n_threads)
        if threshold is not None:
            keep = -forest.weights <= threshold
            forest = forests.kforest_from_edges(forest.edges[keep], forest.weights[keep], n,
                                                n - int(np.count_nonzero(keep)))
        self.labels_ = forest.labels
        self.n_clusters_ = n - int(forest.edges.shape[0])
        self.edges_ = forest.edges
        self.weights_ = forest.weights
        self.distances_ = -forest.weights
        return self
