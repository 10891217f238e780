"""The in-memory k-forest of points by row blocks (method "blocks").

The block decomposition (block trees, every pair's cross edges, Kruskal) must give
the forest of the whole-array Prim bit for bit: edges, weights, labels and value,
for any block size and thread count. References: the Prim path (itself checked
against scipy and brute force in test_forests.py), and a brute-force Kruskal over
all pairs in NumPy on integer grids, where every distance is exact and ties abound.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import kruskal_pairs

import diffclust as dc
from diffclust import _ops

THREADS = (1, 2, 3, 7)
METRICS = ("sqeuclidean", "euclidean", "manhattan", "cosine")


def same(a: Any, b: Any) -> bool:
    labels_a, edges_a, weights_a, value_a = a
    labels_b, edges_b, weights_b, value_b = b
    return (np.array_equal(labels_a, labels_b) and np.array_equal(edges_a, edges_b)
            and weights_a.dtype == weights_b.dtype and weights_a.tobytes() == weights_b.tobytes()
            and np.float64(value_a).tobytes() == np.float64(value_b).tobytes())


def brute_kforest_edges(X: np.ndarray, k: int) -> np.ndarray:
    """Kruskal over all pairs, squared Euclidean, lighter first, ties by (i, j)."""
    n = len(X)
    D = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    ii, jj = np.triu_indices(n, 1)
    kept = kruskal_pairs(n, D[ii, jj], n - k)
    return np.array([(i, j) for i, j, _ in kept], dtype=np.int64).reshape(-1, 2)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blocks_equal_prim(metric: str, dtype: Any) -> None:
    rng = np.random.default_rng(3)
    inputs = (
        rng.standard_normal((400, 5)),
        rng.integers(0, 3, (300, 3)).astype(np.float64),  # many ties and duplicate points
        np.full((40, 2), 1.5),  # all points equal
    )
    for X in inputs:
        X = X.astype(dtype)
        # block = 1 (every point its own block: n^2 / 2 pair tasks) on the small input only
        blocks = (1, 7, 64, 10_000) if len(X) <= 50 else (7, 64, 10_000)
        for k in (1, 7, len(X)):
            ref = _ops.kforest_from_points(X, k, metric, 1, method="prim")
            for block in blocks:
                for threads in THREADS:
                    got = _ops.kforest_from_points(X, k, metric, threads, method="blocks", block=block)
                    assert same(got, ref), (X.shape, k, block, threads)


def test_blocks_against_brute_force_on_a_grid() -> None:
    rng = np.random.default_rng(5)
    X = rng.integers(0, 4, (120, 2)).astype(np.float64)
    for k in (1, 5):
        _labels, edges, weights, _value = _ops.kforest_from_points(X, k, "sqeuclidean", 2, method="blocks", block=16)
        ref = brute_kforest_edges(X, k)
        D = ((X[edges[:, 0]] - X[edges[:, 1]]) ** 2).sum(-1)
        assert np.array_equal(-weights, D)
        # the same multiset of weights as brute-force Kruskal (the forest is unique
        # under the strict order: the same edges too)
        brute_w = ((X[ref[:, 0]] - X[ref[:, 1]]) ** 2).sum(-1)
        assert np.array_equal(np.sort(-weights), np.sort(brute_w))
        assert {tuple(e) for e in edges.tolist()} == {tuple(e) for e in ref.tolist()}


def test_auto_uses_blocks_where_they_win_and_gives_prims_forest() -> None:
    # n (d + 4) * 8 bytes >= 5.2 MB at d >= 12: the automatic choice is the blocks
    X = np.random.default_rng(7).standard_normal((10_000, 64))
    ref = _ops.kforest_from_points(X, 10, "sqeuclidean", 2, method="prim")
    auto = dc.kforest_from_points(X, 10)
    assert same((auto.labels, auto.edges, auto.weights, auto.value), ref)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 60),
    d=st.integers(1, 4),
    block=st.integers(1, 70),
    k_frac=st.floats(0, 1),
    threads=st.sampled_from(THREADS),
    seed=st.integers(0, 2**32 - 1),
    grid=st.booleans(),
)
def test_blocks_property(n: int, d: int, block: int, k_frac: float, threads: int, seed: int, grid: bool) -> None:
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 3, (n, d)).astype(np.float64) if grid else rng.standard_normal((n, d))
    k = 1 + int(k_frac * (n - 1))
    ref = _ops.kforest_from_points(X, k, "euclidean", 1, method="prim")
    got = _ops.kforest_from_points(X, k, "euclidean", threads, method="blocks", block=block)
    assert same(got, ref)


def test_errors() -> None:
    X = np.zeros((5, 2))
    with pytest.raises(ValueError, match="method"):
        _ops.kforest_from_points(X, 1, "euclidean", 1, method="kruskal")
    with pytest.raises(ValueError, match="block"):
        _ops.kforest_from_points(X, 1, "euclidean", 1, method="blocks", block=-1)
    with pytest.raises(ValueError, match="NaN"):
        _ops.kforest_from_points(np.array([[0.0], [np.nan]]), 1, "euclidean", 1, method="blocks")
    with pytest.raises(ValueError, match="overflow"):
        _ops.kforest_from_points(np.array([[-1e300], [1e300]]), 1, "sqeuclidean", 1, method="blocks", block=1)
