"""diffclust.torch.mr_similarity: differentiable mutual-reachability similarities.

References: the NumPy mutual_reachability_distances (equal to rounding: it uses the
package's tiled distance kernel, torch its own formulas), finite differences
(gradcheck, float64, tie-free Gaussian points), and the NumPy gradient of
partial_fy_loss_from_points (same seed, hence the same noise).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # in the test extra: never skipped in CI

import diffclust as dc
import diffclust.torch as dt

METRICS = ("euclidean", "sqeuclidean", "manhattan", "cosine")


def _points(rng: np.random.Generator, n: int = 15, d: int = 3) -> np.ndarray:
    C = 3 * rng.standard_normal((3, d))
    return C[rng.integers(0, 3, n)] + rng.standard_normal((n, d))


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("ms", [1, 2, 5])
def test_equals_numpy_to_rounding(rng: np.random.Generator, metric: str, ms: int) -> None:
    X = _points(rng)
    ref = dc.mutual_reachability_distances(X, min_samples=ms, metric=metric)
    got = dt.mr_distances(torch.tensor(X), ms, metric=metric)
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(dt.mr_similarity(torch.tensor(X), ms, metric=metric).numpy(), -got.numpy())
    f32 = dt.mr_distances(torch.tensor(X, dtype=torch.float32), ms, metric=metric)
    assert f32.dtype == torch.float32
    np.testing.assert_allclose(f32.numpy(), ref, rtol=1e-5, atol=1e-5)


def test_batched_points(rng: np.random.Generator) -> None:
    X = np.stack([_points(rng), _points(rng)])
    got = dt.mr_distances(torch.tensor(X), 3)
    for t in range(2):
        np.testing.assert_allclose(got[t].numpy(), dc.mutual_reachability_distances(X[t], min_samples=3), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("metric", METRICS)
def test_gradcheck(rng: np.random.Generator, metric: str) -> None:
    X = torch.tensor(_points(rng, 8), requires_grad=True)
    for ms in (1, 3):
        assert torch.autograd.gradcheck(lambda Z, m=ms: dt.mr_similarity(Z, m, metric=metric), (X,), eps=1e-6, atol=1e-6)


def test_partial_fy_loss_trains_through_density_like_numpy(rng: np.random.Generator) -> None:
    """torch: partial_fy_loss(mr_similarity(X)) backward == NumPy partial_fy_loss_from_points."""
    n, ms = 14, 3
    Xn = _points(rng, n, 2)
    y = np.full(n, -1)
    y[:4] = [0, 0, 1, 1]
    X = torch.tensor(Xn, requires_grad=True)
    loss = dt.partial_fy_loss(dt.mr_similarity(X, ms), 3, torch.tensor(y), sigma=0.4, n_samples=20, seed=12)
    loss.backward()
    ref = dc.partial_fy_loss_from_points(Xn, 3, y, min_samples=ms, sigma=0.4, n_samples=20, seed=12)
    assert loss.item() == pytest.approx(ref.loss, rel=1e-12)
    assert X.grad is not None
    np.testing.assert_allclose(X.grad.numpy(), ref.grad_X, rtol=1e-9, atol=1e-12)


def test_perturbed_kforest_on_mr_similarity_is_the_points_version(rng: np.random.Generator) -> None:
    Xn = _points(rng, 16, 2)
    A, M, F = dt.perturbed_kforest(dt.mr_similarity(torch.tensor(Xn), 4), 3, sigma=0.3, n_samples=10, seed=7)
    ref = dc.perturbed_kforest_from_points(Xn, 3, metric="euclidean", min_samples=4, sigma=0.3, n_samples=10, seed=7)
    np.testing.assert_array_equal(A.numpy(), ref.adjacency)
    np.testing.assert_array_equal(M.numpy(), ref.connectivity)
    assert F.item() == pytest.approx(ref.value, rel=1e-12)


def test_compile_fullgraph(rng: np.random.Generator) -> None:
    torch._dynamo.reset()
    fn = torch.compile(lambda Z: dt.mr_similarity(Z, 3), fullgraph=True, backend="aot_eager")
    X = torch.tensor(_points(rng, 10))
    np.testing.assert_array_equal(fn(X).numpy(), dt.mr_similarity(X, 3).numpy())


def test_errors() -> None:
    X = torch.zeros(5, 2)
    with pytest.raises(TypeError, match="X"):
        dt.mr_similarity(np.zeros((5, 2)), 2)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="floating"):
        dt.mr_similarity(torch.zeros(5, 2, dtype=torch.int64), 2)
    with pytest.raises(ValueError, match="min_samples"):
        dt.mr_similarity(X, 6)
    with pytest.raises(ValueError, match="min_samples"):
        dt.mr_similarity(X, 0)
    with pytest.raises(ValueError, match="metric"):
        dt.mr_similarity(X, 2, metric="chebyshev")
    with pytest.raises(ValueError, match="shape"):
        dt.mr_similarity(torch.zeros(5), 1)
