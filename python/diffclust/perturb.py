"""Perturbed k-forests, their gradients and the partial Fenchel–Young loss.

For symmetric Gaussian noise ``Z`` (one independent standard normal per edge,
``Z_ij = Z_ji``) and a scale ``sigma > 0``, diffclust draws ``n_samples`` noise
matrices ``Z_1 .. Z_B`` and solves the maximum-weight k-forest of each
``S + sigma Z_s``:

- ``A_eps = mean_s A*(S + sigma Z_s)`` (adjacency), ``M_eps = mean_s M*(...)``
  (connectivity), ``F_eps = mean_s <A*(S + sigma Z_s), S + sigma Z_s>``;
- ``dF_eps/dS = A_eps`` (the gradient of the perturbed max is the perturbed argmax);
- vector-Jacobian products of ``A_eps`` and ``M_eps`` by the Gaussian score
  estimator (:func:`perturbed_kforest_vjp`).

Randomness is counter based (Philox4x32-10 with a ziggurat normal): the normal for
(seed, sample, edge) is a pure function of the three, so results are identical
for any thread count, the backward pass regenerates the forward noise from the
seed, and the constrained and unconstrained problems share noise (common random
numbers). The streams differ from NumPy's. Pass an ``int`` seed to share noise
between calls (a ``numpy.random.Generator`` is consumed: each call draws a new
seed from it).

References
----------
L. Stewart, F. Bach, F. Llinares-López, Q. Berthet. Differentiable Clustering
with Perturbed Spanning Forests. NeurIPS 2023. arXiv:2305.16358.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import (
    as_float_array,
    check_constraints,
    check_finite,
    check_k,
    check_memory,
    check_n_samples,
    check_sigma,
    check_square,
    core_fn,
    frozen,
    resolve_seed,
    resolve_threads,
)

__all__ = [
    "PerturbedForest",
    "partial_fy_loss",
    "perturbed_kforest",
    "perturbed_kforest_from_points",
    "perturbed_kforest_vjp",
]

_METRICS = ("sqeuclidean", "euclidean", "manhattan", "cosine")


@dataclass(frozen=True)
class PerturbedForest:
    """Monte-Carlo estimates of the perturbed k-forest.

    For batched input each field gains a leading batch axis.

    Attributes
    ----------
    adjacency : ndarray, shape (n, n)
        ``A_eps``: the fraction of samples whose forest holds edge {i, j}.
        Symmetric, zero diagonal. ``dF_eps/dS = A_eps``.
    connectivity : ndarray, shape (n, n)
        ``M_eps``: the fraction of samples in which i and j share a tree. Ones on
        the diagonal.
    value : float
        ``F_eps = mean_s <A_s, S + sigma Z_s>``.
    """

    adjacency: NDArray[np.floating[Any]]
    connectivity: NDArray[np.floating[Any]]
    value: Any


def _check_working_memory(n: int, threads: int, constrained: bool, what: str) -> None:
    """Outputs and per-thread count accumulators, plus, for constrained samples, the
    perturbed matrix (n^2 doubles) and the greedy's edge heap (n^2 / 2 edges) per thread."""
    per_thread = 2 * 4 * n * n + (8 * n * n + 12 * n * n if constrained else 0)
    check_memory(3 * 8 * n * n + threads * per_thread, what)


