"""The private layer: contingency metrics and Davies-Bouldin (see :mod:`diffclust._ops`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import _core
from .._validation import (
    as_labels,
    core_fn,
)
from ._common import AVERAGE_METHODS, _points

__all__ = ["adjusted_rand_score", "davies_bouldin_score", "mutual_info_score", "normalized_mutual_info_score"]


def _label_pair(labels_true: Any, labels_pred: Any) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    a = as_labels(labels_true, "labels_true")
    b = as_labels(labels_pred, "labels_pred")
    if a.shape != b.shape:
        raise ValueError(
            f"labels_true and labels_pred must have the same length, got {a.shape[0]} and {b.shape[0]}"
        )
    return a, b


def adjusted_rand_score(labels_true: Any, labels_pred: Any, n_threads: int) -> float:
    a, b = _label_pair(labels_true, labels_pred)
    return float(_core.adjusted_rand_score(a, b, n_threads))


def mutual_info_score(labels_true: Any, labels_pred: Any, n_threads: int) -> float:
    a, b = _label_pair(labels_true, labels_pred)
    return float(_core.mutual_info_score(a, b, n_threads))


def normalized_mutual_info_score(labels_true: Any, labels_pred: Any, average_method: str, n_threads: int) -> float:
    if average_method not in AVERAGE_METHODS:
        raise ValueError(f"average_method must be one of {AVERAGE_METHODS}, got {average_method!r}")
    a, b = _label_pair(labels_true, labels_pred)
    return float(_core.normalized_mutual_info_score(a, b, average_method, n_threads))


def davies_bouldin_score(X: Any, labels: Any, n_threads: int) -> float:
    Xa = _points(X, "X")
    lab = as_labels(labels, "labels", n=Xa.shape[0])
    return float(core_fn("davies_bouldin_score", Xa.dtype)(Xa, lab, n_threads))


