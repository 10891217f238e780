"""diffclust.jax.mr_similarity: differentiable mutual-reachability similarities in JAX.

References: the NumPy mutual_reachability_distances (to rounding), finite differences
(check_grads, x64), and the NumPy gradient of partial_fy_loss_from_points (the same
seed: diffclust.jax.seeds(key)).
"""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp
from jax.test_util import check_grads

import diffclust as dc
import diffclust.jax as dj

METRICS = ("euclidean", "sqeuclidean", "manhattan", "cosine")


@pytest.fixture(params=[True, False], ids=["x64", "x32"])
def x64(request):  # type: ignore[no-untyped-def]
    old = bool(jax.config.read("jax_enable_x64"))
    jax.config.update("jax_enable_x64", request.param)
    yield request.param
    jax.config.update("jax_enable_x64", old)


def _points(rng: np.random.Generator, n: int = 15, d: int = 3) -> np.ndarray:
    C = 3 * rng.standard_normal((3, d))
    return C[rng.integers(0, 3, n)] + rng.standard_normal((n, d))


@pytest.mark.parametrize("metric", METRICS)
def test_equals_numpy_to_rounding(rng: np.random.Generator, x64: bool, metric: str) -> None:
    X = _points(rng)
    tol = {"rtol": 1e-12, "atol": 1e-12} if x64 else {"rtol": 1e-5, "atol": 1e-5}
    for ms in (1, 2, 5):
        ref = dc.mutual_reachability_distances(X, min_samples=ms, metric=metric)
        fn = jax.jit(lambda Z, m=ms: dj.mr_distances(Z, m, metric=metric)) if ms == 2 else (
            lambda Z, m=ms: dj.mr_distances(Z, m, metric=metric))
        got = fn(jnp.asarray(X))
        assert got.dtype == (jnp.float64 if x64 else jnp.float32)
        np.testing.assert_allclose(np.asarray(got), ref, **tol)
        if ms == 5:
            S = dj.mr_similarity(jnp.asarray(X), ms, metric=metric)
            np.testing.assert_array_equal(np.asarray(S), -np.asarray(got))


@pytest.mark.parametrize("metric", METRICS)
def test_grad_by_finite_differences(rng: np.random.Generator, metric: str) -> None:
    jax.config.update("jax_enable_x64", True)
    try:
        X = jnp.asarray(_points(rng, 6))
        V = jnp.asarray(rng.standard_normal((6, 6)))
        fn = jax.jit(lambda Z: (dj.mr_similarity(Z, 3, metric=metric) * V).sum())
        check_grads(fn, (X,), order=1, modes=["rev"], eps=1e-6)
    finally:
        jax.config.update("jax_enable_x64", False)


def test_vmap(rng: np.random.Generator) -> None:
    X = np.stack([_points(rng), _points(rng)]).astype(np.float32)
    out = jax.vmap(lambda Z: dj.mr_distances(Z, 3))(jnp.asarray(X))
    for t in range(2):
        np.testing.assert_allclose(np.asarray(out[t]), dc.mutual_reachability_distances(X[t].astype(np.float64), min_samples=3), rtol=1e-5, atol=1e-5)


def test_partial_fy_loss_trains_through_density_like_numpy(rng: np.random.Generator) -> None:
    jax.config.update("jax_enable_x64", True)
    try:
        n, ms = 14, 3
        Xn = _points(rng, n, 2)
        y = np.full(n, -1)
        y[:4] = [0, 0, 1, 1]
        key = jax.random.key(3)

        def loss(Z):  # type: ignore[no-untyped-def]
            return dj.partial_fy_loss(dj.mr_similarity(Z, ms), 3, jnp.asarray(y), key, sigma=0.4, n_samples=20)

        value, grad = jax.jit(jax.value_and_grad(loss))(jnp.asarray(Xn))
        seed = int(dj.seeds(key)[()])
        ref = dc.partial_fy_loss_from_points(Xn, 3, y, min_samples=ms, sigma=0.4, n_samples=20, seed=seed)
        assert float(value) == pytest.approx(ref.loss, rel=1e-12)
        np.testing.assert_allclose(np.asarray(grad), ref.grad_X, rtol=1e-9, atol=1e-12)
    finally:
        jax.config.update("jax_enable_x64", False)


def test_errors() -> None:
    X = jnp.zeros((5, 2))
    with pytest.raises(TypeError, match="floating"):
        dj.mr_similarity(jnp.zeros((5, 2), dtype=jnp.int32), 2)
    with pytest.raises(ValueError, match="min_samples"):
        dj.mr_similarity(X, 6)
    with pytest.raises(ValueError, match="metric"):
        dj.mr_similarity(X, 2, metric="chebyshev")
    with pytest.raises(ValueError, match="shape"):
        dj.mr_similarity(jnp.zeros(5), 1)


