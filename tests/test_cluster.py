from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import THREAD_COUNTS
from scipy.spatial.distance import cdist

import diffclust as dc

kmedoids_pkg = pytest.importorskip("kmedoids")


def loss_of(D, medoids):
    return D[np.asarray(medoids)].min(axis=0).sum()


def brute_force_build(D, k):
    """PAM BUILD written plainly: the point of least total distance, then greedily
    the point that lowers the loss most (ties: smallest index)."""
    n = D.shape[0]
    medoids = [int(np.argmin(D.sum(axis=1)))]
    nearest = D[medoids[0]].copy()
    for _ in range(1, k):
        gains = np.array([np.maximum(nearest - D[c], 0).sum() if c not in medoids else -1.0 for c in range(n)])
        c = int(np.argmax(gains))
        medoids.append(c)
        nearest = np.minimum(nearest, D[c])
    return np.array(medoids)


def assert_swap_local_optimum(D, medoids, loss):
    """No single swap of a medoid with a non-medoid lowers the loss."""
    medoids = list(medoids)
    for i, c in itertools.product(range(len(medoids)), range(D.shape[0])):
        if c in medoids:
            continue
        trial = medoids.copy()
        trial[i] = c
        assert loss_of(D, trial) >= loss - 1e-12 * max(1.0, loss), (i, c)


def check_result(D, res):
    n = D.shape[0]
    assert res.labels.shape == (n,) and res.medoids.dtype == np.int64
    assert len(set(res.medoids.tolist())) == len(res.medoids)
    Dm = D[res.medoids]
    np.testing.assert_array_equal(res.labels, np.argmin(Dm, axis=0))
    assert res.loss == pytest.approx(Dm.min(axis=0).sum(), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("k", [1, 3, 7])
def test_build_matches_brute_force(rng, dtype, k):
    X = rng.standard_normal((90, 3))
    D = cdist(X, X).astype(dtype)
    res = dc.kmedoids(D, k, metric="precomputed", max_iter=0)
    np.testing.assert_array_equal(res.medoids, brute_force_build(D.astype(np.float64), k))
    assert res.n_swaps == 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
# k < 32 evaluates swaps on points grouped by medoid, k >= 32 screens them in order
@pytest.mark.parametrize(("n", "k"), [(200, 1), (300, 5), (500, 12), (600, 40), (1200, 20), (1200, 64)])
def test_same_loss_as_kmedoids_fasterpam_from_the_same_init(rng, dtype, n, k):
    """FasterPAM from the same initial medoids makes the same eager swaps as the
    kmedoids package: the same loss (to rounding), not merely one as low."""
    X = rng.standard_normal((n, 4))
    D = cdist(X, X).astype(dtype)
    D64 = D.astype(np.float64)
    init = brute_force_build(D64, k) if n <= 300 else dc.kmedoids(D, k, metric="precomputed", max_iter=0).medoids
    theirs = kmedoids_pkg.fasterpam(D, np.array(init), max_iter=100, n_cpu=1)
    for t in THREAD_COUNTS:
        ours = dc.kmedoids(D, k, metric="precomputed", init=init, n_threads=t)
        check_result(D64, ours)
        # both losses summed in float64 from D, so only the medoids can make them differ
        assert ours.loss == pytest.approx(loss_of(D64, theirs.medoids), rel=1e-12, abs=1e-12), t
        np.testing.assert_array_equal(np.sort(ours.medoids), np.sort(np.asarray(theirs.medoids)))


@pytest.mark.parametrize("n", [4, 6, 8])
@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("init", ["build", "random", "k-medoids++"])
def test_tiny_inputs_reach_a_swap_local_optimum(rng, n, k, init):
    for _ in range(4):
        X = rng.standard_normal((n, 2))
        D = cdist(X, X, "cityblock")
        res = dc.kmedoids(D, k, metric="precomputed", init=init, seed=3)
        check_result(D, res)
        assert_swap_local_optimum(D, res.medoids, res.loss)


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "manhattan", "cosine"])
def test_points_equal_precomputed(rng, metric):
    X = rng.standard_normal((150, 5))
    res = dc.kmedoids(X, 6, metric=metric, init="k-medoids++", seed=7)
    D = dc.pairwise_distances(X, metric=metric)
    ref = dc.kmedoids(D, 6, metric="precomputed", init="k-medoids++", seed=7)
    np.testing.assert_array_equal(res.medoids, ref.medoids)
    np.testing.assert_array_equal(res.labels, ref.labels)
    assert res.loss == ref.loss
    assert_swap_local_optimum(D, res.medoids, res.loss)


def test_edge_cases(rng):
    X = rng.standard_normal((30, 2))
    D = cdist(X, X)
    every = dc.kmedoids(D, 30, metric="precomputed")
    assert every.loss == 0.0 and sorted(every.medoids.tolist()) == list(range(30))
    one = dc.kmedoids(D, 1, metric="precomputed", init="random", seed=1)
    assert one.loss == pytest.approx(D.sum(axis=1).min(), rel=1e-12)  # k = 1: the global optimum
    init = np.array([3, 1, 4])
    fixed = dc.kmedoids(D, 3, metric="precomputed", init=init, max_iter=0)
    np.testing.assert_array_equal(fixed.medoids, init)
    assert fixed.n_iter == 0


