"""The persistent thread pool: concurrent callers, fork() and many short jobs.

Every parallel kernel runs on one process-wide pool; a caller that finds it busy
runs serially, and a forked child builds a fresh pool. Whatever
path a call takes, its result must equal the single-threaded one.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import select
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from conftest import THREAD_COUNTS

import diffclust as dc


def as_arrays(result):
    """Every array (and scalar) of a result, for exact comparison."""
    if isinstance(result, dc.Forest):
        return [result.labels, result.edges, result.weights, np.asarray(result.value)]
    if isinstance(result, dc.PerturbedForest):
        out = [result.adjacency, result.connectivity, np.asarray(result.value)]
        if result.samples is not None:
            out += [result.samples.edges, result.samples.labels]
        return out
    return [np.asarray(result)]


def assert_same(a, b, what=""):
    xs, ys = as_arrays(a), as_arrays(b)
    assert len(xs) == len(ys), what
    for x, y in zip(xs, ys):
        assert x.dtype == y.dtype, what
        assert np.array_equal(x, y), what


def workloads(seed):
    """Calls that each run a parallel kernel (or two) on their own inputs."""
    r = np.random.default_rng(seed)
    S = r.standard_normal((90, 90))
    S32 = r.standard_normal((60, 60)).astype(np.float32)
    Sb = r.standard_normal((12, 50, 50))
    V = r.standard_normal((90, 90))
    X = r.standard_normal((700, 6))
    P = r.standard_normal((4300, 3))  # enough points for kforest_from_points' Prim team to split
    y = -np.ones(90, dtype=np.int64)
    y[:6] = [0, 1, 2, 0, 1, 2]
    kw = {"sigma": 0.5, "n_samples": 23, "seed": int(r.integers(1 << 40))}
    return {
        "perturbed": lambda t: dc.perturbed_kforest(S, 5, n_threads=t, keep_samples=True, **kw),
        "perturbed32": lambda t: dc.perturbed_kforest(S32, 3, n_threads=t, **kw),
        "perturbed_batch": lambda t: dc.perturbed_kforest(Sb, 4, n_threads=t, **kw),
        "perturbed_labels": lambda t: dc.perturbed_kforest(S, 5, known_labels=y, n_threads=t, **kw),
        "vjp": lambda t: dc.perturbed_kforest_vjp(S, 5, V, V.T, n_threads=t, **kw),
        "vjp_labels": lambda t: dc.perturbed_kforest_vjp(
            S, 5, None, V, known_labels=y, n_threads=t, **kw
        ),
        "kforest_batch": lambda t: dc.kforest(Sb, 3, n_threads=t),
        "kforest_points": lambda t: dc.kforest_from_points(P, 4, n_threads=t),
        "distances": lambda t: dc.pairwise_distances(X, n_threads=t),
        "distances_xy": lambda t: dc.pairwise_distances(
            X[:300], X, metric="manhattan", n_threads=t
        ),
    }


def test_concurrent_callers_match_sequential():
    jobs = {}
    for seed in (1, 2):
        for name, fn in workloads(seed).items():
            jobs[f"{name}-{seed}"] = fn
    expected = {name: fn(1) for name, fn in jobs.items()}
    # a worker's error must still reach its own caller, busy pool or not
    Sbad = np.zeros((8, 20, 20))
    Sbad[6, 2, 3] = np.nan

    def bad(t):
        with pytest.raises(ValueError, match=r"S\[6\]"):
            dc.kforest(Sbad, 2, n_threads=t)
        return "raised"

    tasks = [(name, t) for name in jobs for t in THREAD_COUNTS] * 2
    order = np.random.default_rng(0).permutation(len(tasks))
    with ThreadPoolExecutor(max_workers=4) as ex:
        futures = []
        for i in order:
            name, t = tasks[i]
            futures.append((name, t, ex.submit(jobs[name], t)))
            if i % 5 == 0:
                futures.append(("bad", t, ex.submit(bad, t)))
        for name, t, fut in futures:
            got = fut.result(timeout=120)
            if name == "bad":
                assert got == "raised"
            else:
                assert_same(expected[name], got, f"{name} with n_threads={t}")


def test_concurrent_short_calls_hammer_the_pool():
    """Four Python threads posting short multi-threaded jobs: most find the pool busy."""
    r = np.random.default_rng(5)
    S = r.standard_normal((8, 8, 8))
    kw = {"sigma": 0.3, "n_samples": 6, "seed": 4}
    ref_p = [dc.perturbed_kforest(S[i], 2, n_threads=1, **kw) for i in range(8)]
    ref_k = dc.kforest(S, 2, n_threads=1)

    def hammer(w):
        for it in range(150):
            t = (2, 3, 7)[(w + it) % 3]
            i = (w * 7 + it) % 8
            assert_same(
                ref_p[i], dc.perturbed_kforest(S[i], 2, n_threads=t, **kw), f"perturbed {i}, {t}"
            )
            assert_same(ref_k, dc.kforest(S, 2, n_threads=t), f"kforest {t}")
        return True

    with ThreadPoolExecutor(max_workers=4) as ex:
        futures = [ex.submit(hammer, w) for w in range(4)]
        assert all(f.result(timeout=120) for f in futures)


def run_with_timeout(fn, timeout):
    """Runs fn on a daemon thread; fails (instead of hanging the suite) if it does not finish."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 (re-raised on the test's thread)
            box["error"] = e

    th = threading.Thread(target=target, daemon=True)
    th.start()
    th.join(timeout)
    assert not th.is_alive(), (
        f"no result after {timeout} s: a pool worker missed a job (lost wake-up?)"
    )
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_many_back_to_back_short_jobs():
    r = np.random.default_rng(8)
    S = r.standard_normal((8, 8))
    Sb = r.standard_normal((5, 8, 8))
    V = r.standard_normal((8, 8))
    X = r.standard_normal((8, 3))
    kw = {"sigma": 0.7, "n_samples": 9, "seed": 12}
    ref = (
        dc.perturbed_kforest(S, 3, n_threads=1, **kw),
        dc.kforest(Sb, 2, n_threads=1),
        dc.perturbed_kforest_vjp(S, 3, V, V, n_threads=1, **kw),
        dc.pairwise_distances(X, n_threads=1),
    )

    def loop():
        results = []
        for it in range(300):
            # team sizes vary, so workers outside a job's team must skip it and
            # still take the next one; the pauses let idle workers fall asleep
            t = (2, 7, 3, 2, 4)[it % 5]
            if it % 4 == 3:
                time.sleep(0.0005)
            results.append(
                (
                    dc.perturbed_kforest(S, 3, n_threads=t, **kw),
                    dc.kforest(Sb, 2, n_threads=t),
                    dc.perturbed_kforest_vjp(S, 3, V, V, n_threads=t, **kw),
                    dc.pairwise_distances(X, n_threads=t),
                )
            )
        return results

    results = run_with_timeout(loop, 60)
    assert len(results) == 300
    for it, got in enumerate(results):
        for a, b in zip(ref, got):
            assert_same(a, b, f"call {it}")


