"""Perturbed (differentiable) density clustering on mutual-reachability forests.

HDBSCAN* reads one tree: the minimum spanning tree of the mutual-reachability
distance ``d_mr(i, j) = max(core_i, core_j, d(x_i, x_j))`` (:mod:`diffclust.density`).
Perturbing that tree as the perturbed forests do (:mod:`diffclust.perturb`) makes
density clustering smooth in expectation:

- :func:`perturbed_hdbscan`: for each Monte-Carlo sample s, the maximum spanning
  tree of ``S + sigma Z_s`` with ``S = -d_mr`` -- exactly the tree and the noise of
  sample s of ``perturbed_kforest(S, 1, sigma=..., seed=...)`` -- then HDBSCAN*'s
  condensing and selection on it; the result is the expected co-clustering matrix,
  each point's noise probability and the expected number of clusters;
- :func:`perturbed_hdbscan_vjp`: their score-function vector-Jacobian product with
  respect to S (DESIGN section 2's estimator, with a control variate);
- :func:`partial_fy_loss_from_points`: the partial Fenchel-Young loss on ``S = -d_mr``
  with its gradient with respect to S and, through d_mr, to the points X.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _ops
from ._ops import density as ops_density
from ._ops import density_perturbed as ops
from ._results import Result, TupleResult
from ._validation import check_n_samples, check_sigma, resolve_metric, resolve_seed, resolve_threads

__all__ = [
    "PerturbedDensity",
    "PointsFYLoss",
    "partial_fy_loss_from_points",
    "perturbed_hdbscan",
    "perturbed_hdbscan_vjp",
]

SIGMA_SCALES = ("median_edge", "absolute")


@dataclass(frozen=True, eq=False, repr=False)
class PerturbedDensity(Result):
    """Monte-Carlo estimates of perturbed HDBSCAN*.

    Attributes
    ----------
    co_clustering : ndarray, shape (n, n)
        The fraction of samples in which i and j lie in one non-noise cluster;
        symmetric, its diagonal is ``1 - noise_probability``.
    noise_probability : ndarray, shape (n,)
        The fraction of samples in which the point is noise (label -1).
    n_clusters : float
        The mean number of clusters over the samples.
    noise_scale : float
        The absolute noise scale used: the tree of sample s is that of
        ``perturbed_kforest(-mutual_reachability_distances(X, ...), 1,
        sigma=noise_scale, seed=seed)``.
    seed : int
        The uint64 seed used (also when drawn from None or a Generator).
    labels : ndarray of int64, shape (B, n), or None
        Each sample's HDBSCAN* labels, when ``keep_samples`` was asked for.
    """

    co_clustering: NDArray[np.floating[Any]]
    noise_probability: NDArray[np.floating[Any]]
    n_clusters: float
    noise_scale: float
    seed: int
    labels: NDArray[np.int64] | None = None

    def _repr_head(self) -> dict[str, Any]:
        return {"n": int(self.noise_probability.shape[0])}


@dataclass(frozen=True, eq=False, repr=False)
class PointsFYLoss(TupleResult):
    """The partial Fenchel-Young loss on mutual-reachability similarities; unpacks as
    ``loss, grad, grad_X``.

    Attributes
    ----------
    loss : float
        ``L(S; y) = F_eps(S) - F_eps(S; y)`` with ``S = -d_mr``.
    grad : ndarray, shape (n, n)
        ``dL/dS = A_eps(S) - A_eps(S; y)``.
    grad_X : ndarray, shape (n, d)
        ``dL/dX`` through ``S = -d_mr(X)`` (piecewise: each entry follows the
        argument of max(core_i, core_j, d_ij) that attains it, a core distance
        follows its ``min_samples``-th neighbour), in the dtype of X.
    similarity : ndarray, shape (n, n)
        The S the loss was evaluated at (``-d_mr``, zero diagonal).

    Arrays have the dtype of X (float32 in, float32 out); the loss is a float.
    """

    loss: float
    grad: NDArray[np.floating[Any]]
    grad_X: NDArray[np.floating[Any]]
    similarity: NDArray[np.floating[Any]]

    _unpack = ("loss", "grad", "grad_X")


def _similarity(X: ArrayLike, min_samples: Any, metric: str, threads: int) -> tuple[NDArray[Any], NDArray[Any]]:
    """(X checked, S = -d_mr in X's dtype with zero diagonal: the S of
    ``perturbed_kforest_from_points(..., min_samples=)``)."""
    Xa = ops_density.points(X)
    M = ops_density.mutual_reachability_matrix(Xa, min_samples, metric, threads)
    S = np.negative(M).astype(Xa.dtype, copy=False)
    np.fill_diagonal(S, 0.0)
    return Xa, S


def _exact_tree_edges(S: NDArray[Any], threads: int) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64]]:
    """The unperturbed maximum spanning tree of S: (i, j, distance = -weight)."""
    _, edges, weights, _ = _ops.kforest(S, 1, threads)
    e = np.asarray(edges, dtype=np.intp).reshape(-1, 2)
    return e[:, 0], e[:, 1], -np.asarray(weights, dtype=np.float64)


def _noise_scale(sigma: Any, sigma_scale: str, tree_dist: NDArray[np.float64]) -> float:
    s = check_sigma(sigma)
    if sigma_scale not in SIGMA_SCALES:
        raise ValueError(f"sigma_scale must be one of {SIGMA_SCALES}, got {sigma_scale!r}")
    if sigma_scale == "absolute":
        return s
    positive = tree_dist[tree_dist > 0]
    if positive.size == 0:
        raise ValueError(
            "sigma_scale='median_edge' needs a tree edge of positive length (there is none: n < 2, or all "
            "points coincide); pass sigma_scale='absolute'"
        )
    return s * float(np.median(positive))


def _check_selection(method: Any, epsilon: Any, allow_single: Any) -> tuple[str, float, bool]:
    if method not in ("eom", "leaf"):
        raise ValueError(f"cluster_selection_method must be one of ('eom', 'leaf'), got {method!r}")
    eps = ops_density.check_nonnegative(epsilon, "cluster_selection_epsilon")
    if not isinstance(allow_single, (bool, np.bool_)):
        raise TypeError(f"allow_single_cluster must be True or False, got {allow_single!r}")
    return str(method), eps, bool(allow_single)


def check_arguments(
    n: int, min_cluster_size: Any, min_samples: Any, sigma: Any, sigma_scale: Any, n_samples: Any, method: Any,
    epsilon: Any, allow_single: Any,
) -> tuple[int, int, float, int, tuple[str, float, bool]]:
    """(min_cluster_size, min_samples, sigma, n_samples, selection) checked for n points
    (the NumPy, torch and JAX perturbed HDBSCAN* share it)."""
    mcs = ops_density.check_min_cluster_size(min_cluster_size, n)
    ms = ops_density.check_min_samples(mcs if min_samples is None else min_samples, n,
                                       "min_samples (None: min_cluster_size)" if min_samples is None else "min_samples")
    if sigma_scale not in SIGMA_SCALES:
        raise ValueError(f"sigma_scale must be one of {SIGMA_SCALES}, got {sigma_scale!r}")
    return mcs, ms, check_sigma(sigma), check_n_samples(n_samples), _check_selection(method, epsilon, allow_single)


def _sample_labels(
    X: ArrayLike, min_cluster_size: Any, min_samples: Any, metric: str, sigma: Any, sigma_scale: str,
    n_samples: Any, seed: Any, method: Any, epsilon: Any, allow_single: Any, n_threads: Any,
    solve: int | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.intp], float, int, NDArray[Any], int]:
    """(labels (B, n), reference labels of the unperturbed tree, noise scale, seed, S, threads);
    with ``solve``, only the first ``solve`` samples are solved (labels (solve, n))."""
    threads = resolve_threads(n_threads)
    Xa = ops_density.points(X)
    mcs, ms, _, B, sel = check_arguments(Xa.shape[0], min_cluster_size, min_samples, sigma, sigma_scale, n_samples,
                                         method, epsilon, allow_single)
    used_seed = resolve_seed(seed)
    _, S = _similarity(Xa, ms, metric, threads)
    labels, reference, scale = _labels_of_similarity(S, mcs, sigma, sigma_scale, B, used_seed, sel, threads, solve)
    return labels, reference, scale, used_seed, S, threads


def _labels_of_similarity(
    S: NDArray[Any], mcs: int, sigma: Any, sigma_scale: str, B: int, seed: int, sel: tuple[str, float, bool],
    threads: int, solve: int | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.intp], float]:
    """(labels (B, n) of the perturbed samples, reference labels of the unperturbed tree,
    noise scale) for a mutual-reachability similarity S = -d_mr (n, n)."""
    n = S.shape[0]
    i0, j0, d0 = _exact_tree_edges(S, threads)
    scale = _noise_scale(sigma, sigma_scale, d0)
    reference = ops.hdbscan_labels_from_tree(n, i0, j0, np.maximum(d0, 0.0), mcs, *sel)
    B = B if solve is None else min(B, solve)
    edges, weights = ops.perturbed_spanning_trees(S, scale, B, seed, threads)
    labels = np.empty((B, n), dtype=np.int64)
    for s in range(B):
        e = edges[s].astype(np.intp, copy=False)
        # perturbed distance d_mr - sigma Z; below 0 an edge joins at lambda = inf, as duplicates do
        dist = np.maximum(-weights[s], 0.0)
        labels[s] = ops.hdbscan_labels_from_tree(n, e[:, 0], e[:, 1], dist, mcs, *sel)
    return labels, reference, scale


def _estimates(labels: NDArray[np.int64], dtype: Any) -> tuple[NDArray[Any], NDArray[Any], float]:
    """(co-clustering (n, n), noise probability (n,), mean number of clusters) of sampled labels."""
    B, n = labels.shape
    counts = np.zeros((n, n), dtype=np.int64)
    n_clusters = 0
    for s in range(B):
        ops.co_clustering_counts(labels[s], counts)
        n_clusters += int(labels[s].max(initial=-1)) + 1
    return (counts / B).astype(dtype, copy=False), ((labels < 0).sum(axis=0) / B).astype(dtype, copy=False), n_clusters / B


def _score_vjp(
    labels: NDArray[np.int64], reference: NDArray[np.intp], scale: float, seed: int, VC: NDArray[np.float64] | None,
    vn: NDArray[np.float64] | None, control_variate: bool, threads: int,
) -> NDArray[np.float64]:
    """The score-function VJP with respect to S of the estimates of ``labels`` (B, n)."""
    B, n = labels.shape
    if VC is None and vn is None:
        return np.zeros((n, n))
    ref = _labelling_dot(reference.astype(np.int64), VC, vn) if control_variate else 0.0
    coef = np.array([_labelling_dot(labels[s], VC, vn) - ref for s in range(B)])
    out: NDArray[np.float64] = ops.weighted_noise_matrix(n, seed, coef, 1.0 / (2.0 * B * scale), threads)
    return out


def hdbscan_of_similarity(
    S: NDArray[Any], min_cluster_size: int, sigma: float, sigma_scale: str, n_samples: int, seed: int,
    selection: tuple[str, float, bool], threads: int,
) -> tuple[NDArray[Any], NDArray[Any]]:
    """(co_clustering, noise_probability) of :func:`perturbed_hdbscan` from its similarity
    S = -d_mr (n, n) instead of the points (the torch and JAX operators; arguments checked
    by the caller)."""
    labels, _, _ = _labels_of_similarity(S, min_cluster_size, sigma, sigma_scale, n_samples, seed, selection, threads)
    C, noise, _ = _estimates(labels, S.dtype)
    return C, noise


def hdbscan_of_similarity_vjp(
    S: NDArray[Any], grad_co_clustering: NDArray[Any] | None, grad_noise_probability: NDArray[Any] | None,
    min_cluster_size: int, sigma: float, sigma_scale: str, n_samples: int, seed: int,
    selection: tuple[str, float, bool], threads: int,
) -> NDArray[Any]:
    """The VJP of :func:`hdbscan_of_similarity` with respect to S (:func:`perturbed_hdbscan_vjp`'s
    estimator, control variate on), in S's dtype."""
    n = S.shape[0]
    VC = None if grad_co_clustering is None else _cotangent(grad_co_clustering, (n, n), "grad_co_clustering")
    vn = None if grad_noise_probability is None else _cotangent(grad_noise_probability, (n,), "grad_noise_probability")
    if VC is None and vn is None:
        return np.zeros((n, n), dtype=S.dtype)
    labels, reference, scale = _labels_of_similarity(S, min_cluster_size, sigma, sigma_scale, n_samples, seed,
                                                     selection, threads)
    return _score_vjp(labels, reference, scale, seed, VC, vn, True, threads).astype(S.dtype, copy=False)


