"""diffclust.sklearn.GaussianMixture: scikit-learn's estimator checks, and the same
fit and the same methods' values as sklearn.mixture.GaussianMixture from the same start."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn import mixture
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

import diffclust as dc
from diffclust.sklearn import GaussianMixture

COV_TYPES = ("full", "tied", "diag", "spherical")

ESTIMATORS = [
    GaussianMixture(init_params="random_from_data", random_state=0),
    GaussianMixture(n_components=2, covariance_type="diag", init_params="random", n_init=2, random_state=0),
    GaussianMixture(n_components=2, covariance_type="tied", init_params="random_from_data", random_state=1),
]
if hasattr(dc, "kmeans"):
    ESTIMATORS.append(GaussianMixture())


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check, monkeypatch):
    # scikit-learn >= 1.8 also runs its array-API check with NumPy input, and skips it
    # unless SCIPY_ARRAY_API is set (the check itself only reads the variable)
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # as in scikit-learn's own check run
        check(estimator)


def data(rng, n=500, d=3):
    centers = rng.normal(0, 4, (3, d))
    X = centers[np.arange(n) % 3] + rng.normal(size=(n, d)) * rng.uniform(0.5, 1.5, d)
    return X


def start(rng, X, k, covariance_type):
    d = X.shape[1]
    w = rng.dirichlet(np.full(k, 4.0))
    m = X[rng.choice(len(X), k, replace=False)]
    P = {
        "full": np.stack([np.eye(d) * s for s in rng.uniform(0.3, 1.0, k)]),
        "tied": np.eye(d) * 0.5,
        "diag": rng.uniform(0.3, 1.0, (k, d)),
        "spherical": rng.uniform(0.3, 1.0, k),
    }[covariance_type]
    return {"weights_init": w, "means_init": m, "precisions_init": P}


def both(covariance_type, init, **kw):
    ours = GaussianMixture(3, covariance_type=covariance_type, random_state=0, **init, **kw)
    ref = mixture.GaussianMixture(3, covariance_type=covariance_type, random_state=0, **init, **kw)
    return ours, ref


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_same_fit_and_methods_as_sklearn(rng, covariance_type):
    X = data(rng)
    Y = data(rng, n=80) * 1.3
    ours, ref = both(covariance_type, start(rng, X, 3, covariance_type), max_iter=200, tol=1e-6)
    labels = ours.fit_predict(X)
    np.testing.assert_array_equal(labels, ref.fit_predict(X))
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(ours, name), getattr(ref, name), rtol=1e-7, atol=1e-10, err_msg=name)
    assert ours.n_iter_ == ref.n_iter_ and ours.converged_ == ref.converged_
    assert ours.lower_bound_ == pytest.approx(ref.lower_bound_, rel=1e-10)
    assert ours.n_features_in_ == 3
    np.testing.assert_array_equal(ours.predict(Y), ref.predict(Y))
    np.testing.assert_allclose(ours.predict_proba(Y), ref.predict_proba(Y), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(ours.score_samples(Y), ref.score_samples(Y), rtol=1e-8)
    assert ours.score(Y) == pytest.approx(ref.score(Y), rel=1e-8)
    assert ours.bic(Y) == pytest.approx(ref.bic(Y), rel=1e-8)
    assert ours.aic(Y) == pytest.approx(ref.aic(Y), rel=1e-8)
    Xs, ys = ours.sample(300)
    Xr, yr = ref.sample(300)
    np.testing.assert_array_equal(ys, yr)
    np.testing.assert_allclose(Xs, Xr, rtol=1e-6, atol=1e-8)
    # the density is the one gmm_nll evaluates
    np.testing.assert_allclose(
        -ours.score_samples(Y),
        dc.gmm_nll_samples(Y, ours.weights_, ours.means_, ours.covariances_, covariance_type=covariance_type),
        rtol=1e-9,
    )


def test_warm_start_and_convergence_warning(rng):
    X = data(rng)
    init = start(rng, X, 3, "full")
    ours, ref = both("full", init, max_iter=2, warm_start=True, tol=1e-9)
    for _ in range(3):
        with pytest.warns(ConvergenceWarning, match="did not converge"):
            ours.fit(X)
        with pytest.warns(ConvergenceWarning):
            ref.fit(X)
        np.testing.assert_allclose(ours.means_, ref.means_, rtol=1e-8)
        assert ours.lower_bound_ == pytest.approx(ref.lower_bound_, rel=1e-10)
    ours.set_params(max_iter=500, tol=1e-3)
    ref.set_params(max_iter=500, tol=1e-3)
    ours.fit(X)
    ref.fit(X)
    assert ours.n_iter_ == ref.n_iter_ and ours.converged_


def test_float32_threads_and_errors(rng):
    X = data(rng).astype(np.float32)
    fits = [GaussianMixture(3, init_params="random", random_state=2, n_threads=t).fit(X) for t in (1, 2, 3, 7)]
    for f in fits[1:]:
        np.testing.assert_array_equal(f.means_, fits[0].means_)
    assert fits[0].means_.dtype == np.float32
    assert fits[0].predict_proba(X).dtype == np.float32
    with pytest.raises(ValueError, match="init_params"):
        GaussianMixture(init_params="bogus").fit(X)
    with pytest.raises(ValueError, match="n_components"):
        GaussianMixture(n_components=0).fit(X)
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        GaussianMixture(n_components=9, init_params="random").fit(X[:5])
    with pytest.raises(ValueError, match="covariance_type"):
        GaussianMixture(covariance_type="round", init_params="random").fit(X)
    with pytest.raises(ValueError, match="n_samples"):
        fits[0].sample(0)


def _masked(text):
    # the time lapses differ from run to run, the printed changes may differ in the last
    # digit (or in the sign of a zero); everything else must be scikit-learn's
    return re.sub(r"ll change \S+", "ll change C", re.sub(r"time lapse [0-9.]+s", "time lapse Ts", text))


def _changes(text):
    return [float(v) for v in re.findall(r"ll change (\S+)", text)]


@pytest.mark.parametrize("verbose", [0, 1, 2])
def test_lower_bounds_and_verbose_like_sklearn(rng, capsys, verbose):
    X = data(rng)
    init = start(rng, X, 3, "diag")
    ours, ref = both("diag", init, max_iter=200, tol=1e-8, verbose=verbose, verbose_interval=3)
    ours.fit(X)
    out_ours = capsys.readouterr().out
    ref.fit(X)
    out_ref = capsys.readouterr().out
    assert len(ours.lower_bounds_) == len(ref.lower_bounds_) == ours.n_iter_ > 3
    np.testing.assert_allclose(ours.lower_bounds_, ref.lower_bounds_, rtol=1e-10)
    assert ours.lower_bounds_[-1] == ours.lower_bound_
    assert np.all(np.diff(ours.lower_bounds_) > -1e-9)  # EM never lowers the likelihood
    assert _masked(out_ours) == _masked(out_ref)
    np.testing.assert_allclose(_changes(out_ours), _changes(out_ref), atol=2e-5)
    assert (out_ours == "") == (verbose == 0)
    # a warm start continues from the fitted bound: its first change is against it
    ours.set_params(warm_start=True, max_iter=4, tol=0.0)
    ref.set_params(warm_start=True, max_iter=4, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X)
        out_ours = capsys.readouterr().out
        ref.fit(X)
        out_ref = capsys.readouterr().out
    np.testing.assert_allclose(ours.lower_bounds_, ref.lower_bounds_, rtol=1e-10)
    assert _masked(out_ours) == _masked(out_ref)
    np.testing.assert_allclose(_changes(out_ours), _changes(out_ref), atol=2e-5)


def test_lower_bounds_max_iter_zero_and_verbose_errors(rng):
    X = data(rng, n=60)
    # (scikit-learn cannot take max_iter=0 with precisions_init: no covariances_ then)
    ours, ref = both("full", {"init_params": "random_from_data"}, max_iter=0, verbose=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X)
        ref.fit(X)
    assert ours.lower_bounds_ == ref.lower_bounds_ == []
    with pytest.raises(ValueError, match="verbose_interval"):
        GaussianMixture(verbose_interval=0, init_params="random").fit(X)
    with pytest.raises(ValueError, match="verbose"):
        GaussianMixture(verbose=-1, init_params="random").fit(X)
    with pytest.raises(TypeError, match="verbose"):
        GaussianMixture(verbose="loud", init_params="random").fit(X)
