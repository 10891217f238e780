"""HDBSCAN*'s hierarchy from a fixed tree: compiled condensing against its Python reference.

make_blobs with 10 centres, n = 50 000, d = 2, min_samples = 10,
min_cluster_size = 25. The mutual-reachability tree is computed once; each cell
times the steps after it (single linkage, condensing, selection, GLOSH). Cells:
- compiled / Python reference (density/condense.hpp against _density_tree's
  single_linkage_py and condense_py), the same arrays bit for bit;
- compiled hierarchy / the tree's own time (how much of hdbscan() it is).

Run: ``pytest benchmarks/bench_condense.py --benchmark-only -s`` (under a minute).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest
from _paired import paired_ratio, report

from diffclust import _density_tree as dt
from diffclust._ops import density as ops

sklearn_datasets = pytest.importorskip("sklearn.datasets")

N, D, MIN_SAMPLES, MIN_CLUSTER_SIZE = 50_000, 2, 10, 25


@functools.cache
def tree() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, _ = sklearn_datasets.make_blobs(n_samples=N, n_features=D, centers=10, random_state=0)
    X = np.ascontiguousarray(X)
    _, order, parent, dist = ops.mutual_reachability_tree(X, MIN_SAMPLES, "euclidean", 2)
    i, j, w = dt.sorted_edges(order, parent, dist)
    return X, i, j, w


def hierarchy(compiled: bool) -> np.ndarray:
    _, i, j, w = tree()
    Z = (dt.single_linkage if compiled else dt.single_linkage_py)(N, i, j, w)
    t = (dt.condense if compiled else dt.condense_py)(Z, N, MIN_CLUSTER_SIZE)
    labels, _, _, _ = dt.select_clusters(t, N, "eom", 0.0, False)
    dt.glosh(t, N)
    return labels


@pytest.mark.benchmark(group="condense")
def test_compiled_against_python(benchmark: Any) -> None:
    assert np.array_equal(hierarchy(True), hierarchy(False))
    ratio, rounds = paired_ratio(lambda: hierarchy(True), lambda: hierarchy(False), seconds=10.0, min_rounds=5)
    report(benchmark, "hierarchy, compiled / Python reference (n = 50k)", ratio, rounds)
    benchmark.pedantic(hierarchy, args=(True,), rounds=3, iterations=1)


@pytest.mark.benchmark(group="condense")
def test_hierarchy_against_tree(benchmark: Any) -> None:
    X = tree()[0]
    ratio, rounds = paired_ratio(
        lambda: hierarchy(True),
        lambda: ops.mutual_reachability_tree(X, MIN_SAMPLES, "euclidean", 2),
        seconds=10.0,
        min_rounds=3,
    )
    report(benchmark, "hierarchy (compiled) / mutual-reachability tree (n = 50k, 2 threads)", ratio, rounds)
    benchmark.pedantic(hierarchy, args=(True,), rounds=3, iterations=1)
