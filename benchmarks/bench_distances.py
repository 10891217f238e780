"""Pairwise distances: diffclust against NumPy's BLAS Gram trick, scikit-learn and SciPy.

pytest benchmarks/bench_distances.py --benchmark-only --benchmark-group-by=group
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.metrics import pairwise_distances as sk_pairwise

import diffclust as dc

SIZES = [2000, 4000]
THREADS = [1, 2]


def data(n: int, d: int) -> np.ndarray:
    return np.random.default_rng(n + d).standard_normal((n, d))


def numpy_gram(X: np.ndarray) -> np.ndarray:
    sq = (X * X).sum(axis=1)
    return np.maximum(sq[:, None] + sq[None, :] - 2.0 * (X @ X.T), 0.0)


def check(D: np.ndarray, X: np.ndarray) -> None:
    idx = np.random.default_rng(0).choice(X.shape[0], 64, replace=False)
    ref = cdist(X[idx], X, "sqeuclidean")
    np.testing.assert_allclose(D[idx], ref, rtol=1e-12, atol=1e-12 * 2 * (X * X).sum(1).max())


@pytest.mark.parametrize("d", [64, 8])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("n_threads", THREADS)
def test_diffclust_sqeuclidean(benchmark, n, d, n_threads):
    benchmark.group = f"pairwise sqeuclidean n={n} d={d}"
    X = data(n, d)
    D = benchmark(dc.pairwise_distances, X, metric="sqeuclidean", n_threads=n_threads)
    check(D, X)


@pytest.mark.parametrize("d", [64, 8])
@pytest.mark.parametrize("n", SIZES)
def test_numpy_gram_trick(benchmark, n, d):
    benchmark.group = f"pairwise sqeuclidean n={n} d={d}"
    X = data(n, d)
    D = benchmark(numpy_gram, X)
    check(D, X)


@pytest.mark.parametrize("d", [64, 8])
@pytest.mark.parametrize("n", SIZES)
def test_sklearn_sqeuclidean(benchmark, n, d):
    benchmark.group = f"pairwise sqeuclidean n={n} d={d}"
    X = data(n, d)
    D = benchmark(sk_pairwise, X, metric="sqeuclidean")
    check(D, X)


@pytest.mark.parametrize("metric", ["manhattan", "cosine"])
def test_diffclust_other_metrics(benchmark, metric):
    benchmark.group = f"pairwise {metric} n=2000 d=32"
    X = data(2000, 32)
    D = benchmark(dc.pairwise_distances, X, metric=metric)
    np.testing.assert_allclose(D[:50], sk_pairwise(X[:50], X, metric=metric), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("metric", ["manhattan", "cosine"])
def test_scipy_other_metrics(benchmark, metric):
    benchmark.group = f"pairwise {metric} n=2000 d=32"
    X = data(2000, 32)
    name = "cityblock" if metric == "manhattan" else metric
    D = benchmark(cdist, X, X, name)
    assert D.shape == (2000, 2000)


@pytest.mark.parametrize("metric", ["manhattan", "cosine"])
def test_sklearn_other_metrics(benchmark, metric):
    benchmark.group = f"pairwise {metric} n=2000 d=32"
    X = data(2000, 32)
    D = benchmark(sk_pairwise, X, metric=metric)
    assert D.shape == (2000, 2000)
