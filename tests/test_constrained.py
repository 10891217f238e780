"""Constrained k-forests: the greedy of Stewart et al. with labels and pairs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import diffclust as dc

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given
from hypothesis import strategies as st


def satisfies(labels, y, must=(), cannot=()):
    for a, b in itertools.combinations(np.flatnonzero(y >= 0), 2):
        if (labels[a] == labels[b]) != (y[a] == y[b]):
            return False
    return all(labels[a] == labels[b] for a, b in must) and all(labels[a] != labels[b] for a, b in cannot)


def brute_force_best(S, k, y):
    """Best k-forest value over all partitions satisfying y (tiny n): each block's
    max spanning tree, by enumerating set partitions into exactly k blocks."""
    n = S.shape[0]
    W = (S + S.T) / 2
    best = -np.inf

    def partitions(i, blocks):
        if i == n:
            if len(blocks) == k:
                yield [list(b) for b in blocks]
            return
        for b in blocks:
            b.append(i)
            yield from partitions(i + 1, blocks)
            b.pop()
        if len(blocks) < k:
            blocks.append([i])
            yield from partitions(i + 1, blocks)
            blocks.pop()

    for blocks in partitions(0, []):
        labels = np.empty(n, int)
        for c, b in enumerate(blocks):
            labels[b] = c
        if not satisfies(labels, y):
            continue
        value = 0.0
        for b in blocks:
            if len(b) > 1:
                value += dc.kforest(W[np.ix_(b, b)], 1).value
        best = max(best, value)
    return best


@st.composite
def problem(draw):
    n = draw(st.integers(2, 8))
    k = draw(st.integers(1, n))
    S = np.array(draw(st.lists(st.floats(-5, 5), min_size=n * n, max_size=n * n))).reshape(n, n)
    y = np.array(draw(st.lists(st.integers(-1, k - 1), min_size=n, max_size=n)))
    return S, k, y


@given(problem())
def test_greedy_is_feasible_and_refine_never_hurts(prob):
    S, k, y = prob
    n = S.shape[0]
    n_groups = len(np.unique(y[y >= 0])) + (y < 0).sum()
    if n_groups < k:
        with pytest.raises(ValueError, match="fewer than k"):
            dc.kforest(S, k, known_labels=y)
        return
    f = dc.kforest(S, k, known_labels=y)
    g = dc.kforest(S, k, known_labels=y, refine=False)
    for forest in (f, g):
        assert forest.edges.shape == (n - k, 2)
        assert forest.labels.max() + 1 == k
        assert satisfies(forest.labels, y)
        np.testing.assert_allclose(forest.value, (forest.adjacency() * S).sum(), atol=1e-9)
    np.testing.assert_array_equal(f.labels, g.labels)  # refine keeps the partition
    assert f.value >= g.value - 1e-9
    assert f.value <= dc.kforest(S, k).value + 1e-9
    # the greedy is a heuristic: never better than the best feasible forest
    if n <= 7:
        assert f.value <= brute_force_best(S, k, y) + 1e-9


def test_greedy_equals_unconstrained_when_labels_agree(rng):
    S = rng.standard_normal((30, 30))
    f = dc.kforest(S, 4)
    y = np.where(np.arange(30) % 3 == 0, f.labels, -1)
    g = dc.kforest(S, 4, known_labels=y)
    np.testing.assert_array_equal(g.labels, f.labels)
    np.testing.assert_array_equal(g.edges, f.edges)
    np.testing.assert_allclose(g.value, f.value)


def test_must_and_cannot_link(rng):
    S = rng.standard_normal((20, 20))
    must = [[0, 1], [1, 2], [5, 6]]
    cannot = [[0, 5], [2, 7], [3, 4]]
    for refine in (True, False):
        f = dc.kforest(S, 4, must_link=must, cannot_link=cannot, refine=refine)
        assert satisfies(f.labels, -np.ones(20, int), must, cannot)
    p = dc.perturbed_kforest(S, 4, must_link=must, cannot_link=cannot, sigma=3.0, n_samples=40, seed=1)
    for a, b in must:
        assert p.connectivity[a, b] == 1
    for a, b in cannot:
        assert p.connectivity[a, b] == 0


def test_constrained_batched_matches_loop(rng):
    S = rng.standard_normal((3, 12, 12))
    y = np.array([0, 1] + [-1] * 10)
    f = dc.kforest(S, 3, known_labels=y)
    for t in range(3):
        g = dc.kforest(S[t], 3, known_labels=y)
        np.testing.assert_array_equal(f.labels[t], g.labels)
        assert f.value[t] == g.value


def test_infeasible_constraints():
    S = np.zeros((5, 5))
    with pytest.raises(ValueError, match="joins points with different known labels"):
        dc.kforest(S, 2, known_labels=[0, 1, -1, -1, -1], must_link=[[0, 1]])
    with pytest.raises(ValueError, match="contradicts the must-link constraints"):
        dc.kforest(S, 2, must_link=[[0, 1], [1, 2]], cannot_link=[[0, 2]])
    with pytest.raises(ValueError, match="contradicts"):
        dc.kforest(S, 2, known_labels=[0, -1, 0, -1, -1], cannot_link=[[0, 2]])
    with pytest.raises(ValueError, match="fewer than k"):
        dc.kforest(S, 3, known_labels=[0, 0, 0, 0, -1])
    # an odd cycle of cannot-links cannot be split into 2 trees: the pairs are named
    with pytest.raises(ValueError, match=r"cannot-link pairs \(0, 1\), \(1, 2\), \(0, 2\) .*more than 2 trees"):
        dc.kforest(np.zeros((3, 3)), 2, cannot_link=[[0, 1], [1, 2], [0, 2]])
    with pytest.raises(IndexError, match=r"must_link\[0\] = \(0, 9\) is out of range"):
        dc.kforest(S, 2, must_link=[[0, 9]])
    with pytest.raises(ValueError, match="cannot_link must have shape"):
        dc.kforest(S, 2, cannot_link=[0, 1])
    with pytest.raises(ValueError, match="known_labels must be -1"):
        dc.kforest(S, 2, known_labels=[0, -2, 0, 0, 0])
    with pytest.raises(TypeError, match="known_labels must hold integers"):
        dc.kforest(S, 2, known_labels=[0.5, 0, 0, 0, 0])


def reference_greedy(S, k, y, must=(), cannot=()):
    """The greedy of Stewart et al. written out plainly (refine=False): groups of
    equal labels and must-links joined by their own maximum spanning trees, then
    every remaining edge in the strict order (heavier, then smaller (i, j)),
    skipping merges of trees with different labels or across a cannot-link pair,
    until k trees remain. Returns (edge set, partition as sets), or None when the
    greedy stops above k trees."""
    n = S.shape[0]
    W = S / 2 + S.T / 2
    parent = list(range(n))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    order = sorted((-W[i, j], i, j) for i in range(n) for j in range(i + 1, n))
    # groups: equal known labels and must-link pairs
    g = list(range(n))

    def gfind(a):
        while g[a] != a:
            a = g[a]
        return a

    for a, b in list(itertools.combinations(np.flatnonzero(y >= 0), 2)):
        if y[a] == y[b]:
            g[gfind(a)] = gfind(b)
    for a, b in must:
        g[gfind(a)] = gfind(b)
    edges = set()
    for root in {gfind(i) for i in range(n)}:
        members = [i for i in range(n) if gfind(i) == root]
        inside = set(members)
        for _, i, j in order:  # Kruskal inside the group: its maximum spanning tree
            if i in inside and j in inside and find(i) != find(j):
                parent[find(i)] = find(j)
                edges.add((i, j))
    label = {}
    for i in np.flatnonzero(y >= 0):
        label[find(i)] = y[i]
    components = len({find(i) for i in range(n)})
    for _, i, j in order:
        if components == k:
            break
        ri, rj = find(i), find(j)
        if ri == rj:
            continue
        li, lj = label.get(ri, -1), label.get(rj, -1)
        if li >= 0 and lj >= 0 and li != lj:
            continue
        if any({find(a), find(b)} == {ri, rj} for a, b in cannot):
            continue
        parent[ri] = rj
        label[rj] = li if li >= 0 else lj
        edges.add((i, j))
        components -= 1
    if components > k:
        return None
    blocks = {}
    for i in range(n):
        blocks.setdefault(find(i), set()).add(i)
    return edges, sorted(map(sorted, blocks.values()))


@st.composite
def greedy_problem(draw):
    n = draw(st.integers(2, 14))
    k = draw(st.integers(1, n))
    ties = draw(st.booleans())  # integer weights: many equal weights, the strict order decides
    values = st.integers(-3, 3) if ties else st.floats(-5, 5)
    S = np.array(draw(st.lists(values, min_size=n * n, max_size=n * n)), dtype=np.float64).reshape(n, n)
    y = np.maximum(np.array(draw(st.lists(st.integers(-k, k - 1), min_size=n, max_size=n))), -1)  # half unknown
    pairs = st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] != p[1]), max_size=2)
    return S, k, y, draw(pairs), draw(pairs)


@hypothesis.settings(max_examples=300)
@given(greedy_problem())
def test_greedy_equals_a_plain_reference(prob):
    """The library's greedy (lazily ordered edges, O(alpha) label checks, partner
    lists) takes exactly the edges of the plain greedy over fully sorted edges."""
    S, k, y, must, cannot = prob
    kw = {"known_labels": y, "must_link": np.array(must, dtype=np.int64).reshape(-1, 2),
          "cannot_link": np.array(cannot, dtype=np.int64).reshape(-1, 2), "refine": False}
    feasible = exactly_feasible(n_points(S), k, y, must, cannot)
    if not feasible:
        with pytest.raises(ValueError):
            dc.kforest(S, k, **kw)
        return
    forest = dc.kforest(S, k, **kw)  # a feasible problem never raises
    expected = reference_greedy(S, k, y, must, cannot)
    if expected is None:  # the plain greedy is stuck: the library completed it
        assert forest.n_repaired == 1
        assert_valid_forest(forest, S, k, y, must, cannot)
        return
    assert forest.n_repaired == 0
    edges, blocks = expected
    assert {(int(a), int(b)) for a, b in forest.edges} == edges
    got_blocks = {}
    for i, label in enumerate(forest.labels):
        got_blocks.setdefault(label, []).append(i)
    assert sorted(got_blocks.values()) == blocks


@pytest.mark.parametrize("seed", range(4))
def test_greedy_reaching_past_the_heaviest_edges_equals_the_reference(seed):
    """Three tight clusters of 40 (within-cluster weights all above the others)
    and k = 2 with two clusters labelled apart: the greedy must take a light
    between-cluster edge, past the heaviest 16 n edges that the library orders
    first, so its second tier of edges is used."""
    rng = np.random.default_rng(seed)
    n, k = 120, 2
    block = np.repeat(np.arange(3), 40)
    S = np.where(block[:, None] == block[None, :], rng.uniform(5, 6, (n, n)), rng.uniform(0, 1, (n, n)))
    if seed % 2:
        S = np.round(S, 1)  # ties everywhere
    y = np.full(n, -1)
    y[0], y[40] = 0, 1
    cannot = [(int(rng.integers(80, 120)), int(rng.integers(0, 40)))] if seed >= 2 else []
    kw = {"known_labels": y, "cannot_link": np.array(cannot, dtype=np.int64).reshape(-1, 2), "refine": False}
    forest = dc.kforest(S, k, **kw)
    edges, blocks = reference_greedy(S, k, y, (), cannot)
    assert {(int(a), int(b)) for a, b in forest.edges} == edges
    got_blocks = {}
    for i, label in enumerate(forest.labels):
        got_blocks.setdefault(label, []).append(i)
    assert sorted(got_blocks.values()) == blocks
    assert len({tuple(sorted(b)) for b in blocks}) == 2


# --- feasibility: every feasible problem is solved, every infeasible one refused ---


def n_points(S):
    return S.shape[0]


def brute_feasible(n, k, y, must=(), cannot=()):
    """Whether some partition of range(n) into exactly k blocks satisfies the
    labels and pairs: every set partition into k blocks is tried (tiny n)."""

    def partitions(i, labels, n_blocks):
        if n - i < k - n_blocks:
            return
        if i == n:
            yield labels
            return
        for b in range(min(n_blocks + 1, k)):
            labels[i] = b
            yield from partitions(i + 1, labels, max(n_blocks, b + 1))

    return any(satisfies(lab, y, must, cannot) for lab in partitions(0, np.zeros(n, int), 0))


def exactly_feasible(n, k, y, must=(), cannot=()):
    """The same decision written differently, fast enough for n <= 14: groups
    of equal labels and must-links, then a plain backtracking colouring of the
    groups with k colours (labelled groups get their label's colour)."""
    parent = list(range(n))

    def find(a):
        while parent[a] != a:
            a = parent[a]
        return a

    known = [i for i in range(n) if y[i] >= 0]
    for a, b in itertools.combinations(known, 2):
        if y[a] == y[b]:
            parent[find(a)] = find(b)
    for a, b in must:
        parent[find(a)] = find(b)
    roots = sorted({find(i) for i in range(n)})
    if len(roots) < k:
        return False
    distinct = sorted({int(y[i]) for i in known})
    if len(distinct) > k:
        return False
    colour_of_label = {lab: c for c, lab in enumerate(distinct)}
    fixed = {}
    for i in known:
        r, c = find(i), colour_of_label[int(y[i])]
        if fixed.setdefault(r, c) != c:
            return False  # two labels in one group
    conflicts = [(find(a), find(b)) for a, b in cannot]
    if any(a == b for a, b in conflicts):
        return False
    colour = {}

    def search(g):
        if g == len(roots):
            return True
        r = roots[g]
        for c in [fixed[r]] if r in fixed else range(k):
            if all(colour.get(b if a == r else a) != c for a, b in conflicts if r in (a, b)):
                colour[r] = c
                if search(g + 1):
                    return True
                del colour[r]
        return False

    return search(0)


def assert_valid_forest(forest, S, k, y, must=(), cannot=()):
    """Exactly k trees, n - k edges forming those trees, every constraint met."""
    assert_valid_sample(forest.edges, forest.labels, n_points(S), k, y, must, cannot)
    np.testing.assert_allclose(forest.value, (forest.adjacency() * S).sum(), atol=1e-9)


def assert_valid_sample(edges, labels, n, k, y, must=(), cannot=()):
    assert edges.shape == (n - k, 2)
    assert labels.shape == (n,)
    assert sorted(set(labels.tolist())) == list(range(k))  # exactly k trees
    parent = list(range(n))

    def find(a):
        while parent[a] != a:
            a = parent[a]
        return a

    for a, b in edges:
        assert 0 <= a < b < n and find(a) != find(b)  # acyclic
        parent[find(a)] = find(b)
    roots = [find(i) for i in range(n)]  # the trees are the edges' components
    assert all((roots[a] == roots[b]) == (labels[a] == labels[b]) for a, b in itertools.combinations(range(n), 2))
    assert satisfies(labels, y, must, cannot)


@st.composite
def small_problem(draw):
    n = draw(st.integers(2, 7))
    k = draw(st.integers(1, min(3, n)))
    ties = draw(st.booleans())
    values = st.integers(-2, 2) if ties else st.floats(-5, 5)
    S = np.array(draw(st.lists(values, min_size=n * n, max_size=n * n)), dtype=np.float64).reshape(n, n)
    y = np.maximum(np.array(draw(st.lists(st.integers(-3, k), min_size=n, max_size=n))), -1)
    pair = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] != p[1])
    must = draw(st.lists(pair, max_size=2))
    cannot = draw(st.lists(pair, max_size=6))
    return S, k, y, must, cannot