def perturbed_kforest(
    S: ArrayLike,
    k: int,
    *,
    sigma: float = 0.1,
    n_samples: int = 100,
    seed: int | np.random.Generator | None = None,
    known_labels: ArrayLike | None = None,
    must_link: ArrayLike | None = None,
    cannot_link: ArrayLike | None = None,
    refine: bool = True,
    n_threads: int | None = None,
) -> PerturbedForest:
    """Perturbed maximum-weight k-forest: ``A_eps``, ``M_eps`` and ``F_eps``.

    Parameters
    ----------
    S : array_like, shape (n, n) or (b, n, n)
        Similarities (larger = more similar), float32 or float64. Edge {i, j}
        weighs ``(S_ij + S_ji) / 2``; the diagonal is ignored.
    k : int
        Number of trees, 1 <= k <= n.
    sigma : float, default 0.1
        Noise scale, > 0.
    n_samples : int, default 100
        Number of Monte-Carlo samples B.
    seed : int, numpy.random.Generator or None
        Seed of the counter-based generator. Same seed, same output, for any
        ``n_threads``.
    known_labels, must_link, cannot_link, refine
        Constraints, as in :func:`diffclust.kforest`: each sample solves the
        constrained greedy on its perturbed weights.
    n_threads : int, optional
        Threads across samples. The result never depends on it.

    Returns
    -------
    PerturbedForest
        ``adjacency`` (A_eps), ``connectivity`` (M_eps), ``value`` (F_eps), in
        the dtype of S.

    Raises
    ------
    ValueError
        NaN/inf in S, wrong shapes, k outside [1, n], sigma <= 0, n_samples < 1,
        labels of the wrong length, infeasible constraints.
    KeyboardInterrupt
        Ctrl-C is honoured between chunks of samples.

    Notes
    -----
    Unconstrained samples fuse the noise into Prim's algorithm: each edge's
    normal is drawn where Prim reads the edge, so no n x n noise matrix is built
    and memory per thread is O(n) plus integer count accumulators. Counts are
    integers and samples are split in fixed chunks, so results are
    bit-identical for any thread count.
    """
    S = as_float_array(S, "S", ndims=(2, 3))
    n = check_square(S, "S")
    k = check_k(k, n)
    sigma = check_sigma(sigma)
    n_samples = check_n_samples(n_samples)
    labels, must, cannot = check_constraints(n, known_labels, must_link, cannot_link)
    threads = resolve_threads(n_threads)
    constrained = labels is not None or must is not None or cannot is not None
    _check_working_memory(n, threads, constrained, "perturbed_kforest")
    A, M, F = core_fn("perturbed_kforest", S.dtype)(
        S, k, sigma, n_samples, resolve_seed(seed), labels, must, cannot, bool(refine), True, True, threads
    )
    return PerturbedForest(frozen(A), frozen(M), frozen(F))


def perturbed_kforest_from_points(
    X: ArrayLike,
    k: int,
    *,
    metric: str = "sqeuclidean",
    sigma: float = 0.1,
    n_samples: int = 100,
    seed: int | np.random.Generator | None = None,
    n_threads: int | None = None,
) -> PerturbedForest:
    """Perturbed k-forest of points with ``S_ij = -d(x_i, x_j)`` computed inside Prim.

    Memory is O(n d) per thread plus the (n, n) outputs; the distance matrix is
    never built. The noise is the same as :func:`perturbed_kforest` draws for the
    same seed, so both agree on ``S = -D``.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Points (computed in float64).
    k : int
        Number of trees, 1 <= k <= n.
    metric : {"sqeuclidean", "euclidean", "manhattan", "cosine"}
        As in :func:`diffclust.kforest_from_points`.
    sigma, n_samples, seed, n_threads
        As in :func:`perturbed_kforest`.

    Returns
    -------
    PerturbedForest
        float64 ``adjacency``, ``connectivity`` and ``value``.
    """
    X = as_float_array(X, "X", ndims=(2,))
    k = check_k(k, X.shape[0])
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {_METRICS}, got {metric!r}")
    check_finite(X, "X")
    sigma = check_sigma(sigma)
    n_samples = check_n_samples(n_samples)
    threads = resolve_threads(n_threads)
    _check_working_memory(X.shape[0], threads, False, "perturbed_kforest_from_points")
    A, M, F = core_fn("perturbed_kforest_from_points", X.dtype)(
        X, k, metric, sigma, n_samples, resolve_seed(seed), True, True, threads
    )
    return PerturbedForest(frozen(A), frozen(M), frozen(F))


def _cotangent(V: ArrayLike | None, name: str, n: int, dtype: np.dtype[Any]) -> NDArray[Any] | None:
    if V is None:
        return None
    V = np.asarray(V)
    if V.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {V.dtype}")
    if V.shape != (n, n):
        raise ValueError(f"{name} must have shape ({n}, {n}) to match S, got {V.shape}")
    check_finite(V, name)
    return np.ascontiguousarray(V, dtype=dtype)


