"""Valid calls of every compiled entry point and public function, and bad variants of them.

Used by tests/test_fuzz.py (hypothesis and a deterministic table of bad inputs); a
longer atheris/libFuzzer harness can drive the same builders. Nothing here asserts:

- ``core_call(name, r, n, d, k)`` and ``public_call(name, r, n, d, k)`` build a valid
  call (a ``Call``) of a ``_core`` entry point or a public function for ``n`` points in
  ``d`` dimensions and ``k`` clusters (sizes are adjusted where a function needs more);
- ``mutations(value, n)`` lists the bad (or odd) variants of one argument: dtypes,
  layouts (strided, negative strides, Fortran), shapes (0, 1, mismatched, extra or
  missing axes), values (NaN, inf, huge, negative, ties, duplicate rows), integers
  (0, -1, 2**62, 2**64, ...), floats, strings, None;
- ``check_result(name, result)`` checks what a successful call returned.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import warnings
from typing import Any, Callable

import numpy as np

import diffclust as dc
from diffclust import _core

F32, F64 = np.float32, np.float64

# What a bad input may raise; anything else (a crash, RuntimeError, SystemError) is a bug.
# (_core.ValueOverflowError, for a float64 overflow caused by the input, is a ValueError.)
ALLOWED = (ValueError, TypeError, IndexError, MemoryError)


@dataclasses.dataclass
class Call:
    name: str
    fn: Callable[..., Any]
    args: list[Any]
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)

    def slots(self) -> list[tuple[str, Any]]:
        """Each argument's address: ("arg", index) or ("kw", name)."""
        return [("arg", i) for i in range(len(self.args))] + [("kw", key) for key in self.kwargs]

    def get(self, slot: tuple[str, Any]) -> Any:
        return self.args[slot[1]] if slot[0] == "arg" else self.kwargs[slot[1]]

    def replaced(self, slot: tuple[str, Any], value: Any) -> Call:
        args, kwargs = list(self.args), dict(self.kwargs)
        if slot[0] == "arg":
            args[slot[1]] = value
        else:
            kwargs[slot[1]] = value
        return Call(self.name, self.fn, args, kwargs)

    def __call__(self) -> Any:
        return self.fn(*self.args, **self.kwargs)


# ---------------------------------------------------------------------------
# Data


def similarity(r: np.random.Generator, n: int, dt: Any = F64, ties: bool = False) -> np.ndarray:
    S = r.integers(-2, 3, (n, n)).astype(dt) if ties else r.standard_normal((n, n)).astype(dt)
    return ((S + S.T) / 2).astype(dt)


def points(r: np.random.Generator, n: int, d: int, dt: Any = F64) -> np.ndarray:
    X = r.standard_normal((n, d)).astype(dt)
    if n >= 3 and r.random() < 0.3:
        X[2] = X[0]  # a duplicate point
    return X


def dissimilarity(r: np.random.Generator, n: int, dt: Any = F64) -> np.ndarray:
    X = r.standard_normal((n, 2))
    return np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)).astype(dt)


