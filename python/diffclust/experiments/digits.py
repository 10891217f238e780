"""The paper's semi-supervised experiment, scaled to scikit-learn's digits (offline).

An MLP embedding (64 -> 256 -> 64, ReLU) is trained on batches of 64 points (32
labelled + 32 unlabelled) with the partial Fenchel-Young loss
(:class:`diffclust.torch.PartialFYLoss`, k = 10, sigma = 1, B = 100), against the same
MLP (same initialisation) with a linear head trained by cross-entropy on batches of 32
labelled points. About 10 labels per class are available; in the second setting the
classes 0, 1, 2 have none. References: the raw pixels and the untrained network.

Splits, drawn per seed: 1000 training points (the labels come from them), 400
"probe" points on which a logistic-regression probe is fitted to the embeddings
(never trained on), and the remaining 397 test points on which every metric is scored.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from . import evaluation

__all__ = ["ARMS", "METRICS", "SETTINGS", "ArmScores", "Config", "DigitsResult", "SeedRun", "run"]

ARMS = ("pixels", "untrained", "cross_entropy", "partial_fy")
TRAINED_ARMS = ("cross_entropy", "partial_fy")
SETTINGS = ("all_classes", "unseen_classes")
METRICS = ("probe_accuracy", "ari", "coincidence_error", "unseen_probe_accuracy")


@dataclass(frozen=True)
class Config:
    """The experiment's free choices (the defaults are the documented configuration)."""

    seeds: tuple[int, ...] = (0, 1, 2)
    steps: int = 1500
    lr: float = 1e-3
    hidden: int = 256
    dim: int = 64
    batch_labelled: int = 32
    batch_unlabelled: int = 32
    labels_per_class: int = 10
    unseen: tuple[int, ...] = (0, 1, 2)
    k: int = 10
    sigma: float = 1.0
    n_samples: int = 100
    similarity: str = "sqeuclidean"
    standardize: bool = True
    n_train: int = 1000
    n_probe: int = 400
    test_batch: int = 64
    test_rounds: int = 4

    def __post_init__(self) -> None:
        if not self.seeds:
            raise ValueError("seeds must not be empty")
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.similarity not in ("sqeuclidean", "cosine", "dot"):
            raise ValueError(f"similarity must be 'sqeuclidean', 'cosine' or 'dot', got {self.similarity!r}")


@dataclass(frozen=True)
class ArmScores:
    """The metrics of one embedding on the test split (probe accuracies over all test
    points and over the test points of the never-labelled classes)."""

    probe_accuracy: float
    ari: float
    coincidence_error: float
    unseen_probe_accuracy: float


@dataclass(frozen=True)
class SeedRun:
    """One seed in one setting: scores per arm, training losses per step, and the test
    embeddings of the trained arms (for the plots)."""

    seed: int
    setting: str
    scores: dict[str, ArmScores]
    curves: dict[str, list[float]]
    embeddings: dict[str, NDArray[np.float32]] = field(repr=False)
    y_test: NDArray[np.intp] = field(repr=False)


