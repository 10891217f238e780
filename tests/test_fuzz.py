"""Fuzzing: every compiled entry point and every public function, given bad input.

Each call must either return a well-formed result or raise ValueError, TypeError,
IndexError or MemoryError: never crash, never RuntimeError or SystemError, never
read out of bounds. Two drivers share the builders of tests/fuzz_cases.py:

- a deterministic table: for every entry point, every argument is replaced in turn by
  each of its bad variants (dtypes, layouts, shapes, values, integers, ...);
- hypothesis: random sizes (1 to 7 points, k from 1 to n), random entry points and
  one to three bad arguments at once.

The entry points are enumerated by introspection, so a new kernel without a fuzz
builder fails test_every_entry_point_is_fuzzed. A longer run:
DIFFCLUST_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py.
"""

from __future__ import annotations

import copy
import os
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
import fuzz_cases as fc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import diffclust as dc

EXAMPLES = int(os.environ.get("DIFFCLUST_FUZZ_EXAMPLES", "150"))
# CI: a fixed, modest set of examples (the file runs in seconds); a longer run explores at random.
FUZZ = settings(
    deadline=None,
    max_examples=EXAMPLES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    derandomize=EXAMPLES <= 150,
)

CORE = sorted(fc.core_entry_points())
PUBLIC = sorted(fc.public_functions())

# Distinct bad-input cases run by the table tests: (entry point, argument, variant).
CASES_RUN: set[tuple[str, str, str]] = set()


