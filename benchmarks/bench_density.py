"""HDBSCAN* beside scikit-learn's HDBSCAN, hdbscan and fast_hdbscan (paired ratios).

make_blobs with 10 centres, min_samples = 10 (counting the point itself, as
diffclust and scikit-learn do; the hdbscan and fast_hdbscan packages do not count
it, so they get min_samples = 9 for the same core distances), min_cluster_size = 25,
n = 10k and 50k, d = 2 and 8. Each cell reports time(diffclust) / time(anchor) from
paired rounds (benchmarks/_paired.py); at n = 50k only the fastest anchor. Every cell checks that the partitions agree (ARI >= 0.9: tied
mutual-reachability distances may order equal merges differently, see
tests/test_density.py).

Run: ``pytest benchmarks/bench_density.py --benchmark-only -s`` (under 2 minutes).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np
import pytest
from _paired import paired_ratio, report

import diffclust as dc

sklearn_cluster = pytest.importorskip("sklearn.cluster")
sklearn_datasets = pytest.importorskip("sklearn.datasets")
sklearn_metrics = pytest.importorskip("sklearn.metrics")

MIN_SAMPLES = 10
MIN_CLUSTER_SIZE = 25
CELLS = [(10_000, 2), (10_000, 8), (50_000, 2), (50_000, 8)]


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
# Every anchor at 10k; at 50k only the fastest one of the table (fast_hdbscan
# at d = 2, hdbscan at d = 8; scikit-learn takes 6-11 s per call there), so that the
# file stays near 2 minutes (a first fast_hdbscan call also compiles it with numba).
FASTEST = {2: "fast_hdbscan", 8: "hdbscan"}
RUNS = [
    (n, d, a)
    for n, d in CELLS
    for a in sorted(ANCHORS)
    if n <= 10_000 or a == FASTEST[d] or (FASTEST[d] not in ANCHORS and a == "sklearn")
]


@pytest.mark.parametrize("n,d,anchor", RUNS)
def test_hdbscan_ratio(benchmark: Any, n: int, d: int, anchor: str) -> None:
    X = blobs(n, d)
    fn = ANCHORS[anchor]
    a, b = ours(X), fn(X)
    assert sklearn_metrics.adjusted_rand_score(a, b) >= 0.9
    ratio, rounds = paired_ratio(lambda: ours(X), lambda: fn(X), seconds=0.0, min_rounds=3)
    benchmark.group = f"hdbscan n={n} d={d}"
    report(benchmark, f"diffclust / {anchor} (n={n}, d={d})", ratio, rounds)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)  # the ratio above is the result
