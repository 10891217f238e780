"""Gaussian mixtures fitted by expectation-maximisation.

The EM iterations run in C++ (full, tied, diag and spherical covariances), release
the GIL, and give bit-identical results for any ``n_threads``. The recipe is
scikit-learn's ``GaussianMixture``: the same initialisations, ``reg_covar``, the
same lower bound and stopping rule, so that the same starting parameters give the
same fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._ops import mixture as _ops_mixture
from ._results import Result
from ._validation import resolve_seed, resolve_threads

__all__ = ["MixtureResult", "gaussian_mixture"]


@dataclass(frozen=True, eq=False, repr=False)
class MixtureResult(Result):
    """A Gaussian mixture fitted by :func:`gaussian_mixture`.

    Attributes
    ----------
    weights : ndarray, shape (k,)
        Mixing weights (``GaussianMixture.weights_``).
    means : ndarray, shape (k, d)
        Component means (``means_``).
    covariances : ndarray
        ``covariances_``: (k, d, d) for ``"full"``, (d, d) for ``"tied"``, (k, d) for
        ``"diag"``, (k,) for ``"spherical"``; ``reg_covar`` is included.
    precisions_cholesky : ndarray
        ``precisions_cholesky_``, the same shape: upper-triangular U with
        ``U U^T = covariance^-1`` (full, tied), ``1 / sqrt(variance)`` (diag, spherical).
    labels : ndarray of int64, shape (n,)
        The most probable component of each sample under the returned parameters.
    log_likelihood : float
        Mean log-likelihood per sample at the last E-step, i.e. of the parameters
        before the last M-step (scikit-learn's ``lower_bound_``).
    n_iter : int
        EM iterations of the best initialisation.
    converged : bool
        Whether that initialisation stopped because the lower bound changed by
        less than ``tol``.

    Arrays are in the dtype of X (float32 in, float32 out) and owned by the caller.
    """

    weights: NDArray[np.floating[Any]]
    means: NDArray[np.floating[Any]]
    covariances: NDArray[np.floating[Any]]
    precisions_cholesky: NDArray[np.floating[Any]]
    labels: NDArray[np.int64]
    log_likelihood: float
    n_iter: int
    converged: bool

    def _repr_head(self) -> dict[str, Any]:
        return {"n": int(self.labels.shape[0]), "k": int(self.weights.shape[0])}


def gaussian_mixture(
    X: ArrayLike,
    k: int,
    *,
    covariance_type: str = "full",
    init: str = "k-means++",
    max_iter: int = 100,
    tol: float = 1e-3,
    reg_covar: float = 1e-6,
    n_init: int = 1,
    weights_init: ArrayLike | None = None,
    means_init: ArrayLike | None = None,
    precisions_init: ArrayLike | None = None,
    seed: int | np.random.Generator | None = None,
    n_threads: int | None = None,
) -> MixtureResult:
    """Fit a Gaussian mixture by expectation-maximisation.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Samples, float32 or float64 (accumulated in float64; other real dtypes
        become float64).
    k : int
        Number of components, in [1, n].
    covariance_type : {"full", "tied", "diag", "spherical"}, default "full"
        One full covariance per component, one shared by all, a diagonal per
        component, or one variance per component.
    init : {"k-means++", "k-means", "random", "random_from_data"}, default "k-means++"
        How the starting responsibilities are made, as scikit-learn's
        ``init_params``: "k-means" one-hot from the labels of :func:`kmeans`
        (scikit-learn's default), "k-means++" one-hot at the k seeds of
        :func:`kmeans_plusplus`, "random_from_data" at k distinct random
        samples, "random" uniform random numbers normalised per row. The first
        M-step turns them into weights, means and covariances.
    max_iter : int, default 100
        EM iterations at most (>= 0; 0 returns the starting parameters).
    tol : float, default 1e-3
        Stop once the mean log-likelihood changes by less than ``tol``.
    reg_covar : float, default 1e-6
        Added to the diagonal of every covariance (>= 0).
    n_init : int, default 1
        Initialisations tried; the one with the highest final lower bound is kept
        (the first among equals).
    weights_init : array_like, shape (k,), optional
        Starting weights (in [0, 1], summing to 1); replace those of ``init``.
    means_init : array_like, shape (k, d), optional
        Starting means; replace those of ``init``.
    precisions_init : array_like, optional
        Starting precision matrices (inverse covariances) in the shape of
        ``covariances``, symmetric positive definite (positive for diag and
        spherical). When all three are given, ``init`` and ``seed`` are unused.
    seed : int, numpy.random.Generator or None
        Randomness of the initialisation (same seed, same result).
    n_threads : int, optional
        Threads over the samples; the result never depends on it.

    Returns
    -------
    MixtureResult
        ``weights, means, covariances, precisions_cholesky, labels,
        log_likelihood, n_iter, converged`` as scikit-learn's fitted attributes.

    Raises
    ------
    ValueError
        Bad shapes, NaN or infinity, k outside [1, n], an unknown
        ``covariance_type`` or ``init``, negative ``tol``/``reg_covar``/``max_iter``,
        ``n_init`` < 1, starting weights not on the simplex, starting precisions
        not positive definite, or a covariance that becomes singular during the
        fit (increase ``reg_covar``). Each message names the argument.
    TypeError
        Non-real input, or a non-integer ``k``/``max_iter``/``n_init``.

    Notes
    -----
    One EM iteration is one pass over X: the E-step of a block of rows (Mahalanobis
    distances through the precision Cholesky factor, log-sum-exp) folds the
    responsibilities at once into the sufficient statistics of fixed row chunks,
    which are added in chunk order. The M-step forms the centred covariances from
    statistics taken about the previous means (exact algebra; a second pass about
    the new means is made when the shift is large against the spread). As in
    scikit-learn, every component count gets ``10 eps`` added, weights are
    normalised counts, and ``log_likelihood`` is the mean of ``log p(x_i)``.

    Examples
    --------
    >>> import numpy as np, diffclust
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(0, 1, (200, 2)), rng.normal(6, 1, (200, 2))])
    >>> gm = diffclust.gaussian_mixture(X, 2, init="random_from_data", seed=0)
    >>> sorted(int(v) for v in np.round(gm.means[:, 0]))
    [0, 6]

    References
    ----------
    A. P. Dempster, N. M. Laird, D. B. Rubin. Maximum likelihood from incomplete data
    via the EM algorithm. JRSS B 39(1), 1977.
    """
    threads = resolve_threads(n_threads)
    everything_given = weights_init is not None and means_init is not None and precisions_init is not None
    rng = np.random.default_rng(0 if everything_given else resolve_seed(seed))
    out, _ = _ops_mixture.gaussian_mixture(
        X, k, covariance_type, init, max_iter, tol, reg_covar, n_init, weights_init, means_init,
        precisions_init, rng, threads,
    )
    return MixtureResult(*out)
