"""HDBSCAN*'s hierarchy from a mutual-reachability spanning tree (private).

From the n - 1 tree edges: the single-linkage dendrogram (SciPy's linkage
format), the condensed tree for a ``min_cluster_size``, cluster stabilities,
the selection ("eom" or "leaf", ``cluster_selection_epsilon``,
``allow_single_cluster``), labels, membership probabilities and GLOSH outlier
scores. The definitions follow Campello, Moulavi and Sander (2013, 2015) and
Malzer and Baum (2020, the epsilon); where several readings exist, the one of
scikit-learn's ``HDBSCAN`` is taken, so that labels and probabilities agree
with it (see tests/test_density.py):

- lambda = 1 / distance (inf at distance 0);
- the stability of cluster C is sum over the rows (C, child, lambda, size) of
  (lambda - lambda_birth(C)) * size, lambda_birth(root) = 0;
- a point's probability is min(lambda_p, lambda_max) / lambda_max with
  lambda_max the largest lambda among the rows whose parent is the point's
  selected cluster (1 if lambda_max is 0 or lambda_p is inf);
- a single selected root (``allow_single_cluster``) keeps the points whose
  lambda is at least the largest lambda of the root's rows (or 1 / epsilon).

Cluster labels of the condensed tree start at n (the root) and every child
cluster has a larger label than its parent.

The single linkage and the condensing run in C++ (density/condense.hpp, about
15x faster at n = 50 000); :func:`single_linkage_py` and :func:`condense_py`
are their pure-Python references (the same arrays, bit for bit, tested).
:func:`labels_from_edges` runs the whole chain from sorted tree edges.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _core

__all__ = [
    "CONDENSED_DTYPE",
    "condense",
    "condense_py",
    "glosh",
    "labelling_at_cut",
    "labels_from_edges",
    "persistence",
    "select_clusters",
    "single_linkage",
    "single_linkage_py",
]

CONDENSED_DTYPE = np.dtype([("parent", np.intp), ("child", np.intp), ("lambda_val", np.float64), ("child_size", np.intp)])

IntArray = NDArray[np.intp]
FloatArray = NDArray[np.float64]


def sorted_edges(
    order: NDArray[Any], parent: NDArray[Any], dist: FloatArray
) -> tuple[IntArray, IntArray, FloatArray]:
    """The tree's edges (i < j) sorted by distance, then by the pair (the strict order)."""
    child = np.asarray(order[1:], dtype=np.intp)
    par = np.asarray(parent, dtype=np.intp)
    i = np.minimum(par, child)
    j = np.maximum(par, child)
    idx = np.lexsort((j, i, dist))
    return i[idx], j[idx], np.asarray(dist, dtype=np.float64)[idx]


def single_linkage(n: int, i: IntArray, j: IntArray, dist: FloatArray) -> FloatArray:
    """SciPy's linkage matrix (n - 1, 4) of the sorted tree edges: [a, b, distance, size].

    Merge t creates node n + t; a < b are the merged nodes. The compiled kernel
    (density/condense.hpp); :func:`single_linkage_py` is its reference.
    """
    Z: FloatArray = _core.single_linkage_from_edges(
        int(n), np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64), np.asarray(dist, dtype=np.float64)
    )
    return Z


def single_linkage_py(n: int, i: IntArray, j: IntArray, dist: FloatArray) -> FloatArray:
    """The pure-Python reference of :func:`single_linkage` (the same array, bit for bit)."""
    root = list(range(2 * n - 1))
    size = [1] * (2 * n - 1)
    Z = np.empty((max(n - 1, 0), 4), dtype=np.float64)
    il, jl = i.tolist(), j.tolist()
    for t in range(n - 1):
        a, b = il[t], jl[t]
        while root[a] != a:  # find with path halving
            root[a] = root[root[a]]
            a = root[a]
        while root[b] != b:
            root[b] = root[root[b]]
            b = root[b]
        new = n + t
        root[a] = root[b] = new
        size[new] = size[a] + size[b]
        Z[t, 0], Z[t, 1] = (a, b) if a < b else (b, a)
        Z[t, 3] = size[new]
    if n > 1:
        Z[:, 2] = dist
    return Z


