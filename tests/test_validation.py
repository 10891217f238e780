from __future__ import annotations

import numpy as np
import pytest

import diffclust as dc
from diffclust._validation import resolve_seed, resolve_threads


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_similarity(bad):
    S = np.zeros((5, 5))
    S[1, 3] = bad
    with pytest.raises(ValueError, match="S contains NaN or inf"):
        dc.kforest(S, 2)
    Sb = np.zeros((2, 5, 5))
    Sb[1, 3, 1] = bad
    with pytest.raises(ValueError, match=r"S\[1\] contains NaN"):
        dc.kforest(Sb, 2)


@pytest.mark.parametrize(
    "S, match",
    [
        (np.zeros((3, 4)), "square"),
        (np.zeros(5), "2 or 3 dimensions"),
        (np.zeros((2, 2, 2, 2)), "2 or 3 dimensions"),
        (np.zeros((0, 0)), "empty"),
        (np.zeros((2, 3, 4)), "square"),
    ],
)
def test_bad_shapes(S, match):
    with pytest.raises(ValueError, match=match):
        dc.kforest(S, 1)


def test_bad_dtype():
    with pytest.raises(TypeError, match="S must hold real numbers"):
        dc.kforest(np.zeros((3, 3), dtype=complex), 1)
    with pytest.raises(TypeError, match="S must hold real numbers"):
        dc.kforest([["a", "b"], ["c", "d"]], 1)


@pytest.mark.parametrize("k", [0, -1, 6])
def test_k_out_of_range(k):
    with pytest.raises(ValueError, match=r"k must be in \[1, n\] = \[1, 5\]"):
        dc.kforest(np.zeros((5, 5)), k)
    with pytest.raises(ValueError, match=r"k must be in \[1, n\]"):
        dc.kforest_from_points(np.zeros((5, 2)), k)
    with pytest.raises(ValueError, match=r"k must be in \[1, n\]"):
        dc.kforest_from_edges([[0, 1]], [1.0], 5, k)


@pytest.mark.parametrize("k", [2.0, "2", True, None])
def test_k_not_integer(k):
    with pytest.raises(TypeError, match="k must be an integer"):
        dc.kforest(np.zeros((5, 5)), k)


def test_numpy_integer_k_is_fine():
    assert dc.kforest(np.zeros((5, 5)), np.int32(2)).labels.max() == 1


def test_edges_errors():
    with pytest.raises(IndexError, match=r"edges\[1\] = \(1, 5\) is out of range for n = 5"):
        dc.kforest_from_edges([[0, 1], [1, 5]], [1.0, 2.0], 5, 4)
    with pytest.raises(IndexError, match="out of range"):
        dc.kforest_from_edges([[-1, 1]], [1.0], 5, 4)
    with pytest.raises(ValueError, match="edges must have shape"):
        dc.kforest_from_edges([[0, 1, 2]], [1.0], 5, 4)
    with pytest.raises(ValueError, match="weights must have shape"):
        dc.kforest_from_edges([[0, 1]], [1.0, 2.0], 5, 4)
    with pytest.raises(ValueError, match="weights contains NaN"):
        dc.kforest_from_edges([[0, 1]], [np.nan], 5, 4)
    with pytest.raises(TypeError, match="edges must hold integers"):
        dc.kforest_from_edges([[0.0, 1.0]], [1.0], 5, 4)
    with pytest.raises(ValueError, match="n must be at least 1"):
        dc.kforest_from_edges([[0, 1]], [1.0], 0, 1)
    # no edges at all: only k = n is possible
    assert dc.kforest_from_edges(np.zeros((0, 2), dtype=int), [], 3, 3).labels.tolist() == [0, 1, 2]


def test_points_errors():
    with pytest.raises(ValueError, match="X contains NaN"):
        dc.kforest_from_points([[0.0, np.nan], [1.0, 2.0]], 1)
    with pytest.raises(ValueError, match="metric must be one of"):
        dc.kforest_from_points([[0.0, 1.0], [1.0, 2.0]], 1, metric="hamming")
    with pytest.raises(ValueError, match="X must have 2 dimensions"):
        dc.kforest_from_points([0.0, 1.0], 1)


