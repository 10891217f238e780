"""What every part of the private layer shares: conversions, seed checks, constants."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._validation import (
    as_float_array,
    check_finite,
    check_int,
)

Array = NDArray[Any]
ForestArrays = tuple[Any, ...]  # labels, edges, weights, value (, what the kernel adds)
PerturbedArrays = tuple[Any, ...]  # A_eps, M_eps, F_eps, kept edges or None, kept labels or None

INITS = ("build", "random", "k-medoids++")
AVERAGE_METHODS = ("min", "geometric", "arithmetic", "max")
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
WEIGHT_TOLERANCE = 1e-6


def _as(value: Any, dtype: np.dtype[Any]) -> Any:
    """A float result in ``dtype``: arrays are cast (no copy if already right), scalars become float."""
    if isinstance(value, np.ndarray):
        return value.astype(dtype, copy=False)
    return float(value)


def _check_seed(seed: Any) -> int:
    value = check_int(seed, "seed")
    if not 0 <= value < 2**64:
        raise ValueError(f"seed must be in [0, 2**64), got {value}")
    return value


def _points(X: Any, name: str) -> Array:
    a = as_float_array(X, name, ndims=(2,))
    check_finite(a, name)
    return a


def _float64(x: Any, name: str, ndim: int) -> NDArray[np.float64]:
    a = as_float_array(x, name, ndims=(ndim,))
    check_finite(a, name)
    return np.ascontiguousarray(a, dtype=np.float64)


