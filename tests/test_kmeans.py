"""k-means, k-means++ and mini-batch k-means (diffclust.centroids) against
scikit-learn, NumPy formulas and brute force."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import THREAD_COUNTS

import diffclust as dc
from diffclust import _core
from diffclust._ops import kmeans as _ops_kmeans

sklearn_cluster = pytest.importorskip("sklearn.cluster")


def blobs(rng: np.random.Generator, n: int, d: int, centres: int, spread: float = 8.0) -> np.ndarray:
    C = spread * rng.standard_normal((centres, d))
    return C[rng.integers(0, centres, n)] + rng.standard_normal((n, d))


def brute_labels(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    D = ((X[:, None, :].astype(np.float64) - C[None, :, :].astype(np.float64)) ** 2).sum(axis=2)
    return np.argmin(D, axis=1)  # first index on ties


def inertia_of(X: np.ndarray, C: np.ndarray, labels: np.ndarray, w: np.ndarray | None = None) -> float:
    D = ((X.astype(np.float64) - C[labels].astype(np.float64)) ** 2).sum(axis=1)
    return float(D.sum() if w is None else (w * D).sum())


# --------------------------------------------------------------------------- against scikit-learn


@pytest.mark.parametrize(("n", "d", "k"), [(500, 2, 3), (3000, 5, 8), (6000, 16, 20), (8000, 6, 40), (400, 3, 1)])
def test_same_init_as_sklearn(rng: np.random.Generator, n: int, d: int, k: int) -> None:
    X = blobs(rng, n, d, max(k, 2))
    C0 = X[rng.choice(n, k, replace=False)]
    sk = sklearn_cluster.KMeans(n_clusters=k, init=C0, n_init=1, algorithm="lloyd").fit(X)
    r = dc.kmeans(X, k, init=C0)
    np.testing.assert_array_equal(r.labels, sk.labels_)
    np.testing.assert_allclose(r.centers, sk.cluster_centers_, rtol=1e-9, atol=1e-9)
    assert r.inertia == pytest.approx(sk.inertia_, rel=1e-9)
    assert r.n_iter == sk.n_iter_
    assert r.labels.dtype == np.intp and r.centers.dtype == np.float64


def test_same_init_as_sklearn_not_converged(rng: np.random.Generator) -> None:
    # max_iter reached: both reassign once at the end, so labels match the centres
    X = blobs(rng, 2000, 4, 6, spread=2.0)
    C0 = X[:6]
    sk = sklearn_cluster.KMeans(n_clusters=6, init=C0, n_init=1, algorithm="lloyd", max_iter=3).fit(X)
    r = dc.kmeans(X, 6, init=C0, max_iter=3)
    np.testing.assert_array_equal(r.labels, sk.labels_)
    np.testing.assert_allclose(r.centers, sk.cluster_centers_, rtol=1e-9, atol=1e-9)
    assert r.n_iter == sk.n_iter_ == 3
    np.testing.assert_array_equal(r.labels, brute_labels(X, r.centers))


def test_bounds_keep_exact_labels(rng: np.random.Generator) -> None:
    # k >= 24 runs Hamerly's bounds; on a grid with many equidistant points the labels
    # must still be the exact nearest centres (ties: smallest index), iteration after
    # iteration: a NumPy Lloyd with brute-force labels is the reference. (scikit-learn's
    # Gram-trick argmin breaks such exact ties differently.)
    X = rng.integers(0, 12, (4000, 2)).astype(np.float64)
    grid = np.unique(X, axis=0)
    C0 = grid[rng.choice(len(grid), 30, replace=False)]
    r = dc.kmeans(X, 30, init=C0, tol=0)
    np.testing.assert_array_equal(r.labels, brute_labels(X, r.centers))
    C, labels, n_iter = C0.copy(), np.full(len(X), -1), 0
    for step in range(1, 301):
        n_iter = step
        new = brute_labels(X, C)
        counts = np.bincount(new, minlength=30)
        assert counts.min() > 0  # no empty cluster on this data (the reference does not relocate)
        C = np.stack([X[new == j].mean(0) for j in range(30)])
        if (new == labels).all():
            break
        labels = new
    np.testing.assert_array_equal(r.labels, labels)
    np.testing.assert_allclose(r.centers, C, rtol=1e-12, atol=1e-12)
    assert r.n_iter == n_iter


def test_sample_weight_as_sklearn(rng: np.random.Generator) -> None:
    X = blobs(rng, 1500, 3, 5)
    w = rng.uniform(0.1, 3.0, 1500)
    C0 = X[rng.choice(1500, 5, replace=False)]
    sk = sklearn_cluster.KMeans(n_clusters=5, init=C0, n_init=1, algorithm="lloyd").fit(X, sample_weight=w)
    r = dc.kmeans(X, 5, init=C0, sample_weight=w)
    np.testing.assert_array_equal(r.labels, sk.labels_)
    np.testing.assert_allclose(r.centers, sk.cluster_centers_, rtol=1e-9, atol=1e-9)
    assert r.inertia == pytest.approx(sk.inertia_, rel=1e-9)
    assert r.inertia == pytest.approx(inertia_of(X, r.centers, r.labels, w), rel=1e-12)


def test_integer_weights_equal_repeated_rows(rng: np.random.Generator) -> None:
    X = blobs(rng, 300, 2, 4)
    w = rng.integers(1, 4, 300)
    C0 = X[:4]
    a = dc.kmeans(X, 4, init=C0, sample_weight=w, tol=0)
    b = dc.kmeans(np.repeat(X, w, axis=0), 4, init=C0, tol=0)
    np.testing.assert_array_equal(np.repeat(a.labels, w), b.labels)
    np.testing.assert_allclose(a.centers, b.centers, rtol=1e-12)
    assert a.inertia == pytest.approx(b.inertia, rel=1e-12)


def test_float32_as_sklearn(rng: np.random.Generator) -> None:
    X = blobs(rng, 4000, 8, 6).astype(np.float32)
    C0 = X[rng.choice(4000, 6, replace=False)]
    sk = sklearn_cluster.KMeans(n_clusters=6, init=C0, n_init=1, algorithm="lloyd").fit(X)
    r = dc.kmeans(X, 6, init=C0)
    assert r.centers.dtype == np.float32
    np.testing.assert_array_equal(r.labels, sk.labels_)
    np.testing.assert_allclose(r.centers, sk.cluster_centers_, rtol=1e-5, atol=1e-5)
    assert r.inertia == pytest.approx(sk.inertia_, rel=1e-5)
    # the labels are the exact nearest float32 centres
    np.testing.assert_array_equal(r.labels, brute_labels(X, r.centers))
    assert r.inertia == pytest.approx(inertia_of(X, r.centers, r.labels), rel=1e-12)


def test_kmeans_plusplus_potential_like_sklearn(rng: np.random.Generator) -> None:
    # different random streams, the same distribution: compare mean potentials over seeds
    X = blobs(rng, 1000, 3, 12, spread=4.0)
    ours, theirs = [], []
    for s in range(40):
        C, idx = dc.kmeans_plusplus(X, 12, seed=s)
        np.testing.assert_array_equal(C, X[idx])
        ours.append(inertia_of(X, C, brute_labels(X, C)))
        Cs, _ = sklearn_cluster.kmeans_plusplus(X, 12, random_state=s)
        theirs.append(inertia_of(X, Cs, brute_labels(X, Cs)))
    a, b = np.array(ours), np.array(theirs)
    se = np.sqrt(a.var() / a.size + b.var() / b.size)
    assert abs(a.mean() - b.mean()) < 4 * se + 1e-9


# --------------------------------------------------------------------------- kernels
# On a CPU with AVX-512, or with AVX2 and FMA, a float32 tier proposes the labels
# and hands the points within its margin to a float64 tier, then to the direct
# computation; elsewhere (or with _testing.kmeans_portable_kernels(True)) the
# portable kernels run; _testing.kmeans_avx2_kernels(True) runs the AVX2 tiers on a
# CPU that has AVX-512 too. The labels are the exact nearest centres either way.
# (On a CPU without AVX-512, "avx2" runs the same kernels as "native".)
KERNELS = ("native", "avx2", "portable")


@pytest.fixture
def kernels():  # type: ignore[no-untyped-def]
    """Switches the body's calls to the kernels named (one of KERNELS), whatever the CPU."""
    from diffclust._core import _testing

    def switch(mode: str) -> None:
        assert mode in KERNELS
        _testing.kmeans_portable_kernels(mode == "portable")
        _testing.kmeans_avx2_kernels(mode == "avx2")

    yield switch
    switch("native")


