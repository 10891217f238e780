"""Independent references for the forest tests: SciPy and brute force."""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial.distance import squareform


def canonical(labels: np.ndarray) -> np.ndarray:
    """Renumber a partition by first appearance."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inverse]


def scipy_single_linkage(S: np.ndarray, k: int) -> np.ndarray:
    """Single linkage of the distance -W (W the symmetrised S) cut into k clusters."""
    W = (S + S.T) / 2
    D = -W
    D = D - D.min() + 1.0  # linkage wants non-negative distances; a shift keeps the order
    np.fill_diagonal(D, 0.0)
    labels = fcluster(linkage(squareform(D, checks=False), "single"), k, "maxclust")
    return canonical(labels)


def scipy_mst_forest(S: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """Maximum spanning tree by SciPy's MST on shifted negated weights, minus its k - 1 lightest edges.

    Returns the partition and the value <A, S> of the resulting forest.
    """
    n = S.shape[0]
    W = (S + S.T) / 2
    C = W.max() - W + 1.0  # positive costs; a min spanning tree of C is a max tree of W
    np.fill_diagonal(C, 0.0)
    T = minimum_spanning_tree(C).tocoo()
    order = np.argsort(-W[T.row, T.col], kind="stable")
    keep = order[: n - k]
    i, j = T.row[keep], T.col[keep]
    A = np.zeros((n, n))
    A[i, j] = A[j, i] = 1
    _, labels = connected_components(A, directed=False)
    return canonical(labels), float((A * S).sum())


def random_forest_value(S: np.ndarray, k: int, rng: np.random.Generator) -> float:
    """Value of the k-forest that a greedy over a random edge order builds."""
    n = S.shape[0]
    W = (S + S.T) / 2
    iu, ju = np.triu_indices(n, 1)
    kept = kruskal_pairs(n, W[iu, ju], n - k, order=rng.permutation(len(iu)))
    return float(sum(2 * w for _, _, w in kept))


def kruskal_pairs(
    n: int, w: np.ndarray, max_edges: int | None = None, order: np.ndarray | None = None
) -> list[tuple[int, int, float]]:
    """Brute-force Kruskal over all pairs i < j of n points: ``w`` the weights of the
    pairs in ``np.triu_indices(n, 1)`` order, lightest first, ties by (i, j) (the
    package's strict edge order), or in the given ``order`` of the pairs (a greedy);
    (i, j, w) of the kept edges, at most ``max_edges``."""
    ii, jj = np.triu_indices(n, 1)
    root = list(range(n))

    def find(a: int) -> int:
        while root[a] != a:
            root[a] = root[root[a]]
            a = root[a]
        return a

    kept: list[tuple[int, int, float]] = []
    limit = n - 1 if max_edges is None else max_edges
    for t in (np.lexsort((jj, ii, w)) if order is None else order).tolist():
        if len(kept) >= limit:
            break
        a, b = find(int(ii[t])), find(int(jj[t]))
        if a != b:
            root[a] = b
            kept.append((int(ii[t]), int(jj[t]), float(w[t])))
    return kept
