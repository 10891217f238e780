"""Clustering losses: k-means, Gaussian mixtures, graph cuts and DEC.

Each loss is a C++ kernel that releases the GIL and gives the same result for any
``n_threads``. The graph losses take a dense NumPy affinity or any scipy.sparse
matrix; scipy is only imported by the caller (numpy is the one runtime dependency).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _ops
from ._results import TupleResult
from ._validation import resolve_threads

__all__ = [
    "DECLoss",
    "SoftNcut",
    "dec_loss",
    "gmm_nll",
    "gmm_nll_samples",
    "kmeans_loss",
    "ncut",
    "ratio_cut",
    "soft_ncut",
]


# --------------------------------------------------------------------------- k-means


def kmeans_loss(
    X: ArrayLike,
    centers: ArrayLike,
    labels: ArrayLike | None = None,
    *,
    n_threads: int | None = None,
) -> float:
    """k-means loss (inertia): the sum of squared distances to the centers.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Points, float32 or float64 (accumulated in float64).
    centers : array_like, shape (k, d)
        Cluster centers.
    labels : array_like of int, shape (n,), optional
        If given, the center of each point (values in [0, k)): the loss is the
        distortion of that assignment. If None, each point goes to its nearest
        center, which is ``sklearn.cluster.KMeans.inertia_`` for the fitted
        ``cluster_centers_``.
    n_threads : int, optional
        Threads over the points; the result never depends on it.

    Returns
    -------
    float
        ``sum_i ||x_i - c_{l_i}||^2``.

    Raises
    ------
    ValueError
        Wrong shapes, an empty X or centers, NaN or infinity, labels of the wrong length.
    IndexError
        A label outside [0, k).
    TypeError
        Non-real X or centers, labels that are neither integers nor whole-number floats.
    """
    return _ops.kmeans_loss(X, centers, labels, resolve_threads(n_threads))


# --------------------------------------------------------------------------- Gaussian mixtures


def gmm_nll(
    X: ArrayLike,
    weights: ArrayLike,
    means: ArrayLike,
    covariances: ArrayLike,
    *,
    covariance_type: str = "full",
    n_threads: int | None = None,
) -> float:
    """Mean negative log-likelihood of X under a Gaussian mixture.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Samples, float32 or float64 (computed in float64).
    weights : array_like, shape (k,)
        Mixing weights: non-negative, summing to 1 within 1e-6 (used as given).
        A component of weight 0 is ignored.
    means : array_like, shape (k, d)
        Component means.
    covariances : array_like
        As ``sklearn.mixture.GaussianMixture.covariances_``: shape (k, d, d) for
        ``"full"``, (d, d) for ``"tied"``, (k, d) for ``"diag"`` (variances), (k,)
        for ``"spherical"`` (one variance per component). Symmetric positive definite.
    covariance_type : {"full", "tied", "diag", "spherical"}
        Parametrisation of ``covariances``.
    n_threads : int, optional
        Threads over the samples; the result never depends on it.

    Returns
    -------
    float
        ``-(1/n) sum_i log sum_j w_j N(x_i; mu_j, Sigma_j)``, which equals
        ``-GaussianMixture.score(X)`` for a fitted mixture's ``weights_``, ``means_``
        and ``covariances_``.

    Raises
    ------
    ValueError
        Wrong shapes, NaN or infinity, negative weights or weights not summing to 1,
        an unknown covariance_type, or a covariance that is not symmetric positive
        definite (the message names ``covariances[j]``).
    TypeError
        Non-real input.

    See Also
    --------
    gmm_nll_samples : the per-sample values.

    Notes
    -----
    Each component is evaluated through the Cholesky factor L of its covariance
    (``log N = -(d log 2 pi + 2 sum log L_tt + ||L^-1 (x - mu)||^2) / 2``) and the
    mixture by log-sum-exp, so points far from every component give large finite
    values, never NaN (``inf`` only if the squared distance itself overflows).
    """
    return _ops.gmm_nll(X, weights, means, covariances, covariance_type, False, resolve_threads(n_threads))[0]


def gmm_nll_samples(
    X: ArrayLike,
    weights: ArrayLike,
    means: ArrayLike,
    covariances: ArrayLike,
    *,
    covariance_type: str = "full",
    n_threads: int | None = None,
) -> NDArray[np.floating[Any]]:
    """Per-sample negative log-likelihood under a Gaussian mixture.

    Same parameters and errors as :func:`gmm_nll`.

    Returns
    -------
    ndarray, shape (n,)
        In the dtype of X (computed in float64). ``-log p(x_i)``: equals ``-GaussianMixture.score_samples(X)``; its mean is
        ``gmm_nll``.
    """
    _, samples = _ops.gmm_nll(X, weights, means, covariances, covariance_type, True, resolve_threads(n_threads))
    assert samples is not None  # asked for
    return samples


# --------------------------------------------------------------------------- graph cuts


def _cuts(W: Any, labels: ArrayLike, n_threads: int | None) -> tuple[float, float]:
    return _ops.graph_cuts(W, labels, resolve_threads(n_threads))


def ncut(W: Any, labels: ArrayLike, *, n_threads: int | None = None) -> float:
    """Normalized cut of a partition of a weighted graph (Shi and Malik).

    Parameters
    ----------
    W : array_like of shape (n, n), or scipy.sparse matrix
        Non-negative affinities. Dense float32/float64 arrays are read in place;
        CSR matrices too (int32 or int64 indices); other sparse formats are first
        converted with ``W.tocsr()``. Used as given: degrees are row sums, and the
        diagonal (self-loops) counts in degrees but never in a cut.
    labels : array_like of int, shape (n,)
        Cluster of each vertex; any integer values (each distinct value is a cluster).
    n_threads : int, optional
        Threads over the rows of W; the result never depends on it.

    Returns
    -------
    float
        ``sum_c cut(A_c) / vol(A_c)`` over the clusters A_c, where
        ``cut(A) = sum_{i in A, j not in A} W_ij`` and ``vol(A) = sum_{i in A} d_i``,
        ``d_i = sum_j W_ij``. A cluster of volume 0 (isolated vertices) adds 0.
        Equals ``k - sum_c W(A_c, A_c) / vol(A_c)`` and ``tr(H^T (D - W) H)`` for the
        normalized indicators ``H_ic = [i in A_c] / sqrt(vol(A_c))``.

    Raises
    ------
    ValueError
        W not square, empty, with NaN/inf or a negative affinity (the message gives
        the entry); labels of the wrong length; a malformed CSR index pointer.
    IndexError
        A CSR column index outside [0, n).
    TypeError
        Non-real W, labels that are neither integers nor whole-number floats.

    References
    ----------
    J. Shi and J. Malik. Normalized cuts and image segmentation. IEEE TPAMI 22(8), 2000.
    U. von Luxburg. A tutorial on spectral clustering. Statistics and Computing 17, 2007.
    """
    return _cuts(W, labels, n_threads)[0]


def ratio_cut(W: Any, labels: ArrayLike, *, n_threads: int | None = None) -> float:
    """Ratio cut of a partition of a weighted graph (Hagen and Kahng).

    Same parameters and errors as :func:`ncut`.

    Returns
    -------
    float
        ``sum_c cut(A_c) / |A_c|`` with ``cut(A) = sum_{i in A, j not in A} W_ij``.

    References
    ----------
    L. Hagen and A. B. Kahng. New spectral methods for ratio cut partitioning and
    clustering. IEEE TCAD 11(9), 1992.
    """
    return _cuts(W, labels, n_threads)[1]


@dataclass(frozen=True, eq=False, repr=False)
class SoftNcut(TupleResult):
    """Value and gradient of :func:`soft_ncut`; unpacks as ``value, grad``."""

    value: float
    grad: NDArray[np.floating[Any]]

    _unpack = ("value", "grad")


def soft_ncut(W: Any, P: ArrayLike, *, n_threads: int | None = None) -> SoftNcut:
    """Relaxed normalized cut of a soft assignment, with its gradient.

    Parameters
    ----------
    W : array_like of shape (n, n), or scipy.sparse matrix
        Non-negative affinities, as for :func:`ncut`.
    P : array_like, shape (n, k)
        Soft assignment: non-negative, typically each row on the simplex (softmax
        outputs). Column c is the soft indicator P_c of cluster c.
    n_threads : int, optional
        Threads over the rows of W; the result never depends on it.

    Returns
    -------
    SoftNcut
        Unpacks as ``(value, grad)``:

        ``value = sum_c (P_c^T d - P_c^T W P_c) / P_c^T d = k - sum_c P_c^T W P_c / P_c^T d``

        with d = W 1 the degrees (the soft Ncut loss of Xia and Kulis, W-Net). For a
        one-hot P (a hard labelling with k non-empty clusters) it equals
        :func:`ncut` exactly (the same sums in the same order). A column with
        ``P_c^T d = 0`` adds 0 (the second form assumes every ``P_c^T d > 0``).

        ``grad`` (n, k), a new writable array in the dtype of P (computed in
        float64), is d value / d P:
        ``grad_ic = -((W + W^T) P)_ic / v_c + a_c d_i / v_c^2`` with
        ``v_c = P_c^T d`` and ``a_c = P_c^T W P_c`` (0 for a column with v_c = 0).

    Raises
    ------
    ValueError
        The conditions of :func:`ncut` for W; P not 2-d, without n rows, with NaN,
        inf or negative entries.
    TypeError
        Non-real W or P.

    Notes
    -----
    The numerator is summed as ``sum_ij W_ij P_ic (1 - P_jc)``, free of the
    cancellation in ``v_c - a_c``. Cost O(nnz k) (O(n^2 k) dense), threaded by rows,
    except the ``W^T P`` term of a sparse W: one serial scatter over the entries (a
    second pass over W, like ``W.T @ P`` in scipy; no transpose is built).

    References
    ----------
    X. Xia and B. Kulis. W-Net: A deep model for fully unsupervised image
    segmentation. arXiv 1711.08506, 2017.
    """
    return SoftNcut(*_ops.soft_ncut(W, P, resolve_threads(n_threads)))


# --------------------------------------------------------------------------- DEC


@dataclass(frozen=True, eq=False, repr=False)
class DECLoss(TupleResult):
    """Value and gradients of :func:`dec_loss`; unpacks as ``loss, grad_Z, grad_centers``."""

    loss: float
    grad_Z: NDArray[np.floating[Any]]
    grad_centers: NDArray[np.floating[Any]]

    _unpack = ("loss", "grad_Z", "grad_centers")


def dec_loss(
    Z: ArrayLike,
    centers: ArrayLike,
    *,
    alpha: float = 1.0,
    target: ArrayLike | None = None,
    n_threads: int | None = None,
) -> DECLoss:
    """Deep Embedded Clustering loss KL(P || Q) and its gradients.

    Parameters
    ----------
    Z : array_like, shape (n, d)
        Embedded points.
    centers : array_like, shape (k, d)
        Cluster centers mu_j.
    alpha : float, default 1.0
        Degrees of freedom of the Student-t kernel, > 0.
    target : array_like, shape (n, k), optional
        The target distribution P (non-negative; rows normally sum to 1). None
        computes DEC's target from Q, held fixed (no gradient flows through it).
    n_threads : int, optional
        Threads over the points; the result never depends on it.

    Returns
    -------
    DECLoss
        Unpacks as ``(loss, grad_Z, grad_centers)`` (new writable arrays in the
        dtypes of Z and centers, computed in float64) with

        - ``q_ij = (1 + ||z_i - mu_j||^2 / alpha)^(-(alpha+1)/2)``, normalised over j;
        - ``p_ij = (q_ij^2 / f_j) / sum_j' (q_ij'^2 / f_j')``, ``f_j = sum_i q_ij``
          (when ``target`` is None);
        - ``loss = KL(P || Q) = sum_i sum_j p_ij log(p_ij / q_ij)``: a **sum** over
          samples, as in the DEC paper (divide by n for a per-sample mean);
        - ``grad_Z[i] = (alpha+1)/alpha sum_j (p_ij - s_i q_ij) (z_i - mu_j) / u_ij``,
        - ``grad_centers[j] = -(alpha+1)/alpha sum_i (p_ij - s_i q_ij) (z_i - mu_j) / u_ij``,

        where ``u_ij = 1 + ||z_i - mu_j||^2 / alpha`` and ``s_i = sum_j p_ij`` (1 for
        DEC's target, which gives the paper's equations 4 and 5).

    Raises
    ------
    ValueError
        Wrong shapes, empty input, NaN or infinity, alpha <= 0, a negative target.
    TypeError
        Non-real input or alpha.
    OverflowError
        If a squared distance ``||z_i - mu_j||^2 / alpha`` overflows float64.

    Notes
    -----
    Q and P are computed in log space (log1p and log-sum-exp), so points far from
    every center keep a finite loss and gradient. Terms with p_ij = 0 add 0.

    References
    ----------
    J. Xie, R. Girshick, A. Farhadi. Unsupervised deep embedding for clustering
    analysis. ICML 2016.
    """
    return DECLoss(*_ops.dec_loss(Z, centers, alpha, target, resolve_threads(n_threads)))