def condense(Z: FloatArray, n: int, min_cluster_size: int) -> NDArray[Any]:
    """The condensed tree (rows parent, child, lambda_val, child_size; CONDENSED_DTYPE).

    The compiled kernel (density/condense.hpp); :func:`condense_py` is its reference.
    """
    if n - 1 <= 0:
        return np.zeros(0, dtype=CONDENSED_DTYPE)
    parent, child, lam, size = _core.condense_tree(np.ascontiguousarray(Z, dtype=np.float64), int(min_cluster_size))
    tree = np.empty(parent.shape[0], dtype=CONDENSED_DTYPE)
    tree["parent"], tree["child"], tree["lambda_val"], tree["child_size"] = parent, child, lam, size
    return tree


def condense_py(Z: FloatArray, n: int, min_cluster_size: int) -> NDArray[Any]:
    """The pure-Python reference of :func:`condense` (the same rows in the same order)."""
    m = n - 1
    if m <= 0:
        return np.zeros(0, dtype=CONDENSED_DTYPE)
    left = Z[:, 0].astype(np.intp).tolist()
    right = Z[:, 1].astype(np.intp).tolist()
    sizes = [1] * n + Z[:, 3].astype(np.intp).tolist()
    with np.errstate(divide="ignore"):
        lam_of = np.where(Z[:, 2] > 0, 1.0 / np.where(Z[:, 2] > 0, Z[:, 2], 1.0), np.inf).tolist()
    relabel = [0] * (2 * n - 1)
    ignore = bytearray(2 * n - 1)
    relabel[2 * n - 2] = n
    next_label = n + 1
    parents: list[int] = []
    children: list[int] = []
    lams: list[float] = []
    csizes: list[int] = []

    def fall_out(node: int, p: int, lam: float) -> None:
        stack = [node]
        while stack:
            x = stack.pop()
            if x < n:
                parents.append(p)
                children.append(x)
                lams.append(lam)
                csizes.append(1)
            else:
                ignore[x] = 1
                stack.append(left[x - n])
                stack.append(right[x - n])

    for x in range(2 * n - 2, n - 1, -1):
        if ignore[x]:
            continue
        t = x - n
        a, b = left[t], right[t]
        lam = lam_of[t]
        p = relabel[x]
        sa, sb = sizes[a], sizes[b]
        if sa >= min_cluster_size and sb >= min_cluster_size:
            for c, sc in ((a, sa), (b, sb)):
                relabel[c] = next_label
                parents.append(p)
                children.append(next_label)
                lams.append(lam)
                csizes.append(sc)
                next_label += 1
        elif sa < min_cluster_size and sb < min_cluster_size:
            fall_out(a, p, lam)
            fall_out(b, p, lam)
        elif sa < min_cluster_size:
            relabel[b] = p
            fall_out(a, p, lam)
        else:
            relabel[a] = p
            fall_out(b, p, lam)
    tree = np.empty(len(parents), dtype=CONDENSED_DTYPE)
    tree["parent"] = parents
    tree["child"] = children
    tree["lambda_val"] = lams
    tree["child_size"] = csizes
    return tree


def stabilities(tree: NDArray[Any], n: int) -> FloatArray:
    """Stability of every condensed cluster n, n + 1, ... (indexed from 0)."""
    n_clusters = int(tree["parent"].max()) - n + 1 if tree.size else 1
    births = np.zeros(n_clusters, dtype=np.float64)
    is_cluster = tree["child"] >= n
    births[tree["child"][is_cluster] - n] = tree["lambda_val"][is_cluster]
    with np.errstate(invalid="ignore"):
        contrib = (tree["lambda_val"] - births[tree["parent"] - n]) * tree["child_size"]
    out: FloatArray = np.zeros(n_clusters, dtype=np.float64)
    np.add.at(out, tree["parent"] - n, contrib)
    return out


