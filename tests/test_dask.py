"""diffclust.dask: every result equals the in-memory call bit for bit.

The reference is the in-memory function on ``X.compute()`` (itself tested against
SciPy in test_forests.py), plus SciPy's minimum spanning tree for the total
weight. Schedulers: synchronous and the default threaded one; an in-process
LocalCluster for one case (worker processes: test_dask_cluster.py).
"""

from __future__ import annotations

import numpy as np
import pytest

import diffclust as dc

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
ddc = pytest.importorskip("diffclust.dask")

from diffclust._ops import dask as _ops_dask

METRICS = ("sqeuclidean", "euclidean", "manhattan", "cosine")


def same_forest(a: dc.Forest, b: dc.Forest) -> bool:
    return (
        np.array_equal(a.labels, b.labels)
        and np.array_equal(a.edges, b.edges)
        and a.weights.dtype == b.weights.dtype
        and a.weights.tobytes() == b.weights.tobytes()
        and type(a.value) is type(b.value)
        and np.float64(a.value).tobytes() == np.float64(b.value).tobytes()
    )


def data(kind: str, rng: np.random.Generator, n: int = 60, d: int = 3) -> np.ndarray:
    if kind == "blobs":
        centers = rng.standard_normal((4, d)) * 5
        return centers[rng.integers(0, 4, n)] + rng.standard_normal((n, d))
    if kind == "grid":  # integer grid: many equal distances and duplicate points
        return rng.integers(-2, 3, (n, d)).astype(np.float64)
    if kind == "equal":
        return np.full((n, d), 0.25)
    raise KeyError(kind)


