"""Weighted core distances for HDBSCAN*'s ``sample_weight`` (private).

core(i) = the smallest r such that the points within r of x_i, x_i included,
weigh at least ``min_samples``: scikit-learn's DBSCAN core condition with
``sample_weight``, so DBSCAN* at eps stays the cut of the tree at eps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _ops

__all__ = ["check_weights", "weighted_core", "weighted_core_blocks"]


def check_weights(sample_weight: Any, n: int, ms: int) -> NDArray[np.float64]:
    w = np.asarray(sample_weight)
    if w.dtype == object or not (np.issubdtype(w.dtype, np.floating) or np.issubdtype(w.dtype, np.integer)):
        raise TypeError(f"sample_weight must be an array of real numbers, got dtype {w.dtype}")
    w = w.astype(np.float64)
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("sample_weight must be finite and non-negative")
    if w.sum() < ms:
        raise ValueError(f"sample_weight must sum to at least min_samples = {ms}, got {w.sum()!r}")
    return w


def weighted_core(Xa: NDArray[Any], ms: int, name: str, w: NDArray[np.float64], threads: int) -> NDArray[np.float64]:
    """Smallest r with sum of w over {j : d(i, j) <= r} >= ms: the compiled kd-tree
    search for the box metrics, blocks of rows (all distances, sorted) for cosine."""
    if name != "cosine":
        from ._validation import core_fn

        out: NDArray[np.float64] = core_fn("weighted_core_distances", Xa.dtype)(Xa, w, ms, name, threads)
        return out
    return weighted_core_blocks(Xa, ms, name, w, threads)


def weighted_core_blocks(
    Xa: NDArray[Any], ms: int, name: str, w: NDArray[np.float64], threads: int
) -> NDArray[np.float64]:
    """The same by blocks of rows: every distance, sorted (O(n^2 log n); any metric)."""
    n = Xa.shape[0]
    core = np.empty(n, dtype=np.float64)
    block = max(1, (1 << 21) // n)
    for s in range(0, n, block):
        D = np.asarray(_ops.pairwise_distances(Xa[s : s + block], Xa, name, threads), dtype=np.float64)
        rows = np.arange(D.shape[0])
        D[rows, rows + s] = 0.0  # the point itself, exactly
        order = np.argsort(D, axis=1, kind="stable")
        Ds = np.take_along_axis(D, order, axis=1)
        cum = np.cumsum(w[order], axis=1)
        # the first position reaching ms; ties at one distance are reached together
        k = np.argmax(cum >= ms * (1 - 1e-12), axis=1)
        core[s : s + D.shape[0]] = Ds[rows, k]
    return core
