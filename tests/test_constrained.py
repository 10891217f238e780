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
    # an odd cycle of cannot-links cannot be split into 2 trees
    with pytest.raises(ValueError, match="greedy stopped at 3 trees"):
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
    try:
        forest = dc.kforest(S, k, **kw)
    except ValueError:
        return  # infeasible constraints: covered by the error tests
    expected = reference_greedy(S, k, y, must, cannot)
    assert expected is not None
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
