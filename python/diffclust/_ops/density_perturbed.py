"""The private layer of perturbed density clustering (see :mod:`diffclust._ops`).

- :func:`perturbed_spanning_trees`: each Monte-Carlo sample's maximum spanning
  tree of ``S + sigma Z_s`` and its perturbed edge weights, the tree that
  ``perturbed_kforest(S, 1, ...)`` solves for sample s (the same noise);
- :func:`weighted_noise_matrix`: ``scale * sum_s c_s Z_s``, the score-function
  sum that differentiates any function of the samples' trees;
- :func:`hdbscan_labels_from_tree`: HDBSCAN*'s condensing and selection on one
  spanning tree. It is the only place that calls the hierarchy code
  (``_density_tree``), so that it can be re-pointed to a compiled version.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import _core
from .. import _density_tree as dt
from .._validation import (
    as_float_array,
    check_int,
    check_memory,
    check_n_samples,
    check_sigma,
    check_square,
    core_fn,
)
from ._common import _check_seed

__all__ = [
    "co_clustering_counts",
    "hdbscan_labels_from_tree",
    "perturbed_spanning_trees",
    "weighted_noise_matrix",
]

Array = NDArray[Any]


def perturbed_spanning_trees(
    S: Any, sigma: float, n_samples: int, seed: int, n_threads: int
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """(edges (B, n - 1, 2), weights (B, n - 1)): sample s's maximum spanning tree of
    ``S + sigma Z_s`` (pairs i < j in Prim's order) and its perturbed edge weights
    ``W_ij + sigma Z_s,ij`` (float64), W the symmetric weights of S."""
    S = as_float_array(S, "S", ndims=(2,))
    n = check_square(S, "S")
    sigma, n_samples, seed = check_sigma(sigma), check_n_samples(n_samples), _check_seed(seed)
    check_memory(n_samples * n * 24 + n_threads * 8 * 8 * n, "perturbed_spanning_trees")
    edges, weights = core_fn("perturbed_spanning_trees", S.dtype)(S, sigma, n_samples, seed, n_threads)
    return edges, weights


def weighted_noise_matrix(n: int, seed: int, coef: Any, scale: float, n_threads: int) -> NDArray[np.float64]:
    """``g = scale * sum_s coef[s] Z_s`` (n, n) float64: symmetric, zero diagonal, Z_s the
    noise of sample s for ``seed`` (the perturbed forests' noise)."""
    n = check_int(n, "n")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    c = np.ascontiguousarray(coef, dtype=np.float64)
    if c.ndim != 1 or c.size < 1:
        raise ValueError(f"coef must be a non-empty 1-D array (one coefficient per sample), got shape {c.shape}")
    if not np.isfinite(c).all():
        raise ValueError("coef contains NaN or infinity")
    check_memory(8 * n * n, "the (n, n) gradient")
    out: NDArray[np.float64] = _core.weighted_noise_matrix(n, _check_seed(seed), c, float(scale), n_threads)
    return out


def hdbscan_labels_from_tree(
    n: int,
    i: NDArray[np.intp],
    j: NDArray[np.intp],
    dist: NDArray[np.float64],
    min_cluster_size: int,
    method: str,
    epsilon: float,
    allow_single_cluster: bool,
) -> NDArray[np.intp]:
    """HDBSCAN*'s labels (-1 noise) of a spanning tree with edges (i, j) at distances
    ``dist`` (>= 0): the single-linkage hierarchy, condensed for ``min_cluster_size``,
    then the ``method`` selection. Edges in any order (sorted here by the strict order:
    distance, then the pair)."""
    order = np.lexsort((j, i, dist))
    Z = dt.single_linkage(n, i[order], j[order], dist[order])
    tree = dt.condense(Z, n, min_cluster_size)
    labels, _, _, _ = dt.select_clusters(tree, n, method, epsilon, allow_single_cluster)
    return labels


def co_clustering_counts(labels: NDArray[np.intp], counts: NDArray[np.int64]) -> None:
    """``counts[a, b] += 1`` for every pair (a, b) in one non-noise cluster (a == b
    included) of the labelling (-1 noise). Integer counts: exact, order independent."""
    kept = np.flatnonzero(labels >= 0)
    if kept.size == 0:
        return
    order = kept[np.argsort(labels[kept], kind="stable")]
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    for members in np.split(order, bounds):
        counts[np.ix_(members, members)] += 1
