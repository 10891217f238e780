"""GaussianMixture: scikit-learn's estimator on diffclust's EM kernels."""

from __future__ import annotations

import math
import numbers
import time
import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from .._ops import mixture as _ops_mixture
from .._validation import resolve_threads

__all__ = ["GaussianMixture"]

_INIT_PARAMS = {"kmeans": "k-means", "k-means++": "k-means++", "random": "random", "random_from_data": "random_from_data"}


def _verbosity(verbose: Any, interval: Any) -> tuple[int, int]:
    """Checked (verbose, verbose_interval), with scikit-learn's constraints."""
    if isinstance(verbose, (bool, np.bool_)):
        verbose = int(verbose)
    if not isinstance(verbose, numbers.Integral):
        raise TypeError(f"verbose must be an integer, got {verbose!r}")
    if verbose < 0:
        raise ValueError(f"verbose must be non-negative, got {verbose}")
    if isinstance(interval, (bool, np.bool_)) or not isinstance(interval, numbers.Integral):
        raise TypeError(f"verbose_interval must be an integer, got {interval!r}")
    if interval < 1:
        raise ValueError(f"verbose_interval must be at least 1, got {interval}")
    return int(verbose), int(interval)


def _printer(verbose: int, interval: int, initial_bound: float) -> _ops_mixture.InitReport:
    """scikit-learn's verbose messages for one initialisation, from its EM history."""

    def report(index: int, history: NDArray[np.float64], seconds: NDArray[np.float64], converged: bool,
               total: float) -> None:
        print(f"Initialization {index}")
        lapse = total - float(np.sum(seconds))  # the initialisation before the first iteration
        prev = initial_bound
        for it, (bound, sec) in enumerate(zip(history.tolist(), seconds.tolist()), start=1):
            lapse += sec
            if it % interval == 0:
                if verbose == 1:
                    print(f"  Iteration {it}")
                else:
                    print(f"  Iteration {it}\t time lapse {lapse:.5f}s\t ll change {bound - prev:.5f}")
                lapse = 0.0
            prev = bound
        msg = "converged" if converged else "did not converge"
        if len(history) == 0:
            return  # max_iter = 0: scikit-learn prints no end message either
        if verbose == 1:
            print(f"Initialization {msg}.")
        else:
            print(f"Initialization {msg}. time lapse {total:.5f}s\t lower bound {float(history[-1]):.5f}.")

    return report