def perturbed_hdbscan(
    X: ArrayLike,
    *,
    min_cluster_size: int = 5,
    min_samples: int | None = None,
    metric: str = "euclidean",
    sigma: float = 0.1,
    sigma_scale: str = "median_edge",
    n_samples: int = 100,
    seed: int | np.random.Generator | None = None,
    cluster_selection_method: str = "eom",
    cluster_selection_epsilon: float = 0.0,
    allow_single_cluster: bool = False,
    keep_samples: bool = False,
    n_threads: int | None = None,
) -> PerturbedDensity:
    """Perturbed HDBSCAN*: expected co-clustering, noise probabilities, number of clusters.

    Sample s takes the maximum spanning tree of ``S + noise_scale Z_s`` with
    ``S = -mutual_reachability_distances(X)`` (the noise of sample s of
    :func:`diffclust.perturbed_kforest` with the same seed), reads the perturbed
    distance of each tree edge, ``d_mr - noise_scale Z`` (clipped at 0: such an
    edge joins at lambda = inf, as duplicate points do), and runs HDBSCAN*'s
    condensing and cluster selection on that tree, as :func:`diffclust.hdbscan`.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Points.
    min_cluster_size, min_samples, metric, cluster_selection_method, cluster_selection_epsilon, allow_single_cluster
        As in :func:`diffclust.hdbscan` (``min_samples`` counts the point itself).
    sigma : float, default 0.1
        Noise scale (> 0), relative or absolute, see ``sigma_scale``.
    sigma_scale : {"median_edge", "absolute"}, default "median_edge"
        "median_edge": the noise's standard deviation is ``sigma`` times the median
        positive edge length of the unperturbed mutual-reachability tree (the scale
        of HDBSCAN*'s merges), so that the result does not change when X is scaled,
        as HDBSCAN*'s does not. "absolute": ``sigma`` in the units of the distance.
        The value used is returned as ``noise_scale``.
    n_samples : int, default 100
        Monte-Carlo samples B.
    seed : int, numpy.random.Generator or None
        Same seed, same output, for any ``n_threads``.
    keep_samples : bool, default False
        Also return each sample's labels (B, n).
    n_threads : int or None
        Threads for the distances and the samples' trees; the result never depends on it.

    Returns
    -------
    PerturbedDensity
        ``co_clustering`` (n, n), ``noise_probability`` (n,), ``n_clusters``,
        ``noise_scale``, ``seed`` (and ``labels`` when kept); arrays in X's dtype.

    Raises
    ------
    ValueError
        NaN or inf in X, min_samples outside [1, n], min_cluster_size < 2, sigma <= 0,
        n_samples < 1, an unknown metric, selection method or sigma_scale.

    Notes
    -----
    The dense (n, n) mutual-reachability matrix is built (the output is (n, n)
    anyway); the trees are solved in C++ with the noise drawn inside Prim, the
    condensing runs per sample in Python (O(n) each). As sigma -> 0 every
    sample's labels are those of HDBSCAN* on the exact tree (up to exact ties of
    d_mr, which the noise breaks at random).

    Examples
    --------
    >>> import numpy as np, diffclust as dc
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 0.3, (20, 2)), rng.normal(4, 0.3, (20, 2))])
    >>> r = dc.perturbed_hdbscan(X, min_cluster_size=5, n_samples=20, seed=0)
    >>> r.co_clustering.shape, round(r.n_clusters, 2)
    ((40, 40), 2.0)
    """
    if not isinstance(keep_samples, (bool, np.bool_)):
        raise TypeError(f"keep_samples must be True or False, got {keep_samples!r}")
    labels, _, scale, used_seed, S, _ = _sample_labels(
        X, min_cluster_size, min_samples, metric, sigma, sigma_scale, n_samples, seed,
        cluster_selection_method, cluster_selection_epsilon, allow_single_cluster, n_threads,
    )
    C, noise, n_clusters = _estimates(labels, S.dtype)
    return PerturbedDensity(
        co_clustering=C,
        noise_probability=noise,
        n_clusters=n_clusters,
        noise_scale=scale,
        seed=used_seed,
        labels=labels if keep_samples else None,
    )


