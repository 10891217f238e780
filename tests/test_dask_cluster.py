"""diffclust.dask on a LocalCluster of worker processes and on the synchronous scheduler.

One module-scoped ``distributed.LocalCluster(n_workers=2, threads_per_worker=1,
processes=True)`` with its Client, started once (worker start-up costs seconds)
and closed at the end of the module. Every test runs on both schedulers and
asserts ``np.array_equal`` (bytes) against the in-memory call: the exact
k-forest, the perturbed forest and its VJP, the metrics and k-means. The tasks
only call functions of the installed diffclust package, so the workers need
nothing from the source tree.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import diffclust as dc

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
ddc = pytest.importorskip("diffclust.dask")


@pytest.fixture(scope="module")
def cluster_client() -> Iterator[Any]:
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=50,
            memory_limit=0,
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        yield client


@pytest.fixture(params=["sync", "cluster"])
def scheduler(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "sync":
        with dask.config.set(scheduler="sync"):
            yield "sync"
    else:
        client = request.getfixturevalue("cluster_client")
        with client.as_current(), dask.config.set(scheduler=client):
            yield "cluster"


def same(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_kforest(rng, scheduler):
    centers = rng.standard_normal((4, 3)) * 5
    X = centers[rng.integers(0, 4, 300)] + rng.standard_normal((300, 3))
    X[5] = X[250]  # a duplicate point across blocks
    G = rng.integers(-2, 3, (120, 2)).astype(np.float32)  # ties everywhere
    for data, chunks, k, fan_in in ((X, (40, 100, 7, 153), 7, 2), (G, 25, 1, 8), (X, 300, 300, 3)):
        expected = dc.kforest_from_points(data, k, metric="euclidean")
        got = ddc.kforest_from_points(da.from_array(data, chunks=(chunks, -1)), k, metric="euclidean", fan_in=fan_in)
        assert same(got.labels, expected.labels) and same(got.edges, expected.edges)
        assert same(got.weights, expected.weights) and got.value == expected.value


def test_perturbed_forward_and_vjp(rng, scheduler):
    n = 12
    S = rng.standard_normal((n, n))
    S = (S + S.T) / 2
    VA, VM = rng.standard_normal((2, n, n))
    expected = dc.perturbed_kforest(S, 3, sigma=0.5, n_samples=7, seed=4)
    grad = dc.perturbed_kforest_vjp(S, 3, VA, VM, sigma=0.5, n_samples=7, seed=4)
    for chunk in (1, 3, 7):
        got = ddc.perturbed_kforest(S, 3, sigma=0.5, n_samples=7, seed=4, chunk_samples=chunk, fan_in=2)
        assert same(got.adjacency, expected.adjacency) and same(got.connectivity, expected.connectivity)
        assert got.value == expected.value
        g = ddc.perturbed_kforest_vjp(S, 3, VA, VM, sigma=0.5, n_samples=7, seed=4, chunk_samples=chunk, chunk_rows=5)
        assert same(g, grad)


def test_metrics(rng, scheduler):
    n = 5000
    X = rng.standard_normal((n, 3)) + rng.integers(0, 3, n)[:, None] * 3
    labels = rng.integers(0, 4, n)
    other = np.where(rng.random(n) < 0.6, labels, rng.integers(0, 6, n))
    dX, dl = da.from_array(X, chunks=(1300, 3)), da.from_array(labels, chunks=900)
    do = da.from_array(other, chunks=1700)
    assert ddc.adjusted_rand_score(dl, do) == dc.adjusted_rand_score(labels, other)
    assert ddc.mutual_info_score(dl, do) == dc.mutual_info_score(labels, other)
    assert ddc.normalized_mutual_info_score(dl, do) == dc.normalized_mutual_info_score(labels, other)
    assert ddc.davies_bouldin_score(dX, dl) == dc.davies_bouldin_score(X, labels)
    centers = rng.standard_normal((4, 3))
    assert ddc.kmeans_loss(dX, centers, dl) == dc.kmeans_loss(X, centers, labels)
    assert ddc.kmeans_loss(dX, centers) == dc.kmeans_loss(X, centers)
    small, sl = X[:1000], labels[:1000]  # two blocks of silhouette positions: 3 pair tasks
    got = ddc.silhouette_samples(da.from_array(small, chunks=300), sl, metric="manhattan")
    assert same(got, dc.silhouette_samples(small, sl, metric="manhattan"))
    assert ddc.silhouette_score(da.from_array(small, chunks=300), sl) == dc.silhouette_score(small, sl)
    w, M, cov = np.array([0.5, 0.5]), rng.standard_normal((2, 3)), np.array([1.0, 2.0])
    got_nll = ddc.gmm_nll(dX, w, M, cov, covariance_type="spherical")
    assert got_nll == dc.gmm_nll(X, w, M, cov, covariance_type="spherical")


def test_kmeans(rng, scheduler):
    X = (rng.standard_normal((6000, 4)) + rng.integers(0, 5, 6000)[:, None] * 2.5).astype(np.float32)
    dX = da.from_array(X, chunks=2500)
    expected = dc.kmeans(X, 5, seed=7)
    got = ddc.kmeans(dX, 5, seed=7)
    assert same(got.centers, expected.centers) and same(got.labels, expected.labels)
    assert got.inertia == expected.inertia and got.n_iter == expected.n_iter
    C0 = np.concatenate([X[:3], X[:3]])  # three empty clusters to relocate
    expected = dc.kmeans(X, 6, init=C0)
    est = ddc.KMeans(6, init=C0).fit(dX)
    assert same(est.cluster_centers_, expected.centers) and same(est.labels_.compute(), expected.labels)
    assert est.inertia_ == expected.inertia


def test_cluster_is_used(cluster_client):
    # the graph really ran on the worker processes (not in this process)
    with contextlib.ExitStack() as stack:
        stack.enter_context(cluster_client.as_current())
        stack.enter_context(dask.config.set(scheduler=cluster_client))
        pids = set(cluster_client.run(lambda: __import__("os").getpid()).values())
        assert len(pids) == 2 and __import__("os").getpid() not in pids
        X = np.random.default_rng(0).standard_normal((100, 2))
        got = ddc.kforest_from_points(da.from_array(X, chunks=30), 2)
        assert same(got.labels, dc.kforest_from_points(X, 2).labels)