def test_inputs_are_not_modified(rng):
    S = rng.standard_normal((30, 30))
    S32 = S.astype(np.float32)
    X = rng.standard_normal((30, 3))
    copies = [S.copy(), S32.copy(), X.copy()]
    dc.kforest(S, 3)
    dc.kforest(S32, 3)
    dc.kforest(np.stack([S, S]), 3)
    dc.kforest_from_points(X, 3, metric="cosine")
    e = np.array([[1, 0], [2, 1]])
    w = np.array([1.0, 2.0])
    dc.kforest_from_edges(e, w, 3, 1)
    for a, b in zip([S, S32, X], copies):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(e, [[1, 0], [2, 1]])


def test_resolve_threads(monkeypatch):
    monkeypatch.delenv("DIFFCLUST_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert resolve_threads(None) == 3
    monkeypatch.setenv("DIFFCLUST_NUM_THREADS", "5")
    assert resolve_threads(None) == 5
    assert resolve_threads(2) == 2
    monkeypatch.setenv("DIFFCLUST_NUM_THREADS", "x")
    with pytest.raises(ValueError, match="DIFFCLUST_NUM_THREADS"):
        resolve_threads(None)
    with pytest.raises(ValueError, match="n_threads"):
        resolve_threads(-1)
    with pytest.raises(TypeError, match="n_threads"):
        resolve_threads(1.5)


def test_resolve_seed():
    assert resolve_seed(5) == 5
    a = resolve_seed(np.random.default_rng(1))
    assert a == resolve_seed(np.random.default_rng(1))
    with pytest.raises(TypeError, match="seed"):
        resolve_seed(1.5)
    with pytest.raises(ValueError, match="seed"):
        resolve_seed(-1)


def test_threadpoolctl_caps_default_threads(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    monkeypatch.setenv("DIFFCLUST_NUM_THREADS", "4")
    info = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "diffclust"]
    assert len(info) == 1 and info[0]["num_threads"] == 4
    with threadpoolctl.threadpool_limits(limits=1, user_api="diffclust"):
        assert resolve_threads(None) == 1
        assert resolve_threads(3) == 3  # an explicit count is honoured
        assert dc.kforest(np.zeros((5, 5)), 2).labels.max() == 1
    assert resolve_threads(None) == 4


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("n", [2, 37, 300])
def test_nonfinite_anywhere_off_diagonal(rng, bad, symmetric, n):
    # Finiteness is checked inside Prim's pass (symmetric input) or after the
    # symmetrisation: every off-diagonal position must be caught, with any
    # diagonal, for float64 and float32, serial and threaded.
    for dtype in (np.float64, np.float32):
        for i, j in [(0, 1), (n - 1, 0), (n // 2, n - 1)]:
            if i == j:
                continue  # the diagonal is ignored
            S = rng.standard_normal((n, n))
            S = (S + S.T) if symmetric else S
            np.fill_diagonal(S, np.inf)
            S = S.astype(dtype)
            S[i, j] = bad
            if symmetric:
                S[j, i] = bad
            for n_threads in (1, 3):
                with pytest.raises(ValueError, match="S contains NaN or inf"):
                    dc.kforest(S, 1, n_threads=n_threads)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("symmetric", [True, False])
def test_nonfinite_large_threaded(rng, bad, symmetric):
    # n >= 1024 with 2+ threads: the symmetry and finiteness check runs beside
    # a speculative Prim; every position class must still be caught.
    n = 1100
    base = rng.standard_normal((n, n))
    base = base + base.T if symmetric else base
    for i, j in [(0, 1), (n - 1, n - 2), (700, 3)]:
        S = base.copy()
        S[i, j] = bad
        if symmetric:
            S[j, i] = bad
        for n_threads in (1, 2, 3):
            with pytest.raises(ValueError, match="S contains NaN or inf"):
                dc.kforest(S, 2, n_threads=n_threads)
    T = base.copy()
    np.fill_diagonal(T, bad)  # the diagonal is ignored
    for n_threads in (1, 2):
        np.testing.assert_array_equal(
            dc.kforest(T, 3, n_threads=n_threads).edges, dc.kforest(base, 3, n_threads=1).edges
        )
