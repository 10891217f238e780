"""Pairwise distances and the silhouette.

Metric names and conventions follow scikit-learn, so these are drop-in
replacements for ``sklearn.metrics.pairwise_distances``,
``sklearn.metrics.silhouette_samples`` and ``sklearn.metrics.silhouette_score``:

- ``"sqeuclidean"``: ``||x||^2 + ||y||^2 - 2 <x, y>``, clamped at 0;
- ``"euclidean"`` (alias ``"l2"``): its square root;
- ``"manhattan"`` (aliases ``"cityblock"``, ``"l1"``): ``sum_k |x_k - y_k|``;
- ``"cosine"``: ``1 - <x, y> / (||x|| ||y||)`` clipped to [0, 2]; a zero vector
  has distance 1 to every vector (itself included, unless on the diagonal of
  ``pairwise_distances(X)``).

All arithmetic is in float64, also for float32 input (rounded once on output).

Block-wise form (for distributed engines): the distances of a block of rows
against the whole set are ``pairwise_distances(X[rows], X)``; a Dask array can be
built with ``X_dask.map_blocks(lambda b: pairwise_distances(b, X), chunks=...)``,
and per-block silhouette sums reduce the same way. Results do not depend on the
blocking: every entry is computed by the same arithmetic whichever block holds it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import (
    OutputTooLargeError,
    as_float_array,
    check_finite,
    check_memory,
    core_fn,
    resolve_threads,
)

__all__ = ["OutputTooLargeError", "pairwise_distances", "silhouette_samples", "silhouette_score"]

METRICS = ("sqeuclidean", "euclidean", "manhattan", "cosine")
_ALIASES = {"cityblock": "manhattan", "l1": "manhattan", "l2": "euclidean"}


def check_allocation(shape: tuple[int, ...], dtype: Any, what: str) -> None:
    """Raise :class:`OutputTooLargeError` if an array of ``shape`` would exceed physical memory."""
    nbytes = float(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize
    check_memory(
        nbytes,
        f"{what} of shape {shape} and dtype {np.dtype(dtype)}",
        "work on blocks of rows instead (see the module docstring)",
    )


def _resolve_metric(metric: Any, *, precomputed: bool = False) -> str:
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a string, got {type(metric).__name__}")
    name = _ALIASES.get(metric, metric)
    allowed = METRICS + (("precomputed",) if precomputed else ())
    if name not in allowed:
        raise ValueError(f"metric must be one of {allowed}, got {metric!r}")
    return name


def _points(X: ArrayLike, name: str) -> NDArray[Any]:
    a = as_float_array(X, name, ndims=(2,))
    check_finite(a, name)
    return a


def pairwise_distances(
    X: ArrayLike,
    Y: ArrayLike | None = None,
    *,
    metric: str = "sqeuclidean",
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
    metric : {"sqeuclidean", "euclidean", "manhattan", "cosine"}
        As in ``sklearn.metrics.pairwise_distances`` (also accepted:
        ``"cityblock"``, ``"l1"``, ``"l2"``).
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
    name = _resolve_metric(metric)
    Xa = _points(X, "X")
    Ya: NDArray[Any] | None = None
    if Y is not None:
        Ya = _points(Y, "Y")
        if Ya.shape[1] != Xa.shape[1]:
            raise ValueError(
                f"X and Y must have the same number of features, got X.shape = {Xa.shape} "
                f"and Y.shape = {Ya.shape}"
            )
        if Ya.dtype != Xa.dtype:
            Xa = Xa.astype(np.float64)
            Ya = Ya.astype(np.float64)
    n_y = Xa.shape[0] if Ya is None else Ya.shape[0]
    check_allocation((Xa.shape[0], n_y), Xa.dtype, "the distance matrix")
    threads = resolve_threads(n_threads)
    out: NDArray[np.floating[Any]] = core_fn("pairwise_distances", Xa.dtype)(Xa, Ya, name, threads)
    return out


def _labels(labels: ArrayLike, n: int) -> tuple[NDArray[np.int64], int]:
    lab = np.asarray(labels)
    if lab.dtype.kind not in "iu":
        raise TypeError(f"labels must hold integers, got dtype {lab.dtype}")
    if lab.ndim != 1 or lab.shape[0] != n:
        raise ValueError(f"labels must have shape ({n},), one per point, got {lab.shape}")
    uniques, codes = np.unique(lab, return_inverse=True)
    k = int(uniques.shape[0])
    if not 2 <= k <= n - 1:
        raise ValueError(
            f"the number of distinct labels is {k}; the silhouette needs it in "
            f"[2, n - 1] = [2, {n - 1}]"
        )
    return np.ascontiguousarray(codes.reshape(-1), dtype=np.int64), k


def silhouette_samples(
    X: ArrayLike,
    labels: ArrayLike,
    *,
    metric: str = "euclidean",
    n_threads: int | None = None,
) -> NDArray[np.float64]:
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
        Cluster of each point; any integer values (they are mapped to 0..k-1).
    metric : {"euclidean", "sqeuclidean", "manhattan", "cosine", "precomputed"}
        As in :func:`pairwise_distances`.
    n_threads : int, optional
        Threads; the result never depends on it.

    Returns
    -------
    ndarray of float64, shape (n,)

    Raises
    ------
    ValueError
        Wrong shapes, NaN or infinity, labels of the wrong length, a number of
        distinct labels outside [2, n - 1], an unknown metric, a precomputed
        matrix that is not square, has negative entries or a non-zero diagonal.
    TypeError
        Non-real X or non-integer labels.

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
    name = _resolve_metric(metric, precomputed=True)
    Xa = as_float_array(X, "X", ndims=(2,))
    n = Xa.shape[0]
    codes, k = _labels(labels, n)
    threads = resolve_threads(n_threads)
    if name == "precomputed":
        _check_precomputed(Xa, symmetric=False, threads=threads)
        diag = np.abs(np.diagonal(Xa))
        if np.any(diag > 100 * np.finfo(Xa.dtype).eps):
            raise ValueError(
                "X (metric='precomputed') has non-zero elements on its diagonal; "
                "use np.fill_diagonal(X, 0) on a copy"
            )
    else:
        check_finite(Xa, "X")
    out: NDArray[np.float64] = core_fn("silhouette_samples", Xa.dtype)(Xa, codes, k, name, threads)
    return out


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
        ``mean(silhouette_samples(X, labels, metric=metric))``, in [-1, 1].

    References
    ----------
    P. J. Rousseeuw. Silhouettes: a graphical aid to the interpretation and
    validation of cluster analysis. J. Comput. Appl. Math. 20, 1987.
    """
    return float(np.mean(silhouette_samples(X, labels, metric=metric, n_threads=n_threads)))


def _check_precomputed(D: NDArray[Any], *, symmetric: bool, threads: int) -> None:
    """Check a precomputed dissimilarity matrix: square, finite, >= 0 (and symmetric)."""
    if D.shape[0] != D.shape[1]:
        raise ValueError(f"X (metric='precomputed') must be a square (n, n) matrix, got shape {D.shape}")
    rtol = float(np.sqrt(np.finfo(D.dtype).eps))
    core_fn("check_dissimilarity", D.dtype)(D, symmetric, rtol, "X", threads)
