"""PyTorch front end of diffclust: differentiable clustering ops and losses.

Install with ``pip install 'diffclust[torch]'``. ``import diffclust`` never imports
torch; ``import diffclust.torch`` does.

Functions (:mod:`diffclust.torch.functional`): :func:`perturbed_kforest`,
:func:`partial_fy_loss`, :func:`kforest`, :func:`soft_ncut`, :func:`dec_loss`,
:func:`kmeans_loss`, :func:`gmm_nll`, :func:`similarity`; density
(:mod:`diffclust.torch.density`): :func:`mr_similarity`, :func:`perturbed_hdbscan`. Modules:
:class:`PartialFYLoss`, :class:`DECLoss`, :class:`SoftNcutLoss`. The survey's deep
clustering losses (DEC's clustering layer, VaDE, ClusterGAN, DeepCluster, SwAV) are in
:mod:`diffclust.torch.deep`, re-exported here. The operators
themselves are registered as ``torch.ops.diffclust.*``.
"""

from __future__ import annotations

try:
    import torch as _torch  # noqa: F401
except ImportError as e:  # pragma: no cover - torch is in the test extra
    raise ImportError("diffclust.torch needs PyTorch: pip install 'diffclust[torch]'") from e

from . import deep, functional
from .deep import *
from .density import mr_distances, mr_similarity, perturbed_hdbscan
from .functional import (
    dec_loss,
    gmm_nll,
    kforest,
    kmeans_loss,
    partial_fy_loss,
    perturbed_kforest,
    similarity,
    soft_ncut,
)
from .modules import DECLoss, PartialFYLoss, SoftNcutLoss

__all__ = [  # noqa: PLE0604
    *deep.__all__,
    "DECLoss",
    "PartialFYLoss",
    "SoftNcutLoss",
    "dec_loss",
    "deep",
    "functional",
    "gmm_nll",
    "kforest",
    "kmeans_loss",
    "mr_distances",
    "mr_similarity",
    "partial_fy_loss",
    "perturbed_hdbscan",
    "perturbed_kforest",
    "similarity",
    "soft_ncut",
]
