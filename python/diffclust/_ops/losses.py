"""The private layer: k-means and mixture losses, graph cuts, DEC (see :mod:`diffclust._ops`)."""

from __future__ import annotations

import numbers
import sys
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import _core
from .._validation import (
    as_float_array,
    as_labels,
    core_fn,
    dtype_suffix,
)
from ._common import COVARIANCE_TYPES, WEIGHT_TOLERANCE, Array, _as, _float64, _points

__all__ = ["dec_loss", "gmm_nll", "graph_cuts", "kmeans_loss", "soft_ncut"]


def kmeans_loss(X: Any, centers: Any, labels: Any, n_threads: int) -> float:
    Xa = _points(X, "X")
    C = _float64(centers, "centers", 2)
    if C.shape[1] != Xa.shape[1]:
        raise ValueError(f"centers must have shape (k, {Xa.shape[1]}) to match X, got {C.shape}")
    lab = None if labels is None else as_labels(labels, "labels", n=Xa.shape[0])
    return float(core_fn("kmeans_loss", Xa.dtype)(Xa, C, lab, n_threads))


def _gmm_inputs(
    X: Any, weights: Any, means: Any, covariances: Any, covariance_type: str
) -> tuple[Array, NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}")
    Xa = _points(X, "X")
    d = Xa.shape[1]
    M = _float64(means, "means", 2)
    if M.shape[1] != d:
        raise ValueError(f"means must have shape (k, {d}) to match X, got {M.shape}")
    k = M.shape[0]
    w = _float64(weights, "weights", 1)
    if w.shape != (k,):
        raise ValueError(f"weights must have shape ({k},) to match means, got {w.shape}")
    if (w < 0).any():
        raise ValueError(f"weights must be non-negative, got weights[{int(np.argmax(w < 0))}] = {w[w < 0][0]}")
    if abs(w.sum() - 1.0) > WEIGHT_TOLERANCE:
        raise ValueError(f"weights must sum to 1 (within {WEIGHT_TOLERANCE}), got {float(w.sum())!r}")
    expected = {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}[covariance_type]
    cov = _float64(covariances, "covariances", len(expected))
    if cov.shape != expected:
        raise ValueError(
            f"covariances must have shape {expected} for covariance_type={covariance_type!r}, got {cov.shape}"
        )
    if covariance_type in ("full", "tied"):
        mats = cov if covariance_type == "full" else cov[None]
        for j, c in enumerate(mats):
            if not np.allclose(c, c.T):
                which = f"[{j}]" if covariance_type == "full" else ""
                raise ValueError(f"covariances{which} is not symmetric")
    return Xa, w, M, cov


def gmm_nll(
    X: Any, weights: Any, means: Any, covariances: Any, covariance_type: str, return_samples: bool,
    n_threads: int,
) -> tuple[float, Array | None]:
    """(mean NLL, per-sample NLL in the dtype of X or None)."""
    Xa, w, M, cov = _gmm_inputs(X, weights, means, covariances, covariance_type)
    mean, samples = core_fn("gmm_nll", Xa.dtype)(Xa, w, M, cov, covariance_type, bool(return_samples), n_threads)
    return float(mean), None if samples is None else _as(samples, Xa.dtype)


def _is_sparse(W: Any) -> bool:
    sparse = sys.modules.get("scipy.sparse")  # a sparse matrix implies scipy is already imported
    return sparse is not None and bool(sparse.issparse(W))


