"""``diffclust bench``: run the benchmark suite against the installed anchors, write one report.

Design: the suite stays what it is, pytest-benchmark files under ``benchmarks/``
(each times diffclust and its anchors in the same run and checks the results).
The command runs them in a subprocess, ``python -m pytest FILES --benchmark-only
--benchmark-json=...`` (anchors that are not installed are skipped by the files'
own ``importorskip``), keeps the JSON, adds the machine's load average before and
after, the core count and the versions, and turns it into markdown with the pure
function :func:`diffclust.cli._report.render_report`; log-log plots of time against
n (forest, perturbed-forest and silhouette files) are written beside the report
when matplotlib is installed.

``--from-json`` also takes several JSON files, runs of different files (e.g. one
``-k`` selection per file, each on a quiet moment): :func:`diffclust.cli._report.merge_runs`
joins them and the report gives each run's date and load average.

``--quick`` runs a tiny subset (the smallest size of the forest and perturbed
files, one thread count) for a smoke test; ``--from-json`` re-renders a report from
a kept JSON file without running anything (how the lead rebuilds
benchmarks/README.md from a run on a quiet machine).

The suite is not in the wheel: the command looks for ``benchmarks/`` in the current
directory and above the installed package (an editable install), or takes
``--suite DIR``.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from ._errors import UsageError
from ._output import progress, pyplot, save_figure
from ._report import merge_runs, plot_series, render_report

__all__ = ["describe", "find_suite", "register", "run"]

QUICK_FILES = ("bench_forest.py", "bench_perturbed.py")
QUICK_SELECTION = "(dense and 1000] and not 2-1000]) or (forward and 64-100] and not 2-64)"
VERSIONED = ("diffclust", "numpy", "scipy", "scikit-learn", "fastcluster", "kmedoids", "jax", "jaxclust",
             "torch", "pytest-benchmark")
COMMAND_STARTS = (" ", "\t", "pytest ", "python ", "pip ", "diffclust ", "```", "$ ")
_PERCENT = re.compile(r"\[\s*(\d+)%\]\s*$")


def register(subparsers: Any) -> None:
    """Add the ``bench`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bench",
        help="run the benchmark suite against the installed anchors and write one report",
        description="Run benchmarks/bench_*.py (pytest-benchmark) and write a markdown report: a table "
        "per kernel, diffclust beside each installed anchor, and log-log plots of time against n.",
    )
    parser.add_argument("--suite", metavar="DIR", help="the benchmarks directory (default: found)")
    parser.add_argument("--quick", action="store_true", help="a tiny run (smoke test)")
    parser.add_argument("-k", dest="select", metavar="EXPR", help="pytest -k selection within the suite")
    parser.add_argument("--out", default="benchmark-report.md", help="report path (default %(default)s)")
    parser.add_argument("--json", metavar="FILE", help="keep the raw JSON here (default: beside --out)")
    parser.add_argument("--from-json", metavar="FILE", nargs="+",
                        help="render a report from kept JSON files (several: runs of different files, merged "
                        "in the order given; the merged JSON is written to --json); run nothing")
    parser.add_argument("--no-plots", action="store_true", help="no log-log plots")
    parser.set_defaults(func=run)


def find_suite(explicit: str | None) -> Path:
    """The benchmarks directory: ``explicit``, else ./benchmarks, else one above the package."""
    if explicit is not None:
        path = Path(explicit)
        if not (path.is_dir() and any(path.glob("bench_*.py"))):
            raise UsageError(f"--suite {explicit}: not a directory holding bench_*.py files")
        return path
    here = Path(__file__).resolve()
    for candidate in [Path.cwd() / "benchmarks", *(p / "benchmarks" for p in here.parents)]:
        if candidate.is_dir() and (candidate / "_paired.py").exists():
            return candidate
    raise UsageError("no benchmarks/ directory found (it is not in the wheel): "
                     "run from a source checkout or pass --suite DIR")


def describe(path: Path, paragraphs: int = 2) -> str:
    """The first paragraphs of a benchmark file's module docstring, each on one line.

    Stops before a command block (indented, or starting with pytest, python, pip, ...)
    and drops a last paragraph that only leads into a list; empty when the
    file has no docstring or does not parse.
    """
    try:
        doc = ast.get_docstring(ast.parse(path.read_text()))
    except (OSError, SyntaxError, ValueError):
        return ""
    kept: list[str] = []
    for block in (doc or "").split("\n\n"):
        if len(kept) == paragraphs or not block.strip() or block.startswith(COMMAND_STARTS):
            break
        lines = [line.strip() for line in block.splitlines()]
        if any(line.startswith("- ") for line in lines):  # a list: one item per line
            items: list[str] = []
            for line in lines:
                if line.startswith("- ") or not items:
                    items.append(line)
                else:
                    items[-1] += " " + line
            kept.append("\n".join(items))
        else:
            kept.append(" ".join(lines))
    if len(kept) > 1 and kept[-1].endswith(":"):  # the lead-in of a list left out
        kept.pop()
    return "\n\n".join(kept)


def _versions() -> dict[str, str]:
    found = {}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _load() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return []


def _files(suite: Path, args: argparse.Namespace) -> list[Path]:
    return [suite / f for f in QUICK_FILES] if args.quick else sorted(suite.glob("bench_*.py"))


def _run_suite(suite: Path, args: argparse.Namespace, json_path: Path) -> tuple[int, str]:
    files = _files(suite, args)
    selection = [s for s in (QUICK_SELECTION if args.quick else None, args.select) if s]
    command = [sys.executable, "-m", "pytest", *map(str, files), "--benchmark-only",
               f"--benchmark-json={json_path}", "-v", "-p", "no:randomly", "-p", "no:cacheprovider",
               "--benchmark-columns=median"]
    if selection:
        command += ["-k", " and ".join(f"({s})" for s in selection)]
    tail: list[str] = []
    done = 0
    with progress(100, "bench") as advance:
        # an xdist worker's variables would make pytest-benchmark disable itself in the child
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                cwd=suite.parent, env=env)
        assert proc.stdout is not None
        for line in proc.stdout:
            tail = (tail + [line.rstrip()])[-30:]
            match = _PERCENT.search(line)
            if match:
                percent = int(match.group(1))
                advance(line.split("::")[-1].split(" ")[0][:50], percent - done)
                done = percent
        status = proc.wait()
    return status, "\n".join(tail)


def _plots(data: dict[str, Any], out: Path) -> dict[str, str]:
    series = plot_series(data)
    if not series:
        return {}
    plt = pyplot("the bench plots")
    written = {}
    for family, lines in series.items():
        fig, ax = plt.subplots(figsize=(6, 4.2))
        for label, points in lines.items():
            ns, ts = zip(*points)
            ax.loglog(ns, [1e3 * t for t in ts], marker="o", markersize=3, label=label,
                      linestyle="-" if label.split(": ", 1)[1].startswith("diffclust") else "--")
        ns_all = sorted({n for points in lines.values() for n, _ in points})
        first = next(iter(lines.values()))
        guide = [1e3 * first[0][1] * (n / first[0][0]) ** 2 for n in ns_all]
        ax.loglog(ns_all, guide, color="grey", linestyle=":", linewidth=1, label="∝ n² (guide)")
        ax.set_xlabel("n")
        ax.set_ylabel("median time (ms)")
        ax.set_title(f"{family}: time against n (log-log)", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
        path = out.with_name(f"{out.stem}_{family}.png")
        save_figure(fig, str(path))
        written[family] = path.name
    return written


def _refresh_descriptions(data: dict[str, Any], suite_arg: str | None) -> None:
    """Re-read the files' descriptions from the suite, when it is found, for a re-rendered report."""
    try:
        suite = find_suite(suite_arg)
    except UsageError:
        return
    meta = data.setdefault("diffclust_bench", {})
    files = dict(meta.get("files") or {})
    for stem in list(files) or [p.stem for p in suite.glob("bench_*.py")]:
        if (suite / f"{stem}.py").exists():
            files[stem] = describe(suite / f"{stem}.py")
    meta["files"] = files


def _mkdir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create {path}: {err.strerror}") from None


def run(args: argparse.Namespace) -> int:
    """Run ``diffclust bench``."""
    out = Path(args.out)
    status = 0
    if args.from_json:
        parts = []
        for name in args.from_json:
            try:
                parts.append(json.loads(Path(name).read_text()))
            except (OSError, ValueError) as err:
                raise UsageError(f"cannot read {name}: {err}") from None
        data = parts[0]
        if len(parts) > 1:
            data = merge_runs(parts, str(args.out))
            json_path = Path(args.json) if args.json else out.with_suffix(".json")
            _mkdir(json_path.parent)
            try:
                json_path.write_text(json.dumps(data, indent=1))
            except OSError as err:
                raise UsageError(f"cannot write {json_path}: {err.strerror}") from None
        _refresh_descriptions(data, args.suite)
    else:
        if importlib.util.find_spec("pytest_benchmark") is None:
            raise UsageError("diffclust bench needs pytest-benchmark: pip install 'diffclust[bench]'")
        suite = find_suite(args.suite)
        json_path = Path(args.json) if args.json else out.with_suffix(".json")
        _mkdir(json_path.parent)
        before = _load()
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "bench.json"
            status, tail = _run_suite(suite, args, raw)
            if status == 5 or not raw.exists():
                raise UsageError("no benchmark ran (nothing selected, or pytest failed to start):\n" + tail)
            data = json.loads(raw.read_text())
        if status != 0:
            print(f"diffclust bench: some benchmarks failed (pytest status {status}); the report holds "
                  f"the others. pytest's last lines:\n{tail}", file=sys.stderr)
            status = 1
        words = ["diffclust bench"] + (["--quick"] if args.quick else []) + (
            ["-k", repr(args.select)] if args.select else []) + ["--out", str(out)]
        data["diffclust_bench"] = {"load_average": {"before": before, "after": _load()},
                                   "cores": _cores(), "versions": _versions(), "command": " ".join(words),
                                   "files": {f.stem: describe(f) for f in _files(suite, args)}}
        try:
            json_path.write_text(json.dumps(data, indent=1))
        except OSError as err:
            raise UsageError(f"cannot write {json_path}: {err.strerror}") from None
    _mkdir(out.parent)
    plots: dict[str, str] = {}
    if not args.no_plots and importlib.util.find_spec("matplotlib") is not None:
        plots = _plots(data, out)
    try:
        out.write_text(render_report(data, plots))
    except OSError as err:
        raise UsageError(f"cannot write {out}: {err.strerror}") from None
    n = len(data.get("benchmarks", []))
    print(f"report of {n} benchmarks written to {out}" + (f" (plots: {', '.join(plots.values())})"
                                                          if plots else ""))
    return status
