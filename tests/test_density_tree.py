"""The mutual-reachability spanning tree by kd-tree Borůvka and by Prim.

References: a brute-force Kruskal in NumPy over every pair under the strict order
(lighter d_mr first, ties by the pair), on integer grids where every distance is
exact; and the Prim path bit for bit (the tree is unique under the strict order).
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
from diffclust._ops import density as dens

THREADS = (1, 2, 3, 7)
METRICS = ("euclidean", "sqeuclidean", "manhattan")


def brute_tree(X: np.ndarray, min_samples: int, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kruskal over all pairs of d_mr, ties by (i, j): (i, j, d) lightest first."""
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    diff = X[:, None, :] - X[None, :, :]
    if metric == "manhattan":
        D = np.abs(diff).sum(-1)
    else:
        D = (diff**2).sum(-1)
        if metric == "euclidean":
            D = np.sqrt(D)
    core = np.sort(D, axis=1)[:, min_samples - 1]
    M = np.maximum(D, np.maximum(core[:, None], core[None, :]))
    ii, jj = np.triu_indices(n, 1)
    out = kruskal_pairs(n, M[ii, jj])
    if not out:
        return np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0)
    i, j, d = zip(*out)
    return np.array(i), np.array(j), np.array(d)


def grid(rng: np.random.Generator, n: int, d: int, levels: int = 5) -> np.ndarray:
    return rng.integers(0, levels, (n, d)).astype(np.float64)


