"""Perturbed k-forests, their VJP and the partial Fenchel–Young loss."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import THREAD_COUNTS
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

import diffclust as dc
from diffclust._core import _testing


def blobs_similarity(rng, n, d=3, centers=3):
    C = 3 * rng.standard_normal((centers, d))
    X = C[rng.integers(0, centers, n)] + rng.standard_normal((n, d))
    return X, -((X[:, None] - X[None]) ** 2).sum(-1)


def scipy_forest(W, k):
    """A and M of the max k-forest of a symmetric W, by SciPy's MST (independent solver)."""
    n = W.shape[0]
    C = W.max() - W + 1.0
    np.fill_diagonal(C, 0.0)
    T = minimum_spanning_tree(C).tocoo()
    keep = np.argsort(-W[T.row, T.col], kind="stable")[: n - k]
    A = np.zeros((n, n))
    A[T.row[keep], T.col[keep]] = 1
    A = A + A.T
    _, lab = connected_components(A, directed=False)
    return A, (lab[:, None] == lab[None, :]).astype(float)


def numpy_noise(rng, n):
    Z = np.triu(rng.standard_normal((n, n)), 1)
    return Z + Z.T


# --- the forward estimates ------------------------------------------------------


def test_sigma_to_zero_gives_the_exact_forest(rng):
    _, S = blobs_similarity(rng, 40)
    for k in (1, 3, 10):
        f = dc.kforest(S, k)
        p = dc.perturbed_kforest(S, k, sigma=1e-9, n_samples=7, seed=3)
        np.testing.assert_array_equal(p.adjacency, f.adjacency())
        np.testing.assert_array_equal(p.connectivity, f.connectivity())
        np.testing.assert_allclose(p.value, f.value, rtol=1e-9)


def test_estimates_agree_with_independent_monte_carlo(rng):
    """A_eps, M_eps, F_eps against NumPy noise + SciPy MST, within binomial standard errors."""
    n, k, sigma, B = 10, 3, 2.0, 3000
    S = rng.standard_normal((n, n))
    W = (S + S.T) / 2
    p = dc.perturbed_kforest(S, k, sigma=sigma, n_samples=B, seed=1)
    A_ref, M_ref, F_ref = np.zeros((n, n)), np.zeros((n, n)), []
    ref_rng = np.random.default_rng(99)
    for _ in range(B):
        Wt = W + sigma * numpy_noise(ref_rng, n)
        A, M = scipy_forest(Wt, k)
        A_ref += A / B
        M_ref += M / B
        F_ref.append((A * Wt).sum())
    for est, ref in ((p.adjacency, A_ref), (p.connectivity, M_ref)):
        pbar = (est + ref) / 2
        se = np.sqrt(np.maximum(pbar * (1 - pbar), 1 / B) * 2 / B)
        assert (np.abs(est - ref) <= 5 * se).all()
    se_F = np.std(F_ref) * np.sqrt(2 / B)
    assert abs(p.value - np.mean(F_ref)) < 5 * se_F


def test_estimator_rebuilt_from_exposed_noise(rng):
    """Each sample's forest is the exact forest of S + sigma Z_s, Z_s from edge_noise(seed, s)."""
    n, k, sigma, B, seed = 25, 4, 0.7, 9, 2024
    S = rng.standard_normal((n, n))  # non-symmetric
    W = S / 2 + S.T / 2  # the same rounding as the kernel
    p = dc.perturbed_kforest(S, k, sigma=sigma, n_samples=B, seed=seed)
    A, M, F = np.zeros((n, n)), np.zeros((n, n)), 0.0
    for s in range(B):
        Wt = W + sigma * _testing.edge_noise(seed, s, n)
        f = dc.kforest(Wt, k)
        A += f.adjacency()
        M += f.connectivity()
        F += f.value
    np.testing.assert_array_equal(p.adjacency, A / B)
    np.testing.assert_array_equal(p.connectivity, M / B)
    np.testing.assert_allclose(p.value, F / B, rtol=1e-12)


