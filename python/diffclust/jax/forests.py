"""Perturbed k-forests, the partial Fenchel-Young loss and k-forest labels as JAX
functions (see the package docstring for randomness and differentiability)."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _ops
from .._validation import check_k, check_n_samples, check_sigma, resolve_threads
from . import _host
from ._host import (
    _VMAP,
    Array,
    _callback,
    _float_input,
    _labels,
    _Perturbation,
    _sds,
    _square,
    _words,
)


class PerturbedForest(NamedTuple):
    """``(A, M, F)`` of :func:`perturbed_kforest`: ``adjacency`` A_eps and
    ``connectivity`` M_eps of shape (..., n, n), ``value`` F_eps of shape (...)."""

    adjacency: Array
    connectivity: Array
    value: Array


# --------------------------------------------------------------------------- perturbed k-forest


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _perturbed(cfg: _Perturbation, S: Array, words: Array, labels: Array | None) -> tuple[Array, ...]:
    return _callback("perturbed_kforest", cfg, S, words, labels)


def _perturbed_fwd(cfg: _Perturbation, S: Array, words: Array, labels: Array | None) -> Any:
    A, M, F = _callback("perturbed_kforest", cfg, S, words, labels)
    return (A, M, F), (S, words, labels, A)


def _perturbed_bwd(cfg: _Perturbation, res: Any, g: Any) -> Any:
    S, words, labels, A = res
    gA, gM, gF = g
    (score,) = _callback("perturbed_kforest_vjp", cfg, S, words, labels, gA, gM)
    return gF[..., None, None] * A + score, None, None


_perturbed.defvjp(_perturbed_fwd, _perturbed_bwd)


def perturbed_kforest(
    S: Array, k: int, key: Any, *, sigma: float, n_samples: int, known_labels: Array | None = None,
    control_variate: bool = True,
) -> PerturbedForest:
    """Perturbed maximum-weight k-forest ``(A, M, F)`` of S, differentiable in S.

    Parameters
    ----------
    S : jax array, shape (..., n, n)
        Similarities (edge {i, j} weighs ``(S_ij + S_ji) / 2``; the diagonal is ignored).
    k : int
        Number of trees, 1 <= k <= n (static).
    key : jax.random key
        One key (``jax.random.key`` or a raw ``PRNGKey``); element t of the batch uses
        seed ``seeds(key, S.shape[:-2])[t]`` (see the module docstring).
    sigma : float
        Noise scale, > 0 (static).
    n_samples : int
        Monte-Carlo samples B >= 1 (static).
    known_labels : int array, shape (..., n), optional
        Partial labels (-1 = unknown), broadcast against ``S.shape[:-1]``: every sample
        solves the constrained greedy. Not differentiable.
    control_variate : bool, default True
        Use the unperturbed solution as the score estimator's control variate.

    Returns
    -------
    PerturbedForest
        ``(adjacency, connectivity, value)``: A_eps and M_eps (..., n, n) and F_eps
        (...), in the dtype of S. The same numbers as
        :func:`diffclust.perturbed_kforest` with the seeds of :func:`seeds`.

    Notes
    -----
    ``dF/dS = A`` exactly; the VJP of A and M is the Gaussian score estimator of
    :func:`diffclust.perturbed_kforest_vjp`, which solves the B samples again (about
    one forward's cost) -- skipped for elements whose A and M cotangents are zero.

    Raises
    ------
    TypeError, ValueError
        At trace time: a bad shape, k, sigma, n_samples, key or labels (concrete
        labels are also checked for values). NaN or infinity in S surfaces at run
        time as ``jax.errors.JaxRuntimeError``.
    """
    S, out_dtype = _float_input(S, "S", 2)
    n = _square(S)
    cfg = _Perturbation(check_k(k, n), check_sigma(sigma), check_n_samples(n_samples), bool(control_variate))
    lead = tuple(S.shape[:-2])
    words = _words(key, lead)
    labels = None if known_labels is None else _labels(known_labels, lead, n, cfg.k, "known_labels")
    _ops.check_working_memory(n, resolve_threads(None), labels is not None, "perturbed_kforest")
    A, M, F = _perturbed(cfg, S, words, labels)
    return PerturbedForest(A.astype(out_dtype), M.astype(out_dtype), F.astype(out_dtype))


# --------------------------------------------------------------------------- partial Fenchel-Young loss


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _fy(cfg: _Perturbation, S: Array, words: Array, labels: Array) -> Array:
    return _callback("partial_fy_loss", cfg, S, words, labels)[0]


def _fy_fwd(cfg: _Perturbation, S: Array, words: Array, labels: Array) -> Any:
    loss, grad = _callback("partial_fy_loss", cfg, S, words, labels)
    return loss, grad


def _fy_bwd(cfg: _Perturbation, grad: Any, g: Any) -> Any:
    return g[..., None, None] * grad, None, None


_fy.defvjp(_fy_fwd, _fy_bwd)


def partial_fy_loss(
    S: Array, k: int, labels: Array, key: Any, *, sigma: float, n_samples: int
) -> Array:
    """Partial Fenchel-Young loss ``F_eps(S) - F_eps(S; y)`` per element, differentiable in S.

    Parameters
    ----------
    S : jax array, shape (..., n, n)
        Similarities.
    k : int
        Number of clusters (static).
    labels : int array, shape (..., n)
        Partial labels, -1 = unknown, broadcast against ``S.shape[:-1]``.
    key : jax.random key
        As in :func:`perturbed_kforest` (the same seeds).
    sigma, n_samples
        As in :func:`perturbed_kforest` (static).

    Returns
    -------
    jax array, shape S.shape[:-2]
        The loss of each element, in the dtype of S; its gradient
        ``A_eps(S) - A_eps(S; y)`` is computed by the forward call and kept (the
        backward pass only scales it). Equals :func:`diffclust.partial_fy_loss`
        with the seeds of :func:`seeds`.
    """
    S, out_dtype = _float_input(S, "S", 2)
    n = _square(S)
    cfg = _Perturbation(check_k(k, n), check_sigma(sigma), check_n_samples(n_samples))
    lead = tuple(S.shape[:-2])
    words = _words(key, lead)
    y = _labels(labels, lead, n, cfg.k, "labels")
    _ops.check_working_memory(n, resolve_threads(None), True, "partial_fy_loss")
    return _fy(cfg, S, words, y).astype(out_dtype)


# --------------------------------------------------------------------------- k-forest labels


def kforest(S: Array, k: int, *, known_labels: Array | None = None) -> Array:
    """Labels (..., n) of the maximum-weight k-forest of S (not differentiable).

    Clusters are numbered by first appearance, as :func:`diffclust.kforest`; the
    labels are int32. Gradients through them are zero (S is wrapped in
    ``stop_gradient``).
    """
    S, _ = _float_input(S, "S", 2)
    n = _square(S)
    k = check_k(k, n)
    lead = tuple(S.shape[:-2])
    y = None if known_labels is None else _labels(known_labels, lead, n, k, "known_labels")

    def host(S: Any, y: Any) -> Any:
        S = np.asarray(S)
        Y = None if y is None else np.asarray(y).reshape(-1, n)
        (labels,) = _host._batched("kforest", _Perturbation(k, 1.0, 1), S.reshape(-1, n, n), None, Y)
        return np.asarray(labels, dtype=np.int32).reshape(S.shape[:-1])

    result = _sds(S.shape[:-1], jnp.int32)
    return jax.pure_callback(host, result, jax.lax.stop_gradient(S), y, vmap_method=_VMAP)
