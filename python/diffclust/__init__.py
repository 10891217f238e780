"""diffclust: compiled kernels for differentiable clustering and clustering losses.

The core is the (perturbed) maximum-weight spanning forest of Stewart, Bach,
Llinares-López and Berthet, "Differentiable Clustering with Perturbed Spanning
Forests" (NeurIPS 2023). Around it: pairwise distances, k-medoids, silhouette and
the classical clustering metrics and losses.
"""

from __future__ import annotations

from . import (  # noqa: F401
    _threadpool,
    centroids,
    cluster,
    density,
    density_perturbed,
    distances,
    forests,
    losses,
    metrics,
    mixture,
    perturb,
)
from .centroids import *
from .cluster import *
from .density import *
from .density_perturbed import *
from .distances import *
from .forests import *
from .losses import *
from .metrics import *
from .mixture import *
from .perturb import *

__version__ = "0.1.0"

__all__ = [  # noqa: PLE0604
    *forests.__all__,
    *perturb.__all__,
    *distances.__all__,
    *cluster.__all__,
    *metrics.__all__,
    *losses.__all__,
    *density.__all__,
    *density_perturbed.__all__,
    *mixture.__all__,
    *centroids.__all__,
]
