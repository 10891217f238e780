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

Batches. Every function here takes a stack ``S`` of shape (b, n, n) and treats
element t as its own problem with its own noise: element t uses the seed
``element_seeds(seed, b)[t]`` (:func:`element_seeds`, derived from the one seed
by Philox), or ``seed[t]`` when ``seed`` is an integer array of shape (b,)
(uint64, or signed integers taken by their two's complement bits, as
``np.asarray(seed).astype(np.int64).view(np.uint64)``). Element t's results are
bit-identical to the 2-D call on ``S[t]`` with ``seed=int(seeds[t])``, for any
thread count. Threads go to whole elements when there are at least as many
elements as threads, else to each element's samples.

References
----------
L. Stewart, F. Bach, F. Llinares-López, Q. Berthet. Differentiable Clustering
with Perturbed Spanning Forests. NeurIPS 2023. arXiv:2305.16358.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _ops
from ._results import Result, TupleResult
from ._validation import as_float_array, check_square, resolve_seed, resolve_threads

__all__ = [
    "FYLoss",
    "PerturbedForest",
    "PerturbedSamples",
    "element_seeds",
    "partial_fy_loss",
    "perturbed_kforest",
    "perturbed_kforest_from_points",
    "perturbed_kforest_vjp",
]


@dataclass(frozen=True, eq=False, repr=False)
class PerturbedSamples(Result):
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

    For batched input ``edges`` and ``labels`` gain a leading batch axis b and
    ``seed`` is the (b,) uint64 array of the elements' seeds (element t's slice,
    with ``seed=int(seed[t])``, is the PerturbedSamples of the 2-D call on S[t]).
    """

    edges: NDArray[np.int64]
    labels: NDArray[np.int64]
    k: int
    sigma: float
    n_samples: int
    seed: int | NDArray[np.uint64]


@dataclass(frozen=True, eq=False, repr=False)
class PerturbedForest(Result):
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
    value : float, or ndarray of shape (b,) for batched input
        ``F_eps = mean_s <A_s, S + sigma Z_s>``.
    samples : PerturbedSamples or None
        Each sample's forest, when the call asked for ``keep_samples``.
    n_repaired : int
        Samples whose constrained greedy got stuck and was completed from a
        feasible partition (0 without constraints; summed over a batch).

    The repr is compact; arrays are ordinary writable arrays owned by the caller.
    """

    adjacency: NDArray[np.floating[Any]]
    connectivity: NDArray[np.floating[Any]]
    value: Any
    samples: PerturbedSamples | None = None
    n_repaired: int = 0

    def _repr_head(self) -> dict[str, Any]:
        return {"n": int(self.adjacency.shape[-1])}


@dataclass(frozen=True, eq=False, repr=False)
class FYLoss(TupleResult):
    """The partial Fenchel-Young loss and its gradient; unpacks as ``loss, grad``.

    Attributes
    ----------
    loss : float, or ndarray of float64 of shape (b,) for batched S
        ``L(S; y) = F_eps(S) - F_eps(S; y)``; for S of shape (b, n, n), the
        array of the elements' losses (reduce it yourself, e.g. ``loss.mean()``).
    grad : ndarray, shape (n, n) or (b, n, n)
        ``dL/dS = A_eps(S) - A_eps(S; y)``, in the dtype of S.
    n_repaired : int
        Samples whose constrained greedy got stuck and was completed from a
        feasible partition (summed over a batch).
    """

    loss: Any
    grad: NDArray[np.floating[Any]]
    n_repaired: int = 0

    _unpack = ("loss", "grad")


def element_seeds(seed: int, b: int) -> NDArray[np.uint64]:
    """The seeds of the b elements of a batch drawn with one int ``seed``.

    A batched call (S of shape (b, n, n)) with an int seed gives element t the seed
    ``element_seeds(seed, b)[t]``: the first two 32-bit words ``w0 + 2**32 w1`` of the
    Philox4x32-10 block with key ``(seed mod 2**32, seed // 2**32)`` and counter
    ``(t mod 2**32, t // 2**32, 0x62617463, 0xFFFFFFFF)`` (``derive_seed`` in
    ``core/rng.hpp``). Element t's seed does not depend on b.

    Parameters
    ----------
    seed : int
        In [0, 2**64).
    b : int
        Number of elements, >= 0.

    Returns
    -------
    ndarray of uint64, shape (b,)

    Examples
    --------
    >>> import numpy as np, diffclust as dc
    >>> S = np.random.default_rng(0).standard_normal((3, 6, 6))
    >>> batch = dc.perturbed_kforest(S, 2, n_samples=5, seed=7)
    >>> one = dc.perturbed_kforest(S[1], 2, n_samples=5, seed=int(dc.element_seeds(7, 3)[1]))
    >>> bool((batch.adjacency[1] == one.adjacency).all())
    True
    """
    return _ops.element_seeds(seed, b)


