"""HDBSCAN*'s compiled condensing, alpha, max_cluster_size, persistence, DBCV,
dbscan_clustering, DBSCAN's border points and OPTICS's xi extraction, against
scikit-learn, the hdbscan package, SciPy and brute-force NumPy references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from test_density import (
    DATASETS,
    blobs_with_noise,
    grid_ties,
    moons,
    mst_total,
    same_partition,
)

import diffclust
from diffclust import _core
from diffclust import _density_tree as dt
from diffclust._ops import density as ops

sklearn_cluster = pytest.importorskip("sklearn.cluster")
from sklearn.cluster._hdbscan import _linkage as sk_linkage
from sklearn.cluster._hdbscan import _tree as sk_tree
from sklearn.metrics import DistanceMetric
from sklearn.neighbors import NearestNeighbors

# --------------------------------------------------------------------------- compiled condensing


def tree_edges(X: np.ndarray, ms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    _, order, parent, dist = ops.mutual_reachability_tree(X, ms, "euclidean", 1)
    return dt.sorted_edges(order, parent, dist)


@pytest.mark.parametrize("name", sorted(DATASETS) + ["grid_ties"])
@pytest.mark.parametrize("ms", [1, 4, 10])
def test_compiled_condensing_equals_python_reference(name: str, ms: int) -> None:
    X = grid_ties(0) if name == "grid_ties" else DATASETS[name](1)
    n = len(X)
    i, j, w = tree_edges(X, ms)
    Z = dt.single_linkage(n, i, j, w)
    assert np.array_equal(Z, dt.single_linkage_py(n, i, j, w))
    for mcs in (2, 5, 17, n + 1):
        tree = dt.condense(Z, n, mcs)
        ref = dt.condense_py(Z, n, mcs)
        assert tree.dtype == ref.dtype and np.array_equal(tree, ref)


def test_condensing_kernels_reject_bad_trees() -> None:
    u = np.array([0, 1, 0], dtype=np.int64)
    v = np.array([1, 2, 2], dtype=np.int64)
    with pytest.raises(ValueError, match="cycle"):
        _core.single_linkage_from_edges(4, u, v, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="sorted"):
        _core.single_linkage_from_edges(4, u, np.array([1, 2, 3]), np.array([2.0, 1.0, 3.0]))
    with pytest.raises(ValueError, match="outside"):
        _core.single_linkage_from_edges(4, u, np.array([1, 2, 4]), np.array([0.0, 1.0, 2.0]))
    Z = _core.single_linkage_from_edges(4, u, np.array([1, 2, 3]), np.array([0.0, 1.0, 2.0]))
    bad = Z.copy()
    bad[2, 0] = bad[1, 0]  # a node merged twice
    with pytest.raises(ValueError, match="twice|created before"):
        _core.condense_tree(bad, 2)
    bad = Z.copy()
    bad[1, 3] = 7
    with pytest.raises(ValueError, match="size"):
        _core.condense_tree(bad, 2)
    bad = Z.copy()
    bad[0, 2] = 5.0
    with pytest.raises(ValueError, match="non-decreasing"):
        _core.condense_tree(bad, 2)


def test_labels_from_edges_is_the_pipeline() -> None:
    X = blobs_with_noise(4)
    r = diffclust.hdbscan(X, min_cluster_size=12, min_samples=6)
    labels, probs = dt.labels_from_edges(len(X), r.edges[:, 0], r.edges[:, 1], r.weights, 12)
    assert np.array_equal(labels, r.labels) and np.array_equal(probs, r.probabilities)


# --------------------------------------------------------------------------- against scikit-learn


def sk_tie_orders(X: np.ndarray, ms: int, alpha: float = 1.0, orders: int = 12) -> list[np.ndarray]:
    """scikit-learn's own single-linkage trees of its Prim tree, with the tied edges in
    its order (np.argsort) and in ``orders - 1`` random orders."""
    core = np.ascontiguousarray(NearestNeighbors(n_neighbors=ms).fit(X).kneighbors(X, ms)[0][:, -1])
    mst = sk_linkage.mst_from_data_matrix(X, core, DistanceMetric.get_metric("euclidean"), alpha)
    d = mst["distance"]
    out = []
    for r in range(orders):
        order = np.argsort(d) if r == 0 else np.lexsort((np.random.default_rng(r).random(len(d)), d))
        out.append(sk_linkage.make_single_linkage(mst[order]))
    return out


CASES = [
    (5, 5, "eom", False, None),
    (5, 15, "eom", False, None),
    (10, 10, "leaf", False, None),
    (3, 8, "eom", False, None),
    (7, 40, "eom", True, None),
    (4, 10, "eom", False, 60),
]


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("case", CASES)
def test_hdbscan_equals_sklearn_wherever_sklearn_is_tie_free(
    name: str, seed: int, case: tuple[int, int, str, bool, int | None]
) -> None:
    """With min_samples > 1 the d_mr of several tree edges are equal (a point's core
    distance). scikit-learn merges them in the order of its Prim and np.argsort; where
    its labels and probabilities do not depend on that order (the same for 12 orders of
    its tied edges) ours are equal to them; elsewhere ours equal one of the results
    scikit-learn gives for some order of its ties, in most cases (not asserted)."""
    ms, mcs, method, single, biggest = case
    X = DATASETS[name](seed)
    outs = [
        sk_tree.tree_to_labels(h, mcs, method, single, 0.0, biggest) for h in sk_tie_orders(X, ms)
    ]
    fixed = all(
        same_partition(o[0], outs[0][0]) and np.allclose(o[1], outs[0][1], rtol=1e-12, atol=0) for o in outs
    )
    ref = sklearn_cluster.HDBSCAN(
        min_cluster_size=mcs, min_samples=ms, cluster_selection_method=method, allow_single_cluster=single,
        max_cluster_size=biggest, copy=True,
    ).fit(X)  # fmt: skip
    assert same_partition(ref.labels_, outs[0][0])  # the reconstruction is scikit-learn's pipeline
    r = diffclust.hdbscan(
        X, min_cluster_size=mcs, min_samples=ms, cluster_selection_method=method, allow_single_cluster=single,
        max_cluster_size=biggest,
    )  # fmt: skip
    if fixed:
        assert same_partition(r.labels, ref.labels_)
        np.testing.assert_allclose(r.probabilities, ref.probabilities_, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["blobs_noise", "moons", "anisotropic"])
@pytest.mark.parametrize("biggest", [30, 80, 150])
@pytest.mark.parametrize("single", [False, True])
def test_max_cluster_size_matches_sklearn(name: str, biggest: int, single: bool) -> None:
    X = DATASETS[name](3)
    kw = {"min_cluster_size": 6, "min_samples": 1, "max_cluster_size": biggest, "allow_single_cluster": single}
    ref = sklearn_cluster.HDBSCAN(copy=True, **kw).fit(X)
    r = diffclust.hdbscan(X, **kw)  # type: ignore[arg-type]
    assert same_partition(r.labels, ref.labels_)
    np.testing.assert_allclose(r.probabilities, ref.probabilities_, rtol=1e-9, atol=1e-12)
    if single:
        return
    counts = np.bincount(r.labels[r.labels >= 0])
    plain = diffclust.hdbscan(X, min_cluster_size=6, min_samples=1)
    assert len(counts) >= len(np.unique(plain.labels[plain.labels >= 0]))


@pytest.mark.parametrize("alpha", [0.7, 1.5, 3.0])
@pytest.mark.parametrize("ms", [1, 5])
@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "sqeuclidean", "cosine"])
def test_alpha_tree_is_the_mst_of_scaled_mutual_reachability(alpha: float, ms: int, metric: str) -> None:
    X = blobs_with_noise(2, 120, 3) + (3.0 if metric == "cosine" else 0.0)
    D = np.maximum(cdist(X, X, {"manhattan": "cityblock"}.get(metric, metric)), 0.0)
    core = np.sort(D, axis=1)[:, ms - 1]
    M = np.maximum(D / alpha, np.maximum(core[:, None], core[None, :]))
    np.fill_diagonal(M, 0.0)
    r = diffclust.hdbscan(X, min_cluster_size=5, min_samples=ms, alpha=alpha, metric=metric)
    np.testing.assert_allclose(r.weights.sum(), mst_total(M), rtol=1e-10)
    # (cosine: 1 - <x, y> / (|x| |y|) by scipy, 1 - <x/|x|, y/|y|> here: equal to ~1e-16)
    np.testing.assert_allclose(r.weights, M[r.edges[:, 0], r.edges[:, 1]], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(r.core_distances, core, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["blobs_noise", "moons", "anisotropic"])
@pytest.mark.parametrize("alpha", [0.8, 2.0])
def test_alpha_labels_match_sklearn_where_tie_free(name: str, alpha: float) -> None:
    X = DATASETS[name](1)
    for ms, mcs in ((1, 8), (4, 10)):
        outs = [sk_tree.tree_to_labels(h, mcs, "eom", False, 0.0, None) for h in sk_tie_orders(X, ms, alpha)]
        fixed = all(same_partition(o[0], outs[0][0]) and np.allclose(o[1], outs[0][1]) for o in outs)
        ref = sklearn_cluster.HDBSCAN(min_cluster_size=mcs, min_samples=ms, alpha=alpha, copy=True).fit(X)
        r = diffclust.hdbscan(X, min_cluster_size=mcs, min_samples=ms, alpha=alpha)
        if ms == 1:
            assert fixed
        if fixed:
            assert same_partition(r.labels, ref.labels_)
            np.testing.assert_allclose(r.probabilities, ref.probabilities_, rtol=1e-9, atol=1e-12)


def test_leaf_without_split_is_all_noise_as_sklearn() -> None:
    X = moons(0)[:40]
    for single in (False, True):
        ref = sklearn_cluster.HDBSCAN(
            min_cluster_size=30, min_samples=3, cluster_selection_method="leaf", allow_single_cluster=single, copy=True
        ).fit(X)
        r = diffclust.hdbscan(
            X, min_cluster_size=30, min_samples=3, cluster_selection_method="leaf", allow_single_cluster=single
        )
        assert same_partition(r.labels, ref.labels_) and (r.labels == -1).all()


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("params", [{"min_cluster_size": 8}, {"min_cluster_size": 20, "cluster_selection_method": "leaf"}])
def test_persistence_matches_hdbscan_package(name: str, params: dict[str, object]) -> None:
    ht = pytest.importorskip("hdbscan._hdbscan_tree")
    X = DATASETS[name](0)
    r = diffclust.hdbscan(X, **params)  # type: ignore[arg-type]
    tree = ht.condense_tree(r.single_linkage, params["min_cluster_size"])
    _, _, pers = ht.get_clusters(tree, ht.compute_stability(tree), params.get("cluster_selection_method", "eom"))
    np.testing.assert_allclose(r.persistence, pers, rtol=1e-12)
    assert r.persistence.shape == r.stabilities.shape


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("cut_q", [0.3, 0.6, 0.9])
@pytest.mark.parametrize("mcs", [1, 5, 12])
def test_dbscan_clustering_matches_sklearn(name: str, cut_q: float, mcs: int) -> None:
    from diffclust.sklearn import HDBSCAN

    X = DATASETS[name](2)
    est = HDBSCAN(min_cluster_size=10, min_samples=5).fit(X)
    cut = float(np.quantile(est.minimum_spanning_tree_[:, 2], cut_q)) * (1 + 1e-7)  # not at a tied level
    ref = sklearn_cluster.HDBSCAN(min_cluster_size=10, min_samples=5, copy=True).fit(X)
    ours = est.dbscan_clustering(cut, min_cluster_size=mcs)
    assert same_partition(ours, ref.dbscan_clustering(cut, min_cluster_size=mcs))
    # numbered by smallest point
    seen = ours[ours >= 0]
    _, first = np.unique(seen, return_index=True)
    assert np.array_equal(seen[np.sort(first)], np.arange(len(first)))


# --------------------------------------------------------------------------- DBSCAN border points


@pytest.mark.parametrize("name", sorted(DATASETS) + ["grid_ties"])
@pytest.mark.parametrize("eps,min_samples", [(0.2, 5), (0.5, 10), (1.0, 3), (0.05, 2), (1.5, 30)])
def test_dbscan_border_points_equal_sklearn(name: str, eps: float, min_samples: int) -> None:
    X = grid_ties(1) if name == "grid_ties" else DATASETS[name](0)
    ref = sklearn_cluster.DBSCAN(eps=eps, min_samples=min_samples).fit(X)
    r = diffclust.dbscan(X, eps, min_samples=min_samples, attach_border=True)
    np.testing.assert_array_equal(r.labels, ref.labels_)  # numbering included
    from diffclust.sklearn import DBSCAN

    np.testing.assert_array_equal(DBSCAN(eps=eps, min_samples=min_samples).fit(X).labels_, ref.labels_)


def test_border_point_between_two_clusters_takes_the_smaller_label() -> None:
    left = np.array([[0.0, 0.0], [0.0, 0.1], [0.0, -0.1], [-0.1, 0.0]])
    right = left * [-1.0, 1.0] + [2.0, 0.0]  # mirrored: (2, 0) is the right cluster's nearest point
    border = np.array([[1.0, 0.0]])  # within eps = 1.0 of both clusters' nearest core points
    for X in (np.vstack([left, right, border]), np.vstack([border, right, left])):
        ref = sklearn_cluster.DBSCAN(eps=1.0, min_samples=4).fit(X)
        r = diffclust.dbscan(X, 1.0, min_samples=4, attach_border=True)
        np.testing.assert_array_equal(r.labels, ref.labels_)
        b = 8 if X[8, 0] == 1.0 else 0
        assert r.labels[b] == 0
        assert diffclust.dbscan(X, 1.0, min_samples=4).labels[b] == -1


# --------------------------------------------------------------------------- OPTICS xi


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("min_samples", [3, 5, 10])
def test_optics_xi_equals_sklearn(seed: int, min_samples: int) -> None:
    """The estimator's labels and hierarchy against scikit-learn's OPTICS (one fit) and
    its cluster_optics_xi on that fit's graph, for several xi, sizes and corrections."""
    from diffclust.sklearn import OPTICS

    X = blobs_with_noise(seed, 250, 2)
    ref = sklearn_cluster.OPTICS(min_samples=min_samples).fit(X)
    first = OPTICS(min_samples=min_samples).fit(X)
    np.testing.assert_array_equal(first.ordering_, ref.ordering_)
    np.testing.assert_array_equal(first.labels_, ref.labels_)
    for xi in (0.01, 0.05, 0.2):
        for mcs in (None, 15, 0.05):
            for corr in (True, False):
                labels, hierarchy = sklearn_cluster.cluster_optics_xi(
                    reachability=ref.reachability_, predecessor=ref.predecessor_, ordering=ref.ordering_,
                    min_samples=min_samples, min_cluster_size=mcs, xi=xi, predecessor_correction=corr,
                )  # fmt: skip
                est = OPTICS(min_samples=min_samples, xi=xi, min_cluster_size=mcs, predecessor_correction=corr).fit(X)
                np.testing.assert_array_equal(est.labels_, labels)
                np.testing.assert_array_equal(est.cluster_hierarchy_, hierarchy.reshape(-1, 2))


