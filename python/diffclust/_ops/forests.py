"""The private layer: exact k-forests (see :mod:`diffclust._ops`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import (
    as_float_array,
    as_index_array,
    check_constraints,
    check_finite,
    check_int,
    check_k,
    check_square,
    core_fn,
    resolve_metric,
)
from ._common import ForestArrays, _as, _points

__all__ = ["kforest", "kforest_from_edges", "kforest_from_points"]


def _forest(out: Any, dtype: np.dtype[Any]) -> ForestArrays:
    labels, edges, weights, value, *rest = out
    return (labels, edges, _as(weights, dtype), _as(value, dtype), *rest)


def kforest(
    S: Any, k: int, n_threads: int, *, known_labels: Any = None, must_link: Any = None,
    cannot_link: Any = None, refine: bool = True,
) -> ForestArrays:
    """(labels, edges, weights, value) of the maximum-weight k-forest of S, (n, n) or (b, n, n)."""
    S = as_float_array(S, "S", ndims=(2, 3))
    n = check_square(S, "S")
    k = check_k(k, n)
    labels, must, cannot = check_constraints(n, known_labels, must_link, cannot_link)
    if labels is None and must is None and cannot is None:
        return _forest(core_fn("kforest", S.dtype)(S, k, n_threads), S.dtype)
    fn = core_fn("kforest_constrained", S.dtype)
    return _forest(fn(S, k, labels, must, cannot, bool(refine), n_threads), S.dtype)


def kforest_from_edges(edges: Any, weights: Any, n: int, k: int) -> ForestArrays:
    """(labels, edges, weights, value) of the maximum-weight k-forest of an edge list (Kruskal)."""
    n = check_int(n, "n")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    k = check_k(k, n)
    e = as_index_array(edges, "edges")
    if e.ndim != 2 or e.shape[1] != 2:
        if e.size == 0:
            e = e.reshape(0, 2)
        else:
            raise ValueError(f"edges must have shape (m, 2), got {e.shape}")
    w = np.asarray(weights)
    if w.dtype not in (np.float32, np.float64):
        if w.dtype.kind not in "biuf":
            raise TypeError(f"weights must hold real numbers, got dtype {w.dtype}")
        w = w.astype(np.float64)
    w = np.ascontiguousarray(w)
    if w.ndim != 1 or w.shape[0] != e.shape[0]:
        raise ValueError(f"weights must have shape ({e.shape[0]},) to match edges, got {w.shape}")
    check_finite(w, "weights")
    if e.size and (e.min() < 0 or e.max() >= n):
        bad = int(np.flatnonzero((e < 0).any(axis=1) | (e >= n).any(axis=1))[0])
        raise IndexError(f"edges[{bad}] = {tuple(e[bad].tolist())} is out of range for n = {n}")
    return _forest(core_fn("kforest_from_edges", w.dtype)(e, w, n, k), w.dtype)


# the tree methods of kforest_from_points (the same forest, bit for bit)
POINT_TREE_METHODS = {"auto": 0, "boruvka": 1, "prim": 2, "blocks": 3}


def kforest_from_points(X: Any, k: int, metric: str, n_threads: int, method: str = "auto",
                        block: int = 0) -> ForestArrays:
    """(labels, edges, weights, value) of the k-forest of points, ``S_ij = -d(x_i, x_j)``.

    ``method``: "auto" (kd-tree Borůvka at low dimension for the box metrics; row
    blocks once n points outgrow the cache; Prim otherwise), "boruvka", "prim" or
    "blocks" (``block`` points per row block, 0: sized for the cache). Every method
    returns the same forest, bit for bit.
    """
    X = _points(X, "X")
    k = check_k(k, X.shape[0])
    name = resolve_metric(metric)
    if method not in POINT_TREE_METHODS:
        raise ValueError(f"method must be one of {tuple(POINT_TREE_METHODS)}, got {method!r}")
    fn = core_fn("kforest_from_points", X.dtype)
    return _forest(fn(X, k, name, n_threads, POINT_TREE_METHODS[method], block), X.dtype)