def _cotangent(V: ArrayLike, shape: tuple[int, ...], name: str) -> NDArray[np.float64]:
    a = np.asarray(V)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return np.asarray(a, dtype=np.float64)


def _kept_labels(samples: ArrayLike, first: NDArray[np.int64], n_samples: int) -> NDArray[np.int64]:
    """The kept labels (n_samples, n), checked against sample 0 solved again."""
    a = np.asarray(samples)
    n = first.shape[1]
    if a.dtype.kind not in "iu":
        raise TypeError(f"samples must be the integer labels kept by the forward call, got dtype {a.dtype}")
    if a.shape != (n_samples, n):
        raise ValueError(f"samples must have shape (n_samples, n) = ({n_samples}, {n}), got {a.shape}")
    if not np.array_equal(a[0], first[0]):
        raise ValueError(
            "samples do not belong to this call: sample 0 solved again differs from the kept one "
            "(use the X, seed and parameters of the forward call)"
        )
    return np.asarray(a, dtype=np.int64)


def _labelling_dot(lab: NDArray[np.int64], VC: NDArray[np.float64] | None, vn: NDArray[np.float64] | None) -> float:
    """<C(lab), VC> + <noise(lab), vn>, C the co-clustering of one labelling."""
    total = 0.0
    if VC is not None:
        kept = np.flatnonzero(lab >= 0)
        if kept.size:
            order = kept[np.argsort(lab[kept], kind="stable")]
            for members in np.split(order, np.flatnonzero(np.diff(lab[order])) + 1):
                total += float(VC[np.ix_(members, members)].sum())
    if vn is not None:
        total += float(vn[lab < 0].sum())
    return total


