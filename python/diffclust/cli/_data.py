"""The demo's toy data sets, generated with NumPy (no download, no scikit-learn).

Each generator draws ``n`` points in 2-D from one ``numpy.random.Generator``: the
clustered points carry their generating label (0..k-1) and about 3 % of the
points are noise, drawn uniformly over the bounding box of the clustered points
(enlarged by 10 %) and labelled -1. Every data set is then standardised (each
coordinate to mean 0 and variance 1), as scikit-learn's clustering comparison
does, so one set of parameters suits them all.

Same ``(name, n, seed)``, same data, on every machine (NumPy's PCG64 streams are
stable across versions for ``standard_normal``, ``uniform`` and ``permutation``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from numpy.typing import NDArray

__all__ = ["DATASETS", "NOISE_FRACTION", "ToyData", "make_dataset"]

NOISE_FRACTION = 0.03


@dataclass(frozen=True)
class ToyData:
    """A toy data set: points ``X`` (n, 2), generating ``labels`` (-1 = noise) and ``k``."""

    name: str
    X: NDArray[np.float64]
    labels: NDArray[np.int64]
    k: int


def _split(n: int, k: int) -> list[int]:
    """n points in k near-equal groups."""
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def _moons(rng: np.random.Generator, n: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    a, b = _split(n, 2)
    t0 = np.pi * rng.uniform(size=a)
    t1 = np.pi * rng.uniform(size=b)
    upper = np.column_stack([np.cos(t0), np.sin(t0)])
    lower = np.column_stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)])
    X = np.vstack([upper, lower]) + 0.06 * rng.standard_normal((n, 2))
    return X, np.repeat(np.arange(2), [a, b])


def _circles(rng: np.random.Generator, n: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    a, b = _split(n, 2)
    t0 = 2 * np.pi * rng.uniform(size=a)
    t1 = 2 * np.pi * rng.uniform(size=b)
    outer = np.column_stack([np.cos(t0), np.sin(t0)])
    inner = 0.45 * np.column_stack([np.cos(t1), np.sin(t1)])
    X = np.vstack([outer, inner]) + 0.04 * rng.standard_normal((n, 2))
    return X, np.repeat(np.arange(2), [a, b])


_CENTRES = np.array([[-5.0, -2.0], [0.0, 6.0], [5.0, -1.5]])


def _blob_points(
    rng: np.random.Generator, n: int, stds: tuple[float, float, float]
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    sizes = _split(n, 3)
    labels = np.repeat(np.arange(3), sizes)
    X = _CENTRES[labels] + np.asarray(stds)[labels, None] * rng.standard_normal((n, 2))
    return X, labels


def _blobs(rng: np.random.Generator, n: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    return _blob_points(rng, n, (1.0, 1.0, 1.0))


def _anisotropic(rng: np.random.Generator, n: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    X, labels = _blob_points(rng, n, (0.8, 0.8, 0.8))
    return X @ np.array([[0.6, -0.6], [-0.4, 0.8]]), labels


def _varied(rng: np.random.Generator, n: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    return _blob_points(rng, n, (1.0, 2.2, 0.5))


_GENERATORS: dict[str, tuple[int, Callable[..., tuple[NDArray[np.float64], NDArray[np.int64]]]]] = {
    "moons": (2, _moons),
    "circles": (2, _circles),
    "blobs": (3, _blobs),
    "anisotropic": (3, _anisotropic),
    "varied": (3, _varied),
}

DATASETS: tuple[str, ...] = tuple(_GENERATORS)


def make_dataset(name: str, n: int, seed: int) -> ToyData:
    """The toy data set ``name`` with ``n`` points (noise included), standardised.

    Parameters
    ----------
    name : {"moons", "circles", "blobs", "anisotropic", "varied"}
        "anisotropic": three blobs under a shear; "varied": three blobs of standard
        deviations 1, 2.2 and 0.5.
    n : int
        Total number of points, >= 10.
    seed : int
        Seed of ``numpy.random.default_rng``; each data set draws from its own
        stream, so selecting data sets never changes the others.

    Returns
    -------
    ToyData
        Points in a random order (so that no method can exploit the order).
    """
    if name not in _GENERATORS:
        raise ValueError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")
    if n < 10:
        raise ValueError(f"n must be at least 10, got {n}")
    k, generate = _GENERATORS[name]
    rng = np.random.default_rng([seed, DATASETS.index(name)])
    n_noise = max(1, round(NOISE_FRACTION * n))
    X, labels = generate(rng, n - n_noise)
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.1 * (hi - lo)
    noise = rng.uniform(lo - pad, hi + pad, size=(n_noise, 2))
    X = np.vstack([X, noise])
    labels = np.concatenate([labels, np.full(n_noise, -1)]).astype(np.int64)
    order = rng.permutation(n)
    X, labels = X[order], labels[order]
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return ToyData(name, np.ascontiguousarray(X), labels, k)
