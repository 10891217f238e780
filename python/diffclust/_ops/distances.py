"""The private layer: pairwise distances and the silhouette (see :mod:`diffclust._ops`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._validation import (
    as_float_array,
    as_labels,
    check_finite,
    check_memory,
    core_fn,
    resolve_metric,
)
from ._common import Array, _as, _points

__all__ = ["check_allocation", "check_precomputed", "pairwise_distances", "silhouette_samples", "silhouette_score"]


def check_allocation(shape: tuple[int, ...], dtype: Any, what: str) -> None:
    """Raise ``OutputTooLargeError`` if an array of ``shape`` would exceed the memory available."""
    nbytes = float(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize
    check_memory(
        nbytes,
        f"{what} of shape {shape} and dtype {np.dtype(dtype)}",
        "work on blocks of rows instead (pairwise_distances(X[rows], X))",
    )


def pairwise_distances(X: Any, Y: Any, metric: str, n_threads: int) -> Array:
    """(n_x, n_y) distances; Y None means X (exactly zero diagonal)."""
    name = resolve_metric(metric)
    Xa = _points(X, "X")
    Ya: Array | None = None
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
    out: Array = core_fn("pairwise_distances", Xa.dtype)(Xa, Ya, name, n_threads)
    return out


def check_precomputed(D: Array, *, symmetric: bool, n_threads: int) -> None:
    """Check a precomputed dissimilarity matrix: square, finite, >= 0 (and symmetric)."""
    if D.shape[0] != D.shape[1]:
        raise ValueError(f"X (metric='precomputed') must be a square (n, n) matrix, got shape {D.shape}")
    rtol = float(np.sqrt(np.finfo(D.dtype).eps))
    core_fn("check_dissimilarity", D.dtype)(D, symmetric, rtol, "X", n_threads)


def silhouette_samples(X: Any, labels: Any, metric: str, n_threads: int) -> Array:
    """(n,) silhouette coefficients, in the dtype of X."""
    s, dtype = _silhouette(X, labels, metric, n_threads)
    return _as(s, dtype)  # type: ignore[no-any-return]


def silhouette_score(X: Any, labels: Any, metric: str, n_threads: int) -> float:
    """The mean silhouette coefficient (of the float64 coefficients)."""
    return float(np.mean(_silhouette(X, labels, metric, n_threads)[0]))


def _silhouette(X: Any, labels: Any, metric: str, n_threads: int) -> tuple[NDArray[np.float64], np.dtype[Any]]:
    name = resolve_metric(metric, precomputed=True)
    Xa = as_float_array(X, "X", ndims=(2,))
    n = Xa.shape[0]
    lab = as_labels(labels, "labels", n=n)
    uniques, codes = np.unique(lab, return_inverse=True)
    k = int(uniques.shape[0])
    if not 2 <= k <= n - 1:
        raise ValueError(
            f"the number of distinct labels is {k}; the silhouette needs it in [2, n - 1] = [2, {n - 1}]"
        )
    codes = np.ascontiguousarray(codes.reshape(-1), dtype=np.int64)
    if name == "precomputed":
        check_precomputed(Xa, symmetric=False, n_threads=n_threads)
        diag = np.abs(np.diagonal(Xa))
        if np.any(diag > 100 * np.finfo(Xa.dtype).eps):
            raise ValueError(
                "X (metric='precomputed') has non-zero elements on its diagonal; "
                "use np.fill_diagonal(X, 0) on a copy"
            )
    else:
        check_finite(Xa, "X")
    out: NDArray[np.float64] = core_fn("silhouette_samples", Xa.dtype)(Xa, codes, k, name, n_threads)
    return out, Xa.dtype