def _seeds(seed: Any, S: NDArray[Any]) -> Any:
    """The seed actually used: one uint64 (int) for 2-D S; for 3-D S the (b,) uint64
    element seeds, from an int (or a Generator / None drawing one) or an integer array."""
    if S.ndim != 3:
        return resolve_seed(seed)
    if seed is None or (
        isinstance(seed, (numbers.Integral, np.random.Generator)) and not isinstance(seed, (bool, np.bool_))
    ):
        return _ops.element_seeds(resolve_seed(seed), S.shape[0])
    return _ops.batch_seeds(seed, S.shape[0])


def _perturbed_forest(out: Any, k: int, sigma: float, n_samples: int, seed: Any) -> PerturbedForest:
    A, M, F, edges, labels, *rest = out
    kept = None if edges is None else PerturbedSamples(edges, labels, k, sigma, n_samples, seed)
    return PerturbedForest(A, M, F, kept, *rest)


def perturbed_kforest(
    S: ArrayLike,
    k: int,
    *,
    sigma: float = 0.1,
    n_samples: int = 100,
    seed: int | np.random.Generator | ArrayLike | None = None,
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
        weighs ``(S_ij + S_ji) / 2``; the diagonal is ignored. A stack (b, n, n)
        is b independent problems, each with its own noise (see ``seed``).
    k : int
        Number of trees, 1 <= k <= n.
    sigma : float, default 0.1
        Noise scale, > 0.
    n_samples : int, default 100
        Number of Monte-Carlo samples B.
    seed : int, numpy.random.Generator, None, or array of int of shape (b,)
        Seed of the counter-based generator. Same seed, same output, for any
        ``n_threads``. A Generator (or None) draws a new seed each call; to
        differentiate the call later pass an int, or keep the samples. For S of
        shape (b, n, n), element t uses the seed ``element_seeds(seed, b)[t]``
        (:func:`element_seeds`), so elements never share noise; an integer array
        of shape (b,) gives the elements' seeds explicitly (uint64, or int64 by
        its two's complement bits). Element t's results equal the 2-D call on
        ``S[t]`` with ``seed=int(seeds[t])``, bit for bit.
    known_labels, must_link, cannot_link, refine
        Constraints, as in :func:`diffclust.kforest`: each sample solves the
        constrained greedy on its perturbed weights. For batched S,
        ``known_labels`` is (n,) (shared by every element) or (b, n) (per element).
    keep_samples : bool, default False
        Also return each sample's forest (``samples``, O(B n) memory), which
        :func:`perturbed_kforest_vjp` can reuse instead of solving again.
    n_threads : int, optional
        Threads across samples (and across the elements of a batch). The result
        never depends on it.

    Returns
    -------
    PerturbedForest
        ``adjacency`` (A_eps), ``connectivity`` (M_eps), ``value`` (F_eps), in
        the dtype of S, and ``samples`` when kept; each with a leading batch
        axis for batched S.

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
    used_seed = _seeds(seed, S)
    out = _ops.perturbed_kforest(
        S, k, sigma, n_samples, used_seed, resolve_threads(n_threads), known_labels=known_labels,
        must_link=must_link, cannot_link=cannot_link, refine=refine, keep_samples=keep_samples,
    )
    return _perturbed_forest(out, k, sigma, n_samples, used_seed)


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
    min_samples: int | None = None,
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
        As in :func:`diffclust.kforest_from_points` (aliases included).
    sigma, n_samples, seed, keep_samples, n_threads
        As in :func:`perturbed_kforest`.
    min_samples : int or None, default None
        Differentiable density clustering: perturb the mutual-reachability
        similarity ``S_ij = -d_mr(i, j) = -max(core_i, core_j, d(x_i, x_j))``
        instead of ``-d``, with core distances for this ``min_samples`` (the
        point itself counted, as in :func:`diffclust.hdbscan`). The result is
        exactly ``perturbed_kforest(-mutual_reachability_distances(X, ...), k,
        ...)`` with the same seed (the same noise): ``adjacency`` is the
        gradient of ``value`` with respect to that S, and
        :func:`perturbed_kforest_vjp` on that S gives the score-function VJPs
        (gradients are with respect to the mutual-reachability similarity S,
        not to X). Builds the dense (n, n) matrix, as the outputs are (n, n).

    Returns
    -------
    PerturbedForest
        ``adjacency``, ``connectivity`` and ``value`` (and ``samples``), in
        the dtype of X.
    """
    used_seed = resolve_seed(seed)
    if min_samples is not None:
        from ._ops import density as _ops_density

        threads = resolve_threads(n_threads)
        Xa = _ops_density.points(X)
        M = _ops_density.mutual_reachability_matrix(Xa, min_samples, metric, threads)
        S = np.negative(M).astype(Xa.dtype, copy=False)
        out = _ops.perturbed_kforest(S, k, sigma, n_samples, used_seed, threads, keep_samples=keep_samples)
        return _perturbed_forest(out, k, sigma, n_samples, used_seed)
    out = _ops.perturbed_kforest_from_points(
        X, k, metric, sigma, n_samples, used_seed, resolve_threads(n_threads), keep_samples=keep_samples
    )
    return _perturbed_forest(out, k, sigma, n_samples, used_seed)


def perturbed_kforest_vjp(
    S: ArrayLike,
    k: int,
    grad_adjacency: ArrayLike | None = None,
    grad_connectivity: ArrayLike | None = None,
    *,
    sigma: float | None = None,
    n_samples: int | None = None,
    seed: int | ArrayLike | None = None,
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
    S : array_like, shape (n, n) or (b, n, n)
        The similarity of the forward call; a stack (b, n, n) gives each element
        its own VJP (threads over elements and samples).
    k : int
        Number of trees.
    grad_adjacency, grad_connectivity : array_like of S's shape, optional
        Upstream gradients ``V_A`` and ``V_M`` (None counts as zero); for a
        batch, element t's cotangents are ``V[t]``.
    sigma, n_samples, seed
        Those of the forward call: required, unless ``samples`` is given (then
        they default to, and must equal, the ones it records). ``seed`` must be
        the forward's int seed: a ``numpy.random.Generator`` is a ``TypeError``,
        since the forward consumed its state and its noise cannot be reproduced
        from it (pass ``samples=`` instead: they record the seed used). For
        batched S, an int seed means the element seeds ``element_seeds(seed, b)``
        as in :func:`perturbed_kforest`, and an integer array of shape (b,) the
        elements' own seeds.
    control_variate : bool, default True
        Subtract the unperturbed solution (same mean, smaller variance).
    known_labels, must_link, cannot_link, refine
        Constraints of the forward call, if any (batched: labels (n,) or (b, n)).
    samples : PerturbedSamples, optional
        The forests kept by the forward call (batched too: edges and labels with
        a leading axis b); the result is bit-identical to solving the samples again.
    n_threads : int, optional
        The result never depends on it.

    Returns
    -------
    ndarray, shape (n, n) or (b, n, n)
        ``g``, symmetric with a zero diagonal, in the dtype of S.

    Raises
    ------
    ValueError
        NaN or infinity in S (off its diagonal) or in a cotangent, whichever
        cotangents are given; wrong shapes, sigma <= 0, n_samples < 1, or
        ``samples`` that do not match this call (shapes, recorded parameters,
        or sample 0 solved again).
    TypeError
        A missing sigma, n_samples or seed, or a Generator seed.
    """
    if isinstance(seed, np.random.Generator):
        raise TypeError(_GENERATOR_IN_VJP)
    S = as_float_array(S, "S", ndims=(2, 3))
    check_square(S, "S")
    kept_edges = kept_labels = None
    if samples is not None:
        sigma, n_samples, seed = _recorded(samples, k, S, sigma, n_samples, seed)
        kept_edges, kept_labels = samples.edges, samples.labels
    missing = [name for name, v in (("sigma", sigma), ("n_samples", n_samples), ("seed", seed)) if v is None]
    if missing:
        raise TypeError(f"{', '.join(missing)} of the forward call required (or pass its samples)")
    assert sigma is not None and n_samples is not None
    return _ops.perturbed_kforest_vjp(
        S, k, grad_adjacency, grad_connectivity, sigma, n_samples, _seeds(seed, S),
        resolve_threads(n_threads), control_variate=control_variate, known_labels=known_labels,
        must_link=must_link, cannot_link=cannot_link, refine=refine, kept_edges=kept_edges,
        kept_labels=kept_labels,
    )


_GENERATOR_IN_VJP = (
    "seed must be the int seed of the forward call (or pass samples=), not a numpy.random.Generator: "
    "the forward call drew its seed from the generator and so consumed its state, and the VJP cannot "
    "reproduce that noise from the generator. Pass an int seed to both calls, or call the forward "
    "with keep_samples=True and pass samples=forward.samples (samples.seed is the seed it used)."
)


def _recorded(
    samples: Any, k: int, S: NDArray[Any], sigma: Any, n_samples: Any, seed: Any
) -> tuple[Any, Any, Any]:
    """The forward call's sigma, n_samples and seed from ``samples``, checked against this call."""
    if not isinstance(samples, PerturbedSamples):
        raise TypeError(f"samples must be the PerturbedSamples of a forward call, got {type(samples).__name__}")
    if samples.k != k:
        raise ValueError(f"samples were drawn with k={samples.k}, not k={k}")
    n = S.shape[-1]
    lead = S.shape[:1] if S.ndim == 3 else ()
    expected = {"edges": (*lead, samples.n_samples, n - k, 2), "labels": (*lead, samples.n_samples, n)}
    for name, shape in expected.items():
        got = getattr(samples, name).shape
        if got != shape:
            raise ValueError(f"samples.{name} must have shape {shape} for this S ({S.ndim}-D, n={n}), got {got}")
    for name, given, recorded in (("sigma", sigma, samples.sigma), ("n_samples", n_samples, samples.n_samples)):
        if given is not None and given != recorded:
            raise ValueError(f"{name}={given!r} differs from the samples' {name}={recorded!r}")
    recorded_seed = samples.seed
    if S.ndim == 3:
        recorded_seed = np.asarray(recorded_seed)
        if recorded_seed.shape != S.shape[:1] or recorded_seed.dtype != np.uint64:
            raise ValueError(
                f"samples.seed must be the (b,) = ({S.shape[0]},) uint64 element seeds of a batched forward call"
            )
        if seed is not None and not np.array_equal(_seeds(seed, S), recorded_seed):
            raise ValueError("seed differs from the samples' element seeds (samples.seed)")
    elif seed is not None and (isinstance(seed, np.ndarray) or seed != recorded_seed):
        raise ValueError(f"seed={seed!r} differs from the samples' seed={recorded_seed!r}")
    return samples.sigma, samples.n_samples, recorded_seed


def partial_fy_loss(
    S: ArrayLike,
    k: int,
    known_labels: ArrayLike,
    *,
    sigma: float = 0.1,
    n_samples: int = 100,
    seed: int | np.random.Generator | ArrayLike | None = None,
    must_link: ArrayLike | None = None,
    cannot_link: ArrayLike | None = None,
    refine: bool = True,
    n_threads: int | None = None,
) -> FYLoss:
    """The partial Fenchel–Young loss and its gradient with respect to S.

    ``L(S; y) = F_eps(S) - F_eps(S; y)`` with the same noise in both problems
    (common random numbers), and ``dL/dS = A_eps(S) - A_eps(S; y)``. Each sample's
    term is >= 0, so L >= 0; L is 0 when the unconstrained optimum already
    satisfies the labels (with ``refine=True``).

    Parameters
    ----------
    S : array_like, shape (n, n) or (b, n, n)
        Similarities, e.g. produced by a network; a stack (b, n, n) is b
        independent losses (threads over elements and samples).
    k : int
        Number of clusters.
    known_labels : array_like of int, shape (n,) or (b, n)
        Partial labels, -1 for unknown; for batched S, (n,) is shared by every
        element and (b, n) gives each element its labels.
    sigma, n_samples, seed, n_threads
        As in :func:`perturbed_kforest`: for batched S, element t uses the seed
        ``element_seeds(seed, b)[t]`` for an int seed, or ``seed[t]`` for an
        integer array of shape (b,); its loss and gradient equal the 2-D call on
        ``S[t]`` with that seed, bit for bit.
    must_link, cannot_link, refine
        Further constraints, as in :func:`diffclust.kforest`.

    Returns
    -------
    FYLoss
        Unpacks as ``loss, grad``: the loss (a float; for batched S a (b,)
        float64 array of the elements' losses) and ``A_eps(S) - A_eps(S; y)``
        (S's shape), symmetric, zero diagonal, in the dtype of S; also carries
        ``n_repaired``.
    """
    S = as_float_array(S, "S", ndims=(2, 3))
    out = _ops.partial_fy_loss(
        S, k, known_labels, sigma, n_samples, _seeds(seed, S), resolve_threads(n_threads),
        must_link=must_link, cannot_link=cannot_link, refine=refine,
    )
    return FYLoss(*out)
