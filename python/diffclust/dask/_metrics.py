"""Clustering metrics and the k-means loss, block by block on dask arrays.

Every one equals the in-memory function bit for bit. ARI, MI and NMI: integer
contingency tables added exactly. The k-means loss and Davies-Bouldin: the
in-memory kernels sum fixed chunks of rows (their size a function of n, k and d
only) and combine the chunk sums in a fixed order; X is rechunked so that no
chunk straddles two blocks, tasks return per-chunk sums and the driver combines
them in the kernel's order. The silhouette: the kernel's blocks of positions
(points ordered by cluster) and pairs of blocks, each pair one task calling the
kernel's own tile function, the partial sums added in block order.
"""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import numpy as np
from numpy.typing import NDArray

from .. import losses as _losses
from .. import metrics as _metrics
from .._ops import losses as _ops_losses
from .._ops.dask import (
    centroid_spread_chunks,
    chunk_size,
    cluster_sums_chunks,
    pairwise_sum,
    sequential_sum,
    sq_dist_rows,
)
from .._validation import as_labels, core_fn, resolve_metric
from ._common import as_dask_points, check_fan_in

__all__ = [
    "adjusted_rand_score",
    "contingency_block",
    "davies_bouldin_score",
    "gmm_nll",
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


def _rechunk_to(X: da.Array, size: int) -> da.Array:
    """X in blocks of a multiple of ``size`` rows (about its largest chunk), so that the
    kernel's chunks of ``size`` rows never straddle two blocks."""
    largest = max(int(c) for c in X.chunks[0])
    return X.rechunk({0: size * max(1, round(largest / size)), 1: -1})


def _kmeans_loss_chunks(X: Any, C: NDArray[np.float64], labels: Any, size: int) -> NDArray[np.float64]:
    """The in-memory loss of every chunk of ``size`` rows of the block (its running sum)."""
    parts = [
        _losses.kmeans_loss(X[c0 : c0 + size], C, None if labels is None else labels[c0 : c0 + size], n_threads=1)
        for c0 in range(0, len(X), size)
    ]
    return np.asarray(parts, dtype=np.float64)


def kmeans_loss(X: Any, centers: Any, labels: Any = None) -> float:
    """k-means loss ``sum_i ||x_i - c_{l_i}||^2`` from row blocks, equal to the in-memory call.

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
        Equal, bit for bit, to :func:`diffclust.kmeans_loss` on the computed
        arrays: the in-memory kernel sums fixed chunks of rows (their size a
        function of n alone) in row order and adds the chunk sums pairwise; X
        is rechunked so that every chunk lies in one block, each task returns
        its chunks' sums, and the driver adds them pairwise in the same order.
    """
    X = as_dask_points(X)
    C = np.ascontiguousarray(np.asarray(centers, dtype=np.float64))
    if C.ndim != 2 or C.shape[1] != X.shape[1]:
        raise ValueError(f"centers must have shape (k, {X.shape[1]}) to match X, got {C.shape}")
    n = int(X.shape[0])
    size = chunk_size(n, 2048 if labels is not None else 32 * 64)  # losses.hpp: chunked_sum / 32 blocks of 64
    X = _rechunk_to(X, size)
    blocks = X.to_delayed().ravel()
    if labels is None:
        lab_blocks: list[Any] = [None] * len(blocks)
    else:
        lab_blocks = list(_as_dask_labels(labels, "labels", X.chunks[0]).to_delayed().ravel())
    task = dask.delayed(_kmeans_loss_chunks, pure=True)
    parts = dask.compute([task(x, C, lab, size) for x, lab in zip(blocks, lab_blocks)])[0]
    return pairwise_sum(np.concatenate(parts))


def _gmm_chunks(X: Any, params: tuple[Any, ...], covariance_type: str, size: int) -> NDArray[np.float64]:
    """Per chunk of ``size`` rows, the running sum of -log p(x_i) (float64, row order)."""
    Xa = np.ascontiguousarray(X)
    _, samples = core_fn("gmm_nll", Xa.dtype)(Xa, *params, covariance_type, True, 1)
    return np.asarray([sequential_sum(samples[c : c + size]) for c in range(0, len(samples), size)])


def gmm_nll(X: Any, weights: Any, means: Any, covariances: Any, *, covariance_type: str = "full") -> float:
    """Mean negative log-likelihood of X under a Gaussian mixture, equal to the in-memory call.

    Parameters
    ----------
    X : dask.array.Array or array_like, shape (n, d)
        Samples, chunked by rows.
    weights, means, covariances, covariance_type
        As in :func:`diffclust.gmm_nll` (in memory).

    Returns
    -------
    float
        Equal, bit for bit, to :func:`diffclust.gmm_nll`: each sample's
        -log p(x) does not depend on its neighbours, the kernel adds them in
        fixed chunks of rows (1024 or more, a function of n) in row order and the
        chunk sums pairwise; tasks return their chunks' sums and the driver adds
        them pairwise in the same order, then divides by n.
    """
    X = as_dask_points(X)
    probe = np.zeros((1, int(X.shape[1])), dtype=X.dtype)
    _, w, M, cov = _ops_losses._gmm_inputs(probe, weights, means, covariances, covariance_type)
    n = int(X.shape[0])
    size = chunk_size(n, 16 * 64)  # losses.hpp: make_chunks(n, 16 gmm_block)
    X = _rechunk_to(X, size)
    task = dask.delayed(_gmm_chunks, pure=True)
    parts = dask.compute([task(x, (w, M, cov), covariance_type, size) for x in X.to_delayed().ravel()])[0]
    return pairwise_sum(np.concatenate(parts)) / n


# --------------------------------------------------------------------------- Davies-Bouldin


def _block_codes(labels: Any, values: NDArray[np.int64]) -> NDArray[np.int64]:
    lab = as_labels(labels, "labels", n=len(labels))
    return np.searchsorted(values, lab).astype(np.int64)


def _unique(labels: Any) -> NDArray[np.int64]:
    return np.unique(as_labels(labels, "labels", n=len(labels)))


def davies_bouldin_score(X: Any, labels: Any) -> float:
    """Davies-Bouldin index from per-chunk cluster sums, equal to the in-memory call.

    Parameters
    ----------
    X : dask.array.Array or array_like, shape (n, d)
        Points, chunked by rows.
    labels : dask.array.Array or array_like of int, shape (n,)
        Cluster of each point, 2 to n - 1 distinct values.

    Returns
    -------
    float
        Equal, bit for bit, to :func:`diffclust.davies_bouldin_score`: as in the
        kernel (metrics.hpp), the centroids and the spreads are summed per chunk
        of rows (the chunk size a function of n, k and d) in row order, the
        chunks added in chunk order; two passes over X (centroids, spreads).
    """
    X = as_dask_points(X)
    n, d = int(X.shape[0]), int(X.shape[1])
    lab = _as_dask_labels(labels, "labels", X.chunks[0])
    uniq = dask.delayed(_unique, pure=True)
    values = np.unique(np.concatenate(dask.compute([uniq(b) for b in lab.to_delayed().ravel()])[0]))
    k = len(values)
    if not 2 <= k <= n - 1:
        raise ValueError(f"labels has {k} distinct values; Davies-Bouldin needs 2 to n - 1 = {n - 1}")
    sums_task = dask.delayed(cluster_sums_chunks, pure=True)
    spread_task = dask.delayed(centroid_spread_chunks, pure=True)
    code_task = dask.delayed(_block_codes, pure=True)
    # centroids: chunks of make_chunks(n, 4096, k d), folded in chunk order
    size = chunk_size(n, 4096, k * d)
    X1 = _rechunk_to(X, size)
    L1 = lab.rechunk((X1.chunks[0],))
    parts = dask.compute([sums_task(x, code_task(y, values), k, size)
                          for x, y in zip(X1.to_delayed().ravel(), L1.to_delayed().ravel())])[0]
    centroids = np.zeros((k, d))
    for block in parts:
        for chunk in block:
            centroids += chunk
    counts = dask.compute([dask.delayed(np.bincount)(code_task(y, values), minlength=k)
                           for y in L1.to_delayed().ravel()])[0]
    count = np.sum(counts, axis=0).astype(np.float64)
    centroids /= count[:, None]
    # spreads: chunks of make_chunks(n, 4096, k)
    size2 = chunk_size(n, 4096, k)
    X2 = _rechunk_to(X, size2)
    L2 = lab.rechunk((X2.chunks[0],))
    parts2 = dask.compute([spread_task(x, code_task(y, values), centroids, size2)
                           for x, y in zip(X2.to_delayed().ravel(), L2.to_delayed().ravel())])[0]
    intra = np.zeros(k)
    for block in parts2:
        for chunk in block:
            intra += chunk
    intra /= count
    tiny = 1e-8
    if np.all(np.abs(intra) <= tiny):
        return 0.0
    scores = np.zeros(k)
    farthest = np.zeros(k)
    for a in range(k):
        dist = np.sqrt(sq_dist_rows(np.broadcast_to(centroids[a], (k, d)), centroids))
        dist[a] = np.nan
        others = np.arange(k) != a
        farthest[a] = max(0.0, float(np.max(dist[others])))
        ok = others & (dist != 0.0)
        ratios = (intra[a] + intra[ok]) / dist[ok]
        scores[a] = max(0.0, float(np.max(ratios))) if ratios.size else 0.0
    if farthest.max() <= tiny:
        return 0.0
    return pairwise_sum(scores) / k


# --------------------------------------------------------------------------- silhouette


def _silhouette_block(n: int) -> int:
    """detail::silhouette_block (metrics/silhouette.hpp): 768 positions, or a multiple keeping <= 32 blocks."""
    unit, max_blocks = 768, 32
    return unit * max(1, -(-n // (unit * max_blocks)))


def _run_clusters(at: NDArray[np.int64]) -> NDArray[np.int64]:
    """The cluster of each run of equal consecutive values (positions sorted by cluster)."""
    starts = np.concatenate([[True], at[1:] != at[:-1]])
    out: NDArray[np.int64] = at[starts]
    return out


def _pair(XI: Any, at_i: NDArray[np.int64], XJ: Any, at_j: NDArray[np.int64], bs: int, metric: str, same: bool) -> Any:
    XI = np.ascontiguousarray(XI)
    XJ = np.ascontiguousarray(XJ, dtype=XI.dtype)
    return core_fn("silhouette_pair", XI.dtype)(XI, at_i, XJ, at_j, bs, metric, same)


def _block_silhouette(at: NDArray[np.int64], sizes: NDArray[np.int64], clusters: list[NDArray[np.int64]],
                      *parts: NDArray[np.float64]) -> Any:
    """Silhouettes of one block of positions: its partial sums added in block order, as the kernel."""
    total = np.zeros((len(at), len(sizes)))
    for cl, part in zip(clusters, parts):
        total[:, cl] += part
    return _row_silhouette(at, sizes, total)


def _row_silhouette(codes_I: NDArray[np.int64], sizes: NDArray[np.int64], total: NDArray[np.float64]) -> Any:
    """silhouette_from_sums of the kernel, row by row."""
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
        Equal, bit for bit, to :func:`diffclust.silhouette_samples`, in the
        dtype of X. As in the kernel (metrics/silhouette.hpp), the points are
        ordered by cluster (stable) and cut into blocks of 768 positions (a
        multiple of it above 24 576 points, at most 32 blocks); each pair of
        blocks I <= J is one task running the kernel's tile (the per-cluster
        distance sums of the points of both blocks), and one task per block adds
        its partial sums in block order.

    Notes
    -----
    The points of each block are gathered with ``X[order]`` (X shuffled by
    cluster). p blocks: p (p + 1) / 2 pair tasks of two blocks each, p
    reduction tasks; n (n + 1) / 2 distance evaluations in all.
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
    order = np.argsort(codes, kind="stable")  # position -> point, as the kernel's counting sort
    at = codes[order]
    bs = _silhouette_block(n)
    nb = -(-n // bs)
    Xp = X[order].rechunk({0: bs, 1: -1})
    blocks = Xp.to_delayed().ravel()
    ats = [at[b * bs : (b + 1) * bs] for b in range(nb)]
    clusters = [_run_clusters(a) for a in ats]
    pair = dask.delayed(_pair, pure=True, nout=2)
    pairs = {(i, j): pair(blocks[i], ats[i], blocks[j], ats[j], bs, name, i == j)
             for i in range(nb) for j in range(i, nb)}
    reduce = dask.delayed(_block_silhouette, pure=True)
    per_block = []
    for a in range(nb):
        parts = [pairs[(b, a)][1] if b < a else pairs[(a, b)][0] for b in range(nb)]
        per_block.append(reduce(ats[a], sizes, clusters, *parts))
    s = np.concatenate(dask.compute(per_block)[0])
    out = np.empty(n)
    out[order] = s
    return out


def silhouette_score(X: Any, labels: Any, *, metric: str = "euclidean") -> float:
    """Mean silhouette coefficient, equal bit for bit to :func:`diffclust.silhouette_score`.

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