def test_more_threads_than_the_pool_holds():
    """Teams beyond the pool's worker cap (255) are cut down, never wrong."""
    r = np.random.default_rng(13)
    S = r.standard_normal((12, 12))
    P = r.standard_normal((4500, 2))
    kw = {"sigma": 0.5, "n_samples": 400, "seed": 3}
    ref = (
        dc.perturbed_kforest(S, 3, n_threads=1, **kw),
        dc.perturbed_kforest_vjp(S, 3, S, S.T, n_threads=1, **kw),
        dc.kforest_from_points(P, 3, n_threads=1),
    )

    def calls():
        out = []
        for t in (300, 2, 256, 3):
            out.append(
                (
                    dc.perturbed_kforest(S, 3, n_threads=t, **kw),
                    dc.perturbed_kforest_vjp(S, 3, S, S.T, n_threads=t, **kw),
                    dc.kforest_from_points(P, 3, n_threads=t),
                )
            )
        return out

    for got in run_with_timeout(calls, 60):
        for a, b in zip(ref, got):
            assert_same(a, b)


# --- fork ----------------------------------------------------------------------------


def fork_inputs():
    r = np.random.default_rng(21)
    return r.standard_normal((60, 60)), r.standard_normal((4300, 3)), r.standard_normal((300, 5))


