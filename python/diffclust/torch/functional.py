"""Differentiable clustering functions on torch tensors.

Each function checks its arguments, draws its seeds, and calls one ``diffclust::``
operator (``torch.library.custom_op``), so ``torch.compile(fullgraph=True)`` keeps
it in one graph and ``torch.vmap`` routes it to the batched kernels.

Tensors: CPU float32/float64 contiguous tensors reach the kernels without a copy;
float16/bfloat16 are computed in float32 and returned in their dtype; a tensor on
another device (CUDA, MPS) is computed on the CPU and the results are returned on
its device.

Randomness: a perturbed call on S of shape (..., n, n) uses one seed per matrix, an
int64 tensor of shape ``S.shape[:-2]`` (read as uint64). ``seed=None`` draws it from
torch's generator (``generator=``, or the default one, so ``torch.manual_seed`` makes
a run reproducible); the seed is a tensor, so ``torch.compile`` does not recompile
when it changes. An int seed gives the noise the NumPy API draws for that seed (for
batched S, matrix t uses the per-element seed the batched NumPy call derives from it).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch
from torch import Tensor

from .. import _validation
from . import _batch, _library

__all__ = [
    "dec_loss",
    "gmm_nll",
    "kforest",
    "kmeans_loss",
    "partial_fy_loss",
    "perturbed_kforest",
    "similarity",
    "soft_ncut",
]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
SIMILARITIES = ("sqeuclidean", "cosine", "dot")


def _check_S(S: Any) -> tuple[int, ...]:
    if not isinstance(S, Tensor):
        raise TypeError(f"S must be a torch.Tensor, got {type(S).__name__}")
    if not S.dtype.is_floating_point:
        raise TypeError(f"S must be a floating-point tensor, got {S.dtype}")
    if S.dim() < 2 or S.shape[-1] != S.shape[-2]:
        raise ValueError(f"S must have shape (..., n, n), got {tuple(S.shape)}")
    return tuple(S.shape[:-2])


def _perturbation(S: Tensor, k: Any, sigma: Any, n_samples: Any) -> tuple[int, float, int]:
    """The checked (k, sigma, n_samples) of a perturbed call on S: checked here once (in
    plain Python, which ``torch.compile`` traces without a break), and the operator
    hands them to the kernel as they are."""
    n = int(S.shape[-1])
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"k must be an integer, got {k!r}")
    if not 1 <= int(k) <= n:
        raise ValueError(f"k must be in [1, n] = [1, {n}], got {int(k)}")
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real):
        raise TypeError(f"sigma must be a positive real number, got {sigma!r}")
    if not (math.isfinite(float(sigma)) and float(sigma) > 0):
        raise ValueError(f"sigma must be a finite number > 0, got {float(sigma)}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral):
        raise TypeError(f"n_samples must be an integer, got {n_samples!r}")
    if not 1 <= int(n_samples) < 2**32:
        raise ValueError(f"n_samples must be in [1, 2**32), got {int(n_samples)}")
    return int(k), float(sigma), int(n_samples)


def resolve_seed(seed: Any, generator: torch.Generator | None, batch: tuple[int, ...]) -> Tensor:
    """The int64 seed tensor of shape ``batch`` for ``seed`` (None, int or integer tensor)."""
    if seed is None:
        if generator is not None and torch.compiler.is_compiling():
            raise RuntimeError(
                "torch.compile cannot trace a torch.Generator argument: inside a compiled function use "
                "torch's default generator (generator=None; torch.manual_seed still makes runs "
                "reproducible) or pass seed= tensors drawn outside"
            )
        return torch.randint(_INT64_MIN, _INT64_MAX, batch, dtype=torch.int64, generator=generator)
    if generator is not None:
        raise ValueError("pass seed or generator, not both")
    if isinstance(seed, Tensor):
        if seed.dtype.is_floating_point or seed.dtype.is_complex or seed.dtype == torch.bool:
            raise TypeError(f"seed must be an integer tensor, got {seed.dtype}")
        if tuple(seed.shape) != batch:
            raise ValueError(f"seed must have shape S.shape[:-2] = {batch} (one seed per matrix), got "
                             f"{tuple(seed.shape)}")
        if seed.dtype == torch.int64 and seed.is_cpu:
            return seed
        return seed.to(device="cpu", dtype=torch.int64)
    value = _validation.check_int(seed, "seed")
    if not 0 <= value < 2**64:
        raise ValueError(f"seed must be in [0, 2**64), got {value}")
    if batch == ():
        return torch.tensor(value - 2**64 if value > _INT64_MAX else value, dtype=torch.int64)
    b = 1
    for s in batch:
        b *= s
    seeds = _batch.element_seeds(value, b).view("int64").copy()
    return torch.from_numpy(seeds).reshape(batch)


def _labels_for(labels: Any, S: Tensor, name: str) -> Tensor:
    if not isinstance(labels, Tensor):
        labels = torch.as_tensor(labels)
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise TypeError(f"{name} must hold integers (-1 for unknown), got {labels.dtype}")
    shape = tuple(S.shape[:-1])
    if labels.dtype == torch.int64 and labels.is_cpu and tuple(labels.shape) == shape:
        same: Tensor = labels
        return same
    if labels.dim() == 0 or labels.shape[-1] != S.shape[-1]:
        raise ValueError(f"{name} must have shape (..., n) with n = {S.shape[-1]}, got {tuple(labels.shape)}")
    try:
        out: Tensor = labels.to(device="cpu", dtype=torch.int64).expand(shape)
        return out
    except RuntimeError:
        raise ValueError(f"{name} of shape {tuple(labels.shape)} does not broadcast to S.shape[:-1] = {shape}"
                         ) from None


def perturbed_kforest(
    S: Tensor,
    k: int,
    *,
    sigma: float,
    n_samples: int,
    seed: int | Tensor | None = None,
    generator: torch.Generator | None = None,
    known_labels: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Perturbed maximum-weight k-forest ``(A_eps, M_eps, F_eps)`` of S, differentiable in S.

    Parameters
    ----------
    S : Tensor, shape (..., n, n)
        Similarities (larger = more similar); edge {i, j} weighs ``(S_ij + S_ji) / 2``.
    k : int
        Number of trees.
    sigma, n_samples
        Noise scale (> 0) and number of Monte-Carlo samples B.
    seed : int, int64 Tensor of shape ``S.shape[:-2]`` or None
        See the module notes; None draws one seed per matrix from ``generator``.
    generator : torch.Generator, optional
        The CPU generator to draw the seeds from (default: torch's default generator).
        Not inside ``torch.compile``, which cannot trace a generator argument.
    known_labels : Tensor of int, shape (..., n), optional
        Partial labels (-1 unknown); each sample solves the constrained greedy.

    Returns
    -------
    A, M : Tensor, shape (..., n, n)
        Mean adjacency and connectivity of the perturbed forests.
    F : Tensor, shape (...)
        Mean value ``<A_s, S + sigma Z_s>``.

    Notes
    -----
    Gradients: ``dF/dS = A`` exactly (for the Monte-Carlo estimate with its noise
    fixed); the gradients through A and M are the Gaussian score estimator with the
    unperturbed solution as control variate, which solves the B samples again. It
    runs only when A or M receives a non-zero gradient, so a loss built on F alone
    costs one forward. Second derivatives of A and M are not implemented.

    A CUDA tensor is computed on the CPU and the results are returned on its device.
    """
    batch = _check_S(S)
    k, sigma, n_samples = _perturbation(S, k, sigma, n_samples)
    seeds = resolve_seed(seed, generator, batch)
    labels = None if known_labels is None else _labels_for(known_labels, S, "known_labels")
    A, M, F = _library.perturbed_kforest(S, k, sigma, n_samples, seeds, labels)
    return A, M, F


