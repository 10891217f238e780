"""HDBSCAN*, DBSCAN* and OPTICS against scikit-learn, SciPy and brute force."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial.distance import cdist

import diffclust
from diffclust._ops import density as _ops_density

sklearn_cluster = pytest.importorskip("sklearn.cluster")
sklearn_datasets = pytest.importorskip("sklearn.datasets")
from sklearn.neighbors import NearestNeighbors

# --------------------------------------------------------------------------- data


def blobs_with_noise(seed: int, n: int = 300, d: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X, _ = sklearn_datasets.make_blobs(
        n_samples=n, centers=4, n_features=d, cluster_std=[0.4, 0.8, 1.5, 0.3], random_state=seed
    )
    noise = rng.uniform(X.min(0) - 2, X.max(0) + 2, size=(n // 10, d))
    return np.vstack([X, noise])


def moons(seed: int) -> np.ndarray:
    X, _ = sklearn_datasets.make_moons(n_samples=250, noise=0.06, random_state=seed)
    return X


def anisotropic(seed: int) -> np.ndarray:
    X, _ = sklearn_datasets.make_blobs(n_samples=300, centers=3, random_state=seed)
    return X @ np.array([[0.6, -0.64], [-0.41, 0.85]])


def with_duplicates(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = blobs_with_noise(seed, 200)
    dup = X[rng.integers(0, len(X), 60)]
    return np.vstack([X, dup, dup[:10]])


def grid_ties(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 6, size=(150, 2)).astype(float)
    b = rng.integers(20, 24, size=(100, 2)).astype(float)
    return np.vstack([a, b])


DATASETS = {
    "blobs_noise": blobs_with_noise,
    "moons": moons,
    "anisotropic": anisotropic,
    "duplicates": with_duplicates,
}


def dense_mr(X: np.ndarray, min_samples: int, metric: str = "euclidean") -> tuple[np.ndarray, np.ndarray]:
    """NumPy reference: core distances and the dense mutual-reachability matrix."""
    D = cdist(X, X, {"manhattan": "cityblock"}.get(metric, metric))
    core = np.sort(D, axis=1)[:, min_samples - 1]
    M = np.maximum(D, np.maximum(core[:, None], core[None, :]))
    np.fill_diagonal(M, 0.0)
    return core, M


def mst_total(M: np.ndarray) -> float:
    # scipy drops zero entries: shift every off-diagonal weight by 1
    n = M.shape[0]
    shifted = M + 1.0
    np.fill_diagonal(shifted, 0.0)
    return float(minimum_spanning_tree(shifted).sum()) - (n - 1)


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal labels up to renumbering, with -1 (noise) fixed."""
    if not np.array_equal(a == -1, b == -1):
        return False
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len({p[0] for p in pairs}) == len({p[1] for p in pairs})


# --------------------------------------------------------------------------- core distances, tree


@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "cosine", "sqeuclidean"])
@pytest.mark.parametrize("d", [2, 5, 20])
@pytest.mark.parametrize("min_samples", [1, 2, 7])
def test_core_distances_and_tree_weight(metric: str, d: int, min_samples: int) -> None:
    rng = np.random.default_rng(d * 10 + min_samples)
    X = rng.normal(size=(150, d))
    core_ref, M = dense_mr(X, min_samples, metric)
    for method in ("auto", "kd_tree", "brute"):
        if method == "kd_tree" and metric == "cosine":
            continue
        core = _ops_density.core_distances(X, min_samples, metric, 1, method)
        np.testing.assert_allclose(core, core_ref, rtol=1e-12, atol=1e-12)
    r = diffclust.hdbscan(X, min_cluster_size=5, min_samples=min_samples, metric=metric)
    np.testing.assert_allclose(r.weights.sum(), mst_total(M), rtol=1e-10, atol=1e-10)
    # the edges' weights are their d_mr, sorted
    np.testing.assert_allclose(r.weights, M[r.edges[:, 0], r.edges[:, 1]], rtol=1e-12, atol=1e-12)
    assert np.all(np.diff(r.weights) >= 0)
    assert np.all(r.edges[:, 0] < r.edges[:, 1])


