"""The private layer of the Gaussian mixtures (see ``_ops`` for the conventions).

Validates, builds the starting parameters (scikit-learn's recipes: responsibilities
from k-means labels, k-means++ or random points, or uniform random responsibilities;
then the given ``weights_init`` / ``means_init`` / ``precisions_init`` replace their
part), runs EM in ``_core`` once per initialisation and keeps the best lower bound.
"""

from __future__ import annotations

import numbers
import time
from typing import Any, Callable

import numpy as np
from numpy.typing import NDArray

from .. import _core
from .._validation import as_float_array, check_finite, check_int, check_k, core_fn
from ._common import COVARIANCE_TYPES, WEIGHT_TOLERANCE, _points
from .kmeans import kmeans, kmeans_plusplus

__all__ = ["INITS", "InitReport", "MixtureArrays", "check_covariance_type", "gaussian_mixture", "gmm_predict"]

INITS = ("k-means", "k-means++", "random", "random_from_data")

Array = NDArray[Any]
# weights, means, covariances, precisions_cholesky, labels, lower_bound, n_iter, converged
MixtureArrays = tuple[Array, Array, Array, Array, NDArray[np.int64], float, int, bool]
# Called after each initialisation's EM with (init index, lower bound of every
# iteration, wall seconds of every iteration, converged, seconds of the whole init).
InitReport = Callable[[int, NDArray[np.float64], NDArray[np.float64], bool, float], None]


def check_covariance_type(covariance_type: Any) -> str:
    if not isinstance(covariance_type, str) or covariance_type not in COVARIANCE_TYPES:
        raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}")
    return covariance_type


def _real(value: Any, name: str, *, low: float, strict: bool = False) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not np.isfinite(v) or v < low or (strict and v == low):
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be finite and {relation} {low}, got {value!r}")
    return v


def _int_at_least(value: Any, name: str, low: int) -> int:
    v = check_int(value, name)
    if v < low:
        raise ValueError(f"{name} must be at least {low}, got {v}")
    return v


def _param(x: Any, name: str, shape: tuple[int, ...]) -> NDArray[np.float64]:
    a = as_float_array(x, name, ndims=(len(shape),)) if len(shape) else np.asarray(x, dtype=np.float64)
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    check_finite(a, name)
    return np.ascontiguousarray(a, dtype=np.float64)


def _cov_shape(covariance_type: str, k: int, d: int) -> tuple[int, ...]:
    return {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}[covariance_type]


def _check_weights(w: NDArray[np.float64]) -> NDArray[np.float64]:
    if (w < 0).any() or (w > 1).any():
        bad = int(np.argmax((w < 0) | (w > 1)))
        raise ValueError(f"weights_init must be in [0, 1], got weights_init[{bad}] = {w[bad]}")
    if abs(float(w.sum()) - 1.0) > WEIGHT_TOLERANCE:
        raise ValueError(f"weights_init must sum to 1 (within {WEIGHT_TOLERANCE}), got {float(w.sum())!r}")
    return w


def _initial_responsibilities(
    Xa: Array, k: int, init: str, rng: np.random.Generator, n_threads: int
) -> tuple[NDArray[np.float64] | None, NDArray[np.int64] | None]:
    """(resp, None) or (None, labels) for ``init`` (labels -1: a row in no component)."""
    n = Xa.shape[0]
    if init == "random":
        resp = rng.uniform(size=(n, k))
        resp /= resp.sum(axis=1, keepdims=True)
        return resp, None
    if init == "random_from_data":
        labels = np.full(n, -1, dtype=np.int64)
        labels[rng.choice(n, size=k, replace=False)] = np.arange(k)
        return None, labels
    seed = int(rng.integers(0, 2**63))
    if init == "k-means++":
        _, indices = kmeans_plusplus(Xa, k, None, None, seed, n_threads)
        labels = np.full(n, -1, dtype=np.int64)
        labels[indices] = np.arange(k)
        return None, labels
    # diffclust.kmeans(Xa, k, seed=seed) with its defaults
    _, km_labels, _, _ = kmeans(Xa, k, "k-means++", 1, 300, 1e-4, None, "auto", seed, n_threads)
    return None, np.ascontiguousarray(km_labels, dtype=np.int64)


