"""Dask front end of diffclust: exact single linkage, perturbed forests and metrics.

Install with ``pip install 'diffclust[dask]'``. ``import diffclust`` never imports
Dask; ``import diffclust.dask`` does. Every function builds a graph of plain
NumPy tasks (the block functions of ``diffclust._ops_dask``) and computes it with
whichever scheduler is active (the default threaded one, or a
``distributed.Client`` the caller created): the library never creates a Client.
The forests, perturbed forests, their VJP and ARI/MI/NMI equal the in-memory
calls bit for bit; the silhouette, Davies-Bouldin and the k-means loss equal
them to rounding (blocks are summed in their own order).
"""

from __future__ import annotations

try:
    import dask as _dask  # noqa: F401
    import dask.array as _da  # noqa: F401
except ImportError as e:  # pragma: no cover - dask is in the test extra
    raise ImportError("diffclust.dask needs Dask: pip install 'diffclust[dask]'") from e

from ._estimator import SpanningForestClustering
from ._forest import kforest_from_points
from ._metrics import (
    adjusted_rand_score,
    davies_bouldin_score,
    kmeans_loss,
    mutual_info_score,
    normalized_mutual_info_score,
    silhouette_samples,
    silhouette_score,
)
from ._perturb import perturbed_kforest, perturbed_kforest_vjp

__all__ = [
    "SpanningForestClustering",
    "adjusted_rand_score",
    "davies_bouldin_score",
    "kforest_from_points",
    "kmeans_loss",
    "mutual_info_score",
    "normalized_mutual_info_score",
    "perturbed_kforest",
    "perturbed_kforest_vjp",
    "silhouette_samples",
    "silhouette_score",
]
