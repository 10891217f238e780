"""The one place where the torch operators meet the perturbed kernels.

The front end (:mod:`diffclust.torch.functional`) checks every argument once: S's shape
and dtype, k, sigma, n_samples, the seeds' and labels' shapes and dtypes. The operator
bodies then call the compiled kernels through the ``_ops`` layer's prechecked calls
(``_ops.perturbed_kforest_prechecked`` and the like), without a second round of checks;
the bindings still check everything that could crash, so a direct ``torch.ops.diffclust``
call with bad arguments is a clear error, never a crash. The memory guard runs there.

Each function takes either one matrix S (n, n) (a C-contiguous float32/float64 array,
often sharing memory with the caller's tensor) with an int seed in [0, 2**64) and labels
(n,), or a stack S (b, n, n) with one uint64 seed per element (b,) and label rows (b, n).
Element t of a stack is computed with its own seed ``seeds[t]``: exactly what the
batched ``_ops`` calls do for a (b,) seed array, and what the 2-D call on S[t] with that
seed computes (the operators send a stack of one to the 2-D kernels: less per-call
work, the same numbers). Labels are numbered as the NumPy API numbers them
(:func:`labels_for_kernel`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import _ops
from .._validation import resolve_threads

Array = NDArray[Any]


def element_seeds(seed: int, b: int) -> NDArray[np.uint64]:
    """The per-element seeds that a batched ``_ops`` call derives from one int seed."""
    return _ops.element_seeds(seed, b)


def labels_for_kernel(labels: NDArray[Any] | None) -> NDArray[np.int64] | None:
    """Label rows (..., n) numbered as the NumPy API numbers them (``_ops.kernel_labels``)."""
    return None if labels is None else _ops.kernel_labels(labels)


def forward(S: Array, k: int, sigma: float, n_samples: int, seeds: Any, labels: Array | None
            ) -> tuple[Array, Array, Any]:
    """(A, M) of S's shape and F: a float for one matrix, a (b,) array in S's dtype for a stack."""
    return _ops.perturbed_kforest_prechecked(S, k, sigma, n_samples, seeds, labels, resolve_threads(None))


def vjp(S: Array, k: int, sigma: float, n_samples: int, seeds: Any, labels: Array | None,
        grad_adjacency: Array | None, grad_connectivity: Array | None, control_variate: bool) -> Array:
    """The score-function VJP g (S's shape) of A and M for the cotangents (None = zero)."""
    return _ops.perturbed_kforest_vjp_prechecked(S, k, sigma, n_samples, seeds, labels, grad_adjacency,
                                                 grad_connectivity, control_variate, resolve_threads(None))


def loss(S: Array, k: int, sigma: float, n_samples: int, seeds: Any, labels: Array) -> tuple[Any, Array]:
    """(loss, dloss/dS of S's shape): a float for one matrix, a (b,) array in S's dtype for a stack."""
    return _ops.partial_fy_loss_prechecked(S, k, sigma, n_samples, seeds, labels, resolve_threads(None))
