"""k-medoids: diffclust's FasterPAM against kmedoids.fasterpam from the same BUILD init.

pytest benchmarks/bench_kmedoids.py --benchmark-only --benchmark-group-by=group

Both run on the same precomputed float64 dissimilarity matrix from the same
medoids (PAM BUILD, computed once and not timed). diffclust's time includes its
input check of the matrix (finite, non-negative, symmetric). kmedoids is timed
with n_cpu=1 (the same sequential eager algorithm) and with its default n_cpu=-1
(its parallel variant, a different search that may end at another loss).
"""

from __future__ import annotations

import numpy as np
import pytest

import diffclust as dc

kmedoids = pytest.importorskip("kmedoids")

CASES = [(5000, 10), (5000, 100), (10000, 10), (10000, 100)]
_cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, float]] = {}


def problem(n: int, k: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(D, BUILD medoids, kmedoids' sequential loss from them)."""
    if (n, k) not in _cache:
        for key in [key for key in _cache if key[0] != n]:
            del _cache[key]  # keep one n x n matrix alive at a time
        rng = np.random.default_rng(n)
        centers = rng.standard_normal((25, 8)) * 3
        X = centers[rng.integers(0, 25, size=n)] + rng.standard_normal((n, 8))
        D = dc.pairwise_distances(X, metric="euclidean")
        init = dc.kmedoids(D, k, metric="precomputed", max_iter=0).medoids.copy()
        theirs = kmedoids.fasterpam(D, init.copy(), max_iter=100, n_cpu=1)
        _cache[(n, k)] = (D, init, float(theirs.loss))
    return _cache[(n, k)]


def ids(case: tuple[int, int]) -> str:
    return f"n={case[0]}-k={case[1]}"


@pytest.mark.parametrize("case", CASES, ids=ids)
@pytest.mark.parametrize("n_threads", [1, 2])
def test_diffclust_fasterpam(benchmark, case, n_threads):
    n, k = case
    benchmark.group = f"kmedoids n={n} k={k}"
    D, init, their_loss = problem(n, k)
    res = benchmark.pedantic(
        dc.kmedoids, args=(D, k), kwargs={"metric": "precomputed", "init": init, "n_threads": n_threads}, rounds=3
    )
    benchmark.extra_info["loss"] = res.loss
    assert res.loss <= their_loss * (1 + 1e-9)


@pytest.mark.parametrize("case", CASES, ids=ids)
@pytest.mark.parametrize("n_cpu", [1, -1])
def test_kmedoids_fasterpam(benchmark, case, n_cpu):
    n, k = case
    benchmark.group = f"kmedoids n={n} k={k}"
    D, init, their_loss = problem(n, k)
    res = benchmark.pedantic(
        kmedoids.fasterpam, args=(D, init.copy()), kwargs={"max_iter": 100, "n_cpu": n_cpu}, rounds=3
    )
    benchmark.extra_info["loss"] = float(res.loss)
    if n_cpu == 1:
        assert res.loss == pytest.approx(their_loss, rel=1e-12)