def as_pairs(pairs):
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


@hypothesis.settings(max_examples=400, deadline=None)
@given(small_problem(), st.integers(0, 2**32 - 1))
def test_brute_force_feasibility_on_every_path(prob, seed):
    """Against brute force over all set partitions into exactly k blocks: a
    feasible problem succeeds on the exact, perturbed, VJP and loss paths with
    k trees meeting every constraint; an infeasible one raises ValueError."""
    S, k, y, must, cannot = prob
    n = n_points(S)
    feasible = brute_feasible(n, k, y, must, cannot)
    assert exactly_feasible(n, k, y, must, cannot) == feasible  # the helper used on larger n
    kw = {"known_labels": y, "must_link": as_pairs(must), "cannot_link": as_pairs(cannot)}
    B = 6
    pkw = {"sigma": 1.0, "n_samples": B, "seed": seed, **kw}
    V = np.random.default_rng(seed).standard_normal((n, n))
    if not feasible:
        for call in (
            lambda: dc.kforest(S, k, **kw),
            lambda: dc.perturbed_kforest(S, k, **pkw),
            lambda: dc.perturbed_kforest_vjp(S, k, grad_connectivity=V, **pkw),
            lambda: dc.partial_fy_loss(S, k, **pkw),
        ):
            with pytest.raises(ValueError):
                call()
        return
    for refine in (True, False):
        f = dc.kforest(S, k, refine=refine, **kw)
        assert_valid_forest(f, S, k, y, must, cannot)
        assert f.n_repaired in (0, 1)
        if not cannot:
            assert f.n_repaired == 0  # labels and must-links alone never block the greedy
    p = dc.perturbed_kforest(S, k, keep_samples=True, **pkw)
    for s in range(B):
        assert_valid_sample(p.samples.edges[s], p.samples.labels[s], n, k, y, must, cannot)
    assert 0 <= p.n_repaired <= B
    for a, b in must:
        assert p.connectivity[a, b] == 1
    for a, b in cannot:
        assert p.connectivity[a, b] == 0
    g = dc.perturbed_kforest_vjp(S, k, grad_connectivity=V, **pkw)
    assert np.isfinite(g).all()
    result = dc.partial_fy_loss(S, k, **pkw)
    loss, _ = result
    assert loss >= -1e-9  # every sample's constrained forest is a k-forest: never above the free one
    assert 0 <= result.n_repaired <= B
    assert result.n_repaired == p.n_repaired  # the same noise, the same constrained samples


