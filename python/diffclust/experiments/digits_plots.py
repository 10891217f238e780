"""Plots of the digits experiment (matplotlib, the ``cli`` extra)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .digits import SETTINGS, TRAINED_ARMS, DigitsResult

__all__ = ["plot_curves", "plot_embeddings", "save_plots"]

_ARM_TITLES = {"cross_entropy": "cross-entropy (linear head)", "partial_fy": "partial Fenchel-Young"}
_SETTING_TITLES = {"all_classes": "all classes labelled", "unseen_classes": "digits 0-2 never labelled"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _smooth(v: NDArray[np.float64], window: int) -> NDArray[np.float64]:
    window = max(1, min(window, v.size))
    c = np.cumsum(np.insert(v, 0, 0.0))
    out: NDArray[np.float64] = (c[window:] - c[:-window]) / window
    return out


def pca_2d(Z: NDArray[np.floating]) -> NDArray[np.float64]:
    """Projection of the rows of Z on their first two principal axes."""
    Zc = np.asarray(Z, dtype=np.float64)
    Zc = Zc - Zc.mean(0)
    _, _, vt = np.linalg.svd(Zc, full_matrices=False)
    out: NDArray[np.float64] = Zc @ vt[:2].T
    return out


def plot_curves(result: DigitsResult, path: str) -> None:
    """Training loss per step of both arms (one panel per arm; a line per setting and seed,
    the raw values faint and a moving average of 25 steps on top)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(TRAINED_ARMS), figsize=(11, 4))
    colors = {"all_classes": "tab:blue", "unseen_classes": "tab:orange"}
    for ax, arm in zip(axes, TRAINED_ARMS):
        for setting in SETTINGS:
            for i, r in enumerate(x for x in result.runs if x.setting == setting):
                v = np.asarray(r.curves[arm], dtype=np.float64)
                ax.plot(np.arange(1, v.size + 1), v, color=colors[setting], alpha=0.12, lw=0.6)
                s = _smooth(v, 25)
                ax.plot(np.arange(v.size - s.size + 1, v.size + 1), s, color=colors[setting], lw=1.2,
                        label=f"{_SETTING_TITLES[setting]}" if i == 0 else None)
        ax.set_title(_ARM_TITLES[arm])
        ax.set_xlabel("step")
        ax.set_ylabel("training loss (batch)")
        ax.legend(fontsize=8)
    fig.suptitle(f"diffclust learn: training losses ({len(result.config.seeds)} seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_embeddings(result: DigitsResult, path: str) -> None:
    """PCA of the test embeddings of both arms for the first seed, colored by digit
    (rows: settings; in the second row the never-labelled digits are drawn as crosses)."""
    plt = _pyplot()
    seed = result.config.seeds[0]
    fig, axes = plt.subplots(len(SETTINGS), len(TRAINED_ARMS), figsize=(10, 9))
    cmap = plt.get_cmap("tab10")
    for row, setting in enumerate(SETTINGS):
        run = next(r for r in result.runs if r.setting == setting and r.seed == seed)
        for col, arm in enumerate(TRAINED_ARMS):
            ax = axes[row][col]
            P = pca_2d(run.embeddings[arm])
            for c in range(result.config.k):
                m = run.y_test == c
                unseen = setting == "unseen_classes" and c in result.config.unseen
                ax.scatter(P[m, 0], P[m, 1], s=12 if unseen else 8, color=cmap(c % 10),
                           marker="x" if unseen else "o", label=str(c), linewidths=0.8)
            ari = run.scores[arm].ari
            ax.set_title(f"{_ARM_TITLES[arm]}\n{_SETTING_TITLES[setting]} (batch ARI {ari:.2f})",
                         fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0][-1].legend(title="digit", fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(f"diffclust learn: PCA of the test embeddings (seed {seed})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_plots(result: DigitsResult, directory: str) -> list[str]:
    """Write ``learn_curves.png`` and ``learn_embeddings.png`` into directory (created)."""
    os.makedirs(directory, exist_ok=True)
    paths = [os.path.join(directory, "learn_curves.png"), os.path.join(directory, "learn_embeddings.png")]
    plot_curves(result, paths[0])
    plot_embeddings(result, paths[1])
    return paths
