"""The benchmark report: pytest-benchmark JSON in, markdown out (pure functions).

:func:`render_report` reads the JSON that ``pytest --benchmark-json`` writes (plus
the optional ``"diffclust_bench"`` block that ``diffclust bench`` adds: load
average, versions, the command) and returns the markdown of
``benchmarks/README.md``. It does no I/O, so it is tested on a small stored file.

How a benchmark becomes a table cell:

- kernel and n: the benchmark's ``group`` without its ``n=...`` token is the
  kernel (``"dense n=1000"`` -> kernel ``dense``, n = 1000; ``"forward n=64 B=100"``
  -> kernel ``forward B=100``, n = 64); a group without ``n=`` is a kernel with one
  row (n shown as "–");
- column: ``extra_info["library"]`` when the benchmark sets it, else the first
  known library named in the test function (``test_dense_scipy`` -> scipy); when a
  kernel has several functions of the same library, the rest of the function name
  tells them apart (``diffclust forward vjp kept``); ``n_threads`` (and kmedoids'
  ``n_cpu``) becomes ``, 2 thr``;
- cell: the median time in ms (3 significant digits);
- ratios: ``anchor median / best diffclust median`` of the row (so 5.0x means
  diffclust is five times faster), the best over diffclust's columns except
  "floor" benchmarks (the cost of drawing the noise alone) and those marked
  ``extra_info["reference"]`` (the forward beside the loss), shown for reference;
- paired ratios (``extra_info["ratio_median"]``, from benchmarks/_paired.py) are
  listed in a table of their own, and any other ``extra_info`` value (peak memory,
  losses, per-iteration times) in a table of recorded values;
- everything is grouped by benchmark file, each file introduced by its module
  docstring's first paragraphs when the JSON carries them.

:func:`plot_series` picks the log-log series (time against n) of the forest,
perturbed-forest and silhouette benchmarks (by file: bench_forest.py,
bench_perturbed.py, bench_silhouette.py).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["PLOT_FAMILIES", "format_ms", "format_ratio", "merge_runs", "parse_benchmark", "plot_series",
           "render_report"]

KNOWN_LIBRARIES = ("diffclust", "scipy", "fastcluster", "sklearn", "kmedoids", "numpy", "jaxclust",
                   "torch", "jax")
PLOT_FAMILIES = {"forest": "bench_forest", "perturbed": "bench_perturbed", "silhouette": "bench_silhouette",
                 "density": "bench_density"}
# extra_info keys that place a benchmark in a table; any other key is a recorded value
_LAYOUT_KEYS = frozenset({"library", "n", "n_threads", "n_cpu", "ratio_median", "rounds", "reference"})
_N_TOKEN = re.compile(r"(?:^|\s)n=([0-9][0-9.e+]*)(?=[\s,]|$)")


def format_ms(seconds: float) -> str:
    """A time in ms with 3 significant digits (``0.700``, ``5.22``, ``26.7``, ``555``)."""
    ms = seconds * 1e3
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    if ms >= 0.1:
        return f"{ms:.3f}"
    return f"{ms:.2g}"


def format_ratio(ratio: float) -> str:
    """``6.2×`` (one decimal from 1 up), ``0.85×`` below 1."""
    return f"{ratio:.1f}×" if ratio >= 1 else f"{ratio:.2f}×"


def _value(value: Any) -> str:
    """A recorded extra_info value: floats with 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def parse_benchmark(bench: Mapping[str, Any]) -> dict[str, Any]:
    """kernel, n, library, function, variant, file and median of one benchmark entry."""
    name = str(bench.get("name", ""))
    function = name.split("[", 1)[0]
    function = function.removeprefix("test_")
    group = bench.get("group") or function
    match = _N_TOKEN.search(group)
    n: int | float | None = None
    kernel = group
    if match:
        n = _number(match.group(1))
        kernel = (group[: match.start()] + " " + group[match.end():]).strip()
        kernel = re.sub(r"\s+", " ", kernel).strip(" ,") or group
    extra = bench.get("extra_info") or {}
    tokens = function.split("_")
    library = extra.get("library")
    if library is None:
        library = next((lib for lib in KNOWN_LIBRARIES if lib in tokens), function)
    params = bench.get("params") or {}
    variant = ""
    if "n_threads" in params:
        variant = f"{params['n_threads']} thr"
    elif "n_cpu" in params:
        variant = "all cores" if params["n_cpu"] in (-1, None) else f"{params['n_cpu']} thr"
    fullname = str(bench.get("fullname", ""))
    file = fullname.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py") if "::" in fullname else ""
    return {"kernel": kernel, "n": n, "library": str(library), "function": function, "variant": variant,
            "file": file, "floor": "floor" in tokens or bool(extra.get("reference")),
            "median": float(bench["stats"]["median"]),
            "ratio_median": extra.get("ratio_median"), "rounds": extra.get("rounds"), "name": name,
            "values": {k: v for k, v in extra.items() if k not in _LAYOUT_KEYS}}


