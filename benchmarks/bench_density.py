"""HDBSCAN* and its spanning tree beside scikit-learn's HDBSCAN, hdbscan and fast_hdbscan.

make_blobs with 10 centres, min_samples = 10 (counting the point itself, as
diffclust and scikit-learn do; the hdbscan and fast_hdbscan packages do not count
it, so they get min_samples = 9 for the same core distances), min_cluster_size = 25.

- ``test_hdbscan_ratio``: time(diffclust.hdbscan) / time(anchor) from paired rounds
  (benchmarks/_paired.py), n = 10k, 50k and 200k at d = 2, 8, 32; every anchor at
  10k (at d = 32 scikit-learn is left out: seconds per call), above only the
  fastest one; at 200k one round after a warm-up (20-40 s per anchor call at d = 8
  and 32).
  Every cell checks that the partitions agree (ARI >= 0.9: tied mutual-reachability
  distances may order equal merges differently, see tests/test_density.py). Above
  d = 30 fast_hdbscan's neighbours are approximate, ours stay exact.
- ``test_hdbscan_one_thread_ratio``: the same with one thread each (the issue's
  second goal: never slower than the fastest anchor on one thread).
- ``test_tree_ratio``: our exact mutual-reachability tree alone (kd-tree Borůvka at
  low d, Prim above: ``method="auto"``) against Prim, at d = 2 and 8.
- ``test_hdbscan_time``: plain timings for the log-log plot of time against n
  (``diffclust bench`` draws it: the ``density`` family), d = 2.
- ``test_peak_memory``: the peak resident memory of one HDBSCAN call in a fresh
  process (VmHWM; tracemalloc does not see C++), printed per point.

Run: ``pytest benchmarks/bench_density.py --benchmark-only -s`` (about 5 minutes).
"""

from __future__ import annotations

import functools
import subprocess
import sys
import textwrap
from typing import Any, Callable

import numpy as np
import pytest
from _paired import paired_ratio, report

import diffclust as dc
from diffclust._ops import density as dens

sklearn_cluster = pytest.importorskip("sklearn.cluster")
sklearn_datasets = pytest.importorskip("sklearn.datasets")
sklearn_metrics = pytest.importorskip("sklearn.metrics")

MIN_SAMPLES = 10
MIN_CLUSTER_SIZE = 25
CELLS = [
    (10_000, 2), (10_000, 8), (10_000, 32), (50_000, 2), (50_000, 8), (50_000, 32), (200_000, 2), (200_000, 8),
    (200_000, 32),
]


@functools.cache
def blobs(n: int, d: int) -> np.ndarray:
    X, _ = sklearn_datasets.make_blobs(n_samples=n, n_features=d, centers=10, random_state=0)
    return np.ascontiguousarray(X)


def ours(X: np.ndarray) -> np.ndarray:
    return dc.hdbscan(X, min_cluster_size=MIN_CLUSTER_SIZE, min_samples=MIN_SAMPLES).labels


def anchors() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    out: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "sklearn": lambda X: sklearn_cluster.HDBSCAN(
            min_cluster_size=MIN_CLUSTER_SIZE, min_samples=MIN_SAMPLES, copy=True
        ).fit(X).labels_,
    }
    try:
        import hdbscan

        out["hdbscan"] = lambda X: hdbscan.HDBSCAN(
            min_cluster_size=MIN_CLUSTER_SIZE, min_samples=MIN_SAMPLES - 1
        ).fit(X).labels_
    except ImportError:
        pass
    try:
        import fast_hdbscan

        out["fast_hdbscan"] = lambda X: fast_hdbscan.HDBSCAN(
            min_cluster_size=MIN_CLUSTER_SIZE, min_samples=MIN_SAMPLES - 1
        ).fit(X).labels_
    except ImportError:
        pass
    return out


ANCHORS = anchors()
try:  # fast_hdbscan needs pynndescent above d = 30 (approximate neighbours)
    import pynndescent  # noqa: F401

    NNDESCENT = True
except ImportError:
    NNDESCENT = False
# The fastest anchor of the table per d (the only one run at 50k; scikit-learn
# takes 6-25 s per call there). A missing anchor falls back to scikit-learn, so that
# no cell is ever skipped.
FASTEST = {2: "fast_hdbscan", 8: "hdbscan", 32: "fast_hdbscan"}


def _usable(a: str, d: int) -> bool:
    return a in ANCHORS and not (a == "fast_hdbscan" and d > 30 and not NNDESCENT)


def _fastest(d: int) -> str:
    for a in (FASTEST[d], "hdbscan"):
        if _usable(a, d):
            return a
    return "sklearn"


RUNS = [
    (n, d, a)
    for n, d in CELLS
    for a in sorted(ANCHORS)
    if _usable(a, d) and ((n <= 10_000 and not (d == 32 and a == "sklearn")) or a == _fastest(d))
]


@pytest.mark.parametrize("n,d,anchor", RUNS)
def test_hdbscan_ratio(benchmark: Any, n: int, d: int, anchor: str) -> None:
    X = blobs(n, d)
    fn = ANCHORS[anchor]
    a, b = ours(X), fn(X)
    assert sklearn_metrics.adjusted_rand_score(a, b) >= 0.9
    ratio, rounds = paired_ratio(lambda: ours(X), lambda: fn(X), seconds=0.0, min_rounds=3 if n <= 50_000 else 1)
    benchmark.group = f"hdbscan n={n} d={d}"
    report(benchmark, f"diffclust / {anchor} (n={n}, d={d})", ratio, rounds)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)  # the ratio above is the result


