"""Metrics and cuts against their anchors (scikit-learn, a scipy.sparse Ncut).

pytest benchmarks/bench_metrics.py --benchmark-only --benchmark-group-by=group
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import metrics as skm
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors

import diffclust as dc

THREADS = [1, None]  # serial, and every usable core


# --------------------------------------------------------------------------- ARI / NMI on 10^6 labels


@pytest.fixture(scope="module", params=[100, 1000], ids=lambda c: f"{c}classes")
def labelings(request):
    rng = np.random.default_rng(0)
    n, c = 1_000_000, request.param
    a = rng.integers(0, c, n)
    b = np.where(rng.random(n) < 0.7, a, rng.integers(0, c, n))  # 70% agreement
    expected = {
        "ari": skm.adjusted_rand_score(a, b),
        "nmi": skm.normalized_mutual_info_score(a, b),
    }
    return c, a, b, expected


@pytest.mark.parametrize("n_threads", THREADS, ids=["1thread", "allthreads"])
def test_ari_diffclust(benchmark, labelings, n_threads):
    c, a, b, expected = labelings
    benchmark.group = f"ARI n=1e6 {c} classes"
    assert benchmark(dc.adjusted_rand_score, a, b, n_threads=n_threads) == expected["ari"]


def test_ari_sklearn(benchmark, labelings):
    c, a, b, expected = labelings
    benchmark.group = f"ARI n=1e6 {c} classes"
    assert benchmark(skm.adjusted_rand_score, a, b) == expected["ari"]


@pytest.mark.parametrize("n_threads", THREADS, ids=["1thread", "allthreads"])
def test_nmi_diffclust(benchmark, labelings, n_threads):
    c, a, b, expected = labelings
    benchmark.group = f"NMI n=1e6 {c} classes"
    got = benchmark(dc.normalized_mutual_info_score, a, b, n_threads=n_threads)
    np.testing.assert_allclose(got, expected["nmi"], rtol=1e-13)


def test_nmi_sklearn(benchmark, labelings):
    c, a, b, expected = labelings
    benchmark.group = f"NMI n=1e6 {c} classes"
    assert benchmark(skm.normalized_mutual_info_score, a, b) == expected["nmi"]


# --------------------------------------------------------------------------- Ncut on a kNN graph


def scipy_ncut(W: sp.csr_matrix, labels: np.ndarray) -> float:
    """Ncut with scipy.sparse: indicator H, within-cluster weights diag(H^T W H), volumes H^T d."""
    n = W.shape[0]
    k = int(labels.max()) + 1
    H = sp.csr_matrix((np.ones(n), (np.arange(n), labels)), shape=(n, k))
    within = (H.T @ (W @ H)).diagonal()
    vol = H.T @ np.asarray(W.sum(axis=1)).ravel()
    return float(((vol - within) / vol).sum())


def numpy_ncut(W: sp.csr_matrix, labels: np.ndarray) -> float:
    """Ncut with NumPy on the CSR arrays: within-cluster weights by bincount over the entries."""
    k = int(labels.max()) + 1
    row_label = np.repeat(labels, np.diff(W.indptr))
    same = row_label == labels[W.indices]
    within = np.bincount(row_label[same], weights=W.data[same], minlength=k)
    vol = np.bincount(row_label, weights=W.data, minlength=k)
    return float(((vol - within) / vol).sum())


@pytest.fixture(scope="module")
def knn_graph():
    rng = np.random.default_rng(1)
    n, k = 100_000, 10
    X = rng.random((n, 2))
    dist, idx = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X)
    dist, idx = dist[:, 1:], idx[:, 1:]  # drop each point itself
    sigma2 = np.median(dist) ** 2
    A = sp.csr_matrix(
        (np.exp(-(dist.ravel() ** 2) / sigma2), (np.repeat(np.arange(n), k), idx.ravel())),
        shape=(n, n),
    )
    W = ((A + A.T) / 2).tocsr()
    labels = (X[:, 0] * 4).astype(np.int64) * 4 + (X[:, 1] * 4).astype(np.int64)  # 16 square cells
    return W, labels, scipy_ncut(W, labels)


@pytest.mark.parametrize("n_threads", THREADS, ids=["1thread", "allthreads"])
def test_ncut_diffclust(benchmark, knn_graph, n_threads):
    W, labels, expected = knn_graph
    benchmark.group = "Ncut kNN graph n=1e5, 10 neighbours, CSR"
    np.testing.assert_allclose(
        benchmark(dc.ncut, W, labels, n_threads=n_threads), expected, rtol=1e-12
    )


def test_ncut_scipy_sparse(benchmark, knn_graph):
    W, labels, expected = knn_graph
    benchmark.group = "Ncut kNN graph n=1e5, 10 neighbours, CSR"
    assert benchmark(scipy_ncut, W, labels) == expected


def test_ncut_numpy_bincount(benchmark, knn_graph):
    W, labels, expected = knn_graph
    benchmark.group = "Ncut kNN graph n=1e5, 10 neighbours, CSR"
    np.testing.assert_allclose(benchmark(numpy_ncut, W, labels), expected, rtol=1e-12)


# --------------------------------------------------------------------------- Davies-Bouldin, GMM NLL


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(2)
    n, d, k = 100_000, 16, 10
    labels = rng.integers(0, k, n)
    X = rng.standard_normal((n, d)) + 3 * rng.standard_normal((k, d))[labels]
    return X, labels


@pytest.mark.parametrize("n_threads", THREADS, ids=["1thread", "allthreads"])
def test_davies_bouldin_diffclust(benchmark, points, n_threads):
    X, labels = points
    benchmark.group = "Davies-Bouldin n=1e5 d=16 k=10"
    got = benchmark(dc.davies_bouldin_score, X, labels, n_threads=n_threads)
    np.testing.assert_allclose(got, skm.davies_bouldin_score(X, labels), rtol=1e-10)


def test_davies_bouldin_sklearn(benchmark, points):
    X, labels = points
    benchmark.group = "Davies-Bouldin n=1e5 d=16 k=10"
    benchmark(skm.davies_bouldin_score, X, labels)


@pytest.fixture(scope="module")
def mixture(points):
    X, _ = points
    gm = GaussianMixture(10, covariance_type="full", max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # only the parameters matter here
        gm.fit(X[:5000])
    return X, gm


@pytest.mark.parametrize("n_threads", THREADS, ids=["1thread", "allthreads"])
def test_gmm_nll_diffclust(benchmark, mixture, n_threads):
    X, gm = mixture
    benchmark.group = "GMM per-sample NLL n=1e5 d=16 k=10 full"
    got = benchmark(
        dc.gmm_nll_samples, X, gm.weights_, gm.means_, gm.covariances_, n_threads=n_threads
    )
    np.testing.assert_allclose(got, -gm.score_samples(X), rtol=1e-11)


def test_gmm_nll_sklearn(benchmark, mixture):
    X, gm = mixture
    benchmark.group = "GMM per-sample NLL n=1e5 d=16 k=10 full"
    benchmark(gm.score_samples, X)


# --------------------------------------------------------------------------- k-means loss, soft Ncut


@pytest.fixture(scope="module")
def kmeans_fit(points):
    from sklearn.cluster import KMeans

    X, _ = points
    return X, KMeans(10, n_init=1, max_iter=10, random_state=0).fit(X)


@pytest.mark.parametrize("n_threads", THREADS, ids=["1thread", "allthreads"])
def test_kmeans_loss_diffclust(benchmark, kmeans_fit, n_threads):
    X, km = kmeans_fit
    benchmark.group = "k-means loss n=1e5 d=16 k=10"
    got = benchmark(dc.kmeans_loss, X, km.cluster_centers_, n_threads=n_threads)
    np.testing.assert_allclose(got, km.inertia_, rtol=1e-12)


def test_kmeans_loss_sklearn_score(benchmark, kmeans_fit):
    X, km = kmeans_fit
    benchmark.group = "k-means loss n=1e5 d=16 k=10"
    np.testing.assert_allclose(-benchmark(km.score, X), km.inertia_, rtol=1e-12)


def scipy_soft_ncut(W: sp.csr_matrix, P: np.ndarray) -> tuple[float, np.ndarray]:
    """Soft Ncut and its gradient with scipy.sparse products."""
    d = np.asarray(W.sum(axis=1)).ravel()
    WP, WtP = W @ P, W.T @ P
    v, a = P.T @ d, (P * WP).sum(axis=0)
    return float(((v - a) / v).sum()), -(WP + WtP) / v + d[:, None] * (a / v**2)


@pytest.fixture(scope="module")
def soft_assignment(knn_graph):
    W, labels, _ = knn_graph
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((W.shape[0], 16)) + 3 * np.eye(16)[labels]
    P = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return W, P, scipy_soft_ncut(W, P)


@pytest.mark.parametrize("n_threads", THREADS, ids=["1thread", "allthreads"])
def test_soft_ncut_diffclust(benchmark, soft_assignment, n_threads):
    W, P, (value, grad) = soft_assignment
    benchmark.group = "soft Ncut + gradient, kNN graph n=1e5, k=16"
    got = benchmark(dc.soft_ncut, W, P, n_threads=n_threads)
    np.testing.assert_allclose(got.value, value, rtol=1e-12)
    np.testing.assert_allclose(got.grad, grad, rtol=1e-10, atol=1e-15)


def test_soft_ncut_scipy_sparse(benchmark, soft_assignment):
    W, P, (value, _) = soft_assignment
    benchmark.group = "soft Ncut + gradient, kNN graph n=1e5, k=16"
    assert benchmark(scipy_soft_ncut, W, P)[0] == value
