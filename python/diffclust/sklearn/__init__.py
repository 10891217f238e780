"""scikit-learn estimators backed by diffclust's kernels (``pip install 'diffclust[sklearn]'``).

Each estimator follows scikit-learn's parameter and attribute names and passes
``sklearn.utils.estimator_checks.parametrize_with_checks``; results never depend
on ``n_threads``.
"""

from __future__ import annotations

from ._density import DBSCAN, HDBSCAN, OPTICS
from ._forest import SpanningForestClustering
from ._kmeans import KMeans, MiniBatchKMeans
from ._kmedoids import KMedoids
from ._mixture import GaussianMixture

__all__ = [
    "DBSCAN",
    "HDBSCAN",
    "OPTICS",
    "GaussianMixture",
    "KMeans",
    "KMedoids",
    "MiniBatchKMeans",
    "SpanningForestClustering",
]