def test_core_distances_match_sklearn_neighbors() -> None:
    X = blobs_with_noise(3, 500, 3)
    nn = NearestNeighbors(n_neighbors=10).fit(X)
    ref = nn.kneighbors(X)[0][:, -1]
    r = diffclust.hdbscan(X, min_samples=10)
    np.testing.assert_allclose(r.core_distances, ref, rtol=1e-12)


@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "sqeuclidean"])
@pytest.mark.parametrize("d", [1, 3, 8, 13, 33])
def test_kdtree_core_distances_equal_brute_force_bit_for_bit(metric: str, d: int) -> None:
    # The kd-tree searches a leaf's points together and computes the distances to a
    # leaf as one vectorised tile: the same sums in the same order as the brute
    # force's, so the same bits, for any leaf width (odd n, duplicates beyond a
    # leaf), any k (beyond a leaf's size too) and any thread count.
    rng = np.random.default_rng(d)
    X = np.concatenate([rng.normal(size=(613, d)), np.repeat(rng.normal(size=(3, d)), 41, axis=0)])
    for min_samples in (2, 9, 60):
        ref = _ops_density.core_distances(X, min_samples, metric, 1, "brute")
        for threads in (1, 2, 3, 7):
            got = _ops_density.core_distances(X, min_samples, metric, threads, "kd_tree")
            assert got.tobytes() == ref.tobytes(), (min_samples, threads)


def test_kdtree_core_distances_with_overflowing_distances() -> None:
    # distances beyond float64 (raw sums of +inf) still fill the k nearest: the same
    # values as the brute force, no crash
    X = np.random.default_rng(0).normal(size=(300, 3))
    X[::7] *= 1e200
    for min_samples in (2, 30):
        ref = _ops_density.core_distances(X, min_samples, "euclidean", 1, "brute")
        got = _ops_density.core_distances(X, min_samples, "euclidean", 2, "kd_tree")
        assert np.isinf(got).any() and got.tobytes() == ref.tobytes()


