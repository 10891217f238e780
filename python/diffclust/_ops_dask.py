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
from ._ops import ForestArrays, _forest
from ._validation import core_fn

__all__ = ["block_tree", "finish_forest", "merge_edges", "pair_edges"]

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