@pytest.mark.parametrize("ms", [2, 5, 10])
def test_optics_graph_equals_sklearn_on_ties_and_duplicates(ms: int) -> None:
    from test_density import with_duplicates

    for X in (grid_ties(0), grid_ties(1), with_duplicates(0)):
        # (the dbscan extraction: scikit-learn's xi divides by zero reachabilities)
        ref = sklearn_cluster.OPTICS(min_samples=ms, max_eps=np.inf, cluster_method="dbscan").fit(X)
        r = diffclust.optics(X, min_samples=ms)
        np.testing.assert_array_equal(r.ordering, ref.ordering_)
        np.testing.assert_array_equal(r.predecessor, ref.predecessor_)
        np.testing.assert_allclose(r.reachability, ref.reachability_, rtol=1e-12)


def test_optics_xi_on_a_hand_made_plot() -> None:
    """Two valleys separated by a peak: the two valleys are two clusters, as in
    scikit-learn's function on the same plot."""
    from diffclust._optics_xi import xi_extract

    reach = np.array([np.inf, 1.0, 1.0, 1.0, 1.0, 10.0, 1.0, 1.0, 1.0, 1.0])
    order = np.arange(10)
    pred = np.array([-1, 0, 1, 2, 3, 4, 5, 6, 7, 8])
    labels, clusters = xi_extract(reach, pred, order, 2, 3, 0.5, False)
    ref = sklearn_cluster.cluster_optics_xi(
        reachability=reach, predecessor=pred, ordering=order, min_samples=2, min_cluster_size=3, xi=0.5,
        predecessor_correction=False,
    )  # fmt: skip
    np.testing.assert_array_equal(labels, ref[0])
    np.testing.assert_array_equal(clusters, ref[1].reshape(-1, 2))
    assert set(labels[1:5].tolist()) != set(labels[6:].tolist())


