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
    "PartialFYLoss",
    "PerturbedForest",
    "PerturbedSamples",
    "partial_fy_loss",
    "perturbed_kforest",
    "perturbed_kforest_from_points",
    "perturbed_kforest_vjp",
]

_METRICS = ("sqeuclidean", "euclidean", "manhattan", "cosine")


@dataclass(frozen=True)
class PerturbedSamples:
    """Each Monte-Carlo sample's k-forest, kept by a forward call (``keep_samples=True``).

    Pass it to :func:`perturbed_kforest_vjp` as ``samples`` to skip solving every
    sample again: the VJP then only regenerates the noise. Memory is O(B n).

    Attributes
    ----------
    edges : ndarray of int64, shape (B, n - k, 2)
        Sample s's forest edges (i < j), in the solver's order: the same for
        any thread count, but not sorted.
    labels : ndarray of int64, shape (B, n)
        Sample s's tree of each point, numbered by first appearance.
    k, sigma, n_samples, seed
        The forward call's parameters; ``seed`` is the uint64 actually used
        (also when the call drew it from ``None`` or a Generator).

    For batched input ``edges`` and ``labels`` gain a leading batch axis.
    """

    edges: NDArray[np.int64]
    labels: NDArray[np.int64]
    k: int
    sigma: float
    n_samples: int
    seed: int


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
    samples : PerturbedSamples or None
        Each sample's forest, when the call asked for ``keep_samples``.
    n_repaired : int
        With cannot-link constraints: how many samples (over the whole batch)
        were completed because their greedy got stuck (see :func:`diffclust.kforest`).
    """

    adjacency: NDArray[np.floating[Any]]
    connectivity: NDArray[np.floating[Any]]
    value: Any
    samples: PerturbedSamples | None = None
    n_repaired: int = 0


class PartialFYLoss(tuple):  # type: ignore[type-arg]
    """``(loss, grad)`` of :func:`partial_fy_loss`, with ``n_repaired`` beside them."""

    n_repaired: int

    def __new__(cls, loss: float, grad: NDArray[np.floating[Any]], n_repaired: int = 0) -> PartialFYLoss:  # noqa: PYI034
        self = super().__new__(cls, (loss, grad))
        self.n_repaired = n_repaired
        return self

    @property
    def loss(self) -> float:
        return self[0]  # type: ignore[no-any-return]

    @property
    def grad(self) -> NDArray[np.floating[Any]]:
        return self[1]  # type: ignore[no-any-return]


def _kept(edges: Any, labels: Any, k: int, sigma: float, n_samples: int, seed: int) -> PerturbedSamples | None:
    if edges is None:
        return None
    return PerturbedSamples(frozen(edges), frozen(labels), k, sigma, n_samples, seed)


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
    keep_samples: bool = False,
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
    keep_samples : bool, default False
        Also return each sample's forest (``samples``, O(B n) memory), which
        :func:`perturbed_kforest_vjp` can reuse instead of solving again.
    n_threads : int, optional
        Threads across samples. The result never depends on it.

    Returns
    -------
    PerturbedForest
        ``adjacency`` (A_eps), ``connectivity`` (M_eps), ``value`` (F_eps), in
        the dtype of S, and ``samples`` when kept.

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
    keep = _check_keep(keep_samples, S.shape[0] if S.ndim == 3 else 1, n_samples, n, "perturbed_kforest")
    used_seed = resolve_seed(seed)
    A, M, F, edges, lab, n_repaired = core_fn("perturbed_kforest", S.dtype)(
        S, k, sigma, n_samples, used_seed, labels, must, cannot, bool(refine), True, True, keep, threads
    )
    kept = _kept(edges, lab, k, sigma, n_samples, used_seed)
    return PerturbedForest(frozen(A), frozen(M), frozen(F), kept, int(n_repaired))


def _check_keep(keep_samples: Any, b: int, n_samples: int, n: int, what: str) -> bool:
    if not isinstance(keep_samples, (bool, np.bool_)):
        raise TypeError(f"keep_samples must be a bool, got {type(keep_samples).__name__}")
    if keep_samples:
        check_memory(b * n_samples * n * 3 * 8, what)  # edges (n - k pairs) and labels, int64
    return bool(keep_samples)


def perturbed_kforest_from_points(
    X: ArrayLike,
    k: int,
    *,
    metric: str = "sqeuclidean",
    sigma: float = 0.1,
    n_samples: int = 100,
    seed: int | np.random.Generator | None = None,
    keep_samples: bool = False,
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
    sigma, n_samples, seed, keep_samples, n_threads
        As in :func:`perturbed_kforest`.

    Returns
    -------
    PerturbedForest
        float64 ``adjacency``, ``connectivity`` and ``value`` (and ``samples``).
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
    keep = _check_keep(keep_samples, 1, n_samples, X.shape[0], "perturbed_kforest_from_points")
    used_seed = resolve_seed(seed)
    A, M, F, edges, lab = core_fn("perturbed_kforest_from_points", X.dtype)(
        X, k, metric, sigma, n_samples, used_seed, True, True, keep, threads
    )
    return PerturbedForest(frozen(A), frozen(M), frozen(F), _kept(edges, lab, k, sigma, n_samples, used_seed))


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
    sigma: float | None = None,
    n_samples: int | None = None,
    seed: int | np.random.Generator | None = None,
    control_variate: bool = True,
    known_labels: ArrayLike | None = None,
    must_link: ArrayLike | None = None,
    cannot_link: ArrayLike | None = None,
    refine: bool = True,
    samples: PerturbedSamples | None = None,
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

    Every sample's forest is needed for its coefficient. By default each sample
    is solved again (about the cost of the forward call); pass the
    ``samples`` a forward call kept (``keep_samples=True``) and only the noise
    is regenerated. Sample 0 is still solved again, to check that the samples
    belong to this ``S``, ``k``, ``sigma``, ``seed`` and constraints.

    Parameters
    ----------
    S : array_like, shape (n, n)
        The similarity of the forward call.
    k : int
        Number of trees.
    grad_adjacency, grad_connectivity : array_like, shape (n, n), optional
        Upstream gradients ``V_A`` and ``V_M`` (None counts as zero).
    sigma, n_samples, seed
        Those of the forward call: required, unless ``samples`` is given (then
        they default to, and must equal, the ones it records).
    control_variate : bool, default True
        Subtract the unperturbed solution (same mean, smaller variance).
    known_labels, must_link, cannot_link, refine
        Constraints of the forward call, if any.
    samples : PerturbedSamples, optional
        The forests kept by the forward call (2-D S only); the result is
        bit-identical to solving the samples again.
    n_threads : int, optional
        The result never depends on it.

    Returns
    -------
    ndarray, shape (n, n)
        ``g``, symmetric with a zero diagonal, in the dtype of S.

    Raises
    ------
    ValueError
        Wrong shapes, sigma <= 0, n_samples < 1, or ``samples`` that do not
        match this call (shapes, recorded parameters, or sample 0 solved again).
    """
    S = as_float_array(S, "S", ndims=(2,))
    n = check_square(S, "S")
    k = check_k(k, n)
    kept_edges = kept_labels = None
    if samples is not None:
        sigma, n_samples, seed = _recorded(samples, k, n, sigma, n_samples, seed)
        kept_edges, kept_labels = samples.edges, samples.labels
    missing = [name for name, v in (("sigma", sigma), ("n_samples", n_samples), ("seed", seed)) if v is None]
    if missing:
        raise TypeError(f"{', '.join(missing)} of the forward call required (or pass its samples)")
    sigma = check_sigma(sigma)
    n_samples = check_n_samples(n_samples)
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
        bool(control_variate), kept_edges, kept_labels, threads,
    )
    return grad  # type: ignore[no-any-return]


