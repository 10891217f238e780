"""``KMedoids``: FasterPAM (:func:`diffclust.kmedoids`) as a scikit-learn estimator."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import cluster, distances
from ._base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
    check_is_fitted,
    check_n_clusters,
    seed_from,
    validate_data,
)

__all__ = ["KMedoids"]


class KMedoids(ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, BaseEstimator):  # type: ignore[misc]
    """k-medoids clustering by FasterPAM (PAM BUILD, random or k-medoids++ init).

    Minimises ``sum_i d(x_i, m_{z_i})``, the total dissimilarity of the points to
    their nearest medoid (a data point), with any metric or a precomputed matrix.
    A scikit-learn estimator over :func:`diffclust.kmedoids`.

    Parameters
    ----------
    n_clusters : int, default 8
        Number of medoids k.
    metric : {"euclidean", "sqeuclidean", "manhattan", "cosine", "precomputed"}, default "euclidean"
        Dissimilarity (with scikit-learn's aliases "l2", "l1", "cityblock");
        "precomputed": X is an (n, n) dissimilarity matrix in ``fit`` and an
        (n_query, n) matrix of dissimilarities to the training points in ``predict``.
    init : {"build", "random", "k-medoids++"} or array_like of int, default "build"
        PAM BUILD (deterministic), k distinct random points, k-medoids++ seeding,
        or the k initial medoid indices.
    max_iter : int, default 100
        Maximum passes over the swap candidates.
    random_state : int, RandomState instance or None, default None
        Randomness of the "random" and "k-medoids++" initialisations.
    n_threads : int, optional
        Threads (None: ``DIFFCLUST_NUM_THREADS``, ``OMP_NUM_THREADS`` or the usable
        cores); the result never depends on it.

    Attributes
    ----------
    cluster_centers_ : ndarray, shape (n_clusters, n_features)
        The medoids' coordinates (not set when ``metric="precomputed"``).
    medoid_indices_ : ndarray of int64, shape (n_clusters,)
        Indices of the medoids in the training data.
    labels_ : ndarray of int64, shape (n_samples,)
        Position in ``medoid_indices_`` of each point's nearest medoid.
    inertia_ : float
        ``sum_i d(x_i, m_{labels_i})``.
    n_iter_ : int
        Passes over the swap candidates.
    n_features_in_ : int
        Number of features (columns) seen in ``fit``.

    See Also
    --------
    diffclust.kmedoids : the function, with its algorithm notes.

    References
    ----------
    E. Schubert, P. J. Rousseeuw. Fast and eager k-medoids clustering: O(k) runtime
    improvement of the PAM, CLARA, and CLARANS algorithms. Information Systems 101, 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from diffclust.sklearn import KMedoids
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0], [10.0, 2.0]])
    >>> km = KMedoids(n_clusters=2).fit(X)
    >>> km.labels_.tolist(), km.medoid_indices_.tolist(), km.inertia_
    ([1, 1, 0, 0, 0], [3, 0], 3.0)
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        metric: str = "euclidean",
        init: str | ArrayLike = "build",
        max_iter: int = 100,
        random_state: Any = None,
        n_threads: int | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.metric = metric
        self.init = init
        self.max_iter = max_iter
        self.random_state = random_state
        self.n_threads = n_threads

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = self.metric == "precomputed"
        return tags

    @property
    def _n_features_out(self) -> int:
        return int(self.medoid_indices_.shape[0])

    def fit(self, X: ArrayLike, y: Any = None) -> KMedoids:
        """Compute the medoids of X.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features) or (n_samples, n_samples)
            Points, or a dissimilarity matrix with ``metric="precomputed"``.
        y : ignored

        Returns
        -------
        self
        """
        Xv: NDArray[Any] = validate_data(self, X, dtype=[np.float64, np.float32])
        n = Xv.shape[0]
        k = check_n_clusters(self.n_clusters, n)
        if self.metric == "precomputed" and Xv.shape[1] != n:
            raise ValueError(f"with metric='precomputed' X must be a square (n, n) matrix, got shape {Xv.shape}")
        uses_seed = isinstance(self.init, str) and self.init in ("random", "k-medoids++")
        seed = seed_from(self.random_state) if uses_seed else None
        res = cluster.kmedoids(Xv, k, metric=self.metric, init=self.init, max_iter=self.max_iter, seed=seed,
                               n_threads=self.n_threads)
        self.medoid_indices_ = res.medoids
        self.labels_ = res.labels
        self.inertia_ = float(res.loss)
        self.n_iter_ = int(res.n_iter)
        if self.metric != "precomputed":
            self.cluster_centers_ = Xv[res.medoids].copy()
        elif hasattr(self, "cluster_centers_"):
            del self.cluster_centers_
        return self

    def transform(self, X: ArrayLike) -> NDArray[Any]:
        """Dissimilarities (n_query, n_clusters) of X to the medoids.

        With ``metric="precomputed"``, X holds the dissimilarities of the query
        points to every training point (n_query, n_samples_fit).
        """
        check_is_fitted(self, "medoid_indices_")
        Xv: NDArray[Any] = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        if self.metric == "precomputed":
            return Xv[:, self.medoid_indices_].copy()
        out: NDArray[Any] = distances.pairwise_distances(Xv, self.cluster_centers_, metric=self.metric,
                                                         n_threads=self.n_threads)
        return out

    def predict(self, X: ArrayLike) -> NDArray[np.int64]:
        """Nearest medoid (position in ``medoid_indices_``) of each row of X (ties: the first)."""
        labels: NDArray[np.int64] = np.argmin(self.transform(X), axis=1).astype(np.int64)
        return labels
