"""The ``diffclust`` command: demo, cluster, bench (learn has its own file).

Every subcommand runs on tiny data, in a subprocess (``python -m diffclust``) and
in-process (``main([...])``); every user error has its one-line message and exit
status 2. The demo's table is checked against direct calls (and scipy for the
forest), the cluster labels against scipy's single linkage, the bench report
against a table derived by hand from tests/data/bench_small.json.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial.distance import cdist, pdist
from sklearn.metrics import adjusted_rand_score as sk_ari

import diffclust as dc
from diffclust.cli import main
from diffclust.cli._data import DATASETS, make_dataset
from diffclust.cli._report import render_report

DATA = Path(__file__).parent / "data"
SUITE = Path(__file__).resolve().parent.parent / "benchmarks"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DIFFCLUST_NUM_THREADS": "2"}
    return subprocess.run([sys.executable, "-m", "diffclust", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300, check=False)


def call(capsys: Any, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def error_line(capsys: Any, *argv: str) -> str:
    status, _, err = call(capsys, *argv)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# ----------------------------------------------------------------------------- dispatcher


def test_help_version_and_usage(capsys: Any) -> None:
    status, out, _ = call(capsys, "--version")
    assert status == 0 and out.strip() == f"diffclust {dc.__version__}"
    status, out, _ = call(capsys, "--help")
    assert status == 0 and all(cmd in out for cmd in ("demo", "cluster", "learn", "bench"))
    assert call(capsys, )[0] == 2
    assert call(capsys, "nonsense")[0] == 2


# ----------------------------------------------------------------------------- demo


def test_toy_data() -> None:
    for name in DATASETS:
        data = make_dataset(name, 100, 3)
        assert data.X.shape == (100, 2)
        np.testing.assert_allclose(data.X.mean(axis=0), 0, atol=1e-12)
        np.testing.assert_allclose(data.X.std(axis=0), 1)
        assert set(np.unique(data.labels)) == {-1, *range(data.k)}
        assert (data.labels == -1).sum() == 3
        np.testing.assert_array_equal(make_dataset(name, 100, 3).X, data.X)
    assert not np.array_equal(make_dataset("moons", 100, 4).X, make_dataset("moons", 100, 3).X)


def _keep_big(labels: np.ndarray, k: int, m: int) -> np.ndarray | None:
    """Trees of >= m points renumbered by first appearance, the rest -1; None unless exactly k."""
    sizes = np.bincount(labels)
    big = [c for c in dict.fromkeys(labels.tolist()) if sizes[c] >= m]
    if len(big) != k:
        return None
    return np.array([big.index(c) if c in big else -1 for c in labels])


def _scipy_trimmed(X: np.ndarray, k: int, m: int) -> tuple[np.ndarray, int, float]:
    """Single linkage with small trees as noise, from scipy's MST: (labels, trees j, length)."""
    n = len(X)
    mst = minimum_spanning_tree(cdist(X, X)).tocoo()
    order = np.argsort(mst.data)
    for j in range(k, n + 1):
        keep = order[: n - j]
        graph = coo_matrix((np.ones(n - j), (mst.row[keep], mst.col[keep])), shape=(n, n))
        _, comp = connected_components(graph, directed=False)
        _, labels = np.unique(comp, return_inverse=True)
        trimmed = _keep_big(labels, k, m)
        if trimmed is not None:
            return trimmed, j, float(mst.data[keep].sum())
    raise AssertionError("no j")


