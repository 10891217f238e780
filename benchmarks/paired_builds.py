"""Two builds of the compiled core timed in one process, call by call.

    python benchmarks/paired_builds.py OLD_CORE_SO [SECONDS_PER_CASE]

OLD_CORE_SO is the ``_core`` extension of another build (for instance a
``pip install`` of an older commit into a second venv: its
``site-packages/diffclust/_core.cpython-*.so``); the current build is the one
``import diffclust`` finds. Each case calls both builds' kernel on the same arrays,
back to back in alternating order (benchmarks/_paired.py), checks that they agree,
and prints new / old as the median of the per-round ratios.

A caveat for threaded kernels: the builds have separate thread pools, and a build
whose idle workers spin (as before the shared pool) takes CPU from the other one's
next call, so two-thread ratios against such a build lean against the new one.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

import numpy as np
from _paired import paired_ratio

from diffclust import _core as new


def load(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("diffclust_other_build._core", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cases(rng: np.random.Generator) -> list[tuple[str, str, tuple[Any, ...]]]:
    out = []
    X = rng.standard_normal((2000, 32))
    for metric in ("manhattan", "cosine"):
        for th in (1, 2):
            out.append((f"pairwise_distances {metric} n=2000 d=32, {th} thr", "pairwise_distances_f64",
                        (X, None, metric, th)))
    W = np.abs(rng.standard_normal((1000, 1000)))
    W = (W + W.T) / 2
    labels = rng.integers(0, 10, 1000).astype(np.int64)
    Xd = rng.standard_normal((20000, 16))
    labels_d = rng.integers(0, 20, 20000).astype(np.int64)
    for th in (1, 2):
        out.append((f"graph_cuts dense n=1000, {th} thr", "graph_cuts_dense_f64", (W, labels, th)))
        out.append((f"davies_bouldin n=20000 d=16, {th} thr", "davies_bouldin_score_f64", (Xd, labels_d, th)))
    for n, k in ((5000, 10), (5000, 100), (10000, 100)):
        Xk = rng.standard_normal((n, 8)) + np.repeat(4 * rng.standard_normal((k, 8)), n // k, axis=0)
        D = new.pairwise_distances_f64(Xk, None, "euclidean", 2)
        medoids = new.pam_build_f64(D, k, 2)
        for th in (1, 2):
            out.append((f"fasterpam n={n} k={k}, {th} thr", "fasterpam_f64", (D, medoids, 100, th)))
    Xs = rng.standard_normal((64, 16))
    S = -((Xs[:, None] - Xs[None]) ** 2).sum(-1)
    for th in (1, 2):
        for B in (10, 100):
            out.append((f"perturbed_kforest n=64 B={B}, {th} thr", "perturbed_kforest_f64",
                        (S, 10, 0.1, B, 3, None, None, None, True, True, True, False, th)))
    return out


def fresh(args: tuple[Any, ...], fn: str) -> tuple[Any, ...]:
    # fasterpam writes its medoids in place: each call gets its own copy
    return tuple(a.copy() if fn.startswith("fasterpam") and isinstance(a, np.ndarray) and a.ndim == 1 else a
                 for a in args)


def first(x: Any) -> Any:
    return x[0] if isinstance(x, tuple) else x


def compare(old: Any, name: str, fn: str, args: tuple[Any, ...], seconds: float) -> None:
    def run(module: Any) -> Any:
        return getattr(module, fn)(*fresh(args, fn))

    np.testing.assert_allclose(np.asarray(first(run(new)), dtype=float), np.asarray(first(run(old)), dtype=float),
                               rtol=1e-12)
    ratio, rounds = paired_ratio(lambda: run(new), lambda: run(old), seconds, 6)
    print(f"{name:45s} new / old {ratio:6.3f}  ({rounds} rounds)", flush=True)


def main() -> None:
    old = load(sys.argv[1])
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    for name, fn, args in cases(np.random.default_rng(0)):
        compare(old, name, fn, args, seconds)


if __name__ == "__main__":
    main()