@dataclass(frozen=True)
class DigitsResult:
    """All runs of the experiment and its wall time in seconds."""

    config: Config
    runs: list[SeedRun]
    wall_time: float

    def values(self, setting: str, arm: str, metric: str) -> list[float]:
        """The metric of one arm in one setting, one value per seed."""
        return [float(getattr(r.scores[arm], metric)) for r in self.runs if r.setting == setting]

    def summary(self, setting: str, arm: str, metric: str) -> tuple[float, float]:
        """Mean and (population) standard deviation over the seeds."""
        v = np.asarray(self.values(setting, arm, metric))
        return float(v.mean()), float(v.std())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready numbers: config, per setting/arm/metric the mean, std and values."""
        out: dict[str, Any] = {"config": asdict(self.config), "wall_time_s": self.wall_time,
                               "settings": {}}
        for setting in SETTINGS:
            arms: dict[str, Any] = {}
            for arm in ARMS:
                arms[arm] = {}
                for metric in METRICS:
                    mean, std = self.summary(setting, arm, metric)
                    arms[arm][metric] = {"mean": mean, "std": std,
                                         "values": self.values(setting, arm, metric)}
            curves = {arm: [r.curves[arm] for r in self.runs if r.setting == setting] for arm in TRAINED_ARMS}
            out["settings"][setting] = {"arms": arms, "loss_curves": curves}
        return out


class Progress(Protocol):
    """What the training loops report to (a progress bar, periodic lines, nothing)."""

    def start(self, description: str, total: int) -> None: ...
    def advance(self, loss: float) -> None: ...
    def stop(self) -> None: ...


class _Silent:
    def start(self, description: str, total: int) -> None:
        pass

    def advance(self, loss: float) -> None:
        pass

    def stop(self) -> None:
        pass


def load_digits() -> tuple[NDArray[np.float32], NDArray[np.intp]]:
    """scikit-learn's 1797 digits, pixels scaled to [0, 1] (bundled: no download)."""
    from sklearn.datasets import load_digits as sk_load

    data = sk_load()
    return (data.data / 16.0).astype(np.float32), data.target.astype(np.intp)


@dataclass(frozen=True)
class _Split:
    train: NDArray[np.intp]
    probe: NDArray[np.intp]
    test: NDArray[np.intp]


def _split(y: NDArray[np.intp], cfg: Config, seed: int) -> _Split:
    perm = np.random.default_rng([seed, 1]).permutation(y.size)
    a, b = cfg.n_train, cfg.n_train + cfg.n_probe
    if b >= y.size:
        raise ValueError(f"n_train + n_probe must leave test points ({y.size} digits)")
    return _Split(perm[:a], perm[a:b], perm[b:])


def _labelled(y: NDArray[np.intp], train: NDArray[np.intp], cfg: Config, seed: int,
              unseen: tuple[int, ...]) -> NDArray[np.intp]:
    """labels_per_class training points of each class not in ``unseen``."""
    rng = np.random.default_rng([seed, 2])
    picked = []
    for c in range(cfg.k):
        if c in unseen:
            continue
        members = train[y[train] == c]
        picked.append(rng.choice(members, size=min(cfg.labels_per_class, members.size), replace=False))
    return np.sort(np.concatenate(picked))