def test_gradient_of_value_is_adjacency_by_finite_differences(rng):
    n, k, sigma, B, seed = 12, 3, 0.5, 50, 5
    S = rng.standard_normal((n, n))
    p = dc.perturbed_kforest(S, k, sigma=sigma, n_samples=B, seed=seed)
    h = 1e-6
    for i, j in [(0, 1), (3, 7), (7, 3), (10, 2), (5, 5)]:
        E = np.zeros((n, n))
        E[i, j] = h
        up = dc.perturbed_kforest(S + E, k, sigma=sigma, n_samples=B, seed=seed).value
        down = dc.perturbed_kforest(S - E, k, sigma=sigma, n_samples=B, seed=seed).value
        assert abs((up - down) / (2 * h) - p.adjacency[i, j]) < 1e-6


def test_from_points_matches_dense(rng):
    X, _S = blobs_similarity(rng, 30)
    for metric in ("sqeuclidean", "euclidean"):
        from scipy.spatial.distance import cdist

        D = cdist(X, X, metric)
        p = dc.perturbed_kforest_from_points(X, 3, metric=metric, sigma=0.3, n_samples=20, seed=8)
        q = dc.perturbed_kforest(-D, 3, sigma=0.3, n_samples=20, seed=8)
        np.testing.assert_allclose(p.adjacency, q.adjacency, atol=1e-12)
        np.testing.assert_allclose(p.connectivity, q.connectivity, atol=1e-12)
        np.testing.assert_allclose(p.value, q.value, rtol=1e-9)


def test_batched_matches_loop(rng):
    S = rng.standard_normal((3, 15, 15))
    p = dc.perturbed_kforest(S, 2, sigma=0.3, n_samples=10, seed=4)
    assert p.adjacency.shape == (3, 15, 15) and p.value.shape == (3,)
    seeds = dc.element_seeds(4, 3)  # element t has its own seed, derived from seed=4
    for t in range(3):
        q = dc.perturbed_kforest(S[t], 2, sigma=0.3, n_samples=10, seed=int(seeds[t]))
        np.testing.assert_array_equal(p.adjacency[t], q.adjacency)
        np.testing.assert_array_equal(p.connectivity[t], q.connectivity)
        assert p.value[t] == q.value


def test_float32(rng):
    _, S = blobs_similarity(rng, 20)
    p = dc.perturbed_kforest(S.astype(np.float32), 3, sigma=0.2, n_samples=10, seed=1)
    q = dc.perturbed_kforest(S.astype(np.float32).astype(np.float64), 3, sigma=0.2, n_samples=10, seed=1)
    assert p.adjacency.dtype == np.float32
    np.testing.assert_allclose(p.adjacency, q.adjacency, atol=1e-7)


@pytest.mark.parametrize("n_threads", THREAD_COUNTS)
def test_bit_identical_for_any_thread_count(rng, n_threads):
    S = rng.standard_normal((30, 30))
    y = -np.ones(30, dtype=int)
    y[:6] = [0, 1, 2, 0, 1, 2]
    V = rng.standard_normal((30, 30))
    kw = {"sigma": 0.4, "n_samples": 23, "seed": 77}  # 23: chunks of uneven sizes
    ref = (
        dc.perturbed_kforest(S, 4, n_threads=1, **kw),
        dc.perturbed_kforest(S, 4, known_labels=y, n_threads=1, **kw),
        dc.partial_fy_loss(S, 4, y, n_threads=1, **kw),
        dc.perturbed_kforest_vjp(S, 4, V, V.T, n_threads=1, **kw),
    )
    got = (
        dc.perturbed_kforest(S, 4, n_threads=n_threads, **kw),
        dc.perturbed_kforest(S, 4, known_labels=y, n_threads=n_threads, **kw),
        dc.partial_fy_loss(S, 4, y, n_threads=n_threads, **kw),
        dc.perturbed_kforest_vjp(S, 4, V, V.T, n_threads=n_threads, **kw),
    )
    for a, b in zip(ref[:2], got[:2]):
        np.testing.assert_array_equal(a.adjacency, b.adjacency)
        np.testing.assert_array_equal(a.connectivity, b.connectivity)
        assert a.value == b.value
    assert ref[2][0] == got[2][0]
    np.testing.assert_array_equal(ref[2][1], got[2][1])
    np.testing.assert_array_equal(ref[3], got[3])


