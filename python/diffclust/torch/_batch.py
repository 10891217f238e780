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
    fn = getattr(_ops, "element_seeds", None)
    if fn is None:  # pragma: no cover - present once the batched kernels are merged
        raise NotImplementedError(
            "an int seed for batched S needs diffclust._ops.element_seeds (the batched kernels); "
            "pass a seed tensor of shape S.shape[:-2] (one seed per matrix) or seed=None"
        )
    out: NDArray[np.uint64] = np.asarray(fn(seed, b), dtype=np.uint64)
    return out


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
    """Element by element over the leading axis of S (b, n, n).

    kind "forward": (A (b, n, n), M (b, n, n), F (b,)); "vjp": (g (b, n, n),);
    "loss": (loss (b,), grad (b, n, n)). Float outputs are in the dtype of S.

    Once the batched kernels are merged this loop becomes one call each (seeds is the
    (b,) uint64 array, labels the (b, n) array or None):
    ``_ops.perturbed_kforest(S, k, sigma, n_samples, seeds, n_threads, known_labels=labels)[:3]``,
    ``_ops.perturbed_kforest_vjp(S, k, VA, VM, sigma, n_samples, seeds, n_threads,
    control_variate=..., known_labels=labels)``, ``_ops.partial_fy_loss(S, k, labels, sigma,
    n_samples, seeds, n_threads)[:2]`` (casting the float64 loss to the dtype of S).
    """
    n_threads = resolve_threads(None)
    b = S.shape[0]
    dtype = S.dtype
    if b == 1:  # one matrix: the kernel's own outputs, no copy
        return _one(kind, S[0], k, sigma, n_samples, int(seeds[0]), None if labels is None else labels[0],
                    n_threads, grad_adjacency, grad_connectivity, control_variate)
    if kind == "forward":
        out: tuple[Array, ...] = (np.empty_like(S), np.empty_like(S), np.empty(b, dtype))
    elif kind == "vjp":
        out = (np.empty_like(S),)
    else:
        out = (np.empty(b, dtype), np.empty_like(S))
    for t in range(b):
        lab = None if labels is None else labels[t]
        seed = int(seeds[t])
        if kind == "forward":
            A, M, F, *_ = _ops.perturbed_kforest(S[t], k, sigma, n_samples, seed, n_threads, known_labels=lab)
            out[0][t], out[1][t], out[2][t] = A, M, F
        elif kind == "vjp":
            VA = None if grad_adjacency is None else grad_adjacency[t]
            VM = None if grad_connectivity is None else grad_connectivity[t]
            out[0][t] = _ops.perturbed_kforest_vjp(
                S[t], k, VA, VM, sigma, n_samples, seed, n_threads,
                control_variate=control_variate, known_labels=lab,
            )
        else:
            loss, grad, *_ = _ops.partial_fy_loss(S[t], k, lab, sigma, n_samples, seed, n_threads)
            out[0][t], out[1][t] = loss, grad
    return out


def _one(
    kind: str, S: Array, k: int, sigma: float, n_samples: int, seed: int, labels: Array | None, n_threads: int,
    grad_adjacency: Array | None, grad_connectivity: Array | None, control_variate: bool,
) -> tuple[Array, ...]:
    """``perturbed`` for b = 1, returning the kernel's arrays with a leading axis of 1."""
    if kind == "forward":
        A, M, F, *_ = _ops.perturbed_kforest(S, k, sigma, n_samples, seed, n_threads, known_labels=labels)
        return A[None], M[None], np.full(1, F, S.dtype)
    if kind == "vjp":
        VA = None if grad_adjacency is None else grad_adjacency[0]
        VM = None if grad_connectivity is None else grad_connectivity[0]
        g = _ops.perturbed_kforest_vjp(S, k, VA, VM, sigma, n_samples, seed, n_threads,
                                       control_variate=control_variate, known_labels=labels)
        return (g[None],)
    loss, grad, *_ = _ops.partial_fy_loss(S, k, labels, sigma, n_samples, seed, n_threads)
    return np.full(1, loss, S.dtype), grad[None]