def test_issue_cannot_link_path_is_solved_on_every_path():
    """n = 4, k = 2, cannot-links (0,1), (1,2), (2,3) (issue 8): feasible as
    {0, 2}, {1, 3}; the perturbed samples whose greedy gets stuck are completed."""
    rng = np.random.default_rng(0)
    S = rng.standard_normal((4, 4))
    cannot = [[0, 1], [1, 2], [2, 3]]
    y = -np.ones(4, int)
    assert_valid_forest(dc.kforest(S, 2, cannot_link=cannot), S, 2, y, (), cannot)
    repaired = 0
    for seed in range(20):
        p = dc.perturbed_kforest(S, 2, cannot_link=cannot, sigma=1.0, n_samples=20, seed=seed, keep_samples=True)
        for s in range(20):
            assert_valid_sample(p.samples.edges[s], p.samples.labels[s], 4, 2, y, (), cannot)
        repaired += p.n_repaired
        loss = dc.partial_fy_loss(S, 2, y, cannot_link=cannot, sigma=1.0, n_samples=20, seed=seed)
        assert loss.n_repaired == p.n_repaired
    assert repaired > 0  # the case of the issue does happen, and is handled
    # the greedy's first choice (0, 3) blocks it: the exact forest is completed too
    W = np.zeros((4, 4))
    W[0, 3] = W[3, 0] = 1.0
    f = dc.kforest(W, 2, cannot_link=cannot)
    assert f.n_repaired == 1
    np.testing.assert_array_equal(f.labels, [0, 1, 0, 1])