# --------------------------------------------------------------------------- perturbed HDBSCAN*


def _grid_blobs(seed: int = 0) -> np.ndarray:
    # integer coordinates: jax's similarity and the NumPy one are the same bits
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 7, (36, 2)).astype(np.float64)
    X[12:24] += 5.0
    X[24:] += (11.0, 2.0)
    return X


def test_perturbed_hdbscan_equals_numpy_and_its_vjp(x64: bool) -> None:
    X = _grid_blobs()
    key = jax.random.key(5)
    seed = int(dj.seeds(key)[()])
    kw = {"min_cluster_size": 5, "sigma": 0.6, "n_samples": 30}
    C, noise = jax.jit(lambda Z, k: dj.perturbed_hdbscan(Z, k, **kw))(jnp.asarray(X), key)
    Xn = X if x64 else X.astype(np.float32)
    ref = dc.perturbed_hdbscan(Xn, seed=seed, **kw)
    assert C.dtype == (jnp.float64 if x64 else jnp.float32) and C.shape == (36, 36) and noise.shape == (36,)
    np.testing.assert_array_equal(np.asarray(C), ref.co_clustering)
    np.testing.assert_array_equal(np.asarray(noise), ref.noise_probability)
    # the gradient with respect to S is the NumPy VJP's
    rng = np.random.default_rng(1)
    VC, vn = rng.standard_normal((36, 36)), rng.standard_normal(36)
    from diffclust.jax import density as jd

    S = dj.mr_similarity(jnp.asarray(X), 5)
    cfg = jd._Hdbscan(5, 0.6, "median_edge", 30, ("eom", 0.0, False))

    def f(S):  # type: ignore[no-untyped-def]
        C, noise = jd._hdbscan(cfg, S, jd._words(key, ()))
        return (C * VC).sum() + (noise * vn).sum()

    g = np.asarray(jax.jit(jax.grad(f))(S))
    want = dc.perturbed_hdbscan_vjp(Xn, VC, vn, seed=seed, **kw)
    assert np.abs(want).max() > 0
    np.testing.assert_allclose(g, want, rtol=1e-6 if not x64 else 1e-12, atol=1e-6 if not x64 else 1e-12)
    # on to X, and vmap equals a loop
    gx = jax.grad(lambda Z: dj.perturbed_hdbscan(Z, key, **kw)[1].sum())(jnp.asarray(X))
    assert gx.shape == X.shape and np.isfinite(np.asarray(gx)).all()
    keys = jax.random.split(key, 2)
    Xs = jnp.stack([jnp.asarray(X), jnp.asarray(_grid_blobs(2))])
    batched = jax.vmap(lambda Z, k: dj.perturbed_hdbscan(Z, k, **kw))(Xs, keys)
    for t in range(2):
        one = dj.perturbed_hdbscan(Xs[t], keys[t], **kw)
        np.testing.assert_array_equal(np.asarray(batched[0][t]), np.asarray(one[0]))
        np.testing.assert_array_equal(np.asarray(batched[1][t]), np.asarray(one[1]))


def test_perturbed_hdbscan_errors() -> None:
    X, key = jnp.zeros((10, 2)), jax.random.key(0)
    with pytest.raises(ValueError, match="shape"):
        dj.perturbed_hdbscan(jnp.zeros((2, 10, 2)), key)
    with pytest.raises(ValueError, match="sigma"):
        dj.perturbed_hdbscan(X, key, sigma=0.0)
    with pytest.raises(ValueError, match="sigma_scale"):
        dj.perturbed_hdbscan(X, key, sigma_scale="median")
    with pytest.raises(ValueError, match="cluster_selection_method"):
        dj.perturbed_hdbscan(X, key, cluster_selection_method="excess")
    with pytest.raises(ValueError, match="min_cluster_size"):
        dj.perturbed_hdbscan(X, key, min_cluster_size=1)
    bad = X.at[3, 0].set(jnp.nan)
    with pytest.raises(ValueError, match="NaN"):
        dj.perturbed_hdbscan(bad, key)
    assert bool(jnp.isnan(dj.mr_similarity(bad, 3)[3, 5]))  # kept, not read as a distance of 0
    with pytest.raises(Exception, match="NaN"):  # traced: the kernel refuses the similarity
        jax.block_until_ready(jax.jit(lambda Z: dj.perturbed_hdbscan(Z, key, n_samples=5))(bad))
