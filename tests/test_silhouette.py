from __future__ import annotations

import numpy as np
import pytest
from conftest import THREAD_COUNTS
from sklearn.metrics import pairwise_distances as sk_pairwise
from sklearn.metrics import silhouette_samples as sk_samples
from sklearn.metrics import silhouette_score as sk_score

import diffclust as dc

METRICS = ("euclidean", "sqeuclidean", "manhattan", "cosine")


def make_labels(rng, n):
    """Integer labels of arbitrary values, unsorted, with one singleton cluster."""
    values = np.array([5, -3, 17, 0, 2])
    labels = values[rng.integers(0, 4, size=n)]
    labels[n // 3] = 2  # the only point of its cluster: silhouette 0
    return labels


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("n", [5, 61, 1700])  # 1700: three blocks of 768 positions, the last partial
def test_matches_sklearn(rng, metric, n):
    X = rng.standard_normal((n, 6)) + 0.5
    labels = make_labels(rng, n)
    s = dc.silhouette_samples(X, labels, metric=metric)
    ref = sk_samples(X, labels, metric=metric)
    assert s.dtype == np.float64 and s.shape == (n,)
    assert s[n // 3] == 0.0
    np.testing.assert_allclose(s, ref, rtol=1e-11, atol=1e-12)
    assert dc.silhouette_score(X, labels, metric=metric) == pytest.approx(sk_score(X, labels, metric=metric), rel=1e-11, abs=1e-12)


@pytest.mark.parametrize("metric", METRICS)
def test_float32_is_computed_in_float64(rng, metric):
    X = rng.standard_normal((300, 5)).astype(np.float32)
    labels = make_labels(rng, 300)
    ref = sk_samples(X.astype(np.float64), labels, metric=metric)
    s = dc.silhouette_samples(X, labels, metric=metric)
    assert s.dtype == np.float32  # float32 in, float32 out: computed in float64, rounded once
    np.testing.assert_allclose(s, ref, rtol=2.0**-23, atol=2.0**-24)
    assert abs(dc.silhouette_score(X, labels, metric=metric) - ref.mean()) < 1e-12


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_precomputed_matches_sklearn(rng, dtype):
    X = rng.standard_normal((200, 4))
    labels = make_labels(rng, 200)
    D = sk_pairwise(X, metric="manhattan").astype(dtype)
    s = dc.silhouette_samples(D, labels, metric="precomputed")
    assert s.dtype == dtype
    single = dtype == np.float32
    ref = sk_samples(D.astype(np.float64), labels, metric="precomputed")
    np.testing.assert_allclose(s, ref, rtol=2.0**-23 if single else 1e-12, atol=2.0**-24 if single else 1e-13)
    # and the precomputed path agrees with the path from points
    np.testing.assert_allclose(dc.silhouette_samples(X, labels, metric="manhattan"), s, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


def test_identical_points_score_zero():
    X = np.zeros((6, 2))
    labels = [0, 0, 0, 1, 1, 1]
    np.testing.assert_array_equal(dc.silhouette_samples(X, labels), sk_samples(X, labels))


@pytest.mark.parametrize("n_threads", THREAD_COUNTS)
def test_thread_count_invariance(rng, n_threads):
    X = rng.standard_normal((1600, 7))  # three blocks of positions
    labels = rng.integers(0, 6, size=1600)
    D = dc.pairwise_distances(X, metric="euclidean")
    for metric in METRICS:
        ref = dc.silhouette_samples(X, labels, metric=metric, n_threads=1)
        np.testing.assert_array_equal(dc.silhouette_samples(X, labels, metric=metric, n_threads=n_threads), ref)
    ref = dc.silhouette_samples(D, labels, metric="precomputed", n_threads=1)
    np.testing.assert_array_equal(dc.silhouette_samples(D, labels, metric="precomputed", n_threads=n_threads), ref)


def test_inputs_unchanged(rng):
    X = rng.standard_normal((80, 3))
    labels = rng.integers(0, 3, size=80).astype(np.int32)
    X0, l0 = X.copy(), labels.copy()
    dc.silhouette_samples(X, labels, metric="cosine")
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(labels, l0)


def test_errors(rng):
    X = rng.standard_normal((10, 3))
    labels = np.arange(10) % 3
    with pytest.raises(ValueError, match=r"number of distinct labels is 1.*\[2, 9\]"):
        dc.silhouette_samples(X, np.zeros(10, dtype=int))
    with pytest.raises(ValueError, match=r"number of distinct labels is 10"):
        dc.silhouette_score(X, np.arange(10))
    with pytest.raises(ValueError, match=r"labels must have length n = 10"):
        dc.silhouette_samples(X, labels[:9])
    with pytest.raises(TypeError, match="labels must hold integers"):
        dc.silhouette_samples(X, labels + 0.5)
    bad = X.copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        dc.silhouette_samples(bad, labels)
    with pytest.raises(ValueError, match="metric must be one of"):
        dc.silhouette_samples(X, labels, metric="hamming")
    with pytest.raises(ValueError, match="X must have 2 dimensions"):
        dc.silhouette_samples(X[0], labels)
    D = sk_pairwise(X)
    with pytest.raises(ValueError, match="square"):
        dc.silhouette_samples(D[:, :5], labels, metric="precomputed")
    Dd = D + np.eye(10)
    with pytest.raises(ValueError, match="fill_diagonal"):
        dc.silhouette_samples(Dd, labels, metric="precomputed")
    Dn = D.copy()
    Dn[2, 3] = -1.0
    with pytest.raises(ValueError, match=r"negative entries; X\[2, 3\]"):
        dc.silhouette_samples(Dn, labels, metric="precomputed")
    Dn[2, 3] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        dc.silhouette_samples(Dn, labels, metric="precomputed")


try:
    from hypothesis import given
    from hypothesis import strategies as st
except ImportError:  # hypothesis is in the test extra
    given = None

if given is not None:

    @given(
        n=st.integers(3, 80),
        d=st.integers(1, 6),
        k=st.integers(2, 6),
        metric=st.sampled_from(METRICS),
        seed=st.integers(0, 2**32 - 1),
    )
    def test_property_matches_sklearn(n, d, k, metric, seed):
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((n, d))
        labels = rng.integers(-k, k, size=n) * 7
        if not 2 <= np.unique(labels).size <= n - 1:
            labels = np.arange(n) % 2
        np.testing.assert_allclose(
            dc.silhouette_samples(X, labels, metric=metric), sk_samples(X, labels, metric=metric), rtol=1e-10, atol=1e-12
        )