# --------------------------------------------------------------------------- DBCV


def find(root: list[int], x: int) -> int:
    while root[x] != x:
        x = root[x]
    return x


def dbcv_reference(X: np.ndarray, labels: np.ndarray) -> float:
    """DBCV from the definitions of Moulavi et al. 2014, by loops and dense matrices;
    the tree is Kruskal's under the order (weight, i, j) within each cluster."""
    D = cdist(X, X)
    n, d = X.shape
    clusters = sorted(set(labels.tolist()) - {-1})
    apts = np.zeros(n)
    inner: dict[int, list[int]] = {}
    dsc: dict[int, float] = {}
    for c in clusters:
        idx = [int(i) for i in np.flatnonzero(labels == c)]
        for o in idx:
            terms = [(1.0 / D[o, x]) ** d for x in idx if x != o]
            apts[o] = float(np.mean(terms)) ** (-1.0 / d)
        m = len(idx)
        pairs = sorted(
            (max(apts[idx[a]], apts[idx[b]], D[idx[a], idx[b]]), a, b) for a in range(m) for b in range(a + 1, m)
        )
        root = list(range(m))
        edges = []
        for w, a, b in pairs:
            ra, rb = find(root, a), find(root, b)
            if ra != rb:
                root[ra] = rb
                edges.append((w, a, b))
        degree = np.zeros(m, dtype=int)
        for _, a, b in edges:
            degree[a] += 1
            degree[b] += 1
        internal = [a for a in range(m) if degree[a] > 1] or list(range(m))
        ie = [w for w, a, b in edges if a in internal and b in internal] or [w for w, _, _ in edges]
        dsc[c] = max(ie)
        inner[c] = [idx[a] for a in internal]
    total = 0.0
    for c in clusters:
        sep = min(
            max(apts[p], apts[q], D[p, q]) for c2 in clusters if c2 != c for p in inner[c] for q in inner[c2]
        )
        v = (sep - dsc[c]) / max(sep, dsc[c])
        total += np.sum(labels == c) / n * v
    return float(total)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("d", [2, 3, 5])
