"""Perturbed HDBSCAN*: perturbed_hdbscan and perturbed_hdbscan_vjp.

The independent reference: each sample's perturbed distance matrix rebuilt from
NumPy (d_mr from cdist) and the noise exposed by _core._testing.edge_noise, then
scikit-learn's HDBSCAN on it (metric="precomputed", min_samples=1, so that its
mutual reachability is the matrix itself).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import THREAD_COUNTS
from scipy.spatial.distance import cdist
from sklearn.cluster import HDBSCAN

import diffclust as dc
from diffclust import _core
from diffclust._ops import density_perturbed as ops


def blobs(rng: np.random.Generator, n: int, d: int = 2, spread: float = 0.6) -> np.ndarray:
    C = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])[:, :d] if d <= 2 else 4 * rng.standard_normal((3, d))
    return C[rng.integers(0, 3, n)] + spread * rng.standard_normal((n, d))


def numpy_mr(X: np.ndarray, min_samples: int) -> np.ndarray:
    D = cdist(X, X)
    core = np.sort(D, axis=1)[:, min_samples - 1]
    M = np.maximum(D, np.maximum(core[:, None], core[None, :]))
    np.fill_diagonal(M, 0.0)
    return M


def co_clustering(labels: np.ndarray) -> np.ndarray:
    """NumPy reference: [l_i == l_j and l_i != -1]."""
    return ((labels[:, None] == labels[None, :]) & (labels[:, None] >= 0)).astype(float)


def median_edge(M: np.ndarray) -> float:
    from scipy.sparse.csgraph import minimum_spanning_tree

    C = M + 1.0  # keep zero distances as edges
    np.fill_diagonal(C, 0.0)
    w = minimum_spanning_tree(C).data - 1.0
    return float(np.median(w[w > 0]))


def test_trees_are_the_dense_perturbed_forest_samples(rng: np.random.Generator) -> None:
    """Sample s's tree is sample s of perturbed_kforest(S, 1) and its weights are S + sigma Z_s."""
    n, B, sigma, seed = 25, 6, 0.4, 11
    S = -numpy_mr(blobs(rng, n), 4)
    edges, weights = ops.perturbed_spanning_trees(S, sigma, B, seed, 2)
    kept = dc.perturbed_kforest(S, 1, sigma=sigma, n_samples=B, seed=seed, keep_samples=True).samples
    assert kept is not None
    for s in range(B):
        assert {tuple(e) for e in edges[s]} == {tuple(e) for e in kept.edges[s]}
        Z = _core._testing.edge_noise(seed, s, n)
        i, j = edges[s, :, 0], edges[s, :, 1]
        assert (i < j).all()
        np.testing.assert_allclose(weights[s], S[i, j] + sigma * Z[i, j], rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("method", ["eom", "leaf"])
def test_every_sample_equals_sklearn_on_the_perturbed_matrix(rng: np.random.Generator, method: str) -> None:
    n, ms, mcs, sigma, B, seed = 40, 4, 5, 0.3, 12, 3
    X = blobs(rng, n)
    r = dc.perturbed_hdbscan(
        X, min_cluster_size=mcs, min_samples=ms, sigma=sigma, n_samples=B, seed=seed,
        cluster_selection_method=method, keep_samples=True,
    )  # fmt: skip
    M = numpy_mr(X, ms)
    assert r.noise_scale == pytest.approx(sigma * median_edge(M), rel=1e-12)
    assert r.labels is not None
    total = np.zeros((n, n))
    for s in range(B):
        Dt = np.maximum(M - r.noise_scale * _core._testing.edge_noise(seed, s, n), 0.0)
        np.fill_diagonal(Dt, 0.0)
        ref = HDBSCAN(min_cluster_size=mcs, min_samples=1, metric="precomputed", cluster_selection_method=method, copy=True)
        ref_labels = ref.fit(Dt).labels_
        np.testing.assert_array_equal(co_clustering(r.labels[s]), co_clustering(ref_labels))
        total += co_clustering(ref_labels)
    np.testing.assert_allclose(r.co_clustering, total / B, rtol=0, atol=1e-15)
    np.testing.assert_allclose(np.diag(r.co_clustering), 1 - r.noise_probability, atol=1e-15)
    assert r.n_clusters == np.mean([r.labels[s].max() + 1 for s in range(B)])


def test_absolute_sigma_and_seed_contract(rng: np.random.Generator) -> None:
    """sigma_scale="absolute": the trees of perturbed_kforest(-d_mr, 1, sigma, seed)."""
    X = blobs(rng, 30)
    r = dc.perturbed_hdbscan(X, min_samples=3, sigma=0.05, sigma_scale="absolute", n_samples=5, seed=9, keep_samples=True)
    assert r.noise_scale == 0.05 and r.seed == 9
    again = dc.perturbed_hdbscan(X, min_samples=3, sigma=0.05, sigma_scale="absolute", n_samples=5, seed=9)
    assert np.array_equal(again.co_clustering, r.co_clustering)


def moved_points(lab: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Points whose cluster differs from ref's, clusters matched by majority."""
    mapped = lab.copy()
    for c in np.unique(lab[lab >= 0]):
        vals, cnt = np.unique(ref[lab == c], return_counts=True)
        mapped[lab == c] = vals[cnt.argmax()]
    return np.flatnonzero(mapped != ref)


def test_sigma_to_zero_is_hdbscan(rng: np.random.Generator) -> None:
    """min_samples = 1 (d_mr = d, no ties): every sample is HDBSCAN*'s clustering. With
    min_samples > 1, d_mr has exact ties (a border point at its core distance from
    several points) and the noise breaks them at random: only such tied points move."""
    X = np.vstack([blobs(rng, 60), rng.uniform(-3, 7, (8, 2))])
    for ms, method in ((1, "eom"), (1, "leaf"), (5, "eom"), (5, "leaf")):
        plain = dc.hdbscan(X, min_cluster_size=6, min_samples=ms, cluster_selection_method=method)
        r = dc.perturbed_hdbscan(
            X, min_cluster_size=6, min_samples=ms, sigma=1e-10, n_samples=6, seed=1, cluster_selection_method=method,
            keep_samples=True,
        )  # fmt: skip
        assert r.labels is not None
        if ms == 1:
            np.testing.assert_array_equal(r.co_clustering, co_clustering(plain.labels))
            np.testing.assert_array_equal(r.noise_probability, (plain.labels < 0).astype(float))
            assert r.n_clusters == plain.labels.max() + 1
            continue
        M = numpy_mr(X, ms)
        for s in range(6):
            lab = r.labels[s]
            moved = moved_points(lab, plain.labels)
            assert len(moved) <= 2 and lab.max() == plain.labels.max()
            for p in moved:  # tied: as close (in d_mr) to its new cluster as to its old one
                assert lab[p] >= 0 and plain.labels[p] >= 0
                new = M[p, (lab == lab[p]) & (np.arange(len(lab)) != p)].min()
                old = M[p, (plain.labels == plain.labels[p]) & (np.arange(len(lab)) != p)].min()
                assert new == pytest.approx(old, rel=1e-12)


def test_noise_smooths_the_clustering(rng: np.random.Generator) -> None:
    """Larger sigma: co-clustering probabilities strictly inside (0, 1) appear, and stay valid."""
    X = blobs(rng, 50, spread=0.9)
    r = dc.perturbed_hdbscan(X, min_cluster_size=5, sigma=0.5, n_samples=40, seed=2)
    C = r.co_clustering
    assert np.array_equal(C, C.T) and ((C >= 0) & (C <= 1)).all()
    assert ((C > 0) & (C < 1)).any()
    assert ((r.noise_probability >= 0) & (r.noise_probability <= 1)).all()


def test_scale_invariant_with_median_edge_sigma(rng: np.random.Generator) -> None:
    """X * 4 scales every distance and the noise scale exactly: the same samples."""
    X = blobs(rng, 40)
    a = dc.perturbed_hdbscan(X, sigma=0.3, n_samples=10, seed=4)
    b = dc.perturbed_hdbscan(4 * X, sigma=0.3, n_samples=10, seed=4)
    assert b.noise_scale == 4 * a.noise_scale
    assert np.array_equal(a.co_clustering, b.co_clustering)


@pytest.mark.parametrize("n_threads", THREAD_COUNTS)
def test_bit_identical_for_any_thread_count(rng: np.random.Generator, n_threads: int) -> None:
    X = blobs(rng, 70)
    ref = dc.perturbed_hdbscan(X, sigma=0.4, n_samples=9, seed=5, n_threads=1, keep_samples=True)
    r = dc.perturbed_hdbscan(X, sigma=0.4, n_samples=9, seed=5, n_threads=n_threads, keep_samples=True)
    assert np.array_equal(r.labels, ref.labels) and np.array_equal(r.co_clustering, ref.co_clustering)
    V = np.random.default_rng(0).standard_normal((70, 70))
    g1 = dc.perturbed_hdbscan_vjp(X, V, sigma=0.4, n_samples=9, seed=5, n_threads=1)
    g = dc.perturbed_hdbscan_vjp(X, V, sigma=0.4, n_samples=9, seed=5, n_threads=n_threads)
    assert np.array_equal(g, g1)


def test_float32_points(rng: np.random.Generator) -> None:
    X = blobs(rng, 30)
    r = dc.perturbed_hdbscan(X.astype(np.float32), n_samples=5, seed=0)
    assert r.co_clustering.dtype == np.float32 and r.co_clustering.shape == (30, 30)
    assert r.noise_probability.dtype == np.float32
    assert "PerturbedDensity(n=30" in repr(r)


def test_weighted_noise_matrix_is_the_noise_sum(rng: np.random.Generator) -> None:
    n, B, seed = 9, 5, 77
    coef = rng.standard_normal(B)
    g = ops.weighted_noise_matrix(n, seed, coef, 0.25, 3)
    ref = 0.25 * sum(coef[s] * _core._testing.edge_noise(seed, s, n) for s in range(B))
    np.testing.assert_allclose(g, ref, rtol=1e-13, atol=1e-14)
    assert np.array_equal(g, g.T) and not np.diag(g).any()


def test_vjp_is_the_score_estimator(rng: np.random.Generator) -> None:
    """g = 1/(2 B s) sum_s (c_s - c_ref) Z_s with c_s = <C_s, V> + <noise_s, v> from the kept labels."""
    n, B, seed, sigma = 30, 8, 21, 0.3
    X = blobs(rng, n)
    V, v = rng.standard_normal((n, n)), rng.standard_normal(n)
    r = dc.perturbed_hdbscan(X, min_samples=4, sigma=sigma, n_samples=B, seed=seed, keep_samples=True)
    assert r.labels is not None
    plain = dc.hdbscan(X, min_cluster_size=5, min_samples=4).labels

    def c(lab: np.ndarray) -> float:
        return float((co_clustering(lab) * V).sum() + v[lab < 0].sum())

    for cv in (False, True):
        ref_c = c(plain) if cv else 0.0
        expect = sum((c(r.labels[s]) - ref_c) * _core._testing.edge_noise(seed, s, n) for s in range(B))
        expect = expect / (2 * B * r.noise_scale)
        g = dc.perturbed_hdbscan_vjp(X, V, v, min_samples=4, sigma=sigma, n_samples=B, seed=seed, control_variate=cv)
        np.testing.assert_allclose(g, expect, rtol=1e-10, atol=1e-10)
        fast = dc.perturbed_hdbscan_vjp(
            X, V, v, min_samples=4, sigma=sigma, n_samples=B, seed=seed, control_variate=cv, samples=r.labels
        )
        assert np.array_equal(fast, g)
    other = r.labels.copy()
    other[0] = -1  # the kept labels of another call: sample 0 differs
    with pytest.raises(ValueError, match="do not belong"):
        dc.perturbed_hdbscan_vjp(X, V, min_samples=4, sigma=sigma, n_samples=B, seed=seed, samples=other)
    with pytest.raises(ValueError, match="shape"):
        dc.perturbed_hdbscan_vjp(X, V, min_samples=4, sigma=sigma, n_samples=B, seed=seed, samples=r.labels[1:])
    with pytest.raises(TypeError, match="integer"):
        dc.perturbed_hdbscan_vjp(X, V, min_samples=4, sigma=sigma, n_samples=B, seed=seed, samples=r.labels * 1.0)
    zero = dc.perturbed_hdbscan_vjp(X, None, None, n_samples=B, seed=seed)
    assert zero.shape == (n, n) and not zero.any()


def test_vjp_estimates_the_derivative_along_a_direction(rng: np.random.Generator) -> None:
    """E[<g, E>] ~ d/dt E[noise count](S + t E): compare the score estimator with a
    finite difference of the expectation estimated by many independent samples
    (common random numbers), on a direction E that moves one point's edges."""
    n = 12
    X = blobs(rng, n, spread=0.5)
    ms, sigma = 3, 0.6
    M = numpy_mr(X, ms)
    S = -M
    B = 4000

    def noise_count(Sm: np.ndarray, seed: int) -> np.ndarray:
        e, w = ops.perturbed_spanning_trees(Sm, sigma, B, seed, 2)
        out = np.empty(B)
        for s in range(B):
            lab = ops.hdbscan_labels_from_tree(n, e[s, :, 0], e[s, :, 1], np.maximum(-w[s], 0.0), 3, "eom", 0.0, False)
            out[s] = (lab < 0).sum()
        return out

    base = noise_count(S, 1)
    c = base - base.mean()
    E = np.zeros((n, n))
    E[0, 1:] = E[1:, 0] = 1.0  # move point 0 closer to everyone
    # score estimator of d/dt E[count](S + t E) along E: sum_ij g_ij E_ij
    score = sum(c[s] * (_core._testing.edge_noise(1, s, n) * E).sum() for s in range(0, B, 1)) / (2 * B * sigma)
    t = 0.3
    fd = (noise_count(S + t * E, 2).mean() - noise_count(S - t * E, 2).mean()) / (2 * t)
    se = base.std() * np.sqrt((E**2).sum()) / (2 * sigma * np.sqrt(B)) * 2
    assert abs(fd) > 3 * se  # a derivative to detect (here about -0.27)
    assert abs(score - fd) < 3 * se  # a factor 2 (or a sign) in the estimator fails this


def test_errors(rng: np.random.Generator) -> None:
    X = blobs(rng, 12)
    with pytest.raises(ValueError, match="sigma"):
        dc.perturbed_hdbscan(X, sigma=0.0)
    with pytest.raises(ValueError, match="sigma_scale"):
        dc.perturbed_hdbscan(X, sigma_scale="relative")
    with pytest.raises(ValueError, match="min_samples"):
        dc.perturbed_hdbscan(X, min_samples=13)
    with pytest.raises(ValueError, match="min_cluster_size"):
        dc.perturbed_hdbscan(X, min_cluster_size=1)
    with pytest.raises(ValueError, match="cluster_selection_method"):
        dc.perturbed_hdbscan(X, cluster_selection_method="max")
    with pytest.raises(ValueError, match="n_samples"):
        dc.perturbed_hdbscan(X, n_samples=0)
    with pytest.raises(TypeError, match="keep_samples"):
        dc.perturbed_hdbscan(X, keep_samples=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="X"):
        dc.perturbed_hdbscan(np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="sigma_scale='absolute'"):
        dc.perturbed_hdbscan(np.zeros((6, 2)), min_cluster_size=2)
    assert dc.perturbed_hdbscan(np.zeros((6, 2)), min_cluster_size=2, sigma_scale="absolute", n_samples=2, seed=0)
    with pytest.raises(TypeError, match="seed"):
        dc.perturbed_hdbscan_vjp(X, np.ones((12, 12)), seed=np.random.default_rng(0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="grad_co_clustering"):
        dc.perturbed_hdbscan_vjp(X, np.ones((11, 12)), seed=0)
    with pytest.raises(ValueError, match="grad_noise_probability"):
        dc.perturbed_hdbscan_vjp(X, None, np.full(12, np.inf), seed=0)


def test_invariants_hypothesis() -> None:
    """Any data: C symmetric in [0, 1], diag = 1 - P(noise), C_ij <= min(C_ii, C_jj),
    n_clusters in [0, n / min_cluster_size]."""
    hyp = pytest.importorskip("hypothesis")
    from hypothesis import strategies as st

    @hyp.given(
        n=st.integers(2, 25), mcs=st.integers(2, 6), ms=st.integers(1, 4), seed=st.integers(0, 2**32),
        sigma=st.floats(0.01, 2.0), method=st.sampled_from(["eom", "leaf"]),
    )  # fmt: skip
    @hyp.settings(max_examples=25, deadline=None)
    def check(n: int, mcs: int, ms: int, seed: int, sigma: float, method: str) -> None:
        X = np.random.default_rng(seed).normal(size=(n, 2)).round(1)  # rounding makes ties and duplicates
        ms = min(ms, n)
        kw = {"min_cluster_size": mcs, "min_samples": ms, "sigma": sigma, "n_samples": 6, "seed": seed}
        r = dc.perturbed_hdbscan(X, sigma_scale="absolute", cluster_selection_method=method, **kw)  # type: ignore[arg-type]
        C = r.co_clustering
        assert np.array_equal(C, C.T) and ((C >= 0) & (C <= 1)).all()
        d = np.diag(C)
        np.testing.assert_allclose(d, 1 - r.noise_probability, atol=1e-15)
        assert (C <= np.minimum(d[:, None], d[None, :]) + 1e-15).all()
        assert 0 <= r.n_clusters <= n / mcs

    check()