def _descendants(children: list[list[int]], c: int) -> list[int]:
    out, stack = [], [c]
    while stack:
        x = stack.pop()
        out.append(x)
        stack.extend(children[x])
    return out


def select_clusters(
    tree: NDArray[Any],
    n: int,
    method: str,
    epsilon: float,
    allow_single_cluster: bool,
    max_cluster_size: int | None = None,
) -> tuple[IntArray, FloatArray, list[int], FloatArray]:
    """(labels, probabilities, selected cluster ids (condensed labels), stability of each).

    Labels number the selected clusters 0, 1, ... in increasing condensed label.
    ``max_cluster_size`` (eom only, as scikit-learn): a cluster born with more
    points is never selected (its children's stability replaces its own); the
    root's size is the sum of its child clusters' sizes. The epsilon step may
    still select such a cluster.
    """
    labels = np.full(n, -1, dtype=np.intp)
    probs = np.zeros(n, dtype=np.float64)
    if tree.size == 0:  # a single point
        return labels, probs, [], np.zeros(0)
    stab = stabilities(tree, n).tolist()
    n_clusters = len(stab)
    ctree = tree[tree["child"] >= n]
    kids: list[list[int]] = [[] for _ in range(n_clusters)]
    parent_of = [-1] * n_clusters
    birth_lambda = [0.0] * n_clusters
    born_size = [0] * n_clusters
    for p, c, lam, sz in zip(
        ctree["parent"].tolist(), ctree["child"].tolist(), ctree["lambda_val"].tolist(), ctree["child_size"].tolist()
    ):
        kids[p - n].append(c - n)
        parent_of[c - n] = p - n
        birth_lambda[c - n] = lam
        born_size[c - n] = sz
    born_size[0] = sum(born_size[k] for k in kids[0])
    too_big = n + 1 if max_cluster_size is None or max_cluster_size <= 0 else max_cluster_size
    nodes = list(range(n_clusters - 1, -1, -1)) if allow_single_cluster else list(range(n_clusters - 1, 0, -1))
    is_cluster = [False] * n_clusters
    for c in nodes:
        is_cluster[c] = True
    if method == "eom":
        for c in nodes:
            sub = float(np.sum([stab[k] for k in kids[c]])) if kids[c] else 0.0
            if sub > stab[c] or born_size[c] > too_big:
                is_cluster[c] = False
                stab[c] = sub
            else:
                for s in _descendants(kids, c)[1:]:
                    is_cluster[s] = False
        if epsilon != 0.0 and ctree.size > 0:
            chosen = [c for c in range(n_clusters) if is_cluster[c]]
            if chosen == [0]:
                selected = set(chosen) if allow_single_cluster else set()
            else:
                selected = _epsilon_search(chosen, kids, parent_of, birth_lambda, epsilon, allow_single_cluster)
            is_cluster = [c in selected for c in range(n_clusters)]
    else:  # leaf
        leaves = [c for c in range(n_clusters) if not kids[c] and c != 0] if ctree.size else []
        if not leaves:  # no split: nothing is selected (as scikit-learn and hdbscan)
            selected = set()
        elif epsilon != 0.0:
            selected = _epsilon_search(leaves, kids, parent_of, birth_lambda, epsilon, allow_single_cluster)
        else:
            selected = set(leaves)
        is_cluster = [c in selected for c in range(n_clusters)]
    clusters = [c for c in range(n_clusters) if is_cluster[c]]
    # the selected ancestor (or self) of every condensed cluster: parents come first
    sel = [-1] * n_clusters
    for c in range(n_clusters):
        sel[c] = c if is_cluster[c] else (sel[parent_of[c]] if c > 0 else -1)
    number = {c: i for i, c in enumerate(clusters)}
    rows = tree[tree["child"] < n]
    rp = rows["parent"] - n
    point = rows["child"]
    lam = rows["lambda_val"]
    sel_arr = np.asarray(sel, dtype=np.intp)[rp]
    lab_of = np.asarray([number.get(c, -1) for c in range(n_clusters)], dtype=np.intp)
    lab = np.where(sel_arr >= 0, lab_of[np.maximum(sel_arr, 0)], -1)
    at_root = sel_arr == 0
    if at_root.any():
        if len(clusters) == 1 and allow_single_cluster:
            if epsilon != 0.0:
                threshold = 1.0 / epsilon
            else:
                threshold = float(tree["lambda_val"][tree["parent"] == n].max())
            lab[at_root & ~(lam >= threshold)] = -1
        else:
            lab[at_root] = -1
    labels[point] = lab
    # probabilities: lambda_max = the largest lambda of the rows under the selected cluster
    deaths = np.zeros(n_clusters, dtype=np.float64)
    np.maximum.at(deaths, tree["parent"] - n, tree["lambda_val"])
    member = lab >= 0
    cl = sel_arr[member]
    lmax = deaths[cl]
    lp = lam[member]
    with np.errstate(invalid="ignore", divide="ignore"):
        pr = np.where((lmax == 0.0) | np.isinf(lp), 1.0, np.minimum(lp, lmax) / np.where(lmax == 0.0, 1.0, lmax))
    probs[point[member]] = pr
    return labels, probs, [c + n for c in clusters], np.asarray([stab[c] for c in clusters], dtype=np.float64)