CHUNKINGS = {
    "one": lambda n: n,
    "equal": lambda n: n // 4,
    "uneven": lambda n: (1, n // 3, 2, n - n // 3 - 3),
    "rows": lambda n: 1,
}


@pytest.mark.parametrize("kind", ["blobs", "grid", "equal"])
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("chunking", sorted(CHUNKINGS))
def test_kforest_equals_in_memory(rng, kind, metric, chunking):
    n = 12 if chunking == "rows" else 60
    X = data(kind, rng, n)
    dX = da.from_array(X, chunks=(CHUNKINGS[chunking](n), 3))
    with dask.config.set(scheduler="sync"):
        for k in (1, 7, n):
            for fan_in in (2, 8) if k == 7 else (3,):
                expected = dc.kforest_from_points(X, k, metric=metric)
                got = ddc.kforest_from_points(dX, k, metric=metric, fan_in=fan_in)
                assert same_forest(got, expected), (k, fan_in)


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_schedulers_float32_and_column_chunks(rng, scheduler):
    X = rng.standard_normal((150, 5)).astype(np.float32)
    X[7] = X[100]  # a duplicate point across blocks
    dX = da.from_array(X, chunks=(23, 2))  # several column chunks: merged first
    with dask.config.set(scheduler=scheduler):
        for metric in METRICS:
            got = ddc.kforest_from_points(dX, 5, metric=metric, fan_in=3)
            assert got.weights.dtype == np.float32
            assert same_forest(got, dc.kforest_from_points(X, 5, metric=metric))


def test_total_weight_matches_scipy(rng):
    from scipy.sparse.csgraph import minimum_spanning_tree
    from scipy.spatial.distance import cdist

    X = rng.standard_normal((80, 4))
    got = ddc.kforest_from_points(da.from_array(X, chunks=(13, 4)), 1, metric="euclidean")
    total = minimum_spanning_tree(cdist(X, X)).sum()
    assert np.isclose(-got.weights.sum(), total, rtol=1e-12)
    assert np.isclose(got.value, -2 * total, rtol=1e-12)


def test_numpy_and_integer_input(rng):
    X = rng.integers(0, 4, (40, 2))
    expected = dc.kforest_from_points(X, 3)
    assert same_forest(ddc.kforest_from_points(X, 3), expected)
    assert same_forest(ddc.kforest_from_points(da.from_array(X, chunks=(9, 2)), 3), expected)


def test_single_point():
    got = ddc.kforest_from_points(da.ones((1, 2), chunks=(1, 2)), 1)
    assert got.edges.shape == (0, 2) and got.labels.tolist() == [0] and got.value == 0.0


def test_empty_chunks_are_skipped(rng):
    X = rng.standard_normal((30, 2))
    dX = da.from_array(X, chunks=((0, 10, 0, 20), (2,)))
    assert same_forest(ddc.kforest_from_points(dX, 4), dc.kforest_from_points(X, 4))


def test_block_functions_without_a_scheduler(rng):
    """The tasks are plain functions: the pieces merged in any grouping give the forest."""
    X = data("grid", rng, 30)
    cuts = [0, 4, 17, 30]
    trees = [_ops_dask.block_tree(X[a:b], a, "manhattan") for a, b in zip(cuts, cuts[1:])]
    pieces = list(trees)
    for i in range(3):
        for j in range(i + 1, 3):
            pieces.append(_ops_dask.pair_edges(X[cuts[i]:cuts[i + 1]], cuts[i], X[cuts[j]:cuts[j + 1]], cuts[j],
                                               "manhattan", trees[i], trees[j], 29))
    one = _ops_dask.merge_edges(*pieces, max_edges=27)
    two = _ops_dask.merge_edges(_ops_dask.merge_edges(*pieces[::2], max_edges=27),
                                _ops_dask.merge_edges(*pieces[1::2], max_edges=27), max_edges=27)
    expected = dc.kforest_from_points(X, 3, metric="manhattan")
    for piece in (one, two):
        labels, edges, weights, value = _ops_dask.finish_forest(piece, 30, 3, "<f8")
        assert np.array_equal(edges, expected.edges) and np.array_equal(weights, expected.weights)
        assert np.array_equal(labels, expected.labels) and value == expected.value


def test_errors(rng):
    X = rng.standard_normal((10, 2))
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ddc.kforest_from_points(da.from_array(bad, chunks=(4, 2)), 2)
    with pytest.raises(ValueError, match="k must be"):
        ddc.kforest_from_points(X, 11)
    with pytest.raises(TypeError, match="k must be"):
        ddc.kforest_from_points(X, 2.0)
    with pytest.raises(ValueError, match="metric"):
        ddc.kforest_from_points(X, 2, metric="chebyshev")
    with pytest.raises(ValueError, match="fan_in"):
        ddc.kforest_from_points(X, 2, fan_in=1)
    with pytest.raises(TypeError, match="fan_in"):
        ddc.kforest_from_points(X, 2, fan_in=2.5)
    with pytest.raises(TypeError, match="real numbers"):
        ddc.kforest_from_points(X.astype(complex), 2)
    with pytest.raises(ValueError, match="2 dimensions"):
        ddc.kforest_from_points(X[:, 0], 2)
    with pytest.raises(ValueError, match="empty"):
        ddc.kforest_from_points(np.zeros((0, 2)), 1)
    unknown = da.from_array(X, chunks=(4, 2))
    unknown = unknown[unknown[:, 0] > -10]
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        ddc.kforest_from_points(unknown, 2)
    with pytest.raises(ValueError, match="overflow"):
        ddc.kforest_from_points(da.from_array(np.array([[-1e300], [1e300]]), chunks=1), 1)


def test_input_is_not_modified(rng):
    X = rng.standard_normal((20, 3))
    before = X.copy()
    ddc.kforest_from_points(da.from_array(X, chunks=(6, 3)), 2, metric="cosine")
    assert np.array_equal(X, before)


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given
from hypothesis import strategies as st


@given(
    st.integers(1, 25).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(-2, 2), min_size=2 * n, max_size=2 * n),
            st.integers(1, n),
            st.lists(st.integers(1, n), min_size=1, max_size=6),
            st.sampled_from(METRICS),
            st.integers(2, 5),
        )
    )
)
def test_property_any_chunking(case):
    values, k, sizes, metric, fan_in = case
    X = np.array(values, dtype=np.float64).reshape(-1, 2)
    n = len(X)
    chunks = []
    for s in sizes:  # chunk sizes that add up to n
        if sum(chunks) < n:
            chunks.append(min(s, n - sum(chunks)))
    if sum(chunks) < n:
        chunks.append(n - sum(chunks))
    dX = da.from_array(X, chunks=(tuple(chunks), 2))
    with dask.config.set(scheduler="sync"):
        got = ddc.kforest_from_points(dX, k, metric=metric, fan_in=fan_in)
    assert same_forest(got, dc.kforest_from_points(X, k, metric=metric))


