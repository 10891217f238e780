"""k-means (Lloyd) on a row-chunked dask array, bit-identical to :func:`diffclust.kmeans`.

The in-memory kernel (``csrc/include/diffclust/cluster/kmeans.hpp``) cuts the
rows into fixed chunks of 2048 rows, sums each chunk in row order into its own
buffer and folds the chunk buffers in chunk order. Here X is rechunked to blocks
of a multiple of 2048 rows, each task returns its chunks' sums, weights and
label changes, and the driver folds them in chunk order: the same additions in
the same order. The labels stay on the workers (persisted) between iterations.
"""

from __future__ import annotations

import math
from typing import Any

import dask
import dask.array as da
import numpy as np
from numpy.typing import NDArray

from .._ops import kmeans as _ops_kmeans
from .._ops.dask import (
    KMEANS_CHUNK_ROWS,
    column_sums,
    kmeans_candidates,
    kmeans_final_block,
    kmeans_lloyd_block,
    squared_deviations,
)
from .._validation import check_int, check_k, resolve_seed
from ..centroids import KMeansResult
from ._common import as_dask_points

__all__ = ["kmeans", "kmeans_blocks", "predict_block"]

Array = NDArray[Any]


def _block_rows(X: da.Array, block_rows: Any) -> int:
    if block_rows is None:
        largest = max(int(c) for c in X.chunks[0])
        return KMEANS_CHUNK_ROWS * max(1, math.ceil(largest / KMEANS_CHUNK_ROWS))
    rows = check_int(block_rows, "block_rows")
    if rows < 1 or rows % KMEANS_CHUNK_ROWS:
        raise ValueError(f"block_rows must be a positive multiple of {KMEANS_CHUNK_ROWS}, got {rows}")
    return rows


def kmeans_blocks(X: Any, block_rows: Any = None) -> da.Array:
    """X as a dask array rechunked to blocks of a multiple of 2048 rows (the kernel's chunk)."""
    X = as_dask_points(X)
    return X.rechunk({0: _block_rows(X, block_rows), 1: -1})


def _tolerance(blocks: list[Any], n: int, tol: float) -> float:
    """``_ops.kmeans.tolerance`` exactly: NumPy's variance along axis 0 adds rows in row order."""
    if tol == 0:
        return 0.0
    total: Any = None
    for block in blocks:
        total = dask.delayed(column_sums, pure=True)(block, total)
    mean = dask.compute(total)[0] / n
    spread: Any = None
    for block in blocks:
        spread = dask.delayed(squared_deviations, pure=True)(block, mean, spread)
    var = dask.compute(spread)[0] / n
    return float(np.mean(var) * tol)


def _relocate(
    empty: list[int], sums: NDArray[np.float64], weights: NDArray[np.float64], blocks: list[Any],
    wblocks: list[Any], labels: list[Any], C: Array, offsets: list[int], k: int,
) -> None:
    """The kernel's empty-cluster relocation (``relocate_empty``), from each block's best candidates.

    The global order (largest distance to the own centre first, smaller index on
    ties) restricted to its first m entries is the merge of every block's first m;
    when the scan needs more, m doubles and the scan restarts.
    """
    m = 2 * len(empty) + 8
    task = dask.delayed(kmeans_candidates, pure=True)
    while True:
        parts = dask.compute([task(x, w, C, lab, off, m) for x, w, lab, off in zip(blocks, wblocks, labels, offsets)])[0]
        eligible = sum(p[5] for p in parts)
        dist = np.concatenate([p[0] for p in parts])
        index = np.concatenate([p[1] for p in parts])
        order = np.lexsort((index, -dist))[:m]
        lab = np.concatenate([p[2] for p in parts])[order]
        wts = np.concatenate([p[3] for p in parts])[order]
        rows = np.concatenate([p[4] for p in parts])[order].astype(np.float64)
        S, W = sums.copy(), weights.copy()
        nxt, complete = 0, True
        for e in empty:
            while nxt < len(order):
                o, wi = int(lab[nxt]), float(wts[nxt])
                if o == e or not W[o] - wi > 0.0:
                    nxt += 1
                    continue
                x = rows[nxt]
                S[o] -= wi * x
                S[e] = wi * x
                W[o] -= wi
                W[e] = wi
                nxt += 1
                break
            else:
                if m < eligible:
                    complete = False
                    break
        if complete:
            sums[...] = S
            weights[...] = W
            return
        m *= 2


