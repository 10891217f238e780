"""The private layer of density-based clustering (validation, dtype dispatch).

Same conventions as ``_ops``: arguments are validated (errors name the
argument), a C-contiguous float32/float64 array is never copied, and the
``_core`` kernel of the input's dtype is called.

``min_samples`` counts the point itself (scikit-learn's convention): the core
distance of x_i is the distance to its ``min_samples``-th nearest point, x_i
included, so ``min_samples = 1`` gives 0.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._validation import as_float_array, check_finite, check_int, core_fn, resolve_metric

__all__ = [
    "check_min_cluster_size",
    "check_min_samples",
    "check_nonnegative",
    "core_distances",
    "mutual_reachability_edges",
    "mutual_reachability_tree",
    "points",
]

Array = NDArray[Any]
# the kernels' core-distance methods
METHODS = {"auto": 0, "kd_tree": 1, "brute": 2}
# the kernels' spanning-tree methods (the same tree, bit for bit)
TREE_METHODS = {"auto": 0, "boruvka": 1, "prim": 2, "blocks": 3}


def points(X: Any) -> Array:
    """``X`` as a checked (n, d) float32/float64 array with n >= 1 and d >= 1."""
    a = as_float_array(X, "X", ndims=(2,))
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"X must have at least one sample and one feature, got shape {a.shape}")
    check_finite(a, "X")
    return a


def check_min_samples(min_samples: Any, n: int, name: str = "min_samples") -> int:
    """An integer in [1, n] (the point itself counts)."""
    value = check_int(min_samples, name)
    if not 1 <= value <= n:
        raise ValueError(
            f"{name} must be in [1, n_samples] = [1, {n}] (it counts the point itself), got {value}"
        )
    return value


def check_min_cluster_size(min_cluster_size: Any, n: int) -> int:
    """An integer >= 2 (scikit-learn's rule); larger than n gives all noise."""
    value = check_int(min_cluster_size, "min_cluster_size")
    if value < 2:
        raise ValueError(f"min_cluster_size must be at least 2, got {value}")
    return value


def check_nonnegative(value: Any, name: str, *, positive: bool = False) -> float:
    """A finite real number >= 0 (> 0 with ``positive``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not np.isfinite(v) or v < 0 or (positive and v == 0):
        raise ValueError(f"{name} must be {'positive' if positive else 'non-negative'} and finite, got {value!r}")
    return v


def core_distances(X: Any, min_samples: Any, metric: Any, n_threads: int, method: str = "auto") -> NDArray[np.float64]:
    """Exact core distances (float64, (n,)) of the points X."""
    X = points(X)
    ms = check_min_samples(min_samples, X.shape[0])
    name = resolve_metric(metric)
    out: NDArray[np.float64] = core_fn("core_distances", X.dtype)(X, ms, name, METHODS[method], n_threads)
    return out


def mutual_reachability_tree(
    X: Any, min_samples: Any, metric: Any, n_threads: int, *, asymmetric: bool = False, method: str = "auto"
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """(core, order, parent, distance): Prim's spanning tree of the mutual reachability.

    Prim starts at point 0; step e adds ``order[e + 1]`` through ``parent[e]`` at
    ``distance[e]`` = max(core_parent, core_point, d) (``asymmetric``: max(core_parent,
    d), OPTICS's reachability). Distances are float64 for either input dtype.
    """
    X = points(X)
    ms = check_min_samples(min_samples, X.shape[0])
    name = resolve_metric(metric)
    core, order, parent, dist = core_fn("mutual_reachability_tree", X.dtype)(
        X, ms, name, bool(asymmetric), METHODS[method], n_threads
    )
    if dist.size and not np.isfinite(dist).all():
        raise ValueError("a distance between points of X overflows float64; rescale X")
    return core, order, parent, dist


def mutual_reachability_edges(
    X: Any, min_samples: Any, metric: Any, n_threads: int, *, method: str = "auto", block: int = 0
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """(core, i, j, distance): the mutual-reachability spanning tree as sorted edges.

    The n - 1 edges (i < j) come lightest first, ties by the pair (i, j): the
    package's strict order, under which the tree is unique. ``method``: "boruvka"
    (kd-tree Borůvka: euclidean, sqeuclidean, manhattan), "prim", "blocks" (row
    blocks sized for the cache: block trees, every pair's cross edges, Kruskal), or
    "auto" (Borůvka for the box metrics when min_samples >= 2, at any dimension;
    otherwise blocks once the points outgrow the cache, Prim below); every method
    gives the same arrays bit for bit. ``block``: points per row block for "blocks"
    (0: sized for the cache).
    """
    X = points(X)
    ms = check_min_samples(min_samples, X.shape[0])
    name = resolve_metric(metric)
    if method not in TREE_METHODS:
        raise ValueError(f"method must be one of {tuple(TREE_METHODS)}, got {method!r}")
    core, i, j, dist = core_fn("mutual_reachability_edges", X.dtype)(X, ms, name, TREE_METHODS[method], n_threads,
                                                                     block)
    if dist.size and not np.isfinite(dist).all():
        raise ValueError("a distance between points of X overflows float64; rescale X")
    return core, i, j, dist


def mutual_reachability_matrix(X: Any, min_samples: Any, metric: Any, n_threads: int) -> NDArray[np.float64]:
    """The dense (n, n) float64 mutual-reachability distances, zero diagonal.

    d is the package's ``pairwise_distances``; core distances are taken from the same
    matrix (the ``min_samples``-th smallest of each row, the zero diagonal included),
    so the matrix is consistent with itself bit for bit.
    """
    from .. import _ops

    X = points(X)
    n = X.shape[0]
    ms = check_min_samples(min_samples, n)
    name = resolve_metric(metric)
    _ops.check_allocation((n, n), np.float64, "the (n, n) mutual-reachability matrix")
    D = np.asarray(_ops.pairwise_distances(X, None, name, n_threads), dtype=np.float64)
    np.fill_diagonal(D, 0.0)
    core = np.partition(D, ms - 1, axis=1)[:, ms - 1]
    M = np.maximum(D, np.maximum(core[:, None], core[None, :]))
    np.fill_diagonal(M, 0.0)
    return M
