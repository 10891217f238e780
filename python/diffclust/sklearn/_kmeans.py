"""scikit-learn estimators for k-means: ``KMeans`` and ``MiniBatchKMeans``.

Parameter and attribute names are scikit-learn's; the fitting is diffclust's
(:func:`diffclust.kmeans`, :func:`diffclust.minibatch_kmeans`): bit-identical for
any ``n_threads``, labels the exact nearest centres.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data

from .._ops import kmeans as _ops_kmeans
from .._validation import resolve_threads
from ..distances import pairwise_distances

__all__ = ["KMeans", "MiniBatchKMeans"]


def _seed_from(random_state: Any) -> int:
    """One uint64 seed from scikit-learn's random_state (None, int or RandomState)."""
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


def _init_arg(init: Any, X: NDArray[Any]) -> Any:
    if isinstance(init, str):
        return init
    if callable(init):
        raise TypeError("init must be 'k-means++', 'random' or an array of shape (n_clusters, n_features)")
    return np.asarray(init, dtype=X.dtype)


def _check_n_clusters(n_clusters: Any, n: int) -> int:
    if isinstance(n_clusters, (bool, np.bool_)) or not isinstance(n_clusters, numbers.Integral):
        raise TypeError(f"n_clusters must be an integer, got {n_clusters!r}")
    value = int(n_clusters)
    if not 1 <= value <= n:
        raise ValueError(f"n_samples={n} should be >= n_clusters={value}.")
    return value


class _BaseKMeans(ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, BaseEstimator):  # type: ignore[misc]
    """What KMeans and MiniBatchKMeans share: predict, transform, score."""

    cluster_centers_: NDArray[Any]
    labels_: NDArray[np.intp]
    inertia_: float
    n_iter_: int

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags

    @property
    def _n_features_out(self) -> int:
        return int(self.cluster_centers_.shape[0])

    def _check_test_data(self, X: ArrayLike) -> NDArray[Any]:
        return validate_data(  # type: ignore[no-any-return]
            self, X, reset=False, dtype=[np.float64, np.float32], order="C", accept_large_sparse=False
        )

    def _weights(self, sample_weight: Any, n: int) -> NDArray[np.float64] | None:
        return _ops_kmeans.check_sample_weight(sample_weight, n)

    def predict(self, X: ArrayLike) -> NDArray[np.intp]:
        """Index of the nearest cluster centre of each sample (ties: the smallest index)."""
        check_is_fitted(self)
        Xv = self._check_test_data(X)
        labels, _, _ = _ops_kmeans.kmeans_assign(Xv, self.cluster_centers_, None, resolve_threads(self.n_threads))
        return labels

    def fit_predict(self, X: ArrayLike, y: Any = None, sample_weight: ArrayLike | None = None) -> NDArray[np.intp]:
        """Fit, then return ``labels_``."""
        labels: NDArray[np.intp] = self.fit(X, sample_weight=sample_weight).labels_
        return labels

    def transform(self, X: ArrayLike) -> NDArray[Any]:
        """Euclidean distances of the samples to the cluster centres, shape (n, n_clusters)."""
        check_is_fitted(self)
        Xv = self._check_test_data(X)
        C = self.cluster_centers_.astype(Xv.dtype, copy=False)
        out: NDArray[Any] = pairwise_distances(Xv, C, metric="euclidean", n_threads=self.n_threads)
        return out

    def fit_transform(self, X: ArrayLike, y: Any = None, sample_weight: ArrayLike | None = None) -> NDArray[Any]:
        """Fit, then return the distances to the centres."""
        out: NDArray[Any] = self.fit(X, sample_weight=sample_weight).transform(X)
        return out

    def score(self, X: ArrayLike, y: Any = None, sample_weight: ArrayLike | None = None) -> float:
        """The opposite of the inertia of X against the cluster centres."""
        check_is_fitted(self)
        Xv = self._check_test_data(X)
        w = self._weights(sample_weight, Xv.shape[0])
        _, _, inertia = _ops_kmeans.kmeans_assign(Xv, self.cluster_centers_, w, resolve_threads(self.n_threads))
        return -inertia