def random_tree(r: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random spanning tree of n points: edges (u, v) and sorted weights (with ties)."""
    v = np.arange(1, n, dtype=np.int64)
    u = (r.random(n - 1) * v).astype(np.int64)
    w = np.sort(r.integers(0, 4, n - 1).astype(np.float64))
    return u, v, w


def labels_with(r: np.random.Generator, n: int, k: int) -> np.ndarray:
    """n labels in [0, k), each of 0..k-1 present (k <= n)."""
    y = r.integers(0, k, n)
    y[:k] = r.permutation(k)
    return y.astype(np.int64)


def partial_labels(r: np.random.Generator, n: int, k: int) -> np.ndarray:
    """n labels in [0, k) (each present), about a third of them unknown (-1)."""
    y = labels_with(r, n, k)
    y[r.random(n) < 0.3] = -1
    return y


def affinity(r: np.random.Generator, n: int, dt: Any = F64) -> np.ndarray:
    W = np.abs(r.standard_normal((n, n))) * (r.random((n, n)) < 0.7)
    return ((W + W.T) / 2).astype(dt)


def soft_assignment(r: np.random.Generator, n: int, k: int) -> np.ndarray:
    P = r.random((n, k)) + 0.01
    return P / P.sum(1, keepdims=True)


def csr(W: np.ndarray, it: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, cols = np.nonzero(W)
    indptr = np.searchsorted(rows, np.arange(W.shape[0] + 1)).astype(it)
    return indptr, cols.astype(it), W[rows, cols]


def all_pairs(n: int) -> np.ndarray:
    i, j = np.triu_indices(n, 1)
    return np.stack([i, j], 1).astype(np.int64).reshape(-1, 2)


def constraints(r: np.random.Generator, n: int, k: int) -> tuple[Any, Any, Any]:
    """Feasible partial labels, must-links and cannot-links (each maybe None)."""
    y = None
    if r.random() < 0.7:
        y = np.full(n, -1, np.int64)
        y[: min(k, n)] = np.arange(min(k, n))
    must = np.array([[k, k + 1]], np.int64) if k + 1 < n and r.random() < 0.5 else None
    cannot = np.array([[0, 1]], np.int64) if k >= 2 and y is not None and r.random() < 0.5 else None
    return y, must, cannot


def gmm_params(r: np.random.Generator, k: int, d: int, kind: str) -> tuple[Any, Any, Any]:
    w = r.random(k) + 0.1
    means = r.standard_normal((k, d))
    cov = {
        "full": np.stack([np.eye(d) * (1 + r.random()) for _ in range(k)]),
        "tied": np.eye(d) * 2.0,
        "diag": r.random((k, d)) + 0.5,
        "spherical": r.random(k) + 0.5,
    }[kind]
    return w / w.sum(), means, cov


# ---------------------------------------------------------------------------
# The compiled module

SUFFIX = re.compile(r"_(f32|f64)(_(i32|i64))?$")


def core_entry_points() -> dict[str, Any]:
    """Every function of _core and of _core._testing, by (qualified) name."""
    out = {}
    for mod, prefix in ((_core, ""), (_core._testing, "_testing.")):
        for name in dir(mod):
            obj = getattr(mod, name)
            if type(obj).__name__ == "builtin_function_or_method":
                out[prefix + name] = obj
    return out


def core_family(name: str) -> str:
    return SUFFIX.sub("", name)


def _core_args(
    family: str, suffix: str, r: np.random.Generator, n: int, d: int, k: int
) -> list[Any]:
    dt = F32 if "f32" in suffix else F64
    it = np.int32 if suffix.endswith("i32") else np.int64
    seed = int(r.integers(0, 2**63))
    if family == "kforest":
        S = similarity(r, n, dt, ties=r.random() < 0.3)
        return [np.stack([S, S.T]) if r.random() < 0.3 else S, k, 1]
    if family == "kforest_from_edges":
        e = all_pairs(n)
        return [e, r.standard_normal(len(e)).astype(dt), n, k]
    if family == "kforest_from_points":
        metric = str(r.choice(["sqeuclidean", "euclidean", "manhattan", "cosine"]))
        method = int(r.choice([0, 2, 3])) if metric == "cosine" else int(r.integers(0, 4))
        return [points(r, n, d, dt), k, metric, 1, method, int(r.integers(0, 5))]
    if family == "kforest_constrained":
        return [similarity(r, n, dt), k, *constraints(r, n, k), True, 1]
    if family == "block_tree_points":
        return [points(r, n, d, dt), int(r.integers(0, 100)), "euclidean"]
    if family == "pair_cross_edges":
        XA, XB = points(r, n, d, dt), points(r, n + 1, d, dt)
        fn = getattr(_core, "block_tree_points" + suffix)
        metric = str(r.choice(["sqeuclidean", "euclidean", "manhattan", "cosine"]))
        return [XA, 0, XB, n, metric, *fn(XA, 0, metric), *fn(XB, n, metric), 2 * n - k]
    if family == "perturbed_kforest_range":
        y, must, cannot = constraints(r, n, k) if r.random() < 0.5 else (None, None, None)
        return [similarity(r, n, dt), k, 0.5, seed, int(r.integers(0, 10)), 3, y, must, cannot, True,
                True, bool(r.random() < 0.5), 1]
    if family == "perturbed_vjp_coefficients":
        V = r.standard_normal((n, n)).astype(dt)
        return [similarity(r, n, dt), k, V, V if r.random() < 0.5 else None, 0.5, seed, int(r.integers(0, 10)), 3,
                None, None, None, True, bool(r.random() < 0.5), 1]
    if family == "perturbed_vjp_rows":
        row1 = int(r.integers(0, n + 1))
        return [seed, n, int(r.integers(0, row1 + 1)), row1, r.standard_normal(3)]
    if family == "kruskal_edges":
        e = all_pairs(n) + int(r.integers(0, 50))
        return [e, r.standard_normal(len(e)), n - k]
    if family == "perturbed_kforest":
        y, must, cannot = constraints(r, n, k) if r.random() < 0.5 else (None, None, None)
        return [
            similarity(r, n, dt),
            k,
            0.5,
            3,
            seed,
            y,
            must,
            cannot,
            True,
            True,
            True,
            bool(r.random() < 0.5),
            1,
        ]
    if family == "perturbed_kforest_from_points":
        return [
            points(r, n, d, dt),
            k,
            "euclidean",
            0.5,
            3,
            seed,
            True,
            True,
            bool(r.random() < 0.5),
            1,
        ]
    if family == "partial_fy_loss":
        return [similarity(r, n, dt), k, 0.5, 3, seed, *constraints(r, n, k), True, 1]
    if family == "perturbed_kforest_vjp":
        S = similarity(r, n, dt)
        V = r.standard_normal((n, n)).astype(dt)
        kept_e = kept_l = None
        if r.random() < 0.5:
            fwd = getattr(_core, "perturbed_kforest" + suffix)
            _, _, _, kept_e, kept_l, *_ = fwd(
                S, k, 0.5, 3, seed, None, None, None, True, False, False, True, 1
            )
        return [S, k, V, V, 0.5, 3, seed, None, None, None, True, True, kept_e, kept_l, 1]
    if family == "element_seeds":
        return [seed, n]
    if family in ("perturbed_kforest_batch", "partial_fy_loss_batch", "perturbed_kforest_vjp_batch"):
        b = int(r.integers(1, 4))
        S = np.stack([similarity(r, n, dt) for _ in range(b)])
        seeds = _core.element_seeds(seed, b)
        if family == "partial_fy_loss_batch" or r.random() < 0.5:
            per_element = r.random() < 0.5
            y = np.stack([partial_labels(r, n, k) for _ in range(b)]) if per_element else partial_labels(r, n, k)
        else:
            y = None
        if family == "perturbed_kforest_batch":
            return [S, k, 0.5, 3, seeds, y, None, None, True, True, bool(r.random() < 0.5), bool(r.random() < 0.5), 1]
        if family == "partial_fy_loss_batch":
            return [S, k, 0.5, 3, seeds, y, None, None, True, int(r.choice([1, 2]))]
        V = r.standard_normal((b, n, n)).astype(dt)
        kept_e = kept_l = None
        if r.random() < 0.5:
            fwd = getattr(_core, "perturbed_kforest_batch" + suffix)
            _, _, _, kept_e, kept_l, *_ = fwd(S, k, 0.5, 3, seeds, y, None, None, True, False, False, True, 1)
        return [S, k, V, V, 0.5, 3, seeds, y, None, None, True, True, kept_e, kept_l, int(r.choice([1, 2]))]
    if family == "pairwise_distances":
        Y = points(r, n + 1, d, dt) if r.random() < 0.5 else None
        return [points(r, n, d, dt), Y, "cosine" if r.random() < 0.3 else "euclidean", 1]
    n3, k3 = max(n, 3), min(max(k, 2), max(n, 3) - 1)  # two to n - 1 clusters
    if family == "silhouette_samples":
        if r.random() < 0.3:
            return [dissimilarity(r, n3, dt), labels_with(r, n3, k3), k3, "precomputed", 1]
        return [points(r, n3, d, dt), labels_with(r, n3, k3), k3, "euclidean", 1]
    if family == "davies_bouldin_score":
        return [points(r, n3, d, dt), labels_with(r, n3, k3), 1]
    if family == "check_dissimilarity":
        return [dissimilarity(r, n, dt), True, 1e-12, "D", 1]
    if family == "pam_build":
        return [dissimilarity(r, n, dt), k, 1]
    if family == "fasterpam":
        return [dissimilarity(r, n, dt), r.permutation(n)[:k].astype(np.int64), 100, 1]
    if family in ("adjusted_rand_score", "mutual_info_score"):
        return [labels_with(r, n, k), labels_with(r, n, 1 + (k % n)), 1]
    if family == "normalized_mutual_info_score":
        return [labels_with(r, n, k), labels_with(r, n, 1 + (k % n)), "arithmetic", 1]
    if family == "dec_loss":
        target = soft_assignment(r, n, k) if r.random() < 0.5 else None
        return [points(r, n, d), points(r, k, d), 1.0, target, 1]
    if family == "kmeans_loss":
        return [
            points(r, n, d, dt),
            points(r, k, d),
            labels_with(r, n, k) if r.random() < 0.5 else None,
            1,
        ]
    if family == "gmm_nll":
        kind = str(r.choice(["full", "tied", "diag", "spherical"]))
        return [points(r, n, d, dt), *gmm_params(r, k, d, kind), kind, True, 1]
    if family in ("gmm_fit", "gmm_predict", "gmm_init", "gmm_precision_cholesky"):
        kind = str(r.choice(["full", "tied", "diag", "spherical"]))
        w, means, cov = gmm_params(r, k, d, kind)
        if kind in ("full", "tied"):  # the full/tied covariances of gmm_params are diagonal
            pc = np.where(np.eye(d, dtype=bool), 1.0 / np.sqrt(np.maximum(cov, 1e-300)), 0.0)
        else:
            pc = 1.0 / np.sqrt(cov)
        if family == "gmm_precision_cholesky":
            return [1.0 / cov if kind in ("diag", "spherical") else np.linalg.inv(cov), kind, k, d]
        if family == "gmm_init":
            by_labels = r.random() < 0.5
            labels = partial_labels(r, n, k) if by_labels else None
            return [points(r, n, d, dt), k, kind, None if by_labels else soft_assignment(r, n, k), labels, 1e-3, 1]
        if family == "gmm_fit":
            return [points(r, n, d, dt), kind, w, means, pc, 5, 1e-3, 1e-3, -np.inf, 1]
        return [points(r, n, d, dt), kind, w, means, pc, True, 1]
    if family == "graph_cuts_dense":
        return [affinity(r, n, dt), labels_with(r, n, k), 1]
    if family == "soft_ncut_dense":
        return [affinity(r, n, dt), soft_assignment(r, n, k), 1]
    if family == "graph_cuts_csr":
        return [*csr(affinity(r, n, dt), it), n, labels_with(r, n, k), 1]
    if family == "soft_ncut_csr":
        return [*csr(affinity(r, n, dt), it), n, soft_assignment(r, n, k), 1]
    if family == "core_distances":
        return [points(r, n, d, dt), int(r.integers(1, n + 1)), "euclidean", int(r.integers(0, 3)), 1]
    if family == "weighted_core_distances":
        w = np.abs(r.standard_normal(n)) + 1.0
        return [points(r, n, d, dt), w, int(r.integers(1, n + 1)), str(r.choice(["euclidean", "manhattan"])), 1]
    if family == "mutual_reachability_tree":
        return [points(r, n, d, dt), int(r.integers(1, n + 1)), "euclidean", bool(r.random() < 0.5), 0, 1]
    if family == "single_linkage_from_edges":
        u, v, w = random_tree(r, n)
        return [n, u, v, w]
    if family == "condense_tree":
        u, v, w = random_tree(r, n)
        return [_core.single_linkage_from_edges(n, u, v, w), int(r.integers(2, n + 3))]
    if family == "mutual_reachability_tree_from_core":
        return [points(r, n, d, dt), np.abs(r.standard_normal(n)), "euclidean", bool(r.random() < 0.5), 1]
    if family == "mutual_reachability_edges":
        metric = str(r.choice(["euclidean", "manhattan", "sqeuclidean"]))
        return [points(r, n, d, dt), int(r.integers(1, n + 1)), metric, int(r.integers(0, 4)), 1, int(r.integers(0, 5))]
    if family == "kmeans_lloyd":
        X = points(r, n, d, dt)
        w = r.uniform(0.1, 2.0, n) if r.random() < 0.5 else None
        return [X, w, X[r.permutation(n)[:k]].copy(), 20, 1e-4, 1]
    if family == "kmeans_plusplus":
        w = r.uniform(0.1, 2.0, n) if r.random() < 0.5 else None
        return [points(r, n, d, dt), w, k, 3, seed, 1]
    if family == "kmeans_assign":
        X = points(r, n, d, dt)
        w = r.uniform(0.1, 2.0, n) if r.random() < 0.5 else None
        return [X, points(r, k, d, dt), w, 1]
    if family == "perturbed_spanning_trees":
        return [similarity(r, n, dt), 0.5, 3, seed, 1]
    if family == "weighted_noise_matrix":
        return [n, seed, r.standard_normal(3), 0.5, 1]
    if family == "kmeans_block_pass":
        X = points(r, n, d, dt)
        w = r.uniform(0.0, 2.0, n) if r.random() < 0.5 else None
        lab = r.integers(0, k, n) if r.random() < 0.7 else None
        assign = lab is None or r.random() < 0.5
        return [X, w, points(r, k, d, dt), lab, assign, bool(r.random() < 0.5), bool(r.random() < 0.5),
                bool(r.random() < 0.5)]
    if family == "silhouette_pair":
        XI = points(r, n, d, dt)
        li = np.sort(r.integers(0, k, n))
        metric = str(r.choice(["sqeuclidean", "euclidean", "manhattan", "cosine"]))
        return [XI, li, XI, li, 768, metric, True]
    if family == "_testing.edge_noise":
        return [seed, int(r.integers(0, 2**32)), n]
    if family == "_testing.normals_floor":
        return [seed, 3, n]
    if family == "cache_block_points":
        return [d]
    if family == "column_variances":
        return [points(r, n, d, dt), 1]
    if family in ("_testing.kmeans_portable_kernels", "_testing.kmeans_avx2_kernels"):
        return [False]  # the default: a fuzz call leaves the process as it found it
    if family == "_testing.philox4x32":
        return [
            r.integers(0, 2**32, 4).astype(np.uint32),
            r.integers(0, 2**32, 2).astype(np.uint32),
        ]
    raise KeyError(family)


CORE_FAMILIES = {
    "kforest", "kforest_from_edges", "kforest_from_points", "kforest_constrained", "perturbed_kforest",
    "block_tree_points", "pair_cross_edges", "kruskal_edges", "perturbed_kforest_range",
    "perturbed_vjp_coefficients", "perturbed_vjp_rows",
    "perturbed_kforest_from_points", "partial_fy_loss", "perturbed_kforest_vjp", "pairwise_distances",
    "silhouette_samples", "davies_bouldin_score", "check_dissimilarity", "pam_build", "fasterpam",
    "adjusted_rand_score", "mutual_info_score", "normalized_mutual_info_score", "dec_loss", "kmeans_loss",
    "gmm_nll", "graph_cuts_dense", "soft_ncut_dense", "graph_cuts_csr", "soft_ncut_csr",
    "_testing.edge_noise", "_testing.normals_floor", "_testing.philox4x32", "_testing.kmeans_portable_kernels",
    "_testing.kmeans_avx2_kernels",
    "element_seeds", "perturbed_kforest_batch", "partial_fy_loss_batch", "perturbed_kforest_vjp_batch",
    "core_distances", "mutual_reachability_tree", "perturbed_spanning_trees", "weighted_noise_matrix",
    "weighted_core_distances",
    "single_linkage_from_edges", "condense_tree", "mutual_reachability_tree_from_core", "mutual_reachability_edges",
    "gmm_fit", "gmm_predict", "gmm_init", "gmm_precision_cholesky",
    "kmeans_lloyd", "kmeans_plusplus", "kmeans_assign", "column_variances", "kmeans_block_pass", "silhouette_pair",
    "cache_block_points",
}  # fmt: skip


def core_call(name: str, r: np.random.Generator, n: int, d: int, k: int) -> Call:
    fn = core_entry_points()[name]
    m = SUFFIX.search(name)
    return Call(name, fn, _core_args(core_family(name), m.group(0) if m else "", r, n, d, k))


# ---------------------------------------------------------------------------
# The public functions


def public_functions() -> dict[str, Any]:
    """Every function (not class) that diffclust exports."""
    out = {}
    for name in dc.__all__:
        obj = getattr(dc, name)
        if callable(obj) and not isinstance(obj, type):
            out[name] = obj
    return out


def _public(
    name: str, r: np.random.Generator, n: int, d: int, k: int
) -> tuple[list[Any], dict[str, Any]]:
    dt = F32 if r.random() < 0.3 else F64
    seed = int(r.integers(0, 2**32))
    if name == "kforest":
        y, must, cannot = constraints(r, n, k)
        return [similarity(r, n, dt, ties=r.random() < 0.3), k], {
            "known_labels": y, "must_link": must, "cannot_link": cannot, "n_threads": None,
        }  # fmt: skip
    if name == "kforest_from_edges":
        e = all_pairs(n)
        return [e, r.standard_normal(len(e)), n, k], {}
    if name == "kforest_from_points":
        return [points(r, n, d, dt), k], {"metric": "euclidean", "n_threads": 1}
    if name == "perturbed_kforest":
        y = constraints(r, n, k)[0]
        return [similarity(r, n, dt), k], {
            "sigma": 0.5, "n_samples": 3, "seed": seed, "known_labels": y, "keep_samples": True, "n_threads": None,
        }  # fmt: skip
    if name == "perturbed_kforest_from_points":
        return [points(r, n, d, dt), k], {
            "sigma": 0.5,
            "n_samples": 3,
            "seed": seed,
            "metric": "euclidean",
        }
    if name == "perturbed_kforest_vjp":
        V = r.standard_normal((n, n))
        return [similarity(r, n, dt), k, V, V], {"sigma": 0.5, "n_samples": 3, "seed": seed}
    if name == "element_seeds":
        return [seed, n], {}
    if name == "partial_fy_loss" and r.random() < 0.3:  # a batch of two, labels per element
        S = np.stack([similarity(r, n, dt), similarity(r, n, dt)])
        y = np.stack([labels_with(r, n, k), labels_with(r, n, k)])
        return [S, k, y], {"sigma": 0.5, "n_samples": 3, "seed": seed}
    if name == "partial_fy_loss":
        return [similarity(r, n, dt), k, labels_with(r, n, k)], {
            "sigma": 0.5,
            "n_samples": 3,
            "seed": seed,
        }
    if name == "pairwise_distances":
        return [points(r, n, d, dt), points(r, n + 1, d, dt) if r.random() < 0.5 else None], {
            "metric": "euclidean"
        }
    n3, k3 = max(n, 3), min(max(k, 2), max(n, 3) - 1)
    if name in ("silhouette_samples", "silhouette_score"):
        return [points(r, n3, d, dt), labels_with(r, n3, k3)], {"metric": "euclidean"}
    if name == "davies_bouldin_score":
        return [points(r, n3, d, dt), labels_with(r, n3, k3)], {}
    if name == "kmedoids":
        return [points(r, n, d, dt), k], {
            "metric": "euclidean",
            "init": "build",
            "max_iter": 50,
            "seed": seed,
        }
    if name in ("adjusted_rand_score", "mutual_info_score"):
        return [labels_with(r, n, k), labels_with(r, n, 1 + (k % n))], {}
    if name == "normalized_mutual_info_score":
        return [labels_with(r, n, k), labels_with(r, n, 1 + (k % n))], {
            "average_method": "arithmetic"
        }
    if name == "dec_loss":
        return [points(r, n, d), points(r, k, d)], {"alpha": 1.0, "target": None}
    if name in ("gmm_nll", "gmm_nll_samples"):
        kind = str(r.choice(["full", "tied", "diag", "spherical"]))
        return [points(r, n, d, dt), *gmm_params(r, k, d, kind)], {"covariance_type": kind}
    if name == "gaussian_mixture":
        kind = str(r.choice(["full", "tied", "diag", "spherical"]))
        return [points(r, n, d, dt), k], {
            "covariance_type": kind, "init": str(r.choice(["random", "random_from_data"])), "max_iter": 5,
            "reg_covar": 1e-3, "seed": seed,  # (n_init = 2**62 would run 2**62 fits: left out, as for kmeans)
        }  # fmt: skip
    if name == "kmeans_loss":
        return [
            points(r, n, d, dt),
            points(r, k, d),
            labels_with(r, n, k) if r.random() < 0.5 else None,
        ], {}
    if name in ("kmeans", "minibatch_kmeans"):
        w = r.uniform(0.1, 2.0, n) if r.random() < 0.5 else None
        return [points(r, n, d, dt), k], {"sample_weight": w, "seed": seed, "max_iter": 20}
    if name == "kmeans_plusplus":
        return [points(r, n, d, dt), k], {"seed": seed}
    if name in ("ncut", "ratio_cut"):
        W = affinity(r, n, dt)
        if r.random() < 0.3:
            import scipy.sparse

            W = scipy.sparse.csr_matrix(W)
        return [W, labels_with(r, n, k)], {}
    if name == "soft_ncut":
        return [affinity(r, n, dt), soft_assignment(r, n, k)], {}
    if name == "hdbscan":
        return [points(r, max(n, 2), d, dt)], {
            "min_cluster_size": 2, "min_samples": int(r.integers(1, max(n, 2) + 1)),
            "cluster_selection_method": str(r.choice(["eom", "leaf"])),
            "cluster_selection_epsilon": float(r.choice([0.0, 0.5])),
            "allow_single_cluster": bool(r.random() < 0.5),
            "max_cluster_size": None if r.random() < 0.5 else int(r.integers(1, max(n, 2) + 1)),
            "alpha": float(r.choice([1.0, 1.5])),
            "sample_weight": None if r.random() < 0.5 else r.uniform(1.0, 2.0, max(n, 2)),
        }  # fmt: skip
    if name in ("perturbed_hdbscan", "perturbed_hdbscan_vjp"):
        m = max(n, 2)
        kw: dict[str, Any] = {
            "min_cluster_size": 2, "min_samples": int(r.integers(1, m + 1)), "n_samples": 3, "seed": seed,
            "cluster_selection_method": str(r.choice(["eom", "leaf"])), "sigma_scale": "absolute",
        }  # fmt: skip
        if name == "perturbed_hdbscan_vjp":
            return [points(r, m, d, dt), r.standard_normal((m, m)), r.standard_normal(m)], kw
        return [points(r, m, d, dt)], kw
    if name == "partial_fy_loss_from_points":
        return [points(r, n, d, dt), k, labels_with(r, n, k)], {
            "min_samples": int(r.integers(1, n + 1)), "sigma": 0.5, "n_samples": 3, "seed": seed,
        }  # fmt: skip
    if name == "dbscan":
        return [points(r, n, d, dt), 0.5], {
            "min_samples": int(r.integers(1, n + 1)), "attach_border": bool(r.random() < 0.5)
        }  # fmt: skip
    if name == "dbcv_score":
        m = max(n, 4)
        y = np.arange(m) % 2
        y[4:][r.random(m - 4) < 0.3] = -1
        return [points(r, m, d, dt), y], {}
    if name in ("optics", "mutual_reachability_distances"):
        return [points(r, n, d, dt)], {"min_samples": int(r.integers(1, n + 1))}
    raise KeyError(name)


def public_call(name: str, r: np.random.Generator, n: int, d: int, k: int) -> Call:
    args, kwargs = _public(name, r, n, d, k)
    fn = public_functions()[name]
    if "n_threads" in inspect.signature(fn).parameters and "n_threads" not in kwargs:
        kwargs["n_threads"] = int(r.choice([1, 2, 3]))
    return Call("dc." + name, fn, args, kwargs)


# ---------------------------------------------------------------------------
# Bad variants of one argument: (label, value) pairs; labels name the kind of case.

FUZZ_DTYPES = {
    "float16": np.float16, "float32": np.float32, "float64": np.float64, "int32": np.int32,
    "int64": np.int64, "uint64": np.uint64, "bool": np.bool_, "object": object, "complex": np.complex128,
    "str": np.str_,
}  # fmt: skip


def _array_mutations(a: np.ndarray, n: int) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for label, dt in FUZZ_DTYPES.items():
        if a.dtype != dt:
            try:
                out.append(("dtype:" + label, a.astype(dt)))
            except (ValueError, TypeError, OverflowError):
                pass
    if a.ndim >= 1:
        big = np.repeat(a, 2, axis=-1)
        out.append(("layout:strided", big[..., ::2]))
        out.append(("layout:negative-stride", a[::-1]))
        out.append(("layout:fortran", np.asfortranarray(a)))
        out.append(("shape:grow-axis-0", np.concatenate([a, a[:1]]) if len(a) else a))
        out.append(("shape:shrink-axis-0", a[:-1]))
        out.append(("shape:empty-axis-0", a[:0]))
        out.append(("shape:one-row", a[:1]))
        out.append(("shape:drop-axis", a[0] if len(a) else a.ravel()))
        out.append(
            ("shape:grow-last-axis", np.concatenate([a, a[..., :1]], axis=-1) if a.shape[-1] else a)
        )
        out.append(("shape:empty-last-axis", a[..., :0]))
    out.append(("shape:add-axis", a[None]))
    out.append(("shape:scalar", np.asarray(a.flat[0]) if a.size else np.asarray(0)))
    if a.ndim >= 2:
        out.append(("shape:transpose", a.T))
    if a.size:
        flat_pos = (7 * a.size) // 11
        if a.dtype.kind == "f":
            for label, v in (("nan", np.nan), ("inf", np.inf), ("-inf", -np.inf), ("huge", 1e308)):
                b = a.copy()
                b.flat[flat_pos] = v if a.dtype == F64 or label != "huge" else np.finfo(a.dtype).max
                out.append(("value:" + label, b))
            out.append(("value:negated", -a))
            out.append(("value:zeros", np.zeros_like(a)))
        if a.dtype.kind in "iu":
            for label, v in (
                ("-1", -1),
                ("n", n),
                ("2**62", 2**62),
                ("int-min", np.iinfo(np.int64).min),
            ):
                b = a.astype(np.int64)
                b.flat[flat_pos] = v
                out.append(("index:" + label, b))
        out.append(("value:ties", np.full_like(a, a.flat[0])))
        if a.ndim >= 1 and len(a) >= 2:
            b = a.copy()
            b[1] = b[0]
            out.append(("value:duplicate-row", b))
    out.append(("value:list", a.tolist()))
    out.append(("value:None", None))
    return out


def mutations(value: Any, n: int) -> list[tuple[str, Any]]:
    """The bad (or odd) variants of one argument of a call on n points."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # casts that overflow are meant
        return _mutations(value, n)


def _mutations(value: Any, n: int) -> list[tuple[str, Any]]:
    if isinstance(value, np.ndarray):
        return _array_mutations(value, n)
    if isinstance(value, (bool, np.bool_)):
        return [("bool:None", None), ("bool:int", 2), ("bool:str", "yes")]
    if isinstance(value, (int, np.integer)):
        v = int(value)
        return [
            ("int:0", 0), ("int:-1", -1), ("int:+1", v + 1), ("int:-v", -v), ("int:2**62", 2**62),
            ("int:int64-max", 2**63 - 1), ("int:int64-min", -(2**63)), ("int:2**64", 2**64),
            ("int:float", v + 0.5), ("int:None", None), ("int:str", str(v)), ("int:array", np.array([v, v])),
        ]  # fmt: skip
    if isinstance(value, float):
        return [
            ("float:0", 0.0), ("float:-1", -1.0), ("float:nan", float("nan")), ("float:inf", float("inf")),
            ("float:-inf", float("-inf")), ("float:huge", 1e308), ("float:tiny", 5e-324), ("float:None", None),
            ("float:str", "1.0"),
        ]  # fmt: skip
    if isinstance(value, str):
        return [("str:empty", ""), ("str:bogus", "bogus"), ("str:precomputed", "precomputed"),
                ("str:upper", value.upper()), ("str:None", None), ("str:int", 3)]  # fmt: skip
    if value is None:
        return [("none:int-matrix", np.ones((n, 2), np.int64)), ("none:float-matrix", np.zeros((n, n))),
                ("none:vector", np.arange(n)), ("none:empty", np.zeros((0, 2), np.int64)),
                ("none:scalar", 3), ("none:str", "x")]  # fmt: skip
    if hasattr(value, "tocsr"):  # a scipy.sparse matrix: its dense form's variants, and as float
        return [("sparse:" + label, v) for label, v in _array_mutations(value.toarray(), n)[:12]]
    return [("object:None", None)]


# ---------------------------------------------------------------------------
# Checks on what a successful call returned


def _check_forest(labels: np.ndarray, edges: np.ndarray) -> None:
    labels = np.asarray(labels).reshape(-1, np.shape(labels)[-1])
    edges = np.asarray(edges).reshape(len(labels), -1, 2)
    n = labels.shape[1]
    for lab, e in zip(labels, edges):
        assert ((lab >= 0) & (lab < n)).all(), lab
        assert ((e >= 0) & (e < n)).all() and (e[:, 0] < e[:, 1]).all(), e
        assert len(np.unique(lab)) == n - len(e)  # a forest with n - k edges has k trees
        assert (lab[e[:, 0]] == lab[e[:, 1]]).all()


def _check_unit_matrix(A: Any) -> None:
    if A is None:
        return
    A = np.asarray(A)
    assert np.isfinite(A).all() and (A >= 0).all() and (A <= 1).all()


def finite_inputs(call: Call) -> bool:
    """Whether every float array among the call's arguments is finite."""
    for v in list(call.args) + list(call.kwargs.values()):
        a = v.toarray() if hasattr(v, "toarray") else v
        if isinstance(a, np.ndarray) and a.dtype.kind in "fc" and not np.isfinite(a).all():
            return False
    return True


def check_result(name: str, result: Any, finite: bool = True) -> None:
    """Checks that a successful call returned a well-formed result (no garbage).

    Indices are always checked; value ranges only when the inputs were finite (the
    compiled module leaves NaN and inf checks to the Python layer, except where a
    non-finite value would make a kernel read out of bounds).
    """
    family = core_family(name.removeprefix("dc."))
    if isinstance(result, dc.Forest):
        _check_forest(result.labels, result.edges)
    elif family in ("kforest", "kforest_from_edges", "kforest_from_points", "kforest_constrained"):
        _check_forest(result[0], result[1])
    elif family in ("perturbed_kforest", "perturbed_kforest_from_points", "perturbed_kforest_batch"):
        if hasattr(result, "adjacency"):
            A, M, samples = result.adjacency, result.connectivity, result.samples
            kept = (samples.labels, samples.edges) if samples is not None else (None, None)
        else:
            A, M, kept = result[0], result[1], (result[4], result[3])
        if finite:
            _check_unit_matrix(A)
            _check_unit_matrix(M)
        if kept[0] is not None:
            _check_forest(*kept)
    elif family == "mutual_reachability_edges":
        i, j = result[1], result[2]
        n = len(result[0])
        assert i.shape == j.shape == (max(n - 1, 0),) and ((i >= 0) & (i < j) & (j < n)).all()
    elif family == "mutual_reachability_tree":
        order, parent = result[1], result[2]
        n = len(order)
        assert np.array_equal(np.sort(order), np.arange(n)) and ((parent >= 0) & (parent < n)).all()
    elif isinstance(result, dc.DensityResult):
        n = len(result.labels)
        assert result.edges.shape == (max(n - 1, 0), 2) and ((result.edges >= 0) & (result.edges < n)).all()
        assert (result.labels >= -1).all() and ((result.probabilities >= 0) & (result.probabilities <= 1)).all()
    elif family == "fasterpam" or isinstance(result, dc.KMedoidsResult):
        medoids, labels, loss = (
            (result.medoids, result.labels, result.loss)
            if hasattr(result, "medoids")
            else result[:3]
        )
        n = len(labels)
        assert len(np.unique(medoids)) == len(medoids) and ((medoids >= 0) & (medoids < n)).all()
        assert ((labels >= 0) & (labels < len(medoids))).all()
        assert not finite or np.isfinite(loss)
        # the public function rejects negative dissimilarities; the raw kernel takes
        # D as given (its loss is the sum of the given entries) and only refuses a
        # point with no finite distance to any medoid
        assert not (finite and hasattr(result, "medoids")) or loss >= 0
    elif family == "pam_build":
        assert len(np.unique(result)) == len(result) and (result >= 0).all()
    elif isinstance(result, dc.KMeansResult) or family in ("kmeans_lloyd", "kmeans_assign"):
        labels, inertia = (result.labels, result.inertia) if hasattr(result, "labels") else (
            (result[1], result[2]) if family == "kmeans_lloyd" else (result[0], result[2]))
        assert labels.min() >= 0
        assert not finite or inertia >= 0
    elif family == "kmeans_plusplus":
        indices = result[1] if isinstance(result[0], np.ndarray) and result[0].ndim == 2 else result[0]
        assert len(np.unique(indices)) == len(indices) and (indices >= 0).all()
    elif family in ("silhouette_samples", "silhouette_score") and finite:
        v = np.asarray(result)
        assert (np.isnan(v) | ((v >= -1 - 1e-9) & (v <= 1 + 1e-9))).all()
    elif family in ("adjusted_rand_score", "normalized_mutual_info_score"):
        assert result <= 1 + 1e-9
