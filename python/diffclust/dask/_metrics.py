"""Clustering metrics and the k-means loss, block by block on dask arrays.

Exact (bit for bit with the in-memory function): ARI, MI and NMI, from integer
contingency tables added exactly. To rounding (each block is summed in its own
order, then the blocks in block order; relative differences of order 1e-13):
the silhouette, Davies-Bouldin and the k-means loss.
"""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import numpy as np
from numpy.typing import NDArray

from .. import distances as _distances
from .. import losses as _losses
from .. import metrics as _metrics
from .._validation import as_labels, resolve_metric
from ._common import as_dask_points, check_fan_in

__all__ = [
    "adjusted_rand_score",
    "contingency_block",
    "davies_bouldin_score",
    "kmeans_loss",
    "mutual_info_score",
    "normalized_mutual_info_score",
    "silhouette_samples",
    "silhouette_score",
]

Table = tuple[NDArray[np.int64], NDArray[np.int64]]  # cells (m, 2) of label values, counts (m,)


def _as_dask_labels(x: Any, name: str, chunks: tuple[int, ...] | None = None) -> da.Array:
    if not isinstance(x, da.Array):
        x = da.from_array(np.asarray(x), chunks=-1)
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {x.shape}")
    if any(np.isnan(c) for c in x.chunks[0]):
        raise ValueError(f"{name} has unknown chunk sizes: call {name}.compute_chunk_sizes() first")
    if chunks is not None:
        if x.shape[0] != sum(chunks):
            raise ValueError(f"{name} must have length {sum(chunks)}, got {x.shape[0]}")
        x = x.rechunk((chunks,))
    return x


def _tree(parts: list[Any], fn: Any, fan_in: int) -> Any:
    """Consecutive groups of ``fan_in`` combined by ``fn`` until one is left (order kept)."""
    combine = dask.delayed(fn, pure=True)
    while len(parts) > 1:
        parts = [combine(*parts[g : g + fan_in]) if len(parts[g : g + fan_in]) > 1 else parts[g]
                 for g in range(0, len(parts), fan_in)]
    return parts[0]


# --------------------------------------------------------------------------- contingency tables


def contingency_block(a: Any, b: Any) -> Table:
    """The nonzero cells of the contingency table of two label blocks, with their counts."""
    a = as_labels(a, "labels_true")
    b = as_labels(b, "labels_pred")
    cells, counts = np.unique(np.stack([a, b], axis=1).reshape(-1, 2), axis=0, return_counts=True)
    return cells.astype(np.int64), counts.astype(np.int64)


def add_tables(*tables: Table) -> Table:
    """The sum of contingency tables: counts of equal cells added as integers."""
    cells = np.concatenate([t[0] for t in tables])
    counts = np.concatenate([t[1] for t in tables])
    merged, inverse = np.unique(cells, axis=0, return_inverse=True)
    total = np.zeros(len(merged), dtype=np.int64)
    np.add.at(total, inverse.reshape(-1), counts)
    return merged, total


def _table(labels_true: Any, labels_pred: Any, fan_in: int) -> Table:
    a = _as_dask_labels(labels_true, "labels_true")
    b = _as_dask_labels(labels_pred, "labels_pred")
    if a.shape != b.shape:
        raise ValueError(
            f"labels_true and labels_pred must have the same length, got {a.shape[0]} and {b.shape[0]}"
        )
    b = b.rechunk(a.chunks)
    block = dask.delayed(contingency_block, pure=True)
    parts = [block(x, y) for x, y in zip(a.to_delayed().ravel(), b.to_delayed().ravel())]
    result: Table = dask.compute(_tree(parts, add_tables, check_fan_in(fan_in)))[0]
    return result


