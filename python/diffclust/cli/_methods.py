"""The clustering methods the command line offers, one small entry each.

A :class:`Method` is a name, a one-line description, the metrics it accepts and a
``fit(X, k, metric, seed) -> Fitted`` callable returning labels and the method's own
loss. ``demo`` runs every method, ``cluster --method NAME`` one of them.

Every fitting method of the package is here: k-forest, perturbed k-forest,
k-medoids, k-means, Gaussian mixture and HDBSCAN.

Conventions (also in the README section):

- Forests and noise. Single linkage cuts the k - 1 longest edges of the spanning
  tree, and with a few outliers those are the edges to the outliers: the k-forest
  puts each outlier in a cluster of its own and everything else in one cluster.
  The forest methods therefore take the smallest j >= k for which the j-forest
  has exactly k trees of at least ``m = max(5, n // 50)`` points (``cluster
  --min-cluster-size``; 1 gives the plain k-forest) and label the points of the
  smaller trees noise (-1); see :func:`trimmed_forest`.
- ``kforest``: :func:`diffclust.kforest_from_points` (the maximum spanning tree of
  ``S = -d``), cut as above. Own loss: the length of the j-forest, the sum of the
  distances along its n - j edges (``-value / 2`` of that forest).
- ``perturbed``: :func:`diffclust.perturbed_kforest_from_points` with the same j
  trees, B = 100 samples and ``sigma = 0.5 x`` the mean edge length of the exact
  j-forest (the noise is on the scale of the distances it perturbs, whatever the
  units of X). Labels: the maximum-weight forest of its soft connectivity M_eps
  used as a similarity (:func:`diffclust.kforest` on M_eps), cut as above, i.e.
  the consensus of the perturbed forests, not the unperturbed forest. Own loss:
  ``-F_eps / 2``, the expected length of the perturbed optimal forest.
- ``kmedoids``: :func:`diffclust.kmedoids` (FasterPAM from BUILD); own loss
  ``sum_i d(x_i, medoid)``.
- ``kmeans``, ``gmm``: Euclidean only; own loss the inertia and the negative
  log-likelihood per point. ``hdbscan`` ignores k (``min_cluster_size = max(5, n // 40)``) and
  labels noise -1; it has no loss of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from numpy.typing import NDArray

import diffclust as dc

__all__ = ["Fitted", "Method", "available_methods", "perturbed_sigma"]

POINT_METRICS = ("euclidean", "sqeuclidean", "manhattan", "cosine")
N_SAMPLES = 100
SIGMA_SCALE = 0.5


@dataclass(frozen=True)
class Fitted:
    """Labels (-1 = noise), the method's own loss (None if it has none) and extras."""

    labels: NDArray[np.int64]
    loss: float | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Method:
    """One clustering method of the command line."""

    name: str
    description: str
    loss_name: str
    fit: Callable[[NDArray[np.float64], int, str, int, int | None], Fitted]
    metrics: tuple[str, ...] = POINT_METRICS
    uses_k: bool = True


def _labels(x: Any) -> NDArray[np.int64]:
    return np.asarray(x, dtype=np.int64)


