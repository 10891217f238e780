"""Differentiable mutual-reachability similarities as JAX functions.

``mr_similarity(X, min_samples)`` is ``S = -d_mr`` with ``d_mr(i, j) = max(core_i,
core_j, d(x_i, x_j))`` and the core distance the distance to the ``min_samples``-th
nearest point, **the point itself included** (:func:`diffclust.hdbscan`'s
convention). It is plain ``jax.numpy`` (pairwise differences, a sort, maxima), so
``jit``, ``grad`` and ``vmap`` work and gradients flow to X almost everywhere: feed it
to :func:`diffclust.jax.perturbed_kforest` or :func:`diffclust.jax.partial_fy_loss`.
``min_samples`` and ``metric`` are static.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from .._validation import check_int, resolve_metric

__all__ = ["mr_distances", "mr_similarity"]


def _pairwise(X: Any, metric: str) -> Any:
    """(..., n, n) distances with a zero diagonal; gradients 0 where a distance is 0."""
    if metric == "cosine":
        U = X / jnp.linalg.norm(X, axis=-1, keepdims=True)
        D = 1.0 - U @ jnp.swapaxes(U, -1, -2)
    else:
        diff = X[..., :, None, :] - X[..., None, :, :]
        if metric == "manhattan":
            D = jnp.abs(diff).sum(-1)
        else:
            sq = (diff * diff).sum(-1)
            if metric == "sqeuclidean":
                D = sq
            else:  # euclidean: sqrt with a zero gradient at zero distance
                positive = sq > 0
                D = jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)
    n = X.shape[-2]
    return jnp.where(jnp.eye(n, dtype=bool), jnp.zeros((), D.dtype), D)


def mr_distances(X: Any, min_samples: int = 5, *, metric: str = "euclidean") -> Any:
    """Mutual-reachability distances ``max(core_i, core_j, d(x_i, x_j))``, differentiable.

    Parameters
    ----------
    X : jax array, shape (..., n, d)
        Points (floating point).
    min_samples : int, default 5
        Neighbours of a core point, the point itself included; in [1, n] (static).
    metric : {"euclidean", "sqeuclidean", "manhattan", "cosine"} or an alias (static)

    Returns
    -------
    jax array, shape (..., n, n)
        Symmetric with a zero diagonal, in X's dtype; equal to
        :func:`diffclust.mutual_reachability_distances` to rounding.
    """
    X = jnp.asarray(X)
    if not jnp.issubdtype(X.dtype, jnp.floating):
        raise TypeError(f"X must be a floating-point array, got {X.dtype}")
    if X.ndim < 2 or X.shape[-2] < 1 or X.shape[-1] < 1:
        raise ValueError(f"X must have shape (..., n, d) with n, d >= 1, got {tuple(X.shape)}")
    name = resolve_metric(metric)
    n = X.shape[-2]
    ms = check_int(min_samples, "min_samples")
    if not 1 <= ms <= n:
        raise ValueError(f"min_samples must be in [1, n_samples] = [1, {n}] (it counts the point itself), got {ms}")
    D = _pairwise(X, name)
    core = jnp.sort(D, axis=-1)[..., ms - 1]
    M = jnp.maximum(D, jnp.maximum(core[..., :, None], core[..., None, :]))
    return jnp.where(jnp.eye(n, dtype=bool), jnp.zeros((), M.dtype), M)


def mr_similarity(X: Any, min_samples: int = 5, *, metric: str = "euclidean") -> Any:
    """The mutual-reachability similarity ``S = -d_mr`` (zero diagonal), differentiable.

    See :func:`mr_distances` for the parameters. ``diffclust.jax.partial_fy_loss(
    mr_similarity(X, m), k, key, ...)`` trains X through density clustering.
    """
    return -mr_distances(X, min_samples, metric=metric)
