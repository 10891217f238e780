"""``diffclust learn``: the command runs, the partial-FY arm learns, the metrics are right.

The metrics are checked against independent computations: the coincidence error
against a brute-force pair count, the probe against scikit-learn called directly, the
batch ARI against SciPy's single linkage and scikit-learn's ARI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from itertools import combinations

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score as sk_ari
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

pytest.importorskip("torch")

from diffclust.cli import main
from diffclust.experiments import digits, evaluation

QUICK = digits.Config(seeds=(0,), steps=30, test_rounds=1)


@pytest.fixture(scope="module")
def quick_result() -> digits.DigitsResult:
    return digits.run(QUICK)


def brute_coincidence(p, t):
    pairs = list(combinations(range(len(p)), 2))
    return sum((p[i] == p[j]) != (t[i] == t[j]) for i, j in pairs) / len(pairs)


@pytest.mark.parametrize("seed", range(5))
def test_coincidence_error_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 40))
    p, t = rng.integers(0, 4, n), rng.integers(0, 5, n)
    assert evaluation.coincidence_error(p, t) == pytest.approx(brute_coincidence(p, t), abs=1e-15)
    # relabelling either side changes nothing; identical partitions give 0
    assert evaluation.coincidence_error(p, p[::-1][::-1] + 7) == 0.0


def test_coincidence_error_checks_lengths():
    with pytest.raises(ValueError, match="same length"):
        evaluation.coincidence_error(np.zeros(3, int), np.zeros(4, int))


def test_probe_accuracy_matches_sklearn():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4, 6))
    y_fit, y_test = rng.integers(0, 4, 120), rng.integers(0, 4, 80)
    Z_fit = centers[y_fit] + rng.normal(size=(120, 6))
    Z_test = centers[y_test] + rng.normal(size=(80, 6))
    acc, acc_sub = evaluation.probe_accuracy(Z_fit, y_fit, Z_test, y_test, (0, 2))
    ref = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(Z_fit, y_fit)
    pred = ref.predict(Z_test)
    assert acc == np.mean(pred == y_test)
    mask = (y_test == 0) | (y_test == 2)
    assert acc_sub == np.mean(pred[mask] == y_test[mask])
    assert np.isnan(evaluation.probe_accuracy(Z_fit, y_fit, Z_test, y_test)[1])


def test_batch_scores_match_scipy_single_linkage():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 5, 200)
    Z = 3 * rng.normal(size=(5, 4))[y] + rng.normal(size=(200, 4))
    batches = evaluation.make_test_batches(200, 64, 2, seed=3)
    assert len(batches) == 6 and all(b.size == 64 for b in batches)
    aris, errs = [], []
    for idx in batches:
        ref = fcluster(linkage(Z[idx], "single", metric="sqeuclidean"), t=5, criterion="maxclust")
        aris.append(sk_ari(y[idx], ref))
        errs.append(brute_coincidence(ref, y[idx]))
    got = evaluation.batch_clustering_scores(Z, y, batches, 5)
    assert got.ari == pytest.approx(np.mean(aris), abs=1e-12)
    assert got.coincidence_error == pytest.approx(np.mean(errs), abs=1e-12)


def test_partial_fy_loss_goes_down():
    X, y = digits.load_digits()
    cfg = digits.Config(seeds=(0,), steps=60)
    split = digits._split(y, cfg, 0)
    lab = digits._labelled(y, split.train, cfg, 0, ())
    unl = np.setdiff1d(split.train, lab)
    import torch

    with digits.one_torch_thread():
        _, losses = digits._train_pfy(torch.from_numpy(X), torch.from_numpy(y.astype(np.int64)), lab, unl,
                                      cfg, 0, digits._Silent(), "pfy")
    assert len(losses) == 60 and min(losses) >= 0
    assert np.mean(losses[-15:]) < 0.7 * np.mean(losses[:15])


def test_labelled_points_respect_the_setting():
    _, y = digits.load_digits()
    cfg = digits.Config()
    split = digits._split(y, cfg, 0)
    assert len(set(split.train) | set(split.probe) | set(split.test)) == y.size
    for unseen in ((), (0, 1, 2)):
        lab = digits._labelled(y, split.train, cfg, 0, unseen)
        assert set(lab) <= set(split.train)
        counts = np.bincount(y[lab], minlength=10)
        assert all(counts[c] == (0 if c in unseen else 10) for c in range(10))


def test_quick_result(quick_result):
    r = quick_result
    assert [(x.seed, x.setting) for x in r.runs] == [(0, "all_classes"), (0, "unseen_classes")]
    for run in r.runs:
        assert set(run.scores) == set(digits.ARMS)
        assert all(len(run.curves[a]) == 30 for a in digits.TRAINED_ARMS)
        pfy = run.curves["partial_fy"]  # --quick already learns: the last steps' loss is lower
        assert np.mean(pfy[-10:]) < 0.8 * np.mean(pfy[:10])
        for s in run.scores.values():
            assert 0 <= s.probe_accuracy <= 1 and -1 <= s.ari <= 1 and 0 <= s.coincidence_error <= 1
    # the raw-pixel reference, computed again directly
    X, y = digits.load_digits()
    split = digits._split(y, QUICK, 0)
    acc, acc_unseen = evaluation.probe_accuracy(X[split.probe], y[split.probe], X[split.test], y[split.test],
                                                (0, 1, 2))
    batches = evaluation.make_test_batches(split.test.size, 64, 1, 0)
    bs = evaluation.batch_clustering_scores(X[split.test], y[split.test], batches, 10)
    for run in r.runs:
        assert run.scores["pixels"] == digits.ArmScores(acc, bs.ari, bs.coincidence_error, acc_unseen)


def test_same_seed_same_numbers():
    """Training is a function of the seed: same losses and same embeddings (the metrics follow)."""
    import torch

    X, y = digits.load_digits()
    cfg = digits.Config(seeds=(1,), steps=5)
    split = digits._split(y, cfg, 1)
    lab = digits._labelled(y, split.train, cfg, 1, (0, 1, 2))
    unl = np.setdiff1d(split.train, lab)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    outs = []
    with digits.one_torch_thread():
        for _ in range(2):
            ce, ce_losses = digits._train_ce(Xt, yt, lab, cfg, 1, digits._Silent(), "ce")
            pfy, pfy_losses = digits._train_pfy(Xt, yt, lab, unl, cfg, 1, digits._Silent(), "pfy")
            with torch.no_grad():
                outs.append((ce_losses, pfy_losses, ce(Xt).numpy(), pfy(Xt).numpy()))
    (a_ce, a_pfy, a_zce, a_zpfy), (b_ce, b_pfy, b_zce, b_zpfy) = outs
    assert a_ce == b_ce and a_pfy == b_pfy
    np.testing.assert_array_equal(a_zce, b_zce)
    np.testing.assert_array_equal(a_zpfy, b_zpfy)
    assert not np.array_equal(a_zce, digits._mlp(cfg, 1)(Xt).detach().numpy())  # it did train


def test_cli_in_process(tmp_path, capsys):
    out = tmp_path / "learn.json"
    assert main(["learn", "--quick", "--steps", "5", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "partial FY (ours)" in text and "probe acc." in text and "digits 0-2 never labelled" in text
    data = json.loads(out.read_text())
    assert data["config"]["seeds"] == [0] and data["config"]["steps"] == 5
    for setting in digits.SETTINGS:
        arms = data["settings"][setting]["arms"]
        assert set(arms) == set(digits.ARMS)
        for arm in digits.ARMS:
            assert set(arms[arm]) == set(digits.METRICS)
            for m in digits.METRICS:
                assert set(arms[arm][m]) == {"mean", "std", "values"} and len(arms[arm][m]["values"]) == 1
        curves = data["settings"][setting]["loss_curves"]
        assert set(curves) == set(digits.TRAINED_ARMS) and len(curves["partial_fy"][0]) == 5


def test_cli_subprocess(tmp_path):
    env = dict(os.environ, DIFFCLUST_NUM_THREADS="2")
    proc = subprocess.run([sys.executable, "-m", "diffclust", "learn", "--quick", "--steps", "3"], check=False,
                          capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "cross-entropy" in proc.stdout and "wall time" in proc.stdout
    assert "step 3/3" in proc.stderr  # plain progress lines on a pipe


def test_plot_without_matplotlib(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["learn", "--quick", "--plot", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "diffclust[cli]" in err and "matplotlib" in err
    assert not list(tmp_path.iterdir())


def test_without_torch(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)
    assert main(["learn", "--quick"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "diffclust[torch]" in err


@pytest.mark.parametrize("argv, message", [(["--seeds", "0"], "--seeds"), (["--steps", "0"], "steps"),
                                           (["--lr", "-1"], "lr")])
def test_bad_options(argv, message, capsys):
    assert main(["learn", *argv, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("diffclust learn: error:") and message in err


def test_plots_written(quick_result, tmp_path):
    from diffclust.experiments.digits_plots import pca_2d, save_plots

    paths = save_plots(quick_result, str(tmp_path / "plots"))
    assert [os.path.basename(p) for p in paths] == ["learn_curves.png", "learn_embeddings.png"]
    for p in paths:
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    # the projection is PCA: the same coordinates as scikit-learn's up to the sign of each axis
    from sklearn.decomposition import PCA

    Z = quick_result.runs[0].embeddings["partial_fy"]
    ours, ref = pca_2d(Z), PCA(2, svd_solver="full").fit_transform(Z.astype(np.float64))
    np.testing.assert_allclose(np.abs(ours), np.abs(ref), atol=1e-8)


def test_interrupt_is_one_line(monkeypatch, capsys):
    def interrupted(cfg, progress):
        raise KeyboardInterrupt

    monkeypatch.setattr(digits, "run", interrupted)
    assert main(["learn", "--quick", "--no-progress"]) == 130
    assert capsys.readouterr().err.strip() == "diffclust learn: interrupted"