def test_dbcv_matches_brute_force(seed: int, d: int) -> None:
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(c, 0.4 + 0.2 * k, (25 + 5 * k, d)) for k, c in enumerate((0.0, 3.0, 7.0))])
    labels = np.repeat([0, 1, 2], [25, 30, 35])
    labels[rng.random(len(X)) < 0.1] = -1
    labels[:2] = 2  # a cluster with two far points
    ours = diffclust.dbcv_score(X, labels)
    np.testing.assert_allclose(ours, dbcv_reference(X, labels), rtol=1e-9, atol=1e-12)
    assert -1.0 <= ours <= 1.0


def test_dbcv_prefers_the_true_clustering_and_checks_input() -> None:
    X = blobs_with_noise(0, 150)
    r = diffclust.hdbscan(X, min_cluster_size=10)
    good = diffclust.dbcv_score(X, r.labels)
    shuffled = np.random.default_rng(0).permutation(r.labels)
    assert good > diffclust.dbcv_score(X, shuffled)
    from diffclust.sklearn import HDBSCAN

    est = HDBSCAN(min_cluster_size=10).fit(X)
    assert est.relative_validity_ == good
    assert np.isnan(HDBSCAN(min_cluster_size=10, allow_single_cluster=True).fit(np.zeros((20, 2))).relative_validity_)
    with pytest.raises(ValueError, match="2 clusters"):
        diffclust.dbcv_score(X, np.zeros(len(X), dtype=int))
    with pytest.raises(ValueError, match="at least 2 points"):
        diffclust.dbcv_score(X, np.r_[0, np.ones(len(X) - 1, dtype=int)])
    with pytest.raises(ValueError, match="labels"):
        diffclust.dbcv_score(X, np.zeros(3, dtype=int))
    with pytest.raises(TypeError, match="labels"):
        diffclust.dbcv_score(X, np.zeros(len(X)))
    # duplicates: a(o) = 0, no NaN
    Xd = np.vstack([X, X[:20]])
    assert np.isfinite(diffclust.dbcv_score(Xd, np.r_[r.labels, r.labels[:20]]))


