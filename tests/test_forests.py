from __future__ import annotations

import numpy as np
import pytest
from reference import canonical, scipy_mst_forest, scipy_single_linkage
from scipy.spatial.distance import cdist

import diffclust as dc


def random_similarity(rng: np.random.Generator, n: int, symmetric: bool = True) -> np.ndarray:
    S = rng.standard_normal((n, n))
    return (S + S.T) / 2 if symmetric else S


@pytest.mark.parametrize("n", [1, 2, 3, 10, 57, 200])
@pytest.mark.parametrize("symmetric", [True, False])
def test_partition_matches_scipy_linkage(rng, n, symmetric):
    S = random_similarity(rng, n, symmetric)
    for k in sorted({1, min(2, n), max(1, n // 3), n}):
        forest = dc.kforest(S, k)
        if n > 1:
            np.testing.assert_array_equal(forest.labels, scipy_single_linkage(S, k))
        assert forest.labels.max() + 1 == k


@pytest.mark.parametrize("n", [5, 40, 150])
@pytest.mark.parametrize("symmetric", [True, False])
def test_value_matches_scipy_mst(rng, n, symmetric):
    S = random_similarity(rng, n, symmetric)
    for k in (1, 3, n - 1):
        forest = dc.kforest(S, k)
        labels, value = scipy_mst_forest(S, k)
        np.testing.assert_array_equal(forest.labels, labels)
        np.testing.assert_allclose(forest.value, value, rtol=1e-12)
        A = forest.adjacency()
        np.testing.assert_allclose(forest.value, (A * S).sum(), rtol=1e-12)


def test_output_conventions(rng):
    n, k = 30, 4
    S = random_similarity(rng, n, symmetric=False)
    f = dc.kforest(S, k)
    assert f.labels.shape == (n,) and f.edges.shape == (n - k, 2) and f.weights.shape == (n - k,)
    assert f.labels[0] == 0
    # numbered by first appearance
    seen = []
    for c in f.labels:
        if c not in seen:
            seen.append(c)
    assert seen == list(range(k))
    assert (f.edges[:, 0] < f.edges[:, 1]).all()
    W = (S + S.T) / 2
    np.testing.assert_allclose(f.weights, W[f.edges[:, 0], f.edges[:, 1]], rtol=1e-15)
    assert (np.diff(f.weights) <= 0).all()  # heaviest first
    A, M = f.adjacency(), f.connectivity()
    np.testing.assert_array_equal(A, A.T)
    assert A.diagonal().sum() == 0 and A.sum() == 2 * (n - k)
    np.testing.assert_array_equal(M, (f.labels[:, None] == f.labels[None, :]).astype(float))
    assert (M.diagonal() == 1).all()
    assert f.labels.flags.writeable and f.edges.flags.writeable and f.weights.flags.writeable


def test_diagonal_is_ignored(rng):
    S = random_similarity(rng, 20)
    T = S.copy()
    np.fill_diagonal(T, 1e300)
    assert np.array_equal(dc.kforest(S, 3).labels, dc.kforest(T, 3).labels)
    np.fill_diagonal(T, np.nan)
    assert np.array_equal(dc.kforest(S, 3).labels, dc.kforest(T, 3).labels)


def test_ties_broken_by_edge_index():
    # Every edge has the same weight: the lexicographically first pairs win, so
    # the tree is the star (0, j) and cutting keeps (0, 1), ..., (0, n - k).
    n, k = 6, 3
    f = dc.kforest(np.ones((n, n)), k)
    np.testing.assert_array_equal(f.edges, [[0, 1], [0, 2], [0, 3]])
    np.testing.assert_array_equal(f.labels, [0, 0, 0, 0, 1, 2])
    # Kruskal on the same complete graph agrees.
    iu, ju = np.triu_indices(n, 1)
    g = dc.kforest_from_edges(np.column_stack([ju, iu]), np.ones(len(iu)), n, k)
    np.testing.assert_array_equal(g.edges, f.edges)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_and_float64(rng, dtype):
    S = random_similarity(rng, 50).astype(dtype)
    f = dc.kforest(S, 5)
    assert f.weights.dtype == dtype
    assert f.adjacency().dtype == dtype
    np.testing.assert_array_equal(f.labels, scipy_single_linkage(S.astype(np.float64), 5))


def test_integer_input_is_accepted(rng):
    S = np.zeros((30, 30), dtype=np.int64)
    iu = np.triu_indices(30, 1)
    S[iu] = rng.permutation(len(iu[0]))  # distinct weights: the forest is unique
    S = S + S.T
    f = dc.kforest(S, 3)
    assert f.weights.dtype == np.float64
    np.testing.assert_array_equal(f.labels, scipy_single_linkage(S.astype(float), 3))


def test_prim_and_kruskal_agree(rng):
    n = 80
    S = random_similarity(rng, n, symmetric=False)
    iu, ju = np.triu_indices(n, 1)
    W = (S + S.T) / 2
    perm = rng.permutation(len(iu))
    for k in (1, 7, n):
        f = dc.kforest(S, k)
        g = dc.kforest_from_edges(np.column_stack([iu, ju])[perm], W[iu, ju][perm], n, k)
        np.testing.assert_array_equal(f.labels, g.labels)
        np.testing.assert_array_equal(f.edges, g.edges)
        np.testing.assert_allclose(f.weights, g.weights)
        np.testing.assert_allclose(f.value, g.value, rtol=1e-12)


def test_kforest_from_edges_sparse_graph(rng):
    # two disconnected paths: k must be at least 2
    edges = np.array([[0, 1], [1, 2], [3, 4], [2, 2]])
    weights = np.array([1.0, 2.0, 3.0, 9.0])
    f = dc.kforest_from_edges(edges, weights, 5, 2)
    np.testing.assert_array_equal(f.labels, [0, 0, 0, 1, 1])
    assert f.value == 2 * 6.0
    with pytest.raises(ValueError, match="2 connected components"):
        dc.kforest_from_edges(edges, weights, 5, 1)
    with pytest.raises(ValueError, match="3 connected components"):
        dc.kforest_from_edges(edges, weights, 6, 2)


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean", "manhattan", "cosine"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_from_points_matches_dense(rng, metric, dtype):
    X = rng.standard_normal((120, 7)).astype(dtype)
    ref_metric = {"manhattan": "cityblock"}.get(metric, metric)
    D = cdist(X.astype(np.float64), X.astype(np.float64), ref_metric)
    for k in (1, 4, 119):
        f = dc.kforest_from_points(X, k, metric=metric)
        g = dc.kforest(-D, k)
        np.testing.assert_array_equal(f.labels, g.labels)
        np.testing.assert_array_equal(f.edges, g.edges)
        assert f.weights.dtype == dtype  # computed in float64, rounded once to the input dtype
        rtol = 2.0**-23 if dtype == np.float32 else 1e-10
        np.testing.assert_allclose(f.weights, g.weights, rtol=rtol, atol=1e-12)
        np.testing.assert_allclose(f.value, g.value, rtol=1e-10)


def test_from_points_cosine_zero_vector():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.1], [0.0, 1.0]])
    f = dc.kforest_from_points(X, 2, metric="cosine")
    # the zero vector is at distance 1 from everything (scikit-learn's convention)
    from sklearn.metrics import pairwise_distances

    g = dc.kforest(-pairwise_distances(X, metric="cosine"), 2)
    np.testing.assert_array_equal(f.labels, g.labels)


def test_batched_matches_loop(rng):
    b, n, k = 5, 40, 3
    S = rng.standard_normal((b, n, n))
    f = dc.kforest(S, k)
    assert f.labels.shape == (b, n) and f.edges.shape == (b, n - k, 2) and f.value.shape == (b,)
    for t in range(b):
        g = dc.kforest(S[t], k)
        np.testing.assert_array_equal(f.labels[t], g.labels)
        np.testing.assert_array_equal(f.edges[t], g.edges)
        assert f.value[t] == g.value
        np.testing.assert_array_equal(f.adjacency()[t], g.adjacency())
        np.testing.assert_array_equal(f.connectivity()[t], g.connectivity())


def test_single_linkage_of_blobs_recovers_them(rng):
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    X = np.vstack([c + 0.3 * rng.standard_normal((50, 2)) for c in centers])
    f = dc.kforest_from_points(X, 3)
    np.testing.assert_array_equal(canonical(np.repeat([0, 1, 2], 50)), f.labels)

