"""Input checks shared by the public functions.

Every check names the argument it is about and says what was wrong, so that a
user sees ``ValueError: k must be in [1, n] = [1, 5], got 7`` rather than a crash.
"""

from __future__ import annotations

import functools
import numbers
import os
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "METRICS",
    "METRIC_ALIASES",
    "as_float_array",
    "as_index_array",
    "as_labels",
    "check_k",
    "check_square",
    "core_fn",
    "dtype_suffix",
    "resolve_metric",
    "resolve_seed",
    "resolve_threads",
]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def dtype_suffix(dtype: Any) -> str:
    """The suffix of a kernel's float32 or float64 variant in ``_core``."""
    return "f32" if np.dtype(dtype) == np.float32 else "f64"


def core_fn(name: str, dtype: Any) -> Any:
    """The ``_core`` kernel ``name`` for arrays of ``dtype`` (``name_f32`` or ``name_f64``)."""
    from . import _core

    return getattr(_core, f"{name}_{dtype_suffix(dtype)}")


def float_result_dtype(*arrays: NDArray[Any]) -> np.dtype[Any]:
    """The dtype of a float result computed from ``arrays``: float32 only if all are float32."""
    if arrays and all(a.dtype == np.float32 for a in arrays):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def as_float_array(x: Any, name: str, *, ndims: tuple[int, ...]) -> NDArray[Any]:
    """Return ``x`` as a C-contiguous float32/float64 array without copying when possible.

    float32 and float64 arrays keep their dtype; integer and boolean arrays become
    float64. Anything else (complex, object, strings) is a ``TypeError``.
    """
    a = np.asarray(x)
    if a.dtype not in _FLOAT_DTYPES:
        if a.dtype.kind in "biu" or a.dtype.kind == "f":
            a = a.astype(np.float64)
        else:
            raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    if a.ndim not in ndims:
        allowed = " or ".join(str(d) for d in ndims)
        raise ValueError(f"{name} must have {allowed} dimensions, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape})")
    return np.ascontiguousarray(a)


