"""gaussian_mixture against scikit-learn's GaussianMixture from the same starting
parameters, and against NumPy formulas for the initial M-step."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import diffclust as dc
from diffclust import _core

mixture = pytest.importorskip("sklearn.mixture")
from conftest import THREAD_COUNTS
from sklearn.exceptions import ConvergenceWarning

COV_TYPES = ("full", "tied", "diag", "spherical")


def blobs(rng: np.random.Generator, n: int = 600, d: int = 3, k: int = 3) -> np.ndarray:
    centers = rng.normal(0.0, 5.0, (k, d))
    scales = rng.uniform(0.5, 2.0, (k, d))
    labels = np.arange(n) % k
    X = centers[labels] + rng.normal(size=(n, d)) * scales[labels]
    return X @ rng.normal(size=(d, d)) * 0.5 + X  # correlated coordinates


def starting_parameters(rng, X, k, covariance_type):
    """Weights, means and precisions from which both libraries start."""
    n, d = X.shape
    weights = rng.dirichlet(np.full(k, 5.0))
    means = X[rng.choice(n, k, replace=False)] + rng.normal(0, 0.1, (k, d))
    cov = np.cov(X.T, bias=True)
    if covariance_type == "full":
        P = np.stack([np.linalg.inv(cov * s) for s in rng.uniform(0.5, 2.0, k)])
    elif covariance_type == "tied":
        P = np.linalg.inv(cov)
    elif covariance_type == "diag":
        P = 1.0 / (np.diag(cov)[None, :] * rng.uniform(0.5, 2.0, (k, 1)))
    else:
        P = 1.0 / (np.diag(cov).mean() * rng.uniform(0.5, 2.0, k))
    return weights, means, P


def sklearn_fit(X, k, covariance_type, w, m, P, **kw):
    gm = mixture.GaussianMixture(
        k, covariance_type=covariance_type, weights_init=w, means_init=m, precisions_init=P, random_state=0, **kw
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = gm.fit_predict(X)
    return gm, labels


def assert_same_fit(ours, gm, labels, rtol=1e-7):
    scale = 1e-9
    np.testing.assert_allclose(ours.weights, gm.weights_, rtol=rtol, atol=scale)
    np.testing.assert_allclose(ours.means, gm.means_, rtol=rtol, atol=scale)
    np.testing.assert_allclose(ours.covariances, gm.covariances_, rtol=rtol, atol=scale)
    np.testing.assert_allclose(ours.precisions_cholesky, gm.precisions_cholesky_, rtol=rtol, atol=scale)
    np.testing.assert_array_equal(ours.labels, labels)
    assert ours.log_likelihood == pytest.approx(gm.lower_bound_, rel=1e-10, abs=1e-12)
    assert ours.n_iter == gm.n_iter_
    assert ours.converged == gm.converged_


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize(("max_iter", "tol"), [(1, 1e-3), (4, 1e-3), (300, 1e-3), (300, 1e-8)])
def test_matches_sklearn_from_the_same_start(rng, covariance_type, max_iter, tol):
    X = blobs(rng)
    w, m, P = starting_parameters(rng, X, 3, covariance_type)
    gm, labels = sklearn_fit(X, 3, covariance_type, w, m, P, max_iter=max_iter, tol=tol)
    ours = dc.gaussian_mixture(
        X, 3, covariance_type=covariance_type, weights_init=w, means_init=m, precisions_init=P,
        max_iter=max_iter, tol=tol,
    )
    assert_same_fit(ours, gm, labels)
    if max_iter == 300:
        assert ours.converged


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_matches_sklearn_many_components_and_reg(rng, covariance_type):
    X = blobs(rng, n=2000, d=5, k=4)
    w, m, P = starting_parameters(rng, X, 7, covariance_type)
    gm, labels = sklearn_fit(X, 7, covariance_type, w, m, P, max_iter=25, tol=1e-6, reg_covar=1e-2)
    ours = dc.gaussian_mixture(
        X, 7, covariance_type=covariance_type, weights_init=w, means_init=m, precisions_init=P,
        max_iter=25, tol=1e-6, reg_covar=1e-2,
    )
    assert_same_fit(ours, gm, labels, rtol=1e-6)


def numpy_parameters(X, resp, covariance_type, reg):
    """scikit-learn's M-step written out in NumPy (centred sums)."""
    nk = resp.sum(0) + 10 * np.finfo(np.float64).eps
    means = resp.T @ X / nk[:, None]
    d = X.shape[1]
    full = np.stack([(resp[:, j, None] * (X - means[j])).T @ (X - means[j]) / nk[j] for j in range(len(nk))])
    if covariance_type == "full":
        cov = full + reg * np.eye(d)
    elif covariance_type == "tied":
        cov = np.einsum("j,jab->ab", nk, full) / nk.sum() + reg * np.eye(d)
    elif covariance_type == "diag":
        cov = np.diagonal(full, axis1=1, axis2=2) + reg
    else:
        cov = np.diagonal(full, axis1=1, axis2=2).mean(1) + reg
    return nk / nk.sum(), means, cov


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_initial_m_step_matches_numpy(rng, covariance_type, dtype):
    X = blobs(rng, n=500).astype(dtype)
    resp = rng.uniform(size=(500, 4))
    resp /= resp.sum(1, keepdims=True)
    fn = _core.gmm_init_f32 if dtype == np.float32 else _core.gmm_init_f64
    w, m, c, _ = fn(X, 4, covariance_type, resp, None, 1e-4, 2)
    rw, rm, rc = numpy_parameters(X.astype(np.float64), resp, covariance_type, 1e-4)
    np.testing.assert_allclose(w, rw, rtol=1e-12)
    np.testing.assert_allclose(m, rm, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c, rc, rtol=1e-10)
    # hard labels (-1: in no component) are one-hot responsibilities
    labels = rng.integers(-1, 4, 500)
    onehot = np.zeros((500, 4))
    onehot[labels >= 0, labels[labels >= 0]] = 1.0
    w2, m2, c2, _ = fn(X, 4, covariance_type, None, labels, 1e-4, 3)
    rw, rm, rc = numpy_parameters(X.astype(np.float64), onehot, covariance_type, 1e-4)
    np.testing.assert_allclose(w2, rw, rtol=1e-12)
    np.testing.assert_allclose(m2, rm, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c2, rc, rtol=1e-10)