# --------------------------------------------------------------------------- threads, errors


def test_new_paths_are_thread_independent() -> None:
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(c, 0.5, size=(900, 3)) for c in (0, 4, 8)])
    X[::5] = np.round(X[::5])
    runs = [diffclust.hdbscan(X, min_cluster_size=20, min_samples=8, alpha=1.7, n_threads=t) for t in (1, 2, 3, 7)]
    for r in runs[1:]:
        for f in ("labels", "probabilities", "weights", "edges", "persistence"):
            assert np.array_equal(getattr(r, f), getattr(runs[0], f)), f
    b = [diffclust.dbscan(X, 0.3, min_samples=6, attach_border=True, n_threads=t).labels for t in (1, 2, 3, 7)]
    assert all(np.array_equal(x, b[0]) for x in b[1:])
    lab = runs[0].labels
    v = [diffclust.dbcv_score(X[::5], lab[::5], n_threads=t) for t in (1, 2, 3, 7)]
    assert len(set(v)) == 1


def weighted_core_reference(X: np.ndarray, w: np.ndarray, ms: int) -> np.ndarray:
    D = cdist(X, X)
    out = np.empty(len(X))
    for i in range(len(X)):
        for r in np.unique(D[i]):
            if w[D[i] <= r].sum() >= ms - 1e-9:
                out[i] = r
                break
    return out


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("ms", [1, 3, 8])
def test_sample_weight_core_distances(seed: int, ms: int) -> None:
    rng = np.random.default_rng(seed)
    X = blobs_with_noise(seed, 120)
    X[5] = X[6]  # a duplicate
    w = rng.uniform(0.0, 2.0, len(X))
    r = diffclust.hdbscan(X, min_cluster_size=6, min_samples=ms, sample_weight=w)
    core = weighted_core_reference(X, w, ms)
    np.testing.assert_allclose(r.core_distances, core, rtol=1e-9, atol=1e-12)  # d by the dot-product formula
    M = np.maximum(cdist(X, X), np.maximum(core[:, None], core[None, :]))
    np.fill_diagonal(M, 0.0)
    np.testing.assert_allclose(r.weights.sum(), mst_total(M), rtol=1e-9)
    # integer weights: the core distances of X with rows repeated
    k = rng.integers(1, 4, len(X))
    rk = diffclust.hdbscan(X, min_cluster_size=6, min_samples=ms, sample_weight=k)
    rep = diffclust.hdbscan(np.repeat(X, k, axis=0), min_cluster_size=6, min_samples=ms)
    np.testing.assert_allclose(rk.core_distances, rep.core_distances[np.cumsum(k) - k], rtol=1e-9, atol=1e-12)
    # DBSCAN's weighted core points are the points of weighted core distance <= eps
    for eps in (0.3, 0.8):
        ref = sklearn_cluster.DBSCAN(eps=eps, min_samples=ms).fit(X, sample_weight=w)
        np.testing.assert_array_equal(np.flatnonzero(r.core_distances <= eps), ref.core_sample_indices_)


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "manhattan"])
@pytest.mark.parametrize("d", [2, 7, 20])
def test_weighted_core_kdtree(metric: str, d: int) -> None:
    # The compiled kd-tree search keeps, per point, the fewest nearest points that
    # weigh min_samples. References: the unweighted core distances (unit weights,
    # the same bits), X with rows repeated (integer weights, the same bits), and
    # every distance sorted (any weights, zeros included: to rounding, its
    # distances come from another kernel); any thread count, the same bits.
    from diffclust import _density_weights as dw
    from diffclust._ops import density as dens

    rng = np.random.default_rng(d)
    duplicates = np.repeat(rng.normal(size=(2, d)), 30, axis=0)
    X = np.concatenate([rng.normal(size=(400, d)), rng.normal(size=(250, d)) + 4.0, duplicates])
    n = len(X)
    for ms in (1, 4, 19):
        ones = dw.weighted_core(X, ms, metric, np.ones(n), 2)
        assert ones.tobytes() == dens.core_distances(X, ms, metric, 2, "kd_tree").tobytes()
        k = rng.integers(1, 4, n)
        rep = dens.core_distances(np.repeat(X, k, axis=0), ms, metric, 2, "kd_tree")
        assert dw.weighted_core(X, ms, metric, k.astype(np.float64), 2).tobytes() == rep[np.cumsum(k) - k].tobytes()
        w = rng.uniform(0.0, 2.0, n) * (rng.random(n) < 0.8)
        got = dw.weighted_core(X, ms, metric, w, 1)
        np.testing.assert_allclose(got, dw.weighted_core_blocks(X, ms, metric, w, 1), rtol=1e-12, atol=1e-12)
        for threads in (2, 3, 7):
            assert dw.weighted_core(X, ms, metric, w, threads).tobytes() == got.tobytes()