# Powers of two keep the scaled integer grid's squared distances exact in double,
# so brute force has the exact ties too; 2^-460 vanishes in float32, 2^-140 is in
# its subnormal range, 2^60 is past the float tier's limit of 2^50 per coordinate.
SCALES = [2.0**-460, 2.0**-140, 2.0**-60, 1.0, 2.0**60, 2.0**460]


@pytest.mark.parametrize("scale", SCALES, ids=lambda v: f"2^{int(np.log2(v))}")
@pytest.mark.parametrize(("d", "k"), [(1, 3), (3, 13), (16, 40)])
def test_exact_labels_at_every_scale(rng: np.random.Generator, scale: float, d: int, k: int, kernels) -> None:
    grid = rng.integers(-6, 7, (3000, d)).astype(np.float64)
    X = scale * (grid + rng.integers(0, 2, (3000, 1)) * rng.standard_normal((3000, d)))  # half on the grid
    C = scale * grid[rng.choice(3000, k, replace=False)]
    for mode in KERNELS:
        kernels(mode)
        labels, dist, inertia = _ops_kmeans.kmeans_assign(X, C, None, 1)
        np.testing.assert_array_equal(labels, brute_labels(X, C))
        # the distances summed in increasing feature order (cumsum: sequential)
        exact = np.cumsum((X - C[labels]) ** 2, axis=1)[:, -1]
        np.testing.assert_array_equal(dist, exact)
        # the inertia: row order within chunks of 2048 rows, then the chunks in order
        chunk_sums = [np.cumsum(exact[c : c + 2048])[-1] for c in range(0, len(exact), 2048)]
        assert inertia == np.cumsum(chunk_sums)[-1]
    runs = []
    for mode in KERNELS:
        kernels(mode)
        runs.append(dc.kmeans(X, k, init=C, tol=0, max_iter=20))
        np.testing.assert_array_equal(runs[-1].labels, brute_labels(X, runs[-1].centers))
    for run in runs[1:]:
        assert runs[0].centers.tobytes() == run.centers.tobytes() and runs[0].inertia == run.inertia