@pytest.mark.parametrize("init", ["random", "random_from_data"])
@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_threads_bit_identical(rng, init, covariance_type):
    X = blobs(rng, n=6000, d=4, k=5)
    runs = [
        dc.gaussian_mixture(X, 5, covariance_type=covariance_type, init=init, seed=3, tol=1e-9, max_iter=30, n_threads=t)
        for t in THREAD_COUNTS
    ]
    for r in runs[1:]:
        for name in ("weights", "means", "covariances", "precisions_cholesky", "labels"):
            np.testing.assert_array_equal(getattr(r, name), getattr(runs[0], name))
        assert r.log_likelihood == runs[0].log_likelihood and r.n_iter == runs[0].n_iter


def test_random_inits_are_seeded_and_sensible(rng):
    X = blobs(rng, n=900)
    a = dc.gaussian_mixture(X, 3, init="random_from_data", seed=5, n_init=3)
    b = dc.gaussian_mixture(X, 3, init="random_from_data", seed=5, n_init=3)
    np.testing.assert_array_equal(a.means, b.means)
    assert a.log_likelihood == b.log_likelihood
    # the fit is a local maximum that scikit-learn's EM cannot improve: one more step of
    # scikit-learn from our parameters changes the lower bound by less than tol
    for init in ("random", "random_from_data"):
        r = dc.gaussian_mixture(X, 3, init=init, seed=1, tol=1e-6, max_iter=500)
        assert r.converged
        gm = mixture.GaussianMixture(
            3, weights_init=r.weights, means_init=r.means,
            precisions_init=np.linalg.inv(r.covariances), max_iter=500, tol=1e-6,
        ).fit(X)
        assert gm.lower_bound_ == pytest.approx(r.log_likelihood, abs=1e-5)


