"""HDBSCAN, DBSCAN and OPTICS estimators (scikit-learn's names) over diffclust.density."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClusterMixin

from .. import _ops_density, density

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    _validate_data = None

__all__ = ["DBSCAN", "HDBSCAN", "OPTICS"]


def _check_X(est: BaseEstimator, X: Any) -> NDArray[Any]:
    """scikit-learn's validation (n_features_in_, dtype, finiteness), float32/float64 kept."""
    if _validate_data is not None:
        out: NDArray[Any] = _validate_data(est, X, dtype=[np.float64, np.float32], ensure_min_samples=1)
    else:  # pragma: no cover
        out = est._validate_data(X, dtype=[np.float64, np.float32])
    return out


def _min_samples(value: Any, n: int) -> Any:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > n:
        raise ValueError(f"min_samples ({value}) must be at most n_samples = {n}")
    return value


class HDBSCAN(ClusterMixin, BaseEstimator):  # type: ignore[misc]
    """HDBSCAN* clustering (see :func:`diffclust.hdbscan`), scikit-learn's interface.

    Parameters
    ----------
    min_cluster_size : int, default 5
        Smallest cluster size (>= 2).
    min_samples : int or None, default None
        Neighbours of a core point, the point itself included; None: min_cluster_size.
    cluster_selection_epsilon : float, default 0.0
        Distance below which clusters are merged (Malzer and Baum).
    metric : str, default "euclidean"
        "euclidean", "sqeuclidean", "manhattan", "cosine" or an alias.
    cluster_selection_method : {"eom", "leaf"}, default "eom"
        Cluster selection.
    allow_single_cluster : bool, default False
        Whether the root may be selected.
    n_threads : int or None, default None
        Threads; the result never depends on it.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster labels, -1 for noise.
    probabilities_ : ndarray of shape (n_samples,)
        Membership strengths.
    outlier_scores_ : ndarray of shape (n_samples,)
        GLOSH outlier scores.
    core_distances_ : ndarray of shape (n_samples,)
        Core distances.
    minimum_spanning_tree_ : ndarray of shape (n_samples - 1, 3)
        Rows (i, j, d_mr) of the mutual-reachability spanning tree, by increasing d_mr.
    single_linkage_tree_ : ndarray of shape (n_samples - 1, 4)
        SciPy linkage matrix of that tree.
    condensed_tree_ : structured ndarray
        Rows (parent, child, lambda_val, child_size).
    n_features_in_ : int
        Number of features seen in fit.
    """

    def __init__(
        self,
        min_cluster_size: int = 5,
        min_samples: int | None = None,
        cluster_selection_epsilon: float = 0.0,
        metric: str = "euclidean",
        cluster_selection_method: str = "eom",
        allow_single_cluster: bool = False,
        n_threads: int | None = None,
    ) -> None:
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.cluster_selection_epsilon = cluster_selection_epsilon
        self.metric = metric
        self.cluster_selection_method = cluster_selection_method
        self.allow_single_cluster = allow_single_cluster
        self.n_threads = n_threads

    def fit(self, X: Any, y: Any = None) -> HDBSCAN:
        """Cluster X; y is ignored."""
        Xa = _check_X(self, X)
        ms = self.min_cluster_size if self.min_samples is None else self.min_samples
        _min_samples(ms, Xa.shape[0])
        r = density.hdbscan(
            Xa,
            min_cluster_size=self.min_cluster_size,
            min_samples=self.min_samples,
            metric=self.metric,
            cluster_selection_method=self.cluster_selection_method,
            cluster_selection_epsilon=self.cluster_selection_epsilon,
            allow_single_cluster=self.allow_single_cluster,
            n_threads=self.n_threads,
        )
        self.labels_ = r.labels
        self.probabilities_ = r.probabilities
        self.outlier_scores_ = r.outlier_scores
        self.core_distances_ = r.core_distances
        self.minimum_spanning_tree_ = np.column_stack([r.edges.astype(np.float64), r.weights])
        self.single_linkage_tree_ = r.single_linkage
        self.condensed_tree_ = r.condensed_tree
        return self

    def fit_predict(self, X: Any, y: Any = None) -> NDArray[np.intp]:
        """Cluster X and return the labels."""
        return self.fit(X).labels_


