"""Batched perturbed kernels: S of shape (b, n, n), one seed per element.

The reference is always the 2-D call on S[t] with element t's seed, which the
batch must equal bit for bit, for any thread count; the element seeds are
checked against a pure-Python Philox4x32-10 (itself checked on Random123's
known answers).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import diffclust as dc
from diffclust import _core, _ops
from diffclust._validation import check_constraints

MASK32 = 0xFFFFFFFF


def philox4x32_10(counter, key):
    """Philox4x32-10 (Salmon et al., SC'11) on Python ints."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for _ in range(10):
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & MASK32, p1 & MASK32, ((p0 >> 32) ^ c3 ^ k1) & MASK32, p0 & MASK32
        k0 = (k0 + 0x9E3779B9) & MASK32
        k1 = (k1 + 0xBB67AE85) & MASK32
    return c0, c1, c2, c3


def reference_element_seed(seed, t):
    """The documented formula of derive_seed (core/rng.hpp)."""
    w = philox4x32_10((t & MASK32, t >> 32, 0x62617463, 0xFFFFFFFF), (seed & MASK32, seed >> 32))
    return w[0] | (w[1] << 32)


def test_python_philox_known_answers():
    # Random123's kat_vectors for philox4x32_10
    assert philox4x32_10((0, 0, 0, 0), (0, 0)) == (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)
    assert philox4x32_10((MASK32,) * 4, (MASK32, MASK32)) == (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)
    assert philox4x32_10((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0)) == (
        0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1,
    )


@pytest.mark.parametrize("seed", [0, 1, 42, 2**32 - 1, 2**32, 0x0123456789ABCDEF, 2**64 - 1])
def test_element_seeds_formula(seed):
    got = dc.element_seeds(seed, 6)
    assert got.dtype == np.uint64 and got.shape == (6,)
    assert [int(v) for v in got] == [reference_element_seed(seed, t) for t in range(6)]
    # the same through _ops and the public name in diffclust.perturb; prefix property
    np.testing.assert_array_equal(_ops.element_seeds(seed, 6), got)
    np.testing.assert_array_equal(dc.perturb.element_seeds(seed, 3), got[:3])
    assert dc.element_seeds(seed, 0).shape == (0,)


def test_element_seeds_distinct():
    s = dc.element_seeds(7, 4096)
    assert len(np.unique(s)) == 4096
    assert not np.array_equal(dc.element_seeds(7, 8), dc.element_seeds(8, 8))


@pytest.mark.parametrize("bad, err", [(-1, ValueError), (2**64, ValueError), (1.5, TypeError), ("1", TypeError)])
def test_element_seeds_errors(bad, err):
    with pytest.raises(err, match="seed"):
        dc.element_seeds(bad, 3)
    with pytest.raises(ValueError, match="b must be non-negative"):
        dc.element_seeds(1, -1)


# --------------------------------------------------------------------------- data


def similarities(rng, b, n, dtype=np.float64):
    X = rng.standard_normal((b, n, 2))
    S = -((X[:, :, None, :] - X[:, None, :, :]) ** 2).sum(-1)
    return S.astype(dtype)


def per_element_labels(rng, b, n, k):
    y = np.full((b, n), -1, dtype=np.int64)
    for t in range(b):
        pts = rng.choice(n, size=k + 1, replace=False)
        y[t, pts] = np.r_[np.arange(k), rng.integers(0, k)] * 3 + 5  # arbitrary label values
    return y


LABELS = ["none", "shared", "per-element"]


def labels_for(kind, rng, b, n, k):
    if kind == "none":
        return None, [None] * b
    if kind == "shared":
        y = per_element_labels(rng, 1, n, k)[0]
        return y, [y] * b
    y = per_element_labels(rng, b, n, k)
    return y, list(y)


# --------------------------------------------------------------------------- forward


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("labels", LABELS)
def test_forward_equals_loop(rng, dtype, labels):
    b, n, k, B = 4, 13, 3, 9
    S = similarities(rng, b, n, dtype)
    y, ys = labels_for(labels, rng, b, n, k)
    kw = {"sigma": 0.7, "n_samples": B, "keep_samples": True}
    p = dc.perturbed_kforest(S, k, seed=99, known_labels=y, n_threads=2, **kw)
    seeds = dc.element_seeds(99, b)
    assert p.adjacency.shape == (b, n, n) and p.adjacency.dtype == dtype and p.value.shape == (b,)
    np.testing.assert_array_equal(p.samples.seed, seeds)
    repaired = 0
    for t in range(b):
        q = dc.perturbed_kforest(S[t], k, seed=int(seeds[t]), known_labels=ys[t], n_threads=1, **kw)
        np.testing.assert_array_equal(p.adjacency[t], q.adjacency)
        np.testing.assert_array_equal(p.connectivity[t], q.connectivity)
        assert p.value[t] == q.value
        np.testing.assert_array_equal(p.samples.edges[t], q.samples.edges)
        np.testing.assert_array_equal(p.samples.labels[t], q.samples.labels)
        repaired += q.n_repaired
    assert p.n_repaired == repaired


def test_elements_do_not_share_noise(rng):
    """The same matrix twice in a batch: two seeds, two different estimates."""
    S = similarities(rng, 1, 12)[0]
    p = dc.perturbed_kforest(np.stack([S, S]), 3, sigma=2.0, n_samples=5, seed=3)
    assert not np.array_equal(p.adjacency[0], p.adjacency[1])
    # ... and the same seed twice gives the same estimate twice
    same = dc.perturbed_kforest(np.stack([S, S]), 3, sigma=2.0, n_samples=5, seed=np.array([4, 4]))
    np.testing.assert_array_equal(same.adjacency[0], same.adjacency[1])


def test_forward_flags(rng):
    S = similarities(rng, 3, 9)
    seeds = dc.element_seeds(5, 3)
    A, M, F, e, lab, rep = _ops.perturbed_kforest(S, 2, 0.5, 6, 5, 1, want_adjacency=False)
    assert A is None and M.shape == (3, 9, 9) and F.shape == (3,) and e is None and lab is None and rep == 0
    A2, M2, *_ = _ops.perturbed_kforest(S, 2, 0.5, 6, seeds, 3, want_connectivity=False)
    assert M2 is None
    full = dc.perturbed_kforest(S, 2, sigma=0.5, n_samples=6, seed=5)
    np.testing.assert_array_equal(M, full.connectivity)
    np.testing.assert_array_equal(A2, full.adjacency)
    # 2-D flags too
    A1, _, F1, *_ = _ops.perturbed_kforest(S[0], 2, 0.5, 6, 5, 1, want_adjacency=False)
    assert A1 is None and isinstance(F1, float)


# --------------------------------------------------------------------------- VJP


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("labels", LABELS)
@pytest.mark.parametrize("kept", [False, True])
def test_vjp_equals_loop(rng, dtype, labels, kept):
    b, n, k, B = 3, 11, 3, 8
    S = similarities(rng, b, n, dtype)
    y, ys = labels_for(labels, rng, b, n, k)
    VA = rng.standard_normal((b, n, n)).astype(dtype)
    VM = rng.standard_normal((b, n, n)).astype(dtype)
    kw = {"sigma": 0.6, "n_samples": B}
    samples = None
    if kept:
        samples = dc.perturbed_kforest(S, k, seed=11, known_labels=y, keep_samples=True, **kw).samples
    g = dc.perturbed_kforest_vjp(S, k, VA, VM, seed=None if kept else 11, known_labels=y, samples=samples,
                                 n_threads=2, **({} if kept else kw))
    assert g.shape == (b, n, n) and g.dtype == dtype
    seeds = dc.element_seeds(11, b)
    for t in range(b):
        ref = dc.perturbed_kforest_vjp(S[t], k, VA[t], VM[t], seed=int(seeds[t]), known_labels=ys[t],
                                       n_threads=1, **kw)
        np.testing.assert_array_equal(g[t], ref)
        if kept:  # element t's slice of the kept samples is that element's PerturbedSamples
            item = dataclasses.replace(samples, edges=samples.edges[t], labels=samples.labels[t],
                                       seed=int(samples.seed[t]))
            np.testing.assert_array_equal(dc.perturbed_kforest_vjp(S[t], k, VA[t], VM[t], known_labels=ys[t],
                                                                   samples=item), ref)


def test_vjp_one_cotangent_and_none(rng):
    b, n, k = 3, 9, 2
    S = similarities(rng, b, n)
    V = rng.standard_normal((b, n, n))
    seeds = dc.element_seeds(2, b)
    g = dc.perturbed_kforest_vjp(S, k, None, V, sigma=0.5, n_samples=5, seed=2, control_variate=False)
    for t in range(b):
        ref = dc.perturbed_kforest_vjp(S[t], k, None, V[t], sigma=0.5, n_samples=5, seed=int(seeds[t]),
                                       control_variate=False)
        np.testing.assert_array_equal(g[t], ref)
    z = dc.perturbed_kforest_vjp(S, k, sigma=0.5, n_samples=5, seed=2)
    assert z.shape == (b, n, n) and not z.any()


def test_vjp_kept_samples_seed_checks(rng):
    b, n, k = 2, 8, 2
    S = similarities(rng, b, n)
    V = rng.standard_normal((b, n, n))
    s = dc.perturbed_kforest(S, k, sigma=0.5, n_samples=4, seed=8, keep_samples=True).samples
    ok = dc.perturbed_kforest_vjp(S, k, V, samples=s, seed=8)  # the int seed of the forward: accepted
    np.testing.assert_array_equal(ok, dc.perturbed_kforest_vjp(S, k, V, samples=s))
    with pytest.raises(ValueError, match="seed"):
        dc.perturbed_kforest_vjp(S, k, V, samples=s, seed=9)
    with pytest.raises(ValueError, match="samples.edges"):
        dc.perturbed_kforest_vjp(S[:1], k, V[:1], samples=s)
    # samples of other seeds fail the kernel's check (sample 0 solved again)
    other = dataclasses.replace(s, seed=dc.element_seeds(9, b))
    with pytest.raises(ValueError, match="do not belong"):
        dc.perturbed_kforest_vjp(S, k, V, samples=other)


# --------------------------------------------------------------------------- loss


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("labels", ["shared", "per-element"])
def test_loss_equals_loop(rng, dtype, labels):
    b, n, k, B = 5, 12, 3, 10
    S = similarities(rng, b, n, dtype)
    y, ys = labels_for(labels, rng, b, n, k)
    out = dc.partial_fy_loss(S, k, y, sigma=0.8, n_samples=B, seed=21, n_threads=2)
    loss, grad = out
    assert isinstance(loss, np.ndarray) and loss.dtype == np.float64 and loss.shape == (b,)
    assert grad.shape == (b, n, n) and grad.dtype == dtype
    seeds = dc.element_seeds(21, b)
    repaired = 0
    for t in range(b):
        ref = dc.partial_fy_loss(S[t], k, ys[t], sigma=0.8, n_samples=B, seed=int(seeds[t]), n_threads=1)
        assert isinstance(ref.loss, float)
        assert loss[t] == ref.loss
        np.testing.assert_array_equal(grad[t], ref.grad)
        repaired += ref.n_repaired
    assert out.n_repaired == repaired
    assert (loss >= 0).all()
    assert loss.flags.writeable and loss.flags.owndata  # the caller's array


def test_loss_2d_unchanged(rng):
    """2-D S: a float loss, and the same value as the 2-D kernel called directly."""
    S = similarities(rng, 1, 10)[0]
    y = per_element_labels(rng, 1, 10, 3)[0]
    r = dc.partial_fy_loss(S, 3, y, sigma=0.5, n_samples=7, seed=4)
    assert isinstance(r.loss, float) and r.grad.shape == (10, 10)
    lab = check_constraints(10, y, None, None)[0]
    loss, grad, _ = _core.partial_fy_loss_f64(S, 3, 0.5, 7, 4, lab, None, None, True, 1)
    assert r.loss == loss
    np.testing.assert_array_equal(r.grad, grad)


# --------------------------------------------------------------------------- threads


@pytest.mark.parametrize("b", [1, 2, 5, 8])
def test_threads_give_identical_bits(rng, b):
    """Every split (whole elements, samples of an element, both) gives the same bits."""
    n, k, B = 14, 3, 11
    S = similarities(rng, b, n)
    y = per_element_labels(rng, b, n, k)
    V = rng.standard_normal((b, n, n))
    results = []
    for threads in (1, 2, 3, 7):
        f = dc.perturbed_kforest(S, k, sigma=0.5, n_samples=B, seed=6, known_labels=y, n_threads=threads)
        g = dc.perturbed_kforest_vjp(S, k, V, V, sigma=0.5, n_samples=B, seed=6, n_threads=threads)
        loss, grad = dc.partial_fy_loss(S, k, y, sigma=0.5, n_samples=B, seed=6, n_threads=threads)
        results.append((f.adjacency, f.connectivity, f.value, g, loss, grad))
    for other in results[1:]:
        for a, c in zip(results[0], other):
            np.testing.assert_array_equal(a, c)


# --------------------------------------------------------------------------- explicit seeds


def test_explicit_seed_arrays(rng):
    b, n, k = 4, 10, 3
    S = similarities(rng, b, n)
    y = per_element_labels(rng, b, n, k)
    signed = np.array([-1, 0, -(2**63), 2**63 - 1], dtype=np.int64)
    as_u64 = signed.view(np.uint64)
    assert int(as_u64[0]) == 2**64 - 1
    for seeds in (signed, as_u64, list(signed)):
        f = dc.perturbed_kforest(S, k, sigma=0.5, n_samples=6, seed=seeds)
        loss, grad = dc.partial_fy_loss(S, k, y, sigma=0.5, n_samples=6, seed=seeds)
        g = dc.perturbed_kforest_vjp(S, k, S, sigma=0.5, n_samples=6, seed=seeds)
        for t in range(b):
            s_t = int(as_u64[t])
            q = dc.perturbed_kforest(S[t], k, sigma=0.5, n_samples=6, seed=s_t)
            np.testing.assert_array_equal(f.adjacency[t], q.adjacency)
            r = dc.partial_fy_loss(S[t], k, y[t], sigma=0.5, n_samples=6, seed=s_t)
            assert loss[t] == r.loss
            np.testing.assert_array_equal(grad[t], r.grad)
            np.testing.assert_array_equal(
                g[t], dc.perturbed_kforest_vjp(S[t], k, S[t], sigma=0.5, n_samples=6, seed=s_t)
            )
    # small signed dtypes are taken by value, sign-extended to 64 bits
    small = np.array([-3, 5, 7, -9], dtype=np.int8)
    np.testing.assert_array_equal(_ops.batch_seeds(small, 4), small.astype(np.int64).view(np.uint64))


def test_int_seed_and_generator_for_batches(rng):
    S = similarities(rng, 3, 8)
    a = dc.perturbed_kforest(S, 2, sigma=0.5, n_samples=4, seed=np.uint64(12))
    b = dc.perturbed_kforest(S, 2, sigma=0.5, n_samples=4, seed=dc.element_seeds(12, 3))
    np.testing.assert_array_equal(a.adjacency, b.adjacency)
    g1 = dc.perturbed_kforest(S, 2, sigma=0.5, n_samples=4, seed=np.random.default_rng(1), keep_samples=True)
    drawn = np.random.default_rng(1).integers(0, 2**63, dtype=np.int64)
    np.testing.assert_array_equal(g1.samples.seed, dc.element_seeds(int(drawn), 3))
    # a 0-d integer array is an int seed, for 2-D and 3-D S
    c = dc.perturbed_kforest(S, 2, sigma=0.5, n_samples=4, seed=np.array(12))
    np.testing.assert_array_equal(a.adjacency, c.adjacency)
    d0 = _ops.perturbed_kforest(S[0], 2, 0.5, 4, np.array(12, dtype=np.uint64), 1)
    np.testing.assert_array_equal(d0[0], dc.perturbed_kforest(S[0], 2, sigma=0.5, n_samples=4, seed=12).adjacency)


# --------------------------------------------------------------------------- errors


def test_errors_name_the_argument(rng):
    b, n, k = 3, 8, 2
    S = similarities(rng, b, n)
    y = per_element_labels(rng, b, n, k)
    kw = {"sigma": 0.5, "n_samples": 3}
    with pytest.raises(ValueError, match=r"seed must have shape \(b,\) = \(3,\)"):
        dc.perturbed_kforest(S, k, seed=np.arange(2), **kw)
    with pytest.raises(TypeError, match="seed"):
        dc.partial_fy_loss(S, k, y, seed=np.array([1.0, 2.0, 3.0]), **kw)
    with pytest.raises(TypeError, match="seed"):
        dc.perturbed_kforest(S, k, seed=np.array([True, False, True]), **kw)
    with pytest.raises(TypeError, match="seed"):
        dc.perturbed_kforest(S[0], k, seed=np.arange(3), **kw)
    with pytest.raises(ValueError, match="known_labels must have shape"):
        dc.partial_fy_loss(S, k, y[:2], seed=1, **kw)
    with pytest.raises(ValueError, match=r"known_labels\[1\]"):
        bad = y.copy()
        bad[1, 0] = -5
        dc.partial_fy_loss(S, k, bad, seed=1, **kw)
    with pytest.raises(ValueError, match="grad_adjacency must have shape"):
        dc.perturbed_kforest_vjp(S, k, S[0], seed=1, **kw)
    with pytest.raises(ValueError, match="grad_connectivity must have shape"):
        dc.perturbed_kforest_vjp(S, k, S, S[:2], seed=1, **kw)
    nan = S.copy()
    nan[2, 1, 3] = np.nan
    for threads in (1, 2, 3):
        with pytest.raises(ValueError, match=r"S\[2\] contains NaN"):
            dc.perturbed_kforest(nan, k, seed=1, n_threads=threads, **kw)
        with pytest.raises(ValueError, match=r"S\[2\] contains NaN"):
            dc.partial_fy_loss(nan, k, y, seed=1, n_threads=threads, **kw)
        with pytest.raises(ValueError, match=r"S\[2\] contains NaN"):
            dc.perturbed_kforest_vjp(nan, k, S, seed=1, n_threads=threads, **kw)
        with pytest.raises(ValueError, match=r"S\[2\] contains NaN"):
            dc.perturbed_kforest_vjp(nan, k, seed=1, n_threads=threads, **kw)
    # too many distinct labels in element 1 only: the error names the element
    infeasible = y.copy()
    infeasible[1, :4] = [0, 1, 2, 3]
    with pytest.raises(ValueError, match=r"batch element 1: known_labels has \d+ distinct labels but k = 2"):
        dc.partial_fy_loss(S, k, infeasible, seed=1, n_threads=3, **kw)


def test_core_checks_its_arguments(rng):
    b, n, k = 2, 6, 2
    S = similarities(rng, b, n)
    seeds = dc.element_seeds(1, b)
    f = _core.partial_fy_loss_batch_f64
    lab = np.zeros((b, n), dtype=np.int64)
    with pytest.raises(TypeError, match="seeds must be a uint64 array"):
        f(S, k, 0.5, 3, seeds.astype(np.int64), lab, None, None, True, 1)
    with pytest.raises(ValueError, match="seeds must have shape"):
        f(S, k, 0.5, 3, seeds[:1], lab, None, None, True, 1)
    with pytest.raises(ValueError, match="labels must have shape"):
        f(S, k, 0.5, 3, seeds, np.zeros((b + 1, n), dtype=np.int64), None, None, True, 1)
    with pytest.raises(IndexError, match="labels"):
        f(S, k, 0.5, 3, seeds, np.full((b, n), n, dtype=np.int64), None, None, True, 1)
    with pytest.raises(ValueError, match="S must have 3 dimensions"):
        f(S[0], k, 0.5, 3, seeds, lab[0], None, None, True, 1)
    with pytest.raises(ValueError, match="grad_adjacency must have shape"):
        _core.perturbed_kforest_vjp_batch_f64(S, k, S[0], None, 0.5, 3, seeds, None, None, None, True, True,
                                              None, None, 1)
    _, _, _, e, lab_k, _ = _core.perturbed_kforest_batch_f64(S, k, 0.5, 3, seeds, None, None, None, True,
                                                             False, False, True, 1)
    assert e.shape == (b, 3, n - k, 2) and lab_k.shape == (b, 3, n)
    with pytest.raises(ValueError, match="kept_edges must have shape"):
        _core.perturbed_kforest_vjp_batch_f64(S, k, S, None, 0.5, 3, seeds, None, None, None, True, True,
                                              e[0], lab_k[0], 1)
    with pytest.raises(ValueError, match="S must have 2 dimensions"):  # the 2-D kernels stay 2-D
        _core.perturbed_kforest_f64(S, k, 0.5, 3, 1, None, None, None, True, True, True, False, 1)
