"""Silhouette: diffclust against scikit-learn, speed and peak memory.

pytest benchmarks/bench_silhouette.py --benchmark-only --benchmark-group-by=group

Peak memory is measured in a fresh subprocess per library (Linux): the peak
resident set is reset just before the call (``/proc/self/clear_refs``, data
already built, libraries imported and warmed up), and the peak extra memory is
``VmHWM`` after the call minus ``VmRSS`` before it. It counts every allocation,
NumPy's and the C++ core's alike.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import silhouette_samples as sk_samples

import diffclust as dc

K = 10
D_FEATURES = 32


def data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(n)
    centers = rng.standard_normal((K, D_FEATURES)) * 2
    labels = rng.integers(0, K, size=n)
    return centers[labels] + rng.standard_normal((n, D_FEATURES)), labels


_reference: dict[int, np.ndarray] = {}


def reference(n: int) -> np.ndarray:
    if n not in _reference:
        X, labels = data(n)
        _reference[n] = sk_samples(X, labels)
    return _reference[n]


@pytest.mark.parametrize("n", [5000, 20000])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_diffclust_silhouette(benchmark, n, n_threads):
    benchmark.group = f"silhouette n={n} d={D_FEATURES} k={K}"
    X, labels = data(n)
    s = benchmark.pedantic(dc.silhouette_samples, args=(X, labels), kwargs={"n_threads": n_threads}, rounds=3, warmup_rounds=1)
    np.testing.assert_allclose(s, reference(n), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n", [5000, 20000])
def test_sklearn_silhouette(benchmark, n):
    benchmark.group = f"silhouette n={n} d={D_FEATURES} k={K}"
    X, labels = data(n)
    s = benchmark.pedantic(sk_samples, args=(X, labels), rounds=3 if n <= 5000 else 2)
    _reference[n] = s


_MEASURE = """
import json, sys
sys.path.insert(0, {bench_dir!r})
from bench_silhouette import data
import diffclust as dc
from sklearn.metrics import silhouette_samples


def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))  # kB


X, labels = data({n})
fn = dc.silhouette_samples if {which!r} == "diffclust" else silhouette_samples
fn(X[:2000], labels[:2000])  # warm up (imports, thread start-up)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak resident set (VmHWM) to the current one
before = status("VmRSS:")
fn(X, labels)
print(json.dumps({{"peak_extra_mb": (status("VmHWM:") - before) / 1024}}))
"""


def peak_extra_mb(which: str, n: int) -> float:
    import os

    code = _MEASURE.format(bench_dir=os.path.dirname(__file__), n=n, which=which)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(json.loads(out.strip().splitlines()[-1])["peak_extra_mb"])


@pytest.mark.parametrize("which", ["diffclust", "sklearn"])
def test_peak_memory_n20000(benchmark, which):
    """Peak extra memory (MB) of one call at n = 20000, recorded in extra_info."""
    benchmark.group = "silhouette peak memory n=20000 (time = subprocess wall time)"
    result = benchmark.pedantic(peak_extra_mb, args=(which, 20000), rounds=1)
    benchmark.extra_info["peak_extra_mb"] = result
    print(f"\n{which}: peak extra memory {result:.1f} MB")
    if which == "diffclust":
        assert result < 50.0