@pytest.mark.parametrize("kind", ["blobs", "isotropic"])
def test_automatic_core_method_on_both_sides_of_its_pilot(kind: str) -> None:
    # n >= 2048: the automatic choice runs a pilot of kd-tree searches; on blobs they
    # visit few points (kd-tree), on one isotropic Gaussian at d = 24 nearly all
    # (brute force). Either way: the forced methods' bits, and scikit-learn's values.
    rng = np.random.default_rng(21)
    if kind == "blobs":
        X = np.concatenate([rng.normal(10.0 * c, 0.5, (300, 24)) for c in range(8)])
    else:
        X = rng.standard_normal((2400, 24))
    auto = _ops_density.core_distances(X, 8, "euclidean", 2, "auto")
    for method in ("kd_tree", "brute"):
        assert auto.tobytes() == _ops_density.core_distances(X, 8, "euclidean", 2, method).tobytes()
    # scipy's cdist computes each distance directly, as we do (scikit-learn's Gram
    # trick loses about 1e-12 relative on these far-off blobs)
    ref = np.sort(cdist(X, X), axis=1)[:, 7]
    np.testing.assert_allclose(auto, ref, rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tree_on_ties_and_duplicates(dtype: type) -> None:
    for X in (grid_ties(0), with_duplicates(1)):
        X = X.astype(dtype)
        for ms in (1, 3, 10):
            _, M = dense_mr(X.astype(np.float64), ms)
            r = diffclust.hdbscan(X, min_cluster_size=5, min_samples=ms)
            np.testing.assert_allclose(r.weights.astype(np.float64).sum(), mst_total(M), rtol=1e-6 if dtype == np.float32 else 1e-10)
            assert r.weights.dtype == dtype and r.core_distances.dtype == dtype


# --------------------------------------------------------------------------- HDBSCAN against scikit-learn


def sk_hdbscan(X: np.ndarray, **kw: object) -> object:
    return sklearn_cluster.HDBSCAN(copy=True, **kw).fit(X)


PARAMS = [
    {"min_cluster_size": 5},
    {"min_cluster_size": 15, "min_samples": 5},
    {"min_cluster_size": 10, "min_samples": 1},
    {"min_cluster_size": 8, "cluster_selection_method": "leaf"},
    {"min_cluster_size": 10, "cluster_selection_epsilon": 0.5},
    {"min_cluster_size": 10, "cluster_selection_method": "leaf", "cluster_selection_epsilon": 0.3},
    {"min_cluster_size": 40, "allow_single_cluster": True},
    {"min_cluster_size": 40, "allow_single_cluster": True, "cluster_selection_epsilon": 2.0},
    {"min_cluster_size": 200, "min_samples": 10, "allow_single_cluster": True},
]


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("params", PARAMS)
def test_hierarchy_matches_hdbscan_package(name: str, seed: int, params: dict[str, object]) -> None:
    """Condensing, selection, labels, probabilities and GLOSH on our tree, against the
    hdbscan package's implementation of the same steps (its own code, fed our tree)."""
    ht = pytest.importorskip("hdbscan._hdbscan_tree")
    X = DATASETS[name](seed)
    r = diffclust.hdbscan(X, **params)  # type: ignore[arg-type]
    tree = ht.condense_tree(r.single_linkage, params["min_cluster_size"])
    out = ht.get_clusters(
        tree,
        ht.compute_stability(tree),
        params.get("cluster_selection_method", "eom"),
        params.get("allow_single_cluster", False),
        False,
        params.get("cluster_selection_epsilon", 0.0),
    )
    assert same_partition(r.labels, out[0])
    np.testing.assert_allclose(r.probabilities, out[1], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(r.outlier_scores, ht.outlier_scores(tree), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("params", [p for p in PARAMS if "cluster_selection_epsilon" not in p])
def test_hierarchy_matches_sklearn_tree_to_labels(name: str, seed: int, params: dict[str, object]) -> None:
    """The same against scikit-learn's own code for these steps, fed our tree. (Its
    epsilon search fails under NumPy 2 -- a TypeError in traverse_upwards -- so the
    epsilon cases are checked against the hdbscan package only.)"""
    tree_mod = pytest.importorskip("sklearn.cluster._hdbscan._tree")
    X = DATASETS[name](seed)
    r = diffclust.hdbscan(X, **params)  # type: ignore[arg-type]
    Z = r.single_linkage
    h = np.empty(len(Z), dtype=tree_mod.HIERARCHY_dtype)
    h["left_node"], h["right_node"], h["value"], h["cluster_size"] = Z[:, 0], Z[:, 1], Z[:, 2], Z[:, 3]
    labels, probs = tree_mod.tree_to_labels(
        h,
        params["min_cluster_size"],
        params.get("cluster_selection_method", "eom"),
        params.get("allow_single_cluster", False),
        0.0,
        None,
    )
    assert same_partition(r.labels, labels)
    np.testing.assert_allclose(r.probabilities, probs, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("params", [p for p in PARAMS if "cluster_selection_epsilon" not in p])
def test_hdbscan_end_to_end_against_sklearn(name: str, seed: int, params: dict[str, object]) -> None:
    """End to end against sklearn.cluster.HDBSCAN. With min_samples = 1 (d_mr = d, no
    ties on continuous data) the labels and probabilities are identical. With larger
    min_samples many edges share a d_mr (the core distance of a shared neighbour); the
    trees have equal total weight (tested above) but the single-linkage order of equal
    merges is scikit-learn's unstable argsort on one side and the strict pair order on
    the other, so clusters born at a tied level may differ: there we ask for ARI >= 0.7
    ("leaf") / 0.9 ("eom") instead."""
    from sklearn.metrics import adjusted_rand_score

    X = DATASETS[name](seed)
    ref = sk_hdbscan(X, **params)
    r = diffclust.hdbscan(X, **params)  # type: ignore[arg-type]
    if name != "duplicates":
        single = {**params, "min_samples": 1}
        ref1 = sk_hdbscan(X, **single)
        r1 = diffclust.hdbscan(X, **single)  # type: ignore[arg-type]
        assert same_partition(r1.labels, ref1.labels_)
        np.testing.assert_allclose(r1.probabilities, ref1.probabilities_, rtol=1e-9, atol=1e-12)
    floor = 0.7 if params.get("cluster_selection_method") == "leaf" else 0.9
    assert adjusted_rand_score(ref.labels_, r.labels) >= floor


@pytest.mark.parametrize("metric", ["manhattan", "cosine"])
def test_hdbscan_other_metrics_match_sklearn(metric: str) -> None:
    X = blobs_with_noise(5, 200, 3) + 20.0
    ref = sk_hdbscan(X, min_cluster_size=8, metric=metric)
    r = diffclust.hdbscan(X, min_cluster_size=8, metric=metric)
    assert same_partition(r.labels, ref.labels_)
    np.testing.assert_allclose(r.probabilities, ref.probabilities_, rtol=1e-9, atol=1e-12)


def test_single_linkage_matches_scipy() -> None:
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    X = moons(4)
    for ms in (1, 4):
        r = diffclust.hdbscan(X, min_samples=ms)
        _, M = dense_mr(X, ms)
        Z = linkage(squareform(M, checks=False), method="single")
        np.testing.assert_allclose(r.single_linkage[:, 2], Z[:, 2], rtol=1e-12)
        if ms == 1:  # no ties: the same dendrogram (with ties, the order of equal merges may differ)
            np.testing.assert_array_equal(r.single_linkage[:, 3], Z[:, 3])


def glosh_reference(M: np.ndarray, mcs: int) -> np.ndarray:
    """GLOSH from the definition: f(x) = the smallest level at which x's component of
    {d_mr <= level} has >= mcs points; score = 1 - min_{y in K} f(y) / f(x), K that component."""
    n = M.shape[0]
    levels = np.unique(M[np.triu_indices(n, 1)])
    f = np.full(n, np.inf)
    comps = {}
    for level in levels[::-1]:
        _, lab = connected_components(M <= level, directed=False)
        sizes = np.bincount(lab)
        big = sizes[lab] >= mcs
        f[big] = level
        comps[level] = lab
    scores = np.zeros(n)
    for x in range(n):
        lab = comps[f[x]]
        members = lab == lab[x]
        fmin = f[members].min()
        scores[x] = 0.0 if f[x] == 0 else 1.0 - fmin / f[x]
    return scores


@pytest.mark.parametrize("seed", [0, 1])
def test_glosh_matches_reference(seed: int) -> None:
    X = blobs_with_noise(seed, 80)
    _, M = dense_mr(X, 1)  # min_samples = 1: no tied levels, so the definition is unambiguous
    r = diffclust.hdbscan(X, min_cluster_size=6, min_samples=1)
    np.testing.assert_allclose(r.outlier_scores, glosh_reference(M, 6), rtol=1e-9, atol=1e-12)


def test_threads_bit_identical() -> None:
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c, 0.5, size=(1700, 3)) for c in (0, 4, 8)])
    X[::7] = np.round(X[::7])  # ties
    runs = [diffclust.hdbscan(X, min_cluster_size=25, min_samples=10, n_threads=t) for t in (1, 2, 3, 7)]
    for r in runs[1:]:
        for field in ("labels", "probabilities", "outlier_scores", "edges", "weights", "core_distances"):
            assert np.array_equal(getattr(r, field), getattr(runs[0], field)), field
    o = [diffclust.optics(X[:3000], min_samples=5, n_threads=t) for t in (1, 2, 3, 7)]
    for r in o[1:]:
        assert np.array_equal(r.ordering, o[0].ordering)
        assert np.array_equal(r.reachability, o[0].reachability)


def test_small_and_degenerate_inputs() -> None:
    r = diffclust.hdbscan(np.zeros((1, 2)), min_cluster_size=2, min_samples=1)
    assert r.labels.tolist() == [-1] and r.edges.shape == (0, 2)
    # min_cluster_size larger than n: no cluster, all noise (as scikit-learn)
    X = moons(0)[:30]
    r = diffclust.hdbscan(X, min_cluster_size=100, min_samples=5)
    ref = sk_hdbscan(X, min_cluster_size=100, min_samples=5)
    assert same_partition(r.labels, ref.labels_) and (r.labels == -1).all()
    # all points equal
    r = diffclust.hdbscan(np.ones((20, 3)), min_cluster_size=5, min_samples=3, allow_single_cluster=True)
    ref = sk_hdbscan(np.ones((20, 3)), min_cluster_size=5, min_samples=3, allow_single_cluster=True)
    assert same_partition(r.labels, ref.labels_)
    # input is not modified, float32 accepted
    X32 = moons(1).astype(np.float32)
    before = X32.copy()
    diffclust.hdbscan(X32)
    assert np.array_equal(X32, before)


def test_errors_name_the_argument() -> None:
    X = moons(0)
    with pytest.raises(ValueError, match="min_cluster_size"):
        diffclust.hdbscan(X, min_cluster_size=1)
    with pytest.raises(TypeError, match="min_cluster_size"):
        diffclust.hdbscan(X, min_cluster_size=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_samples"):
        diffclust.hdbscan(X, min_samples=0)
    with pytest.raises(ValueError, match="min_samples"):
        diffclust.hdbscan(X, min_samples=len(X) + 1)
    with pytest.raises(ValueError, match="min_samples"):
        diffclust.hdbscan(X[:5], min_cluster_size=6)
    with pytest.raises(ValueError, match="cluster_selection_method"):
        diffclust.hdbscan(X, cluster_selection_method="tree")
    with pytest.raises(ValueError, match="cluster_selection_epsilon"):
        diffclust.hdbscan(X, cluster_selection_epsilon=-1.0)
    with pytest.raises(TypeError, match="allow_single_cluster"):
        diffclust.hdbscan(X, allow_single_cluster=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="metric"):
        diffclust.hdbscan(X, metric="chebyshev")
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="X"):
        diffclust.hdbscan(bad)
    with pytest.raises(ValueError, match="X"):
        diffclust.hdbscan(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="X"):
        diffclust.hdbscan(np.zeros(5))
    with pytest.raises(ValueError, match="eps"):
        diffclust.dbscan(X, 0.0)
    with pytest.raises(ValueError, match="min_samples"):
        diffclust.optics(X[:3], min_samples=4)
    with pytest.raises(ValueError, match="overflow"):
        diffclust.hdbscan(np.array([[0.0], [1e300], [-1e300]]), min_cluster_size=2, min_samples=1)


# --------------------------------------------------------------------------- DBSCAN*, OPTICS


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("eps,min_samples", [(0.2, 5), (0.5, 10), (1.0, 3), (0.05, 2)])
def test_dbscan_core_points_match_sklearn(name: str, eps: float, min_samples: int) -> None:
    X = DATASETS[name](0)
    ref = sklearn_cluster.DBSCAN(eps=eps, min_samples=min_samples).fit(X)
    r = diffclust.dbscan(X, eps, min_samples=min_samples)
    np.testing.assert_array_equal(r.core_sample_indices, ref.core_sample_indices_)
    core = r.core_sample_indices
    np.testing.assert_array_equal(r.labels[core], ref.labels_[core])  # same numbering too
    assert (r.labels[np.setdiff1d(np.arange(len(X)), core)] == -1).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("min_samples", [2, 5, 12])
def test_optics_matches_sklearn(seed: int, min_samples: int) -> None:
    X = blobs_with_noise(seed, 200, 3)
    ref = sklearn_cluster.OPTICS(min_samples=min_samples, max_eps=np.inf).fit(X)
    r = diffclust.optics(X, min_samples=min_samples)
    np.testing.assert_allclose(r.core_distances, ref.core_distances_, rtol=1e-12)
    np.testing.assert_array_equal(r.ordering, ref.ordering_)
    np.testing.assert_allclose(r.reachability, ref.reachability_, rtol=1e-12)
    np.testing.assert_array_equal(r.predecessor, ref.predecessor_)
