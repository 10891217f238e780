"""``diffclust demo``: every method on built-in toy data, a table of scores, a plot.

Data: :mod:`diffclust.cli._data` (moons, circles, blobs, anisotropic and
varied-variance blobs, each with about 3 % uniform noise points; NumPy only, no
download). Methods: :mod:`diffclust.cli._methods` (every method this installation
has). Each method gets the generating number of clusters k.

Scores, all computed with diffclust's own functions:

- ARI and NMI against the generating labels, over the clustered points (the noise
  points have no generating cluster, so they are left out of these two);
- silhouette (Euclidean), Davies-Bouldin and Ncut over the points the method puts
  in a cluster (the points it labels noise, -1, are left out and counted in the
  "noise" column); "—" when fewer than two clusters remain;
- Ncut of the labelling on the Gaussian affinity ``W_ij = exp(-|x_i - x_j|^2 /
  (2 h^2))`` (zero diagonal; restricted to the clustered points), with the
  bandwidth h the median over all points of the distance to their 7th nearest
  neighbour (the local scale of Zelnik-Manor and Perona's self-tuning spectral
  clustering, taken as one global h);
- the method's own loss (see :mod:`diffclust.cli._methods`) and its wall time.

``--json FILE`` writes the same numbers at full precision.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

import diffclust as dc

from ._data import DATASETS, ToyData, make_dataset
from ._errors import UsageError
from ._methods import Fitted, Method, available_methods
from ._output import fmt, print_table, progress, pyplot, save_figure

__all__ = ["evaluate", "gaussian_affinity", "register", "run", "run_grid"]

NEIGHBOUR_FOR_BANDWIDTH = 7


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    methods = ", ".join(available_methods())
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="every method on built-in toy data: a table of scores and a plot",
        description="Cluster built-in toy data sets (no download) with every method diffclust has "
        "and print ARI, NMI, silhouette, Davies-Bouldin, Ncut, each method's own loss and time.",
    )
    parser.add_argument("--n", type=int, default=300, help="points per data set (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and the methods (default 0)")
    parser.add_argument("--datasets", default=",".join(DATASETS),
                        help=f"comma-separated subset of: {', '.join(DATASETS)}")
    parser.add_argument("--methods", default=None, help=f"comma-separated subset of: {methods}")
    parser.add_argument("--plot", metavar="FILE.png", help="draw the grid of clusterings (needs matplotlib)")
    parser.add_argument("--json", metavar="FILE", help="also write the table as JSON, full precision")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def _choose(text: str | None, allowed: list[str], what: str) -> list[str]:
    if text is None:
        return list(allowed)
    chosen = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in chosen if t not in allowed]
    if unknown or not chosen:
        raise UsageError(f"unknown {what} {', '.join(map(repr, unknown)) or repr(text)}; "
                         f"choose from {', '.join(allowed)}")
    return chosen


def gaussian_affinity(X: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    """``(W, h)``: the Gaussian affinity of the demo's Ncut and its bandwidth h."""
    D2 = np.asarray(dc.pairwise_distances(X, metric="sqeuclidean"), dtype=np.float64)
    kth = min(NEIGHBOUR_FOR_BANDWIDTH, X.shape[0] - 1)
    h = float(np.median(np.sqrt(np.partition(D2, kth, axis=1)[:, kth])))
    h = h if h > 0 else 1.0
    W = np.exp(-D2 / (2 * h * h))
    np.fill_diagonal(W, 0.0)
    return W, h


def evaluate(data: ToyData, labels: NDArray[np.int64], W: NDArray[np.float64]) -> dict[str, float | None]:
    """ARI, NMI, silhouette, Davies-Bouldin and Ncut of ``labels`` (see the module docstring)."""
    keep = data.labels >= 0
    scores: dict[str, float | None] = {
        "ari": dc.adjusted_rand_score(data.labels[keep], labels[keep]),
        "nmi": dc.normalized_mutual_info_score(data.labels[keep], labels[keep]),
    }
    clustered = labels >= 0  # the method's own noise (-1) is left out of the internal scores
    X, lab = data.X[clustered], labels[clustered]
    n_clusters = np.unique(lab).size
    internal = 2 <= n_clusters <= lab.size - 1
    scores["silhouette"] = dc.silhouette_score(X, lab) if internal else None
    scores["davies_bouldin"] = dc.davies_bouldin_score(X, lab) if internal else None
    scores["ncut"] = dc.ncut(W[np.ix_(clustered, clustered)], lab) if lab.size else None
    scores["noise"] = int(labels.size - lab.size)
    return scores


def run_grid(
    datasets: list[str], methods: list[Method], n: int, seed: int, show_progress: bool = True
) -> tuple[list[dict[str, Any]], dict[tuple[str, str], Fitted], dict[str, ToyData]]:
    """Fit every method on every data set: (table rows, fits by (data, method), data)."""
    rows: list[dict[str, Any]] = []
    fits: dict[tuple[str, str], Fitted] = {}
    data_sets: dict[str, ToyData] = {}
    with progress(len(datasets) * len(methods), "demo", enabled=show_progress) as advance:
        for name in datasets:
            data = make_dataset(name, n, seed)
            data_sets[name] = data
            W, h = gaussian_affinity(data.X)
            for method in methods:
                advance(f"{name} / {method.name}")
                t0 = time.perf_counter()
                fitted = method.fit(data.X, data.k, "euclidean", seed, None)
                elapsed = time.perf_counter() - t0
                fits[name, method.name] = fitted
                row: dict[str, Any] = {"dataset": name, "method": method.name, "k": data.k,
                                       "clusters": int(np.unique(fitted.labels[fitted.labels >= 0]).size)}
                row.update(evaluate(data, fitted.labels, W))
                row.update(loss=fitted.loss, time_s=elapsed, bandwidth=h)
                rows.append(row)
    return rows, fits, data_sets


