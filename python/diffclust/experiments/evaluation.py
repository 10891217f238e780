"""Metrics of the digits experiment: linear probe, batch k-forest ARI, coincidence error.

NumPy, scikit-learn and the NumPy API of diffclust only (no torch), so that the
metrics can be checked against independent computations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..forests import kforest
from ..metrics import adjusted_rand_score

__all__ = [
    "BatchScores",
    "batch_clustering_scores",
    "coincidence_error",
    "make_test_batches",
    "probe_accuracy",
    "similarity_matrix",
]


def coincidence_error(labels_pred: NDArray[np.integer], labels_true: NDArray[np.integer]) -> float:
    """Fraction of pairs {i, j}, i < j, whose same-cluster relation disagrees with the truth.

    The paper's coincidence error: ``mean_{i<j} |M_ij - M*_ij|`` with M the predicted
    and M* the true connectivity (1 iff same cluster).
    """
    p = np.asarray(labels_pred).ravel()
    t = np.asarray(labels_true).ravel()
    if p.shape != t.shape:
        raise ValueError(f"labels_pred and labels_true must have the same length, got {p.size} and {t.size}")
    n = p.size
    if n < 2:
        raise ValueError("coincidence_error needs at least 2 points")
    # pairs that agree = sum over the contingency table, without the n x n matrices
    _, pi = np.unique(p, return_inverse=True)
    _, ti = np.unique(t, return_inverse=True)
    table = np.zeros((pi.max() + 1, ti.max() + 1), dtype=np.int64)
    np.add.at(table, (pi, ti), 1)
    both = int((table * (table - 1)).sum()) // 2          # same in both
    same_p = int((table.sum(1) * (table.sum(1) - 1)).sum()) // 2
    same_t = int((table.sum(0) * (table.sum(0) - 1)).sum()) // 2
    disagree = same_p + same_t - 2 * both
    return disagree / (n * (n - 1) / 2)


def similarity_matrix(Z: NDArray[np.floating], kind: str = "sqeuclidean") -> NDArray[np.float64]:
    """Similarities of the rows of Z as the loss builds them (``-||z_i - z_j||^2``, cosine, dot)."""
    Z = np.asarray(Z, dtype=np.float64)
    if kind == "sqeuclidean":
        sq = (Z * Z).sum(1)
        S: NDArray[np.float64] = 2 * (Z @ Z.T) - sq[:, None] - sq[None, :]
    elif kind == "cosine":
        U = Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
        S = U @ U.T
    elif kind == "dot":
        S = Z @ Z.T
    else:
        raise ValueError(f"kind must be 'sqeuclidean', 'cosine' or 'dot', got {kind!r}")
    return S


def make_test_batches(n: int, batch_size: int, n_rounds: int, seed: int) -> list[NDArray[np.intp]]:
    """Disjoint batches of ``batch_size`` indices of range(n), ``n_rounds`` shuffles of it."""
    rng = np.random.default_rng(seed)
    out: list[NDArray[np.intp]] = []
    for _ in range(n_rounds):
        perm = rng.permutation(n)
        out.extend(perm[i:i + batch_size] for i in range(0, n - batch_size + 1, batch_size))
    return out


@dataclass(frozen=True)
class BatchScores:
    """Mean over test batches of the k-forest ARI and the coincidence error."""

    ari: float
    coincidence_error: float


def batch_clustering_scores(
    Z: NDArray[np.floating],
    y: NDArray[np.integer],
    batches: list[NDArray[np.intp]],
    k: int,
    kind: str = "sqeuclidean",
) -> BatchScores:
    """Cluster each batch of embeddings by the exact k-forest of its similarities.

    Returns the mean over batches of the ARI and of the coincidence error against y.
    """
    aris, errs = [], []
    for idx in batches:
        labels = kforest(similarity_matrix(Z[idx], kind), k).labels
        aris.append(adjusted_rand_score(y[idx], labels))
        errs.append(coincidence_error(labels, y[idx]))
    return BatchScores(float(np.mean(aris)), float(np.mean(errs)))


def probe_accuracy(
    Z_fit: NDArray[np.floating],
    y_fit: NDArray[np.integer],
    Z_test: NDArray[np.floating],
    y_test: NDArray[np.integer],
    classes: tuple[int, ...] = (),
) -> tuple[float, float]:
    """Linear probe: a standardized logistic regression fitted on (Z_fit, y_fit).

    Returns its accuracy on (Z_test, y_test), and on the test points whose class is
    in ``classes`` (NaN if ``classes`` is empty).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    probe.fit(np.asarray(Z_fit, dtype=np.float64), y_fit)
    pred = probe.predict(np.asarray(Z_test, dtype=np.float64))
    acc = float(np.mean(pred == y_test))
    if not classes:
        return acc, float("nan")
    mask = np.isin(y_test, classes)
    return acc, float(np.mean(pred[mask] == y_test[mask]))
