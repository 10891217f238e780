"""Exact maximum-weight k-forests (single-linkage clustering).

The weight of edge {i, j} is ``w_ij = (S_ij + S_ji) / 2``; the diagonal of ``S``
is ignored. A k-forest is a spanning forest with exactly k trees (n - k edges);
the maximum-weight one is found by Kruskal's greedy stopped at k components,
which is single-linkage clustering into k clusters.

Ties are broken by one strict order used everywhere: heavier edges first, and
among equal weights the pair (i, j), i < j, that comes first lexicographically.
So the result is unique, and Prim, Kruskal and any thread count agree exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _ops
from ._results import Result
from ._validation import resolve_threads

__all__ = ["Forest", "kforest", "kforest_from_edges", "kforest_from_points"]


@dataclass(frozen=True, eq=False, repr=False)
class Forest(Result):
    """A maximum-weight k-forest.

    For batched input every field gains a leading batch axis.

    Attributes
    ----------
    labels : ndarray of int, shape (n,)
        Tree (cluster) of each point, numbered by first appearance: point 0 is in
        cluster 0, the first point not in cluster 0 is in cluster 1, and so on.
    edges : ndarray of int, shape (n - k, 2)
        The forest's edges (i, j) with i < j, heaviest first (ties as in the
        module docstring).
    weights : ndarray of float, shape (n - k,)
        ``w_ij = (S_ij + S_ji) / 2`` of each edge.
    value : float
        ``<A, S> = sum_{i != j} A_ij S_ij``, the paper's linear objective: twice the
        total edge weight when S is symmetric.
    n_repaired : int
        With cannot-link constraints: how many forests (0 or 1, or 0..b for
        batched input) came from the completion rule because the greedy got
        stuck above k trees (see :func:`kforest`). 0 otherwise.

    The repr is compact (``Forest(n=200, k=3, labels=int64[200], ...)``); arrays
    are ordinary writable arrays owned by the caller.
    """

    labels: NDArray[np.intp]
    edges: NDArray[np.intp]
    weights: NDArray[np.floating[Any]]
    value: Any  # float, or an ndarray of shape (b,) for batched input
    n_repaired: int = 0

    def _repr_head(self) -> dict[str, Any]:
        n = self.n_points
        return {"n": n, "k": n - int(self.edges.shape[-2])}

    @property
    def n_points(self) -> int:
        return int(self.labels.shape[-1])

    def adjacency(self) -> NDArray[np.floating[Any]]:
        """Dense adjacency ``A`` (0/1, symmetric, zero diagonal). Costs n^2 memory."""
        n = self.n_points
        batch = self.labels.shape[:-1]
        A = np.zeros((*batch, n, n), dtype=self.weights.dtype)
        i, j = self.edges[..., 0], self.edges[..., 1]
        if batch:
            b = np.arange(batch[0])[:, None]
            A[b, i, j] = 1
            A[b, j, i] = 1
        else:
            A[i, j] = 1
            A[j, i] = 1
        return A

    def connectivity(self) -> NDArray[np.floating[Any]]:
        """Dense connectivity ``M`` (M_ij = 1 iff i and j share a tree; ones on the diagonal)."""
        lab = self.labels
        M: NDArray[np.floating[Any]] = (lab[..., :, None] == lab[..., None, :]).astype(self.weights.dtype)
        return M


def kforest(
    S: ArrayLike,
    k: int,
    *,
    known_labels: ArrayLike | None = None,
    must_link: ArrayLike | None = None,
    cannot_link: ArrayLike | None = None,
    refine: bool = True,
    n_threads: int | None = None,
) -> Forest:
    """Maximum-weight k-forest of a dense similarity matrix (single linkage).

    Parameters
    ----------
    S : array_like, shape (n, n) or (b, n, n)
        Similarities (larger = more similar), float32 or float64 (other real
        dtypes become float64). Edge {i, j} weighs ``(S_ij + S_ji) / 2``; the
        diagonal is ignored. For distances pass ``-D``. A C-contiguous float
        array is used without a copy and never modified.
    k : int
        Number of trees (clusters), 1 <= k <= n.
    known_labels : array_like of int, shape (n,), optional
        Partial labels, -1 for unknown: labelled points with equal labels must
        share a tree and labelled points with different labels must not.
    must_link, cannot_link : array_like of int, shape (m, 2), optional
        Pairs of points that must (must not) share a tree.
    refine : bool, default True
        With constraints: re-span each tree of the greedy's forest by Prim on its
        own points (same partition, never a lower value).
    n_threads : int, optional
        Threads. For one matrix (n >= 1024) the symmetry check runs beside
        Prim's pass instead of before it; a non-symmetric S is symmetrised and
        Prim's steps are split across threads; a batch runs matrices in
        parallel. None means ``DIFFCLUST_NUM_THREADS``, else
        ``OMP_NUM_THREADS``, else the usable cores. The result never depends
        on it.

    Returns
    -------
    Forest
        ``labels``, ``edges``, ``weights``, ``value``; ``adjacency()`` and
        ``connectivity()`` on request.

    Raises
    ------
    ValueError
        If S is empty, not square, has NaN or infinity off its diagonal, or k is
        outside [1, n].
    TypeError
        If S is not real-valued or k is not an integer.

    Notes
    -----
    Prim's O(n^2) algorithm builds the maximum spanning tree, whose k - 1
    lightest edges are then cut; this equals Kruskal's algorithm stopped at k
    components. A symmetric S is read in place (one pass checks symmetry,
    Prim's pass checks finiteness); a non-symmetric one is first symmetrised
    into an n x n scratch buffer.

    With constraints the exact problem is hard in general, and the greedy of
    Stewart et al. is used: must-link groups first (each joined by its own
    maximum spanning tree), then the other edges by decreasing weight, never
    merging two trees that hold different labels or that a cannot-link pair
    spans, until k trees remain; then, with ``refine``, each tree is re-spanned
    by Prim. Infeasible constraints (more distinct labels than k, a must-link
    joining two labels, must-link groups fewer than k, a cannot-link pair inside
    a must-link group, or cannot-links that need more than k trees, decided
    exactly by graph colouring) raise ``ValueError`` naming the conflict.

    A feasible problem never fails. Without cannot-links the greedy always
    reaches k trees. With them it can get stuck (every remaining merge spans a
    cannot-link); then it is run again, heaviest edges first, allowed to merge
    only inside the classes of one feasible colouring of the must-link groups
    (found once per call), which reaches exactly k trees. ``n_repaired`` on the
    result counts such forests.

    References
    ----------
    L. Stewart, F. Bach, F. Llinares-López, Q. Berthet. Differentiable
    Clustering with Perturbed Spanning Forests. NeurIPS 2023.
    """
    arrays = _ops.kforest(
        S, k, resolve_threads(n_threads), known_labels=known_labels, must_link=must_link,
        cannot_link=cannot_link, refine=refine,
    )
    return Forest(*arrays)


def kforest_from_edges(edges: ArrayLike, weights: ArrayLike, n: int, k: int) -> Forest:
    """Maximum-weight k-forest of a sparse graph given as an edge list (Kruskal).

    Parameters
    ----------
    edges : array_like of int, shape (m, 2)
        Undirected edges (i, j) in any order and orientation. Self-loops are
        skipped; of repeated pairs the heaviest counts.
    weights : array_like, shape (m,)
        Edge weights (larger = more similar), finite.
    n : int
        Number of vertices.
    k : int
        Number of trees, 1 <= k <= n. The graph must have at most k connected
        components.

    Returns
    -------
    Forest
        ``value`` is twice the total kept weight (``<A, S>`` for the symmetric S
        the edge list describes).

    Raises
    ------
    ValueError
        Wrong shapes, NaN/inf weights, k outside [1, n], or a graph with more
        than k connected components (the message gives the count).
    IndexError
        An edge index outside [0, n).
    """
    return Forest(*_ops.kforest_from_edges(edges, weights, n, k))


def kforest_from_points(
    X: ArrayLike, k: int, *, metric: str = "sqeuclidean", n_threads: int | None = None
) -> Forest:
    """Maximum-weight k-forest of points with ``S_ij = -d(x_i, x_j)`` (single linkage).

    Distances are computed inside Prim's algorithm, so memory is O(n d), never
    n x n. The spanning tree comes from the method that is fastest for the shape:
    kd-tree Borůvka at low dimension (euclidean, sqeuclidean, manhattan); row
    blocks once the n points outgrow the cache (n (d + 4) doubles beyond about
    5.2 MB, d >= 12: block trees and the cross edges of every pair of blocks as
    independent tasks, then Kruskal); Prim over all points otherwise. Every method
    gives the same forest bit for bit (the edge order is strict, so the tree is
    unique).

    Parameters
    ----------
    X : array_like, shape (n, d)
        Points, float32 or float64 (computed in float64).
    k : int
        Number of clusters, 1 <= k <= n.
    metric : {"sqeuclidean", "euclidean", "manhattan", "cosine"}
        As in ``sklearn.metrics.pairwise_distances``, with its aliases
        (``"l2"``, ``"l1"``, ``"cityblock"``); cosine of a zero vector is taken
        as distance 1, as scikit-learn does.
    n_threads : int, optional
        Threads that split each of Prim's steps (used when every thread gets
        at least 2048 points; a team that keeps waiting for a busy core
        finishes on one thread), or share the row blocks' tasks. None as in
        :func:`kforest`. The result never depends on it.

    Returns
    -------
    Forest
        ``weights`` are ``-d(x_i, x_j)`` (computed in float64, returned in the
        dtype of X); ``value`` is ``-2`` times the sum of the kept distances.
    """
    return Forest(*_ops.kforest_from_points(X, k, metric, resolve_threads(n_threads)))