def test_seeds(rng):
    S = rng.standard_normal((20, 20))
    a = dc.perturbed_kforest(S, 3, sigma=1.0, n_samples=10, seed=1)
    b = dc.perturbed_kforest(S, 3, sigma=1.0, n_samples=10, seed=2)
    c = dc.perturbed_kforest(S, 3, sigma=1.0, n_samples=10, seed=np.random.default_rng(1))
    d = dc.perturbed_kforest(S, 3, sigma=1.0, n_samples=10, seed=np.random.default_rng(1))
    assert not np.array_equal(a.adjacency, b.adjacency)
    np.testing.assert_array_equal(c.adjacency, d.adjacency)


# --- the VJP --------------------------------------------------------------------


def numpy_vjp(S, k, VA, VM, sigma, B, seed, control_variate):
    """The score estimator of DESIGN §2 rebuilt from the exposed noise and SciPy forests."""
    n = S.shape[0]
    W = S / 2 + S.T / 2
    A0, M0 = scipy_forest(W, k)
    ref = (A0 * VA).sum() + (M0 * VM).sum() if control_variate else 0.0
    g = np.zeros((n, n))
    for s in range(B):
        Z = _testing.edge_noise(seed, s, n)
        A, M = scipy_forest(W + sigma * Z, k)
        g += ((A * VA).sum() + (M * VM).sum() - ref) * Z
    return g / (2 * B * sigma)


@pytest.mark.parametrize("control_variate", [True, False])
def test_vjp_equals_numpy_estimator(rng, control_variate):
    n, k, sigma, B, seed = 14, 3, 0.8, 30, 123
    S = rng.standard_normal((n, n))
    VA, VM = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    g = dc.perturbed_kforest_vjp(
        S, k, VA, VM, sigma=sigma, n_samples=B, seed=seed, control_variate=control_variate
    )
    np.testing.assert_allclose(g, numpy_vjp(S, k, VA, VM, sigma, B, seed, control_variate), rtol=1e-10, atol=1e-12)


def test_vjp_is_linear_and_symmetric(rng):
    n, kw = 16, {"sigma": 0.5, "n_samples": 40, "seed": 9}
    S = rng.standard_normal((n, n))
    V1, V2, U1 = (rng.standard_normal((n, n)) for _ in range(3))
    g1 = dc.perturbed_kforest_vjp(S, 3, V1, U1, **kw)
    g2 = dc.perturbed_kforest_vjp(S, 3, V2, None, **kw)
    g12 = dc.perturbed_kforest_vjp(S, 3, 2 * V1 + V2, 2 * U1, **kw)
    np.testing.assert_allclose(g12, 2 * g1 + g2, atol=1e-10)
    np.testing.assert_array_equal(g1, g1.T)
    assert (np.diag(g1) == 0).all()
    assert (dc.perturbed_kforest_vjp(S, 3, None, None, **kw) == 0).all()


def test_control_variate_same_mean_smaller_variance(rng):
    n, k, sigma, B = 10, 3, 1.0, 20
    _, S = blobs_similarity(rng, n)
    S = S / np.abs(S).max()
    VA, VM = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    with_cv = np.stack([
        dc.perturbed_kforest_vjp(S, k, VA, VM, sigma=sigma, n_samples=B, seed=s) for s in range(150)
    ])
    without = np.stack([
        dc.perturbed_kforest_vjp(S, k, VA, VM, sigma=sigma, n_samples=B, seed=s, control_variate=False)
        for s in range(150)
    ])
    se = np.sqrt((with_cv.var(0) + without.var(0)) / 150)
    iu = np.triu_indices(n, 1)
    # same mean: the difference of the means is within a few standard errors
    z = (with_cv.mean(0) - without.mean(0))[iu] / se[iu]
    assert np.abs(z).max() < 5
    # smaller variance, summed over entries
    assert with_cv.var(0)[iu].sum() < 0.8 * without.var(0)[iu].sum()


