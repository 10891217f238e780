"""Perturbed k-forests with the Monte-Carlo samples split into Dask tasks."""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import numpy as np

from .. import _ops
from .._ops.dask import add_ranges, finish_perturbed, perturbed_range, vjp_coefficients, vjp_rows
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


def perturbed_kforest_vjp(
    S: Any,
    k: int,
    grad_adjacency: Any = None,
    grad_connectivity: Any = None,
    *,
    sigma: float,
    n_samples: int,
    seed: int,
    control_variate: bool = True,
    known_labels: Any = None,
    must_link: Any = None,
    cannot_link: Any = None,
    refine: bool = True,
    chunk_samples: int = 16,
    chunk_rows: int = 256,
) -> Any:
    """VJP of the perturbed k-forest, with samples and gradient rows split into Dask tasks.

    First the per-sample coefficients ``<V_A, A_s> + <V_M, M_s>`` (minus the
    control variate's reference), ``chunk_samples`` samples per task; then the
    gradient ``chunk_rows`` rows per task, each entry summing the regenerated
    noise of all B samples, weighted by the coefficients, in sample order.

    Parameters
    ----------
    S : array_like or dask.array.Array, shape (n, n)
        Similarities (gathered into one block, as in :func:`perturbed_kforest`).
    k : int
        Number of trees.
    grad_adjacency, grad_connectivity : array_like, shape (n, n), or None
        The cotangents of A_eps and M_eps (None: zero).
    sigma, n_samples, control_variate, known_labels, must_link, cannot_link, refine
        As in :func:`diffclust.perturbed_kforest_vjp`.
    seed : int
        The seed of the forward call (an int: the VJP regenerates its noise).
    chunk_samples : int, default 16
        Samples per coefficient task.
    chunk_rows : int, default 256
        Gradient rows per task.

    Returns
    -------
    ndarray, shape (n, n)
        Equal, bit for bit, to :func:`diffclust.perturbed_kforest_vjp` with the
        same arguments (kept samples are not offered), in the dtype of S.

    Raises
    ------
    ValueError, TypeError
        As :func:`diffclust.perturbed_kforest_vjp`; chunk sizes below 1.
    """
    if isinstance(S, da.Array):
        S = S.compute()
    S = as_float_array(S, "S", ndims=(2,))
    n = check_square(S, "S")
    k = check_k(k, n)
    sigma, n_samples = check_sigma(sigma), check_n_samples(n_samples)
    used_seed = _ops._seed_for(S, resolve_seed(seed))
    VA = _ops._cotangent(grad_adjacency, "grad_adjacency", S.shape, S.dtype)
    VM = _ops._cotangent(grad_connectivity, "grad_connectivity", S.shape, S.dtype)
    constraints = _ops._constraints(S, known_labels, must_link, cannot_link)
    ranges = _sample_ranges(n_samples, chunk_samples)
    rows = check_int(chunk_rows, "chunk_rows")
    if rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {rows}")
    if not isinstance(control_variate, (bool, np.bool_)) or not isinstance(refine, (bool, np.bool_)):
        raise TypeError("control_variate and refine must be bools")
    _ops.check_off_diagonal_finite(S, "S")
    if VA is None and VM is None:
        return np.zeros_like(S)
    shared = dask.delayed(S, pure=True)
    task = dask.delayed(vjp_coefficients, pure=True)
    parts = dask.compute([
        task(shared, k, VA, VM, sigma, used_seed, first, count, constraints, bool(refine), bool(control_variate))
        for first, count in ranges
    ])[0]
    raw = np.concatenate([coef for coef, _ in parts])
    coef = raw - parts[0][1]  # the reference (0.0 without the control variate)
    scale = 1.0 / (2.0 * float(n_samples) * sigma)
    row_task = dask.delayed(vjp_rows, pure=True)
    coef_shared = dask.delayed(coef, pure=True)
    blocks = dask.compute([
        row_task(used_seed, n, r0, min(n, r0 + rows), coef_shared, scale, S.dtype.str) for r0 in range(0, n, rows)
    ])[0]
    return np.concatenate(blocks, axis=0)
