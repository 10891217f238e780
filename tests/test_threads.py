from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import THREAD_COUNTS

import diffclust as dc


@pytest.mark.parametrize("n_threads", THREAD_COUNTS)
def test_same_result_for_any_thread_count(rng, n_threads):
    S = rng.standard_normal((300, 300))  # non-symmetric: exercises the threaded symmetrisation
    Sb = rng.standard_normal((9, 40, 40))
    X = rng.standard_normal((200, 4))
    ref = dc.kforest(S, 5, n_threads=1)
    refb = dc.kforest(Sb, 5, n_threads=1)
    refp = dc.kforest_from_points(X, 5, n_threads=1)
    f = dc.kforest(S, 5, n_threads=n_threads)
    fb = dc.kforest(Sb, 5, n_threads=n_threads)
    fp = dc.kforest_from_points(X, 5, n_threads=n_threads)
    for a, b in [(ref, f), (refb, fb), (refp, fp)]:
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_array_equal(a.edges, b.edges)
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.value, b.value)


def test_worker_error_reaches_caller():
    Sb = np.zeros((8, 10, 10))
    Sb[5, 2, 3] = np.nan
    with pytest.raises(ValueError, match=r"S\[5\]"):
        dc.kforest(Sb, 2, n_threads=3)


def test_concurrent_python_threads(rng):
    S = rng.standard_normal((400, 400))
    expected = dc.kforest(S, 4).labels
    results = []

    def run():
        results.append(dc.kforest(S, 4, n_threads=1).labels)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    for r in results:
        np.testing.assert_array_equal(r, expected)


@pytest.mark.parametrize("n_threads", THREAD_COUNTS)
def test_threaded_prim_bit_identical_with_ties(rng, n_threads):
    # Large enough that the Prim team really splits the work (dense: >= 2048
    # columns per thread; points: >= 2048 vertices per thread), with integer
    # weights and coordinates so that ties are everywhere.
    n = 4200
    A = rng.integers(0, 4, size=(n, n)).astype(np.float64)
    S = np.triu(A, 1) + np.triu(A, 1).T
    # symmetric: check and Prim overlap; non-symmetric A: Prim's team on (A + A^T) / 2
    for M in (S, A):
        ref = dc.kforest(M, 7, n_threads=1)
        f = dc.kforest(M, 7, n_threads=n_threads)
        np.testing.assert_array_equal(ref.labels, f.labels)
        np.testing.assert_array_equal(ref.edges, f.edges)
        np.testing.assert_array_equal(ref.weights, f.weights)
        assert ref.value == f.value
    X = rng.integers(0, 3, size=(4300, 3)).astype(np.float64)
    for metric in ("sqeuclidean", "euclidean", "manhattan", "cosine"):
        refp = dc.kforest_from_points(X, 4, metric=metric, n_threads=1)
        fp = dc.kforest_from_points(X, 4, metric=metric, n_threads=n_threads)
        np.testing.assert_array_equal(refp.labels, fp.labels)
        np.testing.assert_array_equal(refp.edges, fp.edges)
        np.testing.assert_array_equal(refp.weights, fp.weights)


def test_threaded_prim_matches_kruskal(rng):
    # The fast dense Prim (threaded) against Kruskal on the explicit edge list.
    n = 4100
    X = rng.standard_normal((n, 5))
    from scipy.spatial.distance import pdist, squareform

    d = pdist(X)
    i, j = np.triu_indices(n, 1)
    f = dc.kforest(-squareform(d), 6, n_threads=2)
    g = dc.kforest_from_edges(np.stack([i, j], axis=1), -d, n, 6)
    np.testing.assert_array_equal(f.labels, g.labels)
    np.testing.assert_array_equal(f.edges, g.edges)
