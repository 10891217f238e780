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


# --------------------------------------------------------------------------- perturbed HDBSCAN*


def _grid_blobs(rng: np.random.Generator) -> np.ndarray:
    # integer coordinates: every distance is the sqrt of an integer, rounded once, so
    # torch's similarity and the NumPy one are the same bits
    X = rng.integers(0, 7, (36, 2)).astype(np.float64)
    X[12:24] += 5.0
    X[24:] += (11.0, 2.0)
    return X


def test_perturbed_hdbscan_equals_numpy(rng: np.random.Generator) -> None:
    X = _grid_blobs(rng)
    for kw in ({}, {"sigma": 0.5, "cluster_selection_method": "leaf"}, {"min_samples": 3, "allow_single_cluster": True}):
        C, noise = dt.perturbed_hdbscan(torch.tensor(X), min_cluster_size=5, n_samples=25, seed=11, **kw)
        ref = dc.perturbed_hdbscan(X, min_cluster_size=5, n_samples=25, seed=11, **kw)
        assert C.dtype == torch.float64 and C.shape == (36, 36) and noise.shape == (36,)
        np.testing.assert_array_equal(C.numpy(), ref.co_clustering)
        np.testing.assert_array_equal(noise.numpy(), ref.noise_probability)


def test_perturbed_hdbscan_gradient_is_the_numpy_vjp(rng: np.random.Generator) -> None:
    X = _grid_blobs(rng)
    VC, vn = rng.standard_normal((36, 36)), rng.standard_normal(36)
    kw = {"min_cluster_size": 5, "sigma": 0.6, "n_samples": 40}
    S = dt.mr_similarity(torch.tensor(X), 5).requires_grad_()
    from diffclust.torch import _library

    C, noise = _library.perturbed_hdbscan(S, 5, 0.6, "median_edge", 40, torch.tensor(7), "eom", 0.0, False)
    (g,) = torch.autograd.grad((C * torch.tensor(VC)).sum() + (noise * torch.tensor(vn)).sum(), S)
    ref = dc.perturbed_hdbscan_vjp(X, VC, vn, seed=7, **kw)
    assert np.abs(ref).max() > 0  # the samples do differ: a real test
    np.testing.assert_allclose(g.numpy(), ref, rtol=1e-12, atol=1e-12)
    # and on to X through the similarity
    Xt = torch.tensor(X, requires_grad=True)
    C, noise = dt.perturbed_hdbscan(Xt, seed=7, **kw)  # type: ignore[arg-type]
    ((C * torch.tensor(VC)).sum() + (noise * torch.tensor(vn)).sum()).backward()
    assert Xt.grad is not None and torch.isfinite(Xt.grad).all() and Xt.grad.abs().max() > 0
    # only the noise probabilities used: no gradient through C needed, same VJP formula
    S2 = dt.mr_similarity(torch.tensor(X), 5).requires_grad_()
    _, noise2 = _library.perturbed_hdbscan(S2, 5, 0.6, "median_edge", 40, torch.tensor(7), "eom", 0.0, False)
    (g2,) = torch.autograd.grad((noise2 * torch.tensor(vn)).sum(), S2)
    np.testing.assert_allclose(g2.numpy(), dc.perturbed_hdbscan_vjp(X, None, vn, seed=7, **kw), rtol=1e-12, atol=1e-12)


def test_perturbed_hdbscan_opcheck_and_seeds(rng: np.random.Generator) -> None:
    X = _grid_blobs(rng)
    S = dt.mr_similarity(torch.tensor(X), 5).requires_grad_()
    args = (S, 5, 0.5, "median_edge", 10, torch.tensor(3), "eom", 0.0, False)
    torch.library.opcheck(torch.ops.diffclust.perturbed_hdbscan.default, args)
    torch.manual_seed(0)
    a = dt.perturbed_hdbscan(torch.tensor(X), min_cluster_size=5, sigma=0.5, n_samples=10)
    torch.manual_seed(0)
    b = dt.perturbed_hdbscan(torch.tensor(X), min_cluster_size=5, sigma=0.5, n_samples=10)
    assert all(torch.equal(u, v) for u, v in zip(a, b))


def test_perturbed_hdbscan_vmap_is_a_loop(rng: np.random.Generator) -> None:
    from diffclust.torch import _library

    Xs = torch.stack([torch.tensor(_grid_blobs(rng)), torch.tensor(_grid_blobs(rng))])
    S = torch.func.vmap(lambda X: dt.mr_similarity(X, 5))(Xs).requires_grad_()
    seeds = torch.tensor([3, 4])

    def op(S: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _library.perturbed_hdbscan(S, 5, 0.6, "median_edge", 20, s, "eom", 0.0, False)

    C, noise = torch.vmap(op)(S, seeds)
    (g,) = torch.autograd.grad(C.sum() + noise.sum(), S)
    for t in range(2):
        St = S[t].detach().requires_grad_()
        Ct, nt = op(St, seeds[t])
        (gt,) = torch.autograd.grad(Ct.sum() + nt.sum(), St)
        assert torch.equal(C[t], Ct) and torch.equal(noise[t], nt) and torch.equal(g[t], gt)


def test_perturbed_hdbscan_errors() -> None:
    X = torch.randn(10, 2)
    with pytest.raises(ValueError, match="shape"):
        dt.perturbed_hdbscan(torch.randn(2, 10, 2))
    with pytest.raises(ValueError, match="sigma"):
        dt.perturbed_hdbscan(X, sigma=0.0)
    with pytest.raises(ValueError, match="sigma_scale"):
        dt.perturbed_hdbscan(X, sigma_scale="median")
    with pytest.raises(ValueError, match="cluster_selection_method"):
        dt.perturbed_hdbscan(X, cluster_selection_method="excess")
    with pytest.raises(ValueError, match="min_cluster_size"):
        dt.perturbed_hdbscan(X, min_cluster_size=1)
    with pytest.raises(ValueError, match="min_samples"):
        dt.perturbed_hdbscan(X, min_samples=11)
    with pytest.raises(ValueError, match="n_samples"):
        dt.perturbed_hdbscan(X, n_samples=0)
    bad = X.clone().double()
    bad[3, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        dt.perturbed_hdbscan(bad)
    # the similarity keeps the NaN (it used to read a NaN distance as 0), so the kernel refuses it too
    assert torch.isnan(dt.mr_similarity(bad, 3)[3, 5])
    from diffclust.torch import _library

    with pytest.raises(ValueError, match="NaN"):
        _library.perturbed_hdbscan(dt.mr_similarity(bad, 3), 5, 0.1, "median_edge", 5, torch.tensor(0), "eom", 0.0, False)
