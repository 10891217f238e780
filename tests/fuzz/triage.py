#!/usr/bin/env python3
"""Group the findings of a fuzz run by cause and print one reproducer for each.

    python tests/fuzz/triage.py build/fuzz/artifacts [--limit N]

Runs every crash-*/timeout-*/oom-* input again through fuzz_core.py (in the
environment it is given: run it with the same LD_PRELOAD / ASAN_OPTIONS as the
fuzzer, and the same DIFFCLUST_FUZZ_ONLY / DIFFCLUST_FUZZ_SKIP, which decide the
entry point an input decodes to), reads the report and groups the inputs by (kind of report, first stack
frame in csrc/) or, for a Python exception, by (entry point, exception type).
For each group: how many inputs, which entry points, and the smallest input's call
as a Python snippet.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import re
import subprocess
import sys
from pathlib import Path

HARNESS = Path(__file__).with_name("fuzz_core.py")
CALL = re.compile(r"^((?:_testing\.)?\w+)\((.*)\)$")


def run(path: Path, repro: bool, timeout: float) -> str:
    env = dict(os.environ, DIFFCLUST_FUZZ_VERBOSE="1", DIFFCLUST_FUZZ_REPRO="1" if repro else "0")
    try:
        out = subprocess.run([sys.executable, str(HARNESS), str(path), f"-timeout={int(timeout)}"],
                             env=env, capture_output=True, text=True, timeout=timeout + 30, check=False)
        return out.stderr + out.stdout
    except subprocess.TimeoutExpired as e:
        return (e.stderr or b"").decode(errors="replace") + "\nTIMEOUT (triage)\n"


def entry_points(paths: list[Path]) -> list[str]:
    """The entry point each input calls (decoded without making the calls: one process)."""
    env = dict(os.environ, DIFFCLUST_FUZZ_DRYRUN="1")
    funcs: dict[str, str] = {}
    for i in range(0, len(paths), 500):
        chunk = paths[i:i + 500]
        out = subprocess.run([sys.executable, str(HARNESS), *map(str, chunk)], env=env,
                             capture_output=True, text=True, check=False).stderr
        current = None
        for line in out.splitlines():
            if line.startswith("Running: "):
                current = line[len("Running: "):].strip()
            elif line.startswith("CALL ") and current:
                funcs[current] = line[5:].strip()
    return [funcs.get(str(p), "?") for p in paths]


def classify(text: str) -> tuple[str, str, str]:
    """(entry point, kind, where) of one report."""
    func = "?"
    for line in text.splitlines():
        m = CALL.match(line.strip())
        if m and not line.startswith(("Running", "INFO", "import")):
            func = m.group(1)
            break
    where = ""
    for line in text.splitlines():
        m = re.search(r"(csrc/[\w/.]+:\d+)", line)
        if m and re.match(r"\s*#\d+", line):
            where = m.group(1)
            break
    m = re.search(r"ERROR: AddressSanitizer: ([\w-]+)", text)
    if m:
        return func, "ASan " + m.group(1), where
    m = re.search(r"runtime error: (.*)", text)
    if m:
        msg = re.sub(r"-?\d+", "N", m.group(1))[:90]
        loc = re.search(r"(csrc/[\w/.]+:\d+):\d+: runtime error", text)
        return func, "UBSan " + msg, loc.group(1) if loc else where
    m = re.search(r"finding: .* raised (\w+): (.*)", text)
    if m:
        return func, "exception " + m.group(1) + ": " + re.sub(r"-?\d+", "N", m.group(2))[:90], ""
    if "timeout" in text.lower():
        return func, "timeout", where
    if "out-of-memory" in text:
        return func, "out-of-memory", where
    m = re.search(r"(deadly signal|Segmentation fault|Aborted|munmap_chunk\(\): invalid pointer|free\(\): .*)", text)
    if m:
        return func, m.group(1), where
    return func, "no report (does not reproduce?)", where


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("artifacts", type=Path)
    ap.add_argument("--limit", type=int, default=0, help="triage at most N inputs per entry point")
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()
    paths = sorted(p for p in args.artifacts.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-", "slow-")))
    total = len(paths)
    if args.limit and total > args.limit:  # keep every entry point: at most `limit` inputs for each
        by_func = collections.defaultdict(list)
        for path, func in zip(paths, entry_points(paths)):
            by_func[func].append(path)
        paths = []
        for _, ps in sorted(by_func.items()):
            paths += random.Random(0).sample(ps, min(len(ps), args.limit))
    groups: dict[tuple[str, str], list[tuple[int, Path, str]]] = collections.defaultdict(list)
    for p in paths:
        func, kind, where = classify(run(p, False, args.timeout))
        base = re.sub(r"_f(32|64)(_i(32|64))?$", "", func)
        key = (kind, where) if where else (kind, base)
        groups[key].append((p.stat().st_size, p, func))
    print(f"{total} inputs, {len(paths)} triaged, {len(groups)} groups\n")
    for (kind, where), items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        funcs = sorted({f for _, _, f in items})
        _, smallest, _ = min(items)
        print(f"== {kind} at {where}: {len(items)} inputs; entry points: {', '.join(funcs)}")
        print(f"   smallest: {smallest}")
        text = run(smallest, True, args.timeout)
        snippet = [ln for ln in text.splitlines()
                   if ln.startswith(("import ", "nan, inf", "a", "core."))
                   and not ln.startswith(("artifact", "AddressSanitizer"))]
        print("   " + "\n   ".join(snippet[:12]))
        print()


if __name__ == "__main__":
    main()