def partial_fy_loss(
    S: Tensor,
    k: int,
    labels: Tensor,
    *,
    sigma: float,
    n_samples: int,
    seed: int | Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Partial Fenchel-Young loss ``F_eps(S) - F_eps(S; y)`` per matrix, differentiable in S.

    Parameters
    ----------
    S : Tensor, shape (..., n, n)
        Similarities.
    k : int
        Number of clusters.
    labels : Tensor of int, shape (..., n)
        Partial labels, -1 for unknown (broadcast against ``S.shape[:-1]``).
    sigma, n_samples, seed, generator
        As in :func:`perturbed_kforest`.

    Returns
    -------
    Tensor, shape (...)
        The loss of each matrix (>= 0), in the dtype of S.

    Notes
    -----
    The forward computes the gradient ``A_eps(S) - A_eps(S; y)`` with the loss (the
    two problems share their noise) and keeps it for backward: O(n^2) memory per
    matrix whatever ``n_samples`` is, and backward costs nothing more.
    A CUDA tensor is computed on the CPU and the result is returned on its device.
    """
    batch = _check_S(S)
    k, sigma, n_samples = _perturbation(S, k, sigma, n_samples)
    seeds = resolve_seed(seed, generator, batch)
    lab = _labels_for(labels, S, "labels")
    loss: Tensor = _library.partial_fy_loss(S, k, lab, sigma, n_samples, seeds)[0]
    return loss


def kforest(S: Tensor, k: int) -> Tensor:
    """Cluster labels (..., n) int64 of the maximum-weight k-forest (single linkage) of S.

    Not differentiable (an integer output): for evaluation. Clusters are numbered by
    first appearance, as in :func:`diffclust.kforest`.
    """
    _check_S(S)
    out: Tensor = _library.kforest(S, int(k))
    return out


def similarity(X: Tensor, kind: str = "sqeuclidean", *, standardize: bool = False) -> Tensor:
    """Similarity matrices (..., n, n) of embeddings X (..., n, d), built with torch ops.

    ``"sqeuclidean"``: ``S_ij = -||x_i - x_j||^2``; ``"cosine"``: ``x_i . x_j /
    (||x_i|| ||x_j||)`` (norms clamped at 1e-12); ``"dot"``: ``x_i . x_j``.
    ``standardize=True`` maps each matrix to ``(S - m) / s`` where m and s are the mean
    and the (population) standard deviation of its off-diagonal entries, so that a
    noise scale sigma is relative to the spread of the similarities (the diagonal is
    ignored by the forests and left as computed).
    """
    if not isinstance(X, Tensor) or X.dim() < 2:
        raise ValueError("X must be a tensor of shape (..., n, d)")
    if kind == "sqeuclidean":
        sq = (X * X).sum(-1)
        S = 2 * (X @ X.mT) - sq[..., :, None] - sq[..., None, :]
    elif kind == "cosine":
        U = X / torch.linalg.vector_norm(X, dim=-1, keepdim=True).clamp_min(1e-12)
        S = U @ U.mT
    elif kind == "dot":
        S = X @ X.mT
    else:
        raise ValueError(f"similarity must be one of {SIMILARITIES}, got {kind!r}")
    if standardize:
        n = S.shape[-1]
        if n < 2:
            raise ValueError("standardize=True needs n >= 2 points (off-diagonal similarities)")
        off = ~torch.eye(n, dtype=torch.bool, device=S.device)
        m = (S * off).sum((-2, -1), keepdim=True) / (n * (n - 1))
        var = (((S - m) * off) ** 2).sum((-2, -1), keepdim=True) / (n * (n - 1))
        S = (S - m) / var.clamp_min(torch.finfo(S.dtype).tiny).sqrt()
    return S


def soft_ncut(W: Tensor, P: Tensor) -> Tensor:
    """Relaxed normalized cut ``k - sum_c P_c^T W P_c / P_c^T d`` of a soft assignment P (n, k).

    Differentiable in P (the kernel's closed-form gradient); W (n, n, dense,
    non-negative) is data: a W that requires grad is a ``ValueError``.
    See :func:`diffclust.soft_ncut`.
    """
    if W.requires_grad and torch.is_grad_enabled():
        raise ValueError("soft_ncut is differentiable in P only: detach W")
    out: Tensor = _library.soft_ncut(W, P)[0]
    return out


def dec_loss(Z: Tensor, centers: Tensor, alpha: float = 1.0, *, target: Tensor | None = None) -> Tensor:
    """DEC's KL(P || Q) (a sum over points), differentiable in Z and centers.

    ``target=None`` computes DEC's target P from Q and holds it fixed in the gradient,
    as DEC does (so the gradient is not the total derivative of the value, in which P
    moves with Z); a given target must not require grad. See :func:`diffclust.dec_loss`.
    """
    if target is not None and target.requires_grad and torch.is_grad_enabled():
        raise ValueError("dec_loss is not differentiable in target: detach it")
    out: Tensor = _library.dec_loss(Z, centers, float(alpha), target)[0]
    return out


def kmeans_loss(X: Tensor, centers: Tensor, labels: Tensor | None = None) -> Tensor:
    """k-means loss ``sum_i ||x_i - c_{l_i}||^2``, differentiable in X and centers.

    ``labels=None`` assigns each point to its nearest center. The gradients are
    ``2 (x_i - c_{l_i})`` and ``-2 sum_{i: l_i = j} (x_i - c_j)`` (with the nearest
    center held fixed, which is the gradient wherever the assignment is unique).
    """
    out: Tensor = _library.kmeans_loss(X, centers, labels)
    return out


def gmm_nll(
    X: Tensor, weights: Tensor, means: Tensor, covariances: Tensor, covariance_type: str = "full"
) -> Tensor:
    """Mean negative log-likelihood of X (n, d) under a Gaussian mixture.

    Differentiable in X and means (``(1/n) sum_j r_ij Sigma_j^-1 (x_i - mu_j)`` and its
    opposite summed over i, with the posteriors r); weights and covariances are
    parameters of the value only: passing them with ``requires_grad`` is a
    ``ValueError``. See :func:`diffclust.gmm_nll` for shapes and checks.
    """
    if torch.is_grad_enabled() and (weights.requires_grad or covariances.requires_grad):
        raise ValueError("gmm_nll is differentiable in X and means only: detach weights and covariances")
    out: Tensor = _library.gmm_nll(X, weights, means, covariances, covariance_type)
    return out