def perturbed_hdbscan_vjp(
    X: ArrayLike,
    grad_co_clustering: ArrayLike | None = None,
    grad_noise_probability: ArrayLike | None = None,
    *,
    min_cluster_size: int = 5,
    min_samples: int | None = None,
    metric: str = "euclidean",
    sigma: float = 0.1,
    sigma_scale: str = "median_edge",
    n_samples: int = 100,
    seed: int,
    cluster_selection_method: str = "eom",
    cluster_selection_epsilon: float = 0.0,
    allow_single_cluster: bool = False,
    control_variate: bool = True,
    samples: ArrayLike | None = None,
    n_threads: int | None = None,
) -> NDArray[np.floating[Any]]:
    """Score-function VJP of :func:`perturbed_hdbscan`'s estimates with respect to ``S = -d_mr``.

    For upstream gradients ``V_C`` (n, n) of ``co_clustering`` and ``v_n`` (n,) of
    ``noise_probability``, with ``c_s = <C_s, V_C> + <noise_s, v_n>`` for the labels
    of sample s:

    ``g_ij = 1 / (2 B noise_scale) sum_s (c_s - c_ref) Z_s,ij`` (i != j, zero diagonal),

    c_ref being the unperturbed tree's HDBSCAN* labelling when ``control_variate``
    (it does not change the mean, only the variance). The noise is regenerated from
    the int ``seed`` of the forward call, and the samples' trees and labels are
    computed again (about the forward's cost) unless ``samples`` gives the labels a
    forward call kept. The noise scale is held fixed: with
    ``sigma_scale="median_edge"`` its dependence on S is not differentiated.

    Parameters
    ----------
    X : array_like, shape (n, d)
        The points of the forward call.
    grad_co_clustering : array_like, shape (n, n), optional
    grad_noise_probability : array_like, shape (n,), optional
        Upstream gradients (None counts as zero).
    min_cluster_size, min_samples, metric, sigma, sigma_scale, n_samples, seed, cluster_selection_method, \
cluster_selection_epsilon, allow_single_cluster, n_threads
        Those of the forward call; ``seed`` the int it used (``PerturbedDensity.seed``).
    control_variate : bool, default True
    samples : array_like of int, shape (n_samples, n), optional
        The labels kept by the forward call (``perturbed_hdbscan(..., keep_samples=True).labels``):
        only sample 0 is solved again, as a check that they belong to this call.

    Returns
    -------
    ndarray, shape (n, n)
        In X's dtype: the gradient with respect to S (symmetric, zero diagonal); chain it to X
        through d_mr yourself, or use the torch / JAX ``mr_similarity``.
    """
    if isinstance(seed, np.random.Generator) or seed is None:
        raise TypeError("seed must be the int seed of the forward call")
    labels, reference, scale, used_seed, S, threads = _sample_labels(
        X, min_cluster_size, min_samples, metric, sigma, sigma_scale, n_samples, seed,
        cluster_selection_method, cluster_selection_epsilon, allow_single_cluster, n_threads,
        solve=None if samples is None else 1,
    )
    if samples is not None:
        labels = _kept_labels(samples, labels, int(n_samples))
    n = labels.shape[1]
    VC = None if grad_co_clustering is None else _cotangent(grad_co_clustering, (n, n), "grad_co_clustering")
    vn = None if grad_noise_probability is None else _cotangent(grad_noise_probability, (n,), "grad_noise_probability")
    if VC is None and vn is None:
        return np.zeros((n, n), dtype=S.dtype)
    g = _score_vjp(labels, reference, scale, used_seed, VC, vn, bool(control_variate), threads)
    return g.astype(S.dtype, copy=False)