def _print(rows: list[dict[str, Any]], methods: list[Method], n: int, seed: int) -> None:
    columns = ["data", "method", "clusters", "noise", "ARI", "NMI", "silhouette", "DB", "Ncut", "loss",
               "time ms"]
    table = [
        [r["dataset"], r["method"], str(r["clusters"]), str(r["noise"]), fmt(r["ari"]), fmt(r["nmi"]),
         fmt(r["silhouette"]), fmt(r["davies_bouldin"]), fmt(r["ncut"]), fmt(r["loss"], 2),
         f"{1e3 * r['time_s']:.1f}"]
        for r in rows
    ]
    print_table(columns, table, title=f"diffclust demo: n={n} points per data set, seed={seed}")
    print("ARI/NMI: against the generating labels, over the non-noise points. silhouette, DB"
          " (Davies-Bouldin, lower is better), Ncut: over the points the method clusters (noise ="
          " points it labels -1). Ncut on exp(-d^2 / 2h^2), h = median distance to the 7th"
          " neighbour.")
    print("loss: " + "; ".join(f"{m.name} = {m.loss_name}" for m in methods if m.loss_name != "—"))


def _scatter(ax: Any, X: NDArray[np.float64], labels: NDArray[np.int64]) -> None:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    colors = np.array([cmap(int(c) % 10) if c >= 0 else (0.6, 0.6, 0.6, 1.0) for c in labels])
    ax.scatter(X[:, 0], X[:, 1], c=colors, s=6, linewidths=0, zorder=2)


def _connectivity_edges(ax: Any, X: NDArray[np.float64], M: NDArray[np.float64], neighbours: int = 6) -> None:
    """Edges of each point's nearest neighbours, with opacity M_ij (the soft connectivity)."""
    from matplotlib.collections import LineCollection

    D2 = np.asarray(dc.pairwise_distances(X, metric="sqeuclidean"))
    np.fill_diagonal(D2, np.inf)
    m = min(neighbours, X.shape[0] - 1)
    nearest = np.argpartition(D2, m - 1, axis=1)[:, :m]
    i = np.repeat(np.arange(X.shape[0]), m)
    j = nearest.ravel()
    pairs = np.unique(np.sort(np.column_stack([i, j]), axis=1), axis=0)
    alpha = np.clip(M[pairs[:, 0], pairs[:, 1]], 0.0, 1.0)
    colors = np.zeros((pairs.shape[0], 4))
    colors[:, 3] = 0.6 * alpha
    segments = np.stack([X[pairs[:, 0]], X[pairs[:, 1]]], axis=1)
    ax.add_collection(LineCollection(list(segments), colors=colors, linewidths=0.4, zorder=1))


def _plot(path: str, rows: list[dict[str, Any]], fits: dict[tuple[str, str], Fitted],
          data_sets: dict[str, ToyData], methods: list[Method]) -> None:
    plt = pyplot()
    names = list(data_sets)
    fig, axes = plt.subplots(len(names), len(methods), figsize=(2.2 * len(methods), 2.2 * len(names)),
                             squeeze=False)
    ari = {(r["dataset"], r["method"]): r["ari"] for r in rows}
    for a, name in enumerate(names):
        data = data_sets[name]
        for b, method in enumerate(methods):
            ax = axes[a, b]
            fitted = fits[name, method.name]
            if "connectivity" in fitted.extra:
                _connectivity_edges(ax, data.X, fitted.extra["connectivity"])
            _scatter(ax, data.X, fitted.labels)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.text(0.98, 0.02, f"ARI {ari[name, method.name]:.2f}", transform=ax.transAxes,
                    ha="right", va="bottom", fontsize=7)
            if a == 0:
                ax.set_title(method.name, fontsize=9)
            if b == 0:
                ax.set_ylabel(name, fontsize=9)
    fig.suptitle("diffclust demo (perturbed: 6-NN edges drawn with opacity M_eps)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def run(args: argparse.Namespace) -> int:
    """Run ``diffclust demo``."""
    if args.n < 10:
        raise UsageError(f"--n must be at least 10, got {args.n}")
    if args.plot:
        pyplot()  # fail before the work if matplotlib is missing
    all_methods = available_methods()
    datasets = _choose(args.datasets, list(DATASETS), "data set")
    methods = [all_methods[m] for m in _choose(args.methods, list(all_methods), "method")]
    rows, fits, data_sets = run_grid(datasets, methods, args.n, args.seed, not args.no_progress)
    _print(rows, methods, args.n, args.seed)
    if args.json:
        try:
            with open(args.json, "w") as f:
                json.dump({"n": args.n, "seed": args.seed, "rows": rows}, f, indent=1)
        except OSError as err:
            raise UsageError(f"cannot write {args.json!r}: {err.strerror}") from None
    if args.plot:
        _plot(args.plot, rows, fits, data_sets, methods)
        print(f"plot written to {args.plot}")
    return 0
