"""Exact k-forest (single linkage) of a row-chunked dask array of points."""

from __future__ import annotations

from typing import Any

import dask
import numpy as np

from .._ops.dask import block_tree, finish_forest, merge_edges, pair_edges
from .._validation import check_k, resolve_metric
from ..forests import Forest
from ._common import as_dask_points, check_fan_in, row_blocks

__all__ = ["kforest_from_points", "kforest_graph"]


def _tree_reduce(pieces: list[Any], fan_in: int, max_edges: int) -> Any:
    """Kruskal merges in groups of ``fan_in``, level by level, down to one edge list."""
    merge = dask.delayed(merge_edges, pure=True)
    while len(pieces) > 1:
        pieces = [
            merge(*pieces[g : g + fan_in], max_edges=max_edges) if len(pieces[g : g + fan_in]) > 1
            else pieces[g]
            for g in range(0, len(pieces), fan_in)
        ]
    return pieces[0]


def kforest_graph(X: Any, k: int, *, metric: str = "sqeuclidean", fan_in: int = 8) -> Any:
    """The lazy k-forest: a ``dask.delayed`` object computing ``(labels, edges, weights, value)``.

    See :func:`kforest_from_points` (which computes it and wraps it in a ``Forest``).
    """
    X = as_dask_points(X)
    n = int(X.shape[0])
    k = check_k(k, n)
    name = resolve_metric(metric)
    fan_in = check_fan_in(fan_in)
    kept = n - k
    blocks = row_blocks(X)
    tree = dask.delayed(block_tree, pure=True, nout=2)
    pair = dask.delayed(pair_edges, pure=True, nout=2)
    trees = [tree(block, start, name) for block, start, _ in blocks]
    pieces = list(trees)
    for i, (block_a, start_a, _) in enumerate(blocks):
        for j in range(i + 1, len(blocks)):
            block_b, start_b, _ = blocks[j]
            pieces.append(pair(block_a, start_a, block_b, start_b, name, trees[i], trees[j], kept))
    final = _tree_reduce(pieces, fan_in, kept)
    return dask.delayed(finish_forest, pure=True)(final, n, k, np.dtype(X.dtype).str)


def kforest_from_points(X: Any, k: int, *, metric: str = "sqeuclidean", fan_in: int = 8) -> Forest:
    """Maximum-weight k-forest (single linkage) of a row-chunked dask array of points.

    The exact block decomposition of the maximum spanning tree: a spanning tree
    per row block, for each pair of blocks the spanning tree of their bipartite
    cross edges filtered by Kruskal over the two block trees, then Kruskal over
    the union of the kept edges, merged as a tree of tasks of ``fan_in`` inputs
    each, stopping at ``n - k`` edges. Computed with the active scheduler.

    Parameters
    ----------
    X : dask.array.Array or array_like, shape (n, d)
        Points, chunked by rows (column chunks are merged first); float32 or
        float64 (other real dtypes become float64). Chunk sizes must be known.
    k : int
        Number of clusters, 1 <= k <= n.
    metric : {"sqeuclidean", "euclidean", "manhattan", "cosine"}
        As in :func:`diffclust.kforest_from_points` (aliases included).
    fan_in : int, default 8
        How many edge lists each merge task takes (at least 2).

    Returns
    -------
    Forest
        Equal, bit for bit, to ``diffclust.kforest_from_points(X.compute(), k,
        metric=metric)``: the same edges (heaviest first, ties broken by the
        strict edge order on global indices), weights, labels (a NumPy array:
        n integers fit in memory wherever the final Kruskal runs) and value,
        for any chunking and any ``fan_in``.

    Raises
    ------
    ValueError
        If X is not 2-d, empty, has unknown chunk sizes or NaN/inf values, if k
        is outside [1, n], or a distance overflows float64.
    TypeError
        If X does not hold real numbers, or k or fan_in is not an integer.

    Notes
    -----
    With p row blocks of b = n / p points: p block-tree tasks and p (p - 1) / 2
    pair tasks, together n (n - 1) / 2 distance evaluations; a task holds two
    blocks (O(b d) memory) and returns at most 2 b - 1 edges; a merge returns at
    most n - k edges.
    """
    labels, edges, weights, value = dask.compute(kforest_graph(X, k, metric=metric, fan_in=fan_in))[0]
    return Forest(labels, edges, weights, value)
