"""Checks shared by the Dask front end: inputs as row-chunked dask arrays."""

from __future__ import annotations

import numbers
from typing import Any

import dask.array as da
import numpy as np

from .._validation import check_finite

__all__ = ["as_dask_points", "check_fan_in", "row_blocks"]


def as_dask_points(X: Any, name: str = "X") -> da.Array:
    """``X`` as a 2-d dask array of float32/float64, one chunk across the columns.

    A NumPy array (or anything ``numpy.asarray`` accepts) becomes a single chunk;
    integer and boolean dtypes become float64, as in the in-memory functions.
    """
    if not isinstance(X, da.Array):
        X = da.from_array(np.asarray(X), chunks=-1)
    if X.dtype not in (np.float32, np.float64):
        if X.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
        X = X.astype(np.float64)
    if X.ndim != 2:
        raise ValueError(f"{name} must have 2 dimensions, got shape {X.shape}")
    if any(np.isnan(s) for s in X.shape) or any(np.isnan(c) for c in X.chunks[0]):
        raise ValueError(f"{name} has unknown chunk sizes: call {name}.compute_chunk_sizes() first")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {X.shape})")
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    # every task that reads a block first checks it, as the in-memory functions check X
    return X.map_blocks(_finite_block, what=name, dtype=X.dtype)


def _finite_block(block: Any, what: str) -> Any:
    """The block itself, after the in-memory functions' finiteness check (ValueError)."""
    check_finite(block, what)
    return block


def row_blocks(X: da.Array) -> list[tuple[Any, int, int]]:
    """(delayed block, first row, number of rows) of every non-empty row chunk of ``X``."""
    blocks = X.to_delayed().ravel()
    out = []
    start = 0
    for block, rows in zip(blocks, X.chunks[0]):
        if rows > 0:
            out.append((block, start, int(rows)))
        start += int(rows)
    return out


def check_fan_in(fan_in: Any) -> int:
    if isinstance(fan_in, (bool, np.bool_)) or not isinstance(fan_in, numbers.Integral):
        raise TypeError(f"fan_in must be an integer, got {fan_in!r}")
    if fan_in < 2:
        raise ValueError(f"fan_in must be at least 2, got {fan_in}")
    return int(fan_in)