ONE_THREAD = [(n, d, a) for n, d, a in ((10_000, 2, "fast_hdbscan"), (50_000, 2, "fast_hdbscan"),
                                         (10_000, 8, "fast_hdbscan"), (10_000, 8, "hdbscan"), (50_000, 8, "hdbscan"))
              if a in ANCHORS]


@pytest.mark.parametrize("n,d,anchor", ONE_THREAD)
def test_hdbscan_one_thread_ratio(benchmark: Any, n: int, d: int, anchor: str) -> None:
    """One thread each: ours with n_threads=1 / the anchor with numba's threads set to 1
    (fast_hdbscan) or core_dist_n_jobs=1 (hdbscan)."""
    X = blobs(n, d)

    def one() -> np.ndarray:
        return dc.hdbscan(X, min_cluster_size=MIN_CLUSTER_SIZE, min_samples=MIN_SAMPLES, n_threads=1).labels

    if anchor == "fast_hdbscan":
        import fast_hdbscan
        import numba

        def other() -> np.ndarray:
            before = numba.get_num_threads()
            numba.set_num_threads(1)
            try:
                return fast_hdbscan.HDBSCAN(min_cluster_size=MIN_CLUSTER_SIZE, min_samples=MIN_SAMPLES - 1).fit(X).labels_
            finally:
                numba.set_num_threads(before)
    else:
        import hdbscan

        def other() -> np.ndarray:
            return hdbscan.HDBSCAN(min_cluster_size=MIN_CLUSTER_SIZE, min_samples=MIN_SAMPLES - 1,
                                   core_dist_n_jobs=1).fit(X).labels_

    assert sklearn_metrics.adjusted_rand_score(one(), other()) >= 0.9
    ratio, rounds = paired_ratio(one, other, seconds=0.0, min_rounds=3)
    benchmark.group = f"hdbscan one thread n={n} d={d}"
    report(benchmark, f"diffclust / {anchor}, one thread each (n={n}, d={d})", ratio, rounds)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)


@pytest.mark.parametrize("n,d", [(10_000, 2), (50_000, 2), (10_000, 8), (50_000, 8)])
def test_tree_ratio(benchmark: Any, n: int, d: int) -> None:
    """The tree alone: automatic (Borůvka here) / Prim; the same edges bit for bit."""
    X = blobs(n, d)

    def tree(method: str) -> Any:
        return dens.mutual_reachability_edges(X, MIN_SAMPLES, "euclidean", 2, method=method)

    a, b = tree("auto"), tree("prim")
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    ratio, rounds = paired_ratio(lambda: tree("auto"), lambda: tree("prim"), seconds=0.0, min_rounds=3)
    benchmark.group = f"mutual-reachability tree n={n} d={d}"
    report(benchmark, f"auto (Boruvka) / Prim tree (n={n}, d={d})", ratio, rounds)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)


TIMED = [(n, lib) for n in (10_000, 30_000, 100_000) for lib in ("diffclust", *sorted(ANCHORS))
         if lib != "sklearn" or n <= 10_000]


@pytest.mark.parametrize("n,library", TIMED)
def test_hdbscan_time(benchmark: Any, n: int, library: str) -> None:
    """Plain timings at d = 2 (one round each) for the log-log plot."""
    X = blobs(n, 2)
    fn = ours if library == "diffclust" else ANCHORS[library]
    fn(X)  # warm up (numba compiles fast_hdbscan on its first call)
    benchmark.group = f"hdbscan d=2 n={n}"
    benchmark.extra_info["library"] = library
    benchmark.pedantic(lambda: fn(X), rounds=1, iterations=1)


PEAK = textwrap.dedent(
    """
    import numpy as np, diffclust as dc
    from sklearn.datasets import make_blobs

    def hwm():
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        import resource  # Linux: KiB; macOS: bytes
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    X = np.ascontiguousarray(make_blobs(n_samples={n}, n_features={d}, centers=10, random_state=0)[0])
    dc.hdbscan(X[:100], min_cluster_size=5)  # first-call allocations
    before = hwm()
    dc.hdbscan(X, min_cluster_size=25, min_samples=10)
    print(hwm() - before)
    """
)


@pytest.mark.parametrize("n,d", [(50_000, 2), (50_000, 8)])
def test_peak_memory(benchmark: Any, n: int, d: int) -> None:
    """The extra peak resident memory of one call, in a fresh process (no timing)."""
    out = subprocess.run([sys.executable, "-c", PEAK.format(n=n, d=d)], capture_output=True, text=True, check=True)
    extra = int(out.stdout.strip().splitlines()[-1])
    per_point = extra / n
    print(f"\npeak memory of hdbscan (n={n}, d={d}): +{extra / 2**20:.1f} MiB = {per_point:.0f} bytes per point "
          f"(X itself: {8 * d} bytes per point)")
    benchmark.group = f"hdbscan peak memory ({n} points, d={d})"  # no n= token: not a plot series
    benchmark.extra_info["peak_bytes"] = extra
    benchmark.extra_info["bytes_per_point"] = per_point
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
