from __future__ import annotations

import numpy as np
import pytest
from conftest import THREAD_COUNTS
from scipy.spatial.distance import cdist
from sklearn.metrics import pairwise_distances as sk_pairwise

import diffclust as dc

METRICS = ("sqeuclidean", "euclidean", "manhattan", "cosine")
SCIPY_NAME = {"sqeuclidean": "sqeuclidean", "euclidean": "euclidean", "manhattan": "cityblock", "cosine": "cosine"}
# (n_x, n_y, d): single points and features, sizes that are not multiples of the
# 6 x 8 register tile or of the 48 x 256 cache block.
SHAPES = [(1, 1, 1), (1, 9, 3), (7, 13, 1), (97, 131, 17), (53, 300, 64)]


def reference(X, Y, metric):
    """cdist in float64 on the (float64 copy of the) input."""
    return cdist(np.asarray(X, np.float64), np.asarray(Y, np.float64), SCIPY_NAME[metric])


def tolerance(X, Y, metric):
    """Absolute error bound of a float64 result.

    manhattan and cosine are computed to a few ulps of their magnitude. The Gram
    trick behind sqeuclidean and euclidean loses absolute accuracy of order
    eps * (||x||^2 + ||y||^2) to cancellation, whatever the distance; for
    euclidean the square root turns that into eps * scale / distance, so the
    check is done on the squares.
    """
    X = np.asarray(X, np.float64)
    Y = np.asarray(Y, np.float64)
    if metric == "manhattan":
        return 1e-13 * max(1.0, np.abs(X).sum(1).max() + np.abs(Y).sum(1).max())
    if metric == "cosine":
        return 1e-13
    return 1e-13 * ((X * X).sum(1).max() + (Y * Y).sum(1).max())


def check_close(D, X, Y, metric):
    R = reference(X, Y, metric)
    atol = tolerance(X, Y, metric)
    single = D.dtype == np.float32
    if metric == "euclidean":
        D, R = np.asarray(D, np.float64) ** 2, R**2
    if single:
        # computed in float64, rounded once to float32: half an ulp on top
        np.testing.assert_allclose(D, R, rtol=2.0**-23 * (3 if metric == "euclidean" else 1), atol=atol)
    else:
        np.testing.assert_allclose(D, R, rtol=1e-13, atol=atol)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_cdist(rng, metric, dtype, shape):
    nx, ny, d = shape
    X = (rng.standard_normal((nx, d)) * 3 + 1).astype(dtype)
    Y = (rng.standard_normal((ny, d)) * 3 - 1).astype(dtype)
    D = dc.pairwise_distances(X, Y, metric=metric)
    assert D.dtype == dtype and D.shape == (nx, ny)
    check_close(D, X, Y, metric)
    if dtype == np.float64:  # scikit-learn uses the same Gram trick: same tolerance
        S = sk_pairwise(X, Y, metric=metric)
        atol = tolerance(X, Y, metric)
        if metric == "euclidean":
            np.testing.assert_allclose(D**2, S**2, rtol=1e-13, atol=atol)
        else:
            np.testing.assert_allclose(D, S, rtol=1e-13, atol=atol)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [9, 40])  # from d = 32 on, the upper triangle is computed and mirrored
def test_matches_sklearn_x_against_itself(rng, metric, dtype, d):
    X = rng.standard_normal((131, d)).astype(dtype)
    X[5] = 0.0  # a zero vector: cosine distance 1 to everything but itself
    D = dc.pairwise_distances(X, metric=metric)
    S = sk_pairwise(X.astype(np.float64), metric=metric)
    assert D.dtype == dtype
    np.testing.assert_array_equal(np.diagonal(D), 0.0)
    np.testing.assert_array_equal(D, D.T)  # every entry is the same sum in the same order
    atol = tolerance(X, X, metric)
    if metric == "euclidean":
        np.testing.assert_allclose(np.float64(D) ** 2, S**2, rtol=1e-6 if dtype == np.float32 else 1e-13, atol=atol)
    else:
        np.testing.assert_allclose(D, S, rtol=1e-6 if dtype == np.float32 else 1e-13, atol=atol)


