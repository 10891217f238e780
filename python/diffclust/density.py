"""Density-based clustering on the mutual-reachability spanning tree.

HDBSCAN*, DBSCAN* and OPTICS all read one tree. With the core distance
``core(i)`` = the distance from x_i to its ``min_samples``-th nearest point,
**the point itself included** (scikit-learn's convention: ``min_samples = 1``
gives 0), the mutual-reachability distance is

    d_mr(i, j) = max(core(i), core(j), d(x_i, x_j)),

and its minimum spanning tree (the maximum spanning tree of the similarity
``S = -d_mr``, found by the package's Prim with d_mr computed on the fly, O(n d)
memory) is exact and unique under the package's strict edge order (lighter
d_mr first, then the smaller pair (i, j)): the same for any thread count.

- :func:`hdbscan`: the single-linkage hierarchy of that tree, condensed for a
  ``min_cluster_size``, with scikit-learn's cluster selection (labels and
  probabilities agree with ``sklearn.cluster.HDBSCAN``), and GLOSH outlier scores.
- :func:`dbscan`: DBSCAN*, the cut of the tree at ``eps``.
- :func:`optics`: OPTICS's ordering and reachability, Prim's visit order under
  OPTICS's asymmetric reachability max(core(p), d(p, q)).

Core distances are exact: a kd-tree for euclidean, sqeuclidean and manhattan
up to 12 dimensions, blocked brute force otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _density_tree as dt
from . import _ops_density as ops
from ._results import Result
from ._validation import resolve_threads

__all__ = [
    "DbscanResult",
    "DensityResult",
    "OpticsResult",
    "dbscan",
    "hdbscan",
    "mutual_reachability_distances",
    "optics",
]

SELECTION_METHODS = ("eom", "leaf")


@dataclass(frozen=True, eq=False, repr=False)
class DensityResult(Result):
    """An HDBSCAN* clustering and the trees it came from.

    Float arrays have the dtype of X (float32 in, float32 out; computed in float64).

    Attributes
    ----------
    labels : ndarray of int, shape (n,)
        Cluster of each point, -1 for noise; clusters are numbered 0, 1, ... in
        the order of their condensed-tree labels (as scikit-learn numbers them).
    probabilities : ndarray of float, shape (n,)
        Strength of each point's membership in its cluster, in [0, 1] (0 for noise).
    outlier_scores : ndarray of float, shape (n,)
        GLOSH outlier scores in [0, 1] (Campello et al. 2015): larger is more outlying.
    edges : ndarray of int, shape (n - 1, 2)
        The mutual-reachability minimum spanning tree, pairs (i, j) with i < j,
        sorted by d_mr, then by the pair.
    weights : ndarray of float, shape (n - 1,)
        d_mr of each edge (a distance: the forests' similarity is its negative).
    core_distances : ndarray of float, shape (n,)
        Distance to the ``min_samples``-th nearest point, the point included.
    single_linkage : ndarray of float, shape (n - 1, 4)
        The single-linkage hierarchy of the tree in SciPy's linkage format.
    condensed_tree : structured ndarray
        Rows (parent, child, lambda_val, child_size): points and clusters leaving
        a cluster at lambda = 1 / d_mr; clusters are labelled n (the root), n + 1, ...
    cluster_ids : ndarray of int, shape (k,)
        The condensed-tree labels of the selected clusters (label c is cluster_ids[c]).
    stabilities : ndarray of float, shape (k,)
        The stability of each selected cluster (after the "eom" propagation).
    """

    labels: NDArray[np.intp]
    probabilities: NDArray[np.floating[Any]]
    outlier_scores: NDArray[np.floating[Any]]
    edges: NDArray[np.intp]
    weights: NDArray[np.floating[Any]]
    core_distances: NDArray[np.floating[Any]]
    single_linkage: NDArray[np.floating[Any]]
    condensed_tree: NDArray[Any]
    cluster_ids: NDArray[np.intp]
    stabilities: NDArray[np.floating[Any]]

    def _repr_head(self) -> dict[str, Any]:
        return {"n": self.labels.shape[0], "n_clusters": int(self.cluster_ids.shape[0])}


@dataclass(frozen=True, eq=False, repr=False)
class DbscanResult(Result):
    """A DBSCAN* clustering.

    Attributes
    ----------
    labels : ndarray of int, shape (n,)
        Cluster of each core point, numbered by first appearance; -1 for every
        non-core point (DBSCAN* has no border points).
    core_sample_indices : ndarray of int, shape (m,)
        Indices of the core points (core distance <= eps), increasing.
    core_distances : ndarray of float, shape (n,)
        Distance to the ``min_samples``-th nearest point, the point included.
    """

    labels: NDArray[np.intp]
    core_sample_indices: NDArray[np.intp]
    core_distances: NDArray[np.floating[Any]]

    def _repr_head(self) -> dict[str, Any]:
        return {"n": self.labels.shape[0], "n_clusters": int(self.labels.max(initial=-1)) + 1}


@dataclass(frozen=True, eq=False, repr=False)
class OpticsResult(Result):
    """OPTICS's cluster ordering.

    Attributes
    ----------
    ordering : ndarray of int, shape (n,)
        The points in OPTICS's visit order (starting with point 0).
    reachability : ndarray of float, shape (n,)
        Reachability distance of each point (indexed by point, as scikit-learn's
        ``reachability_``): min over the points q visited before p of
        max(core(q), d(q, p)); inf for the first point.
    core_distances : ndarray of float, shape (n,)
        Distance to the ``min_samples``-th nearest point, the point included.
    predecessor : ndarray of int, shape (n,)
        The point each point was reached from (-1 for the first).
    """

    ordering: NDArray[np.intp]
    reachability: NDArray[np.floating[Any]]
    core_distances: NDArray[np.floating[Any]]
    predecessor: NDArray[np.intp]

    def _repr_head(self) -> dict[str, Any]:
        return {"n": self.ordering.shape[0]}


def _check_flag(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def hdbscan(
    X: ArrayLike,
    *,
    min_cluster_size: int = 5,
    min_samples: int | None = None,
    metric: str = "euclidean",
    cluster_selection_method: str = "eom",
    cluster_selection_epsilon: float = 0.0,
    allow_single_cluster: bool = False,
    n_threads: int | None = None,
) -> DensityResult:
    """HDBSCAN*: hierarchical density-based clustering, exact and deterministic.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Points (float32 or float64; other real dtypes become float64).
    min_cluster_size : int, default 5
        The smallest group the condensed tree counts as a cluster (>= 2).
    min_samples : int or None, default None
        Neighbours that make a point a core point, **the point itself included**
        (scikit-learn's convention; the ``hdbscan`` package's ``min_samples = m``
        is ours ``m + 1``). None: ``min_cluster_size``. In [1, n].
    metric : {"euclidean", "sqeuclidean", "manhattan", "cosine"} or an alias
        Distance between points.
    cluster_selection_method : {"eom", "leaf"}, default "eom"
        Excess of mass, or the leaves of the condensed tree.
    cluster_selection_epsilon : float, default 0.0
        Clusters born below this distance merge into the ancestor that exists
        at it (Malzer and Baum 2020).
    allow_single_cluster : bool, default False
        Whether the root may be selected, giving a single cluster.
    n_threads : int or None
        Threads (None: ``DIFFCLUST_NUM_THREADS``, ``OMP_NUM_THREADS`` or the
        usable cores). The result never depends on it.

    Returns
    -------
    DensityResult
        Labels (-1 noise), probabilities, GLOSH outlier scores, the
        mutual-reachability tree, its single-linkage and condensed trees.

    Raises
    ------
    ValueError
        NaN or inf in X, min_samples outside [1, n], min_cluster_size < 2, an
        unknown metric or selection method, a negative epsilon.
    TypeError
        A non-integer min_samples or min_cluster_size, a non-real X.

    Notes
    -----
    Labels and probabilities agree with ``sklearn.cluster.HDBSCAN`` for the same
    parameters (up to the numbering of clusters, which scikit-learn leaves to its
    traversal order); ties between equal mutual-reachability distances are
    broken by the pair order, so results never depend on the thread count.

    References
    ----------
    Campello, Moulavi, Sander, "Density-Based Clustering Based on Hierarchical
    Density Estimates", PAKDD 2013; Campello, Moulavi, Zimek, Sander,
    "Hierarchical Density Estimates for Data Clustering, Visualization, and
    Outlier Detection", TKDD 2015; Malzer, Baum, "A Hybrid Approach To
    Hierarchical Density-based Cluster Selection", MFI 2020.

    Examples
    --------
    >>> import numpy as np, diffclust
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 0.3, (50, 2)), rng.normal(5, 0.3, (50, 2))])
    >>> r = diffclust.hdbscan(X, min_cluster_size=10)
    >>> sorted(set(r.labels.tolist()))
    [0, 1]
    """
    Xa = ops.points(X)
    n = Xa.shape[0]
    mcs = ops.check_min_cluster_size(min_cluster_size, n)
    if min_samples is None:
        ms = ops.check_min_samples(mcs, n, "min_samples (None: min_cluster_size)")
    else:
        ms = ops.check_min_samples(min_samples, n)
    if cluster_selection_method not in SELECTION_METHODS:
        raise ValueError(
            f"cluster_selection_method must be one of {SELECTION_METHODS}, got {cluster_selection_method!r}"
        )
    eps = ops.check_nonnegative(cluster_selection_epsilon, "cluster_selection_epsilon")
    single = _check_flag(allow_single_cluster, "allow_single_cluster")
    threads = resolve_threads(n_threads)
    core, order, parent, dist = ops.mutual_reachability_tree(Xa, ms, metric, threads)
    i, j, w = dt.sorted_edges(order, parent, dist)
    Z = dt.single_linkage(n, i, j, w)
    tree = dt.condense(Z, n, mcs)
    labels, probs, clusters, stab = dt.select_clusters(tree, n, cluster_selection_method, eps, single)
    f = Xa.dtype  # float32 in, float32 out (computed in float64)
    return DensityResult(
        labels=labels,
        probabilities=probs.astype(f, copy=False),
        outlier_scores=dt.glosh(tree, n).astype(f, copy=False),
        edges=np.stack([i, j], axis=1) if n > 1 else np.zeros((0, 2), dtype=np.intp),
        weights=w.astype(f, copy=False),
        core_distances=core.astype(f, copy=False),
        single_linkage=Z.astype(f, copy=False),
        condensed_tree=tree,
        cluster_ids=np.asarray(clusters, dtype=np.intp),
        stabilities=stab.astype(f, copy=False),
    )


def dbscan(
    X: ArrayLike, eps: float, *, min_samples: int = 5, metric: str = "euclidean", n_threads: int | None = None
) -> DbscanResult:
    """DBSCAN*: the clusters of the core points at scale ``eps``.

    Core points have at least ``min_samples`` points (themselves included) within
    distance ``eps`` (core distance <= eps); two core points are in one cluster
    when a chain of core points links them with steps of length <= eps. This is
    the cut of the mutual-reachability spanning tree at d_mr <= eps.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Points.
    eps : float
        The neighbourhood radius (> 0).
    min_samples : int, default 5
        Neighbours of a core point, the point itself included (as scikit-learn).
    metric : {"euclidean", "sqeuclidean", "manhattan", "cosine"} or an alias
        Distance between points.
    n_threads : int or None
        Threads; the result never depends on it.

    Returns
    -------
    DbscanResult
        Labels (clusters numbered by their first point; -1 for non-core points),
        the core points' indices and the core distances.

    Raises
    ------
    ValueError
        eps <= 0 or not finite, min_samples outside [1, n], NaN or inf in X.

    Notes
    -----
    On core points the labels equal scikit-learn's ``DBSCAN`` exactly (same
    numbering: scikit-learn too numbers clusters by their first core point).
    scikit-learn also attaches each *border* point (not core, within eps of a
    core point) to the cluster of a core neighbour -- which one depends on the
    visit order; DBSCAN* (Campello et al. 2013) leaves border points as noise,
    so that the result does not depend on the order of the points.
    """
    Xa = ops.points(X)
    e = ops.check_nonnegative(eps, "eps", positive=True)
    threads = resolve_threads(n_threads)
    n = Xa.shape[0]
    ms = ops.check_min_samples(min_samples, n)
    core, order, parent, dist = ops.mutual_reachability_tree(Xa, ms, metric, threads)
    is_core = core <= e
    keep = dist <= e
    root = np.arange(n)
    child = order[1:][keep].tolist()
    par = parent[keep].tolist()
    rl = root.tolist()
    for a, b in zip(child, par):
        while rl[a] != a:
            rl[a] = rl[rl[a]]
            a = rl[a]
        while rl[b] != b:
            rl[b] = rl[rl[b]]
            b = rl[b]
        if a != b:
            if a < b:
                rl[b] = a
            else:
                rl[a] = b
    comp = np.asarray(rl, dtype=np.intp)
    while True:  # flatten
        nxt = comp[comp]
        if np.array_equal(nxt, comp):
            break
        comp = nxt
    labels = np.full(n, -1, dtype=np.intp)
    cores = np.flatnonzero(is_core)
    if cores.size:
        # every component's representative is its smallest point, a core point
        _, first = np.unique(comp[cores], return_inverse=True)
        labels[cores] = first.reshape(-1)
    return DbscanResult(
        labels=labels, core_sample_indices=cores.astype(np.intp), core_distances=core.astype(Xa.dtype, copy=False)
    )


def optics(
    X: ArrayLike, *, min_samples: int = 5, metric: str = "euclidean", n_threads: int | None = None
) -> OpticsResult:
    """OPTICS's ordering and reachability distances (max_eps = inf), exact.

    Starting from point 0, the next point is always the one with the smallest
    reachability max(core(q), d(q, p)) over the points q already visited
    (Ankerst et al. 1999, with no ``max_eps`` limit). It is Prim's algorithm on
    that asymmetric weight, run by the same kernel as :func:`hdbscan`.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Points.
    min_samples : int, default 5
        Neighbours of a core point, the point itself included (as scikit-learn).
    metric : {"euclidean", "sqeuclidean", "manhattan", "cosine"} or an alias
        Distance between points.
    n_threads : int or None
        Threads; the result never depends on it.

    Returns
    -------
    OpticsResult
        ordering, reachability (by point, inf for the first), core_distances,
        predecessor.

    Notes
    -----
    scikit-learn's ``OPTICS(max_eps=np.inf)`` defines the same ordering and
    reachability; where several points share the smallest reachability it takes
    the smallest index, while this kernel takes the strict pair order of the
    package (the smaller pair (predecessor, point)), so orderings may differ
    among exactly tied points. Reachability is OPTICS's asymmetric distance, not
    d_mr: the mutual-reachability version is max(core(p), reachability(p)).
    """
    Xa = ops.points(X)
    threads = resolve_threads(n_threads)
    n = Xa.shape[0]
    ms = ops.check_min_samples(min_samples, n)
    core, order, parent, dist = ops.mutual_reachability_tree(Xa, ms, metric, threads, asymmetric=True)
    reach = np.full(n, np.inf)
    reach[order[1:]] = dist
    pred = np.full(n, -1, dtype=np.intp)
    pred[order[1:]] = parent
    return OpticsResult(
        ordering=np.asarray(order, dtype=np.intp),
        reachability=reach.astype(Xa.dtype, copy=False),
        core_distances=core.astype(Xa.dtype, copy=False),
        predecessor=pred,
    )


def mutual_reachability_distances(
    X: ArrayLike, *, min_samples: int = 5, metric: str = "euclidean", n_threads: int | None = None
) -> NDArray[np.floating[Any]]:
    """The dense (n, n) mutual-reachability distances max(core_i, core_j, d_ij).

    Parameters
    ----------
    X : array_like, shape (n, d)
        Points.
    min_samples : int, default 5
        Neighbours of a core point, the point itself included (as scikit-learn).
    metric : {"euclidean", "sqeuclidean", "manhattan", "cosine"} or an alias
        Distance between points.
    n_threads : int or None
        Threads for the distances; the result never depends on it.

    Returns
    -------
    ndarray, shape (n, n)
        Symmetric, zero diagonal, in the dtype of X (float32 or float64). ``-`` this matrix is the similarity that
        ``perturbed_kforest_from_points(..., min_samples=)`` perturbs.

    Raises
    ------
    ValueError
        min_samples outside [1, n], NaN or inf in X, a matrix too large for memory.

    Notes
    -----
    d is :func:`diffclust.pairwise_distances` and the core distances are read
    from the same matrix, so they may differ from :func:`hdbscan`'s (computed
    by the difference formula) in the last bits.
    """
    Xa = ops.points(X)
    M = ops.mutual_reachability_matrix(Xa, min_samples, metric, resolve_threads(n_threads))
    return M.astype(Xa.dtype, copy=False)