def _lloyd(
    blocks: list[Any], wblocks: list[Any], offsets: list[int], C0: Array, max_iter: int, tol: float,
) -> tuple[Array, list[Any], float, int]:
    """One Lloyd run from C0, as ``kmeans_lloyd``: (centers, label blocks, inertia, n_iter)."""
    dtype = C0.dtype
    k, d = C0.shape
    C = C0.astype(np.float64)
    labels: list[Any] = [None] * len(blocks)
    step = dask.delayed(kmeans_lloyd_block, pure=True, nout=2)
    strict = False
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        Ct = C.astype(dtype)
        pairs = [step(x, w, Ct, prev) for x, w, prev in zip(blocks, wblocks, labels)]
        new_labels, stats = dask.persist([p[0] for p in pairs], [p[1] for p in pairs])
        computed = dask.compute(stats)[0]
        sums = np.zeros((k, d))
        weights = np.zeros(k)
        changed = 0
        for ch, block_sums, block_weights in computed:  # chunk order
            changed += ch
            for c in range(block_sums.shape[0]):
                sums += block_sums[c]
                weights += block_weights[c]
        empty = [j for j in range(k) if not weights[j] > 0.0]
        if empty:
            _relocate(empty, sums, weights, blocks, wblocks, new_labels, Ct, offsets, k)
        labels = new_labels
        Cnew = C.copy()
        filled = weights > 0.0
        Cnew[filled] = (sums[filled] / weights[filled, None]).astype(dtype).astype(np.float64)
        delta = Cnew - C
        per_centre = np.cumsum(delta * delta, axis=1)[:, -1]  # in feature order, as the kernel
        shift = float(np.cumsum(per_centre)[-1])
        C = Cnew
        if changed == 0:
            strict = True
            break
        if shift <= tol:
            break
    final = dask.delayed(kmeans_final_block, pure=True, nout=2)
    Ct = C.astype(dtype)
    pairs = [final(x, w, Ct, lab, not strict) for x, w, lab in zip(blocks, wblocks, labels)]
    out_labels, inertias = dask.persist([p[0] for p in pairs], [p[1] for p in pairs])
    inertia = 0.0
    for part in dask.compute(inertias)[0]:
        for value in part.tolist():
            inertia += value
    return Ct, out_labels, inertia, n_iter


def _initial(X: da.Array, k: int, init: Any, w: NDArray[np.float64] | None, seed: int, n_threads: int) -> Array:
    """The initial centres as ``_ops.kmeans.initial_centers`` computes them."""
    if isinstance(init, str) and init == "random":
        out: Array = np.ascontiguousarray(X[_ops_kmeans.random_init_rows(int(X.shape[0]), k, w, seed)].compute())
        return out
    if isinstance(init, str):  # k-means++: a sequential algorithm over all points, run in memory
        return _ops_kmeans.initial_centers(np.ascontiguousarray(X.compute()), k, init, w, seed, n_threads)
    return np.ascontiguousarray(init, dtype=X.dtype)