def test_points_past_the_float_tier(rng: np.random.Generator, kernels) -> None:
    # a few points far out (2^55: their squared norm is past the float tier's 2^100)
    # among ordinary ones, against ordinary centres: they go to the double tier
    X = rng.standard_normal((5000, 6))
    X[rng.choice(5000, 40, replace=False)] *= 2.0**55
    C = rng.standard_normal((30, 6))
    for mode in KERNELS:
        kernels(mode)
        labels, _, _ = _ops_kmeans.kmeans_assign(X, C, None, 1)
        np.testing.assert_array_equal(labels, brute_labels(X, C))


@pytest.mark.parametrize("mode", KERNELS)
@pytest.mark.parametrize("weighted", [False, True])
def test_plusplus_potential_is_brute_force(rng: np.random.Generator, mode: str, weighted: bool, kernels) -> None:
    # The potential returned is sum_i w_i min_j ||x_i - c_j||^2 over the centres
    # returned (each step's chosen centre lowers D_i in the next step's pass, not
    # in a pass of its own, and the last one only in the potential), and every
    # centre lowers it: the potential after j centres, brute force, decreases.
    X = blobs(rng, 5003, 7, 30, spread=3.0)
    X[rng.choice(5003, 50, replace=False)] = X[:50]  # duplicates: distance exactly 0
    w = rng.uniform(0.0, 2.0, 5003) if weighted else None
    kernels(mode)
    idx, pot = _core.kmeans_plusplus_f64(X, w, 20, 3, 11, 1)
    D = ((X[:, None, :] - X[idx][None, :, :]) ** 2).sum(-1)
    ww = np.ones(5003) if w is None else w
    assert pot == pytest.approx(float(ww @ D.min(axis=1)), rel=1e-12)
    prefix = [float(ww @ np.minimum.accumulate(D, axis=1)[:, j]) for j in range(20)]
    assert all(b < a for a, b in zip(prefix, prefix[1:]))