def test_distributed_local_cluster(rng):
    """The distributed scheduler (in-process workers: a process cluster takes ~15 s to start here)."""
    distributed = pytest.importorskip("distributed")
    X = rng.standard_normal((90, 3))
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster, distributed.Client(cluster):
        got = ddc.kforest_from_points(da.from_array(X, chunks=(17, 3)), 4, metric="euclidean")
    assert same_forest(got, dc.kforest_from_points(X, 4, metric="euclidean"))


# --------------------------------------------------------------------------- perturbed forests


def same_perturbed(a, b) -> bool:
    return (
        a.adjacency.dtype == b.adjacency.dtype
        and a.adjacency.tobytes() == b.adjacency.tobytes()
        and a.connectivity.tobytes() == b.connectivity.tobytes()
        and np.float64(a.value).tobytes() == np.float64(b.value).tobytes()
        and a.n_repaired == b.n_repaired
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_perturbed_equals_in_memory(rng, dtype):
    S = rng.standard_normal((14, 14)).astype(dtype)
    S = (S + S.T) / 2
    expected = dc.perturbed_kforest(S, 3, sigma=0.4, n_samples=7, seed=11)
    for chunk in (1, 3, 7):  # 7, 3 and 1 sample ranges
        for scheduler in ("sync", "threads"):
            with dask.config.set(scheduler=scheduler):
                got = ddc.perturbed_kforest(S, 3, sigma=0.4, n_samples=7, seed=11, chunk_samples=chunk, fan_in=2)
            assert same_perturbed(got, expected), (chunk, scheduler)


def test_perturbed_constrained_and_asymmetric(rng):
    S = rng.standard_normal((12, 12))  # not symmetric: both use (S + S.T) / 2
    labels = np.full(12, -1)
    labels[[0, 4]] = 0
    labels[[7, 9]] = 1
    kwargs = {"sigma": 0.8, "n_samples": 9, "seed": 3, "known_labels": labels, "cannot_link": [[1, 2]]}
    expected = dc.perturbed_kforest(S, 3, **kwargs)
    got = ddc.perturbed_kforest(da.from_array(S, chunks=5), 3, chunk_samples=4, **kwargs)
    assert same_perturbed(got, expected)


def test_perturbed_errors(rng):
    S = rng.standard_normal((5, 5))
    with pytest.raises(ValueError, match="chunk_samples"):
        ddc.perturbed_kforest(S, 2, n_samples=3, seed=1, chunk_samples=0)
    with pytest.raises(ValueError, match="sigma"):
        ddc.perturbed_kforest(S, 2, sigma=-1.0, seed=1)
    bad = S.copy()
    bad[0, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        ddc.perturbed_kforest(bad, 2, seed=1)
    with pytest.raises(ValueError, match="chunk_rows"):
        ddc.perturbed_kforest_vjp(S, 2, S, S, sigma=0.5, n_samples=3, seed=1, chunk_rows=0)
    with pytest.raises(ValueError, match="grad_adjacency"):
        ddc.perturbed_kforest_vjp(S, 2, S[:2], S, sigma=0.5, n_samples=3, seed=1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_perturbed_vjp_equals_in_memory(rng, dtype):
    n = 13
    S = rng.standard_normal((n, n)).astype(dtype)
    VA, VM = rng.standard_normal((2, n, n)).astype(dtype)
    for control_variate in (True, False):
        kw = {"sigma": 0.5, "n_samples": 7, "seed": 21, "control_variate": control_variate}
        expected = dc.perturbed_kforest_vjp(S, 4, VA, VM, **kw)
        for chunk_samples, chunk_rows in ((1, 5), (3, 13), (7, 1)):  # 7, 3 and 1 sample ranges
            got = ddc.perturbed_kforest_vjp(S, 4, VA, VM, chunk_samples=chunk_samples, chunk_rows=chunk_rows, **kw)
            assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes()
    labels = np.full(n, -1)
    labels[[1, 2]] = 0
    kw = {"sigma": 0.9, "n_samples": 5, "seed": 2, "known_labels": labels}
    got = ddc.perturbed_kforest_vjp(S, 3, None, VM, chunk_samples=2, **kw)
    assert got.tobytes() == dc.perturbed_kforest_vjp(S, 3, None, VM, **kw).tobytes()
    assert not ddc.perturbed_kforest_vjp(S, 3, sigma=0.5, n_samples=3, seed=1).any()


# --------------------------------------------------------------------------- metrics


def test_contingency_metrics_are_exact(rng):
    a = rng.integers(0, 5, 500)
    b = np.where(rng.random(500) < 0.7, a, rng.integers(-3, 9, 500))
    da_a = da.from_array(a, chunks=37)
    da_b = da.from_array(b, chunks=(100, 400))  # other chunks: rechunked to a's
    assert ddc.adjusted_rand_score(da_a, da_b, fan_in=2) == dc.adjusted_rand_score(a, b)
    assert ddc.mutual_info_score(da_a, da_b) == dc.mutual_info_score(a, b)
    for method in ("min", "geometric", "arithmetic", "max"):
        got = ddc.normalized_mutual_info_score(da_a, da_b, average_method=method)
        assert got == dc.normalized_mutual_info_score(a, b, average_method=method)
    # against scikit-learn, the independent reference
    from sklearn.metrics import adjusted_rand_score

    assert np.isclose(ddc.adjusted_rand_score(da_a, da_b), adjusted_rand_score(a, b), rtol=1e-12)
    with pytest.raises(ValueError, match="same length"):
        ddc.adjusted_rand_score(a, b[:-1])
    with pytest.raises(TypeError):
        ddc.mutual_info_score(a + 0.5, b)


def test_block_metrics_are_exact(rng):
    X = rng.standard_normal((120, 3)) + rng.integers(0, 3, 120)[:, None] * 3
    labels = rng.integers(0, 4, 120)
    dX, dl = da.from_array(X, chunks=(31, 3)), da.from_array(labels, chunks=50)
    for metric in METRICS:
        got = ddc.silhouette_samples(dX, dl, metric=metric)
        assert got.tobytes() == dc.silhouette_samples(X, labels, metric=metric).tobytes()
        assert ddc.silhouette_score(dX, dl, metric=metric) == dc.silhouette_score(X, labels, metric=metric)
    assert ddc.davies_bouldin_score(dX, dl) == dc.davies_bouldin_score(X, labels)
    centers = rng.standard_normal((4, 3))
    assert ddc.kmeans_loss(dX, centers, dl) == dc.kmeans_loss(X, centers, labels)
    assert ddc.kmeans_loss(dX, centers) == dc.kmeans_loss(X, centers)
    from sklearn.metrics import davies_bouldin_score, silhouette_score

    assert np.isclose(ddc.davies_bouldin_score(dX, dl), davies_bouldin_score(X, labels), rtol=1e-10)
    assert np.isclose(ddc.silhouette_score(dX, dl), silhouette_score(X, labels), rtol=1e-10)
    with pytest.raises(ValueError, match="distinct labels"):
        ddc.silhouette_score(dX, np.zeros(120, dtype=int))
    with pytest.raises(ValueError, match="length"):
        ddc.davies_bouldin_score(dX, labels[:-1])


# --------------------------------------------------------------------------- estimator


def test_estimator(rng):
    X = rng.standard_normal((70, 2))
    dX = da.from_array(X, chunks=(20, 2))
    est = ddc.SpanningForestClustering(3, metric="euclidean", fan_in=2)
    assert est.get_params() == {"n_clusters": 3, "metric": "euclidean", "fan_in": 2}
    labels = est.fit_predict(dX)
    assert isinstance(labels, da.Array) and labels.chunks[0] == dX.chunks[0]
    expected = dc.kforest_from_points(X, 3, metric="euclidean")
    assert np.array_equal(labels.compute(), expected.labels)
    assert same_forest(est.forest_, expected) and est.n_features_in_ == 2
    refit = est.set_params(n_clusters=5, metric="manhattan").fit(X)  # NumPy in, NumPy labels out
    assert isinstance(refit.labels_, np.ndarray)
    assert np.array_equal(refit.labels_, dc.kforest_from_points(X, 5, metric="manhattan").labels)
    with pytest.raises(ValueError, match="invalid parameter"):
        est.set_params(k=2)
