"""HDBSCAN, DBSCAN and OPTICS estimators (scikit-learn's names) over diffclust.density."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import check_is_fitted

from .. import _optics_xi, density
from .._ops import density as _ops_density

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


def _min_samples(value: Any, n: int, name: str = "min_samples") -> Any:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > n:
        raise ValueError(f"{name} ({value}) must be at most n_samples = {n}")
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
    max_cluster_size : int or None, default None
        With "eom", clusters born larger than this are not selected.
    metric : str, default "euclidean"
        "euclidean", "sqeuclidean", "manhattan", "cosine" or an alias.
    alpha : float, default 1.0
        Distance scaling: d_mr = max(core_i, core_j, d_ij / alpha).
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
    cluster_persistence_ : ndarray of shape (n_clusters,)
        Stability / (cluster size * largest lambda), as the hdbscan package.
    relative_validity_ : float
        The exact DBCV index (Moulavi et al. 2014; :func:`diffclust.dbcv_score`)
        of ``labels_`` on the fitted X, computed when first read (O(n^2 d));
        nan with fewer than two clusters. Not the hdbscan package's
        approximation of the same name.
    n_features_in_ : int
        Number of features seen in fit.
    """

    def __init__(
        self,
        min_cluster_size: int = 5,
        min_samples: int | None = None,
        cluster_selection_epsilon: float = 0.0,
        max_cluster_size: int | None = None,
        metric: str = "euclidean",
        alpha: float = 1.0,
        cluster_selection_method: str = "eom",
        allow_single_cluster: bool = False,
        n_threads: int | None = None,
    ) -> None:
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.cluster_selection_epsilon = cluster_selection_epsilon
        self.max_cluster_size = max_cluster_size
        self.metric = metric
        self.alpha = alpha
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
            max_cluster_size=self.max_cluster_size,
            alpha=self.alpha,
            n_threads=self.n_threads,
        )
        self._result = r
        self._X_fit = Xa
        self._dbcv: float | None = None
        self.labels_ = r.labels
        self.probabilities_ = r.probabilities
        self.outlier_scores_ = r.outlier_scores
        self.core_distances_ = r.core_distances
        self.minimum_spanning_tree_ = np.column_stack([r.edges.astype(np.float64), r.weights])
        self.single_linkage_tree_ = r.single_linkage
        self.condensed_tree_ = r.condensed_tree
        self.cluster_persistence_ = r.persistence
        return self

    def fit_predict(self, X: Any, y: Any = None) -> NDArray[np.intp]:
        """Cluster X and return the labels."""
        return self.fit(X).labels_

    def dbscan_clustering(self, cut_distance: float, min_cluster_size: int = 5) -> NDArray[np.intp]:
        """DBSCAN* labels at ``cut_distance`` from the fitted single-linkage tree.

        As scikit-learn's ``HDBSCAN.dbscan_clustering``: the components of the
        merges strictly below the cut, components smaller than
        ``min_cluster_size`` are noise (-1); clusters are numbered by their
        smallest point.

        Parameters
        ----------
        cut_distance : float
            Mutual-reachability distance of the cut.
        min_cluster_size : int, default 5
            Smallest cluster.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels, -1 for noise.
        """
        check_is_fitted(self, "labels_")
        return self._result.dbscan_clustering(cut_distance, min_cluster_size)

    @property
    def relative_validity_(self) -> float:
        """The exact DBCV of ``labels_`` (nan with fewer than two clusters)."""
        check_is_fitted(self, "labels_")
        if self._dbcv is None:
            lab = self.labels_
            ids, counts = np.unique(lab[lab >= 0], return_counts=True)
            if ids.shape[0] < 2 or counts.min() < 2:
                self._dbcv = float("nan")
            else:
                self._dbcv = density.dbcv_score(self._X_fit, lab, metric=self.metric, n_threads=self.n_threads)
        return self._dbcv