def as_index_array(x: Any, name: str) -> NDArray[np.int64]:
    """Return ``x`` as a C-contiguous int64 array; non-integer input is a ``TypeError``."""
    a = np.asarray(x)
    if a.dtype.kind not in "iu":
        if a.size == 0 and a.dtype.kind == "f":
            a = a.astype(np.int64)
        else:
            raise TypeError(f"{name} must hold integers, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.int64)


def check_finite(a: NDArray[Any], name: str) -> None:
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinity")


def check_square(a: NDArray[Any], name: str) -> int:
    """Check that the last two axes of ``a`` are square; return their size."""
    if a.shape[-1] != a.shape[-2]:
        raise ValueError(f"{name} must be square in its last two axes, got shape {a.shape}")
    return int(a.shape[-1])


def check_int(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    return int(value)


def check_k(k: Any, n: int) -> int:
    """Check that the number of clusters ``k`` is an integer in [1, n]."""
    value = check_int(k, "k")
    if not 1 <= value <= n:
        raise ValueError(f"k must be in [1, n] = [1, {n}], got {value}")
    return value


# The one metric table: every name accepted by a ``metric=`` argument -> the name
# the kernels know. The aliases are those scikit-learn (and SciPy's cdist) accept
# for these four metrics.
METRICS = ("sqeuclidean", "euclidean", "manhattan", "cosine")
METRIC_ALIASES: dict[str, str] = {
    "sqeuclidean": "sqeuclidean",
    "euclidean": "euclidean",
    "l2": "euclidean",
    "manhattan": "manhattan",
    "cityblock": "manhattan",
    "l1": "manhattan",
    "cosine": "cosine",
}


def resolve_metric(metric: Any, *, precomputed: bool = False) -> str:
    """The canonical name of ``metric`` (an alias becomes its metric); "precomputed" if allowed."""
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a string, got {type(metric).__name__}")
    if precomputed and metric == "precomputed":
        return metric
    name = METRIC_ALIASES.get(metric)
    if name is None:
        allowed = METRICS + (("precomputed",) if precomputed else ())
        aliases = ", ".join(f"{a!r}" for a, m in METRIC_ALIASES.items() if a != m)
        raise ValueError(f"metric must be one of {allowed} (or an alias: {aliases}), got {metric!r}")
    return name


def as_labels(x: Any, name: str, *, n: int | None = None, unknown: bool = False) -> NDArray[np.int64]:
    """The one label validator: return a 1-d label vector as C-contiguous int64.

    scikit-learn's rule: integer labels, or floating-point labels whose values are
    all whole numbers (and exact: below 2**53). Anything else -- bool, complex,
    strings, objects, non-whole floats -- is a ``TypeError``; NaN/inf, a wrong
    ndim or a length other than ``n`` a ``ValueError``. With ``unknown`` (partial
    labels) values must be >= -1, -1 meaning unknown.
    """
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {a.shape}")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{name} must have length n = {n} (one label per point), got shape {a.shape}")
    kind = a.dtype.kind
    if kind in "iu":
        # uint64 values >= 2**63 wrap around; distinct values stay distinct
        out = np.ascontiguousarray(a, dtype=np.int64)
    elif kind == "f":
        if not np.isfinite(a).all():
            raise ValueError(f"{name} contains NaN or infinity")
        if a.size and float(np.abs(a).max()) >= 2.0**53:
            raise ValueError(f"{name} holds floating-point labels too large to be exact integers")
        out = a.astype(np.int64)
        if not np.array_equal(out, a):
            raise TypeError(f"{name} must hold integers, got non-integer values of dtype {a.dtype}")
    else:
        raise TypeError(
            f"{name} must hold integers (or whole-number floats), got dtype {a.dtype}; "
            f"encode other labels first with numpy.unique({name}, return_inverse=True)[1]"
        )
    if unknown and out.size and out.min() < -1:
        raise ValueError(f"{name} must be -1 (unknown) or a non-negative label, got {int(out.min())}")
    return out


@functools.lru_cache(maxsize=1)
def _cgroup_cpu_limit() -> int | None:
    """The cgroup v2 CPU quota in whole cores (containers), read once per process."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            return max(1, int(int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return None


def _available_cores() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    limit = _cgroup_cpu_limit()
    if limit is not None:
        cores = min(cores, limit)
    return max(1, cores)


_thread_limit: int | None = None  # set by the threadpoolctl controller


MAX_THREADS = 4096  # the most threads a call may ask for


def resolve_threads(n_threads: Any) -> int:
    """Turn ``n_threads`` into a positive thread count.

    ``None`` or 0 means ``DIFFCLUST_NUM_THREADS``, else ``OMP_NUM_THREADS``, else
    the cores this process may use (CPU affinity and cgroup quota).
    """
    if n_threads is None or (isinstance(n_threads, numbers.Integral) and n_threads == 0):
        resolved: int | None = None
        for var in ("DIFFCLUST_NUM_THREADS", "OMP_NUM_THREADS"):
            value = os.environ.get(var, "").strip()
            if value:
                try:
                    resolved = max(1, int(value.split(",")[0]))
                except ValueError:
                    raise ValueError(f"environment variable {var}={value!r} is not an integer") from None
                if resolved > MAX_THREADS:
                    raise ValueError(f"environment variable {var}={value!r} is more than {MAX_THREADS} threads")
                break
        if resolved is None:
            resolved = _available_cores()
        if _thread_limit is not None:
            resolved = min(resolved, _thread_limit)
        return resolved
    n = check_int(n_threads, "n_threads")
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(f"n_threads must be None, 0 or an integer in [1, {MAX_THREADS}], got {n}")
    return n


def resolve_seed(seed: Any) -> int:
    """Turn ``seed`` (int, ``numpy.random.Generator`` or None) into one uint64."""
    if seed is None:
        return int(np.random.default_rng().integers(0, 2**63, dtype=np.int64))
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63, dtype=np.int64))
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, a numpy.random.Generator or None, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    return int(seed) % 2**64


def check_sigma(sigma: Any) -> float:
    """Check the perturbation scale: a finite real number > 0."""
    if isinstance(sigma, (bool, np.bool_)) or not isinstance(sigma, numbers.Real):
        raise TypeError(f"sigma must be a positive real number, got {sigma!r}")
    value = float(sigma)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"sigma must be a finite number > 0, got {value}")
    return value


def check_n_samples(n_samples: Any) -> int:
    value = check_int(n_samples, "n_samples")
    if not 1 <= value < 2**32:
        raise ValueError(f"n_samples must be in [1, 2**32), got {value}")
    return value


def check_constraints(
    n: int, known_labels: Any, must_link: Any, cannot_link: Any
) -> tuple[NDArray[np.int64] | None, NDArray[np.int64] | None, NDArray[np.int64] | None]:
    """Validate partial labels and must/cannot-link pairs for n points.

    Returns the labels remapped to 0..L-1 (-1 stays unknown) and the pair arrays
    as (m, 2) int64, or None for each one not given.
    """
    labels = None
    if known_labels is not None:
        y = as_labels(known_labels, "known_labels", n=n, unknown=True)
        labels = np.full(n, -1, dtype=np.int64)
        known = y >= 0
        labels[known] = np.unique(y[known], return_inverse=True)[1]
    pairs: list[NDArray[np.int64] | None] = []
    for value, name in ((must_link, "must_link"), (cannot_link, "cannot_link")):
        if value is None:
            pairs.append(None)
            continue
        p = as_index_array(value, name)
        if p.size == 0:
            p = p.reshape(0, 2)
        if p.ndim != 2 or p.shape[1] != 2:
            raise ValueError(f"{name} must have shape (m, 2), got {p.shape}")
        bad = (p < 0) | (p >= n)
        if bad.any():
            row = int(np.flatnonzero(bad.any(axis=1))[0])
            raise IndexError(f"{name}[{row}] = {tuple(p[row].tolist())} is out of range for n = {n}")
        pairs.append(np.ascontiguousarray(p))
    return labels, pairs[0], pairs[1]


class OutputTooLargeError(MemoryError, ValueError):
    """A computation's buffers would not fit in physical memory (raised before allocating).

    It is both a ``MemoryError`` and a ``ValueError``.
    """


def physical_memory() -> int:
    """Bytes of physical memory on this machine (0 if unknown)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return 0


def _read_limit(path: str) -> int | None:
    """A cgroup memory limit file: bytes, or None when absent or unlimited."""
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    if not text or text == "max":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    # cgroup v1 writes "no limit" as a huge page-aligned number (about 2**63)
    return value if 0 < value < 2**62 else None


_PROC_CGROUP = "/proc/self/cgroup"
_CGROUP_V2_ROOT = "/sys/fs/cgroup"
_CGROUP_V1_MEMORY_ROOT = "/sys/fs/cgroup/memory"


def _cgroup_paths() -> tuple[str | None, str | None]:
    """This process's cgroup v2 path and v1 memory-controller path (from /proc/self/cgroup)."""
    v2 = v1 = None
    try:
        with open(_PROC_CGROUP) as f:
            for line in f:
                parts = line.rstrip("\n").split(":", 2)
                if len(parts) != 3:
                    continue
                if parts[0] == "0" and parts[1] == "":
                    v2 = parts[2]
                elif "memory" in parts[1].split(","):
                    v1 = parts[2]
    except OSError:
        pass
    return v2, v1


@functools.lru_cache(maxsize=1)
def cgroup_memory_limit() -> int | None:
    """The tightest cgroup memory limit on this process in bytes (v2 ``memory.max`` or
    v1 ``memory.limit_in_bytes``, of its own cgroup and every ancestor), or None.

    Read once per process (like the CPU quota): the files cost tens of microseconds,
    and the guard runs on every call."""
    v2, v1 = _cgroup_paths()
    candidates: list[str] = []
    for root, rel, name in (
        (_CGROUP_V2_ROOT, v2, "memory.max"),
        (_CGROUP_V1_MEMORY_ROOT, v1, "memory.limit_in_bytes"),
    ):
        candidates.append(os.path.join(root, name))
        if rel:
            path = rel.strip("/")
            while path:
                candidates.append(os.path.join(root, path, name))
                path = os.path.dirname(path)
    limits = [limit for limit in map(_read_limit, dict.fromkeys(candidates)) if limit is not None]
    return min(limits) if limits else None


def memory_limit() -> int:
    """Bytes a computation may use: physical memory, or the cgroup limit if lower (0 if unknown)."""
    total = physical_memory()
    cgroup = cgroup_memory_limit()
    if cgroup is not None and (total == 0 or cgroup < total):
        return cgroup
    return total


def check_memory(n_bytes: float, what: str, advice: str = "use fewer points or fewer threads") -> None:
    """Raise :class:`OutputTooLargeError` before a computation whose buffers exceed the
    memory available: physical memory, or the cgroup's memory limit if lower."""
    total = physical_memory()
    limit = memory_limit()
    if limit and n_bytes > limit:
        where = f"{total / 2**30:.1f} GiB of physical memory"
        if limit < total or not total:
            where = f"{limit / 2**30:.1f} GiB memory limit of this process's cgroup (physical memory: {total / 2**30:.1f} GiB)"
        raise OutputTooLargeError(f"{what} needs {n_bytes / 2**30:.1f} GiB, more than the {where}; {advice}")
