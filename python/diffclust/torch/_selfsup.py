"""DeepCluster and SwAV: the survey's self-supervised clustering losses.

Plain torch code; DeepCluster's pseudo-labels come from :func:`diffclust.kmeans`.
Re-exported by :mod:`diffclust.torch.deep`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Sampler

from ..centroids import kmeans
from ._generative import _check_matrix, _check_positive, _check_reduction

__all__ = [
    "DeepClusterLoss",
    "SwAVLoss",
    "UniformLabelSampler",
    "deepcluster_loss",
    "deepcluster_pseudo_labels",
    "reassign_empty_clusters",
    "sinkhorn_knopp",
    "swav_loss",
    "uniform_label_indices",
]


# ------------------------------------------------------------------------------- DeepCluster


def _check_labels(labels: Any, n: int | None, name: str = "labels") -> Tensor:
    lab = torch.as_tensor(labels)
    if lab.dtype.is_floating_point or lab.dtype.is_complex or lab.dtype == torch.bool:
        raise TypeError(f"{name} must hold integers, got {lab.dtype}")
    if lab.dim() != 1 or (n is not None and lab.shape[0] != n):
        raise ValueError(f"{name} must have shape ({'n' if n is None else n},), got {tuple(lab.shape)}")
    if lab.numel() and int(lab.min()) < 0:
        raise ValueError(f"{name} must be >= 0")
    return lab.to(device="cpu", dtype=torch.int64)


def reassign_empty_clusters(
    features: Tensor, centers: Tensor, labels: Tensor, *, generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, int]:
    """Give every empty cluster points by splitting a non-empty one (DeepCluster's rule).

    For each empty cluster e, in increasing order: choose a cluster m with at least
    two points, with probability proportional to ``size_m - 1``; set c_m to the mean
    of its points and draw a random direction u; the points of m with
    ``(x - c_m) . u > 0`` move to e (the nearest of the two centers ``c_m + eps u``
    and ``c_m - eps u`` for a vanishing perturbation eps). As ``c_m`` is their mean,
    both sides are non-empty unless the points of m are all equal; then (or if
    rounding leaves a side empty) the ``ceil(s/2)`` points with the smallest
    projection stay, ties by index. The new centers are the means of the two parts.

    Parameters
    ----------
    features : Tensor, shape (n, d)
        The points (computed in float64 on the CPU).
    centers : Tensor, shape (k, d)
        The k-means centers.
    labels : Tensor of int, shape (n,)
        Cluster of each point in [0, k); needs k <= n.
    generator : torch.Generator, optional
        Source of randomness (default: torch's default generator).

    Returns
    -------
    labels : Tensor of int64, shape (n,)
        Every cluster non-empty.
    centers : Tensor, shape (k, d)
        In the dtype and on the device of ``centers``; unchanged rows for clusters
        that took no part in a split.
    n_reassigned : int
        Number of clusters that were empty.

    References
    ----------
    M. Caron, P. Bojanowski, A. Joulin, M. Douze. Deep clustering for unsupervised
    learning of visual features. ECCV 2018 ("avoiding trivial solutions": empty clusters).
    """
    X = _check_matrix(features, "features").detach().to(device="cpu", dtype=torch.float64)
    C = _check_matrix(centers, "centers", X.shape[1]).detach().to(device="cpu", dtype=torch.float64).clone()
    n, k = X.shape[0], C.shape[0]
    lab = _check_labels(labels, n).clone()
    if n and int(lab.max()) >= k:
        raise ValueError(f"labels must be in [0, k) = [0, {k})")
    if k > n:
        raise ValueError(f"need k <= n to fill every cluster, got k = {k}, n = {n}")
    sizes = torch.bincount(lab, minlength=k)
    empty = [int(e) for e in torch.nonzero(sizes == 0)[:, 0]]
    for e in empty:
        spare = (sizes - 1).clamp_min(0).to(torch.float64)
        m = int(torch.multinomial(spare, 1, generator=generator))
        idx = torch.nonzero(lab == m)[:, 0]
        pts = X[idx]
        u = torch.randn(X.shape[1], generator=generator, dtype=torch.float64)
        proj = (pts - pts.mean(0)) @ u
        move = proj > 0
        if not bool(move.any()) or bool(move.all()):
            order = torch.argsort(proj, stable=True)
            move = torch.zeros_like(move)
            move[order[(idx.shape[0] + 1) // 2:]] = True
        lab[idx[move]] = e
        C[e] = pts[move].mean(0)
        C[m] = pts[~move].mean(0)
        sizes[e], sizes[m] = int(move.sum()), int((~move).sum())
    return lab, C.to(dtype=centers.dtype, device=centers.device), len(empty)


def deepcluster_pseudo_labels(
    features: Tensor, n_clusters: int, *, n_init: int = 1, max_iter: int = 20, seed: int | None = None,
    generator: torch.Generator | None = None, n_threads: int | None = None,
) -> tuple[Tensor, Tensor]:
    """DeepCluster's pseudo-label step: k-means on the features, then no empty cluster.

    Runs :func:`diffclust.kmeans` (ours: deterministic for any thread count) on the
    features and applies :func:`reassign_empty_clusters`. DeepCluster PCA-whitens and
    L2-normalises the features first: do that before the call.

    Parameters
    ----------
    features : Tensor, shape (n, d)
        Features of the whole dataset (detached; computed on the CPU).
    n_clusters : int
        Number of pseudo-classes k <= n.
    n_init, max_iter
        Passed to :func:`diffclust.kmeans`.
    seed : int, optional
        k-means seed; None draws one from ``generator`` (or torch's default).
    generator : torch.Generator, optional
        Also the randomness of the empty-cluster splits.
    n_threads : int, optional
        k-means threads (the result never depends on it).

    Returns
    -------
    labels : Tensor of int64, shape (n,)
        Pseudo-labels, every cluster non-empty (on the device of features).
    centers : Tensor, shape (k, d)
        In the dtype and on the device of features.

    References
    ----------
    Caron, Bojanowski, Joulin, Douze. Deep clustering for unsupervised learning of
    visual features. ECCV 2018.
    """
    _check_matrix(features, "features")
    k = int(n_clusters)
    if not 1 <= k <= features.shape[0]:
        raise ValueError(f"n_clusters must be in [1, n] = [1, {features.shape[0]}], got {n_clusters}")
    if seed is None:
        seed = int(torch.randint(0, 2**62, (), generator=generator))
    X = features.detach().to(device="cpu")
    Xn = X.numpy() if X.dtype in (torch.float32, torch.float64) else X.to(torch.float32).numpy()
    res = kmeans(Xn, k, n_init=n_init, max_iter=max_iter, seed=seed, n_threads=n_threads)
    labels = torch.from_numpy(np.asarray(res.labels, dtype=np.int64))
    centers = torch.from_numpy(np.asarray(res.centers, dtype=np.float64))
    labels, centers, _ = reassign_empty_clusters(X, centers, labels, generator=generator)
    return labels.to(features.device), centers.to(dtype=features.dtype, device=features.device)


def uniform_label_indices(labels: Tensor, n_samples: int, *, generator: torch.Generator | None = None) -> Tensor:
    """Indices for an epoch that is uniform over pseudo-labels (DeepCluster's sampler).

    The ``n_samples`` draws are shared as evenly as possible among the non-empty
    clusters (``n_samples // c`` each, one more for ``n_samples % c`` clusters chosen
    at random); within a cluster, points are taken from successive random
    permutations of its members, so no point repeats before all of its cluster has
    been used. The result is shuffled.

    Parameters
    ----------
    labels : Tensor of int, shape (n,)
        Pseudo-labels (>= 0).
    n_samples : int
        Length of the epoch.
    generator : torch.Generator, optional

    Returns
    -------
    Tensor of int64, shape (n_samples,)
    """
    lab = _check_labels(labels, None)
    m = int(n_samples)
    if m < 0:
        raise ValueError(f"n_samples must be >= 0, got {n_samples}")
    if lab.numel() == 0:
        if m:
            raise ValueError("labels is empty: nothing to sample")
        return torch.empty(0, dtype=torch.int64)
    order = torch.argsort(lab, stable=True)
    sizes = torch.bincount(lab)
    present = torch.nonzero(sizes)[:, 0]
    c = present.shape[0]
    quota = torch.full((c,), m // c, dtype=torch.int64)
    quota[torch.randperm(c, generator=generator)[: m % c]] += 1
    starts = torch.cumsum(sizes, 0) - sizes
    parts = []
    for j, cl in enumerate(present.tolist()):
        members = order[int(starts[cl]): int(starts[cl]) + int(sizes[cl])]
        q, s = int(quota[j]), members.shape[0]
        reps = [members[torch.randperm(s, generator=generator)] for _ in range(-(-q // s))]
        if reps:
            parts.append(torch.cat(reps)[:q])
    out = torch.cat(parts) if parts else torch.empty(0, dtype=torch.int64)
    return out[torch.randperm(out.shape[0], generator=generator)]


class UniformLabelSampler(Sampler[int]):
    """A ``torch.utils.data.Sampler`` uniform over pseudo-labels (new draws each epoch).

    Parameters
    ----------
    labels : Tensor of int, shape (n,)
        Pseudo-labels of the dataset's items.
    num_samples : int, optional
        Items per epoch (default n).
    generator : torch.Generator, optional
        See :func:`uniform_label_indices`.
    """

    def __init__(self, labels: Tensor, num_samples: int | None = None,
                 generator: torch.Generator | None = None) -> None:
        self.labels = _check_labels(labels, None)
        self.num_samples = self.labels.shape[0] if num_samples is None else int(num_samples)
        if self.num_samples < 0:
            raise ValueError(f"num_samples must be >= 0, got {num_samples}")
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        idx = uniform_label_indices(self.labels, self.num_samples, generator=self.generator)
        return iter(idx.tolist())

    def __len__(self) -> int:
        return self.num_samples


def deepcluster_loss(logits: Tensor, pseudo_labels: Tensor, reduction: str = "mean") -> Tensor:
    """DeepCluster's classification loss: cross-entropy of logits (n, k) on pseudo-labels (n,).

    ``-log softmax(logits)_{i, y_i}`` per sample (:func:`torch.nn.functional.cross_entropy`).
    DeepCluster re-initialises the classifier head after each pseudo-label step.

    References
    ----------
    Caron, Bojanowski, Joulin, Douze. ECCV 2018.
    """
    _check_reduction(reduction)
    _check_matrix(logits, "logits")
    target = _check_labels(pseudo_labels, logits.shape[0], "pseudo_labels")
    if target.numel() and int(target.max()) >= logits.shape[1]:
        raise ValueError(f"pseudo_labels must be in [0, {logits.shape[1]})")
    return nn.functional.cross_entropy(logits, target.to(logits.device), reduction=reduction)


class DeepClusterLoss(nn.Module):
    """DeepCluster: the pseudo-label step, the uniform sampler and the loss.

    :meth:`assign` runs :func:`deepcluster_pseudo_labels` on the dataset's features
    and keeps the labels in the buffer ``pseudo_labels``; :meth:`sampler` gives the
    next epoch's :class:`UniformLabelSampler`; ``forward(logits, target)`` is
    :func:`deepcluster_loss` (take ``target = loss.pseudo_labels[batch_indices]``).

    Parameters
    ----------
    n_clusters : int
        Number of pseudo-classes k.
    max_iter, n_init : int
        k-means settings.
    reduction : {"mean", "sum", "none"}, default "mean"
    generator : torch.Generator, optional
    """

    pseudo_labels: Tensor

    def __init__(self, n_clusters: int, *, max_iter: int = 20, n_init: int = 1, reduction: str = "mean",
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        if int(n_clusters) < 1:
            raise ValueError(f"n_clusters must be >= 1, got {n_clusters}")
        self.n_clusters, self.max_iter, self.n_init = int(n_clusters), int(max_iter), int(n_init)
        self.reduction, self.generator = _check_reduction(reduction), generator
        self.register_buffer("pseudo_labels", torch.empty(0, dtype=torch.int64))

    @torch.no_grad()
    def assign(self, features: Tensor, seed: int | None = None) -> Tensor:
        """New pseudo-labels (n,) for the dataset's features (n, d); kept in ``pseudo_labels``."""
        labels, _ = deepcluster_pseudo_labels(features, self.n_clusters, n_init=self.n_init,
                                              max_iter=self.max_iter, seed=seed, generator=self.generator)
        self.pseudo_labels = labels
        return labels

    def sampler(self, num_samples: int | None = None) -> UniformLabelSampler:
        """A sampler uniform over the current pseudo-labels."""
        if self.pseudo_labels.numel() == 0:
            raise RuntimeError("call assign(features) before sampler()")
        return UniformLabelSampler(self.pseudo_labels, num_samples, generator=self.generator)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return deepcluster_loss(logits, target, self.reduction)

    def extra_repr(self) -> str:
        return f"n_clusters={self.n_clusters}, max_iter={self.max_iter}, reduction={self.reduction!r}"


# -------------------------------------------------------------------------------------- SwAV


@torch.no_grad()
def sinkhorn_knopp(scores: Tensor, *, epsilon: float = 0.05, n_iters: int = 3) -> Tensor:
    """SwAV's equipartitioned codes Q (B, K) of a batch's prototype scores, by Sinkhorn-Knopp.

    Starts from ``exp(scores / epsilon)`` normalised to total mass 1, then ``n_iters``
    times scales each prototype's total to ``1/K`` and each sample's to ``1/B``; the
    result is multiplied by B, so each row is a distribution over the K prototypes
    and the prototypes are used equally (exactly so as ``n_iters`` grows).

    Stable in float32 whatever the scores: the maximum score is subtracted before
    dividing by epsilon, and the scaling runs in log space, where each normalisation
    is a log-sum-exp that subtracts its maximum before exponentiating (the same
    iterates as the multiplicative algorithm in exact arithmetic; a sample whose
    scores are thousands of epsilons apart gets a one-hot row, never NaN, where
    ``exp(scores / epsilon)`` would overflow). The last per-sample normalisation is
    redone in linear space, so rows sum to 1 to float rounding. float16/bfloat16
    are computed in float32. No gradient: codes are targets.

    Parameters
    ----------
    scores : Tensor, shape (B, K)
        Scores ``z_b . c_k`` of the batch's (normalised) features against the prototypes.
    epsilon : float, default 0.05
        Entropic regularisation (SwAV's 0.05).
    n_iters : int, default 3
        Sinkhorn iterations (SwAV's 3).

    Returns
    -------
    Tensor, shape (B, K)
        In the dtype of scores; rows sum to 1.

    References
    ----------
    M. Caron, I. Misra, J. Mairal, P. Goyal, P. Bojanowski, A. Joulin. Unsupervised
    learning of visual features by contrasting cluster assignments. NeurIPS 2020.
    M. Cuturi. Sinkhorn distances. NeurIPS 2013.
    """
    _check_matrix(scores, "scores")
    eps = _check_positive(epsilon, "epsilon")
    it = int(n_iters)
    if it < 0:
        raise ValueError(f"n_iters must be >= 0, got {n_iters}")
    B, K = scores.shape
    if B == 0:
        return torch.empty_like(scores)
    work = scores.detach()
    if work.dtype not in (torch.float32, torch.float64):
        work = work.to(torch.float32)
    if not torch.compiler.is_compiling() and not bool(torch.isfinite(work).all()):
        raise ValueError("scores must be finite")
    logq = (work - work.max()).T / eps                          # (K, B); max 0: no precision lost
    logq = logq - torch.logsumexp(logq.reshape(-1), 0)
    log_k, log_b = math.log(K), math.log(B)
    for _ in range(it):
        logq = logq - torch.logsumexp(logq, dim=1, keepdim=True) - log_k
        logq = logq - torch.logsumexp(logq, dim=0, keepdim=True) - log_b
    if it == 0:
        return torch.exp(logq + log_b).T.to(scores.dtype)
    # the last sample normalisation once more in linear space: a log-sum-exp of large
    # magnitude is rounded to its ulp (2.4e-4 at 4000 in float32), a sum of q <= 1 is not
    q = torch.exp(logq)
    return (q / q.sum(0, keepdim=True)).T.to(scores.dtype)


def _views(scores: Tensor | Sequence[Tensor]) -> list[Tensor]:
    views = list(scores.unbind(0)) if isinstance(scores, Tensor) else list(scores)
    if len(views) < 2:
        raise ValueError(f"swav_loss needs at least two views, got {len(views)}")
    for v, s in enumerate(views):
        _check_matrix(s, f"scores[{v}]")
        if s.shape[1] != views[0].shape[1]:
            raise ValueError(f"every view must score the same {views[0].shape[1]} prototypes; view {v} has "
                             f"{s.shape[1]}")
    return views


def swav_loss(
    scores: Tensor | Sequence[Tensor], *, temperature: float = 0.1, epsilon: float = 0.05, n_iters: int = 3,
    assign_views: Sequence[int] = (0, 1), codes: Sequence[Tensor] | None = None,
) -> Tensor:
    """SwAV's swapped-prediction loss over V >= 2 views.

    For each view s in ``assign_views`` the codes ``q_s = sinkhorn_knopp(scores_s)``
    (no gradient) are predicted from every other view v by
    ``p_v = softmax(scores_v / temperature)``::

        loss = 1 / (|S| (V - 1)) sum_{s in S} sum_{v != s} mean_b [ -sum_k q_s[b, k] log p_v[b, k] ]

    Views may have different batch sizes only if they are not compared (all views
    compared with a view s need its B rows: usually every view has the same B, the
    images of the batch under different crops).

    Parameters
    ----------
    scores : Tensor (V, B, K) or sequence of V Tensors (B, K)
        Prototype scores of each view (``normalize(z) @ normalize(C).T``).
    temperature : float, default 0.1
        Softmax temperature tau.
    epsilon, n_iters
        Sinkhorn settings (:func:`sinkhorn_knopp`).
    assign_views : sequence of int, default (0, 1)
        The views whose codes are computed (SwAV computes codes on the two
        high-resolution crops only).
    codes : sequence of Tensor (B, K), optional
        Precomputed codes for ``assign_views`` (e.g. by Sinkhorn over the batch and a
        queue of past features); they are used as given, without gradient.

    Returns
    -------
    Tensor
        A scalar, differentiable in the scores through the predictions p_v.

    References
    ----------
    Caron, Misra, Mairal, Goyal, Bojanowski, Joulin. NeurIPS 2020 (the swapped prediction problem).
    """
    views = _views(scores)
    V = len(views)
    tau = _check_positive(temperature, "temperature")
    assign = [int(s) for s in assign_views]
    if not assign or len(set(assign)) != len(assign) or any(not 0 <= s < V for s in assign):
        raise ValueError(f"assign_views must be distinct view indices in [0, {V}), got {list(assign_views)}")
    if codes is not None and len(codes) != len(assign):
        raise ValueError(f"codes must hold one tensor per assigned view ({len(assign)}), got {len(codes)}")
    log_p = [torch.log_softmax(s / tau, dim=-1) for s in views]
    total = views[0].new_zeros(())
    for i, s in enumerate(assign):
        q = sinkhorn_knopp(views[s], epsilon=epsilon, n_iters=n_iters) if codes is None \
            else codes[i].detach()
        if q.shape != views[s].shape:
            raise ValueError(f"codes for view {s} must have shape {tuple(views[s].shape)}, got {tuple(q.shape)}")
        for v in range(V):
            if v != s:
                if views[v].shape[0] != q.shape[0]:
                    raise ValueError(f"view {v} has {views[v].shape[0]} rows, view {s} has {q.shape[0]}")
                total = total - (q * log_p[v]).sum(-1).mean()
    return total / (len(assign) * (V - 1))


class SwAVLoss(nn.Module):
    """SwAV's swapped-prediction loss: ``forward(scores)`` is :func:`swav_loss`.

    Parameters
    ----------
    temperature : float, default 0.1
    epsilon : float, default 0.05
    n_iters : int, default 3
    assign_views : sequence of int, default (0, 1)
    """

    def __init__(self, temperature: float = 0.1, epsilon: float = 0.05, n_iters: int = 3,
                 assign_views: Sequence[int] = (0, 1)) -> None:
        super().__init__()
        self.temperature = _check_positive(temperature, "temperature")
        self.epsilon = _check_positive(epsilon, "epsilon")
        if int(n_iters) < 0:
            raise ValueError(f"n_iters must be >= 0, got {n_iters}")
        self.n_iters, self.assign_views = int(n_iters), tuple(int(s) for s in assign_views)

    def forward(self, scores: Tensor | Sequence[Tensor], codes: Sequence[Tensor] | None = None) -> Tensor:
        return swav_loss(scores, temperature=self.temperature, epsilon=self.epsilon, n_iters=self.n_iters,
                         assign_views=self.assign_views, codes=codes)

    def extra_repr(self) -> str:
        return (f"temperature={self.temperature}, epsilon={self.epsilon}, n_iters={self.n_iters}, "
                f"assign_views={self.assign_views}")