def test_issue_must_and_cannot_example_is_solved():
    """n = 7, k = 2, must-link (3,5), cannot-links (5,6), (3,4), (2,6) (issue 8)."""
    must, cannot = [[3, 5]], [[5, 6], [3, 4], [2, 6]]
    y = -np.ones(7, int)
    assert brute_feasible(7, 2, y, must, cannot)
    rng = np.random.default_rng(1)
    repaired = 0
    for _ in range(50):
        S = rng.standard_normal((7, 7))
        f = dc.kforest(S, 2, must_link=must, cannot_link=cannot)
        assert_valid_forest(f, S, 2, y, must, cannot)
        repaired += f.n_repaired
    assert repaired > 0


def repairing_problem(n=40, k=3):
    """cannot-links on an even cycle of 12 points and an odd cycle of 5 (k = 3
    colours needed there): the greedy gets stuck in many samples."""
    rng = np.random.default_rng(3)
    S = rng.standard_normal((n, n))
    ring = [[i, (i + 1) % 12] for i in range(12)] + [[12 + i, 12 + (i + 1) % 5] for i in range(5)]
    return S, k, np.array(ring)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_repairs_are_bit_identical_for_any_thread_count(dtype):
    S, k, cannot = repairing_problem()
    S = S.astype(dtype)
    y = -np.ones(S.shape[0], int)
    kw = {"cannot_link": cannot, "sigma": 2.0, "n_samples": 41, "seed": 5}
    V = np.random.default_rng(0).standard_normal(S.shape).astype(dtype)
    ref = dc.perturbed_kforest(S, k, keep_samples=True, n_threads=1, **kw)
    assert ref.n_repaired > 0
    loss_ref = dc.partial_fy_loss(S, k, y, n_threads=1, **kw)
    assert loss_ref.n_repaired == ref.n_repaired
    vjp_ref = dc.perturbed_kforest_vjp(S, k, grad_connectivity=V, n_threads=1, **kw)
    for threads in (2, 3, 7):
        p = dc.perturbed_kforest(S, k, keep_samples=True, n_threads=threads, **kw)
        np.testing.assert_array_equal(p.adjacency, ref.adjacency)
        np.testing.assert_array_equal(p.connectivity, ref.connectivity)
        assert p.value == ref.value and p.n_repaired == ref.n_repaired
        np.testing.assert_array_equal(p.samples.edges, ref.samples.edges)
        np.testing.assert_array_equal(p.samples.labels, ref.samples.labels)
        loss = dc.partial_fy_loss(S, k, y, n_threads=threads, **kw)
        assert loss[0] == loss_ref[0] and loss.n_repaired == loss_ref.n_repaired
        np.testing.assert_array_equal(loss[1], loss_ref[1])
        np.testing.assert_array_equal(dc.perturbed_kforest_vjp(S, k, grad_connectivity=V, n_threads=threads, **kw), vjp_ref)
    for s in range(41):
        assert_valid_sample(ref.samples.edges[s], ref.samples.labels[s], S.shape[0], k, y, (), cannot.tolist())
    # the VJP from the kept samples equals the VJP that solves again (repairs included)
    g = dc.perturbed_kforest_vjp(S, k, grad_connectivity=V, samples=ref.samples, cannot_link=cannot, n_threads=2)
    np.testing.assert_array_equal(g, vjp_ref)


