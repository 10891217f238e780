"""The survey's deep clustering losses on torch tensors: DEC, VaDE, ClusterGAN, DeepCluster, SwAV.

Each comes as functions and ``nn.Module`` classes, with its formula and paper in the
docstring:

- **DEC** (Xie et al., ICML 2016): :func:`student_t_assignment`,
  :func:`dec_target_distribution`, :func:`dec_init_centers` (k-means on the
  embeddings), :class:`ClusteringLayer`; the KL itself is
  :func:`diffclust.torch.dec_loss` / :class:`diffclust.torch.DECLoss`.
- **VaDE** (Jiang et al., IJCAI 2017): :func:`vade_loss` (negative ELBO with a
  Gaussian-mixture prior), :func:`vade_responsibilities`, :class:`VaDELoss`
  (learnable prior, initialised from a fitted mixture).
- **ClusterGAN** (Mukherjee et al., AAAI 2019): :func:`clustergan_prior`,
  :func:`clustergan_loss`, :class:`ClusterGANPrior`, :class:`ClusterGANLoss`.
- **DeepCluster** (Caron et al., ECCV 2018): :func:`deepcluster_pseudo_labels`,
  :func:`reassign_empty_clusters`, :func:`uniform_label_indices`,
  :class:`UniformLabelSampler`, :func:`deepcluster_loss`, :class:`DeepClusterLoss`.
- **SwAV** (Caron et al., NeurIPS 2020): :func:`sinkhorn_knopp`, :func:`swav_loss`,
  :class:`SwAVLoss`.

These are plain differentiable torch code (any device, any float dtype), except the
DEC KL (a ``diffclust::`` operator) and the k-means / Gaussian-mixture fits of the
initialisations, which run on the CPU through :func:`diffclust.kmeans` and
:func:`diffclust.gaussian_mixture`.
"""

from __future__ import annotations

from . import _generative, _selfsup
from ._generative import *
from ._selfsup import *

__all__ = [*_generative.__all__, *_selfsup.__all__]  # noqa: PLE0604
