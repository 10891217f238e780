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

from .. import _core
from .._validation import core_fn
from ._common import ForestArrays
from .forests import _forest

__all__ = [
    "KMEANS_CHUNK_ROWS", "add_ranges", "block_tree", "centroid_spread_chunks", "chunk_size", "cluster_sums_chunks",
    "column_sums", "finish_forest", "finish_perturbed", "kmeans_candidates", "kmeans_final_block",
    "kmeans_lloyd_block", "merge_edges", "pair_edges", "pairwise_sum", "perturbed_range", "sequential_sum",
    "sq_dist_rows", "squared_deviations", "vjp_coefficients", "vjp_rows",
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


# --------------------------------------------------------------------------- k-means

# kmeans_detail::chunk_rows (csrc/include/diffclust/cluster/kmeans.hpp): the
# in-memory Lloyd kernel sums each chunk of this many rows in row order and folds
# the chunks in chunk order; Dask blocks start at multiples of it.
KMEANS_CHUNK_ROWS = 2048

KMeansStats = tuple[int, NDArray[np.float64], NDArray[np.float64]]  # changed, sums (c, k, d), weights (c, k)


def _block_pass(X: NDArray[Any], w: Any, centers: NDArray[Any], labels: Any, assign: bool, sums: bool,
                inertia: bool, distances: bool) -> tuple[Any, ...]:
    X = np.ascontiguousarray(X)
    C = np.ascontiguousarray(centers, dtype=X.dtype)
    out: tuple[Any, ...] = core_fn("kmeans_block_pass", X.dtype)(X, w, C, labels, assign, sums, inertia, distances)
    return out


def kmeans_lloyd_block(X: NDArray[Any], w: Any, centers: NDArray[Any], previous: Any) -> tuple[Any, KMeansStats]:
    """One Lloyd assignment of a row block: (labels, (changed, per-chunk sums, per-chunk weights))."""
    labels, changed, sums, weights, _, _ = _block_pass(X, w, centers, previous, True, True, False, False)
    return labels, (int(changed), sums, weights)


def kmeans_final_block(X: NDArray[Any], w: Any, centers: NDArray[Any], labels: Any, assign: bool) -> tuple[Any, Any]:
    """(labels, per-chunk inertia) of a row block for the final centres (assigned or kept)."""
    out, _, _, _, inertia, _ = _block_pass(X, w, centers, labels, assign, False, True, False)
    return out, inertia


def kmeans_candidates(
    X: NDArray[Any], w: Any, centers: NDArray[Any], labels: Any, offset: int, m: int
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[Any], int]:
    """The block's first ``m`` relocation candidates in the kernel's order.

    Points of positive weight ordered by their squared distance to their own
    centre, largest first, smaller global index on ties: (distances, global
    indices, labels, weights, rows of X, number of points of positive weight).
    """
    X = np.ascontiguousarray(X)
    _, _, _, _, _, dist = _block_pass(X, w, centers, labels, False, False, False, True)
    weights = np.ones(len(X)) if w is None else np.asarray(w, dtype=np.float64)
    eligible = np.flatnonzero(weights > 0)
    order = eligible[np.lexsort((eligible, -dist[eligible]))][:m]
    return (dist[order], order.astype(np.int64) + offset, np.asarray(labels)[order].astype(np.int64),
            weights[order], X[order].copy(), len(eligible))


def column_sums(X: NDArray[Any], running: NDArray[np.float64] | None) -> NDArray[np.float64]:
    """``running`` plus the rows of X added one after the other in row order (float64)."""
    X64 = np.asarray(X, dtype=np.float64)
    if running is not None:
        X64 = np.concatenate([running[None, :], X64])
    out: NDArray[np.float64] = np.cumsum(X64, axis=0)[-1]
    return out


def squared_deviations(X: NDArray[Any], mean: NDArray[np.float64], running: NDArray[np.float64] | None) -> Any:
    """``running`` plus ``(x - mean)**2`` of the rows of X added in row order (float64)."""
    dev = np.asarray(X) - mean
    return column_sums(dev * dev, running)


# --------------------------------------------------------------------------- exact reductions of the metrics


def chunk_size(n: int, min_size: int, scratch_per_chunk: int = 0, scratch_budget: int = 1 << 22) -> int:
    """Rows per chunk of ``make_chunks`` (core/chunked.hpp): what the in-memory kernels sum in order."""
    count = -(-n // max(1, min_size))
    if scratch_per_chunk > 0:
        count = min(count, max(1, scratch_budget // scratch_per_chunk))
    return -(-n // count)


def pairwise_sum(a: Any) -> float:
    """``pairwise_sum`` of core/chunked.hpp, the same additions in the same order."""
    values = [float(v) for v in np.asarray(a, dtype=np.float64).reshape(-1)]
    return _pairwise(values, 0, len(values))


def _pairwise(a: list[float], lo: int, n: int) -> float:
    if n < 8:
        s = 0.0
        for i in range(lo, lo + n):
            s += a[i]
        return s
    if n <= 128:
        r = a[lo : lo + 8]
        i = 8
        while i + 8 <= n:
            for j in range(8):
                r[j] += a[lo + i + j]
            i += 8
        s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        while i < n:
            s += a[lo + i]
            i += 1
        return s
    half = n // 2
    half -= half % 8
    return _pairwise(a, lo, half) + _pairwise(a, lo + half, n - half)


def sequential_sum(values: Any) -> float:
    """0.0 plus the values one after the other (a kernel's running sum)."""
    s = 0.0
    for v in np.asarray(values, dtype=np.float64).reshape(-1).tolist():
        s += v
    return s


def sq_dist_rows(X: NDArray[Any], C: NDArray[np.float64]) -> NDArray[np.float64]:
    """Row i: sum_t (x_it - c_it)^2 added in feature order (detail::sq_dist_to of losses.hpp)."""
    v = np.asarray(X, dtype=np.float64) - C
    out: NDArray[np.float64] = np.cumsum(v * v, axis=1)[:, -1]
    return out


def cluster_sums_chunks(X: NDArray[Any], codes: NDArray[np.int64], k: int, size: int) -> NDArray[np.float64]:
    """Per chunk of ``size`` rows, (k, d) sums of the rows of each cluster added in row order."""
    X64 = np.asarray(X, dtype=np.float64)
    codes = np.asarray(codes)
    out = np.zeros((-(-len(X64) // size), k, X64.shape[1]))
    for c in range(out.shape[0]):
        np.add.at(out[c], codes[c * size : (c + 1) * size], X64[c * size : (c + 1) * size])
    return out


def centroid_spread_chunks(
    X: NDArray[Any], codes: NDArray[np.int64], centroids: NDArray[np.float64], size: int
) -> NDArray[np.float64]:
    """Per chunk of ``size`` rows, (k,) sums of the distances to the own centroid in row order."""
    codes = np.asarray(codes)
    dist = np.sqrt(sq_dist_rows(X, centroids[codes]))
    out = np.zeros((-(-len(dist) // size), len(centroids)))
    for c in range(out.shape[0]):
        np.add.at(out[c], codes[c * size : (c + 1) * size], dist[c * size : (c + 1) * size])
    return out