def test_batched_exact_counts_repairs():
    W = np.zeros((3, 4, 4))
    W[0, 0, 3] = W[0, 3, 0] = 1.0  # stuck: repaired
    W[1, 0, 2] = W[1, 2, 0] = 1.0  # fine
    W[2, 1, 2] = W[2, 2, 1] = 1.0  # (1, 2) is a cannot-link: the greedy skips it; ties give (0, 2) first
    f = dc.kforest(W, 2, cannot_link=[[0, 1], [1, 2], [2, 3]])
    expected = sum(dc.kforest(W[t], 2, cannot_link=[[0, 1], [1, 2], [2, 3]]).n_repaired for t in range(3))
    assert f.n_repaired == expected >= 1
    for t in range(3):
        np.testing.assert_array_equal(f.labels[t], [0, 1, 0, 1])


def test_infeasible_messages_name_the_conflict():
    S = np.zeros((6, 6))
    with pytest.raises(ValueError, match=r"3 distinct labels but k = 2"):
        dc.perturbed_kforest(S, 2, known_labels=[0, 1, 2, -1, -1, -1], n_samples=5)
    with pytest.raises(ValueError, match=r"must_link pair 1 \(1, 2\) joins points with different known labels: "
                                         r"point 1 is tied to labelled point 0 and point 2 to labelled point 2"):
        dc.partial_fy_loss(S, 2, [0, -1, 1, -1, -1, -1], must_link=[[0, 1], [1, 2]])
    with pytest.raises(ValueError, match=r"cannot_link pair 0 \(3, 5\) contradicts"):
        dc.kforest(S, 2, known_labels=[-1, -1, -1, 0, -1, 0], cannot_link=[[3, 5]])
    with pytest.raises(ValueError, match=r"cannot-link pairs \(0, 1\), \(1, 2\), \(2, 3\), \(3, 4\), \(0, 4\) .*more than 2"):
        dc.perturbed_kforest(S, 2, cannot_link=[[0, 1], [1, 2], [2, 3], [3, 4], [0, 4]], n_samples=5)
    # known labels count as colours: 2 labels and a point cannot-linked to both need 3 trees
    with pytest.raises(ValueError, match=r"cannot-link pairs \(2, 0\), \(2, 1\) .*more than 2"):
        dc.partial_fy_loss(S, 2, [0, 1, -1, -1, -1, -1], cannot_link=[[2, 0], [2, 1]])
    with pytest.raises(ValueError, match="fewer than k"):
        dc.perturbed_kforest(S, 3, must_link=[[0, 1], [1, 2], [2, 3], [3, 4]], n_samples=5)
    # k = 3 is enough for the pentagon, and for labels plus a point cannot-linked to both
    assert_valid_forest(dc.kforest(S, 3, cannot_link=[[0, 1], [1, 2], [2, 3], [3, 4], [0, 4]]), S, 3,
                        -np.ones(6, int), (), [[0, 1], [1, 2], [2, 3], [3, 4], [0, 4]])
    y = np.array([0, 1, -1, -1, -1, -1])
    assert_valid_forest(dc.kforest(S, 3, known_labels=y, cannot_link=[[2, 0], [2, 1]]), S, 3, y, (), [[2, 0], [2, 1]])