def _epsilon_search(
    chosen: list[int],
    kids: list[list[int]],
    parent_of: list[int],
    birth_lambda: list[float],
    epsilon: float,
    allow_single_cluster: bool,
) -> set[int]:
    """Malzer and Baum's selection: clusters born below epsilon are replaced by their
    nearest ancestor born above it (not the root unless allow_single_cluster)."""

    def eps_of(c: int) -> float:
        lam = birth_lambda[c]
        return 1.0 / lam if lam > 0 else np.inf

    selected: list[int] = []
    processed: set[int] = set()
    for c in chosen:
        if eps_of(c) < epsilon:
            if c in processed:
                continue
            x = c
            while True:
                p = parent_of[x]
                if p == 0:
                    top = p if allow_single_cluster else x
                    break
                if eps_of(p) > epsilon:
                    top = p
                    break
                x = p
            selected.append(top)
            processed.update(_descendants(kids, top)[1:])
        else:
            selected.append(c)
    return set(selected)


def glosh(tree: NDArray[Any], n: int) -> FloatArray:
    """GLOSH outlier scores (Campello et al. 2015): 1 - lambda_p / lambda_max(C_p), with
    C_p the condensed cluster p falls out of and lambda_max(C) the largest lambda of
    any point in C's subtree (0 where lambda_max is 0 or lambda_p is inf; 1 where
    lambda_max is inf and lambda_p is not)."""
    scores = np.zeros(n, dtype=np.float64)
    if tree.size == 0:
        return scores
    n_clusters = int(tree["parent"].max()) - n + 1
    deaths = np.zeros(n_clusters, dtype=np.float64)
    np.maximum.at(deaths, tree["parent"] - n, tree["lambda_val"])
    ctree = tree[tree["child"] >= n]
    # children have larger labels: propagate maxima upwards from the largest label down
    order = np.argsort(-ctree["child"], kind="stable")
    for p, c in zip(ctree["parent"][order].tolist(), ctree["child"][order].tolist()):
        deaths[p - n] = max(deaths[p - n], deaths[c - n])
    rows = tree[tree["child"] < n]
    lmax = deaths[rows["parent"] - n]
    lam = rows["lambda_val"]
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where((lmax == 0.0) | np.isinf(lam), 0.0, (lmax - lam) / np.where(lmax == 0.0, 1.0, lmax))
    # lambda_max = inf (duplicates) and a finite lambda_p: the limit 1 (the hdbscan package gives NaN)
    s[np.isinf(lmax) & ~np.isinf(lam)] = 1.0
    scores[rows["child"]] = s
    return scores