class DBSCAN(ClusterMixin, BaseEstimator):  # type: ignore[misc]
    """DBSCAN* clustering (see :func:`diffclust.dbscan`), scikit-learn's interface.

    With ``attach_border=True`` (the default) the labels equal scikit-learn's
    ``DBSCAN``: a border point (not core, within eps of a core point) joins the
    cluster of smallest label among its core neighbours, as scikit-learn's
    visit order gives. ``attach_border=False``: DBSCAN*, border points are noise.

    Parameters
    ----------
    eps : float, default 0.5
        Neighbourhood radius.
    min_samples : int, default 5
        Neighbours of a core point, the point itself included.
    metric : str, default "euclidean"
        "euclidean", "sqeuclidean", "manhattan", "cosine" or an alias.
    attach_border : bool, default True
        Whether border points join a cluster (DBSCAN) or stay noise (DBSCAN*).
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
        self,
        eps: float = 0.5,
        min_samples: int = 5,
        metric: str = "euclidean",
        attach_border: bool = True,
        n_threads: int | None = None,
    ) -> None:
        self.eps = eps
        self.min_samples = min_samples
        self.metric = metric
        self.attach_border = attach_border
        self.n_threads = n_threads

    def fit(self, X: Any, y: Any = None) -> DBSCAN:
        """Cluster X; y is ignored."""
        Xa = _check_X(self, X)
        ms = min(self.min_samples, Xa.shape[0]) if isinstance(self.min_samples, (int, np.integer)) else self.min_samples
        r = density.dbscan(
            Xa, self.eps, min_samples=ms, metric=self.metric, attach_border=self.attach_border, n_threads=self.n_threads
        )
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
        is a fraction of n_samples, ``max(2, int(min_samples * n_samples))``, as
        in scikit-learn.
    metric : str, default "euclidean"
        "euclidean", "sqeuclidean", "manhattan", "cosine" or an alias.
    cluster_method : {"xi", "dbscan"}, default "xi"
        How labels are extracted from the reachability plot: "xi" is Ankerst et
        al.'s steep-area extraction as scikit-learn's ``cluster_optics_xi``;
        "dbscan" is scikit-learn's ``cluster_optics_dbscan`` at ``eps``.
    eps : float or None, default None
        The cut of the "dbscan" extraction (None: inf, every point in one
        cluster, as scikit-learn's max_eps = inf).
    xi : float, default 0.05
        Minimum steepness of the reachability plot at a cluster boundary, in [0, 1].
    predecessor_correction : bool, default True
        Whether clusters are corrected with the predecessors (scikit-learn's rule).
    min_cluster_size : int, float or None, default None
        Smallest "xi" cluster: an int >= 2, a fraction of n_samples in (0, 1],
        or None for min_samples.
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
    cluster_hierarchy_ : ndarray of shape (n_clusters, 2)
        "xi" only: every cluster found as [start, end] positions in ``ordering_``
        (inclusive), in the order found.
    n_features_in_ : int
        Number of features seen in fit.

    Notes
    -----
    The ordering and reachability are scikit-learn's ``OPTICS(max_eps=np.inf)``
    ones (the next point is the unvisited one of smallest reachability
    max(core(q), d(q, p)) over the visited q, the smallest index among equal
    reachabilities), so the labels of both extractions equal scikit-learn's on
    the same data, up to distances that differ in the last bits.
    """

    def __init__(
        self,
        min_samples: float = 5,
        metric: str = "euclidean",
        cluster_method: str = "xi",
        eps: float | None = None,
        xi: float = 0.05,
        predecessor_correction: bool = True,
        min_cluster_size: float | None = None,
        n_threads: int | None = None,
    ) -> None:
        self.min_samples = min_samples
        self.metric = metric
        self.cluster_method = cluster_method
        self.eps = eps
        self.xi = xi
        self.predecessor_correction = predecessor_correction
        self.min_cluster_size = min_cluster_size
        self.n_threads = n_threads

    def fit(self, X: Any, y: Any = None) -> OPTICS:
        """Order X and extract labels; y is ignored."""
        if self.cluster_method not in ("xi", "dbscan"):
            raise ValueError(f"cluster_method must be 'xi' or 'dbscan', got {self.cluster_method!r}")
        Xa = _check_X(self, X)
        n = Xa.shape[0]
        ms = _size(self.min_samples, n, "min_samples")
        if self.cluster_method == "xi":
            xi = _ops_density.check_nonnegative(self.xi, "xi")
            if xi > 1:
                raise ValueError(f"xi must be in [0, 1], got {self.xi!r}")
            mcs = ms if self.min_cluster_size is None else _size(self.min_cluster_size, n, "min_cluster_size")
            if not isinstance(self.predecessor_correction, (bool, np.bool_)):
                raise TypeError(f"predecessor_correction must be True or False, got {self.predecessor_correction!r}")
        else:
            eps = np.inf if self.eps is None else _ops_density.check_nonnegative(self.eps, "eps")
        r = density.optics(Xa, min_samples=ms, metric=self.metric, n_threads=self.n_threads)
        self.ordering_ = r.ordering
        self.reachability_ = r.reachability
        self.core_distances_ = r.core_distances
        self.predecessor_ = r.predecessor
        if self.cluster_method == "xi":
            labels, hierarchy = _optics_xi.xi_extract(
                r.reachability, r.predecessor, r.ordering, ms, mcs, xi, bool(self.predecessor_correction)
            )
            self.labels_ = labels
            self.cluster_hierarchy_ = hierarchy
            return self
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


def _size(value: Any, n: int, name: str) -> int:
    """scikit-learn's OPTICS sizes: an int in [2, n], or a fraction in (0, 1] of n (at least 2)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int >= 2 or a float in (0, 1], got {value!r}")
    if isinstance(value, (int, np.integer)):
        if value < 2:
            raise ValueError(f"{name} must be an int >= 2 or a float in (0, 1], got {value!r}")
        _min_samples(value, n, name)
        return int(value)
    if isinstance(value, (float, np.floating)) and 0 < value <= 1:
        size = max(2, int(value * n))
        _min_samples(size, n, name)
        return size
    raise ValueError(f"{name} must be an int >= 2 or a float in (0, 1], got {value!r}")