def test_batched_perturbed_counts_repairs_over_the_batch():
    S, k, cannot = repairing_problem(n=20)
    batch = np.stack([S, S.T, np.zeros_like(S)])
    kw = {"cannot_link": cannot, "sigma": 2.0, "n_samples": 12, "seed": 2}
    p = dc.perturbed_kforest(batch, k, n_threads=3, **kw)
    seeds = dc.element_seeds(kw["seed"], 3)  # element t's own seed
    singles = [dc.perturbed_kforest(batch[t], k, n_threads=1, **{**kw, "seed": int(seeds[t])}) for t in range(3)]
    assert p.n_repaired == sum(q.n_repaired for q in singles) > 0
    for t in range(3):
        np.testing.assert_array_equal(p.connectivity[t], singles[t].connectivity)


def strict_order_tree(S, members):
    """The maximum spanning tree of the points `members`, by Kruskal over the
    strict order (heavier, then smaller (i, j)), as a set of pairs."""
    W = S / 2 + S.T / 2
    parent = {i: i for i in members}

    def find(a):
        while parent[a] != a:
            a = parent[a]
        return a

    tree = set()
    for _, i, j in sorted((-W[i, j], i, j) for i, j in itertools.combinations(sorted(members), 2)):
        if find(i) != find(j):
            parent[find(i)] = find(j)
            tree.add((i, j))
    return tree