def _distance_grad(X: NDArray[np.float64], P: NDArray[np.float64], D: NDArray[np.float64], metric: str) -> NDArray[np.float64]:
    """sum_{a, b} P_ab d(x_a, x_b) differentiated with respect to X (d symmetric)."""
    K = P + P.T
    if metric == "sqeuclidean":
        K = 2.0 * K
        out: NDArray[np.float64] = K.sum(axis=1)[:, None] * X - K @ X
        return out
    if metric == "euclidean":
        with np.errstate(divide="ignore", invalid="ignore"):
            K = np.where(D > 0, K / np.where(D > 0, D, 1.0), 0.0)
        out = K.sum(axis=1)[:, None] * X - K @ X
        return out
    if metric == "manhattan":
        G = np.empty_like(X)
        for c in range(X.shape[1]):
            G[:, c] = (K * np.sign(X[:, c][:, None] - X[:, c][None, :])).sum(axis=1)
        return G
    # cosine: d = 1 - <a, b> / (|a| |b|)
    norms = np.linalg.norm(X, axis=1)
    if not (norms > 0).all():
        raise ValueError("X has a zero row: the cosine distance is not differentiable there")
    U = X / norms[:, None]
    C = U @ U.T
    out = -(K @ U - (K * C).sum(axis=1)[:, None] * U) / norms[:, None]
    return out