def run(call: fc.Call) -> object:
    """Calls; returns the result or the allowed exception; fails on anything else."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NumPy's cast warnings are not what is tested here
            result = call()
    except fc.ALLOWED as e:
        assert str(e), f"{call.name}: {type(e).__name__} without a message"
        return e
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"{call.name} raised {type(e).__name__}: {e}")
    fc.check_result(call.name, result, fc.finite_inputs(call))
    return result


def test_every_entry_point_is_fuzzed():
    families = {fc.core_family(name) for name in CORE}
    missing = families - fc.CORE_FAMILIES
    assert not missing, (
        f"compiled entry points without a fuzz builder in tests/fuzz_cases.py: {missing}"
    )
    r = np.random.default_rng(0)
    for name in PUBLIC:
        try:
            fc.public_call(name, r, 4, 2, 2)
        except KeyError:
            pytest.fail(f"public function {name} has no fuzz builder in tests/fuzz_cases.py")
    assert len(CORE) >= 50 and len(PUBLIC) >= 20  # the enumeration itself works


@pytest.mark.parametrize("name", CORE)
def test_core_valid_calls(name):
    r = np.random.default_rng(1)
    for n, d, k in ((1, 1, 1), (2, 1, 1), (5, 3, 2), (6, 2, 6)):
        result = fc.core_call(name, r, n, d, k)()
        fc.check_result(name, result)


@pytest.mark.parametrize("name", PUBLIC)
def test_public_valid_calls(name):
    r = np.random.default_rng(2)
    for n, d, k in ((1, 1, 1), (2, 1, 1), (5, 3, 2), (6, 2, 6)):
        result = fc.public_call(name, r, n, d, k)()
        fc.check_result("dc." + name, result)


def bad_variants(call: fc.Call, n: int):
    for slot in call.slots():
        for label, value in fc.mutations(call.get(slot), n):
            yield slot, label, call.replaced(slot, value)


@pytest.mark.parametrize("name", CORE)
def test_core_bad_inputs(name):
    r = np.random.default_rng(3)
    n, d, k = 5, 2, 2
    call = fc.core_call(name, r, n, d, k)
    for slot, label, bad in bad_variants(call, n):
        run(bad)
        CASES_RUN.add((name, str(slot[1]), label))


@pytest.mark.parametrize("name", PUBLIC)
def test_public_bad_inputs(name):
    r = np.random.default_rng(4)
    n, d, k = 5, 2, 2
    call = fc.public_call(name, r, n, d, k)
    for slot, label, bad in bad_variants(call, n):
        run(bad)
        CASES_RUN.add((name, str(slot[1]), label))


def test_compiled_crashes_found_before():
    """The crashes reported in issue 8, now errors naming the argument."""
    from diffclust import _core

    S = np.random.default_rng(0).standard_normal((5, 5))
    with pytest.raises(ValueError, match="k must be in"):
        _core.kforest_f64(S, 0, 1)  # was a segmentation fault
    with pytest.raises(ValueError, match="k must be in"):
        _core.perturbed_kforest_f64(
            S, 0, 0.1, 4, 0, None, None, None, True, True, True, False, 1
        )  # segfault
    with pytest.raises(ValueError, match="must be square"):
        _core.fasterpam_f64(np.ones((6, 2)), np.array([0, 1]), 10, 1)  # read out of bounds
    with pytest.raises(ValueError, match="must be square"):
        _core.kforest_f64(np.ones((3, 5)), 1, 1)  # a silent wrong answer
    with pytest.raises(ValueError, match="n_threads"):
        _core.kforest_f64(S, 1, 2**40)  # was pybind11's "incompatible function arguments"
    with pytest.raises(ValueError, match="grad_adjacency"):  # read out of bounds
        _core.perturbed_kforest_vjp_f64(
            S, 2, np.ones((2, 2)), None, 0.5, 3, 0, None, None, None, True, True, None, None, 1
        )
    with pytest.raises(ValueError, match="no finite distance"):  # a point with no nearest medoid
        _core.fasterpam_f64(np.full((4, 4), np.nan), np.array([0, 1]), 10, 1)
    with pytest.raises(TypeError, match="real numbers"):  # the imaginary part was dropped
        _core.kforest_f64(S + 1j, 1, 1)
    with pytest.raises(TypeError, match="integers"):  # 1.5 was truncated to 1
        _core.kforest_from_edges_f64(np.array([[0, 1.5]]), np.ones(1), 2, 1)


@st.composite
def sizes(draw):
    n = draw(st.integers(1, 7))
    return n, draw(st.integers(1, 3)), draw(st.integers(1, n))


def fuzzed(draw, call: fc.Call, n: int) -> fc.Call:
    """Replaces one to three arguments of `call` by bad variants."""
    for _ in range(draw(st.integers(1, 3))):
        slot = draw(st.sampled_from(call.slots()))
        options = fc.mutations(call.get(slot), n)
        label, value = draw(st.sampled_from(options))
        hypothesis.note(f"{call.name}: argument {slot[1]} <- {label}")
        call = call.replaced(slot, value)
    return call


@FUZZ
@given(st.data(), st.sampled_from(CORE), sizes(), st.integers(0, 2**32 - 1))
def test_core_fuzz(data, name, size, seed):
    n, d, k = size
    call = fc.core_call(name, np.random.default_rng(seed), n, d, k)
    run(fuzzed(data.draw, call, n))


@FUZZ
@given(st.data(), st.sampled_from(PUBLIC), sizes(), st.integers(0, 2**32 - 1))
def test_public_fuzz(data, name, size, seed):
    n, d, k = size
    call = fc.public_call(name, np.random.default_rng(seed), n, d, k)
    run(fuzzed(data.draw, call, n))


@FUZZ
@given(st.sampled_from(CORE + ["dc." + p for p in PUBLIC]), sizes(), st.integers(0, 2**32 - 1))
def test_inputs_never_modified(name, size, seed):
    n, d, k = size
    r = np.random.default_rng(seed)
    call = (
        fc.public_call(name[3:], r, n, d, k)
        if name.startswith("dc.")
        else fc.core_call(name, r, n, d, k)
    )
    before = copy.deepcopy((call.args, call.kwargs))
    run(call)
    for was, now in zip(
        before[0] + list(before[1].values()), call.args + list(call.kwargs.values())
    ):
        if isinstance(was, np.ndarray):
            np.testing.assert_array_equal(was, now, err_msg=f"{name} modified its input")
            assert was.dtype == now.dtype and was.shape == now.shape
        elif hasattr(was, "toarray"):
            np.testing.assert_array_equal(
                was.toarray(), now.toarray(), err_msg=f"{name} modified its input"
            )


def test_count_of_bad_input_cases():
    """The table tests ran above (same module): report how many distinct cases."""
    if not CASES_RUN:
        pytest.skip("run with the table tests")
    kinds = {label for _, _, label in CASES_RUN}
    print(
        f"\n{len(CASES_RUN)} distinct bad-input cases (entry point, argument, variant); {len(kinds)} variant kinds"
    )
    assert len(kinds) >= 40


@pytest.mark.parametrize("threads", [2, 3, 7])
def test_threaded_paths_reject_bad_values(threads):
    """Sizes past the kernels' serial thresholds, so errors come from worker threads."""
    from diffclust import _core

    r = np.random.default_rng(threads)
    n = 1100  # dense_max_tree overlaps its check with Prim from n = 1024; n^2 > 1e6 for k-medoids
    S = fc.similarity(r, n)
    S[700, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _core.kforest_f64(S, 3, threads)
    P = S[:300, :300].copy()
    P[3, 200] = np.inf
    with pytest.raises(ValueError, match="NaN"):
        _core.perturbed_kforest_f64(
            P, 3, 0.5, 9, 0, None, None, None, True, True, True, False, threads
        )
    D = fc.dissimilarity(r, n)
    D[900, 17] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        _core.check_dissimilarity_f64(D, False, 0.0, "D", threads)
    with pytest.raises(ValueError, match="NaN or infinity"):
        dc.kmedoids(D, 4, metric="precomputed", n_threads=threads)
    D[:, 900] = np.inf  # point 900 has no finite distance to any medoid: the kernel refuses
    with pytest.raises(ValueError, match="no finite distance"):
        _core.fasterpam_f64(D, np.arange(4), 10, threads)
    D = fc.dissimilarity(r, n)
    D[900, 17] = -1.0
    with pytest.raises(ValueError, match="negative"):
        _core.check_dissimilarity_f64(D, False, 0.0, "D", threads)
    X = fc.points(r, n, 3)
    X[1000, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _core.kforest_from_points_f64(X, 2, "euclidean", threads)
    with pytest.raises(IndexError, match="labels"):
        _core.silhouette_samples_f64(X[:, :2] * 0, np.full(n, 5), 3, "euclidean", threads)
    with pytest.raises(ValueError, match="n_threads"):
        _core.pairwise_distances_f64(X, None, "euclidean", 4097)