def _given_covariances(P: NDArray[np.float64], covariance_type: str) -> NDArray[np.float64]:
    """Covariances of given precisions (only reported when max_iter = 0)."""
    if covariance_type in ("diag", "spherical"):
        return 1.0 / P
    return np.ascontiguousarray(np.linalg.inv(P))


def gaussian_mixture(
    X: Any, k: Any, covariance_type: Any, init: Any, max_iter: Any, tol: Any, reg_covar: Any, n_init: Any,
    weights_init: Any, means_init: Any, precisions_init: Any, rng: np.random.Generator, n_threads: int,
    on_init: InitReport | None = None,
) -> tuple[MixtureArrays, NDArray[np.float64]]:
    """EM fit (float arrays in the dtype of X) and the lower bounds of the kept fit's iterations."""
    covariance_type = check_covariance_type(covariance_type)
    Xa = _points(X, "X")
    n, d = Xa.shape
    k = check_k(k, n)
    if not isinstance(init, str) or init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    max_iter = _int_at_least(max_iter, "max_iter", 0)
    n_init = _int_at_least(n_init, "n_init", 1)
    tol = _real(tol, "tol", low=0.0)
    reg_covar = _real(reg_covar, "reg_covar", low=0.0)
    w0 = None if weights_init is None else _check_weights(_param(weights_init, "weights_init", (k,)))
    m0 = None if means_init is None else _param(means_init, "means_init", (k, d))
    P0 = None
    pc0 = None
    if precisions_init is not None:
        P0 = _param(precisions_init, "precisions_init", _cov_shape(covariance_type, k, d))
        pc0 = _core.gmm_precision_cholesky(P0, covariance_type, k, d)
    given = w0 is not None and m0 is not None and pc0 is not None
    if given:
        n_init = 1  # nothing random: every initialisation would be the same
    fit = core_fn("gmm_fit", Xa.dtype)
    best: MixtureArrays | None = None
    best_bound = -np.inf
    best_history = np.empty(0)
    for init_index in range(n_init):
        start = time.perf_counter()
        if given:
            assert w0 is not None and m0 is not None and pc0 is not None and P0 is not None
            weights, means, cov, pc = w0, m0, _given_covariances(P0, covariance_type), pc0
        else:
            resp, labels = _initial_responsibilities(Xa, k, init, rng, n_threads)
            weights, means, cov, pc = core_fn("gmm_init", Xa.dtype)(
                Xa, k, covariance_type, resp, labels, reg_covar, n_threads
            )
            weights = weights if w0 is None else w0
            means = means if m0 is None else m0
            pc = pc if pc0 is None else pc0
        out = fit(Xa, covariance_type, weights, means, pc, max_iter, tol, reg_covar, -np.inf, n_threads)
        w, mu, c, p, lab, bound, n_iter, converged, history, seconds = out
        if on_init is not None:
            on_init(init_index, history, seconds, bool(converged), time.perf_counter() - start)
        if max_iter == 0:
            c = cov
        if best is None or bound > best_bound or best_bound == -np.inf:
            best_bound = float(bound)
            best = (w, mu, c, p, lab, float(bound), int(n_iter), bool(converged))
            best_history = history
    assert best is not None
    w, mu, c, p, lab, bound, n_iter, converged = best
    dt = Xa.dtype
    return (w.astype(dt), mu.astype(dt), c.astype(dt), p.astype(dt), lab, bound, n_iter, converged), best_history


def gmm_predict(
    X: Any, covariance_type: str, weights: Any, means: Any, precisions_cholesky: Any, return_resp: bool,
    n_threads: int,
) -> tuple[NDArray[np.int64], Array, Array | None]:
    """(labels, log p(x_i), responsibilities or None) of a fitted mixture, floats in the dtype of X."""
    covariance_type = check_covariance_type(covariance_type)
    Xa = _points(X, "X")
    w = np.ascontiguousarray(weights, dtype=np.float64)
    M = np.ascontiguousarray(means, dtype=np.float64)
    pc = np.ascontiguousarray(precisions_cholesky, dtype=np.float64)
    if M.ndim != 2 or M.shape[1] != Xa.shape[1]:
        raise ValueError(f"X has {Xa.shape[1]} features, but the mixture has means of shape {M.shape}")
    labels, log_prob, resp = core_fn("gmm_predict", Xa.dtype)(
        Xa, covariance_type, w, M, pc, bool(return_resp), n_threads
    )
    dt = Xa.dtype
    return labels, log_prob.astype(dt), None if resp is None else resp.astype(dt)