def _fit(
    X: Any, k: int, init: Any, n_init: Any, max_iter: Any, tol: Any, sample_weight: Any, seed: Any,
    block_rows: Any, n_threads: int | None,
) -> tuple[Array, list[Any], float, int, da.Array]:
    X = kmeans_blocks(X, block_rows)
    n, d = int(X.shape[0]), int(X.shape[1])
    k = check_k(k, n)
    init = _ops_kmeans.check_init(init, k, d)
    n_init = _ops_kmeans._check_positive_int(n_init, "n_init")
    max_iter = _ops_kmeans._check_positive_int(max_iter, "max_iter")
    tol_rel = _ops_kmeans._check_tol(tol)
    if isinstance(sample_weight, da.Array):
        sample_weight = sample_weight.compute()
    w = _ops_kmeans.check_sample_weight(sample_weight, n)
    used_seed = resolve_seed(seed) if isinstance(init, str) else 0
    threads = 1 if n_threads is None else n_threads
    X = X.persist()
    if not bool(da.isfinite(X).all().compute()):
        raise ValueError("X contains NaN or infinity")
    blocks = list(X.to_delayed().ravel())
    offsets = [int(o) for o in np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]])]
    if w is None:
        wblocks: list[Any] = [None] * len(blocks)
    else:
        wd = da.from_array(w, chunks=(X.chunks[0],)).persist()
        wblocks = list(wd.to_delayed().ravel())
    tol_abs = _tolerance(blocks, n, tol_rel)
    runs = 1 if not isinstance(init, str) else n_init
    best: tuple[Array, list[Any], float, int] | None = None
    for run_seed in _ops_kmeans.run_seeds(used_seed, runs):
        C0 = _initial(X, k, init, w, run_seed, threads)
        out = _lloyd(blocks, wblocks, offsets, C0, max_iter, tol_abs)
        if best is None or out[2] < best[2]:
            best = out
    assert best is not None
    return best[0], best[1], best[2], best[3], X


def kmeans(
    X: Any,
    k: int,
    *,
    init: str | Any = "k-means++",
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
    sample_weight: Any = None,
    seed: int | np.random.Generator | None = None,
    block_rows: int | None = None,
) -> KMeansResult:
    """k-means by Lloyd's algorithm on a row-chunked dask array, equal to :func:`diffclust.kmeans`.

    Parameters
    ----------
    X : dask.array.Array or array_like, shape (n, d)
        Points (finite), chunked by rows; float32 stays float32, other real
        dtypes become float64. Rechunked to blocks of ``block_rows`` rows and
        persisted (in memory with the local schedulers, on the workers with a
        ``distributed.Client``) for the iterations.
    k : int
        Number of clusters, 1 <= k <= n.
    init : {"k-means++", "random"} or array_like, shape (k, d)
        As in :func:`diffclust.kmeans`. An array: no gathering at all.
        "random": the same draw of k indices from ``seed``, then only those rows
        are fetched. "k-means++": a sequential algorithm, run on X gathered into
        the driver's memory (once per fit); for data that does not fit, pass
        initial centres (for instance k-means++ on a sample).
    n_init, max_iter, tol, sample_weight, seed
        As in :func:`diffclust.kmeans` (``sample_weight`` may be a dask array;
        it is gathered: n floats).
    block_rows : int, optional
        Rows per task: a multiple of 2048 (default: the largest chunk of X
        rounded up to one).

    Returns
    -------
    KMeansResult
        ``centers``, ``labels`` (a NumPy array), ``inertia`` and ``n_iter``,
        equal bit for bit to ``diffclust.kmeans(X.compute(), k, ...)`` with the
        same arguments, for any chunking, scheduler and number of workers.

    Raises
    ------
    ValueError, TypeError
        As :func:`diffclust.kmeans`; ``block_rows`` not a positive multiple of
        2048; X with unknown chunk sizes.

    Notes
    -----
    Per iteration one task per block (O(block_rows (d + k)) work and memory)
    returns, per chunk of 2048 rows, the sums of its points per cluster (k d
    floats), their weights and the number of changed labels; the labels stay on
    the workers. An empty cluster costs one more round: every block sends its
    best relocation candidates (the points farthest from their own centre).
    """
    C, labels, inertia, n_iter, _ = _fit(X, k, init, n_init, max_iter, tol, sample_weight, seed, block_rows, None)
    out = np.concatenate(dask.compute(labels)[0]).astype(np.intp)
    return KMeansResult(C, out, float(inertia), int(n_iter))


def predict_block(X: Any, centers: Array) -> NDArray[np.intp]:
    """Nearest centre of every row of a block (the in-memory assignment kernel)."""
    labels, _, _ = _ops_kmeans.kmeans_assign(np.ascontiguousarray(X), centers, None, 1)
    out: NDArray[np.intp] = labels.astype(np.intp)
    return out
