"""partial_fy_loss_from_points: the partial Fenchel-Young loss on S = -d_mr and its
gradients with respect to S and, through d_mr, to X (checked by finite differences)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import THREAD_COUNTS
from scipy.spatial.distance import cdist

import diffclust as dc


def points(rng: np.random.Generator, n: int, d: int = 2) -> np.ndarray:
    C = 3 * rng.standard_normal((3, d))
    return C[rng.integers(0, 3, n)] + rng.standard_normal((n, d))


def labels(n: int) -> np.ndarray:
    y = np.full(n, -1)
    y[:4] = [0, 0, 1, 1]
    return y


def test_equals_partial_fy_loss_on_mutual_reachability(rng: np.random.Generator) -> None:
    X = points(rng, 20)
    y = labels(20)
    for ms in (1, 4):
        r = dc.partial_fy_loss_from_points(X, 3, y, min_samples=ms, sigma=0.3, n_samples=30, seed=6)
        S = -dc.mutual_reachability_distances(X, min_samples=ms)
        loss, grad = dc.partial_fy_loss(S, 3, y, sigma=0.3, n_samples=30, seed=6)
        np.testing.assert_array_equal(r.similarity, S)
        assert r.loss == loss
        np.testing.assert_array_equal(r.grad, grad)
        assert r.loss >= 0
        a, b, c = r
        assert a == r.loss and b is r.grad and c is r.grad_X


def fd_grad(X: np.ndarray, f, h: float = 1e-6) -> np.ndarray:  # type: ignore[no-untyped-def]
    G = np.zeros_like(X)
    for idx in np.ndindex(*X.shape):
        E = np.zeros_like(X)
        E[idx] = h
        G[idx] = (f(X + E) - f(X - E)) / (2 * h)
    return G


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "manhattan", "cosine"])
@pytest.mark.parametrize("ms", [1, 3])
def test_grad_X_matches_finite_differences(rng: np.random.Generator, metric: str, ms: int) -> None:
    """Tie-free data (Gaussian points): the loss is smooth around X for fixed noise."""
    n = 10
    X = points(rng, n, 3)
    y = labels(n)
    kw = {"min_samples": ms, "metric": metric, "sigma": 0.5, "n_samples": 20, "seed": 3}
    r = dc.partial_fy_loss_from_points(X, 3, y, **kw)  # type: ignore[arg-type]

    def f(Z: np.ndarray) -> float:
        return dc.partial_fy_loss_from_points(Z, 3, y, **kw).loss  # type: ignore[arg-type]

    G = fd_grad(X, f)
    np.testing.assert_allclose(r.grad_X, G, rtol=1e-5, atol=1e-6)
    assert np.abs(G).max() > 1e-3  # the check is not vacuous


def test_grad_X_by_hand_chain_rule(rng: np.random.Generator) -> None:
    """grad_X from dL/dS by an explicit NumPy chain rule through cdist and the core distances."""
    n, ms = 12, 3
    X = points(rng, n)
    y = labels(n)
    r = dc.partial_fy_loss_from_points(X, 2, y, min_samples=ms, sigma=0.4, n_samples=25, seed=8)
    D = cdist(X, X)
    nn = np.argsort(D, axis=1, kind="stable")[:, ms - 1]
    core = D[np.arange(n), nn]
    dD = np.zeros((n, n, n, 2))  # d D_ab / d X_c
    for a in range(n):
        for b in range(n):
            if a != b:
                u = (X[a] - X[b]) / D[a, b]
                dD[a, b, a] += u
                dD[a, b, b] -= u
    G = np.zeros_like(X)
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            if D[i, j] >= max(core[i], core[j]):
                dS = -dD[i, j]
            elif core[i] >= core[j]:
                dS = -dD[i, nn[i]]
            else:
                dS = -dD[j, nn[j]]
            G += r.grad[i, j] * dS
    np.testing.assert_allclose(r.grad_X, G, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n_threads", THREAD_COUNTS)
def test_bit_identical_for_any_thread_count(rng: np.random.Generator, n_threads: int) -> None:
    X = points(rng, 40)
    y = labels(40)
    ref = dc.partial_fy_loss_from_points(X, 3, y, min_samples=5, n_samples=16, seed=2, n_threads=1)
    r = dc.partial_fy_loss_from_points(X, 3, y, min_samples=5, n_samples=16, seed=2, n_threads=n_threads)
    assert r.loss == ref.loss and np.array_equal(r.grad, ref.grad) and np.array_equal(r.grad_X, ref.grad_X)


def test_float32_and_errors(rng: np.random.Generator) -> None:
    X = points(rng, 10)
    y = labels(10)
    r = dc.partial_fy_loss_from_points(X.astype(np.float32), 2, y, min_samples=2, n_samples=5, seed=0)
    assert r.grad_X.dtype == np.float32 and r.grad.dtype == np.float32 and r.similarity.dtype == np.float32
    assert "PointsFYLoss(" in repr(r)
    with pytest.raises(ValueError, match="min_samples"):
        dc.partial_fy_loss_from_points(X, 2, y, min_samples=0)
    with pytest.raises(ValueError, match="k"):
        dc.partial_fy_loss_from_points(X, 11, y)
    with pytest.raises(ValueError, match="sigma"):
        dc.partial_fy_loss_from_points(X, 2, y, sigma=-1.0)
    with pytest.raises(ValueError, match="metric"):
        dc.partial_fy_loss_from_points(X, 2, y, metric="chebyshev")
    with pytest.raises(ValueError, match="known_labels"):
        dc.partial_fy_loss_from_points(X, 2, y[:5])
    with pytest.raises(ValueError, match="zero row"):
        Z = X.copy()
        Z[0] = 0.0
        dc.partial_fy_loss_from_points(Z, 2, y, metric="cosine")