def persistence(tree: NDArray[Any], labels: IntArray, stabilities: FloatArray) -> FloatArray:
    """Cluster persistence: S_c / (|c| * lambda_max) for each selected cluster, with S_c
    its stability, |c| its labelled points and lambda_max the largest lambda of the
    condensed tree; 1 where lambda_max is 0 or inf or the cluster is empty (the
    hdbscan package's ``cluster_persistence_``)."""
    k = stabilities.shape[0]
    out: FloatArray = np.ones(k, dtype=np.float64)
    if k == 0 or tree.size == 0:
        return out
    lmax = float(tree["lambda_val"].max())
    if lmax == 0.0 or np.isinf(lmax):
        return out
    sizes = np.bincount(labels[labels >= 0], minlength=k)[:k]
    ok = sizes > 0
    out[ok] = stabilities[ok] / (sizes[ok] * lmax)
    return out


def labelling_at_cut(Z: FloatArray, n: int, cut: float, min_cluster_size: int) -> IntArray:
    """DBSCAN* from the single-linkage tree: the components of the merges at distance
    strictly below ``cut``; components with fewer than ``min_cluster_size`` points are
    noise (-1), the others are numbered 0, 1, ... by their smallest point."""
    labels = np.full(n, -1, dtype=np.intp)
    if n == 0:
        return labels
    # the top merge below the cut of every point: walk Z in order, merges below the cut only
    below = Z[:, 2] < cut if n > 1 else np.zeros(0, dtype=bool)
    comp = np.arange(2 * n - 1, dtype=np.intp)
    a = Z[:, 0].astype(np.intp)
    b = Z[:, 1].astype(np.intp)
    # a node's component is the merge it joins (if below the cut), followed upwards;
    # merges come in increasing distance, so the parents of a merge below the cut come
    # later: resolve from the last merge down
    up = np.full(2 * n - 1, -1, dtype=np.intp)
    t = np.flatnonzero(below)
    up[a[t]] = n + t
    up[b[t]] = n + t
    for x in range(2 * n - 2, -1, -1):
        comp[x] = comp[up[x]] if up[x] >= 0 else x
    root = comp[:n]
    _, first, inverse, counts = np.unique(root, return_index=True, return_inverse=True, return_counts=True)
    big = counts >= min_cluster_size
    rank = np.full(first.shape[0], -1, dtype=np.intp)
    by_first = np.argsort(first[big], kind="stable")
    big_ids = np.flatnonzero(big)[by_first]
    rank[big_ids] = np.arange(big_ids.shape[0])
    labels[:] = rank[inverse.reshape(-1)]
    return labels


def labels_from_edges(
    n: int,
    u: IntArray,
    v: IntArray,
    d_mr: FloatArray,
    min_cluster_size: int,
    method: str = "eom",
    epsilon: float = 0.0,
    allow_single_cluster: bool = False,
    max_cluster_size: int | None = None,
) -> tuple[IntArray, FloatArray]:
    """(labels, probabilities) of HDBSCAN* from the n - 1 spanning-tree edges (u, v)
    sorted by their mutual-reachability distance ``d_mr`` (ties in any fixed order):
    single linkage, condensing and selection in one call, for callers that cluster
    many trees (the perturbed HDBSCAN)."""
    Z = single_linkage(n, u, v, d_mr)
    tree = condense(Z, n, min_cluster_size)
    labels, probs, _, _ = select_clusters(tree, n, method, epsilon, allow_single_cluster, max_cluster_size)
    return labels, probs