@pytest.mark.parametrize("trials", [1, 4, 8, 11])
@pytest.mark.parametrize("d", [1, 5, 16, 33])
def test_portable_kernels_same_plusplus(rng: np.random.Generator, trials: int, d: int, kernels) -> None:
    # k-means++'s AVX-512 dot products (16 points, 8 candidates a call) are the
    # portable tile's sums, so the same centres and potential to the last bit
    # (3001 rows: a last panel of 9 rows; 11 trials: two groups of candidates)
    X = blobs(rng, 3001, d, 9, spread=2.0)
    X[rng.choice(3001, 40, replace=False)] = X[:40]  # duplicates of other points: distance 0
    w = rng.uniform(0.5, 2.0, 3001)
    runs = []
    for mode in KERNELS:
        kernels(mode)
        runs.append(_core.kmeans_plusplus_f64(X, w, 15, trials, 7, 1))  # (indices, potential)
    a = runs[0]
    for b in runs[1:]:
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1] == b[1]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    ("d", "k"), [(1, 1), (2, 2), (5, 7), (16, 10), (3, 12), (9, 5), (33, 13), (7, 25), (16, 100), (44, 20)]
)
def test_portable_kernels_same_fit(rng: np.random.Generator, dtype: type, d: int, k: int, kernels) -> None:
    # every kernel (tier) gives the same labels, so the same fit to the last bit
    # (4003 rows: a last block of 3 rows; d = 9, 33, 44: feature tails of 1, 1, 4)
    X = blobs(rng, 4003, d, max(k, 2), spread=3.0).astype(dtype)
    w = rng.uniform(0.5, 2.0, 4003)
    C0 = X[rng.choice(4003, k, replace=False)]
    a = _same_fit_on_every_kernel(kernels, X, k, C0, w, max_iter=50)
    np.testing.assert_array_equal(a.labels, brute_labels(X, a.centers))


def _same_fit_on_every_kernel(kernels, X: np.ndarray, k: int, C0: np.ndarray,  # type: ignore[no-untyped-def]
                              w: np.ndarray | None, max_iter: int):
    """The fit on this CPU's kernels, the AVX2 ones and the portable ones, checked equal to the last bit."""
    fits = []
    for mode in KERNELS:
        kernels(mode)
        fits.append(dc.kmeans(X, k, init=C0, sample_weight=w, tol=0, max_iter=max_iter))
    a = fits[0]
    for b in fits[1:]:
        np.testing.assert_array_equal(a.labels, b.labels)
        assert a.centers.tobytes() == b.centers.tobytes()
        assert a.inertia == b.inertia and a.n_iter == b.n_iter
    return a


def _at_line_offset(X: np.ndarray, offset: int) -> np.ndarray:
    """A copy of X whose data starts `offset` bytes into a 64-byte cache line, inside a
    buffer whose other bytes hold NaN (a kernel reading past a row would see them)."""
    buf = np.full(X.nbytes + 256, np.nan, dtype=X.dtype).view(np.uint8)
    start = (offset - buf.ctypes.data) % 64 + 64
    out = buf[start:start + X.nbytes].view(X.dtype).reshape(X.shape)
    out[...] = X
    assert out.ctypes.data % 64 == offset
    return out


@pytest.mark.parametrize("offset", [0, 8, 16, 24, 32, 40, 48, 56])
@pytest.mark.parametrize("d", [8, 16, 24, 64])
@pytest.mark.parametrize("weighted", [False, True])
def test_rows_off_cache_line_same_fit(rng: np.random.Generator, offset: int, d: int, weighted: bool,
                                      kernels) -> None:
    # float64 rows that start inside a cache line (NumPy's do) are read by aligned loads
    # of the lines they straddle on AVX-512: the same fit as the portable kernels
    n, k = 1003, 10
    X = _at_line_offset(blobs(rng, n, d, k, spread=3.0), offset)
    w = rng.uniform(0.5, 2.0, n) if weighted else None
    C0 = X[rng.choice(n, k, replace=False)]
    a = _same_fit_on_every_kernel(kernels, X, k, C0, w, max_iter=20)
    assert np.isfinite(a.inertia)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tolerance_is_numpy_variance(rng: np.random.Generator, dtype: type) -> None:
    # the compiled column variances add the rows in NumPy's order: the same bits
    from diffclust import _core

    for n, d in [(1, 2), (3, 2), (100, 5), (5000, 16), (70000, 3), (2000, 130)]:
        X = (rng.standard_normal((n, d)) * 30 + rng.uniform(-1e3, 1e3, d)).astype(dtype)
        fn = _core.column_variances_f64 if dtype == np.float64 else _core.column_variances_f32
        np.testing.assert_array_equal(fn(X, 1), np.var(X, axis=0, dtype=np.float64))
        for tol in (0.0, 1e-4):
            assert _ops_kmeans.tolerance(X, tol) == float(np.mean(np.var(X, axis=0, dtype=np.float64)) * tol)
    X = rng.standard_normal((50, 1)).astype(dtype)  # one column: NumPy's pairwise sum, by NumPy
    assert _ops_kmeans.tolerance(X, 1e-4) == float(np.mean(np.var(X, axis=0, dtype=np.float64)) * 1e-4)
    X = np.full((10, 3), 1e308, dtype=np.float64)  # finite, but the sums overflow: no error
    assert _core.column_variances_f64(X, 1).tolist() == [np.inf] * 3
    X[4, 1] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        dc.kmeans(X, 2)