def forked_work(n_threads):
    """Runs in the forked child: multi-threaded calls on the child's own pool."""
    S, P, X = fork_inputs()
    kw = {"sigma": 0.4, "n_samples": 17, "seed": 3}
    out = []
    for obj in (
        dc.perturbed_kforest(S, 4, n_threads=n_threads, keep_samples=True, **kw),
        dc.perturbed_kforest_vjp(S, 4, S, S.T, n_threads=n_threads, **kw),
        dc.kforest_from_points(P, 3, n_threads=n_threads),
        dc.pairwise_distances(X, n_threads=n_threads),
    ):
        out.append([np.array(a) for a in as_arrays(obj)])
    return out


def fork_call(fn, *args, timeout=60):
    """fn(*args) in a child made by a bare os.fork(); its pickled result comes back
    through a pipe. A child that does not finish in time is killed and the test fails."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into the caller's stack
        try:
            os.close(r)
            try:
                data = pickle.dumps(("ok", fn(*args)))
            except BaseException as e:  # noqa: BLE001 (sent to the parent)
                data = pickle.dumps(("error", repr(e)))
            with os.fdopen(w, "wb") as f:
                f.write(data)
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([r], [], [], max(left, 0))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                raise AssertionError(f"forked child did not finish in {timeout} s (deadlock?)")
            chunk = os.read(r, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    assert chunks, "forked child died without a result"
    status, value = pickle.loads(b"".join(chunks))
    assert status == "ok", value
    return value


def child_and_grandchild():
    """In a forked child: multi-threaded calls, then a fork of the child doing the same."""
    mine = forked_work(2)
    return mine, fork_call(forked_work, 3)


def parent_reference():
    return [[np.array(a) for a in arrays] for arrays in forked_work(1)]


def assert_same_lists(ref, got):
    assert len(ref) == len(got)
    for ra, ga in zip(ref, got):
        assert len(ra) == len(ga)
        for x, y in zip(ra, ga):
            assert x.dtype == y.dtype and np.array_equal(x, y)


fork_only = pytest.mark.skipif(sys.platform == "win32", reason="no fork() on Windows")
# Python >= 3.12 warns when a multi-threaded process forks (the pool's workers are
# threads): that is exactly the situation under test.
# JAX, once tests/test_jax.py has started it in this session, warns at every fork
# (RuntimeWarning "os.fork() was called ..."); the children here never use JAX.
def fork_warning(fn: Any) -> Any:
    fn = pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")(fn)
    return pytest.mark.filterwarnings(r"ignore:os\.fork\(\) was called:RuntimeWarning")(fn)


@fork_only
@fork_warning
def test_forked_child_runs_multithreaded_calls():
    ref = parent_reference()
    # the parent's pool exists and has workers before the fork
    assert_same_lists(ref, forked_work(2))
    assert_same_lists(ref, forked_work(3))
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        got2 = pool.apply_async(forked_work, (2,)).get(timeout=60)
        got7 = pool.apply_async(forked_work, (7,)).get(timeout=60)
    assert_same_lists(ref, got2)
    assert_same_lists(ref, got7)
    # the parent's pool still works after the fork
    assert_same_lists(ref, forked_work(2))


@fork_only
@fork_warning
def test_fork_right_after_a_parallel_call_and_fork_again_in_the_child():
    ref = parent_reference()
    assert_same_lists(ref, forked_work(2))  # the pool's workers are still spinning
    mine, grandchild = fork_call(child_and_grandchild)
    assert_same_lists(ref, mine)
    assert_same_lists(ref, grandchild)


@fork_only
@fork_warning
def test_fork_while_the_parent_pool_is_busy():
    """Fork while another Python thread of the parent keeps the pool busy."""
    ref = parent_reference()
    stop = threading.Event()
    r = np.random.default_rng(3)
    S = r.standard_normal((200, 200))
    expected = dc.perturbed_kforest(S, 3, sigma=0.2, n_samples=8, seed=1, n_threads=1)
    errors = []

    def busy():
        while not stop.is_set():
            got = dc.perturbed_kforest(S, 3, sigma=0.2, n_samples=8, seed=1, n_threads=2)
            if not np.array_equal(got.adjacency, expected.adjacency):
                errors.append("parent result changed")

    th = threading.Thread(target=busy, daemon=True)
    th.start()
    try:
        ctx = multiprocessing.get_context("fork")
        for _ in range(3):
            with ctx.Pool(1) as pool:
                got = pool.apply_async(forked_work, (2,)).get(timeout=60)
            assert_same_lists(ref, got)
    finally:
        stop.set()
        th.join(60)
    assert not th.is_alive()
    assert not errors
