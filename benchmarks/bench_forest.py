"""Exact k-forests (single linkage) beside scipy, fastcluster and scikit-learn.

Two scenarios on ``make_blobs`` data (d = 16, 5 centres), same data, same run:

* ``dense``: distances precomputed outside the timed region. diffclust gets
  ``S = -D`` (n x n); scipy and fastcluster get the condensed ``pdist`` vector;
  scikit-learn gets ``D`` with ``metric="precomputed"``.
* ``points``: end to end from the points. diffclust ``kforest_from_points``
  (euclidean) against ``fastcluster.linkage_vector`` and scikit-learn
  ``AgglomerativeClustering(linkage="single")`` on X.

Every benchmark checks its partition against scipy's (adjusted Rand index 1).
``test_peak_memory_from_points`` measures the peak resident-memory growth of
one call in a fresh subprocess and checks that it is O(n d).

Run: ``pytest benchmarks/bench_forest.py --benchmark-only --benchmark-group-by=group``
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap
from typing import Any, Callable

import numpy as np
import pytest

import diffclust as dc

scipy_hierarchy = pytest.importorskip("scipy.cluster.hierarchy")
scipy_distance = pytest.importorskip("scipy.spatial.distance")
fastcluster = pytest.importorskip("fastcluster")
sklearn_cluster = pytest.importorskip("sklearn.cluster")
sklearn_datasets = pytest.importorskip("sklearn.datasets")
sklearn_metrics = pytest.importorskip("sklearn.metrics")

SIZES = (1000, 2000, 4000, 8000)
THREADS = (1, 2)
D_FEATURES = 16
K = 5


def _rounds(n: int, slow: bool = False) -> int:
    """Timed rounds per benchmark: enough for a median, few for the slow anchors."""
    if slow:
        return 1 if n >= 8000 else 3
    return {1000: 15, 2000: 9, 4000: 7}.get(n, 5)


@functools.cache
def _data(n: int) -> dict[str, Any]:
    X, _ = sklearn_datasets.make_blobs(
        n_samples=n, n_features=D_FEATURES, centers=K, random_state=0
    )
    X = np.ascontiguousarray(X, dtype=np.float64)
    condensed = scipy_distance.pdist(X)
    D = scipy_distance.squareform(condensed)
    ref = scipy_hierarchy.fcluster(
        scipy_hierarchy.linkage(condensed, "single"), K, criterion="maxclust"
    )
    return {"X": X, "condensed": condensed, "D": D, "S": -D, "reference": ref}


def _check(labels: Any, n: int) -> None:
    ref = _data(n)["reference"]
    assert np.unique(labels).size == K
    assert sklearn_metrics.adjusted_rand_score(ref, labels) == 1.0


def _run(benchmark: Any, fn: Callable[[], Any], n: int, *, slow: bool = False) -> Any:
    return benchmark.pedantic(fn, rounds=_rounds(n, slow), iterations=1, warmup_rounds=1)


# ---------------------------------------------------------------------------
# (a) distances precomputed


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("n_threads", THREADS)
def test_dense_diffclust(benchmark: Any, n: int, n_threads: int) -> None:
    benchmark.group = f"dense n={n}"
    benchmark.extra_info.update(library="diffclust", n=n, n_threads=n_threads)
    S = _data(n)["S"]
    forest = _run(benchmark, lambda: dc.kforest(S, K, n_threads=n_threads), n)
    _check(forest.labels, n)


@pytest.mark.parametrize("n", SIZES)
def test_dense_scipy(benchmark: Any, n: int) -> None:
    benchmark.group = f"dense n={n}"
    benchmark.extra_info.update(library="scipy", n=n)
    c = _data(n)["condensed"]

    def run() -> Any:
        return scipy_hierarchy.fcluster(
            scipy_hierarchy.linkage(c, "single"), K, criterion="maxclust"
        )

    _check(_run(benchmark, run, n), n)


@pytest.mark.parametrize("n", SIZES)
def test_dense_fastcluster(benchmark: Any, n: int) -> None:
    benchmark.group = f"dense n={n}"
    benchmark.extra_info.update(library="fastcluster", n=n)
    c = _data(n)["condensed"]

    def run() -> Any:
        return scipy_hierarchy.fcluster(fastcluster.linkage(c, "single"), K, criterion="maxclust")

    _check(_run(benchmark, run, n), n)


@pytest.mark.parametrize("n", SIZES)
def test_dense_sklearn(benchmark: Any, n: int) -> None:
    benchmark.group = f"dense n={n}"
    benchmark.extra_info.update(library="sklearn", n=n)
    D = _data(n)["D"]

    def run() -> Any:
        model = sklearn_cluster.AgglomerativeClustering(
            n_clusters=K, linkage="single", metric="precomputed"
        )
        return model.fit_predict(D)

    _check(_run(benchmark, run, n, slow=True), n)


# ---------------------------------------------------------------------------
# (b) end to end from the points


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("n_threads", THREADS)
def test_points_diffclust(benchmark: Any, n: int, n_threads: int) -> None:
    benchmark.group = f"points n={n}"
    benchmark.extra_info.update(library="diffclust", n=n, n_threads=n_threads)
    X = _data(n)["X"]
    forest = _run(
        benchmark,
        lambda: dc.kforest_from_points(X, K, metric="euclidean", n_threads=n_threads),
        n,
    )
    _check(forest.labels, n)


@pytest.mark.parametrize("n", SIZES)
def test_points_fastcluster(benchmark: Any, n: int) -> None:
    benchmark.group = f"points n={n}"
    benchmark.extra_info.update(library="fastcluster.linkage_vector", n=n)
    X = _data(n)["X"]

    def run() -> Any:
        return scipy_hierarchy.fcluster(
            fastcluster.linkage_vector(X, "single"), K, criterion="maxclust"
        )

    _check(_run(benchmark, run, n), n)


@pytest.mark.parametrize("n", SIZES)
def test_points_sklearn(benchmark: Any, n: int) -> None:
    benchmark.group = f"points n={n}"
    benchmark.extra_info.update(library="sklearn", n=n)
    X = _data(n)["X"]

    def run() -> Any:
        model = sklearn_cluster.AgglomerativeClustering(n_clusters=K, linkage="single")
        return model.fit_predict(X)

    _check(_run(benchmark, run, n, slow=True), n)


# ---------------------------------------------------------------------------
# Peak memory from points, in a fresh interpreter per measurement.

_MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    n, d, lib = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    X = np.random.default_rng(0).standard_normal((n, d))
    if lib == "diffclust":
        import diffclust as dc
        run = lambda: dc.kforest_from_points(X, 5, metric="euclidean", n_threads=1)
    elif lib == "fastcluster.linkage_vector":
        import fastcluster
        run = lambda: fastcluster.linkage_vector(X, "single")
    else:
        from scipy.cluster.hierarchy import linkage
        from scipy.spatial.distance import pdist
        run = lambda: linkage(pdist(X), "single")
    small = X[:50].copy()
    X, full = small, X
    run()  # load everything once on a small input
    X = full
    def status(field):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    try:  # reset the high-water mark to the current RSS (Linux >= 4.0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    rss_before = status("VmRSS")
    run()
    peak = status("VmHWM")
    print(json.dumps({"delta_bytes": max(0, peak - rss_before)}))
    """
)


def _peak_delta(n: int, lib: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, str(n), str(D_FEATURES), lib],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "DIFFCLUST_NUM_THREADS": "1"},
    )
    return int(json.loads(out.stdout.strip().splitlines()[-1])["delta_bytes"])


@pytest.mark.parametrize("lib", ["diffclust", "fastcluster.linkage_vector", "scipy"])
def test_peak_memory_from_points(lib: str) -> None:
    """Peak RSS growth of one from-points call; diffclust's must be O(n d).

    Not a timing benchmark, so ``--benchmark-only`` skips it: run it with
    ``pytest benchmarks/bench_forest.py -k peak_memory -s``.
    """
    deltas = {n: _peak_delta(n, lib) for n in SIZES}
    print(f"\npeak RSS growth, {lib} (d={D_FEATURES}): "
          + ", ".join(f"n={n}: {v / 2**20:.2f} MiB" for n, v in deltas.items()))
    if lib == "diffclust":
        for n, v in deltas.items():
            # a few copies of X (n d doubles each) at most, never n^2
            assert v <= 16 * n * D_FEATURES * 8 + 8 * 2**20, (n, v)
        assert deltas[8000] < 8000 * 8000 * 8 // 16
