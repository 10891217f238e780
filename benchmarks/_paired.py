"""Ratios of two calls timed back to back.

On a shared or virtual machine a busy spell lasts longer than one call, so two
pytest-benchmark tests run one after the other can see different machines. Here
each round times both calls back to back, in alternating order, and the ratio
reported is the median of the per-round ratios.
"""

from __future__ import annotations

import time
from typing import Any, Callable


def paired_ratio(numerator: Callable[[], Any], denominator: Callable[[], Any], seconds: float = 3.0,
                 min_rounds: int = 10) -> tuple[float, int]:
    """(median of time(numerator) / time(denominator) over the rounds, rounds)."""
    numerator()
    denominator()
    ratios: list[float] = []
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop or len(ratios) < min_rounds:
        swap = len(ratios) % 2 == 1
        first, second = (denominator, numerator) if swap else (numerator, denominator)
        t0 = time.perf_counter()
        first()
        t1 = time.perf_counter()
        second()
        t2 = time.perf_counter()
        top, bottom = (t2 - t1, t1 - t0) if swap else (t1 - t0, t2 - t1)
        ratios.append(top / bottom)
    ratios.sort()
    return ratios[len(ratios) // 2], len(ratios)


def report(benchmark: Any, what: str, ratio: float, rounds: int) -> None:
    """Record a paired ratio: under its description ``what`` (a test may report several;
    the report's table of recorded values names them) and as the test's ``ratio_median``
    (the last one reported)."""
    benchmark.extra_info[what] = round(ratio, 4)
    benchmark.extra_info["ratio_median"] = ratio
    benchmark.extra_info["rounds"] = rounds
    print(f"\n{what}: {ratio:.3f} (median of {rounds} paired rounds)")
