"""scikit-learn estimators backed by diffclust's kernels (scikit-learn >= 1.6 required).

Each estimator follows scikit-learn's parameter and attribute names and passes
``sklearn.utils.estimator_checks.parametrize_with_checks``; results never depend
on ``n_threads``.
"""

from __future__ import annotations

from ._density import DBSCAN, HDBSCAN, OPTICS
from ._kmeans import KMeans, MiniBatchKMeans
from ._mixture import GaussianMixture

__all__ = ["DBSCAN", "HDBSCAN", "OPTICS", "GaussianMixture", "KMeans", "MiniBatchKMeans"]