def test_n_init_keeps_the_best(rng):
    X = blobs(rng, n=900)
    single = [dc.gaussian_mixture(X, 3, init="random", seed=s).log_likelihood for s in range(4)]
    best = dc.gaussian_mixture(X, 3, init="random", seed=np.random.default_rng(0), n_init=6)
    assert best.log_likelihood >= min(single) - 1e-9


def test_float32(rng):
    X = blobs(rng, n=800).astype(np.float32)
    w, m, P = starting_parameters(rng, X.astype(np.float64), 3, "full")
    r32 = dc.gaussian_mixture(X, 3, weights_init=w, means_init=m, precisions_init=P, n_threads=2)
    r64 = dc.gaussian_mixture(X.astype(np.float64), 3, weights_init=w, means_init=m, precisions_init=P)
    for name in ("weights", "means", "covariances", "precisions_cholesky"):
        got = getattr(r32, name)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, getattr(r64, name).astype(np.float32))  # computed in float64
    np.testing.assert_array_equal(r32.labels, r64.labels)
    assert r32.log_likelihood == r64.log_likelihood


def test_max_iter_zero_returns_the_start(rng):
    X = blobs(rng)
    w, m, P = starting_parameters(rng, X, 3, "full")
    r = dc.gaussian_mixture(X, 3, weights_init=w, means_init=m, precisions_init=P, max_iter=0)
    np.testing.assert_allclose(r.weights, w)
    np.testing.assert_allclose(r.means, m)
    np.testing.assert_allclose(r.covariances, np.linalg.inv(P), rtol=1e-10)
    assert r.n_iter == 0 and not r.converged and r.log_likelihood == -np.inf


def test_k_equals_one_is_the_sample_mean_and_covariance(rng):
    X = blobs(rng, n=300)
    for covariance_type in COV_TYPES:
        r = dc.gaussian_mixture(X, 1, covariance_type=covariance_type, init="random", seed=0, reg_covar=1e-3)
        np.testing.assert_allclose(r.weights, [1.0])
        np.testing.assert_allclose(r.means[0], X.mean(0), rtol=1e-12, atol=1e-12)
        cov = np.cov(X.T, bias=True) + 1e-3 * np.eye(3)
        expect = {"full": cov[None], "tied": cov, "diag": np.diag(cov)[None], "spherical": [np.diag(cov).mean()]}
        np.testing.assert_allclose(r.covariances, expect[covariance_type], rtol=1e-10)
        assert (r.labels == 0).all() and r.converged


def test_duplicate_points(rng):
    X = np.repeat(rng.normal(size=(4, 2)), 25, axis=0)
    r = dc.gaussian_mixture(X, 4, covariance_type="diag", init="random_from_data", seed=2, reg_covar=1e-4)
    assert np.isfinite(r.log_likelihood)
    assert len(np.unique(r.labels)) >= 1
    same = np.full((40, 3), 2.5)
    r1 = dc.gaussian_mixture(same, 1, init="random", seed=0)
    np.testing.assert_allclose(r1.covariances, 1e-6 * np.eye(3)[None], rtol=1e-9)
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        dc.gaussian_mixture(same, 2, init="random", seed=0, reg_covar=0.0)


def test_k_equals_n(rng):
    X = rng.normal(size=(6, 2))
    r = dc.gaussian_mixture(X, 6, covariance_type="spherical", init="random_from_data", seed=0, max_iter=5)
    np.testing.assert_allclose(np.sort(r.weights), np.full(6, 1 / 6), rtol=1e-6)