def perturbed_kforest_vjp(
    S: ArrayLike,
    k: int,
    grad_adjacency: ArrayLike | None = None,
    grad_connectivity: ArrayLike | None = None,
    *,
    sigma: float,
    n_samples: int,
    seed: int | np.random.Generator,
    control_variate: bool = True,
    known_labels: ArrayLike | None = None,
    must_link: ArrayLike | None = None,
    cannot_link: ArrayLike | None = None,
    refine: bool = True,
    n_threads: int | None = None,
) -> NDArray[np.floating[Any]]:
    """Vector-Jacobian product of ``A_eps`` and ``M_eps`` with respect to S.

    The Gaussian score estimator of DESIGN §2: for i != j,

    ``g_ij = 1 / (2 B sigma) sum_s (<A_s - A_ref, V_A> + <M_s - M_ref, V_M>) Z_s,ij``

    (the ½ because ``w_ij`` averages ``S_ij`` and ``S_ji``), where ``A_ref``,
    ``M_ref`` is the unperturbed solution when ``control_variate`` is True and
    zero otherwise. The diagonal of g is 0. Use the same ``sigma``,
    ``n_samples`` and int ``seed`` as the forward call to differentiate exactly
    that Monte-Carlo estimate: the noise is regenerated from the seed, so memory
    is O(n^2) whatever ``n_samples`` is.

    Parameters
    ----------
    S : array_like, shape (n, n)
        The similarity of the forward call.
    k : int
        Number of trees.
    grad_adjacency, grad_connectivity : array_like, shape (n, n), optional
        Upstream gradients ``V_A`` and ``V_M`` (None counts as zero).
    sigma, n_samples, seed
        Those of the forward call (required).
    control_variate : bool, default True
        Subtract the unperturbed solution (same mean, smaller variance).
    known_labels, must_link, cannot_link, refine
        Constraints of the forward call, if any.
    n_threads : int, optional
        The result never depends on it.

    Returns
    -------
    ndarray, shape (n, n)
        ``g``, symmetric with a zero diagonal, in the dtype of S.
    """
    S = as_float_array(S, "S", ndims=(2,))
    n = check_square(S, "S")
    k = check_k(k, n)
    sigma = check_sigma(sigma)
    n_samples = check_n_samples(n_samples)
    if seed is None:
        raise TypeError("seed must be the int seed of the forward call, not None")
    VA = _cotangent(grad_adjacency, "grad_adjacency", n, S.dtype)
    VM = _cotangent(grad_connectivity, "grad_connectivity", n, S.dtype)
    labels, must, cannot = check_constraints(n, known_labels, must_link, cannot_link)
    if VA is None and VM is None:
        return np.zeros_like(S)
    threads = resolve_threads(n_threads)
    constrained = labels is not None or must is not None or cannot is not None
    _check_working_memory(n, threads, constrained, "perturbed_kforest_vjp")
    grad = core_fn("perturbed_kforest_vjp", S.dtype)(
        S, k, VA, VM, sigma, n_samples, resolve_seed(seed), labels, must, cannot, bool(refine),
        bool(control_variate), threads,
    )
    return grad  # type: ignore[no-any-return]


def partial_fy_loss(
    S: ArrayLike,
    k: int,
    known_labels: ArrayLike,
    *,
    sigma: float = 0.1,
    n_samples: int = 100,
    seed: int | np.random.Generator | None = None,
    must_link: ArrayLike | None = None,
    cannot_link: ArrayLike | None = None,
    refine: bool = True,
    n_threads: int | None = None,
) -> tuple[float, NDArray[np.floating[Any]]]:
    """The partial Fenchel–Young loss and its gradient with respect to S.

    ``L(S; y) = F_eps(S) - F_eps(S; y)`` with the same noise in both problems
    (common random numbers), and ``dL/dS = A_eps(S) - A_eps(S; y)``. Each sample's
    term is >= 0, so L >= 0; L is 0 when the unconstrained optimum already
    satisfies the labels (with ``refine=True``).

    Parameters
    ----------
    S : array_like, shape (n, n)
        Similarities, e.g. produced by a network.
    k : int
        Number of clusters.
    known_labels : array_like of int, shape (n,)
        Partial labels, -1 for unknown.
    sigma, n_samples, seed, n_threads
        As in :func:`perturbed_kforest`.
    must_link, cannot_link, refine
        Further constraints, as in :func:`diffclust.kforest`.

    Returns
    -------
    loss : float
    grad : ndarray, shape (n, n)
        ``A_eps(S) - A_eps(S; y)``, symmetric, zero diagonal, dtype of S.
    """
    S = as_float_array(S, "S", ndims=(2,))
    n = check_square(S, "S")
    k = check_k(k, n)
    sigma = check_sigma(sigma)
    n_samples = check_n_samples(n_samples)
    if known_labels is None:
        raise TypeError("known_labels is required (use -1 for unknown points)")
    labels, must, cannot = check_constraints(n, known_labels, must_link, cannot_link)
    threads = resolve_threads(n_threads)
    _check_working_memory(n, threads, True, "partial_fy_loss")
    loss, grad = core_fn("partial_fy_loss", S.dtype)(
        S, k, sigma, n_samples, resolve_seed(seed), labels, must, cannot, bool(refine), threads
    )
    return float(loss), grad