def _recorded(samples: Any, k: int, n: int, sigma: Any, n_samples: Any, seed: Any) -> tuple[Any, Any, Any]:
    """The forward call's sigma, n_samples and seed from ``samples``, checked against this call."""
    if not isinstance(samples, PerturbedSamples):
        raise TypeError(f"samples must be the PerturbedSamples of a forward call, got {type(samples).__name__}")
    if samples.k != k:
        raise ValueError(f"samples were drawn with k={samples.k}, not k={k}")
    expected = {"edges": (samples.n_samples, n - k, 2), "labels": (samples.n_samples, n)}
    for name, shape in expected.items():
        got = getattr(samples, name).shape
        if got != shape:
            raise ValueError(f"samples.{name} must have shape {shape} for this S (2-D, n={n}), got {got}")
    for name, given, recorded in (("sigma", sigma, samples.sigma), ("n_samples", n_samples, samples.n_samples),
                                  ("seed", seed, samples.seed)):
        if given is not None and given != recorded:
            raise ValueError(f"{name}={given!r} differs from the samples' {name}={recorded!r}")
    return samples.sigma, samples.n_samples, samples.seed


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
) -> PartialFYLoss:
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
    PartialFYLoss
        Unpacks as ``loss, grad``: ``loss`` (float) and ``grad`` (ndarray,
        shape (n, n), ``A_eps(S) - A_eps(S; y)``, symmetric, zero diagonal,
        dtype of S); ``.n_repaired`` counts the samples whose constrained
        greedy got stuck and was completed (see :func:`diffclust.kforest`).
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
    loss, grad, n_repaired = core_fn("partial_fy_loss", S.dtype)(
        S, k, sigma, n_samples, resolve_seed(seed), labels, must, cannot, bool(refine), threads
    )
    return PartialFYLoss(float(loss), grad, int(n_repaired))
