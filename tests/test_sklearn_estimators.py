"""diffclust.sklearn: KMedoids and SpanningForestClustering.

References: scikit-learn's estimator checks, AgglomerativeClustering(linkage="single"),
scipy's single linkage + fcluster(criterion="distance"), the kmedoids package
(FasterPAM from the same BUILD initialisation).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import cdist, pdist, squareform

sklearn = pytest.importorskip("sklearn")  # in the test extra: never skipped in CI
from conftest import THREAD_COUNTS
from sklearn.cluster import AgglomerativeClustering
from sklearn.utils.estimator_checks import parametrize_with_checks

from diffclust.sklearn import KMedoids, SpanningForestClustering


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to renumbering: the pairs (a_i, b_i) define a bijection."""
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


# Instances with metric="precomputed" or distance_threshold are not given to the checks:
# they feed raw points to a precomputed estimator and set n_clusters on every estimator
# that has it (scikit-learn tests neither on its own estimators); they are tested below.
@parametrize_with_checks([
    KMedoids(n_clusters=3),
    KMedoids(n_clusters=2, init="k-medoids++", random_state=0, metric="manhattan"),
    SpanningForestClustering(),
    SpanningForestClustering(n_clusters=3, metric="sqeuclidean"),
])
def test_sklearn_compatible(estimator, check, monkeypatch):
    # without SCIPY_ARRAY_API scikit-learn skips its array-API check (and CI fails on skips)
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)


def _blobs(rng, n=60, d=3, centers=4):
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n, d, centers=centers, random_state=int(rng.integers(1 << 30)))
    return X


# ------------------------------------------------------------------------------------ KMedoids


@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "sqeuclidean", "cosine"])
def test_kmedoids_matches_kmedoids_package(rng, metric):
    kmedoids = pytest.importorskip("kmedoids")
    X = _blobs(rng, 80)
    D = cdist(X, X, "cityblock" if metric == "manhattan" else metric)
    ref = kmedoids.fasterpam(D, 4, max_iter=100, init="build")
    ours = KMedoids(4, metric=metric).fit(X)
    np.testing.assert_allclose(ours.inertia_, ref.loss, rtol=1e-9)
    np.testing.assert_array_equal(np.sort(ours.medoid_indices_), np.sort(ref.medoids))
    assert _same_partition(ours.labels_, np.asarray(ref.labels))
    np.testing.assert_array_equal(ours.cluster_centers_, X[ours.medoid_indices_])
    # the medoids' loss, recomputed from the distance matrix
    np.testing.assert_allclose(D[np.arange(80), ours.medoid_indices_[ours.labels_]].sum(), ours.inertia_,
                               rtol=1e-9)


@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "precomputed"])
def test_kmedoids_matches_kmedoids_estimator(rng, metric):
    kmedoids = pytest.importorskip("kmedoids")
    X = _blobs(rng, 90, centers=5)
    data = cdist(X, X) if metric == "precomputed" else X
    ref = kmedoids.KMedoids(5, metric=metric, init="build", max_iter=100).fit(data)
    ours = KMedoids(5, metric=metric, init="build", max_iter=100).fit(data)
    np.testing.assert_allclose(ours.inertia_, ref.inertia_, rtol=1e-9)
    np.testing.assert_array_equal(np.sort(ours.medoid_indices_), np.sort(ref.medoid_indices_))
    assert _same_partition(ours.labels_, np.asarray(ref.labels_))
    if metric != "precomputed":
        np.testing.assert_array_equal(np.sort(ours.cluster_centers_, 0), np.sort(ref.cluster_centers_, 0))


def test_kmedoids_precomputed_predict_and_transform(rng):
    X = _blobs(rng, 50)
    D = squareform(pdist(X))
    pre = KMedoids(3, metric="precomputed").fit(D)
    pts = KMedoids(3).fit(X)
    assert not hasattr(pre, "cluster_centers_")
    np.testing.assert_array_equal(pre.medoid_indices_, pts.medoid_indices_)
    np.testing.assert_array_equal(pre.labels_, pts.labels_)
    Q = rng.normal(size=(7, 3)) * 5
    np.testing.assert_allclose(pts.transform(Q), cdist(Q, X[pts.medoid_indices_]), rtol=1e-12)
    np.testing.assert_array_equal(pts.predict(Q), cdist(Q, X[pts.medoid_indices_]).argmin(1))
    np.testing.assert_array_equal(pre.predict(cdist(Q, X)), pts.predict(Q))
    np.testing.assert_array_equal(pts.predict(X), pts.labels_)


def test_kmedoids_init_and_random_state(rng):
    X = _blobs(rng, 40)
    a = KMedoids(3, init="random", random_state=5).fit(X)
    b = KMedoids(3, init="random", random_state=5).fit(X)
    np.testing.assert_array_equal(a.medoid_indices_, b.medoid_indices_)
    given = KMedoids(3, init=np.array([0, 1, 2]), max_iter=0).fit(X)
    np.testing.assert_array_equal(given.medoid_indices_, [0, 1, 2])
    assert given.n_iter_ == 0
    np.testing.assert_allclose(given.inertia_, cdist(X, X[:3]).min(1).sum(), rtol=1e-12)


@pytest.mark.parametrize("n_threads", THREAD_COUNTS)
def test_kmedoids_threads_identical(rng, n_threads):
    X = _blobs(rng, 300, d=5, centers=6)
    ref = KMedoids(6, n_threads=1).fit(X)
    ours = KMedoids(6, n_threads=n_threads).fit(X)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    assert ours.inertia_ == ref.inertia_