def test_errors_name_the_argument(rng):
    X = blobs(rng, n=50)
    with pytest.raises(ValueError, match="covariance_type"):
        dc.gaussian_mixture(X, 2, covariance_type="banana")
    with pytest.raises(ValueError, match="init must be one of"):
        dc.gaussian_mixture(X, 2, init="kmeans")
    with pytest.raises(ValueError, match=r"k must be in \[1, n\]"):
        dc.gaussian_mixture(X, 51)
    with pytest.raises(TypeError, match="k must be an integer"):
        dc.gaussian_mixture(X, 2.5)
    with pytest.raises(ValueError, match="max_iter"):
        dc.gaussian_mixture(X, 2, max_iter=-1)
    with pytest.raises(ValueError, match="n_init"):
        dc.gaussian_mixture(X, 2, n_init=0)
    with pytest.raises(ValueError, match="tol"):
        dc.gaussian_mixture(X, 2, tol=-1.0)
    with pytest.raises(ValueError, match="reg_covar"):
        dc.gaussian_mixture(X, 2, reg_covar=float("nan"))
    with pytest.raises(TypeError, match="tol"):
        dc.gaussian_mixture(X, 2, tol="small")
    with pytest.raises(ValueError, match="X contains NaN"):
        dc.gaussian_mixture(np.full((5, 2), np.nan), 2)
    with pytest.raises(ValueError, match="X must have 2 dimensions"):
        dc.gaussian_mixture(np.ones(5), 2)
    with pytest.raises(ValueError, match=r"weights_init must have shape \(2,\)"):
        dc.gaussian_mixture(X, 2, init="random", weights_init=[1.0])
    with pytest.raises(ValueError, match="weights_init must sum to 1"):
        dc.gaussian_mixture(X, 2, init="random", weights_init=[0.5, 0.6])
    with pytest.raises(ValueError, match=r"means_init must have shape \(2, 3\)"):
        dc.gaussian_mixture(X, 2, init="random", means_init=np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"precisions_init\[1\] is not symmetric positive definite"):
        dc.gaussian_mixture(X, 2, init="random", precisions_init=np.stack([np.eye(3), -np.eye(3)]))
    with pytest.raises(ValueError, match=r"precisions_init\[0\] is not symmetric"):
        P = np.stack([np.eye(3), np.eye(3)])
        P[0, 0, 1] = 0.5
        dc.gaussian_mixture(X, 2, init="random", precisions_init=P)
    with pytest.raises(ValueError, match="precisions_init.*positive"):
        dc.gaussian_mixture(X, 2, covariance_type="spherical", init="random", precisions_init=[1.0, 0.0])
    with pytest.raises(TypeError, match="seed"):
        dc.gaussian_mixture(X, 2, init="random", seed="x")


@pytest.mark.parametrize("init", ["k-means", "k-means++"])
@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_kmeans_inits(rng, init, covariance_type):
    X = blobs(rng, n=600)
    # the responsibilities scikit-learn builds for init_params="kmeans" / "k-means++",
    # from our k-means: the labels of one k-means run, or one-hot rows at the seeds
    seed = int(np.random.default_rng(4).integers(0, 2**63))
    if init == "k-means":
        resp, labels = np.eye(3)[dc.kmeans(X, 3, n_init=1, seed=seed).labels], None
    else:
        labels = np.full(600, -1)
        labels[dc.kmeans_plusplus(X, 3, seed=seed)[1]] = np.arange(3)
        resp = None
    w, m, c, _ = _core.gmm_init_f64(X, 3, covariance_type, resp, labels, 1e-6, 1)
    P = {"full": lambda: np.linalg.inv(c), "tied": lambda: np.linalg.inv(c)}.get(covariance_type, lambda: 1 / c)()
    gm, expect = sklearn_fit(X, 3, covariance_type, w, m, P, max_iter=100)
    ours = dc.gaussian_mixture(X, 3, covariance_type=covariance_type, init=init, seed=4)
    assert_same_fit(ours, gm, expect, rtol=1e-6)


def test_result_repr_and_ownership(rng):
    X = blobs(rng, n=100)
    X0 = X.copy()
    r = dc.gaussian_mixture(X, 3, init="random", seed=0)
    text = repr(r)
    assert text.startswith("MixtureResult(n=100, k=3") and "float64[3, 3, 3]" in text
    np.testing.assert_array_equal(X, X0)  # input untouched
    assert r.means.flags.writeable and r.means.flags.owndata