def _graph(W: Any) -> tuple[str, tuple[Any, ...], int, np.dtype[Any]]:
    """(kind, arrays, n, dtype): ("dense_<f>", (W,), ...) or ("csr_<f>_<i>", (indptr, indices, data), ...)."""
    if _is_sparse(W):
        if W.ndim != 2 or W.shape[0] != W.shape[1]:
            raise ValueError(f"W must be square, got shape {W.shape}")
        if W.format != "csr":
            W = W.tocsr()  # CSC, COO, ...: one O(nnz) conversion by scipy
        data = np.asarray(W.data)
        if data.dtype not in (np.float32, np.float64):
            if data.dtype.kind not in "biuf":
                raise TypeError(f"W must hold real numbers, got dtype {data.dtype}")
            data = data.astype(np.float64)
        indptr, indices = np.asarray(W.indptr), np.asarray(W.indices)
        itype = np.int32 if indptr.dtype == np.int32 and indices.dtype == np.int32 else np.int64
        arrays = tuple(
            np.ascontiguousarray(a) for a in (indptr.astype(itype, copy=False), indices.astype(itype, copy=False), data)
        )
        kind = f"csr_{dtype_suffix(data.dtype)}_{'i32' if itype == np.int32 else 'i64'}"
        return kind, arrays, int(W.shape[0]), data.dtype
    Wa = as_float_array(W, "W", ndims=(2,))
    if Wa.shape[0] != Wa.shape[1]:
        raise ValueError(f"W must be square, got shape {Wa.shape}")
    return f"dense_{dtype_suffix(Wa.dtype)}", (Wa,), int(Wa.shape[0]), Wa.dtype


def _call_graph(prefix: str, kind: str, arrays: tuple[Any, ...], n: int, *args: Any) -> Any:
    fn = getattr(_core, f"{prefix}_{kind}")
    if kind.startswith("dense"):
        return fn(arrays[0], *args)
    return fn(*arrays, n, *args)


def graph_cuts(W: Any, labels: Any, n_threads: int) -> tuple[float, float]:
    """(normalized cut, ratio cut) of a labelling of a dense or scipy.sparse affinity."""
    kind, arrays, n, _ = _graph(W)
    lab = as_labels(labels, "labels", n=n)
    nc, rc = _call_graph("graph_cuts", kind, arrays, n, lab, n_threads)
    return float(nc), float(rc)


def soft_ncut(W: Any, P: Any, n_threads: int) -> tuple[float, Array]:
    """(value, d value / d P in the dtype of P) of the relaxed normalized cut."""
    kind, arrays, n, _ = _graph(W)
    P0 = as_float_array(P, "P", ndims=(2,))
    Pa = _float64(P0, "P", 2)
    if Pa.shape[0] != n:
        raise ValueError(f"P must have n = {n} rows (one per row of W), got shape {Pa.shape}")
    if (Pa < 0).any():
        raise ValueError("P must be non-negative (a soft assignment)")
    value, grad = _call_graph("soft_ncut", kind, arrays, n, Pa, n_threads)
    return float(value), _as(grad, P0.dtype)


def dec_loss(Z: Any, centers: Any, alpha: float, target: Any, n_threads: int) -> tuple[float, Array, Array]:
    """(KL(P || Q), grad_Z in the dtype of Z, grad_centers in the dtype of centers)."""
    Z0 = as_float_array(Z, "Z", ndims=(2,))
    C0 = as_float_array(centers, "centers", ndims=(2,))
    Za, C = _float64(Z0, "Z", 2), _float64(C0, "centers", 2)
    if C.shape[1] != Za.shape[1]:
        raise ValueError(f"centers must have shape (k, {Za.shape[1]}) to match Z, got {C.shape}")
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha must be a real number, got {alpha!r}")
    alpha = float(alpha)
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be positive and finite, got {alpha}")
    T = None
    if target is not None:
        T = _float64(target, "target", 2)
        if T.shape != (Za.shape[0], C.shape[0]):
            raise ValueError(f"target must have shape (n, k) = {(Za.shape[0], C.shape[0])}, got {T.shape}")
        if (T < 0).any():
            raise ValueError("target must be non-negative (a distribution per row)")
    loss, gz, gc = _core.dec_loss(Za, C, alpha, T, n_threads)
    return float(loss), _as(gz, Z0.dtype), _as(gc, C0.dtype)
