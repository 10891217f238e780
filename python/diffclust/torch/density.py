"""Differentiable mutual-reachability similarities and perturbed HDBSCAN* on torch tensors.

``mr_similarity(X, min_samples)`` is ``S = -d_mr`` with ``d_mr(i, j) = max(core_i,
core_j, d(x_i, x_j))`` and the core distance the distance to the ``min_samples``-th
nearest point, **the point itself included** (:func:`diffclust.hdbscan`'s
convention), built from plain torch ops (pairwise differences, ``kthvalue``,
``maximum``), so that autograd differentiates it almost everywhere: feed it to
:func:`diffclust.torch.perturbed_kforest` or :func:`diffclust.torch.partial_fy_loss`
to train through density clustering. :func:`perturbed_hdbscan` is HDBSCAN* on the
perturbed trees of that similarity (expected co-clustering and noise probabilities),
differentiable in X through the same similarity.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._validation import check_int, resolve_metric

__all__ = ["mr_distances", "mr_similarity", "perturbed_hdbscan"]


def _pairwise(X: Tensor, metric: str) -> Tensor:
    """(..., n, n) distances with a zero diagonal; gradients 0 where a distance is 0."""
    if metric == "cosine":
        U = X / torch.linalg.vector_norm(X, dim=-1, keepdim=True)
        D = 1.0 - U @ U.transpose(-1, -2)
    else:
        diff = X.unsqueeze(-2) - X.unsqueeze(-3)
        if metric == "manhattan":
            D = diff.abs().sum(-1)
        else:
            sq = (diff * diff).sum(-1)
            if metric == "sqeuclidean":
                D = sq
            else:  # euclidean: sqrt with a zero gradient at zero distance (the diagonal, duplicates);
                # NaN stays NaN (a test sq > 0 would turn it into a distance of 0)
                zero = sq == 0
                D = torch.where(zero, torch.zeros_like(sq), torch.sqrt(torch.where(zero, torch.ones_like(sq), sq)))
    n = X.shape[-2]
    eye = torch.eye(n, dtype=torch.bool, device=X.device)
    out: Tensor = D.masked_fill(eye, 0.0)
    return out


def mr_distances(X: Tensor, min_samples: int = 5, *, metric: str = "euclidean") -> Tensor:
    """Mutual-reachability distances ``max(core_i, core_j, d(x_i, x_j))``, differentiable.

    Parameters
    ----------
    X : Tensor, shape (..., n, d)
        Points (floating point; any leading batch dimensions).
    min_samples : int, default 5
        Neighbours of a core point, the point itself included; in [1, n].
    metric : {"euclidean", "sqeuclidean", "manhattan", "cosine"} or an alias

    Returns
    -------
    Tensor, shape (..., n, n)
        Symmetric with a zero diagonal, in X's dtype; equal to
        :func:`diffclust.mutual_reachability_distances` to rounding (the NumPy
        function uses the package's tiled distance kernel).
    """
    if not isinstance(X, Tensor):
        raise TypeError(f"X must be a torch.Tensor, got {type(X).__name__}")
    if not X.dtype.is_floating_point:
        raise TypeError(f"X must be a floating-point tensor, got {X.dtype}")
    if X.dim() < 2 or X.shape[-2] < 1 or X.shape[-1] < 1:
        raise ValueError(f"X must have shape (..., n, d) with n, d >= 1, got {tuple(X.shape)}")
    name = resolve_metric(metric)
    n = X.shape[-2]
    ms = check_int(min_samples, "min_samples")
    if not 1 <= ms <= n:
        raise ValueError(f"min_samples must be in [1, n_samples] = [1, {n}] (it counts the point itself), got {ms}")
    D = _pairwise(X, name)
    core = torch.kthvalue(D, ms, dim=-1).values
    M = torch.maximum(D, torch.maximum(core.unsqueeze(-1), core.unsqueeze(-2)))
    eye = torch.eye(n, dtype=torch.bool, device=X.device)
    return M.masked_fill(eye, 0.0)


def mr_similarity(X: Tensor, min_samples: int = 5, *, metric: str = "euclidean") -> Tensor:
    """The mutual-reachability similarity ``S = -d_mr`` (zero diagonal), differentiable.

    ``diffclust.torch.perturbed_kforest(mr_similarity(X, m), k, seed=s)`` equals the
    NumPy ``perturbed_kforest_from_points(X, k, min_samples=m, metric=..., seed=s)``
    (to the rounding of d_mr), and its gradients flow back to X through d_mr: a pair
    follows the argument attaining the max, a core distance its ``min_samples``-th
    nearest point (``kthvalue``). See :func:`mr_distances` for the parameters.

    Examples
    --------
    >>> import torch, diffclust.torch as dct
    >>> X = torch.randn(12, 2, dtype=torch.float64, requires_grad=True)
    >>> y = torch.tensor([0, 0, 1, 1] + [-1] * 8)
    >>> loss = dct.partial_fy_loss(dct.mr_similarity(X, 3), 2, y, sigma=0.1, n_samples=10, seed=0)
    >>> loss.backward()
    >>> X.grad.shape
    torch.Size([12, 2])
    """
    return -mr_distances(X, min_samples, metric=metric)


def perturbed_hdbscan(
    X: Tensor,
    *,
    min_cluster_size: int = 5,
    min_samples: int | None = None,
    metric: str = "euclidean",
    sigma: float = 0.1,
    sigma_scale: str = "median_edge",
    n_samples: int = 100,
    cluster_selection_method: str = "eom",
    cluster_selection_epsilon: float = 0.0,
    allow_single_cluster: bool = False,
    seed: int | Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Perturbed HDBSCAN*: expected co-clustering and noise probabilities, differentiable in X.

    :func:`diffclust.perturbed_hdbscan` as a torch operator: sample s takes the maximum
    spanning tree of ``S + noise_scale Z_s`` with ``S = mr_similarity(X, min_samples)``
    and runs HDBSCAN*'s condensing and selection on it. Gradients reach S through the
    score-function estimator of :func:`diffclust.perturbed_hdbscan_vjp` (unperturbed
    labels as control variate; the B samples are solved again in the backward), and X
    through ``mr_similarity``. The noise scale is held fixed in the gradient.

    Parameters
    ----------
    X : Tensor, shape (n, d)
        Points (floating point).
    min_cluster_size, min_samples, metric, sigma, sigma_scale, n_samples, cluster_selection_method, \
cluster_selection_epsilon, allow_single_cluster
        As in :func:`diffclust.perturbed_hdbscan` (``min_samples`` None: ``min_cluster_size``).
    seed : int, int64 scalar Tensor or None
        None draws one from ``generator`` (default: torch's default generator, so
        ``torch.manual_seed`` makes runs reproducible). The same seed gives the NumPy
        function's result on the same similarity.
    generator : torch.Generator, optional

    Returns
    -------
    co_clustering : Tensor, shape (n, n)
    noise_probability : Tensor, shape (n,)
        In X's dtype, on X's device (a CUDA tensor is computed on the CPU).

    Examples
    --------
    >>> import torch, diffclust.torch as dct
    >>> X = torch.cat([torch.randn(15, 2) * 0.3, torch.randn(15, 2) * 0.3 + 4]).double().requires_grad_()
    >>> C, noise = dct.perturbed_hdbscan(X, min_cluster_size=5, n_samples=20, seed=0)
    >>> (C[:15, :15].mean() > 0.9).item(), C.shape
    (True, torch.Size([30, 30]))
    >>> (C[:15, 15:].sum() + noise.sum()).backward()
    >>> X.grad.shape
    torch.Size([30, 2])
    """
    from .. import density_perturbed as dp
    from . import _library
    from .functional import resolve_seed

    if not isinstance(X, Tensor):
        raise TypeError(f"X must be a torch.Tensor, got {type(X).__name__}")
    if X.dim() != 2:
        raise ValueError(f"X must have shape (n, d), got {tuple(X.shape)}")
    if not torch.compiler.is_compiling() and not bool(torch.isfinite(X).all()):
        raise ValueError("X contains NaN or infinity")
    mcs, ms, sig, B, (method, eps, single) = dp.check_arguments(
        int(X.shape[0]), min_cluster_size, min_samples, sigma, sigma_scale, n_samples, cluster_selection_method,
        cluster_selection_epsilon, allow_single_cluster)
    S = mr_similarity(X, ms, metric=metric)
    seeds = resolve_seed(seed, generator, ())
    C, noise = _library.perturbed_hdbscan(S, mcs, sig, sigma_scale, B, seeds, method, eps, single)
    return C, noise