def test_vjp_against_finite_differences_of_smoothed_objective(rng):
    """With many samples, <V, dM_eps/dS> matches a finite difference of <V, M_eps> (common noise)."""
    n, k, sigma, B, seed = 8, 2, 1.0, 20000, 31
    S = rng.standard_normal((n, n))
    S = (S + S.T) / 2
    VM = rng.standard_normal((n, n))
    g = dc.perturbed_kforest_vjp(S, k, None, VM, sigma=sigma, n_samples=B, seed=seed)
    h = 0.3
    for i, j in [(0, 1), (2, 5)]:
        E = np.zeros((n, n))
        E[i, j] = E[j, i] = h
        up = (dc.perturbed_kforest(S + E, k, sigma=sigma, n_samples=B, seed=seed + 1).connectivity * VM).sum()
        dn = (dc.perturbed_kforest(S - E, k, sigma=sigma, n_samples=B, seed=seed + 1).connectivity * VM).sum()
        fd = (up - dn) / (2 * h)
        assert abs(fd - (g[i, j] + g[j, i])) < 0.15 * max(1.0, abs(fd))


# --- constraints and the partial Fenchel–Young loss -------------------------------


def test_labels_honoured_in_every_sample(rng):
    _, S = blobs_similarity(rng, 30)
    y = -np.ones(30, dtype=int)
    y[[0, 5, 9]] = 7
    y[[1, 2]] = 3
    y[12] = -0  # label 0
    p = dc.perturbed_kforest(S, 4, known_labels=y, sigma=5.0, n_samples=50, seed=0)
    M = p.connectivity
    lab = np.flatnonzero(y >= 0)
    for a in lab:
        for b in lab:
            assert M[a, b] == (1.0 if y[a] == y[b] else 0.0)


def test_constrained_value_below_unconstrained(rng):
    _, S = blobs_similarity(rng, 25)
    y = -np.ones(25, dtype=int)
    y[:6] = [0, 1, 0, 1, 2, 2]
    free = dc.perturbed_kforest(S, 3, sigma=0.5, n_samples=30, seed=3)
    con = dc.perturbed_kforest(S, 3, known_labels=y, sigma=0.5, n_samples=30, seed=3)
    assert con.value <= free.value + 1e-9
    assert dc.kforest(S, 3, known_labels=y).value <= dc.kforest(S, 3).value + 1e-9


def test_loss_nonnegative_sample_by_sample(rng):
    _, S = blobs_similarity(rng, 20)
    y = -np.ones(20, dtype=int)
    y[:5] = [0, 1, 2, 0, 1]
    for seed in range(15):
        loss, _ = dc.partial_fy_loss(S, 3, y, sigma=2.0, n_samples=1, seed=seed)
        assert loss >= 0


def test_loss_zero_when_labels_agree_with_optimum(rng):
    _, S = blobs_similarity(rng, 30)
    f = dc.kforest(S, 3)
    y = -np.ones(30, dtype=int)
    y[::4] = f.labels[::4] + 10
    loss, grad = dc.partial_fy_loss(S, 3, y, sigma=1e-9, n_samples=5, seed=0)
    assert loss == pytest.approx(0.0, abs=1e-6)
    assert np.abs(grad).max() == 0


def test_loss_gradient_is_difference_of_adjacencies(rng):
    _, S = blobs_similarity(rng, 20)
    S = S + 0.3 * rng.standard_normal(S.shape)
    y = -np.ones(20, dtype=int)
    y[:4] = [0, 1, 0, 1]
    kw = {"sigma": 0.5, "n_samples": 40, "seed": 12}
    loss, grad = dc.partial_fy_loss(S, 3, y, **kw)
    free = dc.perturbed_kforest(S, 3, **kw)
    con = dc.perturbed_kforest(S, 3, known_labels=y, **kw)
    np.testing.assert_allclose(grad, free.adjacency - con.adjacency, atol=1e-12)
    np.testing.assert_allclose(loss, free.value - con.value, rtol=1e-9, atol=1e-9)


def test_loss_gradient_by_finite_differences(rng):
    n = 10
    S = rng.standard_normal((n, n))
    y = np.array([0, 1, -1, -1, 0, -1, 1, -1, -1, 2])
    kw = {"sigma": 0.5, "n_samples": 30, "seed": 6}
    _, grad = dc.partial_fy_loss(S, 3, y, **kw)
    h = 1e-6
    for i, j in [(0, 2), (4, 9), (3, 8)]:
        E = np.zeros((n, n))
        E[i, j] = h
        fd = (dc.partial_fy_loss(S + E, 3, y, **kw)[0] - dc.partial_fy_loss(S - E, 3, y, **kw)[0]) / (2 * h)
        assert abs(fd - grad[i, j]) < 1e-6