def test_cosine_zero_vectors_like_sklearn():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])
    Y = np.array([[0.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(dc.pairwise_distances(X, Y, metric="cosine"), sk_pairwise(X, Y, metric="cosine"), atol=1e-15)
    np.testing.assert_allclose(dc.pairwise_distances(X, metric="cosine"), sk_pairwise(X, metric="cosine"), atol=1e-15)
    # opposite vectors are at the upper clip, 2
    assert dc.pairwise_distances(X, metric="cosine")[1, 3] == 2.0


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean"])
def test_gram_trick_never_negative(rng, metric):
    X = rng.standard_normal((40, 30)) * 1e3
    X[1] = X[0]  # identical points: the Gram trick cancels to about eps * 1e6, clamped at 0
    D = dc.pairwise_distances(X, X.copy(), metric=metric)
    assert (D >= 0).all()
    assert D[0, 1] <= (1e-9 * 1e6 if metric == "sqeuclidean" else 1e-3)


def test_aliases_and_dtypes(rng):
    X = rng.integers(-5, 5, size=(20, 3))
    D = dc.pairwise_distances(X, metric="cityblock")
    assert D.dtype == np.float64
    np.testing.assert_array_equal(D, cdist(X, X, "cityblock"))
    np.testing.assert_array_equal(dc.pairwise_distances(X, metric="l1"), D)
    Y32 = rng.standard_normal((4, 3)).astype(np.float32)
    assert dc.pairwise_distances(X, Y32).dtype == np.float64  # mixed dtypes: float64
    np.testing.assert_allclose(dc.pairwise_distances(X, metric="l2"), cdist(X, X), rtol=1e-13)


def test_default_metric_is_euclidean_like_sklearn(rng):
    X = rng.standard_normal((40, 5))
    Y = rng.standard_normal((30, 5))
    np.testing.assert_array_equal(dc.pairwise_distances(X, Y), dc.pairwise_distances(X, Y, metric="euclidean"))
    np.testing.assert_allclose(dc.pairwise_distances(X, Y), sk_pairwise(X, Y), rtol=1e-12)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [3, 33, 200])  # d >= 32: pairwise_distances(X) mirrors its upper triangle
def test_block_rows_match_full_matrix(rng, metric, dtype, d):
    """pairwise_distances(X[rows], X) equals the rows of pairwise_distances(X) bit for
    bit, diagonal included (no mask): a point's distance to itself is exactly 0."""
    X = (rng.standard_normal((230, d)) * rng.uniform(0.1, 10) + 0.5).astype(dtype)
    full = dc.pairwise_distances(X, metric=metric)
    assert (np.diagonal(full) == 0).all()
    np.testing.assert_array_equal(dc.pairwise_distances(X, X, metric=metric), full)
    blocks = [dc.pairwise_distances(X[i : i + 37], X, metric=metric) for i in range(0, 230, 37)]
    np.testing.assert_array_equal(np.vstack(blocks), full)
    rows = rng.permutation(230)[:61]  # any rows, in any order, with repeats
    rows = np.concatenate([rows, rows[:5]])
    np.testing.assert_array_equal(dc.pairwise_distances(X[rows], X, metric=metric), full[rows])
    np.testing.assert_array_equal(dc.pairwise_distances(X, X[rows], metric=metric), full[:, rows])


@pytest.mark.parametrize("metric", METRICS)
def test_identical_rows_are_at_distance_zero(rng, metric):
    # duplicates inside X and between X and Y: exactly 0 for every metric (cosine
    # included: its product is renormalised by the rows' own products near 1)
    X = rng.standard_normal((50, 17)) * 7
    X[10:20] = X[0]
    Y = np.vstack([X[:3], rng.standard_normal((4, 17))])
    D = dc.pairwise_distances(X, Y, metric=metric)
    dup = [0, *range(10, 20)]
    assert (D[dup, 0] == 0).all() and D[1, 1] == 0 and D[2, 2] == 0
    assert (dc.pairwise_distances(X, metric=metric)[np.ix_(dup, dup)] == 0).all()


def test_block_rows_zero_vector_cosine_like_sklearn():
    # the one documented exception: a zero vector is at cosine distance 1 from every
    # vector, itself included (scikit-learn), except on the diagonal of
    # pairwise_distances(X), which is 0 as scikit-learn sets it
    X = np.array([[0.0, 0.0], [1.0, 2.0], [3.0, -1.0]])
    full = dc.pairwise_distances(X, metric="cosine")
    block = dc.pairwise_distances(X[:1], X, metric="cosine")
    assert full[0, 0] == 0.0 and block[0, 0] == 1.0
    np.testing.assert_array_equal(block[0, 1:], full[0, 1:])
    np.testing.assert_array_equal(full, sk_pairwise(X, metric="cosine"))
    np.testing.assert_array_equal(block, sk_pairwise(X[:1], X, metric="cosine"))


@pytest.mark.parametrize("n_threads", THREAD_COUNTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_thread_count_invariance(rng, n_threads, dtype):
    X = rng.standard_normal((301, 19)).astype(dtype)
    Y = rng.standard_normal((257, 19)).astype(dtype)
    Z = rng.standard_normal((333, 35)).astype(dtype)
    for metric in METRICS:
        for args in [(X,), (X, Y), (Z,)]:
            ref = dc.pairwise_distances(*args, metric=metric, n_threads=1)
            np.testing.assert_array_equal(dc.pairwise_distances(*args, metric=metric, n_threads=n_threads), ref)


def test_inputs_unchanged_and_layouts(rng):
    X = rng.standard_normal((50, 7))
    Y = np.asfortranarray(rng.standard_normal((30, 7)))
    X0, Y0 = X.copy(), Y.copy()
    D = dc.pairwise_distances(X, Y, metric="euclidean")
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)
    np.testing.assert_allclose(D, cdist(X, Y), rtol=1e-12)
    np.testing.assert_array_equal(dc.pairwise_distances(X[::2], Y, metric="manhattan"), cdist(X[::2], Y, "cityblock"))


def test_errors(rng):
    X = rng.standard_normal((5, 3))
    bad = X.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        dc.pairwise_distances(bad)
    bad[2, 1] = np.inf
    with pytest.raises(ValueError, match="Y contains NaN or infinity"):
        dc.pairwise_distances(X, bad)
    with pytest.raises(ValueError, match="X must have 2 dimensions"):
        dc.pairwise_distances(X[0])
    with pytest.raises(ValueError, match="Y must have 2 dimensions"):
        dc.pairwise_distances(X, X[None])
    with pytest.raises(ValueError, match="same number of features"):
        dc.pairwise_distances(X, X[:, :2])
    with pytest.raises(ValueError, match="metric must be one of"):
        dc.pairwise_distances(X, metric="chebyshev")
    with pytest.raises(ValueError, match="metric must be one of"):
        dc.pairwise_distances(X, metric="precomputed")
    with pytest.raises(TypeError, match="metric must be a string"):
        dc.pairwise_distances(X, metric=None)
    with pytest.raises(TypeError, match="X must hold real numbers"):
        dc.pairwise_distances(X.astype(complex))
    with pytest.raises(ValueError, match="X is empty"):
        dc.pairwise_distances(np.zeros((0, 3)))
    with pytest.raises(TypeError, match="n_threads"):
        dc.pairwise_distances(X, n_threads=1.5)


def test_output_too_large_is_refused_before_allocating():
    X = np.zeros((2_000_000, 1), dtype=np.float32)
    with pytest.raises(MemoryError, match="physical memory"):
        dc.pairwise_distances(X)
    with pytest.raises(ValueError, match="physical memory"):
        dc.pairwise_distances(X, X)


try:
    from hypothesis import given
    from hypothesis import strategies as st
except ImportError:  # hypothesis is in the test extra
    given = None

if given is not None:

    @given(
        nx=st.integers(1, 60),
        ny=st.integers(1, 60),
        d=st.integers(1, 40),
        metric=st.sampled_from(METRICS),
        same=st.booleans(),
        seed=st.integers(0, 2**32 - 1),
    )
    def test_property_matches_cdist(nx, ny, d, metric, same, seed):
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((nx, d)) * rng.uniform(0.1, 10)
        Y = None if same else rng.standard_normal((ny, d))
        D = dc.pairwise_distances(X, Y, metric=metric, n_threads=2)
        check_close(D, X, X if same else Y, metric)
        if same:
            np.testing.assert_array_equal(np.diagonal(D), 0.0)
            np.testing.assert_array_equal(D, D.T)
