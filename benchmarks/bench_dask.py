"""diffclust.dask against the in-memory calls and fastcluster, on one machine.

- ``kforest_from_points`` via Dask (threaded scheduler; LocalCluster of 1 and of
  2 single-threaded worker processes) against the in-memory call, and against
  fastcluster's ``linkage_vector(method="single")``, the best anchor that can do
  single linkage of points at all without an n x n matrix;
- the per-task overhead: many tiny tasks against one task on the same data;
- k-means via Dask against the in-memory ``diffclust.kmeans`` from the same
  initial centres.

Every Dask result is asserted equal, bit for bit, to the in-memory one. Ratios
are paired (benchmarks/_paired.py). The brief's n = 200 000 (d = 16) costs
2 x 10^10 distance evaluations, minutes per call on a loaded 2-core machine:
set DIFFCLUST_BENCH_DASK_N to run it; the default n keeps the file under two
minutes, and docs/dask.md scales the measured rates to n = 200 000 with the cost
model (work n^2 / 2).

``test_kforest_large_n`` is the brief's size, n = 200 000 (2 x 10^10 distance
evaluations; about 25 minutes in all, fastcluster most of it): each contender is
timed once on the same data, beside the cost model's prediction from kernel rates
measured at the start of the same run. It runs only when DIFFCLUST_BENCH_DASK_LARGE_N
is set (e.g. 200000); the other tests keep the default n.

Run: ``pytest benchmarks/bench_dask.py --benchmark-only -s``
and  ``DIFFCLUST_BENCH_DASK_LARGE_N=200000 pytest benchmarks/bench_dask.py --benchmark-only -s -k large_n``
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

import numpy as np
import pytest
from _paired import paired_ratio, report

import diffclust as dc
from diffclust import _core, _ops
from diffclust.forests import Forest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
ddc = pytest.importorskip("diffclust.dask")

N = int(os.environ.get("DIFFCLUST_BENCH_DASK_N", "10000"))
D, K, BLOCKS = 16, 10, 4
N_FASTCLUSTER = min(N, 6000)  # fastcluster is single-threaded and slower: a smaller n, same d
N_KMEANS = 200_000
N_LARGE = int(os.environ.get("DIFFCLUST_BENCH_DASK_LARGE_N", "0"))


def points(n: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, D))


def same_forest(a: Any, b: Any) -> bool:
    return (np.array_equal(a.edges, b.edges) and np.array_equal(a.labels, b.labels)
            and a.weights.tobytes() == b.weights.tobytes() and a.value == b.value)


def seconds(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def test_kforest_threads_vs_in_memory(benchmark: Any) -> None:
    benchmark.group = f"dask kforest_from_points n={N} d={D}"
    X = points(N)
    dX = da.from_array(X, chunks=(N // BLOCKS, D))
    with dask.config.set(scheduler="threads"):
        assert same_forest(ddc.kforest_from_points(dX, K), dc.kforest_from_points(X, K))
        ratio, rounds = paired_ratio(lambda: ddc.kforest_from_points(dX, K),
                                     lambda: dc.kforest_from_points(X, K), seconds=4.0, min_rounds=3)
    report(benchmark, f"dask ({BLOCKS} row blocks, threads) / in memory", ratio, rounds)
    t = seconds(lambda: dc.kforest_from_points(X, K))
    print(f"in memory: {t:.2f} s = {N * (N - 1) / 2 / t:.3g} distance evaluations/s (2 threads)")
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)


def test_kforest_vs_fastcluster(benchmark: Any) -> None:
    fastcluster = pytest.importorskip("fastcluster")
    benchmark.group = f"dask kforest_from_points n={N_FASTCLUSTER} d={D}"
    X = points(N_FASTCLUSTER)
    dX = da.from_array(X, chunks=(N_FASTCLUSTER // BLOCKS, D))
    # the same single-linkage merge heights: fastcluster's are Euclidean distances
    Z = fastcluster.linkage_vector(X, method="single")
    forest = ddc.kforest_from_points(dX, 1, metric="euclidean")
    assert np.allclose(np.sort(Z[:, 2]), np.sort(-forest.weights), rtol=1e-12)
    with dask.config.set(scheduler="threads"):
        ratio, rounds = paired_ratio(lambda: ddc.kforest_from_points(dX, 1, metric="euclidean"),
                                     lambda: fastcluster.linkage_vector(X, method="single"), seconds=4.0,
                                     min_rounds=3)
    report(benchmark, "dask (threads) / fastcluster.linkage_vector(single)", ratio, rounds)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)


def test_kforest_local_cluster_scaling(benchmark: Any) -> None:
    benchmark.group = f"dask kforest_from_points n={N} d={D} LocalCluster"
    X = points(N)
    dX = da.from_array(X, chunks=(N // BLOCKS, D))
    expected = dc.kforest_from_points(X, K)
    kwargs = {"threads_per_worker": 1, "processes": True, "dashboard_address": ":0", "silence_logs": 50,
              "memory_limit": 0}
    with (
        distributed.LocalCluster(n_workers=1, **kwargs) as one, distributed.Client(one, set_as_default=False) as c1,
        distributed.LocalCluster(n_workers=2, **kwargs) as two, distributed.Client(two, set_as_default=False) as c2,
    ):
        def run(client: Any) -> Any:
            with dask.config.set(scheduler=client):
                return ddc.kforest_from_points(dX, K)

        assert same_forest(run(c1), expected) and same_forest(run(c2), expected)
        ratio, rounds = paired_ratio(lambda: run(c2), lambda: run(c1), seconds=4.0, min_rounds=3)
        report(benchmark, "LocalCluster 2 workers / 1 worker", ratio, rounds)
        ratio, rounds = paired_ratio(lambda: run(c2), lambda: dc.kforest_from_points(X, K), seconds=4.0,
                                     min_rounds=3)
        report(benchmark, "LocalCluster 2 workers / in memory (2 threads)", ratio, rounds)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)


def test_task_overhead(benchmark: Any) -> None:
    benchmark.group = "dask per-task overhead"
    n = 400
    X = points(n)
    many = da.from_array(X, chunks=(8, D))  # 50 blocks: 50 trees + 1225 pairs + merges
    one = da.from_array(X, chunks=(n, D))
    blocks = n // 8
    tasks = blocks + blocks * (blocks - 1) // 2
    with dask.config.set(scheduler="threads"):
        ratio, rounds = paired_ratio(lambda: ddc.kforest_from_points(many, K),
                                     lambda: ddc.kforest_from_points(one, K), seconds=4.0, min_rounds=3)
        report(benchmark, f"{tasks} tiny tasks / 1 task (n={n})", ratio, rounds)
        t_many = min(seconds(lambda: ddc.kforest_from_points(many, K)) for _ in range(2))
        t_one = min(seconds(lambda: ddc.kforest_from_points(one, K)) for _ in range(2))
    print(f"overhead per task (threads): {(t_many - t_one) / tasks * 1e3:.2f} ms")
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)


def test_kmeans_dask_vs_in_memory(benchmark: Any) -> None:
    benchmark.group = f"dask kmeans n={N_KMEANS} d={D}"
    X = points(N_KMEANS)
    C0 = X[:8].copy()
    dX = da.from_array(X, chunks=(N_KMEANS // BLOCKS, D))
    kw = {"init": C0, "max_iter": 30, "tol": 0.0}  # 30 Lloyd iterations exactly
    with dask.config.set(scheduler="threads"):
        got = ddc.kmeans(dX, 8, **kw)
        expected = dc.kmeans(X, 8, **kw)
        assert got.centers.tobytes() == expected.centers.tobytes() and np.array_equal(got.labels, expected.labels)
        assert got.inertia == expected.inertia and got.n_iter == expected.n_iter == 30
        ratio, rounds = paired_ratio(lambda: ddc.kmeans(dX, 8, **kw), lambda: dc.kmeans(X, 8, **kw),
                                     seconds=4.0, min_rounds=3)
        t = seconds(lambda: dc.kmeans(X, 8, **kw))
    report(benchmark, f"dask kmeans ({BLOCKS} blocks, threads, 30 iterations) / in memory", ratio, rounds)
    print(f"in memory: {t / 30 * 1e3:.1f} ms per iteration; Dask: {ratio * t / 30 * 1e3:.1f} ms")
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)


def _local_cluster(workers: int) -> Any:
    return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                    dashboard_address=":0", silence_logs=50, memory_limit=0)


@pytest.mark.skipif(N_LARGE == 0, reason="set DIFFCLUST_BENCH_DASK_LARGE_N (e.g. 200000) to run")
def test_kforest_large_n(benchmark: Any) -> None:
    """The brief's size: every contender once on the same data, beside the cost model.

    The model's inputs are one-thread rates measured first, in this run, on points
    of the same d: the block-tree kernel (its Prim) and the pair kernel at the Dask
    block size b = n / 4 and at the in-memory call's cache-sized blocks, the
    whole-array Prim at n = 20 000 (in cache), and fastcluster's time at n = 20 000
    scaled by n^2. Work is n^2 / 2 distances split as p b^2 / 2 in block trees and
    p (p - 1) / 2 b^2 in pairs; two threads or workers halve it, but no schedule
    ends before its longest task.
    """
    from diffclust._ops.dask import block_tree, pair_edges

    fastcluster = pytest.importorskip("fastcluster")
    n, p = N_LARGE, BLOCKS
    b = n // p
    b_cache = int(_core.cache_block_points(D))
    benchmark.group = f"dask kforest_from_points n={n} d={D} (one timing each)"

    def rates(size: int) -> tuple[float, float]:
        """(block-tree, pair) distance evaluations per second, one thread, blocks of `size`."""
        Y = points(2 * size)
        t_tree = seconds(lambda: block_tree(Y[:size], 0, "sqeuclidean"))
        ta, tb = block_tree(Y[:size], 0, "sqeuclidean"), block_tree(Y[size:], size, "sqeuclidean")
        t_pair = seconds(lambda: pair_edges(Y[:size], 0, Y[size:], size, "sqeuclidean", ta, tb, 2 * size - 1))
        return size * (size - 1) / 2 / t_tree, size**2 / t_pair

    def blocks_model(size: int, r_tree: float, r_pair: float, workers: int) -> float:
        count = -(-n // size)
        trees = count * size * (size - 1) / 2 / r_tree
        pairs = count * (count - 1) / 2 * size * size / r_pair
        return max((trees + pairs) / workers, size * size / r_pair)

    r_tree, r_pair = rates(b)
    rc_tree, rc_pair = rates(b_cache)
    small = points(20_000)
    r_prim = 20_000 * 19_999 / 2 / seconds(lambda: _ops.kforest_from_points(small, K, "sqeuclidean", 1, "prim"))
    t_fc20 = seconds(lambda: fastcluster.linkage_vector(small, method="single"))
    model = {
        "in memory, row blocks (2 threads)": blocks_model(b_cache, rc_tree, rc_pair, 2),
        "in memory, Prim (2 threads)": n * (n - 1) / 2 / (2 * r_prim),
        "Dask, threads (2)": blocks_model(b, r_tree, r_pair, 2),
        "Dask, LocalCluster 1 worker": blocks_model(b, r_tree, r_pair, 1),
        "Dask, LocalCluster 2 workers": blocks_model(b, r_tree, r_pair, 2),
        "fastcluster linkage_vector (1 thread)": t_fc20 * (n / 20_000) ** 2,
    }
    print(f"\none-thread rates (distances/s): blocks of {b}: tree {r_tree:.3g}, pair {r_pair:.3g}; "
          f"blocks of {b_cache}: tree {rc_tree:.3g}, pair {rc_pair:.3g}; Prim, n = 20000 (in cache): "
          f"{r_prim:.3g}; fastcluster n=20000: {t_fc20:.2f} s", flush=True)
    for name, value in [("rate block tree b=n/4", r_tree), ("rate pair b=n/4", r_pair),
                        (f"rate block tree b={b_cache}", rc_tree), (f"rate pair b={b_cache}", rc_pair),
                        ("rate Prim n=20000", r_prim)]:
        benchmark.extra_info[name] = float(f"{value:.3g}")

    X = points(n)
    dX = da.from_array(X, chunks=(b, D))
    measured: dict[str, float] = {}
    t0 = time.perf_counter()
    expected = dc.kforest_from_points(X, K)
    measured["in memory, row blocks (2 threads)"] = time.perf_counter() - t0
    print(f"in memory, row blocks: {measured['in memory, row blocks (2 threads)']:.1f} s", flush=True)
    t0 = time.perf_counter()
    prim = _ops.kforest_from_points(X, K, "sqeuclidean", 2, "prim")
    measured["in memory, Prim (2 threads)"] = time.perf_counter() - t0
    print(f"in memory, Prim: {measured['in memory, Prim (2 threads)']:.1f} s", flush=True)
    assert same_forest(Forest(*prim), expected)
    with dask.config.set(scheduler="threads"):
        t0 = time.perf_counter()
        got = ddc.kforest_from_points(dX, K)
        measured["Dask, threads (2)"] = time.perf_counter() - t0
    print(f"Dask threads: {measured['Dask, threads (2)']:.1f} s", flush=True)
    assert same_forest(got, expected)
    for workers in (2, 1):
        name = f"Dask, LocalCluster {workers} worker" + ("s" if workers > 1 else "")
        with (
            _local_cluster(workers) as cluster, distributed.Client(cluster, set_as_default=False) as client,
            # X travels inside the graph (from_array of a NumPy array): 24 MiB, sent once,
            # which distributed warns about; its transfer is part of the measured time
            warnings.catch_warnings(),
        ):
            warnings.filterwarnings("ignore", "Sending large graph", UserWarning)
            client.wait_for_workers(workers)
            with dask.config.set(scheduler=client):
                t0 = time.perf_counter()
                got = ddc.kforest_from_points(dX, K)
                measured[name] = time.perf_counter() - t0
        print(f"{name}: {measured[name]:.1f} s", flush=True)
        assert same_forest(got, expected)
    t0 = time.perf_counter()
    Z = fastcluster.linkage_vector(X, method="single")
    measured["fastcluster linkage_vector (1 thread)"] = time.perf_counter() - t0
    print(f"fastcluster: {measured['fastcluster linkage_vector (1 thread)']:.1f} s", flush=True)
    # the same merge heights: the k-forest's n - k edges are the n - k lowest of
    # fastcluster's (Euclidean) heights, squared
    assert np.allclose(np.sort(Z[:, 2])[: n - K] ** 2, np.sort(-expected.weights), rtol=1e-9)
    tasks = p + p * (p - 1) // 2
    print(f"n={n}, d={D}, {p} row blocks, {tasks} kernel tasks; seconds (model):")
    for name, t in measured.items():
        print(f"  {name:40s} {t:8.1f} s   (model {model[name]:8.1f} s)")
        benchmark.extra_info[f"{name} [s]"] = round(t, 2)
        benchmark.extra_info[f"{name}, model [s]"] = round(model[name], 2)
    base = measured["in memory, row blocks (2 threads)"]
    ratios = {
        "in memory: row blocks / Prim": base / measured["in memory, Prim (2 threads)"],
        "Dask threads / in memory": measured["Dask, threads (2)"] / base,
        "Dask threads / fastcluster": measured["Dask, threads (2)"] / measured["fastcluster linkage_vector (1 thread)"],
        "LocalCluster 2 workers / 1 worker":
            measured["Dask, LocalCluster 2 workers"] / measured["Dask, LocalCluster 1 worker"],
        "LocalCluster 2 workers / in memory": measured["Dask, LocalCluster 2 workers"] / base,
    }
    for what, r in ratios.items():
        report(benchmark, what, r, 1)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