def min_cluster_size(n: int) -> int:
    """The forests' smallest cluster: trees below it are noise (see :func:`trimmed_forest`)."""
    return max(5, n // 50)


def trimmed_forest(tree: Any, n: int, k: int, m: int) -> tuple[NDArray[np.int64], int]:
    """Labels of the smallest j-forest (j >= k) of ``tree`` with k trees of >= m points.

    ``tree`` is a maximum spanning tree (a 1-forest). Cutting its lightest edges one
    at a time splits one tree in two, so the number of trees with at least m points
    grows by at most one per cut: the first j at which it reaches k gives exactly k
    of them. Their points are labelled 0..k-1 by first appearance; the points of the
    smaller trees are noise (-1). With ``m <= 1``, or if no j works, this is the
    plain k-forest. Returns ``(labels, j)``.
    """
    if m > 1:
        for j in range(k, n + 1):
            labels = np.asarray(dc.kforest_from_edges(tree.edges, tree.weights, n, j).labels)
            big = np.flatnonzero(np.bincount(labels) >= m)
            if big.size == k:
                order = {int(c): i for i, c in enumerate(dict.fromkeys(labels[np.isin(labels, big)]))}
                return np.array([order.get(int(c), -1) for c in labels], dtype=np.int64), j
    return _labels(dc.kforest_from_edges(tree.edges, tree.weights, n, k).labels), k


def _kforest(
    X: NDArray[np.float64], k: int, metric: str, seed: int, min_size: int | None = None
) -> Fitted:
    n = X.shape[0]
    tree = dc.kforest_from_points(X, 1, metric=metric)
    labels, j = trimmed_forest(tree, n, k, min_cluster_size(n) if min_size is None else min_size)
    length = 0.0 - float(np.sum(tree.weights[: n - j]))  # the j-forest: its n - j heaviest edges
    return Fitted(labels, length, {"trees": j})


def perturbed_sigma(X: NDArray[np.float64], k: int, metric: str) -> float:
    """The demo's noise scale: ``SIGMA_SCALE`` x the mean edge length of the exact k-forest."""
    forest = dc.kforest_from_points(X, k, metric=metric)
    length = float(-np.mean(forest.weights)) if forest.weights.size else 0.0
    return SIGMA_SCALE * length if length > 0 else 1e-3


def _perturbed(
    X: NDArray[np.float64], k: int, metric: str, seed: int, min_size: int | None = None
) -> Fitted:
    n = X.shape[0]
    m = min_cluster_size(n) if min_size is None else min_size
    _, j = trimmed_forest(dc.kforest_from_points(X, 1, metric=metric), n, k, m)
    sigma = perturbed_sigma(X, j, metric)
    soft = dc.perturbed_kforest_from_points(
        X, j, metric=metric, sigma=sigma, n_samples=N_SAMPLES, seed=seed
    )
    M = soft.connectivity
    labels, _ = trimmed_forest(dc.kforest(M, 1), n, k, m)
    return Fitted(labels, -float(soft.value) / 2, {"connectivity": M, "sigma": sigma, "trees": j})


def _kmedoids(
    X: NDArray[np.float64], k: int, metric: str, seed: int, min_size: int | None = None
) -> Fitted:
    res = dc.kmedoids(X, k, metric=metric, seed=seed)
    return Fitted(_labels(res.labels), float(res.loss))


def _kmeans(
    X: NDArray[np.float64], k: int, metric: str, seed: int, min_size: int | None = None
) -> Fitted:
    res = dc.kmeans(X, k, seed=seed)
    return Fitted(_labels(res.labels), float(res.inertia))


def _gmm(
    X: NDArray[np.float64], k: int, metric: str, seed: int, min_size: int | None = None
) -> Fitted:
    res = dc.gaussian_mixture(X, k, seed=seed)
    labels = res.labels
    loss = -float(res.log_likelihood)  # mean negative log-likelihood per point
    return Fitted(_labels(labels), loss)


def _hdbscan(
    X: NDArray[np.float64], k: int, metric: str, seed: int, min_size: int | None = None
) -> Fitted:
    m = max(5, X.shape[0] // 40) if min_size is None else max(2, min_size)
    res = dc.hdbscan(X, min_cluster_size=m, metric=metric)
    return Fitted(_labels(res.labels), None)


def available_methods() -> dict[str, Method]:
    """Every method this installation of diffclust has, by name, in table order."""
    methods = [
        Method("kforest", "k-forest (single linkage)", "forest length", _kforest),
        Method("perturbed", "perturbed k-forest, labels from M_eps", "-F_eps/2", _perturbed),
        Method("kmedoids", "k-medoids (FasterPAM)", "sum d(x, medoid)", _kmedoids),
        Method("kmeans", "k-means (k-means++)", "inertia", _kmeans, metrics=("euclidean",)),
        Method("gmm", "Gaussian mixture (full)", "mean NLL per point", _gmm, metrics=("euclidean",)),
        Method("hdbscan", "HDBSCAN (ignores k)", "—", _hdbscan, uses_k=False),
    ]
    return {m.name: m for m in methods}