def test_inputs_unchanged(rng):
    S = rng.standard_normal((15, 15))
    V = rng.standard_normal((15, 15))
    y = np.array([0, 1] + [-1] * 13)
    copies = S.copy(), V.copy(), y.copy()
    dc.perturbed_kforest(S, 2, sigma=0.3, n_samples=5, seed=0, known_labels=y)
    dc.perturbed_kforest_vjp(S, 2, V, V, sigma=0.3, n_samples=5, seed=0)
    dc.partial_fy_loss(S, 2, y, sigma=0.3, n_samples=5, seed=0)
    for a, b in zip((S, V, y), copies):
        np.testing.assert_array_equal(a, b)


# --- errors ---------------------------------------------------------------------


def test_errors():
    S = np.zeros((6, 6))
    y = np.array([0, 1, 2, -1, -1, -1])
    with pytest.raises(ValueError, match="sigma"):
        dc.perturbed_kforest(S, 2, sigma=0.0)
    with pytest.raises(ValueError, match="sigma"):
        dc.perturbed_kforest(S, 2, sigma=np.nan)
    with pytest.raises(ValueError, match="sigma"):
        dc.perturbed_kforest(S, 2, sigma=-1)
    with pytest.raises(ValueError, match="n_samples"):
        dc.perturbed_kforest(S, 2, n_samples=0)
    with pytest.raises(TypeError, match="n_samples"):
        dc.perturbed_kforest(S, 2, n_samples=2.5)
    with pytest.raises(ValueError, match=r"known_labels must have length n = 6"):
        dc.perturbed_kforest(S, 2, known_labels=[0, 1])
    with pytest.raises(ValueError, match="3 distinct labels but k = 2"):
        dc.perturbed_kforest(S, 2, known_labels=y)
    with pytest.raises(ValueError, match="3 distinct labels but k = 2"):
        dc.partial_fy_loss(S, 2, y)
    with pytest.raises(ValueError, match="3 distinct labels but k = 2"):
        dc.kforest(S, 2, known_labels=y)
    bad = S.copy()
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="S contains NaN"):
        dc.perturbed_kforest(bad, 2)
    with pytest.raises(ValueError, match="S contains NaN"):
        dc.partial_fy_loss(bad, 2, [-1] * 6)
    with pytest.raises(ValueError, match="k must be in"):
        dc.perturbed_kforest(S, 7)
    with pytest.raises(ValueError, match="grad_adjacency must have shape"):
        dc.perturbed_kforest_vjp(S, 2, np.zeros((5, 5)), sigma=0.1, n_samples=3, seed=0)
    with pytest.raises(TypeError, match="seed"):
        dc.perturbed_kforest_vjp(S, 2, np.zeros((6, 6)), sigma=0.1, n_samples=3, seed=None)
    with pytest.raises(ValueError, match="X contains NaN"):
        dc.perturbed_kforest_from_points([[np.nan, 0.0], [1.0, 1.0]], 1)


def test_keyboard_interrupt_between_chunks():
    import _thread
    import threading

    S = np.random.default_rng(0).standard_normal((400, 400))
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            # ~10^6 samples of n = 400: minutes of work if the interrupt were ignored
            dc.perturbed_kforest(S, 3, sigma=0.1, n_samples=1_000_000, seed=0, n_threads=2)
    finally:
        timer.cancel()
    # (the latency itself is measured by tests/test_interrupt.py, without a timing assert)


def test_memory_error_before_allocating(monkeypatch):
    from diffclust import _validation

    monkeypatch.setattr(_validation, "physical_memory", lambda: 10**6)  # a 1 MB machine
    S = np.zeros((200, 200))
    with pytest.raises(MemoryError, match="perturbed_kforest needs .* GiB, more than"):
        dc.perturbed_kforest(S, 2, sigma=0.1, n_samples=2, seed=0)
    with pytest.raises(MemoryError, match="partial_fy_loss needs"):
        dc.partial_fy_loss(S, 2, [-1] * 200, sigma=0.1, n_samples=2, seed=0)