# --------------------------------------------------------------------------- properties


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_threads_bit_identical(rng: np.random.Generator, dtype: type) -> None:
    X = blobs(rng, 9000, 7, 30).astype(dtype)
    w = rng.uniform(0, 2, 9000)
    ref = dc.kmeans(X, 25, sample_weight=w, seed=3, n_threads=1, tol=0)
    pp_ref = dc.kmeans_plusplus(X, 25, sample_weight=w, seed=5, n_threads=1)
    mb_ref = dc.minibatch_kmeans(X, 10, seed=2, n_threads=1, batch_size=3000)
    for t in THREAD_COUNTS[1:]:
        r = dc.kmeans(X, 25, sample_weight=w, seed=3, n_threads=t, tol=0)
        assert r.centers.tobytes() == ref.centers.tobytes()
        np.testing.assert_array_equal(r.labels, ref.labels)
        assert r.inertia == ref.inertia and r.n_iter == ref.n_iter
        pp = dc.kmeans_plusplus(X, 25, sample_weight=w, seed=5, n_threads=t)
        np.testing.assert_array_equal(pp[1], pp_ref[1])
        mb = dc.minibatch_kmeans(X, 10, seed=2, n_threads=t, batch_size=3000)
        assert mb.centers.tobytes() == mb_ref.centers.tobytes()


def test_same_seed_same_output(rng: np.random.Generator) -> None:
    X = blobs(rng, 800, 3, 5)
    a, b = dc.kmeans(X, 5, seed=11, n_init=3), dc.kmeans(X, 5, seed=11, n_init=3)
    assert a.centers.tobytes() == b.centers.tobytes()
    g1, g2 = np.random.default_rng(4), np.random.default_rng(4)
    np.testing.assert_array_equal(dc.kmeans(X, 5, seed=g1).labels, dc.kmeans(X, 5, seed=g2).labels)


def test_n_init_keeps_the_best(rng: np.random.Generator) -> None:
    X = blobs(rng, 600, 2, 9, spread=3.0)
    best = dc.kmeans(X, 9, n_init=6, seed=0, init="random")
    seeds = np.random.default_rng(0).integers(0, 2**63, size=6, dtype=np.int64)
    singles = [dc.kmeans(X, 9, init=_ops_kmeans.initial_centers(X, 9, "random", None, int(s), 1)) for s in seeds]
    assert len({r.inertia for r in singles}) > 1  # the runs differ
    assert best.inertia == min(r.inertia for r in singles)


def test_empty_cluster_relocated_like_sklearn() -> None:
    # a centre far from every point gets no point in the first iteration; it moves to
    # the point farthest from its centre, as in scikit-learn
    X = np.array([[0.0, 0], [1, 0], [0, 1], [10, 0], [11, 0], [10, 1], [30, 3]])
    C0 = np.array([[0.0, 0], [10, 0], [500, 500]])
    sk = sklearn_cluster.KMeans(n_clusters=3, init=C0, n_init=1, algorithm="lloyd", max_iter=1).fit(X)
    r = dc.kmeans(X, 3, init=C0, max_iter=1)
    np.testing.assert_allclose(r.centers, sk.cluster_centers_, rtol=1e-12)
    np.testing.assert_array_equal(r.labels, sk.labels_)
    full = dc.kmeans(X, 3, init=C0)
    np.testing.assert_allclose(full.centers[2], [30, 3])
    assert np.bincount(full.labels, minlength=3).min() >= 1


