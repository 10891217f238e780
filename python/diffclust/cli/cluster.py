"""``diffclust cluster FILE``: cluster a user's points and look at the result.

Reads CSV/TSV/whitespace text (delimiter sniffed, header detected when the first
row is not numeric), ``.npy`` or ``.npz`` (the first array, or ``--key``) with
:mod:`diffclust.cli._io`; optionally standardises each column (mean 0, variance 1;
constant columns are only centred); clusters with one method of
:mod:`diffclust.cli._methods`; prints the cluster sizes, the internal metrics
(silhouette with the chosen metric, Davies-Bouldin, which is Euclidean by
definition), the method's own loss and its time. ``--out`` writes the labels (a
``label`` header, then one integer per point, in the file's order; -1 = noise);
``--plot`` draws the points projected on their first two principal components
(PCA by SVD of the centred data), coloured by cluster.

Every user error is one line on stderr with exit status 2 (see
:class:`diffclust.cli.UsageError`).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

import diffclust as dc

from ._errors import UsageError
from ._io import load_points
from ._methods import POINT_METRICS, Method, available_methods
from ._output import fmt, print_table, pyplot, save_figure

__all__ = ["pca_2d", "register", "run", "standardize"]


def register(subparsers: Any) -> None:
    """Add the ``cluster`` subcommand."""
    methods = ", ".join(available_methods())
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "cluster",
        help="cluster the points of a CSV/TSV/.npy/.npz file",
        description="Cluster the rows of FILE (CSV/TSV/text with or without a header, .npy, .npz).",
    )
    parser.add_argument("file", metavar="FILE", help="points, one per row")
    parser.add_argument("--k", type=int, default=None, help="number of clusters (required except for hdbscan)")
    parser.add_argument("--method", default="kforest", help=f"one of: {methods} (default kforest)")
    parser.add_argument("--metric", default="euclidean",
                        help=f"one of: {', '.join(POINT_METRICS)} (default euclidean)")
    parser.add_argument("--standardize", action="store_true", help="scale each column to mean 0, variance 1")
    parser.add_argument("--key", default=None, help="array of a .npz archive (default: the first)")
    parser.add_argument("--min-cluster-size", type=int, default=None, metavar="M",
                        help="forests: trees under M points are noise (-1); 1 = plain single linkage "
                        "(default max(5, n // 50))")
    parser.add_argument("--seed", type=int, default=0, help="seed of randomised methods (default 0)")
    parser.add_argument("--out", metavar="LABELS.csv", help="write the labels here")
    parser.add_argument("--plot", metavar="FILE.png", help="PCA 2-D projection coloured by cluster")
    parser.set_defaults(func=run)


def standardize(X: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each column to mean 0 and variance 1 (constant columns are only centred)."""
    std = X.std(axis=0)
    std[std == 0] = 1.0
    out: NDArray[np.float64] = (X - X.mean(axis=0)) / std
    return out


