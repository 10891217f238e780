"""scikit-learn estimators over diffclust's kernels (requires scikit-learn)."""

from __future__ import annotations

from ._density import DBSCAN, HDBSCAN, OPTICS

__all__ = ["DBSCAN", "HDBSCAN", "OPTICS"]