@hypothesis.settings(max_examples=300)
@given(greedy_problem())
def test_greedy_without_cannot_links_equals_the_plain_reference(prob):
    """Without cannot-links the library runs the greedy over the n - 1 edges of
    the maximum spanning tree only (constrained.hpp); it must take exactly the
    edges of the plain greedy over all edges (refine=False), and with refine=True
    give the same partition with each tree re-spanned, ties included."""
    S, k, y, must, _ = prob
    must_arr = np.array(must, dtype=np.int64).reshape(-1, 2)
    if not exactly_feasible(n_points(S), k, y, must, []):
        return
    expected = reference_greedy(S, k, y, must)
    assert expected is not None  # without cannot-links the greedy never gets stuck
    edges, blocks = expected
    forest = dc.kforest(S, k, known_labels=y, must_link=must_arr, refine=False)
    assert {(int(a), int(b)) for a, b in forest.edges} == edges
    refined = dc.kforest(S, k, known_labels=y, must_link=must_arr, refine=True)
    got = {}
    for i, label in enumerate(refined.labels):
        got.setdefault(label, []).append(i)
    assert sorted(got.values()) == blocks
    assert {(int(a), int(b)) for a, b in refined.edges} == set().union(*(strict_order_tree(S, b) for b in blocks))
    assert forest.n_repaired == refined.n_repaired == 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("refine", [True, False])