def _reference_row(name: str, method: str, n: int, seed: int) -> dict[str, Any]:
    """The demo's numbers from direct calls; forest, affinity and bandwidth from scipy."""
    data = make_dataset(name, n, seed)
    X, k = data.X, data.k
    m = max(5, n // 50)
    if method == "kforest":
        labels, _, loss = _scipy_trimmed(X, k, m)
    elif method == "perturbed":
        _, j, _ = _scipy_trimmed(X, k, m)
        sigma = 0.5 * float(-np.mean(dc.kforest_from_points(X, j, metric="euclidean").weights))
        soft = dc.perturbed_kforest_from_points(X, j, metric="euclidean", sigma=sigma, n_samples=100,
                                                seed=seed)
        loss = -soft.value / 2
        for jj in range(k, n + 1):
            labels = _keep_big(dc.kforest(soft.connectivity, jj).labels, k, m)
            if labels is not None:
                break
    else:
        res = dc.kmedoids(X, k, metric="euclidean", seed=seed)
        labels, loss = res.labels, res.loss
    D = cdist(X, X)
    h = np.median(np.sort(D, axis=1)[:, 7])
    W = np.exp(-(D**2) / (2 * h * h))
    np.fill_diagonal(W, 0)
    truth = data.labels >= 0
    ours = labels >= 0
    Xc, lc = X[ours], labels[ours]
    return {"ari": dc.adjusted_rand_score(data.labels[truth], labels[truth]),
            "nmi": dc.normalized_mutual_info_score(data.labels[truth], labels[truth]),
            "silhouette": dc.silhouette_score(Xc, lc), "davies_bouldin": dc.davies_bouldin_score(Xc, lc),
            "ncut": dc.ncut(W[np.ix_(ours, ours)], lc), "loss": loss, "bandwidth": h,
            "noise": int((~ours).sum())}


def test_demo_table_equals_direct_calls(tmp_path: Path) -> None:
    out = tmp_path / "demo.json"
    proc = run_cli("demo", "--n", "60", "--seed", "5", "--datasets", "moons,anisotropic",
                   "--methods", "kforest,perturbed,kmedoids", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "ARI" in proc.stdout and "anisotropic" in proc.stdout and "perturbed" in proc.stdout
    rows = json.loads(out.read_text())["rows"]
    assert [(r["dataset"], r["method"]) for r in rows] == [
        (d, m) for d in ("moons", "anisotropic") for m in ("kforest", "perturbed", "kmedoids")]
    for row in rows:
        ref = _reference_row(row["dataset"], row["method"], 60, 5)
        for key, value in ref.items():
            assert row[key] == pytest.approx(value, rel=1e-9, abs=1e-12), (row["dataset"], row["method"], key)
        assert row["time_s"] > 0


def test_demo_every_method_in_process(tmp_path: Path, capsys: Any) -> None:
    from diffclust.cli._methods import available_methods

    out = tmp_path / "d.json"
    status, stdout, _ = call(capsys, "demo", "--n", "40", "--datasets", "circles", "--json", str(out),
                             "--no-progress")
    assert status == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["method"] for r in rows] == list(available_methods())
    for row in rows:
        assert -1 <= row["ari"] <= 1 and 0 <= row["nmi"] <= 1
        assert row["method"] in stdout


def test_fitting_methods_in_the_demo_equal_direct_calls(tmp_path: Path, capsys: Any) -> None:
    """The demo's k-means, Gaussian-mixture and HDBSCAN rows are those of direct calls."""
    from sklearn.metrics import adjusted_rand_score

    out = tmp_path / "d.json"
    status, _, _ = call(capsys, "demo", "--n", "60", "--datasets", "blobs", "--methods", "kmeans,gmm,hdbscan",
                        "--json", str(out))
    assert status == 0
    rows = {r["method"]: r for r in json.loads(out.read_text())["rows"]}
    data = make_dataset("blobs", 60, 0)
    X, y = data.X, data.labels
    km = dc.kmeans(X, 3, seed=0)
    assert rows["kmeans"]["loss"] == pytest.approx(km.inertia, rel=1e-12)
    assert rows["kmeans"]["ari"] == pytest.approx(adjusted_rand_score(y[y >= 0], km.labels[y >= 0]))
    gm = dc.gaussian_mixture(X, 3, seed=0)
    assert rows["gmm"]["loss"] == pytest.approx(-gm.log_likelihood, rel=1e-12)
    assert rows["hdbscan"]["loss"] is None
    line = error_line(capsys, "cluster", str(DATA / "bench_small.json"), "--k", "2", "--method", "kmeans",
                      "--metric", "manhattan")
    assert "method 'kmeans' supports the metric(s) euclidean only, not 'manhattan'" in line


def test_demo_plot(tmp_path: Path, capsys: Any) -> None:
    pytest.importorskip("matplotlib")  # in the test extra: never skipped in CI
    png = tmp_path / "grid.png"
    status, out, _ = call(capsys, "demo", "--n", "30", "--datasets", "blobs,moons",
                          "--methods", "kforest,perturbed", "--plot", str(png))
    assert status == 0 and f"plot written to {png}" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_errors(capsys: Any, monkeypatch: Any) -> None:
    line = error_line(capsys, "demo", "--methods", "kforest,nope")
    assert line.startswith("diffclust demo: error: unknown method 'nope'; choose from kforest")
    assert "unknown data set 'spirals'" in error_line(capsys, "demo", "--datasets", "spirals")
    assert "--n must be at least 10" in error_line(capsys, "demo", "--n", "3")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    line = error_line(capsys, "demo", "--n", "20", "--plot", "x.png")
    assert line == "diffclust demo: error: --plot needs matplotlib: pip install 'diffclust[cli]'"


# ----------------------------------------------------------------------------- cluster


@pytest.fixture
def points() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 1.0], [0.0, 7.0, -1.0]])
    truth = np.repeat(np.arange(3), 12)
    return centres[truth] + 0.5 * rng.standard_normal((36, 3)), truth