def test_new_parameters_errors() -> None:
    X = moons(0)
    with pytest.raises(ValueError, match="sample_weight"):
        diffclust.hdbscan(X, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="sample_weight"):
        diffclust.hdbscan(X, sample_weight=-np.ones(len(X)))
    with pytest.raises(ValueError, match="sample_weight"):
        diffclust.hdbscan(X, min_samples=5, sample_weight=np.full(len(X), 0.01))
    with pytest.raises(TypeError, match="sample_weight"):
        diffclust.hdbscan(X, sample_weight=np.array(["a"] * len(X)))
    with pytest.raises(ValueError, match="alpha"):
        diffclust.hdbscan(X, alpha=0.0)
    with pytest.raises(ValueError, match="max_cluster_size"):
        diffclust.hdbscan(X, max_cluster_size=0)
    with pytest.raises(TypeError, match="max_cluster_size"):
        diffclust.hdbscan(X, max_cluster_size=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="attach_border"):
        diffclust.dbscan(X, 0.3, attach_border=1)  # type: ignore[arg-type]
    r = diffclust.hdbscan(X)
    with pytest.raises(ValueError, match="cut_distance"):
        r.dbscan_clustering(0.0)
    with pytest.raises(ValueError, match="min_cluster_size"):
        r.dbscan_clustering(0.5, min_cluster_size=0)
    from diffclust.sklearn import OPTICS

    with pytest.raises(ValueError, match="xi"):
        OPTICS(xi=1.5).fit(X)
    with pytest.raises(ValueError, match="min_cluster_size"):
        OPTICS(min_cluster_size=1).fit(X)

