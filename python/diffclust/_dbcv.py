"""Density-Based Clustering Validation (DBCV), Moulavi et al. 2014 (private).

The index of the paper, not the hdbscan package's ``relative_validity_``
(which reads the mutual-reachability tree of the clustering itself):

- all-points core distance of o in its cluster C (n_C points, d features):
  a(o) = ( sum_{x in C, x != o} (1 / d(o, x))^d / (n_C - 1) )^(-1/d)
  (Definition 1; a duplicate of o, d = 0, gives the limit a(o) = 0);
- mutual reachability d_m(o, x) = max(a(o), a(x), d(o, x)) (Definition 2);
- T_C = the minimum spanning tree of d_m over C (Definition 3); its internal
  nodes have degree > 1 and its internal edges join two internal nodes;
- density sparseness DSC(C) = the largest internal edge of T_C (Definition 4);
- density separation DSPC(C, C') = the smallest d_m between an internal node
  of T_C and one of T_C' (Definition 5);
- V(C) = (min_C' DSPC(C, C') - DSC(C)) / max(min_C' DSPC(C, C'), DSC(C));
- DBCV = sum_C |C| / n * V(C), n counting the noise points too (Definition 7).

Where the paper leaves a case open, the authors' MATLAB code decides: a tree
with no internal node (two points) takes all its nodes as internal, one with
no internal edge takes all its edges. V(C) is 0 when both terms are 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _ops as ops
from ._validation import core_fn

__all__ = ["dbcv"]

FloatArray = NDArray[np.float64]
_BLOCK = 1024


def _all_points_core(Xc: NDArray[Any], metric: str, n_threads: int) -> FloatArray:
    """a(o) of every point of one cluster, by blocks of rows."""
    m, d = Xc.shape
    out: FloatArray = np.empty(m, dtype=np.float64)
    for s in range(0, m, _BLOCK):
        D = np.asarray(ops.pairwise_distances(Xc[s : s + _BLOCK], Xc, metric, n_threads), dtype=np.float64)
        rows = np.arange(D.shape[0])
        # in logarithms (d may be large): L = log (1 / D)^d, the point itself left out
        with np.errstate(divide="ignore"):
            L = -d * np.log(D)
        L[rows, rows + s] = -np.inf
        top = L.max(axis=1)
        dup = np.isposinf(top)  # a duplicate of the point: a = 0
        safe = np.where(dup, 0.0, top)
        log_mean = safe + np.log(np.exp(L - safe[:, None]).sum(axis=1)) - np.log(m - 1)
        out[s : s + D.shape[0]] = np.where(dup, 0.0, np.exp(-log_mean / d))
    return out


def _internal(Xc: NDArray[Any], core: FloatArray, metric: str, n_threads: int) -> tuple[NDArray[np.intp], float]:
    """(internal nodes, DSC) of the cluster's mutual-reachability spanning tree."""
    m = Xc.shape[0]
    fn = core_fn("mutual_reachability_tree_from_core", Xc.dtype)
    order, parent, dist = fn(np.ascontiguousarray(Xc), core, metric, False, n_threads)
    u = np.asarray(order[1:], dtype=np.intp)
    v = np.asarray(parent, dtype=np.intp)
    degree = np.bincount(np.concatenate([u, v]), minlength=m)
    inner = degree > 1
    if not inner.any():
        inner[:] = True
    edges = inner[u] & inner[v]
    if not edges.any():
        edges[:] = True
    dsc = float(np.max(dist[edges]))
    return np.flatnonzero(inner), dsc


def _separation(
    A: NDArray[Any], ca: FloatArray, B: NDArray[Any], cb: FloatArray, metric: str, n_threads: int
) -> float:
    best = np.inf
    for s in range(0, A.shape[0], _BLOCK):
        D = np.asarray(ops.pairwise_distances(A[s : s + _BLOCK], B, metric, n_threads), dtype=np.float64)
        M = np.maximum(D, np.maximum(ca[s : s + _BLOCK, None], cb[None, :]))
        best = min(best, float(M.min()))
    return best


def dbcv(X: NDArray[Any], labels: NDArray[np.intp], metric: str, n_threads: int) -> tuple[float, FloatArray]:
    """(DBCV, V(C) of each cluster 0, 1, ...) of a checked X and labels (-1 noise)."""
    n = X.shape[0]
    ids = np.unique(labels[labels >= 0])
    if ids.shape[0] < 2:
        raise ValueError(f"labels must have at least 2 clusters (besides noise -1), got {ids.shape[0]}")
    members = [np.flatnonzero(labels == c) for c in ids]
    small = [int(c) for c, mem in zip(ids, members) if mem.shape[0] < 2]
    if small:
        raise ValueError(f"every cluster in labels needs at least 2 points; cluster {small[0]} has 1")
    inner_pts: list[NDArray[Any]] = []
    inner_core: list[FloatArray] = []
    dsc = np.empty(ids.shape[0])
    for k, mem in enumerate(members):
        Xc = X[mem]
        core = _all_points_core(Xc, metric, n_threads)
        nodes, dsc[k] = _internal(Xc, core, metric, n_threads)
        inner_pts.append(np.ascontiguousarray(Xc[nodes]))
        inner_core.append(core[nodes])
    k_all = ids.shape[0]
    sep = np.full((k_all, k_all), np.inf)
    for a in range(k_all):
        for b in range(a + 1, k_all):
            sep[a, b] = sep[b, a] = _separation(
                inner_pts[a], inner_core[a], inner_pts[b], inner_core[b], metric, n_threads
            )
    min_sep = sep.min(axis=1)
    top = np.maximum(min_sep, dsc)
    with np.errstate(invalid="ignore"):
        v = np.where(top > 0, (min_sep - dsc) / np.where(top > 0, top, 1.0), 0.0)
    sizes = np.asarray([mem.shape[0] for mem in members], dtype=np.float64)
    return float(np.sum(sizes / n * v)), v.astype(np.float64)