def _label(entry: dict[str, Any], ambiguous: bool) -> str:
    label = str(entry["library"])
    if ambiguous:
        rest = [t for t in entry["function"].split("_") if t not in label.split(".")]
        if rest:
            label += " " + " ".join(rest)
    return label + (f", {entry['variant']}" if entry["variant"] else "")


def _columns(entries: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Column label -> its entries; diffclust's columns first, each group in first-seen order."""
    functions: dict[str, set[str]] = {}
    for e in entries:
        functions.setdefault(e["library"], set()).add(e["function"])
    columns: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        columns.setdefault(_label(e, len(functions[e["library"]]) > 1), []).append(e)
    items = list(columns.items())
    return sorted(items, key=lambda item: item[1][0]["library"] != "diffclust")


def _kernel_table(kernel: str, entries: list[dict[str, Any]]) -> list[str]:
    columns = _columns(entries)
    anchors = [label for label, es in columns if es[0]["library"] != "diffclust"]
    rows = sorted({e["n"] for e in entries}, key=lambda n: (n is None, n or 0))
    header = ["n", *[label for label, _ in columns], *[f"vs {a}" for a in anchors]]
    lines = [f"### {kernel}", "", "Medians in ms; *vs X* = X's median / diffclust's best median.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for n in rows:
        medians: dict[str, float] = {}
        for label, es in columns:
            for e in es:
                if e["n"] == n:
                    medians[label] = e["median"]
        ours = [medians[label] for label, es in columns
                if es[0]["library"] == "diffclust" and not es[0]["floor"] and label in medians]
        best = min(ours) if ours else None
        cells = ["–" if n is None else str(n)]
        cells += [format_ms(medians[label]) if label in medians else "–" for label, _ in columns]
        cells += [format_ratio(medians[a] / best) if best and a in medians else "–" for a in anchors]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def _run_files(data: Mapping[str, Any]) -> list[str]:
    files = []
    for bench in data.get("benchmarks", []):
        file = parse_benchmark(bench)["file"]
        if file and file not in files:
            files.append(file)
    return files


def _selection(run: Mapping[str, Any]) -> tuple[str, str]:
    """(the ``-k`` expression, the name of the part) of a run: both from its recorded
    command (the name from ``--out``) when it has one, else its first file's stem."""
    default = run["files"][0] if run["files"] else "bench"
    try:
        words = shlex.split(run.get("command") or "")
    except ValueError:
        words = []
    value = {flag: words[i + 1] for i, flag in enumerate(words[:-1]) if flag in ("-k", "--out")}
    name = Path(value["--out"]).stem if "--out" in value else default
    return value.get("-k", default), name


def _reproduce(runs: Sequence[Mapping[str, Any]], out: str = "benchmarks/README.md") -> str:
    """The shell commands that remake the report: the runs of whole files in one loop,
    a run of its own selection (e.g. one test of a file, which may need the environment
    its file's docstring names) on a line of its own, then the merge into `out`, each
    part once."""
    plain: list[str] = []
    own: list[tuple[str, str]] = []
    names: list[str] = []
    for run in runs:
        expression, name = _selection(run)
        if name in names:
            continue
        names.append(name)
        if expression == name:
            plain.append(name)
        else:
            own.append((expression, name))
    lines = []
    if plain:
        lines += [f"for f in {' '.join(plain)}; do",
                  "  diffclust bench -k $f --out parts/$f.md --json parts/$f.json --no-plots", "done"]
    if own:
        lines.append("# selections of their own: their file's docstring names the environment they need")
    lines += [f"diffclust bench -k {shlex.quote(e)} --out parts/{n}.md --json parts/{n}.json --no-plots"
              for e, n in own]
    lines.append("diffclust bench --from-json " + " ".join(f"parts/{n}.json" for n in names)
                 + f" --out {shlex.quote(out)}")
    return "\n".join(lines)


def merge_runs(parts: list[Mapping[str, Any]], out: str = "benchmarks/README.md") -> dict[str, Any]:
    """One report document from several ``diffclust bench`` JSON documents.

    The benchmarks are concatenated in the order given; the machine description,
    core count and versions are the first document's; each document becomes a
    run in ``diffclust_bench["runs"]`` (its command, date, load average and the
    benchmark files it holds), which :func:`render_report` lists under Machine.
    ``out`` is the report's path, named in the merge command of its Reproduce section.
    """
    first = parts[0]
    meta = dict(first.get("diffclust_bench") or {})
    runs: list[dict[str, Any]] = []
    files: dict[str, str] = {}
    versions: dict[str, str] = {}
    for part in parts:
        extra = part.get("diffclust_bench") or {}
        runs.append({"command": extra.get("command"), "datetime": part.get("datetime"),
                     "load_average": extra.get("load_average"), "files": _run_files(part)})
        files.update(extra.get("files") or {})
        versions.update(extra.get("versions") or {})
    command = _reproduce(runs, out)
    meta.update(runs=runs, files=files, versions=versions, command=command)
    meta.pop("load_average", None)
    return {"machine_info": first.get("machine_info"), "version": first.get("version"),
            "diffclust_bench": meta,
            "benchmarks": [bench for part in parts for bench in part.get("benchmarks", [])]}


def _load_text(load: Mapping[str, Any]) -> str:
    return ("load average (1, 5, 15 min) before the run: " + ", ".join(f"{v:.2f}" for v in load.get("before", []))
            + "; after: " + ", ".join(f"{v:.2f}" for v in load.get("after", [])))


def _machine(data: Mapping[str, Any]) -> list[str]:
    info = data.get("machine_info") or {}
    cpu = info.get("cpu") or {}
    extra = data.get("diffclust_bench") or {}
    load = extra.get("load_average")
    lines = ["## Machine", ""]
    lines.append(f"- CPU: {cpu.get('brand_raw') or info.get('processor') or 'unknown'}, "
                 f"{extra.get('cores') or cpu.get('count') or '?'} cores")
    if load:
        lines.append("- " + _load_text(load))
    system = " ".join(str(info.get(key, "")) for key in ("system", "release", "machine")).strip()
    if system:
        lines.append(f"- system: {system}")
    python = info.get("python_version")
    if python:
        lines.append(f"- Python {python} ({info.get('python_implementation', '')})".replace(" ()", ""))
    versions = extra.get("versions") or {}
    if versions:
        lines.append("- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    if data.get("datetime"):
        lines.append(f"- run: {data['datetime']}")
    for run in extra.get("runs") or []:
        where = ", ".join(run.get("files") or []) or "no benchmark"
        text = f"- run of {where}: {run.get('datetime') or 'date unknown'}"
        if run.get("load_average"):
            text += "; " + _load_text(run["load_average"])
        lines.append(text)
    return lines + [""]


def render_report(data: Mapping[str, Any], plots: Mapping[str, str] | None = None) -> str:
    """The markdown report of a pytest-benchmark JSON document.

    Parameters
    ----------
    data : mapping
        The parsed JSON of ``pytest --benchmark-json`` (``machine_info``,
        ``datetime``, ``benchmarks``), optionally with ``diffclust_bench``:
        ``{"load_average": {"before": [..3], "after": [..3]}, "cores": int,
        "versions": {name: version}, "command": str, "files": {stem: description}}``.
    plots : mapping of str to str, optional
        Family ("forest", "perturbed", "silhouette") -> image path, linked under
        "Growth with n".

    Returns
    -------
    str
        Markdown: title, how to reproduce, machine; then a section per benchmark
        file (in the order they ran; its description from ``diffclust_bench["files"]``
        when present) with one table per kernel, the paired ratios and the other
        recorded ``extra_info`` values; then the plots.
    """
    entries = [parse_benchmark(b) for b in data.get("benchmarks", [])]
    extra = data.get("diffclust_bench") or {}
    command = extra.get("command", "diffclust bench")
    descriptions: Mapping[str, str] = extra.get("files") or {}
    intro = ("Generated by `diffclust bench` from the pytest-benchmark suites in this directory: each "
             "table times diffclust beside the anchors installed on the machine, on the same data "
             "in the same run.")
    lines = ["# Benchmarks", "", intro, "",
             "## Reproduce", "", "```bash", "pip install '.[bench,cli]'", command, "```", "",
             ("One file only: `diffclust bench -k bench_forest` (a pytest `-k` expression); a report from "
             "a kept run: `diffclust bench --from-json FILE.json`. Anchors missing from the machine are "
             "left out of the tables; how to install the one that is not on PyPI (jaxclust): "
             "[docs/cli.md](../docs/cli.md#diffclust-bench)."), ""]
    lines += _machine(data)
    files: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        files.setdefault(e["file"] or "other", []).append(e)
    for file, file_entries in files.items():
        lines += [f"## {file}", ""]
        if descriptions.get(file):
            lines += [descriptions[file], ""]
        kernels: dict[str, list[dict[str, Any]]] = {}
        for e in file_entries:
            if e["ratio_median"] is None:
                kernels.setdefault(e["kernel"], []).append(e)
        for kernel, es in kernels.items():
            lines += _kernel_table(kernel, es)
        paired = [e for e in file_entries if e["ratio_median"] is not None]
        if paired:
            note = ("Each round times both calls back to back (benchmarks/_paired.py); the median of the "
                    "per-round ratios (first call's time / second call's; the test's docstring says which "
                    "calls).")
            lines += ["### Paired ratios", "", note, "", "| benchmark | ratio | rounds |", "|---|---|---|"]
            lines += [f"| {e['name']} | {e['ratio_median']:.3f} | {e['rounds'] or '–'} |" for e in paired]
            lines.append("")
        recorded = [e for e in file_entries if e["values"]]
        if recorded:
            lines += ["### Recorded values", "", "| benchmark | values |", "|---|---|"]
            lines += [f"| {e['name']} | " + ", ".join(f"{k} = {_value(v)}" for k, v in e["values"].items())
                      + " |" for e in recorded]
            lines.append("")
    if plots:
        lines += ["## Growth with n", "", "Median time against n, log-log.", ""]
        lines += [f"![{family}]({path})" for family, path in plots.items()]
        lines.append("")
    return "\n".join(lines)


def plot_series(data: Mapping[str, Any]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """Family -> series label -> [(n, median s)] sorted by n, for series with >= 2 sizes."""
    out: dict[str, dict[str, list[tuple[float, float]]]] = {}
    entries = [parse_benchmark(b) for b in data.get("benchmarks", [])]
    for family, file in PLOT_FAMILIES.items():
        chosen = [e for e in entries if e["file"] == file and e["n"] is not None and e["ratio_median"] is None]
        by_kernel: dict[str, list[dict[str, Any]]] = {}
        for e in chosen:
            by_kernel.setdefault(e["kernel"], []).append(e)
        series: dict[str, list[tuple[float, float]]] = {}
        for kernel, es in by_kernel.items():
            for label, col in _columns(es):
                points = sorted((float(e["n"]), e["median"]) for e in col)
                if len(points) >= 2:
                    series[f"{kernel}: {label}"] = points
        if series:
            out[family] = series
    return out
