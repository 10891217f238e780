from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import THREAD_COUNTS
from sklearn import metrics as skm

import diffclust as dc

PAIR_METRICS = ["adjusted_rand_score", "mutual_info_score", "normalized_mutual_info_score"]
AVERAGE_METHODS = ["min", "geometric", "arithmetic", "max"]


def assert_matches_sklearn(a: np.ndarray, b: np.ndarray) -> None:
    # ARI: exact integer pair counts, each rounded once -> bit-identical
    assert dc.adjusted_rand_score(a, b) == skm.adjusted_rand_score(a, b)
    np.testing.assert_allclose(
        dc.mutual_info_score(a, b), skm.mutual_info_score(a, b), rtol=1e-13, atol=1e-15
    )
    for m in AVERAGE_METHODS:
        np.testing.assert_allclose(
            dc.normalized_mutual_info_score(a, b, average_method=m),
            skm.normalized_mutual_info_score(a, b, average_method=m),
            rtol=1e-13,
            atol=1e-15,
        )


@pytest.mark.parametrize("n", [1, 2, 7, 100, 5000])
@pytest.mark.parametrize("classes", [(2, 3), (10, 10), (50, 7), (400, 1000)])
def test_random_labelings_match_sklearn(rng, n, classes):
    a = rng.integers(0, classes[0], n)
    b = rng.integers(0, classes[1], n)
    assert_matches_sklearn(a, b)
    # correlated: half the predictions copy the truth
    b[: n // 2] = a[: n // 2]
    assert_matches_sklearn(a, b)


def test_arbitrary_integer_values_match_sklearn(rng):
    n = 3000
    # widely spread values (radix-sort path), negatives, and int32/uint8 dtypes
    a = rng.integers(-(2**62), 2**62, 40)[rng.integers(0, 40, n)]
    b = rng.integers(-5, 5, n).astype(np.int32) * 1000
    assert_matches_sklearn(a, b)
    assert_matches_sklearn(b, a)
    c = rng.integers(0, 256, n).astype(np.uint8)
    assert_matches_sklearn(c, a)
    extreme = np.array(
        [np.iinfo(np.int64).min, np.iinfo(np.int64).max, 0, 0, np.iinfo(np.int64).max]
    )
    assert_matches_sklearn(extreme, np.array([1, 2, 3, 3, 2]))


def test_many_classes_and_clusters(rng):
    # 3000 x 3000 cells, a handful of samples per class: rows counted through sorted touched lists
    n = 20000
    a = rng.integers(0, 3000, n)
    b = (a + rng.integers(0, 3, n)) % 3000
    assert_matches_sklearn(a, b)


def test_float_labels_and_bool_rejected(rng):
    a = rng.integers(0, 4, 50)
    b = rng.integers(0, 3, 50)
    assert dc.adjusted_rand_score(a.astype(float), b) == dc.adjusted_rand_score(a, b)
    assert dc.adjusted_rand_score(list(a), tuple(b)) == dc.adjusted_rand_score(a, b)
    # the one label rule: integers or whole-number floats; bool is not a label dtype
    with pytest.raises(TypeError, match="labels_pred must hold integers"):
        dc.adjusted_rand_score(a, b.astype(bool))


DEGENERATE = {
    "one sample": ([3], [5]),
    "both single cluster": ([1, 1, 1], [2, 2, 2]),
    "true single cluster": ([1, 1, 1, 1], [0, 1, 2, 2]),
    "pred single cluster": ([0, 1, 2, 2], [7, 7, 7, 7]),
    "all singletons": ([0, 1, 2, 3], [4, 5, 6, 7]),
    "identical up to renaming": ([0, 0, 1, 1, 2], [5, 5, 3, 3, 9]),
    "independent": ([0, 0, 1, 1], [0, 1, 0, 1]),
    "singletons vs one cluster": ([0, 1, 2, 3], [0, 0, 0, 0]),
}


@pytest.mark.parametrize("case", list(DEGENERATE))
def test_degenerate_cases_follow_sklearn(case):
    a, b = (np.array(x) for x in DEGENERATE[case])
    for name in PAIR_METRICS:
        assert getattr(dc, name)(a, b) == getattr(skm, name)(a, b), name


def test_empty_labelings():
    e = np.array([], dtype=np.int64)
    assert dc.adjusted_rand_score(e, e) == skm.adjusted_rand_score(e, e) == 1.0
    assert dc.normalized_mutual_info_score(e, e) == skm.normalized_mutual_info_score(e, e) == 1.0
    # scikit-learn 1.9 fails here with "math domain error"; no shared information is 0
    assert dc.mutual_info_score(e, e) == 0.0


@pytest.mark.parametrize("n_threads", THREAD_COUNTS)
def test_thread_count_invariance(rng, n_threads):
    n = 300_000  # large enough to run several chunks and threads
    a = rng.integers(0, 30, n)
    b = rng.integers(-(2**40), 2**40, 500)[rng.integers(0, 500, n)]
    for name in PAIR_METRICS:
        f = getattr(dc, name)
        assert f(a, b, n_threads=n_threads) == f(a, b, n_threads=1)
    X = rng.standard_normal((50_000, 3))
    lab = rng.integers(0, 9, X.shape[0])
    assert dc.davies_bouldin_score(X, lab, n_threads=n_threads) == dc.davies_bouldin_score(
        X, lab, n_threads=1
    )


def test_concurrent_python_threads(rng):
    # the GIL is released in the kernels and they share no state
    a = rng.integers(0, 50, 200_000)
    b = rng.integers(0, 70, 200_000)
    expected = dc.adjusted_rand_score(a, b), dc.normalized_mutual_info_score(a, b)
    results = []

    def work():
        results.append(
            (dc.adjusted_rand_score(a, b, n_threads=2), dc.normalized_mutual_info_score(a, b))
        )

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 4


def test_n_threads_is_checked():
    with pytest.raises(ValueError, match="n_threads"):
        dc.adjusted_rand_score([0, 1], [0, 1], n_threads=-1)
    with pytest.raises(TypeError, match="n_threads"):
        dc.mutual_info_score([0, 1], [0, 1], n_threads=1.5)


def test_inputs_unchanged(rng):
    a = rng.integers(-3, 3, 1000)
    b = rng.integers(0, 1000, 1000)
    X = rng.standard_normal((1000, 4))
    copies = [a.copy(), b.copy(), X.copy()]
    for name in PAIR_METRICS:
        getattr(dc, name)(a, b)
    dc.davies_bouldin_score(X, a)
    for before, after in zip(copies, [a, b, X]):
        np.testing.assert_array_equal(before, after)


def test_label_errors():
    a = np.array([0, 1, 1])
    for name in PAIR_METRICS:
        f = getattr(dc, name)
        with pytest.raises(ValueError, match="same length"):
            f(a, [0, 1])
        with pytest.raises(ValueError, match="labels_true must be 1-dimensional"):
            f(a[None], a)
        with pytest.raises(ValueError, match="labels_pred must be 1-dimensional"):
            f(a, 1)
        with pytest.raises(TypeError, match="labels_pred must hold integers"):
            f(a, ["x", "y", "z"])
        with pytest.raises(TypeError, match="labels_true must hold integers"):
            f([0.5, 1.0, 2.0], a)
        with pytest.raises(ValueError, match="labels_true contains NaN"):
            f([np.nan, 1.0, 2.0], a)
    with pytest.raises(ValueError, match="average_method"):
        dc.normalized_mutual_info_score(a, a, average_method="mean")


# --------------------------------------------------------------------------- Davies-Bouldin


@pytest.mark.parametrize("n, d, k", [(10, 2, 3), (500, 5, 7), (3000, 16, 40)])
def test_davies_bouldin_matches_sklearn(rng, n, d, k):
    labels = rng.integers(0, k, n)
    labels[:k] = np.arange(k)  # every cluster non-empty
    X = rng.standard_normal((n, d)) + 3 * rng.standard_normal((k, d))[labels]
    expected = skm.davies_bouldin_score(X, labels)
    np.testing.assert_allclose(dc.davies_bouldin_score(X, labels), expected, rtol=1e-12)
    # arbitrary label values, float32 input
    np.testing.assert_allclose(
        dc.davies_bouldin_score(X, labels * 7919 - 10**12), expected, rtol=1e-12
    )
    X32 = X.astype(np.float32)
    np.testing.assert_allclose(
        dc.davies_bouldin_score(X32, labels), skm.davies_bouldin_score(X32, labels), rtol=1e-5
    )


def test_davies_bouldin_degenerate_cases_follow_sklearn(rng):
    # every point on its centroid: all intra-cluster distances are 0
    X = np.repeat(rng.standard_normal((3, 2)), 4, axis=0)
    labels = np.repeat(np.arange(3), 4)
    assert dc.davies_bouldin_score(X, labels) == skm.davies_bouldin_score(X, labels) == 0.0
    # all centroids coincide
    X = np.array([[1.0, 0], [-1, 0], [0, 1], [0, -1], [2, 0], [-2, 0]])
    labels = np.array([0, 0, 1, 1, 2, 2])
    assert dc.davies_bouldin_score(X, labels) == skm.davies_bouldin_score(X, labels) == 0.0
    # two of three centroids coincide: that pair is skipped
    X = np.array([[1.0, 0], [-1, 0], [0, 1], [0, -1], [5, 5], [6, 6]])
    np.testing.assert_allclose(
        dc.davies_bouldin_score(X, labels), skm.davies_bouldin_score(X, labels), rtol=1e-12
    )


def test_davies_bouldin_errors(rng):
    X = rng.standard_normal((6, 2))
    with pytest.raises(ValueError, match="labels has 1 distinct values"):
        dc.davies_bouldin_score(X, np.zeros(6, int))
    with pytest.raises(ValueError, match="labels has 6 distinct values"):
        dc.davies_bouldin_score(X, np.arange(6))
    with pytest.raises(ValueError, match="labels must have length n = 6"):
        dc.davies_bouldin_score(X, [0, 1, 0])
    with pytest.raises(ValueError, match="X contains NaN"):
        dc.davies_bouldin_score(np.where(X > 1, np.nan, X), [0, 1, 0, 1, 0, 1])
    with pytest.raises(ValueError, match="X must have 2 dimensions"):
        dc.davies_bouldin_score(X[0], [0, 1])
    with pytest.raises(TypeError, match="X must hold real numbers"):
        dc.davies_bouldin_score(X.astype(complex), [0, 1, 0, 1, 0, 1])


# --------------------------------------------------------------------------- properties

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given
from hypothesis import strategies as st


@st.composite
def labelings(draw):
    n = draw(st.integers(1, 60))
    values = st.integers(-(2**63), 2**63 - 1) if draw(st.booleans()) else st.integers(0, 5)
    a = np.array(draw(st.lists(values, min_size=n, max_size=n)), dtype=np.int64)
    b = np.array(draw(st.lists(st.integers(-3, 3), min_size=n, max_size=n)), dtype=np.int64)
    return a, b


@given(labelings(), st.randoms(use_true_random=False))
def test_invariant_to_renaming_labels(pair, random):
    a, b = pair
    values = np.unique(a)
    renamed = list(range(-len(values), 0))
    random.shuffle(renamed)
    a2 = np.array(renamed, dtype=np.int64)[np.searchsorted(values, a)]
    assert dc.adjusted_rand_score(a2, b) == dc.adjusted_rand_score(a, b)
    np.testing.assert_allclose(
        dc.mutual_info_score(a2, b), dc.mutual_info_score(a, b), rtol=1e-12, atol=1e-15
    )
    np.testing.assert_allclose(
        dc.normalized_mutual_info_score(a2, b),
        dc.normalized_mutual_info_score(a, b),
        rtol=1e-12,
        atol=1e-15,
    )


@given(labelings())
def test_symmetric_and_bounded(pair):
    a, b = pair
    ari = dc.adjusted_rand_score(a, b)
    assert ari == dc.adjusted_rand_score(b, a)
    assert -0.5 - 1e-12 <= ari <= 1.0
    nmi = dc.normalized_mutual_info_score(a, b)
    np.testing.assert_allclose(nmi, dc.normalized_mutual_info_score(b, a), rtol=1e-12, atol=1e-15)
    assert 0.0 <= nmi <= 1.0 + 1e-12
    np.testing.assert_allclose(
        dc.mutual_info_score(a, b), dc.mutual_info_score(b, a), rtol=1e-12, atol=1e-15
    )
    assert dc.adjusted_rand_score(a, a) == 1.0


@given(labelings())
def test_matches_sklearn_property(pair):
    a, b = pair
    assert_matches_sklearn(a, b)
