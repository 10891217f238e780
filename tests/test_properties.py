from __future__ import annotations

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from reference import random_forest_value
from scipy.sparse.csgraph import connected_components

import diffclust as dc


@st.composite
def similarity_and_k(draw):
    n = draw(st.integers(1, 12))
    # small integer weights: many ties, the hard case for determinism
    S = draw(arrays(np.float64, (n, n), elements=st.integers(-4, 4).map(float)))
    k = draw(st.integers(1, n))
    return S, k


@given(similarity_and_k())
def test_forest_has_n_minus_k_edges_and_k_trees(sk):
    S, k = sk
    n = S.shape[0]
    f = dc.kforest(S, k)
    assert f.edges.shape == (n - k, 2)
    n_comp, comp = connected_components(f.adjacency(), directed=False)
    assert n_comp == k == f.labels.max() + 1
    # labels and components describe the same partition
    assert len(set(zip(comp.tolist(), f.labels.tolist()))) == k


@given(similarity_and_k(), st.integers(0, 2**32 - 1))
def test_no_random_greedy_forest_weighs_more(sk, seed):
    S, k = sk
    f = dc.kforest(S, k)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        assert random_forest_value(S, k, rng) <= f.value + 1e-9


@given(similarity_and_k(), st.integers(0, 2**32 - 1))
def test_relabelling_points_permutes_the_result(sk, seed):
    S, k = sk
    n = S.shape[0]
    perm = np.random.default_rng(seed).permutation(n)
    f = dc.kforest(S, k)
    g = dc.kforest(S[np.ix_(perm, perm)], k)
    # ties may pick a different forest of the same value
    np.testing.assert_allclose(f.value, g.value, rtol=1e-12, atol=1e-12)
    W = (S + S.T) / 2
    if len(np.unique(W[np.triu_indices(n, 1)])) == n * (n - 1) // 2:
        # distinct weights: the forest is unique, so the partition permutes exactly
        Mf = f.connectivity()
        Mg = g.connectivity()
        np.testing.assert_array_equal(Mf[np.ix_(perm, perm)], Mg)


@given(
    arrays(np.float64, st.tuples(st.integers(2, 15), st.integers(1, 3)), elements=st.floats(-10, 10)),
    st.sampled_from(["sqeuclidean", "euclidean", "manhattan"]),
)
def test_from_points_value_equals_dense(X, metric):
    from scipy.spatial.distance import cdist

    n = X.shape[0]
    k = max(1, n // 2)
    D = cdist(X, X, {"manhattan": "cityblock"}.get(metric, metric))
    f = dc.kforest_from_points(X, k, metric=metric)
    g = dc.kforest(-D, k)
    np.testing.assert_allclose(f.value, g.value, rtol=1e-9, atol=1e-9)