class DBSCAN(ClusterMixin, BaseEstimator):  # type: ignore[misc]
    """DBSCAN* clustering (see :func:`diffclust.dbscan`), scikit-learn's interface.

    Unlike scikit-learn's ``DBSCAN``, border points (non-core points within eps
    of a core point) are noise: DBSCAN*. On core points the labels are
    scikit-learn's.

    Parameters
    ----------
    eps : float, default 0.5
        Neighbourhood radius.
    min_samples : int, default 5
        Neighbours of a core point, the point itself included.
    metric : str, default "euclidean"
        "euclidean", "sqeuclidean", "manhattan", "cosine" or an alias.
    n_threads : int or None, default None
        Threads; the result never depends on it.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster labels, -1 for noise.
    core_sample_indices_ : ndarray of shape (n_core_samples,)
        Indices of the core points.
    components_ : ndarray of shape (n_core_samples, n_features)
        The core points.
    n_features_in_ : int
        Number of features seen in fit.
    """

    def __init__(
        self, eps: float = 0.5, min_samples: int = 5, metric: str = "euclidean", n_threads: int | None = None
    ) -> None:
        self.eps = eps
        self.min_samples = min_samples
        self.metric = metric
        self.n_threads = n_threads

    def fit(self, X: Any, y: Any = None) -> DBSCAN:
        """Cluster X; y is ignored."""
        Xa = _check_X(self, X)
        ms = min(self.min_samples, Xa.shape[0]) if isinstance(self.min_samples, (int, np.integer)) else self.min_samples
        r = density.dbscan(Xa, self.eps, min_samples=ms, metric=self.metric, n_threads=self.n_threads)
        if isinstance(self.min_samples, (int, np.integer)) and self.min_samples > Xa.shape[0]:
            # fewer points than min_samples: no core point (as scikit-learn)
            r = density.DbscanResult(
                labels=np.full(Xa.shape[0], -1, dtype=np.intp),
                core_sample_indices=np.zeros(0, dtype=np.intp),
                core_distances=r.core_distances,
            )
        self.labels_ = r.labels
        self.core_sample_indices_ = r.core_sample_indices
        self.components_ = Xa[r.core_sample_indices].copy()
        return self

    def fit_predict(self, X: Any, y: Any = None) -> NDArray[np.intp]:
        """Cluster X and return the labels."""
        return self.fit(X).labels_


class OPTICS(ClusterMixin, BaseEstimator):  # type: ignore[misc]
    """OPTICS ordering (see :func:`diffclust.optics`, max_eps = inf), scikit-learn's interface.

    Parameters
    ----------
    min_samples : int or float, default 5
        Neighbours of a core point, the point itself included; a float in (0, 1]
        is a fraction of n_samples (at least 2), as in scikit-learn.
    metric : str, default "euclidean"
        "euclidean", "sqeuclidean", "manhattan", "cosine" or an alias.
    cluster_method : {"dbscan"}, default "dbscan"
        How labels are extracted from the reachability plot: "dbscan" is
        scikit-learn's ``cluster_optics_dbscan`` at ``eps``. ("xi" is not
        implemented: NotImplementedError.)
    eps : float, default 0.5
        The cut of the "dbscan" extraction.
    n_threads : int or None, default None
        Threads; the result never depends on it.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster labels, -1 for noise.
    reachability_ : ndarray of shape (n_samples,)
        Reachability distances by point (inf for the first point).
    ordering_ : ndarray of shape (n_samples,)
        The cluster ordering.
    core_distances_ : ndarray of shape (n_samples,)
        Core distances.
    predecessor_ : ndarray of shape (n_samples,)
        The point each point was reached from (-1 for the first).
    n_features_in_ : int
        Number of features seen in fit.
    """

    def __init__(
        self,
        min_samples: float = 5,
        metric: str = "euclidean",
        cluster_method: str = "dbscan",
        eps: float = 0.5,
        n_threads: int | None = None,
    ) -> None:
        self.min_samples = min_samples
        self.metric = metric
        self.cluster_method = cluster_method
        self.eps = eps
        self.n_threads = n_threads

    def fit(self, X: Any, y: Any = None) -> OPTICS:
        """Order X and extract labels; y is ignored."""
        if self.cluster_method == "xi":
            raise NotImplementedError("cluster_method='xi' is not implemented yet; use cluster_method='dbscan'")
        if self.cluster_method != "dbscan":
            raise ValueError(f"cluster_method must be 'dbscan', got {self.cluster_method!r}")
        Xa = _check_X(self, X)
        ms: Any = self.min_samples
        if isinstance(ms, (float, np.floating)) and 0 < ms <= 1:  # a fraction of n (scikit-learn's rule)
            ms = max(2, int(np.ceil(ms * Xa.shape[0])))
        _min_samples(ms, Xa.shape[0])
        eps = _ops_density.check_nonnegative(self.eps, "eps", positive=True)
        r = density.optics(Xa, min_samples=ms, metric=self.metric, n_threads=self.n_threads)
        self.ordering_ = r.ordering
        self.reachability_ = r.reachability
        self.core_distances_ = r.core_distances
        self.predecessor_ = r.predecessor
        # scikit-learn's cluster_optics_dbscan: a new cluster where reachability > eps
        # and core distance <= eps; noise where both exceed eps
        reach = r.reachability[r.ordering]
        core = r.core_distances[r.ordering]
        far = reach > eps
        starts = far & (core <= eps)
        lab = np.cumsum(starts) - 1
        lab[far & ~(core <= eps)] = -1
        labels = np.empty_like(lab)
        labels[r.ordering] = lab
        self.labels_ = labels.astype(np.intp)
        return self

    def fit_predict(self, X: Any, y: Any = None) -> NDArray[np.intp]:
        """Order X, extract labels and return them."""
        return self.fit(X).labels_
