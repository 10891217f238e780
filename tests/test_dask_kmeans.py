"""diffclust.dask.kmeans / KMeans: bit-identical to the in-memory diffclust.kmeans.

The reference is diffclust.kmeans on the gathered array (itself tested against
scikit-learn in test_kmeans.py); scikit-learn's Lloyd is a second, independent
check of the centres to rounding. Synchronous and threaded schedulers here; the
LocalCluster with worker processes in test_dask_cluster.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import diffclust as dc

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
ddc = pytest.importorskip("diffclust.dask")

from diffclust._ops import kmeans as _ops_kmeans
from diffclust.dask import _kmeans


def same_fit(got: dc.KMeansResult, expected: dc.KMeansResult) -> bool:
    return (
        got.centers.dtype == expected.centers.dtype
        and got.centers.tobytes() == expected.centers.tobytes()
        and np.array_equal(got.labels, expected.labels)
        and np.float64(got.inertia).tobytes() == np.float64(expected.inertia).tobytes()
        and got.n_iter == expected.n_iter
    )


def blobs(rng: np.random.Generator, n: int, d: int = 3, k: int = 5, dtype: type = np.float64) -> np.ndarray:
    centers = rng.standard_normal((k, d)) * 4
    return (centers[rng.integers(0, k, n)] + rng.standard_normal((n, d))).astype(dtype)


CHUNKS = {"one": lambda n: n, "equal": lambda n: n // 3 + 1, "uneven": lambda n: (700, 3000, 1, n - 3701),
          "small": lambda n: 512}


@pytest.mark.parametrize("chunking", sorted(CHUNKS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kmeans_equals_in_memory(rng, chunking, dtype):
    n = 5000
    X = blobs(rng, n, dtype=dtype)
    dX = da.from_array(X, chunks=(CHUNKS[chunking](n), 3))
    with dask.config.set(scheduler="sync"):
        for init in ("k-means++", "random"):
            expected = dc.kmeans(X, 6, init=init, n_init=2, seed=3)
            got = ddc.kmeans(dX, 6, init=init, n_init=2, seed=3)
            assert same_fit(got, expected), init
        C0 = X[:4].copy()
        for max_iter, tol in ((300, 1e-4), (2, 0.0), (300, 0.0), (1, 1e-4)):
            expected = dc.kmeans(X, 4, init=C0, max_iter=max_iter, tol=tol)
            got = ddc.kmeans(dX, 4, init=C0, max_iter=max_iter, tol=tol)
            assert same_fit(got, expected), (max_iter, tol)


def test_kmeans_against_sklearn(rng):
    sklearn_cluster = pytest.importorskip("sklearn.cluster")
    X = blobs(rng, 3000)
    C0 = X[:5].copy()
    with dask.config.set(scheduler="threads"):
        got = ddc.kmeans(da.from_array(X, chunks=1000), 5, init=C0, tol=0.0)
    ref = sklearn_cluster.KMeans(5, init=C0, n_init=1, tol=0.0, algorithm="lloyd").fit(X)
    np.testing.assert_allclose(got.centers, ref.cluster_centers_, rtol=1e-10, atol=1e-10)
    assert np.array_equal(got.labels, ref.labels_)
    assert got.inertia == pytest.approx(ref.inertia_, rel=1e-10)


def test_kmeans_empty_clusters_relocated(rng):
    # duplicate initial centres: the second of each pair gets no point (ties go to the
    # smaller index) and is relocated by the kernel's rule, on many blocks
    X = blobs(rng, 6000, k=3)
    C0 = np.concatenate([X[:3], X[:3], [[1e3, 1e3, 1e3]]])
    dX = da.from_array(X, chunks=1000)
    with dask.config.set(scheduler="sync"):
        for max_iter in (1, 3, 300):
            expected = dc.kmeans(X, 7, init=C0, max_iter=max_iter)
            got = ddc.kmeans(dX, 7, init=C0, max_iter=max_iter, block_rows=2048)
            assert same_fit(got, expected), max_iter
    assert len(np.unique(got.labels)) == 7


def test_kmeans_relocation_needs_more_candidates(monkeypatch):
    # 30 singleton clusters whose points are the farthest from their own centres: the
    # first candidates in the kernel's order cannot move (their removal would empty
    # their cluster), so the first 2 * 7 + 8 candidates of every block do not suffice
    # and the scan restarts with twice as many.
    rng = np.random.default_rng(5)
    far = (1.0 + np.arange(30, dtype=np.float64))[:, None] * 100.0 + np.zeros((30, 2))
    X = np.concatenate([far, rng.standard_normal((4200, 2)) * 0.01])
    C0 = np.concatenate([far + [30.0, 0.0], np.zeros((8, 2))])  # 8 equal centres at the cloud: 7 empty
    seen = []
    original = _kmeans.kmeans_candidates

    def counting(*args):
        seen.append(args[-1])
        return original(*args)

    monkeypatch.setattr(_kmeans, "kmeans_candidates", counting)
    dX = da.from_array(X, chunks=2048)
    with dask.config.set(scheduler="sync"):
        for max_iter in (1, 5):
            expected = dc.kmeans(X, 38, init=C0, max_iter=max_iter)
            got = ddc.kmeans(dX, 38, init=C0, max_iter=max_iter)
            assert same_fit(got, expected)
    assert max(seen) > 2 * 7 + 8


def test_kmeans_weights_duplicates_and_k(rng):
    X = rng.integers(-2, 3, (4500, 2)).astype(np.float64)  # many ties and duplicate points
    w = rng.random(4500)
    w[rng.random(4500) < 0.3] = 0.0
    dX = da.from_array(X, chunks=1500)
    with dask.config.set(scheduler="sync"):
        for k in (1, 3, 9):
            expected = dc.kmeans(X, k, sample_weight=w, seed=1)
            got = ddc.kmeans(dX, k, sample_weight=da.from_array(w, chunks=700), seed=1)
            assert same_fit(got, expected), k
            got = ddc.kmeans(dX, k, init="random", sample_weight=w, seed=2)
            assert same_fit(got, dc.kmeans(X, k, init="random", sample_weight=w, seed=2)), k
        X1 = np.full((50, 2), 0.5)
        assert same_fit(ddc.kmeans(X1, 3, seed=0), dc.kmeans(X1, 3, seed=0))


def test_tolerance_is_exact(rng):
    for dtype in (np.float64, np.float32):
        X = (rng.standard_normal((5003, 4)) * np.array([1.0, 1e4, 1e-4, 3.0]) + 7.0).astype(dtype)
        blocks = list(da.from_array(X, chunks=611).to_delayed().ravel())
        with dask.config.set(scheduler="sync"):
            assert _kmeans._tolerance(blocks, len(X), 1e-4) == _ops_kmeans.tolerance(X, 1e-4)


def test_estimator(rng):
    X = blobs(rng, 5000)
    dX = da.from_array(X, chunks=1200)
    est = ddc.KMeans(4, random_state=0, n_init=2)
    assert repr(est).startswith("KMeans(n_clusters=4")
    assert est.get_params()["n_init"] == 2
    with dask.config.set(scheduler="threads"):
        labels = est.fit_predict(dX)
        expected = dc.kmeans(X, 4, n_init=2, seed=0)
        assert isinstance(labels, da.Array) and labels.chunks == dX.chunks[:1]
        assert np.array_equal(labels.compute(), expected.labels)
        assert est.cluster_centers_.tobytes() == expected.centers.tobytes()
        assert est.inertia_ == expected.inertia and est.n_iter_ == expected.n_iter
        pred = est.predict(dX)
        assert isinstance(pred, da.Array)
        assert np.array_equal(pred.compute(), expected.labels)
    with pytest.raises(ValueError, match="invalid parameter"):
        est.set_params(bogus=1)
    with pytest.raises(ValueError, match="not fitted"):
        ddc.KMeans(2).predict(dX)
    with pytest.raises(ValueError, match="features"):
        est.predict(da.from_array(X[:, :2]))


def test_errors(rng):
    X = blobs(rng, 100)
    dX = da.from_array(X, chunks=30)
    with dask.config.set(scheduler="sync"):
        with pytest.raises(ValueError, match="block_rows"):
            ddc.kmeans(dX, 3, block_rows=1000)
        with pytest.raises(ValueError, match="k must be"):
            ddc.kmeans(dX, 101)
        with pytest.raises(ValueError, match="init must have shape"):
            ddc.kmeans(dX, 3, init=X[:2])
        with pytest.raises(ValueError, match="max_iter"):
            ddc.kmeans(dX, 3, max_iter=0)
        with pytest.raises(ValueError, match="tol"):
            ddc.kmeans(dX, 3, tol=-1.0)
        with pytest.raises(ValueError, match="sample_weight"):
            ddc.kmeans(dX, 3, sample_weight=np.ones(5))
        bad = X.copy()
        bad[40, 1] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            ddc.kmeans(da.from_array(bad, chunks=30), 3)
        with pytest.raises(TypeError):
            ddc.kmeans(dX, 3.5)
