"""Pairwise distances and the silhouette.

Metric names and conventions follow scikit-learn, so these are drop-in
replacements for ``sklearn.metrics.pairwise_distances``,
``sklearn.metrics.silhouette_samples`` and ``sklearn.metrics.silhouette_score``:

- ``"sqeuclidean"``: ``||x||^2 + ||y||^2 - 2 <x, y>``, clamped at 0;
- ``"euclidean"`` (alias ``"l2"``, the default of :func:`pairwise_distances`): its
  square root;
- ``"manhattan"`` (aliases ``"cityblock"``, ``"l1"``): ``sum_k |x_k - y_k|``;
- ``"cosine"``: ``1 - <x, y> / (||x|| ||y||)`` clipped to [0, 2]; a zero vector
  has distance 1 to every vector (itself included, unless on the diagonal of
  ``pairwise_distances(X)``).

All arithmetic is in float64, also for float32 input (rounded once on output).

Block-wise form (for distributed engines): the distances of a block of rows
against the whole set are ``pairwise_distances(X[rows], X)``; a Dask array can be
built with ``X_dask.map_blocks(lambda b: pairwise_distances(b, X), chunks=...)``,
and per-block silhouette sums reduce the same way. Results do not depend on the
blocking: every entry is computed by the same arithmetic whichever block holds it,
and identical points are at distance exactly 0 (for cosine, a product within
2**-20 of 1 is divided by ``sqrt(q_x q_y)``, q being each row's product with
itself, summed the same way), so the block rows equal the rows of
``pairwise_distances(X)`` bit for bit, diagonal included. The one exception is
the zero vector under cosine (scikit-learn's convention above): 1 against itself
in a block, 0 on the diagonal of ``pairwise_distances(X)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _ops
from ._validation import OutputTooLargeError, resolve_threads

__all__ = ["OutputTooLargeError", "pairwise_distances", "silhouette_samples", "silhouette_score"]


def pairwise_distances(
    X: ArrayLike,
    Y: ArrayLike | None = None,
    *,
    metric: str = "euclidean",
    n_threads: int | None = None,
) -> NDArray[np.floating[Any]]:
    """Distances between the rows of X and the rows of Y.

    Parameters
    ----------
    X : array_like, shape (n_x, d)
        Points, float32 or float64 (other real dtypes become float64). A
        C-contiguous float array is read in place and never modified.
    Y : array_like, shape (n_y, d), optional
        Second set of points. None means X; then the diagonal is exactly 0, as
        scikit-learn sets it. If X and Y differ in dtype both become float64.
    metric : {"euclidean", "sqeuclidean", "manhattan", "cosine"}, default "euclidean"
        As in ``sklearn.metrics.pairwise_distances``, whose default this is
        (also accepted: ``"l2"``, ``"cityblock"``, ``"l1"``).
    n_threads : int, optional
        Threads. None means ``DIFFCLUST_NUM_THREADS``, else ``OMP_NUM_THREADS``,
        else the usable cores. The result never depends on it.

    Returns
    -------
    ndarray, shape (n_x, n_y)
        Distances, in the dtype of the input.

    Raises
    ------
    ValueError
        Wrong ndim, empty input, NaN or infinity, X and Y with different numbers
        of features, an unknown metric.
    TypeError
        Non-real input or a metric that is not a string.
    MemoryError
        (:class:`OutputTooLargeError`, also a ``ValueError``) if the output would
        exceed physical memory; checked before allocating.

    Notes
    -----
    Cache blocks of rows and columns are computed by a register-tiled
    micro-kernel (6 x 8 tiles) compiled for AVX-512, AVX2 and baseline x86-64
    and chosen at load time. sqeuclidean, euclidean and cosine go through the
    Gram trick (norms plus dot products), like scikit-learn; so a squared
    distance carries an absolute rounding error of about
    ``eps * (||x||^2 + ||y||^2)``, which is large relative to distances between
    nearly identical points (it is clamped at 0, never negative). manhattan is
    summed directly. Everything is accumulated in float64; float32 input is
    rounded once on output.

    The block-wise form needed by distributed engines is
    ``pairwise_distances(X[rows], X)``.

    References
    ----------
    scikit-learn, ``sklearn.metrics.pairwise_distances``.
    K. Goto, R. van de Geijn. Anatomy of high-performance matrix multiplication.
    ACM TOMS 34(3), 2008 (the packing and register tiling).
    """
    return _ops.pairwise_distances(X, Y, metric, resolve_threads(n_threads))


def silhouette_samples(
    X: ArrayLike,
    labels: ArrayLike,
    *,
    metric: str = "euclidean",
    n_threads: int | None = None,
) -> NDArray[np.floating[Any]]:
    """Silhouette coefficient of every point (exact).

    ``s_i = (b_i - a_i) / max(a_i, b_i)``, where ``a_i`` is the mean distance from
    i to the other points of its cluster and ``b_i`` the smallest mean distance
    from i to the points of another cluster; ``s_i = 0`` if i is alone in its
    cluster. Same definition as ``sklearn.metrics.silhouette_samples``.

    Parameters
    ----------
    X : array_like, shape (n, d) or (n, n)
        Points, or with ``metric="precomputed"`` a dissimilarity matrix (finite,
        non-negative, zero diagonal; row i holds the distances from point i).
    labels : array_like of int, shape (n,)
        Cluster of each point; any integer values, or floats that are whole
        numbers (they are mapped to 0..k-1).
    metric : {"euclidean", "sqeuclidean", "manhattan", "cosine", "precomputed"}
        As in :func:`pairwise_distances`.
    n_threads : int, optional
        Threads; the result never depends on it.

    Returns
    -------
    ndarray, shape (n,)
        In the dtype of X (float32 for float32 points; computed in float64).

    Raises
    ------
    ValueError
        Wrong shapes, NaN or infinity, labels of the wrong length, a number of
        distinct labels outside [2, n - 1], an unknown metric, a precomputed
        matrix that is not square, has negative entries or a non-zero diagonal.
    TypeError
        Non-real X, or labels that are neither integers nor whole-number floats.

    Notes
    -----
    From points, the points are ordered by cluster and cut into at most 32
    blocks (of 768 points or more). Each pair of blocks is one task: its
    distances are computed once (48 x 256 tiles, as in
    :func:`pairwise_distances`) and summed per cluster along rows and along
    columns, so only half of the n^2 distances are computed, and none is stored.
    Extra memory: the partial sums of each pair of blocks (at most
    n * (32 + k) doubles), one float64 copy of X and a small tile per thread --
    about 12 MB at n = 20000, d = 32, k = 10; O(n (k + d)), never n x n. Sums are
    accumulated in float64 in a fixed order, for float32 input too, so the
    result does not depend on the number of threads.

    References
    ----------
    P. J. Rousseeuw. Silhouettes: a graphical aid to the interpretation and
    validation of cluster analysis. J. Comput. Appl. Math. 20, 1987.
    """
    return _ops.silhouette_samples(X, labels, metric, resolve_threads(n_threads))


def silhouette_score(
    X: ArrayLike,
    labels: ArrayLike,
    *,
    metric: str = "euclidean",
    n_threads: int | None = None,
) -> float:
    """Mean silhouette coefficient over all points.

    Parameters and errors as in :func:`silhouette_samples`.

    Returns
    -------
    float
        ``mean(silhouette_samples(X, labels, metric=metric))``, in [-1, 1]
        (the mean of the float64 coefficients, also for float32 X).

    References
    ----------
    P. J. Rousseeuw. Silhouettes: a graphical aid to the interpretation and
    validation of cluster analysis. J. Comput. Appl. Math. 20, 1987.
    """
    return _ops.silhouette_score(X, labels, metric, resolve_threads(n_threads))