class KMeans(_BaseKMeans):
    """k-means clustering (Lloyd's algorithm), scikit-learn's ``KMeans`` interface.

    Parameters
    ----------
    n_clusters : int
        Number of clusters.
    init : {"k-means++", "random"} or array_like of shape (n_clusters, n_features)
        Initialisation (see :func:`diffclust.kmeans`).
    n_init : int or "auto"
        Runs from different seeds; "auto" means 1 for "k-means++" or an array
        and 10 for "random" (scikit-learn's rule).
    max_iter : int
        Maximum iterations per run.
    tol : float
        Relative tolerance on the centre shift (scaled by the mean variance).
    verbose : int
        Accepted for compatibility; nothing is printed.
    random_state : int, RandomState instance or None
        Randomness of the initialisation.
    copy_x : bool
        Accepted for compatibility: X is never modified.
    algorithm : {"lloyd", "elkan", "auto"}
        Accepted for compatibility; every value gives the same result.
    n_threads : int, optional
        Threads; the result never depends on it.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
    labels_ : ndarray of shape (n_samples,)
    inertia_ : float
    n_iter_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of str (when X has feature names)
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init: str | ArrayLike = "k-means++",
        n_init: int | str = "auto",
        max_iter: int = 300,
        tol: float = 1e-4,
        verbose: int = 0,
        random_state: Any = None,
        copy_x: bool = True,
        algorithm: str = "lloyd",
        n_threads: int | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.copy_x = copy_x
        self.algorithm = algorithm
        self.n_threads = n_threads

    def fit(self, X: ArrayLike, y: Any = None, sample_weight: ArrayLike | None = None) -> KMeans:
        """Compute k-means clustering of X (n_samples, n_features)."""
        Xv = validate_data(self, X, dtype=[np.float64, np.float32], order="C", accept_large_sparse=False)
        k = _check_n_clusters(self.n_clusters, Xv.shape[0])
        init = _init_arg(self.init, Xv)
        n_init: Any = self.n_init
        if n_init == "auto":
            n_init = 10 if isinstance(init, str) and init == "random" else 1
        w = self._weights(sample_weight, Xv.shape[0])
        centers, labels, inertia, n_iter = _ops_kmeans.kmeans(
            Xv, k, init, n_init, self.max_iter, self.tol, w, self.algorithm if self.algorithm != "auto" else "auto",
            _seed_from(self.random_state), resolve_threads(self.n_threads),
        )
        self.cluster_centers_ = centers
        self.labels_ = labels
        self.inertia_ = inertia
        self.n_iter_ = n_iter
        return self


class MiniBatchKMeans(_BaseKMeans):
    """Mini-batch k-means, scikit-learn's ``MiniBatchKMeans`` interface (with ``partial_fit``).

    Parameters
    ----------
    n_clusters : int
        Number of clusters.
    init : {"k-means++", "random"} or array_like of shape (n_clusters, n_features)
        Initialisation (on the first batch for ``partial_fit``).
    max_iter : int
        Maximum passes over the data (``fit``).
    batch_size : int
        Samples per mini-batch.
    verbose : int
        Accepted for compatibility; nothing is printed.
    compute_labels : bool
        Compute ``labels_`` and ``inertia_`` on the whole data after ``fit``.
    random_state : int, RandomState instance or None
        Randomness of the initialisation, batches and reassignments.
    tol : float
        Relative tolerance on the centre shift (0: not used).
    max_no_improvement : int or None
        Early stopping on the smoothed batch inertia.
    n_init : int or "auto"
        Accepted for compatibility; one initialisation is made.
    reassignment_ratio : float
        Reassignment of starved centres (see :func:`diffclust.minibatch_kmeans`).
    n_threads : int, optional
        Threads; the result never depends on it.

    Attributes
    ----------
    cluster_centers_, labels_, inertia_, n_iter_ (passes), n_steps_ (batches),
    n_features_in_, feature_names_in_
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init: str | ArrayLike = "k-means++",
        max_iter: int = 100,
        batch_size: int = 1024,
        verbose: int = 0,
        compute_labels: bool = True,
        random_state: Any = None,
        tol: float = 0.0,
        max_no_improvement: int | None = 10,
        n_init: int | str = "auto",
        reassignment_ratio: float = 0.01,
        n_threads: int | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.verbose = verbose
        self.compute_labels = compute_labels
        self.random_state = random_state
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.n_init = n_init
        self.reassignment_ratio = reassignment_ratio
        self.n_threads = n_threads

    def fit(self, X: ArrayLike, y: Any = None, sample_weight: ArrayLike | None = None) -> MiniBatchKMeans:
        """Fit by mini-batches drawn from X (n_samples, n_features)."""
        Xv = validate_data(self, X, dtype=[np.float64, np.float32], order="C", accept_large_sparse=False)
        k = _check_n_clusters(self.n_clusters, Xv.shape[0])
        w = self._weights(sample_weight, Xv.shape[0])
        centers, labels, inertia, steps = _ops_kmeans.minibatch_kmeans(
            Xv, k, _init_arg(self.init, Xv), self.batch_size, self.max_iter, self.tol, self.max_no_improvement,
            self.reassignment_ratio, w, _seed_from(self.random_state), resolve_threads(self.n_threads),
        )
        self.cluster_centers_ = centers
        if self.compute_labels:
            self.labels_ = labels
            self.inertia_ = inertia
        self.n_steps_ = steps
        self.n_iter_ = int(np.ceil(steps * min(self.batch_size, Xv.shape[0]) / Xv.shape[0]))
        return self

    def partial_fit(self, X: ArrayLike, y: Any = None, sample_weight: ArrayLike | None = None) -> MiniBatchKMeans:
        """Update the centres with one mini-batch X (the first call also initialises them)."""
        first = not hasattr(self, "_state")
        Xv = validate_data(self, X, dtype=[np.float64, np.float32], order="C", accept_large_sparse=False, reset=first)
        w = self._weights(sample_weight, Xv.shape[0])
        threads = resolve_threads(self.n_threads)
        if first:
            k = _check_n_clusters(self.n_clusters, Xv.shape[0])
            _, ratio, _ = _ops_kmeans.check_minibatch_args(self.batch_size, self.reassignment_ratio,
                                                           self.max_no_improvement)
            init_seed, batch_seed = _ops_kmeans.run_seeds(_seed_from(self.random_state), 2)
            init = _ops_kmeans.check_init(_init_arg(self.init, Xv), k, Xv.shape[1])
            C0 = _ops_kmeans.initial_centers(Xv, k, init, w, init_seed, threads)
            self._state = _ops_kmeans.MiniBatchState(C0, np.random.default_rng(batch_seed), ratio)
        self._state.step(Xv, w, threads)
        self.cluster_centers_ = self._state.centers.astype(Xv.dtype)
        self.n_steps_ = self._state.steps
        self.n_iter_ = self._state.steps
        if self.compute_labels:
            labels, _, inertia = _ops_kmeans.kmeans_assign(Xv, self.cluster_centers_, w, threads)
            self.labels_ = labels
            self.inertia_ = inertia
        return self
