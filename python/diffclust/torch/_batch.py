"""The one place where the torch front end meets the perturbed kernels of ``diffclust._ops``.

Every function takes a stack of similarity matrices ``S`` (b, n, n) (a C-contiguous
float32/float64 NumPy array that shares memory with the caller's tensor), one uint64
seed per element (b,) and, when there are labels, one label row per element (b, n).
Element t is computed with its own seed ``seeds[t]``: exactly what the batched
``_ops`` calls do for a (b,) seed array, so swapping the loop below for one batched
call changes no result.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import _ops
from .._validation import resolve_threads

Array = NDArray[Any]


def element_seeds(seed: int, b: int) -> NDArray[np.uint64]:
    """The per-element seeds that a batched ``_ops`` call derives from one int seed."""
    return _ops.element_seeds(seed, b)


def perturbed(
    kind: str,
    S: Array,
    k: int,
    sigma: float,
    n_samples: int,
    seeds: NDArray[np.uint64],
    labels: NDArray[np.int64] | None,
    *,
    grad_adjacency: Array | None = None,
    grad_connectivity: Array | None = None,
    control_variate: bool = True,
) -> tuple[Array, ...]:
    """One batched ``_ops`` call over the leading axis of S (b, n, n), element t with seed ``seeds[t]``.

    kind "forward": (A (b, n, n), M (b, n, n), F (b,)); "vjp": (g (b, n, n),);
    "loss": (loss (b,), grad (b, n, n)). Float outputs are in the dtype of S.
    """
    n_threads = resolve_threads(None)
    if S.shape[0] == 1 and (kind != "vjp" or grad_adjacency is not None or grad_connectivity is not None):
        return _one(kind, S, k, sigma, n_samples, int(seeds[0]), labels, n_threads, grad_adjacency,
                    grad_connectivity, control_variate)
    if kind == "forward":
        A, M, F, *_ = _ops.perturbed_kforest(S, k, sigma, n_samples, seeds, n_threads, known_labels=labels)
        return A, M, np.asarray(F, dtype=S.dtype)
    if kind == "vjp":  # only the elements whose A or M gets a non-zero cotangent are solved
        b = S.shape[0]
        used = [V.reshape(b, -1).any(axis=1) if V is not None else np.zeros(b, bool)
                for V in (grad_adjacency, grad_connectivity)]
        live = np.flatnonzero(used[0] | used[1])
        if live.size == b:
            g = _ops.perturbed_kforest_vjp(S, k, grad_adjacency, grad_connectivity, sigma, n_samples, seeds,
                                           n_threads, control_variate=control_variate, known_labels=labels)
            return (g,)
        g = np.zeros_like(S)
        if live.size:
            VA, VM = (V[live] if V is not None and u.any() else None
                      for V, u in zip((grad_adjacency, grad_connectivity), used))
            g[live] = _ops.perturbed_kforest_vjp(
                S[live], k, VA, VM, sigma, n_samples, seeds[live], n_threads, control_variate=control_variate,
                known_labels=None if labels is None else labels[live],
            )
        return (g,)
    loss, grad, *_ = _ops.partial_fy_loss(S, k, labels, sigma, n_samples, seeds, n_threads)
    return np.asarray(loss, dtype=S.dtype), grad


def _one(
    kind: str, S: Array, k: int, sigma: float, n_samples: int, seed: int, labels: NDArray[np.int64] | None,
    n_threads: int, grad_adjacency: Array | None, grad_connectivity: Array | None, control_variate: bool,
) -> tuple[Array, ...]:
    """``perturbed`` for a batch of one, through the 2-D calls (less per-call work; the
    same numbers, since element 0 of a batch is the 2-D call with its seed)."""
    y = None if labels is None else labels[0]
    if kind == "forward":
        A, M, F, *_ = _ops.perturbed_kforest(S[0], k, sigma, n_samples, seed, n_threads, known_labels=y)
        return A[None], M[None], np.full(1, F, S.dtype)
    if kind == "vjp":
        g = _ops.perturbed_kforest_vjp(
            S[0], k, None if grad_adjacency is None else grad_adjacency[0],
            None if grad_connectivity is None else grad_connectivity[0], sigma, n_samples, seed, n_threads,
            control_variate=control_variate, known_labels=y,
        )
        return (g[None],)
    loss, grad, *_ = _ops.partial_fy_loss(S[0], k, y, sigma, n_samples, seed, n_threads)
    return np.full(1, loss, S.dtype), grad[None]
