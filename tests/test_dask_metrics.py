"""diffclust.dask metrics: equal bit for bit to the in-memory functions for any chunking.

References: the in-memory functions (tested against scikit-learn in
test_metrics.py / test_losses.py / test_silhouette.py), plus scikit-learn
directly to rounding. Synchronous scheduler (the LocalCluster in test_dask_cluster.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import diffclust as dc

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
ddc = pytest.importorskip("diffclust.dask")

from diffclust._ops import dask as _ops_dask

METRICS = ("sqeuclidean", "euclidean", "manhattan", "cosine")


@pytest.fixture(autouse=True)
def sync():
    with dask.config.set(scheduler="sync"):
        yield


def clustered(rng: np.random.Generator, n: int, d: int = 3, k: int = 4, dtype: type = np.float64):
    labels = rng.integers(0, k, n)
    X = (rng.standard_normal((n, d)) + labels[:, None] * 2.0).astype(dtype)
    return X, labels


CHUNKS = (None, 1, 777, 2048, 5000)  # None: one chunk; 1: one row per chunk (small n only)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [50, 2500, 9001])
def test_kmeans_loss_and_davies_bouldin(rng, dtype, n):
    X, labels = clustered(rng, n, dtype=dtype)
    labels[::7] = 9  # labels need not be 0..k-1
    C = rng.standard_normal((5, 3))
    fit_labels = np.searchsorted(np.unique(labels), labels) % 5
    for ch in CHUNKS:
        if ch == 1 and n > 100:
            continue
        c = n if ch is None else ch
        dX, dl, df = da.from_array(X, chunks=(c, 3)), da.from_array(labels, chunks=c), da.from_array(fit_labels, c)
        assert ddc.kmeans_loss(dX, C, df) == dc.kmeans_loss(X, C, fit_labels), ch
        assert ddc.kmeans_loss(dX, C) == dc.kmeans_loss(X, C), ch
        assert ddc.davies_bouldin_score(dX, dl) == dc.davies_bouldin_score(X, labels), ch


def test_davies_bouldin_edge_cases(rng):
    X = np.repeat(rng.standard_normal((3, 2)), 4, axis=0)  # every spread 0
    labels = np.repeat([0, 1, 2], 4)
    assert ddc.davies_bouldin_score(da.from_array(X, chunks=5), labels) == dc.davies_bouldin_score(X, labels) == 0.0
    X = rng.standard_normal((40, 2))
    X[20:] = X[:20]  # two clusters with the same centroid
    labels = np.repeat([0, 1], 20)
    assert ddc.davies_bouldin_score(da.from_array(X, chunks=7), labels) == dc.davies_bouldin_score(X, labels)
    from sklearn.metrics import davies_bouldin_score

    X, labels = clustered(rng, 600)
    assert ddc.davies_bouldin_score(da.from_array(X, chunks=100), labels) == pytest.approx(
        davies_bouldin_score(X, labels), rel=1e-10)
    with pytest.raises(ValueError, match="distinct values"):
        ddc.davies_bouldin_score(X, np.zeros(600, dtype=int))


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_gmm_nll(rng, covariance_type):
    k, d = 3, 3
    w = np.array([0.2, 0.3, 0.5])
    M = rng.standard_normal((k, d))
    A = rng.standard_normal((k, d, d))
    full = A @ A.transpose(0, 2, 1) + np.eye(d)
    cov = {"full": full, "tied": full[0], "diag": rng.random((k, d)) + 0.5,
           "spherical": rng.random(k) + 0.5}[covariance_type]
    for n in (40, 3000):
        for dtype in (np.float64, np.float32):
            X = clustered(rng, n, d, dtype=dtype)[0]
            expected = dc.gmm_nll(X, w, M, cov, covariance_type=covariance_type)
            for ch in (n, 333, 2000):
                got = ddc.gmm_nll(da.from_array(X, chunks=ch), w, M, cov, covariance_type=covariance_type)
                assert got == expected, (n, dtype, ch)
    with pytest.raises(ValueError, match="weights"):
        ddc.gmm_nll(X, w * 2, M, cov, covariance_type=covariance_type)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_silhouette(rng, metric, dtype):
    n = 2000  # 3 blocks of 768 positions: 6 pair tasks
    X, labels = clustered(rng, n, dtype=dtype)
    labels[:5] = 17  # a small cluster
    labels[5] = -3  # a singleton (its coefficient is 0)
    expected = dc.silhouette_samples(X, labels, metric=metric)
    for ch in (n, 311, 1000):
        got = ddc.silhouette_samples(da.from_array(X, chunks=(ch, 3)), da.from_array(labels, chunks=500),
                                     metric=metric)
        assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes(), ch
    assert ddc.silhouette_score(X, labels, metric=metric) == dc.silhouette_score(X, labels, metric=metric)


def test_silhouette_against_sklearn_and_duplicates(rng):
    from sklearn.metrics import silhouette_samples

    X = rng.integers(-2, 3, (900, 2)).astype(np.float64)  # duplicate points, equal distances
    labels = rng.integers(0, 3, 900)
    got = ddc.silhouette_samples(da.from_array(X, chunks=100), labels)
    assert got.tobytes() == dc.silhouette_samples(X, labels).tobytes()
    np.testing.assert_allclose(got, silhouette_samples(X, labels), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="distinct labels"):
        ddc.silhouette_samples(X, np.zeros(900, dtype=int))


def test_pairwise_sum_is_the_kernels(rng):
    # 147 chunks of 2048 rows: the kernel's pairwise sum of the chunk sums takes its
    # recursive branch and its 8-lane branch; the replica must add in the same order
    X = rng.standard_normal((300_000, 1)) * 10.0 ** rng.integers(-6, 6, (300_000, 1))
    C = np.zeros((1, 1))
    lab = np.zeros(300_000, dtype=np.int64)
    dX = da.from_array(X, chunks=(60_000, 1))
    assert ddc.kmeans_loss(dX, C, lab) == dc.kmeans_loss(X, C, lab)
    assert ddc.kmeans_loss(dX[:20_000], C) == dc.kmeans_loss(X[:20_000], C)  # 8-lane branch only
    for n in (1, 7, 8, 9, 100, 128, 129, 1000):
        a = rng.standard_normal(n)
        assert _ops_dask.pairwise_sum(a) == pytest.approx(float(np.sum(a)), rel=1e-12, abs=1e-12)
    assert _ops_dask.chunk_size(10_000, 2048) == 2000 and _ops_dask.chunk_size(5, 2048) == 5
    assert _ops_dask.chunk_size(10**6, 4096, 2**22) == 10**6  # scratch cap: a single chunk
    assert _ops_dask.chunk_size(10**6, 4096, 10**6) == 250_000  # at most 4 chunks


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(min_value=3, max_value=300),
    k=st.integers(min_value=2, max_value=6),
    chunk=st.integers(min_value=1, max_value=300),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_property_metrics_any_chunking(n, k, chunk, seed):
    rng = np.random.default_rng(seed)
    X = rng.integers(-3, 4, (n, 2)).astype(np.float64) + rng.random((n, 2)) * (seed % 2)
    labels = rng.integers(0, k, n)
    if len(np.unique(labels)) < 2 or len(np.unique(labels)) > n - 1:
        labels[:2] = [0, 1]
        labels[2:] = labels[2:] % 2
    dX, dl = da.from_array(X, chunks=(chunk, 2)), da.from_array(labels, chunks=chunk)
    with dask.config.set(scheduler="sync"):
        assert ddc.davies_bouldin_score(dX, dl) == dc.davies_bouldin_score(X, labels)
        assert ddc.silhouette_samples(dX, dl).tobytes() == dc.silhouette_samples(X, labels).tobytes()
        C = rng.standard_normal((3, 2))
        assert ddc.kmeans_loss(dX, C) == dc.kmeans_loss(X, C)
        assert ddc.adjusted_rand_score(dl, labels[::-1]) == dc.adjusted_rand_score(labels, labels[::-1])


def test_every_points_function_rejects_nan_like_the_in_memory_calls() -> None:
    import dask.array as da

    import diffclust.dask as ddc

    X = np.random.default_rng(0).normal(size=(30, 2))
    X[3, 1] = np.nan
    dX = da.from_array(X, chunks=10)
    labels = da.from_array(np.arange(30) % 2, chunks=10)
    calls = [
        lambda: ddc.gmm_nll(dX, np.ones(1), np.zeros((1, 2)), np.eye(2)[None]),
        lambda: ddc.davies_bouldin_score(dX, labels),
        lambda: ddc.silhouette_score(dX, labels),
        lambda: ddc.kmeans_loss(dX, np.zeros((2, 2)), labels),
        lambda: ddc.kforest_from_points(dX, 2),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="X contains NaN or infinity"):
            call()
