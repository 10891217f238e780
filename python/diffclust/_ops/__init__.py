"""The private layer between every front end and the compiled kernels.

Each function takes already-resolved arguments -- arrays (anything
``numpy.asarray`` accepts), an ``int`` k, a ``float`` sigma, an ``int`` seed in
[0, 2**64) (for a batch S (b, n, n) of the perturbed kernels: an int, meaning
``element_seeds(seed, b)``, or an integer array (b,) of the elements' seeds,
see ``batch_seeds``), an ``int`` n_threads >= 1 (see ``_validation.resolve_threads`` and
``resolve_seed``), a metric name from the one metric table -- and

1. validates: shapes, dtypes, finiteness, ranges, labels (the errors name the
   argument: ``ValueError``, ``TypeError``, ``IndexError``);
2. converts once: a C-contiguous float32/float64 array is never copied, other
   real dtypes become float64;
3. dispatches on dtype to the ``_core`` kernel (``name_f32`` / ``name_f64``);
4. returns plain arrays and tuples: ordinary writable arrays owned by the caller,
   float results in the input's dtype (float32 in, float32 out; a gradient has
   the dtype of its variable), Python floats for scalars.

The NumPy API (``forests``, ``perturb``, ``distances``, ``cluster``, ``metrics``,
``losses``) wraps these tuples in its result types; the torch, JAX,
scikit-learn and Dask front ends call these functions directly.

The layers of the fitting and density kernels and of the Dask blocks
(``kmeans``, ``mixture``, ``density``, ``dask``) are submodules imported by name
(``from diffclust._ops import kmeans``); they are not re-exported here.
"""

from __future__ import annotations

from . import distances, forests, losses, medoids, metrics, perturbed
from .distances import *
from .forests import *
from .losses import *
from .medoids import *
from .metrics import *
from .perturbed import *

# private helpers that the tests call directly
from .perturbed import _constraints as _constraints
from .perturbed import _cotangent as _cotangent
from .perturbed import _perturbed as _perturbed
from .perturbed import _seed_for as _seed_for

__all__ = [  # noqa: PLE0604
    *forests.__all__,
    *perturbed.__all__,
    *distances.__all__,
    *medoids.__all__,
    *metrics.__all__,
    *losses.__all__,
]