def test_kmedoids_errors(rng):
    X = rng.normal(size=(5, 2))
    with pytest.raises(ValueError, match="n_samples=5 should be >= n_clusters=6"):
        KMedoids(6).fit(X)
    with pytest.raises(ValueError, match="square"):
        KMedoids(2, metric="precomputed").fit(X)
    with pytest.raises(ValueError, match="metric"):
        KMedoids(2, metric="chebyshev").fit(X)
    with pytest.raises(TypeError, match="n_clusters"):
        KMedoids(2.5).fit(X)


# ------------------------------------------------------------------------ SpanningForestClustering


@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "cosine"])
@pytest.mark.parametrize("k", [1, 2, 5, 17])
def test_forest_equals_single_linkage(rng, metric, k):
    X = _blobs(rng, 70)
    ours = SpanningForestClustering(k, metric=metric).fit(X)
    ref = AgglomerativeClustering(k, linkage="single", metric=metric).fit(X)
    assert ours.n_clusters_ == k and ours.labels_.shape == (70,)
    assert _same_partition(ours.labels_, ref.labels_)
    # the edges form a forest of the clusters, with their true lengths, shortest first
    D = cdist(X, X, "cityblock" if metric == "manhattan" else metric)
    assert ours.edges_.shape == (70 - k, 2)
    np.testing.assert_allclose(ours.distances_, D[ours.edges_[:, 0], ours.edges_[:, 1]], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(ours.weights_, -ours.distances_)
    assert np.all(np.diff(ours.distances_) >= 0)
    assert np.all(ours.labels_[ours.edges_[:, 0]] == ours.labels_[ours.edges_[:, 1]])


def test_forest_precomputed_equals_points(rng):
    X = _blobs(rng, 50)
    D = squareform(pdist(X))
    a = SpanningForestClustering(4, metric="precomputed").fit(D)
    b = SpanningForestClustering(4).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.edges_, b.edges_)
    ref = AgglomerativeClustering(4, linkage="single", metric="precomputed").fit(D)
    assert _same_partition(a.labels_, ref.labels_)


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "precomputed"])
def test_forest_distance_threshold_equals_fcluster(rng, metric):
    X = _blobs(rng, 80)
    D = squareform(pdist(X, "sqeuclidean" if metric == "sqeuclidean" else "euclidean"))
    Z = linkage(squareform(D, checks=False), method="single")
    data = D if metric == "precomputed" else X
    for t in [0.0, *np.quantile(Z[:, 2], [0.1, 0.5, 0.9, 0.97]), Z[-1, 2], Z[-1, 2] + 1]:
        ours = SpanningForestClustering(None, distance_threshold=t, metric=metric).fit(data)
        ref = fcluster(Z, t, criterion="distance")
        assert _same_partition(ours.labels_, ref), t
        assert ours.n_clusters_ == len(set(ref.tolist()))
        assert np.all(ours.distances_ <= t)


def test_forest_threshold_keeps_edges_at_the_threshold():
    X = np.array([[0.0], [1.0], [2.0], [4.0]])
    at = SpanningForestClustering(None, distance_threshold=1.0).fit(X)
    assert at.labels_.tolist() == [0, 0, 0, 1] and at.n_clusters_ == 2
    below = SpanningForestClustering(None, distance_threshold=0.5).fit(X)
    assert below.labels_.tolist() == [0, 1, 2, 3] and below.edges_.shape == (0, 2)


@pytest.mark.parametrize("n_threads", THREAD_COUNTS)
def test_forest_threads_identical(rng, n_threads):
    X = _blobs(rng, 5000, d=4)
    ref = SpanningForestClustering(5, n_threads=1).fit(X)
    ours = SpanningForestClustering(5, n_threads=n_threads).fit(X)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    np.testing.assert_array_equal(ours.edges_, ref.edges_)


def test_forest_errors(rng):
    X = rng.normal(size=(5, 2))
    with pytest.raises(ValueError, match="exactly one of n_clusters and distance_threshold"):
        SpanningForestClustering(2, distance_threshold=1.0).fit(X)
    with pytest.raises(ValueError, match="exactly one"):
        SpanningForestClustering(None).fit(X)
    with pytest.raises(ValueError, match="distance_threshold must be >= 0"):
        SpanningForestClustering(None, distance_threshold=-1.0).fit(X)
    with pytest.raises(ValueError, match="n_samples=5 should be >= n_clusters=6"):
        SpanningForestClustering(6).fit(X)
    with pytest.raises(ValueError, match="non-negative"):
        SpanningForestClustering(2, metric="precomputed").fit(-np.ones((3, 3)))
    with pytest.raises(ValueError, match="metric"):
        SpanningForestClustering(2, metric="chebyshev").fit(X)


def test_forest_threshold_with_ties_equals_fcluster():
    pytest.importorskip("hypothesis")
    from hypothesis import given
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays

    @given(arrays(np.int64, st.tuples(st.integers(2, 25), st.integers(1, 3)), elements=st.integers(-3, 3)),
           st.integers(0, 6))
    def check(X, t):
        X = X.astype(np.float64)  # integer grids: many equal distances
        ours = SpanningForestClustering(None, distance_threshold=float(t), metric="manhattan").fit(X)
        ref = fcluster(linkage(pdist(X, "cityblock"), method="single"), t, criterion="distance")
        assert _same_partition(ours.labels_, ref)

    check()


def test_docstring_examples():
    import doctest

    from diffclust.sklearn import _forest, _kmedoids

    for module in (_forest, _kmedoids):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0