@pytest.mark.parametrize("n, k", [(9, 3), (40, 5), (130, 10)])
def test_loss_from_the_free_tree_equals_two_forward_calls(n, k, refine, dtype):
    """The loss solves each sample's constrained forest from the free sample's
    tree and draws again only the weights inside groups and trees (fy_sample.hpp);
    the constrained forward materialises the whole perturbed matrix and solves
    it. Both must give the same forests: grad = A_eps(S) - A_eps(S; y) and
    loss = F_eps(S) - F_eps(S; y), with labels and must-links."""
    rng = np.random.default_rng(n + k)
    X = rng.standard_normal((n, 3))
    S = (-((X[:, None] - X[None]) ** 2).sum(-1)).astype(dtype)
    y = rng.integers(0, min(k, 4), n)
    y[rng.random(n) < 0.6] = -1
    unlabelled = np.flatnonzero(y < 0)
    must = unlabelled[:4].reshape(2, 2) if unlabelled.size >= 4 else None
    kw = {"sigma": 0.8, "n_samples": 16, "seed": n, "refine": refine, "must_link": must}
    loss, grad = dc.partial_fy_loss(S, k, y, **kw)
    free = dc.perturbed_kforest(S, k, sigma=0.8, n_samples=16, seed=n)
    con = dc.perturbed_kforest(S, k, known_labels=y, **kw)
    np.testing.assert_array_equal(grad, (free.adjacency.astype(np.float64) - con.adjacency).astype(dtype))
    np.testing.assert_allclose(loss, free.value - con.value, rtol=1e-9, atol=1e-9)
