"""k-means: diffclust against scikit-learn, same data, same initial centres.

pytest benchmarks/bench_kmeans.py --benchmark-only -s

Every ratio is ``paired_ratio(diffclust, scikit-learn)`` (time ours / time theirs,
< 1 means diffclust is faster), scikit-learn limited to one thread by
threadpoolctl and diffclust run with n_threads=1, unless the test says otherwise.

- per Lloyd iteration: both cores run 3 iterations (tol = 0) from the same centres
  on unclustered Gaussian data (so that nothing converges early), plus the final
  assignment and inertia both do: diffclust's ``_core.kmeans_lloyd_*`` (with its
  finiteness scan of X) against scikit-learn's ``_kmeans_single_lloyd``;
- whole fit: ``diffclust.kmeans`` against ``KMeans(init=C0, n_init=1,
  algorithm="lloyd").fit`` on clustered data, with diffclust's inertia checked
  to be at most scikit-learn's (1e-9 relative);
- k-means++: ``diffclust.kmeans_plusplus`` against ``sklearn.cluster.kmeans_plusplus``;
- threads: diffclust with 2 threads against itself with 1 (whole fit).

n = 200 000 (DIFFCLUST_BENCH_QUICK=1: 20 000), d in {16, 64}, k in {10, 100},
float64 and float32 (per-iteration), float64 (the rest).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from _paired import paired_ratio, report

import diffclust as dc
from diffclust import _core

sklearn_cluster = pytest.importorskip("sklearn.cluster")
threadpoolctl = pytest.importorskip("threadpoolctl")
from sklearn.cluster._kmeans import _kmeans_single_lloyd

N = 20_000 if os.environ.get("DIFFCLUST_BENCH_QUICK") else 200_000
SHAPES = [(16, 10), (16, 100), (64, 10), (64, 100)]
_cache: dict[tuple[str, int, str], np.ndarray] = {}


def data(kind: str, d: int, dtype: str) -> np.ndarray:
    key = (kind, d, dtype)
    if key not in _cache:
        rng = np.random.default_rng(d)
        if kind == "gauss":
            X = rng.standard_normal((N, d))
        else:
            C = 4.0 * rng.standard_normal((50, d))
            X = C[rng.integers(0, 50, N)] + rng.standard_normal((N, d))
        _cache[key] = np.ascontiguousarray(X, dtype=dtype)
    return _cache[key]


def ids(shape: tuple[int, int]) -> str:
    return f"d={shape[0]}-k={shape[1]}"


def one_thread(fn):  # type: ignore[no-untyped-def]
    def run():  # type: ignore[no-untyped-def]
        with threadpoolctl.threadpool_limits(1):
            return fn()

    return run


@pytest.mark.parametrize("shape", SHAPES, ids=ids)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_lloyd_iteration(benchmark, shape, dtype):
    d, k = shape
    benchmark.group = f"kmeans iteration {dtype} d={d} k={k}"
    X = data("gauss", d, dtype)
    C0 = X[np.random.default_rng(0).choice(N, k, replace=False)].copy()
    w = np.ones(N, dtype=dtype)
    ours = lambda: getattr(_core, f"kmeans_lloyd_{'f32' if dtype == 'float32' else 'f64'}")(X, None, C0, 3, 0.0, 1)
    theirs = one_thread(lambda: _kmeans_single_lloyd(X, w, C0.copy(), max_iter=3, tol=0.0, n_threads=1))
    ratio, rounds = paired_ratio(ours, theirs, seconds=1.0, min_rounds=4)
    report(benchmark, f"lloyd iteration {dtype} d={d} k={k} (ours / sklearn)", ratio, rounds)
    labels_ours = ours()[1]
    labels_theirs = theirs()[0]
    assert (labels_ours == labels_theirs).mean() > (0.99 if dtype == "float32" else 0.999)
    benchmark.pedantic(ours, rounds=1, iterations=1)


@pytest.mark.parametrize("shape", SHAPES, ids=ids)
def test_whole_fit(benchmark, shape):
    d, k = shape
    benchmark.group = f"kmeans fit d={d} k={k}"
    X = data("blobs", d, "float64")
    C0 = X[np.random.default_rng(1).choice(N, k, replace=False)].copy()
    ours = lambda: dc.kmeans(X, k, init=C0, n_threads=1)
    theirs = one_thread(lambda: sklearn_cluster.KMeans(k, init=C0, n_init=1, algorithm="lloyd").fit(X))
    ratio, rounds = paired_ratio(ours, theirs, seconds=1.0, min_rounds=2)
    report(benchmark, f"whole fit d={d} k={k} (ours / sklearn)", ratio, rounds)
    r, s = ours(), theirs()
    benchmark.extra_info["inertia_ours"] = r.inertia
    benchmark.extra_info["inertia_sklearn"] = s.inertia_
    assert r.inertia <= s.inertia_ * (1 + 1e-9)
    threads, rounds = paired_ratio(lambda: dc.kmeans(X, k, init=C0, n_threads=2), ours, seconds=1.0, min_rounds=2)
    report(benchmark, f"whole fit d={d} k={k} (2 threads / 1 thread)", threads, rounds)
    benchmark.pedantic(ours, rounds=1, iterations=1)


@pytest.mark.parametrize("shape", SHAPES, ids=ids)
def test_kmeans_plusplus(benchmark, shape):
    d, k = shape
    benchmark.group = f"kmeans++ d={d} k={k}"
    X = data("blobs", d, "float64")
    ours = lambda: dc.kmeans_plusplus(X, k, seed=0, n_threads=1)
    theirs = one_thread(lambda: sklearn_cluster.kmeans_plusplus(X, k, random_state=0))
    ratio, rounds = paired_ratio(ours, theirs, seconds=1.0, min_rounds=2)
    report(benchmark, f"k-means++ d={d} k={k} (ours / sklearn)", ratio, rounds)
    benchmark.pedantic(ours, rounds=1, iterations=1)
