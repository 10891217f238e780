"""``torch.nn.Module`` losses over :mod:`diffclust.torch.functional`."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from . import functional as F

__all__ = ["DECLoss", "PartialFYLoss", "SoftNcutLoss"]

REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


class PartialFYLoss(nn.Module):
    """Partial Fenchel-Young loss of embeddings with partial labels (Stewart et al., 2023).

    ``forward(X, labels)`` builds similarity matrices from embeddings X (..., n, d)
    with torch ops (differentiable), then takes the partial Fenchel-Young loss of each
    matrix against the partial labels (..., n) (int, -1 unknown), and reduces over the
    leading axes.

    Parameters
    ----------
    k : int
        Number of clusters (trees of the forest).
    sigma : float, default 1.0
        Noise scale. With ``standardize=True`` it is relative to the spread of the
        similarities.
    n_samples : int, default 100
        Monte-Carlo samples B.
    similarity : {"sqeuclidean", "cosine", "dot"}, default "sqeuclidean"
        ``S_ij = -||x_i - x_j||^2``, cosine similarity or dot product.
    standardize : bool, default True
        Map each matrix to ``(S - m) / s`` with m, s the mean and population standard
        deviation of its off-diagonal entries (see :func:`diffclust.torch.similarity`).
    reduction : {"mean", "sum", "none"}, default "mean"
        Over the leading axes of X ("none" returns shape ``X.shape[:-2]``).
    generator : torch.Generator, optional
        Where the seeds come from (default: torch's default generator, so
        ``torch.manual_seed`` makes training reproducible). Each call draws new seeds.
        Leave it None in a function given to ``torch.compile``, which cannot trace a
        generator argument.

    Examples
    --------
    >>> loss_fn = PartialFYLoss(k=10, sigma=1.0)
    >>> loss = loss_fn(model(x), y_partial)   # doctest: +SKIP
    >>> loss.backward()                        # doctest: +SKIP
    """

    def __init__(
        self,
        k: int,
        sigma: float = 1.0,
        n_samples: int = 100,
        similarity: str = "sqeuclidean",
        standardize: bool = True,
        reduction: str = "mean",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if similarity not in F.SIMILARITIES:
            raise ValueError(f"similarity must be one of {F.SIMILARITIES}, got {similarity!r}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        if not sigma > 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        if n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}")
        self.k, self.sigma, self.n_samples = int(k), float(sigma), int(n_samples)
        self.similarity, self.standardize, self.reduction = similarity, bool(standardize), reduction
        self.generator = generator

    def forward(self, X: Tensor, labels: Tensor, seed: int | Tensor | None = None) -> Tensor:
        """The loss of embeddings X (..., n, d) against partial labels (..., n).

        ``seed`` (optional) as in :func:`diffclust.torch.partial_fy_loss`; by default
        the seeds are drawn from the module's generator.
        """
        S = F.similarity(X, self.similarity, standardize=self.standardize)
        gen = self.generator if seed is None else None
        loss = F.partial_fy_loss(S, self.k, labels, sigma=self.sigma, n_samples=self.n_samples,
                                 seed=seed, generator=gen)
        return _reduce(loss, self.reduction)

    def extra_repr(self) -> str:
        return (f"k={self.k}, sigma={self.sigma}, n_samples={self.n_samples}, similarity={self.similarity!r}, "
                f"standardize={self.standardize}, reduction={self.reduction!r}")


class DECLoss(nn.Module):
    """Deep Embedded Clustering loss KL(P || Q) with learnable cluster centers.

    ``forward(Z)`` returns :func:`diffclust.torch.dec_loss` of embeddings Z (n, d)
    against ``self.centers`` (a Parameter initialised from ``centers``, e.g. k-means
    centers of the initial embeddings); ``reduction="sum"`` is the DEC paper's sum over
    points, ``"mean"`` divides by n.
    """

    def __init__(self, centers: Tensor, alpha: float = 1.0, reduction: str = "sum") -> None:
        super().__init__()
        if reduction not in ("sum", "mean"):
            raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
        self.centers = nn.Parameter(torch.as_tensor(centers).detach().clone())
        self.alpha, self.reduction = float(alpha), reduction

    def forward(self, Z: Tensor) -> Tensor:
        loss = F.dec_loss(Z, self.centers, self.alpha)
        return loss / Z.shape[0] if self.reduction == "mean" else loss


class SoftNcutLoss(nn.Module):
    """Relaxed normalized cut of a soft assignment: ``forward(W, P)`` with W (n, n) a
    non-negative affinity (data) and P (n, k) soft assignments (e.g. a softmax), or
    ``forward(W, logits)`` with ``from_logits=True`` (softmax over the last axis)."""

    def __init__(self, from_logits: bool = False) -> None:
        super().__init__()
        self.from_logits = bool(from_logits)

    def forward(self, W: Tensor, P: Tensor) -> Tensor:
        if self.from_logits:
            P = torch.softmax(P, dim=-1)
        return F.soft_ncut(W, P)