def test_duplicate_points(rng: np.random.Generator) -> None:
    base = rng.standard_normal((6, 3))
    X = base[rng.integers(0, 6, 200)]
    X[:6] = base
    for s in range(5):
        C, _ = dc.kmeans_plusplus(X, 6, seed=s)
        assert len({tuple(c) for c in C}) == 6  # six distinct points, never a duplicate
        r = dc.kmeans(X, 6, seed=s)
        assert r.inertia < 1e-20  # the mean of equal values, up to rounding


def test_k_equals_one_and_n(rng: np.random.Generator) -> None:
    X = rng.standard_normal((50, 4))
    w = rng.uniform(0.5, 2, 50)
    r = dc.kmeans(X, 1, sample_weight=w)
    mean = (w[:, None] * X).sum(0) / w.sum()
    np.testing.assert_allclose(r.centers[0], mean, rtol=1e-12)
    assert (r.labels == 0).all()
    assert r.inertia == pytest.approx((w * ((X - mean) ** 2).sum(1)).sum(), rel=1e-12)
    full = dc.kmeans(X, 50, seed=1)
    assert full.inertia == 0.0
    assert sorted(full.labels.tolist()) == list(range(50))


def test_result_type(rng: np.random.Generator) -> None:
    X = rng.standard_normal((30, 2))
    r = dc.kmeans(X, 3, seed=0)
    centers, labels, inertia, n_iter = r
    assert centers is r.centers and labels is r.labels and inertia == r.inertia and n_iter == r.n_iter
    text = repr(r)
    assert text.startswith("KMeansResult(n=30, k=3") and "float64[3, 2]" in text
    centers[0, 0] = 5.0  # ordinary writable arrays


def test_input_not_modified(rng: np.random.Generator) -> None:
    X = rng.standard_normal((100, 3))
    C0 = X[:4].copy()
    X_copy, C_copy = X.copy(), C0.copy()
    dc.kmeans(X, 4, init=C0)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(C0, C_copy)


def test_kmeans_plusplus_first_centre_by_weight() -> None:
    X = np.arange(5, dtype=np.float64)[:, None]
    w = np.array([1.0, 2.0, 3.0, 4.0, 0.0])
    counts = np.zeros(5)
    trials = 2000
    for s in range(trials):
        _, idx = dc.kmeans_plusplus(X, 1, sample_weight=w, seed=s)
        counts[idx[0]] += 1
    p = w / w.sum()
    assert counts[4] == 0
    sd = np.sqrt(trials * p * (1 - p))
    assert (np.abs(counts - trials * p) <= 5 * sd + 1e-9).all()


def test_kmeans_plusplus_trials_and_weights(rng: np.random.Generator) -> None:
    X = blobs(rng, 400, 2, 8)
    w = np.zeros(400)
    w[[3, 50, 77, 120]] = 1.0
    _, idx = dc.kmeans_plusplus(X, 4, sample_weight=w, seed=0, n_local_trials=1)
    assert sorted(idx.tolist()) == [3, 50, 77, 120]  # zero-weight points are never drawn


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays


@given(
    X=arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(1, 4)),
             elements=st.floats(-100, 100, allow_nan=False).map(lambda v: round(v, 1))),
    k=st.integers(1, 6),
    seed=st.integers(0, 2**32),
)
def test_invariants(X: np.ndarray, k: int, seed: int) -> None:
    k = min(k, X.shape[0])
    r = dc.kmeans(X, k, seed=seed)
    # labels are the nearest returned centres (ties: smallest index), inertia the direct sum
    np.testing.assert_array_equal(r.labels, brute_labels(X, r.centers))
    assert r.inertia == pytest.approx(inertia_of(X, r.centers, r.labels), rel=1e-12, abs=1e-12)
    # a populated centre is the mean of its points when the run converged strictly
    C, idx = dc.kmeans_plusplus(X, k, seed=seed)
    assert len(set(idx.tolist())) == k
    if len({tuple(x) for x in X}) >= k:
        assert len({tuple(c) for c in C}) == k


# --------------------------------------------------------------------------- mini-batch