def same_bits(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


GRID_SHAPES = [
    (n, d, ms) for n, d in [(1, 2), (2, 1), (3, 2), (40, 1), (120, 2), (200, 3)] for ms in (1, 2, 6) if ms <= n
]


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("n, d, min_samples", GRID_SHAPES)
def test_edges_match_brute_force_on_grids(metric: str, n: int, d: int, min_samples: int) -> None:
    rng = np.random.default_rng(n * 31 + d)
    X = grid(rng, n, d)
    ri, rj, rd = brute_tree(X, min_samples, metric)
    for method, block in (("boruvka", 0), ("prim", 0), ("blocks", 7), ("blocks", 64)):
        _core, i, j, dist = dens.mutual_reachability_edges(X, min_samples, metric, 2, method=method, block=block)
        assert np.array_equal(i, ri) and np.array_equal(j, rj)
        assert np.array_equal(dist, rd)  # integer grids: every distance is exact


def _cases() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(3)
    blobs = np.concatenate([rng.normal(c, 0.3, (300, 2)) for c in (0.0, 4.0, 9.0)])
    return [
        ("normal-2d", rng.standard_normal((700, 2))),
        ("normal-5d", rng.standard_normal((500, 5))),
        ("blobs", blobs),
        ("grid-ties", grid(rng, 900, 2, levels=8)),
        ("duplicates", np.repeat(rng.standard_normal((60, 3)), 7, axis=0)),
        ("all-equal", np.full((300, 2), 1.5)),
        ("line", np.arange(500, dtype=np.float64)[:, None]),
        # high d: the kd-tree's boxes separate little, the last pass over pairs of
        # components does most of the work; grids: ties everywhere
        ("normal-24d", rng.standard_normal((400, 24))),
        ("blobs-40d", np.concatenate([rng.normal(c, 1.0, (130, 40)) for c in (0.0, 3.0, 8.0, 20.0)])),
        ("grid-12d", grid(rng, 500, 12, levels=3)),
    ]


@pytest.mark.parametrize("name, X", _cases(), ids=[c[0] for c in _cases()])
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("min_samples", [1, 5])
def test_boruvka_equals_prim_bit_for_bit(name: str, X: np.ndarray, metric: str, min_samples: int) -> None:
    ref = dens.mutual_reachability_edges(X, min_samples, metric, 1, method="prim")
    for threads in THREADS:
        got = dens.mutual_reachability_edges(X, min_samples, metric, threads, method="boruvka")
        for a, b in zip(got, ref):
            assert same_bits(a, b), (name, threads)


@pytest.mark.parametrize("name, X", _cases(), ids=[c[0] for c in _cases()])
@pytest.mark.parametrize("metric", (*METRICS, "cosine"))
@pytest.mark.parametrize("min_samples", [1, 5])
def test_row_blocks_equal_prim_bit_for_bit(name: str, X: np.ndarray, metric: str, min_samples: int) -> None:
    ref = dens.mutual_reachability_edges(X, min_samples, metric, 1, method="prim")
    for block, threads in ((7, 1), (37, 2), (128, 3), (256, 7), (10_000, 2)):
        got = dens.mutual_reachability_edges(X, min_samples, metric, threads, method="blocks", block=block)
        for a, b in zip(got, ref):
            assert same_bits(a, b), (name, block, threads)


def test_hdbscan_at_a_size_where_auto_takes_the_row_blocks() -> None:
    # n (d + 4) * 8 bytes >= 5.2 MB at d >= 12: the automatic tree is the row blocks'
    rng = np.random.default_rng(12)
    X = np.concatenate([rng.normal(10.0 * c, 1.0, (2_500, 64)) for c in range(4)])
    ref = dens.mutual_reachability_edges(X, 10, "euclidean", 2, method="prim")
    auto = dens.mutual_reachability_edges(X, 10, "euclidean", 2)
    for a, b in zip(auto, ref):
        assert same_bits(a, b)


def test_float32_input_gives_the_float64_kernels_answer_on_the_same_values() -> None:
    X = np.random.default_rng(8).standard_normal((800, 3)).astype(np.float32)
    a = dens.mutual_reachability_edges(X, 4, "euclidean", 2, method="boruvka")
    b = dens.mutual_reachability_edges(X.astype(np.float64), 4, "euclidean", 2, method="prim")
    for u, v in zip(a, b):
        assert same_bits(u, v)


def test_edges_match_prims_visit_tree() -> None:
    X = np.random.default_rng(4).standard_normal((600, 2))
    core, order, parent, dist = dens.mutual_reachability_tree(X, 7, "euclidean", 2)
    c2, i, j, d2 = dens.mutual_reachability_edges(X, 7, "euclidean", 2)
    assert same_bits(core, c2)
    child = order[1:]
    lo, hi = np.minimum(child, parent), np.maximum(child, parent)
    idx = np.lexsort((hi, lo, dist))
    assert np.array_equal(lo[idx], i) and np.array_equal(hi[idx], j) and same_bits(dist[idx], d2)


@pytest.mark.parametrize("k", [1, 2, 7])
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kforest_from_points_methods_agree(k: int, metric: str, dtype: Any) -> None:
    rng = np.random.default_rng(k)
    for X in (rng.standard_normal((900, 2)), grid(rng, 700, 2), np.full((50, 3), 2.0)):
        X = X.astype(dtype)
        ref = _ops.kforest_from_points(X, k, metric, 1, method="prim")
        for threads in THREADS:
            got = _ops.kforest_from_points(X, k, metric, threads, method="boruvka")
            for a, b in zip(got, ref):
                assert same_bits(a, b)
        auto = dc.kforest_from_points(X, k, metric=metric)
        assert same_bits(auto.labels, ref[0]) and same_bits(auto.edges, ref[1])


@pytest.mark.parametrize("n", [1, 2])
def test_tiny_inputs(n: int) -> None:
    X = np.arange(2 * n, dtype=np.float64).reshape(n, 2)
    for method in ("boruvka", "prim"):
        core, i, j, d = dens.mutual_reachability_edges(X, 1, "euclidean", 3, method=method)
        assert core.shape == (n,) and i.shape == j.shape == d.shape == (n - 1,)
        labels, edges, _w, _value = _ops.kforest_from_points(X, 1, "euclidean", 3, method=method)
        assert labels.tolist() == [0] * n and edges.shape == (n - 1, 2)


def test_errors_name_the_argument() -> None:
    X = np.zeros((5, 2))
    with pytest.raises(ValueError, match="method"):
        dens.mutual_reachability_edges(X, 2, "euclidean", 1, method="kruskal")
    with pytest.raises(ValueError, match="Boruvka"):
        dens.mutual_reachability_edges(X, 2, "cosine", 1, method="boruvka")
    with pytest.raises(ValueError, match="method"):
        _ops.kforest_from_points(X, 1, "euclidean", 1, method="nope")
    with pytest.raises(ValueError, match="Boruvka"):
        _ops.kforest_from_points(X, 1, "cosine", 1, method="boruvka")
    with pytest.raises(ValueError, match="min_samples"):
        dens.mutual_reachability_edges(X, 6, "euclidean", 1)
    with pytest.raises(ValueError, match="X"):
        dens.mutual_reachability_edges(np.array([[0.0, np.nan]] * 3), 2, "euclidean", 1)


def test_cosine_auto_uses_prim() -> None:
    X = np.random.default_rng(0).standard_normal((300, 3))
    a = dens.mutual_reachability_edges(X, 3, "cosine", 2)
    b = dens.mutual_reachability_edges(X, 3, "cosine", 2, method="prim")
    for u, v in zip(a, b):
        assert same_bits(u, v)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 60),
    d=st.integers(1, 3),
    levels=st.integers(1, 6),
    ms=st.integers(1, 6),
    metric=st.sampled_from(METRICS),
    seed=st.integers(0, 2**31),
)
def test_hypothesis_grids(n: int, d: int, levels: int, ms: int, metric: str, seed: int) -> None:
    ms = min(ms, n)
    X = grid(np.random.default_rng(seed), n, d, levels)
    ri, rj, rd = brute_tree(X, ms, metric)
    _core, i, j, dist = dens.mutual_reachability_edges(X, ms, metric, 3, method="boruvka")
    assert np.array_equal(i, ri) and np.array_equal(j, rj) and np.array_equal(dist, rd)
