"""Kept samples (``keep_samples=True``) and the VJP that reuses them.

Each sample's kept forest is rebuilt independently (the exposed noise
``_core._testing.edge_noise`` plus SciPy's minimum spanning tree), and the VJP from kept
samples must be bit-identical to the VJP that solves every sample again.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from conftest import THREAD_COUNTS
from hypothesis import given
from hypothesis import strategies as st
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial.distance import cdist

import diffclust as dc
from diffclust._core import _testing

# --- an independent rebuild of one sample's forest ------------------------------


def strict_rank(W):
    """rank[i, j] = rank[j, i]: the position of edge {i, j} in the strict order
    (heavier first, then the smaller (i, j)); -1 on the diagonal."""
    n = W.shape[0]
    iu, ju = np.triu_indices(n, 1)
    order = np.lexsort((ju, iu, -W[iu, ju]))  # last key is the primary one
    rank = np.full((n, n), -1, dtype=np.int64)
    rank[iu[order], ju[order]] = np.arange(order.size)
    rank[ju[order], iu[order]] = np.arange(order.size)
    return rank


def scipy_kforest_edges(W, k):
    """The max k-forest of a symmetric W under the strict order, by SciPy's MST.

    The MST runs on integer costs 1 + rank (exact, distinct, all positive, so every
    off-diagonal edge of the complete graph is present), which makes the maximum
    spanning tree unique even when W has ties; its k - 1 lightest edges are dropped.
    """
    n = W.shape[0]
    rank = strict_rank(W)
    C = (rank + 1).astype(np.float64)
    np.fill_diagonal(C, 0.0)
    T = minimum_spanning_tree(C).tocoo()
    i, j = np.minimum(T.row, T.col), np.maximum(T.row, T.col)
    assert i.size == n - 1
    keep = np.argsort(rank[i, j], kind="stable")[: n - k]
    return {(int(a), int(b)) for a, b in zip(i[keep], j[keep])}, rank


def same_partition(a, b):
    a, b = np.asarray(a), np.asarray(b)
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def assert_first_appearance(labels):
    top = -1
    for v in labels.tolist():
        assert 0 <= v <= top + 1, f"labels not numbered by first appearance: {labels}"
        top = max(top, v)


def check_samples_against_scipy(S, k, sigma, B, seed, samples, W):
    n = S.shape[0]
    assert isinstance(samples, dc.PerturbedSamples)
    assert samples.edges.dtype == np.int64 and samples.labels.dtype == np.int64
    assert samples.edges.shape == (B, n - k, 2)
    assert samples.labels.shape == (B, n)
    assert (samples.k, samples.sigma, samples.n_samples, samples.seed) == (k, sigma, B, seed)
    for s in range(B):
        Ws = W + sigma * _testing.edge_noise(seed, s, n)
        expected, _ = scipy_kforest_edges(Ws, k)
        edges = samples.edges[s]
        assert (edges[:, 0] < edges[:, 1]).all()
        got = {(int(a), int(b)) for a, b in edges}
        assert len(got) == n - k, "repeated edges"
        assert got == expected, f"sample {s}: forest differs from SciPy's"
        # labels: the connected components of the kept edges, numbered by first appearance
        A = np.zeros((n, n))
        A[edges[:, 0], edges[:, 1]] = 1
        ncomp, comp = connected_components(A, directed=False)
        assert ncomp == k
        labels = samples.labels[s]
        assert labels[0] == 0
        assert_first_appearance(labels)
        assert len(set(labels.tolist())) == k
        assert same_partition(labels, comp), f"sample {s}: labels are not the forest's trees"


@st.composite
def problems(draw):
    n = draw(st.integers(5, 40))
    k = draw(st.integers(1, n))
    B = draw(st.integers(1, 6))
    kind = draw(st.sampled_from(["normal", "symmetric", "float32", "ties"]))
    data_seed = draw(st.integers(0, 2**32 - 1))
    seed = draw(st.integers(0, 2**64 - 1))
    rng = np.random.default_rng(data_seed)
    if kind == "ties":
        # integer weights (S/2 + S^T/2 is exact) and a sigma far below their ulp:
        # the perturbed weights tie everywhere and the (i, j) tie-break decides
        S = rng.integers(-2, 3, size=(n, n)).astype(np.float64)
        sigma = 1e-30
    else:
        S = rng.standard_normal((n, n))
        sigma = draw(st.sampled_from([0.05, 0.5, 3.0]))
        if kind != "normal":
            S = (S + S.T) / 2
        if kind == "float32":
            S = S.astype(np.float32)
    return S, k, sigma, B, seed


@given(problems())
def test_each_kept_sample_is_the_exact_forest_of_its_perturbed_weights(problem):
    S, k, sigma, B, seed = problem
    p = dc.perturbed_kforest(S, k, sigma=sigma, n_samples=B, seed=seed, keep_samples=True)
    S64 = S.astype(np.float64)
    W = S64 / 2 + S64.T / 2  # float32 inputs are symmetric: W = S exactly
    check_samples_against_scipy(S, k, sigma, B, seed, p.samples, W)

    # the estimates are the kept forests' averages, exactly (integer counts / B)
    n = S.shape[0]
    countA = np.zeros((n, n), dtype=np.int64)
    countM = np.zeros((n, n), dtype=np.int64)
    value = 0.0
    for s in range(B):
        e = p.samples.edges[s]
        A = np.zeros((n, n), dtype=np.int64)
        A[e[:, 0], e[:, 1]] = 1
        A = A + A.T
        countA += A
        lab = p.samples.labels[s]
        countM += lab[:, None] == lab[None, :]
        value += (A * (S64 + sigma * _testing.edge_noise(seed, s, n))).sum()
    np.testing.assert_array_equal(p.adjacency, (countA / B).astype(S.dtype))
    np.testing.assert_array_equal(p.connectivity, (countM / B).astype(S.dtype))
    rtol = 1e-5 if S.dtype == np.float32 else 1e-10
    np.testing.assert_allclose(
        p.value, value / B, rtol=rtol, atol=1e-6 if S.dtype == np.float32 else 1e-12
    )


@pytest.mark.parametrize("n, k", [(6, 1), (13, 4), (40, 3), (40, 17)])
def test_kept_samples_with_ties_follow_the_strict_order(n, k):
    """Integer weights and a sigma far below their ulp: perturbed weights tie
    everywhere (except where W is 0), and the smaller (i, j) wins each tie in the
    choice of the forest."""
    r = np.random.default_rng(1000 * n + k)
    B, sigma, seed = 4, 1e-30, 99
    for S in (r.integers(-2, 3, size=(n, n)).astype(np.float64), np.ones((n, n))):
        p = dc.perturbed_kforest(S, k, sigma=sigma, n_samples=B, seed=seed, keep_samples=True)
        W = S / 2 + S.T / 2
        Ws = W + sigma * _testing.edge_noise(seed, 0, n)
        e = p.samples.edges[0]
        w = Ws[e[:, 0], e[:, 1]]
        assert np.unique(w).size < w.size or n - k < 2, (
            "no tie among the kept edges: the test is vacuous"
        )
        check_samples_against_scipy(S, k, sigma, B, seed, p.samples, W)


def test_kept_samples_do_not_change_the_estimates(rng):
    S = rng.standard_normal((30, 30))
    kw = {"sigma": 0.4, "n_samples": 11, "seed": 5}
    a = dc.perturbed_kforest(S, 4, **kw)
    b = dc.perturbed_kforest(S, 4, keep_samples=True, **kw)
    assert a.samples is None
    assert b.samples is not None
    np.testing.assert_array_equal(a.adjacency, b.adjacency)
    np.testing.assert_array_equal(a.connectivity, b.connectivity)
    assert a.value == b.value


@pytest.mark.parametrize("n_threads", THREAD_COUNTS)
def test_kept_samples_independent_of_thread_count(rng, n_threads):
    S = rng.standard_normal((25, 25))
    y = -np.ones(25, dtype=np.int64)
    y[:4] = [0, 1, 0, 1]
    kw = {"sigma": 0.6, "n_samples": 23, "seed": 9, "keep_samples": True}
    for extra in ({}, {"known_labels": y}):
        ref = dc.perturbed_kforest(S, 3, n_threads=1, **kw, **extra).samples
        got = dc.perturbed_kforest(S, 3, n_threads=n_threads, **kw, **extra).samples
        np.testing.assert_array_equal(ref.edges, got.edges)
        np.testing.assert_array_equal(ref.labels, got.labels)


@pytest.mark.parametrize("refine", [True, False])
@pytest.mark.parametrize("form", ["labels", "pairs"])
def test_constrained_kept_samples_honour_constraints_and_match_estimates(rng, refine, form):
    n, k, B, sigma, seed = 24, 4, 15, 1.5, 31
    S = rng.standard_normal((n, n))
    y = -np.ones(n, dtype=np.int64)
    y[[0, 5, 9, 13, 17, 20]] = [0, 1, 2, 0, 1, 2]
    must, cannot = [[0, 13], [5, 17], [9, 20]], [[0, 5], [5, 9], [0, 9]]
    kw = {"known_labels": y} if form == "labels" else {"must_link": must, "cannot_link": cannot}
    p = dc.perturbed_kforest(
        S, k, sigma=sigma, n_samples=B, seed=seed, refine=refine, keep_samples=True, **kw
    )
    s_ = p.samples
    assert s_.edges.shape == (B, n - k, 2) and s_.labels.shape == (B, n)
    W = S / 2 + S.T / 2
    countA = np.zeros((n, n))
    countM = np.zeros((n, n))
    for s in range(B):
        lab = s_.labels[s]
        assert_first_appearance(lab)
        known = y >= 0
        # equal known labels share a tree, different known labels do not
        assert same_partition(lab[known], y[known])
        e = s_.edges[s]
        assert (e[:, 0] < e[:, 1]).all()
        A = np.zeros((n, n))
        A[e[:, 0], e[:, 1]] = 1
        ncomp, comp = connected_components(A, directed=False)
        assert ncomp == k and same_partition(lab, comp)
        # the exact constrained solver on this sample's perturbed weights agrees
        # (the same edges; kept edges come in the solver's order, not sorted)
        Ws = W + sigma * _testing.edge_noise(seed, s, n)
        f = dc.kforest(Ws, k, refine=refine, **kw)
        np.testing.assert_array_equal(np.unique(f.edges, axis=0), np.unique(e, axis=0))
        np.testing.assert_array_equal(f.labels, lab)
        countA += A + A.T
        countM += lab[:, None] == lab[None, :]
    np.testing.assert_array_equal(p.adjacency, countA / B)
    np.testing.assert_array_equal(p.connectivity, countM / B)


# --- the VJP from kept samples -----------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("control_variate", [True, False])
@pytest.mark.parametrize("constraints", ["none", "labels", "labels_unrefined", "pairs"])
def test_vjp_from_samples_bit_identical(rng, dtype, control_variate, constraints):
    n, k, B, sigma, seed = 26, 4, 17, 0.7, 1234
    S = rng.standard_normal((n, n)).astype(dtype)  # non-symmetric
    VA = rng.standard_normal((n, n)).astype(dtype)
    VM = rng.standard_normal((n, n)).astype(dtype)
    y = -np.ones(n, dtype=np.int64)
    y[[1, 4, 8, 15, 22]] = [0, 1, 2, 0, 3]
    extra = {
        "none": {},
        "labels": {"known_labels": y},
        "labels_unrefined": {"known_labels": y, "refine": False},
        "pairs": {"must_link": [[2, 3], [10, 11], [3, 17]], "cannot_link": [[2, 10], [5, 6]]},
    }[constraints]
    p = dc.perturbed_kforest(S, k, sigma=sigma, n_samples=B, seed=seed, keep_samples=True, **extra)
    plain = {"sigma": sigma, "n_samples": B, "seed": seed}
    for gA, gM in ((VA, None), (None, VM), (VA, VM)):
        ref = dc.perturbed_kforest_vjp(
            S, k, gA, gM, control_variate=control_variate, **plain, **extra
        )
        got = dc.perturbed_kforest_vjp(
            S, k, gA, gM, control_variate=control_variate, samples=p.samples, **extra
        )
        assert got.dtype == dtype and got.shape == (n, n)
        assert np.array_equal(ref, got)
        assert np.abs(got).max() > 0
        # the recorded parameters may also be repeated explicitly
        again = dc.perturbed_kforest_vjp(
            S, k, gA, gM, control_variate=control_variate, samples=p.samples, **plain, **extra
        )
        assert np.array_equal(ref, again)


def test_vjp_from_samples_any_thread_count(rng):
    n, k = 30, 5
    S = rng.standard_normal((n, n))
    V = rng.standard_normal((n, n))
    y = -np.ones(n, dtype=np.int64)
    y[:5] = [0, 1, 2, 0, 1]
    kw = {"sigma": 0.4, "n_samples": 23, "seed": 77}
    for extra in ({}, {"known_labels": y}):
        ref = dc.perturbed_kforest_vjp(S, k, V, V.T, n_threads=1, **kw, **extra)
        for fwd_threads in THREAD_COUNTS:
            samples = dc.perturbed_kforest(
                S, k, keep_samples=True, n_threads=fwd_threads, **kw, **extra
            ).samples
            for n_threads in THREAD_COUNTS:
                assert np.array_equal(
                    ref, dc.perturbed_kforest_vjp(S, k, V, V.T, n_threads=n_threads, **kw, **extra)
                )
                got = dc.perturbed_kforest_vjp(
                    S, k, V, V.T, samples=samples, n_threads=n_threads, **extra
                )
                assert np.array_equal(ref, got)


@given(
    n=st.integers(5, 40),
    data_seed=st.integers(0, 2**32 - 1),
    seed=st.integers(0, 2**64 - 1),
    B=st.integers(1, 9),
    kfrac=st.floats(0, 1),
)
def test_vjp_from_samples_bit_identical_property(n, data_seed, seed, B, kfrac):
    k = 1 + int(kfrac * (n - 1))
    r = np.random.default_rng(data_seed)
    S = r.standard_normal((n, n))
    VA, VM = r.standard_normal((n, n)), r.standard_normal((n, n))
    p = dc.perturbed_kforest(S, k, sigma=0.5, n_samples=B, seed=seed, keep_samples=True)
    ref = dc.perturbed_kforest_vjp(S, k, VA, VM, sigma=0.5, n_samples=B, seed=seed)
    got = dc.perturbed_kforest_vjp(S, k, VA, VM, samples=p.samples)
    assert np.array_equal(ref, got)


@pytest.mark.parametrize("make_seed", [lambda: None, lambda: np.random.default_rng(1)])
def test_drawn_seed_is_recorded(rng, make_seed):
    n, k = 20, 3
    S = rng.standard_normal((n, n))
    V = rng.standard_normal((n, n))
    p = dc.perturbed_kforest(S, k, sigma=0.5, n_samples=8, seed=make_seed(), keep_samples=True)
    seed = p.samples.seed
    assert isinstance(seed, int) and not isinstance(seed, bool)
    assert 0 <= seed < 2**64
    # the recorded seed reproduces the forward call
    q = dc.perturbed_kforest(S, k, sigma=0.5, n_samples=8, seed=seed, keep_samples=True)
    np.testing.assert_array_equal(p.adjacency, q.adjacency)
    np.testing.assert_array_equal(p.samples.edges, q.samples.edges)
    np.testing.assert_array_equal(p.samples.labels, q.samples.labels)
    ref = dc.perturbed_kforest_vjp(S, k, V, V, sigma=0.5, n_samples=8, seed=seed)
    assert np.array_equal(ref, dc.perturbed_kforest_vjp(S, k, V, V, samples=p.samples))
    assert np.array_equal(ref, dc.perturbed_kforest_vjp(S, k, V, V, samples=p.samples, seed=seed))


def test_generator_seed_is_drawn_from_the_generator(rng):
    S = rng.standard_normal((12, 12))
    a = dc.perturbed_kforest(
        S, 2, sigma=0.5, n_samples=3, seed=np.random.default_rng(7), keep_samples=True
    )
    b = dc.perturbed_kforest(
        S, 2, sigma=0.5, n_samples=3, seed=np.random.default_rng(7), keep_samples=True
    )
    assert a.samples.seed == b.samples.seed
    g = np.random.default_rng(7)
    c = dc.perturbed_kforest(S, 2, sigma=0.5, n_samples=3, seed=g, keep_samples=True)
    d = dc.perturbed_kforest(S, 2, sigma=0.5, n_samples=3, seed=g, keep_samples=True)
    assert c.samples.seed == a.samples.seed
    assert d.samples.seed != c.samples.seed  # the generator was consumed


# --- batches and points ------------------------------------------------------------


def test_batched_kept_samples_equal_separate_calls(rng):
    b, n, k, B = 4, 18, 3, 7
    Sb = rng.standard_normal((b, n, n))
    kw = {"sigma": 0.8, "n_samples": B, "seed": 42, "keep_samples": True}
    pb = dc.perturbed_kforest(Sb, k, **kw)
    s_ = pb.samples
    assert s_.edges.shape == (b, B, n - k, 2)
    assert s_.labels.shape == (b, B, n)
    assert (s_.k, s_.sigma, s_.n_samples) == (k, 0.8, B)
    seeds = dc.element_seeds(42, b)  # element t has its own seed, derived from seed=42
    np.testing.assert_array_equal(s_.seed, seeds)
    V = rng.standard_normal((n, n))
    for t in range(b):
        one = dc.perturbed_kforest(Sb[t], k, **{**kw, "seed": int(seeds[t])})
        np.testing.assert_array_equal(s_.edges[t], one.samples.edges)
        np.testing.assert_array_equal(s_.labels[t], one.samples.labels)
        np.testing.assert_array_equal(pb.adjacency[t], one.adjacency)
        # one batch item's slice is a valid PerturbedSamples for that matrix
        item = dataclasses.replace(s_, edges=s_.edges[t], labels=s_.labels[t], seed=int(seeds[t]))
        ref = dc.perturbed_kforest_vjp(Sb[t], k, V, V, sigma=0.8, n_samples=B, seed=int(seeds[t]))
        assert np.array_equal(ref, dc.perturbed_kforest_vjp(Sb[t], k, V, V, samples=item))
    # the whole batch's samples do not fit a 2-D VJP
    with pytest.raises(ValueError):
        dc.perturbed_kforest_vjp(Sb[0], k, V, V, samples=s_)


def test_batched_kept_samples_drawn_seed_and_labels(rng):
    """seed=None and constraints: batch item t uses the noise of the recorded seed[t]."""
    b, n, k, B = 3, 15, 4, 5
    Sb = rng.standard_normal((b, n, n)).astype(np.float32)
    y = -np.ones(n, dtype=np.int64)
    y[[0, 3, 7]] = [0, 1, 0]
    pb = dc.perturbed_kforest(Sb, k, sigma=0.6, n_samples=B, known_labels=y, keep_samples=True)
    seed = pb.samples.seed
    assert seed.dtype == np.uint64 and seed.shape == (b,)
    for t in range(b):
        one = dc.perturbed_kforest(
            Sb[t], k, sigma=0.6, n_samples=B, seed=int(seed[t]), known_labels=y, keep_samples=True
        )
        np.testing.assert_array_equal(pb.samples.edges[t], one.samples.edges)
        np.testing.assert_array_equal(pb.samples.labels[t], one.samples.labels)
        np.testing.assert_array_equal(pb.connectivity[t], one.connectivity)


@pytest.mark.parametrize("k", [1, 4, 25])
def test_from_points_samples_equal_dense(rng, k):
    X = rng.standard_normal((25, 3))
    D = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    kw = {"sigma": 0.3, "n_samples": 9, "seed": 2718, "keep_samples": True}
    pp = dc.perturbed_kforest_from_points(X, k, metric="sqeuclidean", **kw)
    pd = dc.perturbed_kforest(-D, k, **kw)
    assert pp.samples.edges.shape == (9, 25 - k, 2)
    np.testing.assert_array_equal(pp.samples.edges, pd.samples.edges)
    np.testing.assert_array_equal(pp.samples.labels, pd.samples.labels)
    assert pp.samples.seed == pd.samples.seed == 2718
    np.testing.assert_array_equal(pp.adjacency, pd.adjacency)
    # and the points' samples drive the dense VJP like the dense ones do
    V = rng.standard_normal((25, 25))
    ref = dc.perturbed_kforest_vjp(-D, k, V, V, sigma=0.3, n_samples=9, seed=2718)
    assert np.array_equal(ref, dc.perturbed_kforest_vjp(-D, k, V, V, samples=pp.samples))


@pytest.mark.parametrize(
    "metric, scipy_metric",
    [("euclidean", "euclidean"), ("manhattan", "cityblock"), ("cosine", "cosine")],
)
def test_from_points_samples_other_metrics(rng, metric, scipy_metric):
    X = rng.standard_normal((25, 3))
    D = cdist(X, X, scipy_metric)
    kw = {"sigma": 0.05, "n_samples": 7, "seed": 31, "keep_samples": True}
    for k in (1, 6):
        pp = dc.perturbed_kforest_from_points(X, k, metric=metric, **kw)
        pd = dc.perturbed_kforest(-D, k, **kw)
        np.testing.assert_array_equal(pp.samples.edges, pd.samples.edges)
        np.testing.assert_array_equal(pp.samples.labels, pd.samples.labels)


def test_from_points_keep_samples_default_and_type():
    X = np.random.default_rng(0).standard_normal((10, 2))
    assert dc.perturbed_kforest_from_points(X, 2, n_samples=3, seed=1).samples is None
    with pytest.raises(TypeError):
        dc.perturbed_kforest_from_points(X, 2, n_samples=3, seed=1, keep_samples="yes")
    with pytest.raises(TypeError):
        dc.perturbed_kforest_from_points(X, 2, n_samples=3, seed=1, keep_samples=1)


# --- errors ---------------------------------------------------------------------------


@pytest.fixture
def problem(rng):
    n, k = 20, 3
    S = rng.standard_normal((n, n))
    V = rng.standard_normal((n, n))
    p = dc.perturbed_kforest(S, k, sigma=0.9, n_samples=6, seed=11, keep_samples=True)
    return S, k, V, p.samples


def sample0(S, k, seed, **kw):
    s = dc.perturbed_kforest(
        S, k, sigma=0.9, n_samples=1, seed=seed, keep_samples=True, **kw
    ).samples
    return s.edges[0], s.labels[0]


def test_samples_from_another_seed_rejected(problem):
    S, k, V, samples = problem
    dc.perturbed_kforest_vjp(S, k, V, V, samples=samples)  # the honest ones are accepted
    # samples kept with seed 12, relabelled as seed 11: sample 0 solved again differs
    other = dc.perturbed_kforest(S, k, sigma=0.9, n_samples=6, seed=12, keep_samples=True).samples
    assert not np.array_equal(sample0(S, k, 11)[0], other.edges[0])  # precondition
    forged = dataclasses.replace(other, seed=11)
    with pytest.raises(ValueError, match="samples"):
        dc.perturbed_kforest_vjp(S, k, V, V, samples=forged)
    # the honest seed 12 samples, but the call claims seed 11
    with pytest.raises(ValueError, match="seed"):
        dc.perturbed_kforest_vjp(S, k, V, V, samples=other, seed=11)


def test_samples_of_another_matrix_or_constraints_rejected(problem, rng):
    S, k, V, samples = problem
    S2 = rng.standard_normal(S.shape)
    assert not np.array_equal(sample0(S2, k, 11)[0], samples.edges[0])  # precondition
    with pytest.raises(ValueError, match="samples"):
        dc.perturbed_kforest_vjp(S2, k, V, V, samples=samples)
    # labels that split sample 0's first tree: the constrained sample 0 must differ
    lab0 = samples.labels[0]
    members = np.flatnonzero(lab0 == lab0[0])
    if members.size < 2:
        members = np.flatnonzero(lab0 == lab0[np.argmax(np.bincount(lab0))])
    assert members.size >= 2
    y = -np.ones(S.shape[0], dtype=np.int64)
    y[members[:2]] = [0, 1]
    with pytest.raises(ValueError, match="samples"):
        dc.perturbed_kforest_vjp(S, k, V, V, samples=samples, known_labels=y)
    # and samples kept under those labels are rejected without them
    constrained = dc.perturbed_kforest(
        S, k, sigma=0.9, n_samples=6, seed=11, known_labels=y, keep_samples=True
    ).samples
    with pytest.raises(ValueError, match="samples"):
        dc.perturbed_kforest_vjp(S, k, V, V, samples=constrained)
    dc.perturbed_kforest_vjp(S, k, V, V, samples=constrained, known_labels=y)  # accepted


def test_mismatched_parameters_rejected(problem):
    S, k, V, samples = problem
    with pytest.raises(ValueError, match="sigma"):
        dc.perturbed_kforest_vjp(S, k, V, V, samples=samples, sigma=0.5)
    with pytest.raises(ValueError, match="n_samples"):
        dc.perturbed_kforest_vjp(S, k, V, V, samples=samples, n_samples=7)
    with pytest.raises(ValueError, match="seed"):
        dc.perturbed_kforest_vjp(S, k, V, V, samples=samples, seed=10)
    with pytest.raises(ValueError):
        dc.perturbed_kforest_vjp(S, k + 1, V, V, samples=samples)
    with pytest.raises(ValueError):
        dc.perturbed_kforest_vjp(S[:-1, :-1], k, V[:-1, :-1], V[:-1, :-1], samples=samples)
    # fewer samples than recorded: shapes no longer match
    short = dataclasses.replace(samples, edges=samples.edges[:3], labels=samples.labels[:3])
    with pytest.raises(ValueError):
        dc.perturbed_kforest_vjp(S, k, V, V, samples=short)


def test_tampered_samples_rejected(problem):
    S, k, V, samples = problem
    bad_edges = samples.edges.copy()
    bad_edges[2, 0] = [5, 3]  # i > j
    with pytest.raises(ValueError):
        dc.perturbed_kforest_vjp(S, k, V, V, samples=dataclasses.replace(samples, edges=bad_edges))
    bad_edges[2, 0] = [0, S.shape[0]]  # out of range
    with pytest.raises(ValueError):
        dc.perturbed_kforest_vjp(S, k, V, V, samples=dataclasses.replace(samples, edges=bad_edges))
    bad_labels = samples.labels.copy()
    bad_labels[3, 4] = S.shape[0]
    with pytest.raises(ValueError):
        dc.perturbed_kforest_vjp(
            S, k, V, V, samples=dataclasses.replace(samples, labels=bad_labels)
        )
    bad_labels[3, 4] = -1
    with pytest.raises(ValueError):
        dc.perturbed_kforest_vjp(
            S, k, V, V, samples=dataclasses.replace(samples, labels=bad_labels)
        )


def test_wrong_types_rejected(problem):
    S, k, V, samples = problem
    with pytest.raises(TypeError):
        dc.perturbed_kforest_vjp(S, k, V, V, samples=dataclasses.asdict(samples))
    with pytest.raises(TypeError):
        dc.perturbed_kforest_vjp(S, k, V, V, samples=(samples.edges, samples.labels))
    with pytest.raises(TypeError):
        dc.perturbed_kforest_vjp(S, k, V, V)  # neither samples nor sigma / n_samples / seed
    with pytest.raises(TypeError):
        dc.perturbed_kforest_vjp(S, k, V, V, sigma=0.9, n_samples=6)  # seed missing
    with pytest.raises(TypeError):
        dc.perturbed_kforest_vjp(S, k, V, V, sigma=0.9, seed=11)  # n_samples missing
    with pytest.raises(TypeError):
        dc.perturbed_kforest_vjp(S, k, V, V, n_samples=6, seed=11)  # sigma missing
    for bad in ("yes", 1, None):
        with pytest.raises(TypeError):
            dc.perturbed_kforest(S, k, sigma=0.9, n_samples=2, seed=1, keep_samples=bad)
    assert (
        dc.perturbed_kforest(
            S, k, sigma=0.9, n_samples=2, seed=1, keep_samples=np.bool_(True)
        ).samples
        is not None
    )


def test_samples_are_frozen_with_writable_arrays(problem):
    _, _, _, samples = problem
    # ordinary arrays owned by the caller; the dataclass itself is frozen
    assert samples.edges.flags.writeable and samples.labels.flags.writeable
    with pytest.raises(dataclasses.FrozenInstanceError):
        samples.seed = 3


def test_inputs_unchanged(rng):
    n, k = 16, 3
    S = rng.standard_normal((n, n))
    Sb = rng.standard_normal((2, n, n)).astype(np.float32)
    X = rng.standard_normal((n, 2))
    VA, VM = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    y = -np.ones(n, dtype=np.int64)
    y[:3] = [0, 1, 0]
    copies = [a.copy() for a in (S, Sb, X, VA, VM, y)]
    p = dc.perturbed_kforest(
        S, k, sigma=0.5, n_samples=5, seed=3, known_labels=y, keep_samples=True
    )
    e, lab = p.samples.edges.copy(), p.samples.labels.copy()
    dc.perturbed_kforest(Sb, k, sigma=0.5, n_samples=5, seed=3, keep_samples=True)
    dc.perturbed_kforest_from_points(X, k, sigma=0.5, n_samples=5, seed=3, keep_samples=True)
    dc.perturbed_kforest_vjp(S, k, VA, VM, samples=p.samples, known_labels=y)
    dc.perturbed_kforest_vjp(S, k, VA, VM, sigma=0.5, n_samples=5, seed=3, known_labels=y)
    for a, c in zip((S, Sb, X, VA, VM, y), copies):
        np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(p.samples.edges, e)
    np.testing.assert_array_equal(p.samples.labels, lab)
