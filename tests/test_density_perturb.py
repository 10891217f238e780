"""Perturbed mutual-reachability forests: perturbed_kforest_from_points(..., min_samples=)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial.distance import cdist

import diffclust as dc


def points(rng: np.random.Generator, n: int, d: int = 2) -> np.ndarray:
    C = 4 * rng.standard_normal((3, d))
    return C[rng.integers(0, 3, n)] + rng.standard_normal((n, d))


def numpy_mr(X: np.ndarray, min_samples: int) -> np.ndarray:
    """Reference d_mr: cdist, the min_samples-th smallest of each row (self included)."""
    D = cdist(X, X)
    core = np.sort(D, axis=1)[:, min_samples - 1]
    M = np.maximum(D, np.maximum(core[:, None], core[None, :]))
    np.fill_diagonal(M, 0.0)
    return M


def scipy_forest(W: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """A and M of the max k-forest of a symmetric W by SciPy's MST (an independent solver)."""
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


def test_mutual_reachability_distances_match_numpy(rng: np.random.Generator) -> None:
    X = points(rng, 60, 3)
    for ms in (1, 2, 6):
        np.testing.assert_allclose(
            dc.mutual_reachability_distances(X, min_samples=ms), numpy_mr(X, ms), rtol=1e-12, atol=1e-12
        )


def test_equals_dense_perturbed_forest_on_mutual_reachability(rng: np.random.Generator) -> None:
    """The same noise as perturbed_kforest on S = -d_mr (the stated contract)."""
    X = points(rng, 30)
    for ms in (2, 5):
        S = -dc.mutual_reachability_distances(X, min_samples=ms)
        p = dc.perturbed_kforest_from_points(X, 3, metric="euclidean", min_samples=ms, sigma=0.3, n_samples=20, seed=8)
        q = dc.perturbed_kforest(S, 3, sigma=0.3, n_samples=20, seed=8)
        np.testing.assert_array_equal(p.adjacency, q.adjacency)
        np.testing.assert_array_equal(p.connectivity, q.connectivity)
        assert p.value == q.value


def test_sigma_to_zero_gives_the_exact_mutual_reachability_forest(rng: np.random.Generator) -> None:
    """Tiny noise: every sample is a maximum k-forest of -d_mr. d_mr has exact ties (core
    distances), so the forest itself is not unique and the noise picks one: compare the
    value (the optimum is unique) with SciPy's forest and with hdbscan's tree."""
    X = points(rng, 40)
    M = numpy_mr(X, 4)
    r = dc.hdbscan(X, min_samples=4)
    for k in (1, 3):
        A, _ = scipy_forest(-M, k)
        p = dc.perturbed_kforest_from_points(X, k, metric="euclidean", min_samples=4, sigma=1e-12, n_samples=5, seed=1)
        np.testing.assert_allclose(p.value, (A * -M).sum(), rtol=1e-9)
        np.testing.assert_allclose(p.value, -2 * r.weights[: 40 - k].sum(), rtol=1e-9)
        assert np.allclose(p.adjacency.sum(), 2 * (40 - k))


def test_estimates_agree_with_independent_monte_carlo(rng: np.random.Generator) -> None:
    """A_eps, M_eps and F_eps against NumPy noise on -d_mr + SciPy's MST, within 5 standard errors."""
    n, k, sigma, B, ms = 10, 3, 0.5, 3000, 3
    X = points(rng, n)
    W = -numpy_mr(X, ms)
    p = dc.perturbed_kforest_from_points(X, k, metric="euclidean", min_samples=ms, sigma=sigma, n_samples=B, seed=1)
    A_ref, M_ref, F_ref = np.zeros((n, n)), np.zeros((n, n)), []
    ref_rng = np.random.default_rng(99)
    for _ in range(B):
        Z = np.triu(ref_rng.standard_normal((n, n)), 1)
        Wt = W + sigma * (Z + Z.T)
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


def test_gradient_convention_adjacency_is_dvalue_dS(rng: np.random.Generator) -> None:
    """adjacency = dF/dS with S = -d_mr: finite differences of the dense call on that S."""
    X = points(rng, 12)
    S = -dc.mutual_reachability_distances(X, min_samples=3)
    p = dc.perturbed_kforest_from_points(X, 3, metric="euclidean", min_samples=3, sigma=0.5, n_samples=50, seed=5)
    h = 1e-6
    for i, j in [(0, 1), (3, 7), (10, 2)]:
        E = np.zeros_like(S)
        E[i, j] = h
        up = dc.perturbed_kforest(S + E, 3, sigma=0.5, n_samples=50, seed=5).value
        down = dc.perturbed_kforest(S - E, 3, sigma=0.5, n_samples=50, seed=5).value
        assert abs((up - down) / (2 * h) - p.adjacency[i, j]) < 1e-6


@pytest.mark.parametrize("n_threads", [1, 2, 3, 7])
def test_bit_identical_for_any_thread_count(rng: np.random.Generator, n_threads: int) -> None:
    X = points(rng, 50)
    ref = dc.perturbed_kforest_from_points(X, 4, min_samples=5, metric="euclidean", seed=3, n_samples=40, n_threads=1)
    p = dc.perturbed_kforest_from_points(X, 4, min_samples=5, metric="euclidean", seed=3, n_samples=40, n_threads=n_threads)
    assert np.array_equal(p.adjacency, ref.adjacency) and np.array_equal(p.connectivity, ref.connectivity)
    assert p.value == ref.value


def test_errors() -> None:
    X = np.random.default_rng(0).normal(size=(10, 2))
    with pytest.raises(ValueError, match="min_samples"):
        dc.perturbed_kforest_from_points(X, 2, min_samples=0)
    with pytest.raises(ValueError, match="min_samples"):
        dc.perturbed_kforest_from_points(X, 2, min_samples=11)
    with pytest.raises(TypeError, match="min_samples"):
        dc.perturbed_kforest_from_points(X, 2, min_samples=2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="k"):
        dc.perturbed_kforest_from_points(X, 11, min_samples=2)
    with pytest.raises(ValueError, match="sigma"):
        dc.perturbed_kforest_from_points(X, 2, min_samples=2, sigma=0.0)