def _scipy_labels(X: np.ndarray, k: int) -> np.ndarray:
    return fcluster(linkage(pdist(X), "single"), k, criterion="maxclust")


def _read_labels(path: Path) -> np.ndarray:
    lines = path.read_text().splitlines()
    assert lines[0] == "label"
    return np.array([int(v) for v in lines[1:]])


def test_cluster_csv_with_header_subprocess(tmp_path: Path, points: Any) -> None:
    X, _ = points
    csv = tmp_path / "points.csv"
    csv.write_text("a,b,c\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in X))
    labels_path = tmp_path / "labels.csv"
    proc = run_cli("cluster", str(csv), "--k", "3", "--out", str(labels_path))
    assert proc.returncode == 0, proc.stderr
    assert "36 points, 3 features (comma-separated, with a header)" in proc.stdout
    labels = _read_labels(labels_path)
    assert sk_ari(_scipy_labels(X, 3), labels) == 1.0
    sil = dc.silhouette_score(X, labels)
    assert f"silhouette (euclidean): {sil:.3f}" in proc.stdout
    for c in range(3):
        assert re.search(rf"^{c}\s+{(labels == c).sum()}\s+", proc.stdout, re.MULTILINE)


@pytest.mark.parametrize("kind", ["tsv", "whitespace", "semicolon", "npy", "npz"])
def test_cluster_formats(tmp_path: Path, capsys: Any, points: Any, kind: str) -> None:
    X, _ = points
    path = tmp_path / f"p.{ {'tsv': 'tsv', 'whitespace': 'txt', 'semicolon': 'csv'}.get(kind, kind) }"
    extra: list[str] = []
    if kind == "npy":
        np.save(path, X)
    elif kind == "npz":
        np.savez(path, other=np.zeros((2, 2)), pts=X)
        extra = ["--key", "pts"]
    else:
        sep = {"tsv": "\t", "whitespace": "   ", "semicolon": ";"}[kind]
        path.write_text("# a comment\n\n" + "".join(sep.join(repr(float(v)) for v in row) + "\n" for row in X))
    out = tmp_path / "labels.csv"
    status, _, _ = call(capsys, "cluster", str(path), "--k", "3", "--method", "kmedoids",
                             "--metric", "manhattan", "--out", str(out), *extra)
    assert status == 0
    expected = dc.kmedoids(X, 3, metric="manhattan").labels
    np.testing.assert_array_equal(_read_labels(out), expected)


def test_cluster_quoted_csv_and_min_cluster_size(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "q.csv"
    path.write_text('"a","b"\n"0","0"\n0.1,0\n5,5\n5.1,5\n20,20\n')
    out = tmp_path / "l.csv"
    assert call(capsys, "cluster", str(path), "--k", "2", "--min-cluster-size", "2", "--out", str(out))[0] == 0
    np.testing.assert_array_equal(_read_labels(out), [0, 0, 1, 1, -1])  # the lone far point is noise
    assert call(capsys, "cluster", str(path), "--k", "2", "--min-cluster-size", "1", "--out", str(out))[0] == 0
    np.testing.assert_array_equal(_read_labels(out), [0, 0, 0, 0, 1])  # plain single linkage


def test_cluster_standardize_and_plot(tmp_path: Path, capsys: Any, points: Any) -> None:
    pytest.importorskip("matplotlib")
    X, _ = points
    X = X * np.array([1.0, 100.0, 0.01])
    path = tmp_path / "p.npy"
    np.save(path, X)
    out, png = tmp_path / "l.csv", tmp_path / "pca.png"
    status, stdout, _ = call(capsys, "cluster", str(path), "--k", "3", "--standardize", "--out", str(out),
                             "--plot", str(png))
    assert status == 0 and "standardized" in stdout
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    assert sk_ari(_scipy_labels(Z, 3), _read_labels(out)) == 1.0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_cluster_errors(tmp_path: Path, capsys: Any) -> None:
    def write(name: str, text: str) -> str:
        p = tmp_path / name
        p.write_text(text)
        return str(p)

    good = write("good.csv", "x,y\n1,2\n3,4\n5,7\n")
    missing = str(tmp_path / "nope.csv")
    assert error_line(capsys, "cluster", missing, "--k", "2") == f"diffclust cluster: error: no such file: {missing}"
    bad_row = write("row.csv", "x,y\n1,2\n3,4,5\n")
    assert f"{bad_row}, line 3: malformed row, 3 fields where the first (header) row has 2" in error_line(
        capsys, "cluster", bad_row, "--k", "2")
    text_col = write("col.csv", "x,name\n1,a\n2,b\n")
    assert "column 'name' (2) is not numeric (line 2 holds 'a')" in error_line(
        capsys, "cluster", text_col, "--k", "2")
    no_header = write("col2.tsv", "1\t2\n3\tb\n")
    assert "column 2 is not numeric (line 2 holds 'b')" in error_line(capsys, "cluster", no_header, "--k", "2")
    nan = write("nan.csv", "x,y\n1,2\n\n3,nan\n")
    assert "line 4, column 'y' (2): 'nan' (NaN or infinity)" in error_line(capsys, "cluster", nan, "--k", "2")
    empty_field = write("empty.csv", "1,2\n3,\n")
    assert "line 2, column 2: an empty field (NaN or infinity)" in error_line(
        capsys, "cluster", empty_field, "--k", "2")
    npy = tmp_path / "nan.npy"
    np.save(npy, np.array([[1.0, 2.0], [np.nan, 1.0]]))
    assert "NaN or infinity (first at row 1, column 0)" in error_line(capsys, "cluster", str(npy), "--k", "2")
    assert "--k 4 is larger than the number of points (3)" in error_line(capsys, "cluster", good, "--k", "4")
    assert "--k must be at least 1" in error_line(capsys, "cluster", good, "--k", "0")
    assert "--k is required" in error_line(capsys, "cluster", good)
    assert "unknown method 'spectral'; choose from kforest, perturbed, kmedoids" in error_line(
        capsys, "cluster", good, "--k", "2", "--method", "spectral")
    assert "unknown metric 'hamming'" in error_line(capsys, "cluster", good, "--k", "2", "--metric", "hamming")
    npz = tmp_path / "a.npz"
    np.savez(npz, first=np.ones((3, 2)))
    assert "no array 'pts'; the archive holds first" in error_line(
        capsys, "cluster", str(npz), "--k", "2", "--key", "pts")
    strings = tmp_path / "s.npy"
    np.save(strings, np.array([["a", "b"]]))
    assert "has dtype <U1, expected numbers" in error_line(capsys, "cluster", str(strings), "--k", "1")
    assert "is a directory" in error_line(capsys, "cluster", str(tmp_path), "--k", "2")


def test_cluster_error_subprocess(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2\n3\n")
    proc = run_cli("cluster", str(bad), "--k", "2")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"diffclust cluster: error: {bad}, line 2: malformed row, 1 fields where the first row has 2\n"


# ----------------------------------------------------------------------------- bench


def _expected_tables() -> list[str]:
    """Derived by hand from tests/data/bench_small.json (medians in ms, ratios anchor/best ours)."""
    dense = """\
### dense

Medians in ms; *vs X* = X's median / diffclust's best median.

| n | diffclust, 1 thr | diffclust, 2 thr | scipy | fastcluster | vs scipy | vs fastcluster |
|---|---|---|---|---|---|---|
| 1000 | 1.00 | 0.800 | 4.00 | – | 5.0× | – |
| 2000 | 5.00 | 4.00 | 30.0 | 12.0 | 7.5× | 3.0× |
"""
    forward = """\
### forward B=100

Medians in ms; *vs X* = X's median / diffclust's best median.

| n | diffclust forward, 1 thr | diffclust floor normals | numpy | vs numpy |
|---|---|---|---|---|
| 64 | 2.00 | 0.250 | 0.500 | 0.25× |
"""
    paired = """\
| benchmark | ratio | rounds |
|---|---|---|
| test_loss_cost_in_forwards | 1.234 | 21 |
"""
    machine = """\
## Machine

- CPU: Test CPU 3000, 4 cores
- load average (1, 5, 15 min) before the run: 0.50, 0.25, 0.10; after: 1.00, 0.50, 0.20
- system: Linux 6.0 x86_64
- Python 3.11.7 (CPython)
- versions: diffclust 0.1.0, scipy 1.17.1
- run: 2026-12-01T00:00:00
"""
    return [dense, forward, paired, machine]


def test_report_generator_on_fixture() -> None:
    data = json.loads((DATA / "bench_small.json").read_text())
    report = render_report(data, {"forest": "r_forest.png"})
    for block in _expected_tables():
        assert block in report, block
    assert report.index("### dense") < report.index("### forward B=100") < report.index("## Paired ratios")
    assert "diffclust bench --out report.md" in report
    assert "![forest](r_forest.png)" in report
    assert "### paired" not in report


def test_report_sections_per_file_with_descriptions_and_recorded_values() -> None:
    data = json.loads((DATA / "bench_small.json").read_text())
    data["diffclust_bench"]["files"] = {"bench_forest": "Exact k-forests, described."}
    data["benchmarks"][0]["extra_info"]["peak_extra_kib"] = 1234
    data["benchmarks"][0]["extra_info"]["loss"] = 0.123456789
    report = render_report(data)
    section = report.index("## bench_forest")
    assert report.index("Exact k-forests, described.") > section
    assert report.index("### dense") > section
    row = f"| {data['benchmarks'][0]['name']} | peak_extra_kib = 1234, loss = 0.1235 |"
    assert row in report.split("### Recorded values", 1)[1]


def test_bench_merges_runs_of_several_files(tmp_path: Path, capsys: Any) -> None:
    data = json.loads((DATA / "bench_small.json").read_text())
    forest = dict(data, benchmarks=[b for b in data["benchmarks"] if "bench_forest" in b["fullname"]],
                  datetime="2026-12-01T01:00:00")
    forest["diffclust_bench"] = dict(data["diffclust_bench"], load_average={"before": [0.1, 0.2, 0.3],
                                                                            "after": [0.4, 0.5, 0.6]})
    rest = dict(data, benchmarks=[b for b in data["benchmarks"] if "bench_forest" not in b["fullname"]],
                datetime="2026-12-01T02:00:00")
    assert forest["benchmarks"] and rest["benchmarks"]
    paths = []
    for i, part in enumerate((forest, rest)):
        paths.append(tmp_path / f"part{i}.json")
        paths[-1].write_text(json.dumps(part))
    out = tmp_path / "merged.md"
    status, stdout, _ = call(capsys, "bench", "--from-json", *map(str, paths), "--out", str(out))
    assert status == 0 and f"report of {len(data['benchmarks'])} benchmarks" in stdout
    text = out.read_text()
    for block in _expected_tables()[:3]:  # the same tables as from the single document
        assert block in text, block
    assert ("- run of bench_forest: 2026-12-01T01:00:00; load average (1, 5, 15 min) before the run: "
            "0.10, 0.20, 0.30; after: 0.40, 0.50, 0.60") in text
    assert "- run of bench_perturbed" in text and "2026-12-01T02:00:00" in text
    merged = json.loads(out.with_suffix(".json").read_text())
    assert len(merged["benchmarks"]) == len(data["benchmarks"])


def test_bench_reproduce_names_each_part_once() -> None:
    from diffclust.cli._report import merge_runs

    def part(command: str | None, file: str) -> dict[str, Any]:
        return {"benchmarks": [{"fullname": f"benchmarks/{file}.py::test_x", "group": "g", "name": "test_x",
                                "stats": {"median": 1.0}, "extra_info": {}}],
                "diffclust_bench": {"command": command}}

    merged = merge_runs([part("diffclust bench -k 'bench_a' --out /tmp/p/bench_a.md", "bench_a"),
                         part("diffclust bench -k 'bench_b' --out parts/bench_b.md", "bench_b"),
                         part("diffclust bench -k 'bench_b and large_n' --out /x/bench_b_large.md", "bench_b"),
                         part(None, "bench_c")])
    assert merged["diffclust_bench"]["command"].splitlines() == [
        "for f in bench_a bench_b bench_c; do",
        "  diffclust bench -k $f --out parts/$f.md --json parts/$f.json --no-plots",
        "done",
        "# selections of their own: their file's docstring names the environment they need",
        ("diffclust bench -k 'bench_b and large_n' --out parts/bench_b_large.md --json parts/bench_b_large.json "
         "--no-plots"),
        ("diffclust bench --from-json parts/bench_a.json parts/bench_b.json parts/bench_b_large.json "
         "parts/bench_c.json --out benchmarks/README.md"),
    ]
    # the merge names the report it writes (a second report, e.g. another machine's)
    other = merge_runs([part("diffclust bench -k 'bench_a' --out parts/bench_a.md", "bench_a")],
                       "benchmarks/README_avx2.md")
    assert other["diffclust_bench"]["command"].splitlines()[-1] == (
        "diffclust bench --from-json parts/bench_a.json --out benchmarks/README_avx2.md")


def test_bench_describe_keeps_prose_not_commands(tmp_path: Path) -> None:
    from diffclust.cli.bench import describe

    f = tmp_path / "bench_x.py"
    f.write_text('"""Title line.\n\nSecond paragraph\nwrapped.\n\nThird.\n"""\n')
    assert describe(f) == "Title line.\n\nSecond paragraph wrapped."
    f.write_text('"""Title.\n\npytest benchmarks/bench_x.py --benchmark-only\n"""\n')
    assert describe(f) == "Title."
    f.write_text('"""Title.\n\nThree parts:\n\n- a\n"""\n')
    assert describe(f) == "Title."
    f.write_text('"""Title.\n\n- one item\n  wrapped;\n- two.\n"""\n')
    assert describe(f) == "Title.\n\n- one item wrapped;\n- two."
    f.write_text("x = (")
    assert describe(f) == ""


def test_bench_from_json(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "report.md"
    status, stdout, _ = call(capsys, "bench", "--from-json", str(DATA / "bench_small.json"), "--out", str(out))
    assert status == 0 and "report of 11 benchmarks" in stdout
    text = out.read_text()
    assert _expected_tables()[0] in text
    pytest.importorskip("matplotlib")
    assert (tmp_path / "report_forest.png").read_bytes()[:4] == b"\x89PNG"  # dense: 2 sizes
    assert "![forest](report_forest.png)" in text


def test_bench_errors(tmp_path: Path, capsys: Any) -> None:
    assert "--suite /nonexistent: not a directory" in error_line(capsys, "bench", "--suite", "/nonexistent")
    bad = tmp_path / "x.json"
    bad.write_text("{")
    assert f"cannot read {bad}" in error_line(capsys, "bench", "--from-json", str(bad))


TINY_SUITE = """
import numpy as np
import pytest
import diffclust as dc

X = np.random.default_rng(0).standard_normal((n := 200, 4))


@pytest.mark.parametrize("n_threads", [1, 2])
def test_diffclust_forest(benchmark, n_threads):
    benchmark.group = f"forest n={n}"
    benchmark.extra_info["library"] = "diffclust"
    benchmark.pedantic(dc.kforest_from_points, args=(X, 3), kwargs={"n_threads": n_threads}, rounds=3)


def test_scipy_forest(benchmark):
    from scipy.cluster.hierarchy import fcluster, linkage
    benchmark.group = f"forest n={n}"
    benchmark.pedantic(lambda: fcluster(linkage(X, "single"), 3, criterion="maxclust"), rounds=3)
"""


def test_bench_runs_a_suite_subprocess(tmp_path: Path) -> None:
    pytest.importorskip("pytest_benchmark")  # in the test extra: never skipped in CI
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "bench_tiny.py").write_text(TINY_SUITE)
    out = tmp_path / "tiny.md"
    proc = run_cli("bench", "--suite", str(suite), "--out", str(out), "--no-plots", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"report of 3 benchmarks written to {out}" in proc.stdout
    report = out.read_text()
    assert "| n | diffclust, 1 thr | diffclust, 2 thr | scipy | vs scipy |" in report
    assert re.search(r"^\| 200 \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+× \|$", report, re.MULTILINE)
    raw = json.loads((tmp_path / "tiny.json").read_text())
    assert len(raw["diffclust_bench"]["load_average"]["before"]) == 3
    assert raw["diffclust_bench"]["versions"]["diffclust"] == dc.__version__
    assert {b["name"] for b in raw["benchmarks"]} == {
        "test_diffclust_forest[1]", "test_diffclust_forest[2]", "test_scipy_forest"}


def test_bench_finds_the_source_tree_suite(monkeypatch: Any) -> None:
    from diffclust.cli.bench import QUICK_FILES, find_suite

    monkeypatch.chdir(SUITE.parent)
    assert find_suite(None).resolve() == SUITE
    assert all((SUITE / f).exists() for f in QUICK_FILES)
