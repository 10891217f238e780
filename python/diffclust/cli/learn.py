"""``diffclust learn``: the paper's semi-supervised experiment on scikit-learn's digits.

A thin layer over :func:`diffclust.experiments.digits.run`: parses the options, shows
progress (rich if installed, else a plain line every quarter of a loop), prints one
table per setting (mean ± std over the seeds), and optionally writes the numbers as
JSON and the plots (matplotlib).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any, TextIO

__all__ = ["register", "run"]

_QUICK = {"steps": 30, "seeds": 1, "test_rounds": 1}
_METRIC_HEADERS = {
    "probe_accuracy": "probe acc.",
    "ari": "batch ARI",
    "coincidence_error": "coinc. error",
    "unseen_probe_accuracy": "probe acc. 0-2",
}
_ARM_NAMES = {
    "pixels": "raw pixels",
    "untrained": "untrained MLP",
    "cross_entropy": "cross-entropy",
    "partial_fy": "partial FY (ours)",
}
_SETTING_NAMES = {
    "all_classes": "about 10 labels per class, all classes",
    "unseen_classes": "about 10 labels per class, digits 0-2 never labelled",
}


class _LearnError(Exception):
    """Reported in one line with exit status 2."""


def register(subparsers: Any) -> None:
    """Add the ``learn`` subcommand."""
    from ..experiments.digits import Config

    default = Config()
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "learn",
        help="the paper's semi-supervised experiment on scikit-learn's digits",
        description=(
            "Train an MLP embedding (64-256-64) on scikit-learn's digits with the partial "
            "Fenchel-Young loss (batches of 32 labelled + 32 unlabelled points, k=10, sigma=1, "
            "B=100; about 10 labels per class) against the same MLP trained with cross-entropy "
            "on the labelled points, also with digits 0-2 never labelled; report the linear-probe "
            "accuracy, the k-forest ARI and coincidence error on test batches of 64, over seeds. "
            "Needs diffclust[torch] and scikit-learn."
        ),
    )
    parser.add_argument("--seeds", type=int, default=len(default.seeds), help=f"number of seeds (0, 1, ...; default {len(default.seeds)})")
    parser.add_argument("--steps", type=int, default=None, help=f"training steps per arm (default {default.steps})")
    parser.add_argument("--lr", type=float, default=None, help=f"Adam learning rate (default {default.lr:g})")
    parser.add_argument("--quick", action="store_true",
                        help=f"{_QUICK['steps']} steps, one seed (a smoke test, not a result)")
    parser.add_argument("--json", metavar="OUT", help="write the numbers (per seed too) as JSON")
    parser.add_argument("--plot", metavar="DIR",
                        help="write learn_curves.png and learn_embeddings.png into DIR (matplotlib)")
    parser.add_argument("--no-progress", action="store_true", help="no progress output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``diffclust learn``; returns the exit status."""
    try:
        return _run(args)
    except _LearnError as err:
        print(f"diffclust learn: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("diffclust learn: interrupted", file=sys.stderr)
        return 130


def _require(module: str, what: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise _LearnError(what) from None


def _run(args: argparse.Namespace) -> int:
    _require("torch", "needs PyTorch: pip install 'diffclust[torch]'")
    _require("sklearn", "needs scikit-learn (the digits and the probe): pip install scikit-learn")
    if args.plot is not None:
        _require("matplotlib", "--plot needs matplotlib: pip install 'diffclust[cli]'")
    from ..experiments import digits

    seeds = _QUICK["seeds"] if args.quick else args.seeds
    if seeds < 1:
        raise _LearnError(f"--seeds must be at least 1, got {seeds}")
    options: dict[str, Any] = {"seeds": tuple(range(seeds))}
    if args.quick:
        options.update(steps=_QUICK["steps"], test_rounds=_QUICK["test_rounds"])
    if args.steps is not None:
        options["steps"] = args.steps
    if args.lr is not None:
        options["lr"] = args.lr
    try:
        cfg = digits.Config(**options)
    except ValueError as err:
        raise _LearnError(str(err)) from None

    progress = _Silent() if args.no_progress else _make_progress(sys.stderr)
    result = digits.run(cfg, progress)
    print_report(result, sys.stdout)
    if args.json is not None:
        with open(args.json, "w") as f:
            json.dump(_jsonable(result.to_dict()), f, indent=1)
        print(f"numbers written to {args.json}")
    if args.plot is not None:
        from ..experiments.digits_plots import save_plots

        for path in save_plots(result, args.plot):
            print(f"plot written to {path}")
    return 0


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def format_table(result: Any, setting: str) -> str:
    """One setting's table (markdown): arms x metrics, mean ± std over the seeds."""
    from ..experiments.digits import ARMS, METRICS

    header = ["", *(_METRIC_HEADERS[m] for m in METRICS)]
    rows = [header, ["---"] * len(header)]
    for arm in ARMS:
        cells = [_ARM_NAMES[arm]]
        for metric in METRICS:
            mean, std = result.summary(setting, arm, metric)
            cells.append("—" if math.isnan(mean) else f"{mean:.3f} ± {std:.3f}")
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for r in rows:
        if r[0] == "---":
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        else:
            lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    return "\n".join(lines)


def print_report(result: Any, out: TextIO) -> None:
    """The tables of every setting, with the configuration and the wall time."""
    from ..experiments.digits import SETTINGS

    cfg = result.config
    print(f"diffclust learn: scikit-learn digits, {len(cfg.seeds)} seed(s), {cfg.steps} steps per arm, "
          f"MLP 64-{cfg.hidden}-{cfg.dim}, Adam lr {cfg.lr:g}; loss: k={cfg.k}, sigma={cfg.sigma:g}, "
          f"B={cfg.n_samples}, {cfg.similarity} similarity{' (standardized)' if cfg.standardize else ''}",
          file=out)
    print("probe: logistic regression on 400 held-out points, scored on the test points; batch ARI and "
          f"coincidence error: exact k-forest (k={cfg.k}) of test batches of {cfg.test_batch}", file=out)
    for setting in SETTINGS:
        print(f"\n{_SETTING_NAMES[setting]} (mean ± std over seeds)", file=out)
        print(format_table(result, setting), file=out)
    print(f"\nwall time {result.wall_time:.1f} s", file=out)


class _Silent:
    def start(self, description: str, total: int) -> None:
        pass

    def advance(self, loss: float) -> None:
        pass

    def stop(self) -> None:
        pass


class _PlainProgress:
    """A line at each quarter of a loop (for pipes, logs and machines without rich)."""

    def __init__(self, out: TextIO) -> None:
        self.out, self.description, self.total, self.done, self.t0 = out, "", 0, 0, 0.0

    def start(self, description: str, total: int) -> None:
        self.description, self.total, self.done, self.t0 = description, total, 0, time.perf_counter()

    def advance(self, loss: float) -> None:
        self.done += 1
        if self.done == self.total or self.done % max(1, self.total // 4) == 0:
            print(f"  {self.description}: step {self.done}/{self.total}, loss {loss:.4g}, "
                  f"{time.perf_counter() - self.t0:.1f} s", file=self.out, flush=True)

    def stop(self) -> None:
        pass


class _RichProgress:
    """A rich progress bar per training loop, with the current loss (kept when done)."""

    def __init__(self, out: TextIO) -> None:
        from rich.console import Console

        self.console = Console(file=out)
        self.progress: Any = None
        self.task: Any = None

    def start(self, description: str, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(),
                                 console=self.console)
        self.progress.start()
        self.task = self.progress.add_task(description, total=total, loss="")

    def advance(self, loss: float) -> None:
        self.progress.update(self.task, advance=1, loss=f"{loss:.4g}")

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def _make_progress(out: TextIO) -> Any:
    if out.isatty():
        try:
            return _RichProgress(out)
        except ImportError:
            pass
    return _PlainProgress(out)
