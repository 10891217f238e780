"""Compare two pytest-benchmark JSON files (before, after) benchmark by benchmark.

    pytest benchmarks -k diffclust --benchmark-only --benchmark-json=before.json  # old build
    pytest benchmarks -k diffclust --benchmark-only --benchmark-json=after.json   # new build
    python benchmarks/compare.py before.json after.json

Prints the median of each benchmark present in both files and the ratio
after / before (below 1: faster now), as a Markdown table.
"""

from __future__ import annotations

import json
import sys


def medians(path: str) -> dict[str, float]:
    with open(path) as f:
        data = json.load(f)
    return {b["fullname"].split("::", 1)[1]: b["stats"]["median"] for b in data["benchmarks"]}


def main(before: str, after: str) -> None:
    old, new = medians(before), medians(after)
    print("| benchmark | before (ms) | after (ms) | after / before |")
    print("|---|---:|---:|---:|")
    for name in sorted(old.keys() & new.keys()):
        print(f"| {name} | {old[name] * 1e3:.3f} | {new[name] * 1e3:.3f} | {new[name] / old[name]:.2f} |")
    for name in sorted(old.keys() ^ new.keys()):
        print(f"| {name} | {'only before' if name in old else 'only after'} | | |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
