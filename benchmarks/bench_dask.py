"""diffclust.dask.kforest_from_points against the in-memory call, on one machine.

n = 20 000 points in d = 8, the dask array cut into 4 row blocks (4 block trees,
6 pair tasks, Kruskal merges), run by Dask's default threaded scheduler; the
in-memory call uses every core too. The paired ratio (benchmarks/_paired.py)
is time(dask) / time(in memory); both give the same forest bit for bit, which
the benchmark asserts.

Run: ``pytest benchmarks/bench_dask.py --benchmark-only -s``
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _paired import paired_ratio, report

import diffclust as dc

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
ddc = pytest.importorskip("diffclust.dask")

N, D, K, BLOCKS = 20_000, 8, 10, 4


def test_dask_vs_in_memory(benchmark: Any) -> None:
    benchmark.group = f"dask kforest_from_points n={N} d={D}"
    X = np.random.default_rng(0).standard_normal((N, D))
    dX = da.from_array(X, chunks=(N // BLOCKS, D))
    with dask.config.set(scheduler="threads"):
        got = ddc.kforest_from_points(dX, K)
        expected = dc.kforest_from_points(X, K)
        assert np.array_equal(got.edges, expected.edges) and np.array_equal(got.labels, expected.labels)
        assert got.weights.tobytes() == expected.weights.tobytes() and got.value == expected.value
        ratio, rounds = paired_ratio(lambda: ddc.kforest_from_points(dX, K),
                                     lambda: dc.kforest_from_points(X, K), seconds=20.0, min_rounds=5)
        report(benchmark, f"dask ({BLOCKS} row blocks, threads) / in memory", ratio, rounds)
        benchmark.pedantic(lambda: ddc.kforest_from_points(dX, K), rounds=1, iterations=1)
