"""Shared pieces of the scikit-learn estimators (imports scikit-learn or names the extra)."""

from __future__ import annotations

from numbers import Integral
from typing import Any

try:
    from sklearn.base import (
        BaseEstimator,
        ClassNamePrefixFeaturesOutMixin,
        ClusterMixin,
        TransformerMixin,
    )
    from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data
except ImportError as e:  # pragma: no cover - scikit-learn is in the test extra
    raise ImportError("diffclust.sklearn needs scikit-learn >= 1.6: pip install 'diffclust[sklearn]'") from e

__all__ = [
    "BaseEstimator",
    "ClassNamePrefixFeaturesOutMixin",
    "ClusterMixin",
    "TransformerMixin",
    "check_is_fitted",
    "check_n_clusters",
    "check_random_state",
    "seed_from",
    "validate_data",
]


def check_n_clusters(n_clusters: Any, n_samples: int, name: str = "n_clusters") -> int:
    """``n_clusters`` as an int in [1, n_samples], with scikit-learn's messages."""
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, Integral):
        raise TypeError(f"{name} must be an int, got {n_clusters!r}")
    k = int(n_clusters)
    if k < 1:
        raise ValueError(f"{name} must be >= 1, got {k}")
    if n_samples < k:
        raise ValueError(f"n_samples={n_samples} should be >= {name}={k}.")
    return k


def seed_from(random_state: Any) -> int:
    """One int seed drawn from ``random_state`` (None, int or RandomState), as scikit-learn does."""
    return int(check_random_state(random_state).randint(0, 2**31 - 1))