def test_minibatch_close_to_full(rng: np.random.Generator) -> None:
    X = blobs(rng, 5000, 4, 6)
    C0 = dc.kmeans_plusplus(X, 6, seed=1)[0]
    full = dc.kmeans(X, 6, init=C0)
    mb = dc.minibatch_kmeans(X, 6, init=C0, batch_size=256, seed=0)
    assert mb.inertia <= 1.1 * full.inertia
    np.testing.assert_array_equal(mb.labels, brute_labels(X, mb.centers))
    sk = sklearn_cluster.MiniBatchKMeans(n_clusters=6, init=C0, n_init=1, batch_size=256, random_state=0).fit(X)
    assert mb.inertia <= 1.1 * sk.inertia_


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 0}, "k must be"),
        ({"k": 11}, "k must be"),
        ({"init": np.zeros((3, 2))}, "init must have shape"),
        ({"init": "kmeans"}, "init must be"),
        ({"n_init": 0}, "n_init"),
        ({"max_iter": 0}, "max_iter"),
        ({"tol": -1.0}, "tol"),
        ({"sample_weight": -np.ones(10)}, "sample_weight"),
        ({"sample_weight": np.ones(9)}, "sample_weight"),
        ({"sample_weight": np.zeros(10)}, "sample_weight"),
        ({"algorithm": "full"}, "algorithm"),
    ],
)
def test_errors(kwargs: dict[str, object], match: str) -> None:
    X = np.random.default_rng(0).standard_normal((10, 3))
    args = {"k": 2, **kwargs}
    k = args.pop("k")
    with pytest.raises(ValueError, match=match):
        dc.kmeans(X, k, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("row", [0, 2048, 4999])
def test_core_entry_points_check_finiteness(dtype: type, bad: float, row: int) -> None:
    # kmeans_lloyd and kmeans_plusplus check X during their first pass (the
    # bindings no longer scan it first): any row, any chunk, any thread count
    rng = np.random.default_rng(row)
    X = rng.standard_normal((5000, 7)).astype(dtype)
    C = X[:30].copy()
    X[row, 3] = bad
    sfx = "f32" if dtype == np.float32 else "f64"
    for threads in (1, 3):
        with pytest.raises(ValueError, match="X contains NaN or infinity"):
            getattr(_core, f"kmeans_lloyd_{sfx}")(X, None, C, 5, 0.0, threads)
        with pytest.raises(ValueError, match="X contains NaN or infinity"):
            getattr(_core, f"kmeans_plusplus_{sfx}")(X, None, 8, 3, 0, threads)
        # k = 5: no bounds, the rows in blocks of consecutive rows (another path)
        with pytest.raises(ValueError, match="X contains NaN or infinity"):
            getattr(_core, f"kmeans_lloyd_{sfx}")(X, None, C[:5], 5, 0.0, threads)
    # huge but finite: no error (in float64, the row's squared norm overflows, which
    # must send the kernels to the scan, not to the error)
    X[row, 3] = dtype(3e38) if dtype == np.float32 else 1e300
    getattr(_core, f"kmeans_lloyd_{sfx}")(X, None, C, 2, 0.0, 1)
    getattr(_core, f"kmeans_lloyd_{sfx}")(X, None, C[:5], 2, 0.0, 1)
    getattr(_core, f"kmeans_plusplus_{sfx}")(X, None, 8, 3, 0, 1)


def test_errors_nan_and_types() -> None:
    X = np.ones((5, 2))
    X[1, 1] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        dc.kmeans(X, 2)
    with pytest.raises(ValueError, match="X contains NaN"):
        dc.kmeans_plusplus(X, 2)
    with pytest.raises(ValueError, match="init contains NaN"):
        dc.kmeans(np.ones((5, 2)), 2, init=np.array([[0.0, 0], [np.inf, 0]]))
    with pytest.raises(TypeError, match="k must be an integer"):
        dc.kmeans(np.ones((5, 2)), 2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="X must have 2 dimensions"):
        dc.kmeans(np.ones(5), 2)
    with pytest.raises(ValueError, match="n_local_trials"):
        dc.kmeans_plusplus(np.ones((5, 2)), 2, n_local_trials=0)
    with pytest.raises(ValueError, match="batch_size"):
        dc.minibatch_kmeans(np.ones((5, 2)), 2, batch_size=0)
