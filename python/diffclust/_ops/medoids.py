"""The private layer: k-medoids (see :mod:`diffclust._ops`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._validation import (
    as_float_array,
    check_finite,
    check_int,
    check_k,
    core_fn,
    resolve_metric,
)
from ._common import INITS, Array, _check_seed
from .distances import check_allocation, check_precomputed, pairwise_distances

__all__ = ["kmedoids"]


def _explicit_medoids(init: Any, n: int, k: int) -> NDArray[np.int64]:
    m = np.asarray(init)
    if m.dtype.kind not in "iu":
        raise TypeError(f"init must be 'build', 'random', 'k-medoids++' or an array of ints, got dtype {m.dtype}")
    if m.shape != (k,):
        raise ValueError(f"init must hold k = {k} medoid indices, got shape {m.shape}")
    if m.min() < 0 or m.max() >= n:
        bad = int(m[(m < 0) | (m >= n)][0])
        raise ValueError(f"init holds medoid index {bad}, outside [0, n) = [0, {n})")
    if np.unique(m).shape[0] != k:
        raise ValueError("init holds duplicate medoid indices; the k medoids must be distinct")
    return np.array(m, dtype=np.int64)  # a copy: the kernel writes into it


def _kmedoids_plusplus(D: Array, k: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """k-medoids++ seeding: each next medoid drawn with probability proportional to
    its dissimilarity to the nearest medoid chosen so far."""
    n = D.shape[0]
    medoids = np.empty(k, dtype=np.int64)
    medoids[0] = rng.integers(n)
    nearest = np.array(D[medoids[0]], dtype=np.float64)
    taken = np.zeros(n, dtype=bool)
    taken[medoids[0]] = True
    for m in range(1, k):
        weights = np.where(taken, 0.0, nearest)
        total = weights.sum()
        if total > 0:
            c = int(rng.choice(n, p=weights / total))
        else:  # every remaining point coincides with a medoid
            c = int(rng.choice(np.flatnonzero(~taken)))
        medoids[m] = c
        taken[c] = True
        np.minimum(nearest, D[c], out=nearest)
    return medoids


def kmedoids(
    X: Any, k: int, metric: str, init: Any, max_iter: int, seed: int, n_threads: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], float, int, int]:
    """(labels, medoids, loss, n_iter, n_swaps) of FasterPAM; ``seed`` drives the random inits."""
    name = resolve_metric(metric, precomputed=True)
    Xa = as_float_array(X, "X", ndims=(2,))
    n = Xa.shape[0]
    k = check_k(k, n)
    max_iter = check_int(max_iter, "max_iter")
    if max_iter < 0:
        raise ValueError(f"max_iter must be non-negative, got {max_iter}")
    seed = _check_seed(seed)
    if isinstance(init, str):
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS} or an array of k medoid indices, got {init!r}")
        medoids = None
    else:
        medoids = _explicit_medoids(init, n, k)
    if name == "precomputed":
        check_precomputed(Xa, symmetric=True, n_threads=n_threads)
        D = Xa
    else:
        check_finite(Xa, "X")
        check_allocation((n, n), Xa.dtype, "the (n, n) distance matrix k-medoids needs")
        D = pairwise_distances(Xa, None, name, n_threads)
    if medoids is None:
        if init == "build":
            medoids = core_fn("pam_build", D.dtype)(D, k, n_threads)
        else:
            rng = np.random.default_rng(seed)
            if init == "random":
                medoids = np.sort(rng.choice(n, size=k, replace=False)).astype(np.int64)
            else:
                medoids = _kmedoids_plusplus(D, k, rng)
    med, labels, loss, n_iter, n_swaps = core_fn("fasterpam", D.dtype)(D, medoids, max_iter, n_threads)
    return labels, med, float(loss), int(n_iter), int(n_swaps)


