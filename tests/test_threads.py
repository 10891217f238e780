from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import THREAD_COUNTS

import diffclust as dc


@pytest.mark.parametrize("n_threads", THREAD_COUNTS)
def test_same_result_for_any_thread_count(rng, n_threads):
    S = rng.standard_normal((300, 300))  # non-symmetric: exercises the threaded symmetrisation
    Sb = rng.standard_normal((9, 40, 40))
    X = rng.standard_normal((200, 4))
    ref = dc.kforest(S, 5, n_threads=1)
    refb = dc.kforest(Sb, 5, n_threads=1)
    refp = dc.kforest_from_points(X, 5, n_threads=1)
    f = dc.kforest(S, 5, n_threads=n_threads)
    fb = dc.kforest(Sb, 5, n_threads=n_threads)
    fp = dc.kforest_from_points(X, 5, n_threads=n_threads)
    for a, b in [(ref, f), (refb, fb), (refp, fp)]:
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_array_equal(a.edges, b.edges)
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.value, b.value)


def test_worker_error_reaches_caller():
    Sb = np.zeros((8, 10, 10))
    Sb[5, 2, 3] = np.nan
    with pytest.raises(ValueError, match=r"S\[5\]"):
        dc.kforest(Sb, 2, n_threads=3)


def test_concurrent_python_threads(rng):
    S = rng.standard_normal((400, 400))
    expected = dc.kforest(S, 4).labels
    results = []

    def run():
        results.append(dc.kforest(S, 4, n_threads=1).labels)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    for r in results:
        np.testing.assert_array_equal(r, expected)


@pytest.mark.parametrize("n_threads", THREAD_COUNTS)
def test_threaded_prim_bit_identical_with_ties(rng, n_threads):
    # Large enough that the Prim team really splits the work (dense: >= 2048
    # columns per thread; points: >= 2048 vertices per thread), with integer
    # weights and coordinates so that ties are everywhere.
    n = 4200
    A = rng.integers(0, 4, size=(n, n)).astype(np.float64)
    S = np.triu(A, 1) + np.triu(A, 1).T
    # symmetric: check and Prim overlap; non-symmetric A: Prim's team on (A + A^T) / 2
    for M in (S, A):
        ref = dc.kforest(M, 7, n_threads=1)
        f = dc.kforest(M, 7, n_threads=n_threads)
        np.testing.assert_array_equal(ref.labels, f.labels)
        np.testing.assert_array_equal(ref.edges, f.edges)
        np.testing.assert_array_equal(ref.weights, f.weights)
        assert ref.value == f.value
    X = rng.integers(0, 3, size=(4300, 3)).astype(np.float64)
    for metric in ("sqeuclidean", "euclidean", "manhattan", "cosine"):
        refp = dc.kforest_from_points(X, 4, metric=metric, n_threads=1)
        fp = dc.kforest_from_points(X, 4, metric=metric, n_threads=n_threads)
        np.testing.assert_array_equal(refp.labels, fp.labels)
        np.testing.assert_array_equal(refp.edges, fp.edges)
        np.testing.assert_array_equal(refp.weights, fp.weights)


def test_threaded_prim_matches_kruskal(rng):
    # The fast dense Prim (threaded) against Kruskal on the explicit edge list.
    n = 4100
    X = rng.standard_normal((n, 5))
    from scipy.spatial.distance import pdist, squareform

    d = pdist(X)
    i, j = np.triu_indices(n, 1)
    f = dc.kforest(-squareform(d), 6, n_threads=2)
    g = dc.kforest_from_edges(np.stack([i, j], axis=1), -d, n, 6)
    np.testing.assert_array_equal(f.labels, g.labels)
    np.testing.assert_array_equal(f.edges, g.edges)


# --- n_threads range and the memory guard ------------------------------------------


@pytest.mark.parametrize("bad", [-1, 4097, 2**40, -(2**40)])
def test_n_threads_out_of_range_is_a_clear_value_error(bad):
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"n_threads must be None, 0 or an integer in \[1, 4096\]"):
        dc.pairwise_distances(X, n_threads=bad)
    with pytest.raises(ValueError, match="n_threads"):
        dc.kforest_from_points(X, 2, n_threads=bad)


def test_n_threads_range_ends_are_accepted():
    from diffclust import _validation

    assert _validation.resolve_threads(1) == 1
    assert _validation.resolve_threads(4096) == 4096
    assert _validation.resolve_threads(0) >= 1
    assert _validation.resolve_threads(None) >= 1


@pytest.fixture
def fake_cgroup(tmp_path, monkeypatch):
    """A fake /proc/self/cgroup and cgroup tree; returns a function writing it."""
    from diffclust import _validation

    def make(proc_lines, files):
        (tmp_path / "proc_cgroup").write_text("".join(line + "\n" for line in proc_lines))
        for rel, text in files.items():
            path = tmp_path / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        monkeypatch.setattr(_validation, "_PROC_CGROUP", str(tmp_path / "proc_cgroup"))
        monkeypatch.setattr(_validation, "_CGROUP_V2_ROOT", str(tmp_path / "v2"))
        monkeypatch.setattr(_validation, "_CGROUP_V1_MEMORY_ROOT", str(tmp_path / "v1"))
        _validation.cgroup_memory_limit.cache_clear()

    yield make
    _validation.cgroup_memory_limit.cache_clear()


def test_memory_guard_honours_cgroup_v2_memory_max(fake_cgroup):
    from diffclust import _validation

    # the tightest limit on the way up the hierarchy counts
    fake_cgroup(
        ["0::/job/step"],
        {"v2/memory.max": "max", "v2/job/memory.max": str(3 * 2**20), "v2/job/step/memory.max": "max"},
    )
    assert _validation.cgroup_memory_limit() == 3 * 2**20
    assert _validation.memory_limit() == min(_validation.physical_memory(), 3 * 2**20)
    with pytest.raises(_validation.OutputTooLargeError, match="cgroup"):
        _validation.check_memory(4 * 2**20, "the test")
    _validation.check_memory(2 * 2**20, "the test")  # fits
    with pytest.raises(MemoryError, match="cgroup"):
        dc.pairwise_distances(np.zeros((1000, 2)))  # an 8 MB output


def test_memory_guard_honours_cgroup_v1_limit(fake_cgroup):
    from diffclust import _validation

    fake_cgroup(
        ["4:memory:/box", "0::/"],
        {"v1/memory.limit_in_bytes": "9223372036854771712", "v1/box/memory.limit_in_bytes": str(2**20)},
    )
    assert _validation.cgroup_memory_limit() == 2**20
    with pytest.raises(ValueError, match="cgroup"):
        _validation.check_memory(2**21, "the test")


def test_memory_guard_without_cgroup_limit_uses_physical_memory(fake_cgroup):
    from diffclust import _validation

    fake_cgroup(["0::/"], {"v2/memory.max": "max", "v1/memory.limit_in_bytes": "9223372036854771712"})
    assert _validation.cgroup_memory_limit() is None
    assert _validation.memory_limit() == _validation.physical_memory()