class GaussianMixture(DensityMixin, BaseEstimator):  # type: ignore[misc]
    """Gaussian mixture fitted by EM in C++ (scikit-learn's ``GaussianMixture``).

    The parameters, attributes and methods are scikit-learn's; the EM iterations
    run in diffclust's kernels (:func:`diffclust.gaussian_mixture`), which release
    the GIL and give the same result for any ``n_threads``. From the same starting
    parameters (``weights_init``, ``means_init``, ``precisions_init``) it returns
    scikit-learn's fit within floating-point tolerance, with the same labels,
    ``n_iter_`` and ``converged_``.

    Parameters
    ----------
    n_components : int, default 1
        Number of mixture components.
    covariance_type : {"full", "tied", "diag", "spherical"}, default "full"
        Covariance parametrisation.
    tol : float, default 1e-3
        Convergence threshold on the change of the mean log-likelihood.
    reg_covar : float, default 1e-6
        Non-negative regularisation added to the diagonal of the covariances.
    max_iter : int, default 100
        EM iterations at most.
    n_init : int, default 1
        Initialisations tried; the best lower bound is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default "kmeans"
        How the starting responsibilities are made.
    weights_init, means_init, precisions_init : array_like, optional
        Starting weights (k,), means (k, d) and precisions (inverse covariances, in
        the shape of ``covariances_``).
    random_state : int, RandomState or None
        Seeds the initialisation and :meth:`sample`.
    warm_start : bool, default False
        If True, a later ``fit`` starts from the fitted parameters (one initialisation).
    verbose : int, default 0
        1: print the initialisations and every ``verbose_interval``-th iteration;
        2 and more: also the time lapses, the log-likelihood changes and the final
        lower bound (scikit-learn's messages; printed after each initialisation's EM,
        which runs in C++).
    verbose_interval : int, default 10
        Iterations between two messages.
    n_threads : int, optional
        Threads of the kernels (None: diffclust's default).

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_ : ndarray
        The fitted parameters (as scikit-learn's).
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean log-likelihood of the best fit at its last E-step.
    lower_bounds_ : list of float
        The lower bound at every EM iteration of the best fit.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X has feature names.
    """

    weights_: NDArray[Any]
    means_: NDArray[Any]
    covariances_: NDArray[Any]
    precisions_: NDArray[Any]
    precisions_cholesky_: NDArray[Any]
    converged_: bool
    n_iter_: int
    lower_bound_: float
    lower_bounds_: list[float]

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        weights_init: ArrayLike | None = None,
        means_init: ArrayLike | None = None,
        precisions_init: ArrayLike | None = None,
        random_state: Any = None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
        n_threads: int | None = None,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_threads = n_threads

    # ------------------------------------------------------------------ fitting

    def fit(self, X: ArrayLike, y: Any = None) -> GaussianMixture:
        """Estimate the parameters with EM.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Training data.
        y : ignored

        Returns
        -------
        self : GaussianMixture
        """
        self.fit_predict(X, y)
        return self

    def fit_predict(self, X: ArrayLike, y: Any = None) -> NDArray[np.int64]:
        """Estimate the parameters with EM and return the label of each sample.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Training data.
        y : ignored

        Returns
        -------
        labels : ndarray of int64, shape (n_samples,)
            The most probable component of each sample under the fitted model.

        Raises
        ------
        ValueError
            Bad parameters or data (the message names the parameter), fewer samples
            than components, or a covariance that becomes singular.
        """
        if not isinstance(self.init_params, str) or self.init_params not in _INIT_PARAMS:
            raise ValueError(f"init_params must be one of {sorted(_INIT_PARAMS)}, got {self.init_params!r}")
        if isinstance(self.n_components, (bool, np.bool_)) or not isinstance(self.n_components, numbers.Integral):
            raise TypeError(f"n_components must be an integer, got {self.n_components!r}")
        if self.n_components < 1:
            raise ValueError(f"n_components must be at least 1, got {self.n_components}")
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        if X.shape[0] < self.n_components:
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = {self.n_components}, "
                f"n_samples = {X.shape[0]}"
            )
        verbose, interval = _verbosity(self.verbose, self.verbose_interval)
        threads = resolve_threads(self.n_threads)
        warm = bool(self.warm_start) and hasattr(self, "converged_")
        if warm:
            out, history = self._warm_fit(X, threads, verbose, interval)
        else:
            rng = check_random_state(self.random_state)
            seed = np.random.default_rng(int(rng.randint(np.iinfo(np.int32).max)))
            out, history = _ops_mixture.gaussian_mixture(
                X, self.n_components, self.covariance_type, _INIT_PARAMS[self.init_params], self.max_iter,
                self.tol, self.reg_covar, self.n_init, self.weights_init, self.means_init, self.precisions_init,
                seed, threads, _printer(verbose, interval, -np.inf) if verbose else None,
            )
        weights, means, covariances, prec_chol, labels, bound, n_iter, converged = out
        if not converged and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init parameters, or increase "
                "max_iter, tol, or check for degenerate data.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.weights_ = weights
        self.means_ = means
        self.covariances_ = covariances
        self.precisions_cholesky_ = prec_chol
        self.precisions_ = _precisions(prec_chol, self.covariance_type)
        self.converged_ = converged
        self.n_iter_ = n_iter
        self.lower_bound_ = bound
        self.lower_bounds_ = [float(v) for v in history]
        return labels

    def _warm_fit(
        self, X: NDArray[Any], threads: int, verbose: int, interval: int
    ) -> tuple[_ops_mixture.MixtureArrays, NDArray[np.float64]]:
        from .._validation import core_fn

        _ops_mixture.check_covariance_type(self.covariance_type)
        start = time.perf_counter()
        out = core_fn("gmm_fit", X.dtype)(
            np.ascontiguousarray(X), self.covariance_type, np.asarray(self.weights_, dtype=np.float64),
            np.asarray(self.means_, dtype=np.float64), np.asarray(self.precisions_cholesky_, dtype=np.float64),
            int(self.max_iter), float(self.tol), float(self.reg_covar), float(self.lower_bound_), threads,
        )
        w, mu, c, p, lab, bound, n_iter, converged, history, seconds = out
        if verbose:
            _printer(verbose, interval, float(self.lower_bound_))(
                0, history, seconds, bool(converged), time.perf_counter() - start
            )
        if self.max_iter == 0:
            c = self.covariances_
        dt = X.dtype
        return (w.astype(dt), mu.astype(dt), np.asarray(c).astype(dt), p.astype(dt), lab, float(bound),
                int(n_iter), bool(converged)), history

    # ------------------------------------------------------------------ evaluation

    def _predict(self, X: ArrayLike, return_resp: bool) -> tuple[NDArray[np.int64], NDArray[Any], NDArray[Any] | None]:
        check_is_fitted(self)
        Xv = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return _ops_mixture.gmm_predict(
            Xv, self.covariance_type, self.weights_, self.means_, self.precisions_cholesky_, return_resp,
            resolve_threads(self.n_threads),
        )

    def predict(self, X: ArrayLike) -> NDArray[np.int64]:
        """The most probable component of each sample.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of int64, shape (n_samples,)
        """
        return self._predict(X, False)[0]

    def predict_proba(self, X: ArrayLike) -> NDArray[Any]:
        """Posterior probability of each component for each sample.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        resp : ndarray, shape (n_samples, n_components)
        """
        resp = self._predict(X, True)[2]
        assert resp is not None
        return resp

    def score_samples(self, X: ArrayLike) -> NDArray[Any]:
        """Log-likelihood ``log p(x)`` of each sample.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray, shape (n_samples,)
        """
        return self._predict(X, False)[1]

    def score(self, X: ArrayLike, y: Any = None) -> float:
        """Mean log-likelihood of the samples.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        float
        """
        return float(np.mean(self.score_samples(X)))

    def _n_parameters(self) -> int:
        k, d = self.means_.shape
        cov = {"full": k * d * (d + 1) / 2, "diag": k * d, "tied": d * (d + 1) / 2, "spherical": k}
        return int(cov[self.covariance_type] + d * k + k - 1)

    def bic(self, X: ArrayLike) -> float:
        """Bayesian information criterion on X (lower is better).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        float
            ``-2 n score(X) + p log n`` with p free parameters.
        """
        n = np.shape(X)[0]
        return float(-2 * self.score(X) * n + self._n_parameters() * math.log(n))

    def aic(self, X: ArrayLike) -> float:
        """Akaike information criterion on X (lower is better).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        float
            ``-2 n score(X) + 2 p`` with p free parameters.
        """
        return float(-2 * self.score(X) * np.shape(X)[0] + 2 * self._n_parameters())

    def sample(self, n_samples: int = 1) -> tuple[NDArray[Any], NDArray[np.int64]]:
        """Draw samples from the fitted mixture (scikit-learn's recipe and generator).

        Parameters
        ----------
        n_samples : int, default 1

        Returns
        -------
        X : ndarray, shape (n_samples, n_features)
        y : ndarray of int64, shape (n_samples,)
            The component of each sample (grouped by component).
        """
        check_is_fitted(self)
        if isinstance(n_samples, (bool, np.bool_)) or not isinstance(n_samples, numbers.Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}")
        d = self.means_.shape[1]
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, np.asarray(self.weights_, dtype=np.float64))
        means = np.asarray(self.means_, dtype=np.float64)
        cov = np.asarray(self.covariances_, dtype=np.float64)
        if self.covariance_type == "full":
            parts = [rng.multivariate_normal(m, c, int(s)) for m, c, s in zip(means, cov, counts)]
        elif self.covariance_type == "tied":
            parts = [rng.multivariate_normal(m, cov, int(s)) for m, s in zip(means, counts)]
        else:
            parts = [m + rng.standard_normal(size=(int(s), d)) * np.sqrt(c) for m, c, s in zip(means, cov, counts)]
        y = np.concatenate([np.full(int(s), j, dtype=np.int64) for j, s in enumerate(counts)])
        return np.vstack(parts), y


def _precisions(prec_chol: NDArray[Any], covariance_type: str) -> NDArray[Any]:
    if covariance_type == "full":
        return np.asarray(np.einsum("jab,jcb->jac", prec_chol, prec_chol))
    if covariance_type == "tied":
        return np.asarray(prec_chol @ prec_chol.T)
    return np.asarray(prec_chol**2)