def pca_2d(X: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(points on the first two principal axes (n, 2), fraction of variance of each axis).

    One-column data get a zero second coordinate.
    """
    centred = X - X.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    coords = centred @ vt[:2].T
    variance = s**2
    total = variance.sum()
    share = variance[:2] / total if total > 0 else np.zeros(min(2, variance.size))
    if coords.shape[1] == 1:
        coords = np.column_stack([coords, np.zeros(len(coords))])
        share = np.append(share, 0.0)
    return coords, share


def _method(args: argparse.Namespace) -> Method:
    methods = available_methods()
    method = methods.get(args.method)
    if method is None:
        raise UsageError(f"unknown method {args.method!r}; choose from {', '.join(methods)}")
    if args.metric not in POINT_METRICS:
        raise UsageError(f"unknown metric {args.metric!r}; choose from {', '.join(POINT_METRICS)}")
    if args.metric not in method.metrics:
        raise UsageError(f"method {method.name!r} supports the metric(s) {', '.join(method.metrics)} "
                         f"only, not {args.metric!r}")
    if args.min_cluster_size is not None and args.min_cluster_size < 1:
        raise UsageError(f"--min-cluster-size must be at least 1, got {args.min_cluster_size}")
    return method


def _k(args: argparse.Namespace, method: Method, n: int) -> int:
    if not method.uses_k:
        return 0 if args.k is None else int(args.k)
    if args.k is None:
        raise UsageError(f"--k is required for method {method.name!r}")
    if args.k < 1:
        raise UsageError(f"--k must be at least 1, got {args.k}")
    if args.k > n:
        raise UsageError(f"--k {args.k} is larger than the number of points ({n})")
    return int(args.k)


def _write_labels(path: str, labels: NDArray[np.int64]) -> None:
    try:
        with open(path, "w") as f:
            f.write("label\n")
            f.write("".join(f"{int(v)}\n" for v in labels))
    except OSError as err:
        raise UsageError(f"cannot write {path!r}: {err.strerror}") from None


def _plot(path: str, X: NDArray[np.float64], labels: NDArray[np.int64], title: str) -> None:
    plt = pyplot()
    import matplotlib

    coords, share = pca_2d(X)
    cmap = matplotlib.colormaps["tab10"]
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for c in np.unique(labels):
        mask = labels == c
        color = (0.6, 0.6, 0.6, 1.0) if c < 0 else cmap(int(c) % 10)
        ax.scatter(coords[mask, 0], coords[mask, 1], s=8, color=color, linewidths=0,
                   label="noise" if c < 0 else f"{c} ({int(mask.sum())})")
    ax.set_xlabel(f"PC1 ({100 * share[0]:.0f} % of variance)")
    ax.set_ylabel(f"PC2 ({100 * share[1]:.0f} % of variance)")
    ax.set_title(title, fontsize=10)
    if np.unique(labels).size <= 12:
        ax.legend(fontsize=7, markerscale=2, title="cluster (size)", title_fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def run(args: argparse.Namespace) -> int:
    """Run ``diffclust cluster``."""
    if args.plot:
        pyplot()  # fail before the work if matplotlib is missing
    method = _method(args)
    table = load_points(args.file, args.key)
    X = table.X
    n, d = X.shape
    k = _k(args, method, n)
    if args.standardize:
        X = standardize(X)
    t0 = time.perf_counter()
    try:
        fitted = method.fit(X, k, args.metric, args.seed, args.min_cluster_size)
    except (ValueError, TypeError, MemoryError) as err:  # e.g. an n x n output too large
        raise UsageError(f"{method.name}: {err}") from None
    elapsed = time.perf_counter() - t0
    labels = fitted.labels

    print(f"{args.file}: {n} points, {d} features ({table.detail})"
          + (", standardized" if args.standardize else ""))
    ids, sizes = np.unique(labels, return_counts=True)
    rows = [["noise" if c < 0 else str(c), str(s), f"{100 * s / n:.1f} %"] for c, s in zip(ids, sizes)]
    print_table(["cluster", "size", "share"], rows,
                title=f"{method.description}, k={k if method.uses_k else '-'}, metric={args.metric}")
    n_clusters = ids.size
    sil: float | None = None
    db: float | None = None
    if 2 <= n_clusters <= n - 1:
        sil = dc.silhouette_score(X, labels, metric=args.metric)
        db = dc.davies_bouldin_score(X, labels)
    print(f"silhouette ({args.metric}): {fmt(sil)}   Davies-Bouldin: {fmt(db)}   "
          f"{method.loss_name}: {fmt(fitted.loss, 4)}   time: {1e3 * elapsed:.1f} ms")
    trees = fitted.extra.get("trees")
    if trees is not None and trees > k:
        print(f"(the forest has {trees} trees: those under the minimum cluster size are noise, -1;"
              " --min-cluster-size 1 for plain single linkage)")
    if n_clusters < 2:
        print("(one cluster: silhouette and Davies-Bouldin need at least two)")
    if args.out:
        _write_labels(args.out, labels)
        print(f"labels written to {args.out}")
    if args.plot:
        _plot(args.plot, X, labels, f"{args.file}: {method.name}, k={k}")
        print(f"plot written to {args.plot}")
    return 0
