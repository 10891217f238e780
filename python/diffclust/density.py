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
(at every dimension: its leaves are searched as vectorised tiles), blocked brute
force for cosine. The tree is kd-tree Borůvka for the box metrics, Prim or Prim's
row blocks for cosine; every method gives the same tree bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _dbcv
from . import _density_tree as dt
from . import _density_weights as dw
from ._ops import density as ops
from ._results import Result
from ._validation import check_int, core_fn, resolve_metric, resolve_threads

__all__ = [
    "DbscanResult",
    "DensityResult",
    "OpticsResult",
    "dbcv_score",
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
    persistence : ndarray of float, shape (k,)
        Cluster persistence: stability / (points in the cluster * the largest
        lambda of the condensed tree), 1 where that lambda is 0 or inf (the
        hdbscan package's ``cluster_persistence_``).
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
    persistence: NDArray[np.floating[Any]]

    def _repr_head(self) -> dict[str, Any]:
        return {"n": self.labels.shape[0], "n_clusters": int(self.cluster_ids.shape[0])}

    def dbscan_clustering(self, cut_distance: float, min_cluster_size: int = 5) -> NDArray[np.intp]:
        """DBSCAN* labels at ``cut_distance`` from this result's single-linkage tree.

        The components of the tree's edges with d_mr strictly below the cut
        (scikit-learn's ``HDBSCAN.dbscan_clustering``); components with fewer
        than ``min_cluster_size`` points are noise (-1). Clusters are numbered
        0, 1, ... by their smallest point.

        Parameters
        ----------
        cut_distance : float
            The mutual-reachability distance of the cut (> 0).
        min_cluster_size : int, default 5
            Smallest component that is a cluster (>= 1).

        Returns
        -------
        ndarray of int, shape (n,)
            Labels, -1 for noise.
        """
        cut = ops.check_nonnegative(cut_distance, "cut_distance", positive=True)
        mcs = check_int(min_cluster_size, "min_cluster_size")
        if mcs < 1:
            raise ValueError(f"min_cluster_size must be at least 1, got {mcs}")
        Z = np.asarray(self.single_linkage, dtype=np.float64)
        return dt.labelling_at_cut(Z, self.labels.shape[0], cut, mcs)


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
    max_cluster_size: int | None = None,
    alpha: float = 1.0,
    sample_weight: ArrayLike | None = None,
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
    max_cluster_size : int or None, default None
        With "eom", a cluster born with more points than this is never selected
        (its descendants are, as in scikit-learn; ``cluster_selection_epsilon``
        may still merge them back). None: no limit. Ignored by "leaf".
    alpha : float, default 1.0
        Distance scaling of robust single linkage (Chaudhuri and Dasgupta
        2010): d_mr = max(core_i, core_j, d_ij / alpha), core distances
        unscaled (scikit-learn's definition for its tree algorithms).
    sample_weight : array_like of shape (n,) or None, default None
        Non-negative weights entering the core distances only: core(i) is the
        smallest r such that the points within r of x_i (x_i included) weigh
        at least ``min_samples`` in total -- the core condition of
        scikit-learn's ``DBSCAN(sample_weight=)``, so that DBSCAN* at eps is
        still the cut of the tree at eps. Cluster sizes (``min_cluster_size``,
        stabilities) still count points. Integer weights give the core
        distances of X with rows repeated. The weights must sum to at least
        ``min_samples``. Computed by the kd-tree search of the core distances
        (each point keeps the fewest nearest points that weigh ``min_samples``);
        for "cosine" by blocks of all distances, sorted (O(n^2 log n)).
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
    traversal order) wherever scikit-learn's own result does not depend on the
    order of equal mutual-reachability distances. With ``min_samples > 1`` such
    ties are common even on continuous data (the edges leaving a point whose
    core distance is the largest around it all weigh that core distance);
    where several tied merges meet at one level the condensed tree depends on
    their order. scikit-learn orders them by its Prim's visit order and an
    unstable ``np.argsort``; here the tree edges are sorted by (d_mr, i, j)
    with i < j, the package's strict edge order, so the result is one fixed
    function of X, the same for any thread count and any tree algorithm.

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
    biggest = _check_max_cluster_size(max_cluster_size)
    a = ops.check_nonnegative(alpha, "alpha", positive=True)
    threads = resolve_threads(n_threads)
    if sample_weight is not None:
        core, order, parent, dist = _weighted_tree(Xa, ms, metric, a, dw.check_weights(sample_weight, n, ms), threads)
        i, j, w = dt.sorted_edges(order, parent, dist)
    elif a == 1.0:
        core, i, j, w = ops.mutual_reachability_edges(Xa, ms, metric, threads)
    else:
        core, order, parent, dist = _alpha_tree(Xa, ms, metric, a, threads)
        i, j, w = dt.sorted_edges(order, parent, dist)
    Z = dt.single_linkage(n, i, j, w)
    tree = dt.condense(Z, n, mcs)
    labels, probs, clusters, stab = dt.select_clusters(tree, n, cluster_selection_method, eps, single, biggest)
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
        persistence=dt.persistence(tree, labels, stab).astype(f, copy=False),
    )


def _check_max_cluster_size(value: Any) -> int | None:
    if value is None:
        return None
    v = check_int(value, "max_cluster_size")
    if v < 1:
        raise ValueError(f"max_cluster_size must be None or at least 1, got {v}")
    return v


def _weighted_tree(
    Xa: NDArray[Any], ms: int, metric: str, alpha: float, w: NDArray[np.float64], threads: int
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """The tree of max(core_i, core_j, d_ij / alpha) over weighted core distances."""
    name = resolve_metric(metric)
    core = dw.weighted_core(Xa, ms, name, w, threads)
    return (core, *_scaled_tree(Xa, core, name, alpha, threads))


def _alpha_tree(
    Xa: NDArray[Any], ms: int, metric: str, alpha: float, threads: int
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """The tree of max(core_i, core_j, d_ij / alpha) over the core distances of X."""
    name = resolve_metric(metric)
    core = ops.core_distances(Xa, ms, name, threads)
    return (core, *_scaled_tree(Xa, core, name, alpha, threads))


def _scaled_tree(
    Xa: NDArray[Any], core: NDArray[np.float64], name: str, alpha: float, threads: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """(order, parent, distance) of the tree of max(core_i, core_j, d_ij / alpha). The
    distances d / alpha: for the scalable metrics those of X / alpha (X / sqrt(alpha)
    for sqeuclidean); cosine does not scale with X, so there the tree is that of
    max(alpha core_i, alpha core_j, d_ij), the same order of the edges, and its
    distances are divided by alpha."""
    tree = core_fn("mutual_reachability_tree_from_core", Xa.dtype)
    if alpha == 1.0:
        order, parent, dist = tree(Xa, core, name, False, threads)
    elif name == "cosine":
        order, parent, dist = tree(Xa, core * alpha, name, False, threads)
        dist = dist / alpha
    else:
        scale = np.sqrt(alpha) if name == "sqeuclidean" else alpha
        order, parent, dist = tree(np.ascontiguousarray(Xa / Xa.dtype.type(scale)), core, name, False, threads)
    if dist.size and not np.isfinite(dist).all():
        raise ValueError("a distance between points of X overflows float64; rescale X")
    return order, parent, dist


def dbscan(
    X: ArrayLike,
    eps: float,
    *,
    min_samples: int = 5,
    metric: str = "euclidean",
    attach_border: bool = False,
    n_threads: int | None = None,
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
    attach_border : bool, default False
        False: DBSCAN*, every non-core point is noise. True: DBSCAN (Ester et
        al. 1996) as scikit-learn runs it, each *border* point (not core, within
        ``eps`` of a core point) joins the cluster of smallest label among its
        core neighbours within ``eps``; the labels then equal
        ``sklearn.cluster.DBSCAN``'s exactly. Costs a scan of the non-core
        points against the core points (O(non-core x core x d)).
    n_threads : int or None
        Threads; the result never depends on it.

    Returns
    -------
    DbscanResult
        Labels (clusters numbered by their first point; -1 for noise), the core
        points' indices and the core distances.

    Raises
    ------
    ValueError
        eps <= 0 or not finite, min_samples outside [1, n], NaN or inf in X.

    Notes
    -----
    On core points the labels equal scikit-learn's ``DBSCAN`` exactly (same
    numbering: scikit-learn too numbers clusters by their first core point).
    scikit-learn grows one cluster at a time, in the order of the clusters'
    smallest core point, and a border point keeps the first label it gets: so
    a border point within eps of several clusters joins the one with the
    smallest label, which is what ``attach_border=True`` does. That rule
    depends on the order of the points (permuting X may move a border point
    to another cluster); DBSCAN* (Campello et al. 2013, the default) leaves
    border points as noise, a function of the set of points alone.
    """
    Xa = ops.points(X)
    e = ops.check_nonnegative(eps, "eps", positive=True)
    border = _check_flag(attach_border, "attach_border")
    threads = resolve_threads(n_threads)
    n = Xa.shape[0]
    ms = ops.check_min_samples(min_samples, n)
    core, ei, ej, dist = ops.mutual_reachability_edges(Xa, ms, metric, threads)
    is_core = core <= e
    keep = dist <= e
    comp = _components(n, ei[keep], ej[keep])
    labels = np.full(n, -1, dtype=np.intp)
    cores = np.flatnonzero(is_core)
    if cores.size:
        # every component's representative is its smallest point, a core point
        _, first = np.unique(comp[cores], return_inverse=True)
        labels[cores] = first.reshape(-1)
        if border:
            _attach_border(Xa, labels, cores, e, metric, threads)
    return DbscanResult(
        labels=labels, core_sample_indices=cores.astype(np.intp), core_distances=core.astype(Xa.dtype, copy=False)
    )


def _components(n: int, a: NDArray[Any], b: NDArray[Any]) -> NDArray[np.intp]:
    """Each point's component in the graph of edges (a, b), as the component's smallest point.

    Vectorised min-hooking with pointer jumping: ``comp[i] <= i`` always holds, so the
    final root of a component is its smallest point; a few rounds at most log-many.
    """
    comp = np.arange(n, dtype=np.intp)
    a = np.asarray(a, dtype=np.intp)
    b = np.asarray(b, dtype=np.intp)
    while a.size:
        ca, cb = comp[a], comp[b]
        if np.array_equal(ca, cb):
            break
        np.minimum.at(comp, ca, cb)  # hook each root onto the smaller neighbouring root
        np.minimum.at(comp, cb, ca)
        while True:  # pointer jumping until every point names its root
            nxt = comp[comp]
            if np.array_equal(nxt, comp):
                break
            comp = nxt
    return comp


def _attach_border(
    Xa: NDArray[Any], labels: NDArray[np.intp], cores: NDArray[np.intp], eps: float, metric: str, threads: int
) -> None:
    """Give each non-core point within eps of a core point the smallest such core label."""
    from . import _ops

    name = resolve_metric(metric)
    rest = np.flatnonzero(labels < 0)
    C = np.ascontiguousarray(Xa[cores])
    core_lab = labels[cores]
    block = max(1, min(rest.shape[0], (1 << 22) // max(cores.shape[0], 1)))
    for s in range(0, rest.shape[0], block):
        idx = rest[s : s + block]
        D = np.asarray(_ops.pairwise_distances(np.ascontiguousarray(Xa[idx]), C, name, threads), dtype=np.float64)
        near = D <= eps
        hit = near.any(axis=1)
        lab = np.where(near, core_lab[None, :], np.iinfo(np.intp).max).min(axis=1)
        labels[idx[hit]] = lab[hit]


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
    reachability, and the kernel follows its tie rules: among equal
    reachabilities the smallest point comes next, and a point's reachability
    and predecessor change only on a strict improvement. The ordering,
    reachability and predecessors are then scikit-learn's, ties and duplicate
    points included (tested); they may differ only where two distances agree
    to the last bits in one computation and not in the other (scikit-learn
    computes d with SciPy's cdist, this kernel with its own formula).
    OPTICS's reachability max(core(q), d(q, p)) is asymmetric: it is not
    d_mr, whose tree (:func:`hdbscan`) is symmetric; the mutual-reachability
    version of a step is max(core(p), reachability(p)). ``max_eps`` (a
    radius limit) is not offered: it only speeds up scikit-learn's search and
    turns far points into inf.
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


def dbcv_score(
    X: ArrayLike, labels: ArrayLike, *, metric: str = "euclidean", n_threads: int | None = None
) -> float:
    """Density-Based Clustering Validation (DBCV) of a clustering, in [-1, 1].

    The index of Moulavi, Jaskowiak, Campello, Zimek and Sander (2014), exact:
    all-points core distances a(o) inside each cluster, the minimum spanning
    tree of max(a(o), a(x), d(o, x)) of each cluster, its density sparseness
    (largest internal edge) and the density separation between clusters
    (smallest mutual reachability between internal nodes); noise points count
    in n but belong to no cluster. Larger is better.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Points.
    labels : array_like of int, shape (n,)
        Cluster labels, -1 for noise; at least 2 clusters of at least 2 points.
    metric : {"euclidean", "sqeuclidean", "manhattan", "cosine"} or an alias
        Distance between points.
    n_threads : int or None
        Threads for the distances; the result never depends on it.

    Returns
    -------
    float
        DBCV = sum over clusters C of |C| / n * V(C).

    Raises
    ------
    ValueError
        Fewer than 2 clusters, a cluster of one point, labels of the wrong
        length or below -1, NaN or inf in X.

    Notes
    -----
    This is the paper's index, not the hdbscan package's ``relative_validity_``
    (a fast approximation read from HDBSCAN's own tree). The all-points core
    distance uses d = the number of features, as the paper; a duplicate
    point (distance 0) gives a(o) = 0, the limit of the formula. Where the
    paper leaves a case open the authors' MATLAB code decides: a cluster
    tree with no internal node (two points) takes all its nodes as internal,
    one with no internal edge all its edges. Cost: O(sum |C|^2 d) time,
    O(n d) memory plus blocks of 1024 rows of distances.

    References
    ----------
    Moulavi, Jaskowiak, Campello, Zimek, Sander, "Density-Based Clustering
    Validation", SDM 2014.
    """
    Xa = ops.points(X)
    lab = np.asarray(labels)
    if lab.ndim != 1 or lab.shape[0] != Xa.shape[0]:
        raise ValueError(f"labels must have shape ({Xa.shape[0]},), got {lab.shape}")
    if lab.size and not np.issubdtype(lab.dtype, np.integer):
        raise TypeError(f"labels must be integers, got dtype {lab.dtype}")
    lab = lab.astype(np.intp)
    if lab.size and lab.min() < -1:
        raise ValueError("labels must be -1 (noise) or non-negative cluster labels")
    name = resolve_metric(metric)
    score, _ = _dbcv.dbcv(Xa, lab, name, resolve_threads(n_threads))
    return score