def run(cfg: Config | None = None, progress: Progress | None = None) -> DigitsResult:
    """Run the experiment (every seed, both settings, all arms).

    Parameters
    ----------
    cfg : Config, optional
        The configuration (default ``Config()``).
    progress : Progress, optional
        Receives ``start``/``advance``/``stop`` from each training loop.

    Returns
    -------
    DigitsResult
    """

    cfg = Config() if cfg is None else cfg
    progress = _Silent() if progress is None else progress
    t0 = time.perf_counter()
    X, y = load_digits()
    runs: list[SeedRun] = []
    with one_torch_thread():
        for seed in cfg.seeds:
            references: dict[str, ArmScores] = {}  # the same split and untrained net in both settings
            runs.extend(_run_seed(X, y, cfg, seed, setting, progress, references) for setting in SETTINGS)
    return DigitsResult(cfg, runs, time.perf_counter() - t0)


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """torch on one thread inside (a 64-point MLP is fastest so; the loss has its own pool)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _mlp(cfg: Config, seed: int) -> Any:
    import torch
    from torch import nn

    with torch.random.fork_rng():  # the initialisation of seed, without touching torch's global state
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(64, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, cfg.dim))


def _run_seed(X: NDArray[np.float32], y: NDArray[np.intp], cfg: Config, seed: int, setting: str,
              progress: Progress, references: dict[str, ArmScores]) -> SeedRun:
    import torch

    unseen = cfg.unseen if setting == "unseen_classes" else ()
    split = _split(y, cfg, seed)
    lab = _labelled(y, split.train, cfg, seed, unseen)
    unl = np.setdiff1d(split.train, lab)
    Xt = torch.from_numpy(X)
    yt = torch.from_numpy(y.astype(np.int64))

    curves: dict[str, list[float]] = {}
    models: dict[str, Any] = {"untrained": _mlp(cfg, seed)}
    tag = f"seed {seed}, {setting.replace('_', ' ')}"
    models["cross_entropy"], curves["cross_entropy"] = _train_ce(Xt, yt, lab, cfg, seed, progress,
                                                                 f"cross-entropy ({tag})")
    models["partial_fy"], curves["partial_fy"] = _train_pfy(Xt, yt, lab, unl, cfg, seed, progress,
                                                            f"partial FY    ({tag})")
    batches = evaluation.make_test_batches(split.test.size, cfg.test_batch, cfg.test_rounds, seed)
    y_test = y[split.test]
    scores: dict[str, ArmScores] = {}
    embeddings: dict[str, NDArray[np.float32]] = {}
    for arm in ARMS:
        if arm in references:
            scores[arm] = references[arm]
            continue
        if arm == "pixels":
            Z = X
        else:
            with torch.no_grad():
                Z = models[arm](Xt).numpy()
        Z_test = Z[split.test]
        acc, acc_unseen = evaluation.probe_accuracy(Z[split.probe], y[split.probe], Z_test, y_test,
                                                    cfg.unseen)
        bs = evaluation.batch_clustering_scores(Z_test, y_test, batches, cfg.k, cfg.similarity)
        scores[arm] = ArmScores(acc, bs.ari, bs.coincidence_error, acc_unseen)
        if arm not in TRAINED_ARMS:
            references[arm] = scores[arm]
        if arm in TRAINED_ARMS:
            embeddings[arm] = Z_test
    return SeedRun(seed, setting, scores, curves, embeddings, y_test)


def _train_ce(X: Any, y: Any, lab: NDArray[np.intp], cfg: Config, seed: int, progress: Progress,
              description: str) -> tuple[Any, list[float]]:
    import torch
    from torch import nn

    model = _mlp(cfg, seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed + 7919)
        head = nn.Linear(cfg.dim, cfg.k)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=cfg.lr)
    lab_t = torch.from_numpy(lab.astype(np.int64))
    m = min(cfg.batch_labelled, lab.size)
    losses: list[float] = []
    progress.start(description, cfg.steps)
    try:
        for _ in range(cfg.steps):
            idx = lab_t[torch.randperm(lab_t.numel(), generator=gen)[:m]]
            loss: Any = nn.functional.cross_entropy(head(model(X[idx])), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.detach().item())
            progress.advance(losses[-1])
    finally:
        progress.stop()
    return model, losses


def _train_pfy(X: Any, y: Any, lab: NDArray[np.intp], unl: NDArray[np.intp], cfg: Config, seed: int,
               progress: Progress, description: str) -> tuple[Any, list[float]]:
    import torch

    from ..torch import PartialFYLoss

    model = _mlp(cfg, seed)
    gen = torch.Generator().manual_seed(seed)
    loss_fn = PartialFYLoss(cfg.k, sigma=cfg.sigma, n_samples=cfg.n_samples, similarity=cfg.similarity,
                            standardize=cfg.standardize, generator=gen)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    lab_t = torch.from_numpy(lab.astype(np.int64))
    unl_t = torch.from_numpy(unl.astype(np.int64))
    m, u = min(cfg.batch_labelled, lab.size), min(cfg.batch_unlabelled, unl.size)
    unknown = torch.full((u,), -1, dtype=torch.int64)
    losses: list[float] = []
    progress.start(description, cfg.steps)
    try:
        for _ in range(cfg.steps):
            li = lab_t[torch.randperm(lab_t.numel(), generator=gen)[:m]]
            ui = unl_t[torch.randperm(unl_t.numel(), generator=gen)[:u]]
            idx = torch.cat([li, ui])
            loss = loss_fn(model(X[idx]), torch.cat([y[li], unknown]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.detach().item())
            progress.advance(losses[-1])
    finally:
        progress.stop()
    return model, losses
