"""The block functions of :mod:`diffclust.dask`: plain functions of NumPy arrays.

Each is one task of a Dask graph (and can be called, and tested, without a
scheduler). Edge lists travel as a pair ``(edges, weights)``: an int64 array
(m, 2) of global point indices and a float64 array (m,) of weights
``-d(x_i, x_j)``, heaviest first.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _core
from ._ops._common import ForestArrays
from ._ops.forests import _forest
from ._validation import core_fn

__all__ = [
    "add_ranges", "block_tree", "finish_forest", "finish_perturbed", "merge_edges", "pair_edges",
    "perturbed_range", "vjp_coefficients", "vjp_rows",
]

EdgeList = tuple[NDArray[np.int64], NDArray[np.float64]]


def block_tree(X: NDArray[Any], offset: int, metric: str) -> EdgeList:
    """The maximum spanning tree of the row block ``X`` whose first row is point ``offset``."""
    X = np.ascontiguousarray(X)
    edges, weights = core_fn("block_tree_points", X.dtype)(X, offset, metric)
    return edges, weights


def pair_edges(
    XA: NDArray[Any], offset_a: int, XB: NDArray[Any], offset_b: int, metric: str,
    tree_a: EdgeList, tree_b: EdgeList, max_edges: int,
) -> EdgeList:
    """The spanning-tree edges between row blocks ``XA`` and ``XB`` (given their block trees)."""
    XA, XB = np.ascontiguousarray(XA), np.ascontiguousarray(XB)
    fn = core_fn("pair_cross_edges", XA.dtype)
    edges, weights = fn(XA, offset_a, XB.astype(XA.dtype, copy=False), offset_b, metric,
                        *tree_a, *tree_b, max_edges)
    return edges, weights


def merge_edges(*pieces: EdgeList, max_edges: int) -> EdgeList:
    """Kruskal over the union of edge lists: at most ``max_edges`` forest edges, heaviest first."""
    edges = np.concatenate([np.asarray(e, dtype=np.int64).reshape(-1, 2) for e, _ in pieces])
    weights = np.concatenate([np.asarray(w, dtype=np.float64).reshape(-1) for _, w in pieces])
    out_edges, out_weights = _core.kruskal_edges(edges, weights, max_edges)
    return out_edges, out_weights


def finish_forest(piece: EdgeList, n: int, k: int, dtype: Any) -> ForestArrays:
    """(labels, edges, weights, value) of the k-forest from its n - k edges, as the in-memory call."""
    edges, weights = piece
    out = _core.kforest_from_edges_f64(np.asarray(edges).reshape(-1, 2), weights, n, k)
    return _forest(out, np.dtype(dtype))


# --------------------------------------------------------------------------- perturbed forests

RangeCounts = tuple[Any, Any, list[NDArray[np.float64]], int]  # A counts, M counts, values, n_repaired


def perturbed_range(
    S: NDArray[Any], k: int, sigma: float, seed: int, first: int, count: int,
    constraints: tuple[Any, Any, Any], refine: bool,
) -> RangeCounts:
    """Samples [first, first + count): integer counts of A and M (upper triangles), values."""
    fn = core_fn("perturbed_kforest_range", S.dtype)
    A, M, values, n_repaired = fn(S, k, sigma, seed, first, count, *constraints, refine, True, True, 1)
    return A, M, [values], int(n_repaired)


def add_ranges(*parts: RangeCounts) -> RangeCounts:
    """Counts of consecutive ranges added exactly (uint64); values kept in sample order."""
    A = parts[0][0].copy()
    M = parts[0][1].copy()
    values: list[NDArray[np.float64]] = list(parts[0][2])
    repaired = parts[0][3]
    for a, m, v, r in parts[1:]:
        A += a
        M += m
        values.extend(v)
        repaired += r
    return A, M, values, repaired


def _estimate(counts: NDArray[np.uint64], n_samples: int, dtype: Any, diagonal: float) -> NDArray[Any]:
    upper = np.triu(counts, 1).astype(np.float64) / float(n_samples)
    out = (upper + upper.T).astype(dtype)
    np.fill_diagonal(out, diagonal)
    return out


def finish_perturbed(total: RangeCounts, n_samples: int, dtype: Any) -> tuple[Any, ...]:
    """(A_eps, M_eps, F_eps, None, None, n_repaired) as ``_ops.perturbed_kforest`` returns them."""
    A, M, values, repaired = total
    F = 0.0
    for block in values:  # the samples' values summed in sample order, as the kernel does
        for v in block.tolist():
            F += v
    F /= float(n_samples)
    dt = np.dtype(dtype)
    return _estimate(A, n_samples, dt, 0.0), _estimate(M, n_samples, dt, 1.0), float(F), None, None, repaired


def vjp_coefficients(
    S: NDArray[Any], k: int, VA: Any, VM: Any, sigma: float, seed: int, first: int, count: int,
    constraints: tuple[Any, Any, Any], refine: bool, control_variate: bool,
) -> tuple[NDArray[np.float64], float]:
    """Samples [first, first + count): the VJP coefficients and the control variate's reference."""
    fn = core_fn("perturbed_vjp_coefficients", S.dtype)
    coef, reference = fn(S, k, VA, VM, sigma, seed, first, count, *constraints, refine, control_variate, 1)
    return coef, float(reference)


def vjp_rows(seed: int, n: int, row0: int, row1: int, coef: NDArray[np.float64], scale: float, dtype: Any) -> Any:
    """Rows [row0, row1) of the VJP's gradient: the noise weighted by the coefficients, times scale."""
    rows = _core.perturbed_vjp_rows(seed, n, row0, row1, coef)
    return (rows * scale).astype(np.dtype(dtype))
