"""Perturbed k-forests with the Monte-Carlo samples split into Dask tasks."""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import numpy as np

from .. import _ops
from .._ops_dask import add_ranges, finish_perturbed, perturbed_range
from .._validation import (
    as_float_array,
    check_int,
    check_k,
    check_n_samples,
    check_sigma,
    check_square,
    resolve_seed,
)
from ..perturb import PerturbedForest, _perturbed_forest
from ._common import check_fan_in

__all__ = ["perturbed_kforest", "perturbed_kforest_vjp"]


def _sample_ranges(n_samples: int, chunk_samples: Any) -> list[tuple[int, int]]:
    size = check_int(chunk_samples, "chunk_samples")
    if size < 1:
        raise ValueError(f"chunk_samples must be at least 1, got {size}")
    return [(first, min(size, n_samples - first)) for first in range(0, n_samples, size)]


def perturbed_kforest(
    S: Any,
    k: int,
    *,
    sigma: float = 0.1,
    n_samples: int = 100,
    seed: int | np.random.Generator | None = None,
    known_labels: Any = None,
    must_link: Any = None,
    cannot_link: Any = None,
    refine: bool = True,
    chunk_samples: int = 16,
    fan_in: int = 8,
) -> PerturbedForest:
    """Perturbed maximum-weight k-forest with the samples split into Dask tasks.

    Each task solves ``chunk_samples`` consecutive samples of
    :func:`diffclust.perturbed_kforest` (the noise of sample s depends only on
    ``(seed, s)``) and returns the integer counts of A and M and each sample's
    value; counts are added exactly (in a tree of ``fan_in`` inputs) and the
    values summed in sample order. Computed with the active scheduler.

    Parameters
    ----------
    S : array_like or dask.array.Array, shape (n, n)
        Similarities, float32 or float64 (other real dtypes become float64). A
        dask array is gathered into one block: every task reads all of S.
    k : int
        Number of trees, 1 <= k <= n.
    sigma, n_samples, known_labels, must_link, cannot_link, refine
        As in :func:`diffclust.perturbed_kforest`.
    seed : int, numpy.random.Generator or None
        As in :func:`diffclust.perturbed_kforest` (2-D S).
    chunk_samples : int, default 16
        Samples per task.
    fan_in : int, default 8
        Inputs per task of the tree that adds the counts (at least 2).

    Returns
    -------
    PerturbedForest
        ``adjacency``, ``connectivity``, ``value`` and ``n_repaired`` equal to
        ``diffclust.perturbed_kforest(S, k, sigma=sigma, n_samples=n_samples,
        seed=seed, ...)`` bit for bit, for any ``chunk_samples`` and
        ``fan_in``. ``samples`` is None (keep_samples is not offered).

    Raises
    ------
    ValueError
        NaN/inf in S, S not square 2-D, k outside [1, n], sigma <= 0,
        n_samples < 1, chunk_samples < 1, fan_in < 2, infeasible constraints.
    TypeError
        Non-integer k, n_samples, chunk_samples or fan_in; a bad seed.
    """
    if isinstance(S, da.Array):
        S = S.compute()
    S = as_float_array(S, "S", ndims=(2,))
    n = check_square(S, "S")
    k = check_k(k, n)
    sigma, n_samples = check_sigma(sigma), check_n_samples(n_samples)
    used_seed = resolve_seed(seed)  # as diffclust.perturbed_kforest does for 2-D S
    constraints = _ops._constraints(S, known_labels, must_link, cannot_link)
    fan_in = check_fan_in(fan_in)
    ranges = _sample_ranges(n_samples, chunk_samples)
    if not isinstance(refine, (bool, np.bool_)):
        raise TypeError(f"refine must be a bool, got {type(refine).__name__}")
    _ops.check_working_memory(n, 1, any(c is not None for c in constraints), "perturbed_kforest")
    # Checked once here (finite off the diagonal): a task's error would name the same thing.
    _ops.check_off_diagonal_finite(S, "S")
    shared = dask.delayed(S, pure=True)
    task = dask.delayed(perturbed_range, pure=True)
    parts = [task(shared, k, sigma, used_seed, first, count, constraints, bool(refine)) for first, count in ranges]
    add = dask.delayed(add_ranges, pure=True)
    while len(parts) > 1:  # consecutive groups: values stay in sample order
        parts = [add(*parts[g : g + fan_in]) if len(parts[g : g + fan_in]) > 1 else parts[g]
                 for g in range(0, len(parts), fan_in)]
    final = dask.delayed(finish_perturbed, pure=True)(parts[0], n_samples, S.dtype.str)
    out = dask.compute(final)[0]
    return _perturbed_forest(_ops._perturbed(out, S.dtype), k, sigma, n_samples, used_seed)


def perturbed_kforest_vjp(*args: Any, **kwargs: Any) -> Any:
    """Not implemented yet: the VJP over sample ranges.

    Raises
    ------
    NotImplementedError
        Always; use :func:`diffclust.perturbed_kforest_vjp` in memory.
    """
    raise NotImplementedError(
        "diffclust.dask.perturbed_kforest_vjp is not implemented yet; "
        "use diffclust.perturbed_kforest_vjp on one machine"
    )