def partial_fy_loss_from_points(
    X: ArrayLike,
    k: int,
    known_labels: ArrayLike,
    *,
    min_samples: int = 5,
    metric: str = "euclidean",
    sigma: float = 0.1,
    n_samples: int = 100,
    seed: int | np.random.Generator | None = None,
    n_threads: int | None = None,
) -> PointsFYLoss:
    """The partial Fenchel-Young loss on the mutual-reachability similarity of points.

    ``L = partial_fy_loss(S, k, known_labels, ...)`` with ``S = -d_mr(X)``
    (:func:`diffclust.mutual_reachability_distances`; the same noise for the same
    seed), its gradient ``dL/dS`` and, by the chain rule through
    ``d_mr(i, j) = max(core_i, core_j, d(x_i, x_j))``, ``dL/dX``.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Points.
    k : int
        Number of clusters (trees).
    known_labels : array_like of int, shape (n,)
        Partial labels, -1 for unknown.
    min_samples : int, default 5
        Core distance neighbours, the point itself included.
    metric : {"euclidean", "sqeuclidean", "manhattan", "cosine"} or an alias
    sigma, n_samples, seed, n_threads
        As in :func:`diffclust.partial_fy_loss` (sigma absolute, in distance units).

    Returns
    -------
    PointsFYLoss
        Unpacks as ``loss, grad, grad_X``; also carries ``similarity`` (S).

    Notes
    -----
    d_mr is piecewise smooth: the gradient follows, for each pair, the argument
    attaining the max (the pair's distance when it is at least both core
    distances, else the larger core distance, which follows the distance to the
    point's ``min_samples``-th nearest point). At ties any choice is a valid
    one-sided derivative; finite differences agree on tie-free data. With
    ``min_samples = 1`` the core distances are 0 and d_mr = d.
    """
    threads = resolve_threads(n_threads)
    Xa = ops_density.points(X)
    n = Xa.shape[0]
    ms = ops_density.check_min_samples(min_samples, n)
    name = resolve_metric(metric)
    used_seed = resolve_seed(seed)
    _ops.check_allocation((n, n), np.float64, "the (n, n) mutual-reachability matrix")
    X64 = np.ascontiguousarray(Xa, dtype=np.float64)
    D = np.asarray(_ops.pairwise_distances(Xa, None, name, threads), dtype=np.float64)
    np.fill_diagonal(D, 0.0)
    nn = np.argpartition(D, ms - 1, axis=1)[:, ms - 1]
    core = D[np.arange(n), nn]
    M = np.maximum(D, np.maximum(core[:, None], core[None, :]))
    np.fill_diagonal(M, 0.0)
    S = np.negative(M).astype(Xa.dtype, copy=False)  # the S of mutual_reachability_distances
    loss, G, *_ = _ops.partial_fy_loss(S, k, known_labels, sigma, n_samples, used_seed, threads)
    grad_S = G
    G = np.asarray(G, dtype=np.float64)
    H = -G  # dL/d(d_mr)
    np.fill_diagonal(H, 0.0)
    by_d = (D >= core[:, None]) & (D >= core[None, :])
    by_core_i = ~by_d & (core[:, None] >= core[None, :])
    P = np.where(by_d, H, 0.0)  # weights on d(x_a, x_b)
    # core_i = d(x_i, x_nn(i)): entries (i, j) where core_i wins, and (i, j) where core_j wins (j's core)
    w_core = np.where(by_core_i, H, 0.0).sum(axis=1) + np.where(~by_d & ~by_core_i, H, 0.0).sum(axis=0)
    np.add.at(P, (np.arange(n), nn), w_core)
    grad_X = _distance_grad(X64, P, D, name)
    return PointsFYLoss(float(loss), grad_S, grad_X.astype(Xa.dtype, copy=False), S)