def test_seed_determinism_and_result_is_frozen(rng):  # frozen dataclass, writable arrays
    X = rng.standard_normal((120, 3))
    a = dc.kmedoids(X, 5, init="random", seed=11)
    b = dc.kmedoids(X, 5, init="random", seed=11)
    np.testing.assert_array_equal(a.medoids, b.medoids)
    a2 = dc.kmedoids(X, 5, init="k-medoids++", seed=np.random.default_rng(4))
    b2 = dc.kmedoids(X, 5, init="k-medoids++", seed=np.random.default_rng(4))
    np.testing.assert_array_equal(a2.medoids, b2.medoids)
    assert a.labels.flags.writeable and a.medoids.flags.writeable
    with pytest.raises(AttributeError):
        a.loss = 0.0  # type: ignore[misc]


@pytest.mark.parametrize("n_threads", THREAD_COUNTS)
@pytest.mark.parametrize(("init", "k"), [("build", 15), ("random", 15), ("random", 40)])
def test_thread_count_invariance(rng, n_threads, init, k):
    X = rng.standard_normal((1100, 3))  # above the size where threads start
    ref = dc.kmedoids(X, k, init=init, seed=5, n_threads=1)
    res = dc.kmedoids(X, k, init=init, seed=5, n_threads=n_threads)
    np.testing.assert_array_equal(res.medoids, ref.medoids)
    np.testing.assert_array_equal(res.labels, ref.labels)
    assert res.loss == ref.loss and res.n_iter == ref.n_iter and res.n_swaps == ref.n_swaps


def test_inputs_unchanged(rng):
    X = rng.standard_normal((60, 3))
    D = cdist(X, X)
    init = np.array([5, 9, 2])
    X0, D0, i0 = X.copy(), D.copy(), init.copy()
    dc.kmedoids(X, 3, init=init)
    dc.kmedoids(D, 3, metric="precomputed", init=init)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(D, D0)
    np.testing.assert_array_equal(init, i0)


def test_errors(rng):
    X = rng.standard_normal((10, 2))
    D = cdist(X, X)
    with pytest.raises(ValueError, match=r"k must be in \[1, n\] = \[1, 10\], got 0"):
        dc.kmedoids(X, 0)
    with pytest.raises(ValueError, match="k must be in"):
        dc.kmedoids(X, 11)
    with pytest.raises(TypeError, match="k must be an integer"):
        dc.kmedoids(X, 2.0)
    with pytest.raises(ValueError, match="init must be one of"):
        dc.kmedoids(X, 2, init="kmeans")
    with pytest.raises(ValueError, match="duplicate"):
        dc.kmedoids(X, 2, init=[3, 3])
    with pytest.raises(ValueError, match=r"init holds medoid index 10"):
        dc.kmedoids(X, 2, init=[1, 10])
    with pytest.raises(ValueError, match=r"init holds medoid index -1"):
        dc.kmedoids(X, 2, init=[-1, 4])
    with pytest.raises(ValueError, match=r"init must hold k = 2"):
        dc.kmedoids(X, 2, init=[1, 2, 3])
    with pytest.raises(TypeError, match="init must be"):
        dc.kmedoids(X, 2, init=[1.0, 2.0])
    with pytest.raises(ValueError, match="metric must be one of"):
        dc.kmedoids(X, 2, metric="minkowski")
    with pytest.raises(ValueError, match="max_iter must be non-negative"):
        dc.kmedoids(X, 2, max_iter=-1)
    bad = X.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        dc.kmedoids(bad, 2)
    with pytest.raises(ValueError, match="square"):
        dc.kmedoids(D[:, :4], 2, metric="precomputed")
    Dn = D.copy()
    Dn[3, 4] = Dn[4, 3] = -0.5
    with pytest.raises(ValueError, match="negative"):
        dc.kmedoids(Dn, 2, metric="precomputed")
    Da = D.copy()
    Da[3, 4] += 0.1
    with pytest.raises(ValueError, match=r"symmetric: X\[3, 4\]"):
        dc.kmedoids(Da, 2, metric="precomputed")
    Da[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        dc.kmedoids(Da, 2, metric="precomputed")


def test_distance_matrix_too_large_is_refused():
    X = np.zeros((3_000_000, 1), dtype=np.float32)
    with pytest.raises(MemoryError, match="k-medoids"):
        dc.kmedoids(X, 2)


def test_concurrent_python_threads(rng):
    """The kernels release the GIL and share no state: concurrent calls agree."""
    import threading

    X = rng.standard_normal((1100, 4))
    labels = rng.integers(0, 5, size=1100)
    ref_km = dc.kmedoids(X, 8, init="random", seed=2, n_threads=2)
    ref_s = dc.silhouette_samples(X, labels, n_threads=2)
    ref_d = dc.pairwise_distances(X, metric="manhattan", n_threads=2)
    failures = []

    def run():
        km = dc.kmedoids(X, 8, init="random", seed=2, n_threads=2)
        s = dc.silhouette_samples(X, labels, n_threads=2)
        d = dc.pairwise_distances(X, metric="manhattan", n_threads=2)
        if not (np.array_equal(km.medoids, ref_km.medoids) and np.array_equal(s, ref_s) and np.array_equal(d, ref_d)):
            failures.append(1)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