def _expand(table: Table) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Two label vectors with exactly this contingency table (the scores depend on nothing else)."""
    cells, counts = table
    return np.repeat(cells[:, 0], counts), np.repeat(cells[:, 1], counts)


def adjusted_rand_score(labels_true: Any, labels_pred: Any, *, fan_in: int = 8) -> float:
    """Adjusted Rand index from a contingency table built block by block.

    Parameters
    ----------
    labels_true, labels_pred : dask.array.Array or array_like of int, shape (n,)
        The two labelings (``labels_pred`` is rechunked to ``labels_true``'s chunks).
    fan_in : int, default 8
        Inputs per task of the tree that adds the tables.

    Returns
    -------
    float
        Equal, bit for bit, to :func:`diffclust.adjusted_rand_score` on the
        computed labels: each block's table is counted exactly, tables are added
        as integers, and the score depends on the table alone.

    Notes
    -----
    The final task holds the table (at most one cell per pair of labels) and
    two label vectors of length n rebuilt from it (16 n bytes).
    """
    a, b = _expand(_table(labels_true, labels_pred, fan_in))
    return _metrics.adjusted_rand_score(a, b, n_threads=1)


def mutual_info_score(labels_true: Any, labels_pred: Any, *, fan_in: int = 8) -> float:
    """Mutual information (nats) from a contingency table built block by block.

    Parameters
    ----------
    labels_true, labels_pred : dask.array.Array or array_like of int, shape (n,)
        The two labelings.
    fan_in : int, default 8
        Inputs per task of the tree that adds the tables.

    Returns
    -------
    float
        Equal, bit for bit, to :func:`diffclust.mutual_info_score` (see
        :func:`adjusted_rand_score`).
    """
    a, b = _expand(_table(labels_true, labels_pred, fan_in))
    return _metrics.mutual_info_score(a, b, n_threads=1)


def normalized_mutual_info_score(
    labels_true: Any, labels_pred: Any, *, average_method: str = "arithmetic", fan_in: int = 8
) -> float:
    """Normalised mutual information from a contingency table built block by block.

    Parameters
    ----------
    labels_true, labels_pred : dask.array.Array or array_like of int, shape (n,)
        The two labelings.
    average_method : {"min", "geometric", "arithmetic", "max"}
        As in :func:`diffclust.normalized_mutual_info_score`.
    fan_in : int, default 8
        Inputs per task of the tree that adds the tables.

    Returns
    -------
    float
        Equal, bit for bit, to :func:`diffclust.normalized_mutual_info_score`.
    """
    if average_method not in ("min", "geometric", "arithmetic", "max"):
        raise ValueError(
            f"average_method must be one of ('min', 'geometric', 'arithmetic', 'max'), got {average_method!r}"
        )
    a, b = _expand(_table(labels_true, labels_pred, fan_in))
    return _metrics.normalized_mutual_info_score(a, b, average_method=average_method, n_threads=1)


# --------------------------------------------------------------------------- k-means loss


def _kmeans_block(X: Any, centers: NDArray[np.float64], labels: Any) -> float:
    return _losses.kmeans_loss(X, centers, labels, n_threads=1)


def kmeans_loss(X: Any, centers: Any, labels: Any = None) -> float:
    """k-means loss ``sum_i ||x_i - c_{l_i}||^2`` summed over row blocks.

    Parameters
    ----------
    X : dask.array.Array or array_like, shape (n, d)
        Points, chunked by rows.
    centers : array_like, shape (k, d)
        Cluster centers (in memory).
    labels : dask.array.Array or array_like of int, shape (n,), optional
        The center of each point; None: the nearest center.

    Returns
    -------
    float
        :func:`diffclust.kmeans_loss` to rounding: each block's loss is the
        in-memory function on that block, and the blocks' losses are added in
        block order (relative difference of order 1e-15 times the number of
        blocks).
    """
    X = as_dask_points(X)
    C = np.ascontiguousarray(np.asarray(centers, dtype=np.float64))
    if C.ndim != 2 or C.shape[1] != X.shape[1]:
        raise ValueError(f"centers must have shape (k, {X.shape[1]}) to match X, got {C.shape}")
    blocks = X.to_delayed().ravel()
    if labels is None:
        lab_blocks: list[Any] = [None] * len(blocks)
    else:
        lab_blocks = list(_as_dask_labels(labels, "labels", X.chunks[0]).to_delayed().ravel())
    task = dask.delayed(_kmeans_block, pure=True)
    parts = dask.compute([task(x, C, lab) for x, lab in zip(blocks, lab_blocks)])[0]
    total = 0.0
    for part in parts:
        total += part
    return total


# --------------------------------------------------------------------------- Davies-Bouldin


def _cluster_sums(X: Any, labels: Any) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    lab = as_labels(labels, "labels", n=len(X))
    values, inverse = np.unique(lab, return_inverse=True)
    sums = np.zeros((len(values), X.shape[1]))
    np.add.at(sums, inverse.reshape(-1), np.asarray(X, dtype=np.float64))
    return values, sums, np.bincount(inverse.reshape(-1), minlength=len(values)).astype(np.int64)


def _spread(X: Any, labels: Any, values: NDArray[np.int64], centroids: NDArray[np.float64]) -> NDArray[np.float64]:
    codes = np.searchsorted(values, as_labels(labels, "labels", n=len(X)))
    dist = np.sqrt(((np.asarray(X, dtype=np.float64) - centroids[codes]) ** 2).sum(axis=1))
    out = np.zeros(len(values))
    np.add.at(out, codes, dist)
    return out


def davies_bouldin_score(X: Any, labels: Any) -> float:
    """Davies-Bouldin index from per-block cluster sums (two passes over X).

    Parameters
    ----------
    X : dask.array.Array or array_like, shape (n, d)
        Points, chunked by rows.
    labels : dask.array.Array or array_like of int, shape (n,)
        Cluster of each point, 2 to n - 1 distinct values.

    Returns
    -------
    float
        :func:`diffclust.davies_bouldin_score` to rounding (centroids and
        spreads are summed per block, then across blocks in block order).
    """
    X = as_dask_points(X)
    lab = _as_dask_labels(labels, "labels", X.chunks[0])
    xs, ls = X.to_delayed().ravel(), lab.to_delayed().ravel()
    parts = dask.compute([dask.delayed(_cluster_sums, pure=True)(x, y) for x, y in zip(xs, ls)])[0]
    values = np.unique(np.concatenate([p[0] for p in parts]))
    n = int(X.shape[0])
    if not 2 <= len(values) <= n - 1:
        raise ValueError(f"the number of distinct labels is {len(values)}; it must be in [2, n - 1] = [2, {n - 1}]")
    sums = np.zeros((len(values), X.shape[1]))
    counts = np.zeros(len(values), dtype=np.int64)
    for v, s, c in parts:
        at = np.searchsorted(values, v)
        sums[at] += s
        counts[at] += c
    centroids = sums / counts[:, None]
    spreads = dask.compute([dask.delayed(_spread, pure=True)(x, y, values, centroids) for x, y in zip(xs, ls)])[0]
    intra = np.zeros(len(values))
    for s in spreads:
        intra += s
    intra /= counts
    gaps = np.sqrt(((centroids[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2))
    if np.allclose(intra, 0) or np.allclose(gaps, 0):
        return 0.0
    with np.errstate(divide="ignore"):
        ratio = (intra[:, None] + intra[None, :]) / np.where(gaps == 0, np.inf, gaps)
    np.fill_diagonal(ratio, -np.inf)
    return float(np.mean(ratio.max(axis=1)))


# --------------------------------------------------------------------------- silhouette


def _pair_sums(XI: Any, XJ: Any, codes_J: NDArray[np.int64], k: int, metric: str) -> NDArray[np.float64]:
    """(len(XI), k): the sums of the distances from each point of XI to each cluster's points in XJ."""
    XI64, XJ64 = np.asarray(XI, dtype=np.float64), np.asarray(XJ, dtype=np.float64)
    D = _distances.pairwise_distances(XI64, XJ64, metric=metric, n_threads=1)
    onehot = np.zeros((len(XJ), k))
    onehot[np.arange(len(XJ)), codes_J] = 1.0
    out: NDArray[np.float64] = D @ onehot
    return out


def _row_silhouette(codes_I: NDArray[np.int64], sizes: NDArray[np.int64], *sums: NDArray[np.float64]) -> Any:
    total = sums[0].copy()
    for s in sums[1:]:
        total += s
    own = sizes[codes_I]
    rows = np.arange(len(codes_I))
    a = total[rows, codes_I] / np.maximum(own - 1, 1)
    mean = total / sizes[None, :]
    mean[rows, codes_I] = np.inf
    b = mean.min(axis=1)
    denom = np.maximum(a, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(denom > 0, (b - a) / np.where(denom > 0, denom, 1.0), 0.0)
    return np.where(own > 1, s, 0.0)


def silhouette_samples(X: Any, labels: Any, *, metric: str = "euclidean") -> NDArray[Any]:
    """Silhouette coefficient of every point, from blocks of rows against blocks of columns.

    Parameters
    ----------
    X : dask.array.Array or array_like, shape (n, d)
        Points, chunked by rows ("precomputed" is not offered).
    labels : dask.array.Array or array_like of int, shape (n,)
        Cluster of each point, 2 to n - 1 distinct values.
    metric : {"euclidean", "sqeuclidean", "manhattan", "cosine"}
        As in :func:`diffclust.silhouette_samples`.

    Returns
    -------
    ndarray, shape (n,)
        :func:`diffclust.silhouette_samples` to rounding, in the dtype of X:
        each pair of row blocks (I, J) gives the per-cluster distance sums of
        the points of I (an O(b_I b_J) task), summed over J in block order.
    """
    X = as_dask_points(X)
    return _silhouette64(X, labels, metric).astype(X.dtype)


def _silhouette64(X: da.Array, labels: Any, metric: str) -> NDArray[np.float64]:
    name = resolve_metric(metric)
    n = int(X.shape[0])
    lab = as_labels(_as_dask_labels(labels, "labels", X.chunks[0]).compute(), "labels", n=n)
    values, codes = np.unique(lab, return_inverse=True)
    codes = codes.reshape(-1).astype(np.int64)
    k = len(values)
    if not 2 <= k <= n - 1:
        raise ValueError(f"the number of distinct labels is {k}; the silhouette needs it in [2, n - 1] = [2, {n - 1}]")
    sizes = np.bincount(codes, minlength=k).astype(np.int64)
    blocks = X.to_delayed().ravel()
    cuts = np.concatenate([[0], np.cumsum(X.chunks[0])]).astype(int)
    pair = dask.delayed(_pair_sums, pure=True)
    rows = dask.delayed(_row_silhouette, pure=True)
    per_block = []
    for i, XI in enumerate(blocks):
        sums = [pair(XI, XJ, codes[cuts[j]:cuts[j + 1]], k, name) for j, XJ in enumerate(blocks)]
        per_block.append(rows(codes[cuts[i]:cuts[i + 1]], sizes, *sums))
    out: NDArray[np.float64] = np.concatenate(dask.compute(per_block)[0])
    return out


def silhouette_score(X: Any, labels: Any, *, metric: str = "euclidean") -> float:
    """Mean silhouette coefficient (see :func:`silhouette_samples`; to rounding).

    Parameters
    ----------
    X : dask.array.Array or array_like, shape (n, d)
        Points, chunked by rows.
    labels : dask.array.Array or array_like of int, shape (n,)
        Cluster of each point.
    metric : str, default "euclidean"
        As in :func:`silhouette_samples`.

    Returns
    -------
    float
        The mean of the float64 coefficients.
    """
    return float(np.mean(_silhouette64(as_dask_points(X), labels, metric)))
