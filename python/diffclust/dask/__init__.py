"""Dask front end of diffclust: exact single linkage, perturbed forests and metrics.

Install with ``pip install 'diffclust[dask]'``. ``import diffclust`` never imports
Dask; ``import diffclust.dask`` does. Every function builds a graph of plain
NumPy tasks (the block functions of ``diffclust._ops.dask``) and computes it with
whichever scheduler is active (the default threaded one, or a
``distributed.Client`` the caller created): the library never creates a Client.
Every result equals the in-memory call bit for bit: the forests, perturbed
forests and their VJP, k-means, and every metric (the tasks return partial sums
in the kernels' own chunking, combined in the kernels' order).
"""

from __future__ import annotations

try:
    import dask as _dask  # noqa: F401
    import dask.array as _da  # noqa: F401
except ImportError as e:  # pragma: no cover - dask is in the test extra
    raise ImportError("diffclust.dask needs Dask: pip install 'diffclust[dask]'") from e

from ._estimator import KMeans, SpanningForestClustering
from ._forest import kforest_from_points
from ._kmeans import kmeans
from ._metrics import (
    adjusted_rand_score,
    davies_bouldin_score,
    gmm_nll,
    kmeans_loss,
    mutual_info_score,
    normalized_mutual_info_score,
    silhouette_samples,
    silhouette_score,
)
from ._perturb import perturbed_kforest, perturbed_kforest_vjp

__all__ = [
    "KMeans",
    "SpanningForestClustering",
    "adjusted_rand_score",
    "davies_bouldin_score",
    "gmm_nll",
    "kforest_from_points",
    "kmeans",
    "kmeans_loss",
    "mutual_info_score",
    "normalized_mutual_info_score",
    "perturbed_kforest",
    "perturbed_kforest_vjp",
    "silhouette_samples",
    "silhouette_score",
]
