"""OPTICS's xi cluster extraction from a reachability plot (private).

Ankerst, Breunig, Kriegel and Sander (1999), section 4.3: a cluster starts in
a *steep down area* and ends in a *steep up area* of the reachability plot,
where a point is steep down when r(p) / r(p + 1) >= 1 / (1 - xi) and steep up
when r(p) / r(p + 1) <= 1 - xi. The reading is scikit-learn's
``cluster_optics_xi`` (so that labels agree with it on the same ordering and
reachability), which differs from the paper in three documented places:

- Definition 9 (steep downward point) uses r(p) * (1 - xi) >= r(p + 1);
- Definition 11, 4c, moves the cluster's end left while r(x) > r(start of D);
- an ``inf`` is appended to the plot, so that a cluster may end at the last point;
- optionally, the *predecessor correction*: a candidate (s, e) loses its last
  points while r(s) <= r(e) and the predecessor of e is not in [s, e).

A steep area may contain at most ``min_samples`` consecutive points that are
not steep (in the same direction) and it stops at the first point going the
other way. Candidates shorter than ``min_cluster_size`` are dropped. Labels
take the clusters in the order found (for one steep up area, the smaller,
later-starting candidates first) and give a label to a cluster only if none
of its points is labelled yet: the leaves of the hierarchy win.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["xi_clusters", "xi_extract", "xi_labels"]


def _area_end(steep: NDArray[np.bool_], against: NDArray[np.bool_], first: int, min_samples: int) -> int:
    """Last steep index of the area starting at ``first``: it grows while fewer than
    ``min_samples + 1`` consecutive non-steep points follow and no point goes against."""
    last = first
    flat = 0
    for k in range(first, steep.shape[0]):
        if steep[k]:
            last, flat = k, 0
        elif against[k]:
            break
        else:
            flat += 1
            if flat > min_samples:
                break
    return last


class _Down:
    """A steep down area [start, end] and the largest reachability seen after it (mib)."""

    __slots__ = ("end", "mib", "start")

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end, self.mib = start, end, 0.0


def xi_clusters(
    reach_plot: NDArray[np.float64],
    pred_plot: NDArray[np.intp],
    ordering: NDArray[np.intp],
    xi: float,
    min_samples: int,
    min_cluster_size: int,
    predecessor_correction: bool,
) -> NDArray[np.intp]:
    """Clusters as rows (start, end) of positions in the ordering, inclusive."""
    r = np.append(np.asarray(reach_plot, dtype=np.float64), np.inf)
    keep = 1.0 - xi
    with np.errstate(invalid="ignore", divide="ignore"):
        q = r[:-1] / r[1:]
    up_steep, down_steep = q <= keep, q >= 1.0 / keep
    goes_down, goes_up = q > 1.0, q < 1.0
    position = {int(p): k for k, p in enumerate(ordering.tolist())}
    rl = r.tolist()
    downs: list[_Down] = []
    found: list[tuple[int, int]] = []
    resume = 0
    mib = 0.0

    def prune(level: float) -> list[_Down]:
        # areas whose start is not xi-higher than the level reached since are dropped
        if np.isinf(level):
            return []
        kept = [a for a in downs if level <= rl[a.start] * keep]
        for a in kept:
            a.mib = max(a.mib, level)
        return kept

    for s in np.flatnonzero(up_steep | down_steep).tolist():
        if s < resume:
            continue
        mib = max(mib, max(rl[resume : s + 1]))
        downs = prune(mib)
        if down_steep[s]:
            end = _area_end(down_steep, goes_up, s, min_samples)
            downs.append(_Down(s, end))
            resume = end + 1
            mib = rl[resume]
            continue
        u_end = _area_end(up_steep, goes_down, s, min_samples)
        resume = u_end + 1
        mib = rl[resume]
        after = rl[u_end + 1]
        here: list[tuple[int, int]] = []
        for a in downs:
            if after * keep < a.mib:
                continue
            lo, hi = a.start, u_end
            top = rl[a.start]
            if top * keep >= after:  # the start is xi-higher: move the start right
                while lo < a.end and rl[lo + 1] > after:
                    lo += 1
            elif after * keep >= top:  # the end is xi-higher: move the end left
                while hi > s and rl[hi - 1] > top:
                    hi -= 1
            if predecessor_correction:
                fixed = _predecessor_fix(rl, pred_plot, position, lo, hi)
                if fixed is None:
                    continue
                lo, hi = fixed
            if hi - lo + 1 < min_cluster_size or lo > a.end or hi < s:
                continue
            here.append((lo, hi))
        found.extend(reversed(here))
    return np.asarray(found, dtype=np.intp).reshape(-1, 2)


def _predecessor_fix(
    rl: list[float], pred_plot: NDArray[np.intp], position: dict[int, int], lo: int, hi: int
) -> tuple[int, int] | None:
    """Shrink the end while the end's predecessor lies outside [lo, hi) (and r(lo) <= r(hi))."""
    while lo < hi:
        if rl[lo] > rl[hi]:
            return lo, hi
        k = position.get(int(pred_plot[hi]), -1)
        if lo <= k < hi:
            return lo, hi
        hi -= 1
    return None


def xi_labels(ordering: NDArray[np.intp], clusters: NDArray[np.intp]) -> NDArray[np.intp]:
    """Point labels from the clusters in the order found: a cluster is labelled only
    if none of its positions is labelled yet; -1 for the rest."""
    lab = np.full(ordering.shape[0], -1, dtype=np.intp)
    nxt = 0
    for lo, hi in clusters.tolist():
        if (lab[lo : hi + 1] == -1).all():
            lab[lo : hi + 1] = nxt
            nxt += 1
    out = np.empty_like(lab)
    out[ordering] = lab
    return out


def xi_extract(
    reachability: NDArray[Any],
    predecessor: NDArray[Any],
    ordering: NDArray[Any],
    min_samples: int,
    min_cluster_size: int,
    xi: float,
    predecessor_correction: bool,
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """(labels by point, cluster hierarchy rows (start, end) in ordering positions)."""
    order = np.asarray(ordering, dtype=np.intp)
    plot = np.asarray(reachability, dtype=np.float64)[order]
    preds = np.asarray(predecessor, dtype=np.intp)[order]
    clusters = xi_clusters(plot, preds, order, xi, min_samples, min_cluster_size, predecessor_correction)
    return xi_labels(order, clusters), clusters
