"""diffclust.jax against the NumPy API, finite differences and exact expectations.

Every test runs with jax_enable_x64 on and off (the ``x64`` fixture).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp
from jax.test_util import check_grads

import diffclust as dc
import diffclust.jax as dj
from diffclust import _core

K, SIGMA, B = 2, 0.5, 16


@pytest.fixture(params=[True, False], ids=["x64", "x32"])
def x64(request):
    old = bool(jax.config.read("jax_enable_x64"))
    jax.config.update("jax_enable_x64", request.param)
    yield request.param
    jax.config.update("jax_enable_x64", old)


def _close(x64):
    return {"rtol": 1e-12, "atol": 1e-12} if x64 else {"rtol": 2e-6, "atol": 2e-6}


def _sym(rng, *shape):
    S = rng.normal(size=(*shape, shape[-1]))
    return (S + np.swapaxes(S, -1, -2)) / 2


def _np(x):
    return np.asarray(x)


def test_import_diffclust_does_not_import_jax():
    code = "import sys, diffclust; assert 'jax' not in sys.modules, 'jax imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_forward_equals_numpy(x64):
    rng = np.random.default_rng(0)
    S = jnp.asarray(_sym(rng, 3, 7))  # float32 when x64 is off
    key = jax.random.key(11)
    A, M, F = jax.jit(lambda S, key: dj.perturbed_kforest(S, K, key, sigma=SIGMA, n_samples=B))(S, key)
    assert A.dtype == S.dtype == (jnp.float64 if x64 else jnp.float32)
    seeds = dj.seeds(key, (3,))
    assert seeds.dtype == np.uint64 and len(set(seeds.tolist())) == 3
    for t in range(3):
        r = dc.perturbed_kforest(_np(S[t]), K, sigma=SIGMA, n_samples=B, seed=int(seeds[t]))
        np.testing.assert_array_equal(_np(A[t]), r.adjacency)
        np.testing.assert_array_equal(_np(M[t]), r.connectivity)
        assert _np(F[t]) == np.asarray(r.value, dtype=S.dtype)


def test_raw_keys_and_x64_modes_draw_the_same_seeds(x64):
    key = jax.random.PRNGKey(5)
    words = np.asarray(jax.random.bits(key, (4, 2), jnp.uint32)).astype(np.uint64)
    np.testing.assert_array_equal(dj.seeds(key, (4,)), (words[:, 0] << np.uint64(32)) | words[:, 1])
    # the documented mapping does not depend on the x64 mode
    with jax.enable_x64(False) if x64 else jax.enable_x64(True):
        np.testing.assert_array_equal(dj.seeds(key, (4,)), (words[:, 0] << np.uint64(32)) | words[:, 1])


def _objective(VA, VM, c):
    def f(S, key):
        A, M, F = dj.perturbed_kforest(S, K, key, sigma=SIGMA, n_samples=B)
        return jnp.sum(A * VA) + jnp.sum(M * VM) + c * F

    return f


def test_jit_vmap_grad_equals_loop_and_numpy(x64):
    rng = np.random.default_rng(1)
    b, n = 4, 6
    S = jnp.asarray(_sym(rng, b, n))
    VA, VM = (jnp.asarray(rng.normal(size=(n, n)), dtype=S.dtype) for _ in range(2))
    keys = jax.random.split(jax.random.key(2), b)
    f = _objective(VA, VM, 0.7)
    batched = jax.jit(jax.vmap(jax.grad(f)))(S, keys)
    for t in range(b):
        loop = jax.grad(f)(S[t], keys[t])
        np.testing.assert_allclose(_np(batched[t]), _np(loop), **_close(x64))
        seed = int(dj.seeds(keys[t]))
        St = _np(S[t])
        ref = dc.perturbed_kforest_vjp(St, K, _np(VA), _np(VM), sigma=SIGMA, n_samples=B, seed=seed)
        ref = ref + 0.7 * dc.perturbed_kforest(St, K, sigma=SIGMA, n_samples=B, seed=seed).adjacency
        np.testing.assert_allclose(_np(batched[t]), ref, **_close(x64))


def test_grad_of_F_is_A_and_skips_the_score_estimator(x64, monkeypatch):
    calls: list[Any] = []
    for name in ("perturbed_kforest_vjp_f32", "perturbed_kforest_vjp_f64", "perturbed_kforest_vjp_batch_f32",
                 "perturbed_kforest_vjp_batch_f64"):  # the operators call the compiled kernels directly
        real = getattr(_core, name)
        monkeypatch.setattr(_core, name, lambda S, *a, _real=real: calls.append(S.shape) or _real(S, *a))
    S = jnp.asarray(_sym(np.random.default_rng(2), 2, 8))
    key = jax.random.key(0)
    g = jax.jit(jax.grad(lambda S: dj.perturbed_kforest(S, 3, key, sigma=SIGMA, n_samples=B).value.sum()))(S)
    A = dj.perturbed_kforest(S, 3, key, sigma=SIGMA, n_samples=B).adjacency
    np.testing.assert_array_equal(_np(g), _np(A))
    assert calls == []
    jax.grad(lambda S: dj.perturbed_kforest(S, 3, key, sigma=SIGMA, n_samples=B).adjacency[0, 0, 1])(S)
    assert calls == [(1, 8, 8)]  # element 1's cotangents are zero: only element 0 runs the estimator


def test_partial_fy_loss_jit_vmap_grad_equals_loop_and_numpy(x64):
    rng = np.random.default_rng(3)
    b, n = 3, 8
    S = jnp.asarray(_sym(rng, b, n))
    y = jnp.asarray([[0, 0, 1, 1, -1, -1, 2, -1], [0, -1, -1, 1, 1, 0, -1, -1], [-1] * 6 + [0, 1]])
    keys = jax.random.split(jax.random.key(4), b)

    def loss(S, y, key):
        return dj.partial_fy_loss(S, 3, y, key, sigma=SIGMA, n_samples=B)

    values, grads = jax.jit(jax.vmap(jax.value_and_grad(loss)))(S, y, keys)
    assert values.dtype == S.dtype
    for t in range(b):
        v, g = jax.value_and_grad(loss)(S[t], y[t], keys[t])
        np.testing.assert_allclose(_np(grads[t]), _np(g), **_close(x64))
        ref = dc.partial_fy_loss(_np(S[t]), 3, _np(y[t]), sigma=SIGMA, n_samples=B, seed=int(dj.seeds(keys[t])))
        assert _np(values[t]) == np.asarray(ref.loss, dtype=S.dtype) == _np(v)
        np.testing.assert_allclose(_np(grads[t]), ref.grad, **_close(x64))
    # a batch with one key and shared labels: element t uses seeds(key, (b,))[t]
    batch = dj.partial_fy_loss(S, 3, y[0], keys[0], sigma=SIGMA, n_samples=B)
    seeds = dj.seeds(keys[0], (b,))
    for t in range(b):
        ref = dc.partial_fy_loss(_np(S[t]), 3, _np(y[0]), sigma=SIGMA, n_samples=B, seed=int(seeds[t]))
        assert _np(batch[t]) == np.asarray(ref.loss, dtype=S.dtype)


def test_finite_differences_of_F_and_the_loss(x64):
    with jax.enable_x64(True):  # finite differences need float64, whatever the mode
        S = jnp.asarray(_sym(np.random.default_rng(5), 7))
        key = jax.random.key(9)
        y = jnp.asarray([0, 0, 1, -1, 1, -1, 2])

        def F(S):
            return dj.perturbed_kforest(S, 3, key, sigma=SIGMA, n_samples=B).value

        def L(S):
            return dj.partial_fy_loss(S, 3, y, key, sigma=SIGMA, n_samples=B)

        # piecewise linear in S for fixed noise: central differences are exact off the kinks
        check_grads(F, (S,), order=1, modes=["rev"], eps=1e-6)
        check_grads(L, (S,), order=1, modes=["rev"], eps=1e-6)


def _edge_probabilities(w, sigma):
    """P(edge e is the heaviest of 3) for weights w + sigma Z, Z iid standard normal."""
    from scipy import integrate, special

    def p(e):
        others = [f for f in range(3) if f != e]

        def density(x):
            z = (x - w[e]) / sigma
            pdf = np.exp(-z * z / 2) / (sigma * np.sqrt(2 * np.pi))
            return pdf * np.prod([special.ndtr((x - w[f]) / sigma) for f in others])

        return integrate.quad(density, -np.inf, np.inf, epsabs=1e-12, epsrel=1e-12)[0]

    return np.array([p(e) for e in range(3)])


def test_score_vjp_is_unbiased_for_the_expectation(x64):
    # n = 3, k = 2: the forest is the heaviest edge, E[A_ij] = E[M_ij] = P(edge {i, j} wins)
    edges = [(0, 1), (0, 2), (1, 2)]
    rng = np.random.default_rng(6)
    S = rng.normal(size=(3, 3)) * 0.3
    VA, VM = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    coef = np.array([VA[i, j] + VA[j, i] + VM[i, j] + VM[j, i] for i, j in edges])

    def expectation(S):
        w = np.array([(S[i, j] + S[j, i]) / 2 for i, j in edges])
        return _edge_probabilities(w, SIGMA) @ coef

    h, ref = 1e-4, np.zeros((3, 3))
    for i, j in edges + [(j, i) for i, j in edges]:
        E = np.zeros((3, 3))
        E[i, j] = h
        ref[i, j] = (expectation(S + E) - expectation(S - E)) / (2 * h)

    n_keys, n_samples = 200, 200
    keys = jax.random.split(jax.random.key(7), n_keys)
    Sj, VAj, VMj = (jnp.asarray(a) for a in (S, VA, VM))

    def f(S, key):
        A, M, _ = dj.perturbed_kforest(S, 2, key, sigma=SIGMA, n_samples=n_samples)
        return jnp.sum(A * VAj.astype(A.dtype)) + jnp.sum(M * VMj.astype(A.dtype))

    g = _np(jax.jit(jax.vmap(jax.grad(f), in_axes=(None, 0)))(Sj.astype(VAj.dtype), keys)).astype(np.float64)
    mean, se = g.mean(axis=0), g.std(axis=0) / np.sqrt(n_keys)
    off = ~np.eye(3, dtype=bool)
    assert np.all(np.abs(mean - ref)[off] < 5 * se[off] + 1e-3), (mean, ref, se)
    assert np.all(mean[~off] == 0)


def test_trace_time_errors_name_the_argument(x64):
    S = jnp.zeros((5, 5))
    key = jax.random.key(0)

    def run(fn, *args):
        return jax.jit(fn)(*args)

    cases = [
        (lambda S: dj.perturbed_kforest(S[0], 2, key, sigma=1.0, n_samples=4), "S"),
        (lambda S: dj.perturbed_kforest(S[:, :4], 2, key, sigma=1.0, n_samples=4), "S"),
        (lambda S: dj.perturbed_kforest(S, 6, key, sigma=1.0, n_samples=4), "k"),
        (lambda S: dj.perturbed_kforest(S, 0, key, sigma=1.0, n_samples=4), "k"),
        (lambda S: dj.perturbed_kforest(S, 2, key, sigma=0.0, n_samples=4), "sigma"),
        (lambda S: dj.perturbed_kforest(S, 2, key, sigma=1.0, n_samples=0), "n_samples"),
        (lambda S: dj.perturbed_kforest(S, 2, key, sigma=1.0, n_samples=4, known_labels=jnp.zeros(4, int)),
         "known_labels"),
        (lambda S: dj.perturbed_kforest(S, 2, jax.random.split(key, 2), sigma=1.0, n_samples=4), "key"),
        (lambda S: dj.perturbed_kforest(S, 2, 3, sigma=1.0, n_samples=4), "key"),
        (lambda S: dj.partial_fy_loss(S, 2, jnp.zeros(3, int), key, sigma=1.0, n_samples=4), "^labels"),
        (lambda S: dj.partial_fy_loss(S, 2, jnp.zeros(5), key, sigma=1.0, n_samples=4), "^labels"),
        (lambda S: dj.partial_fy_loss(S, 2, jnp.zeros((3, 5), int), key, sigma=1.0, n_samples=4), "^labels"),
        (lambda S: dj.kforest(S, 9), "k"),
        (lambda S: dj.soft_ncut(S, jnp.ones((4, 2))), "W"),
        (lambda S: dj.dec_loss(S, jnp.ones((2, 3))), "centers"),
        (lambda S: dj.dec_loss(S, jnp.ones((2, 5)), alpha=-1.0), "alpha"),
        (lambda S: dj.kmeans_loss(S, jnp.ones((2, 3))), "centers"),
        (lambda S: dj.gmm_nll(S, jnp.ones(2) / 2, jnp.ones((2, 5)), jnp.ones((2, 5)), covariance_type="diag2"),
         "covariance_type"),
        (lambda S: dj.gmm_nll(S, jnp.ones(3) / 3, jnp.ones((2, 5)), jnp.ones((2, 5)), covariance_type="diag"),
         "weights"),
    ]
    for fn, name in cases:
        with pytest.raises((ValueError, TypeError), match=name):
            run(fn, S)
    # memory is checked while tracing: nothing is allocated
    huge = jax.ShapeDtypeStruct((300_000, 300_000), jnp.float32)
    with pytest.raises(MemoryError, match="perturbed_kforest needs"):
        jax.jit(lambda S: dj.perturbed_kforest(S, 2, key, sigma=1.0, n_samples=4).value).lower(huge)
    # concrete labels are checked for values too
    with pytest.raises(ValueError, match="^labels holds 3 distinct labels"):
        dj.partial_fy_loss(S, 2, jnp.asarray([0, 1, 2, -1, -1]), key, sigma=1.0, n_samples=4)
    with pytest.raises(ValueError, match="^known_labels must be -1"):
        dj.perturbed_kforest(S, 2, key, sigma=1.0, n_samples=4, known_labels=jnp.asarray([0, 1, -2, -1, -1]))


def test_nan_is_a_runtime_error(x64):
    S = jnp.zeros((5, 5)).at[0, 1].set(jnp.nan)
    f = jax.jit(lambda S: dj.perturbed_kforest(S, 2, jax.random.key(0), sigma=1.0, n_samples=4).value)
    with pytest.raises(RuntimeError, match="NaN"):
        f(S).block_until_ready()


def test_kforest_labels(x64):
    rng = np.random.default_rng(8)
    S = jnp.asarray(_sym(rng, 3, 9))
    y = jnp.asarray([0, -1, -1, 1, -1, -1, -1, -1, 2])
    labels = jax.jit(jax.vmap(lambda S: dj.kforest(S, 3, known_labels=y)))(S)
    free = dj.kforest(S, 3)
    for t in range(3):
        np.testing.assert_array_equal(_np(labels[t]), dc.kforest(_np(S[t]), 3, known_labels=_np(y)).labels)
        np.testing.assert_array_equal(_np(free[t]), dc.kforest(_np(S[t]), 3).labels)
    g = jax.grad(lambda S: jnp.sum(dj.kforest(S, 3)[..., None] * S))(S)  # labels are constants
    np.testing.assert_array_equal(_np(g), _np(free)[..., None].astype(g.dtype) * np.ones((1, 1, 9)))


def test_soft_ncut(x64):
    rng = np.random.default_rng(9)
    W = jnp.asarray(np.abs(_sym(rng, 2, 6)))
    P = jax.nn.softmax(jnp.asarray(rng.normal(size=(2, 6, 3))), axis=-1)
    value, (_, gP) = jax.jit(jax.vmap(jax.value_and_grad(dj.soft_ncut, argnums=(0, 1))))(W, P)
    for t in range(2):
        ref = dc.soft_ncut(_np(W[t]), _np(P[t]))
        np.testing.assert_allclose(_np(value[t]), ref.value, **_close(x64))
        np.testing.assert_allclose(_np(gP[t]), ref.grad, **_close(x64))
    with jax.enable_x64(True):
        check_grads(dj.soft_ncut, (W[0].astype(jnp.float64), P[0].astype(jnp.float64)), order=1, modes=["rev"])


def test_dec_loss(x64):
    rng = np.random.default_rng(10)
    Z, C = jnp.asarray(rng.normal(size=(2, 7, 3))), jnp.asarray(rng.normal(size=(4, 3)))
    loss, (gZ, gC) = jax.jit(jax.value_and_grad(lambda Z, C: dj.dec_loss(Z, C, alpha=2.0).sum(), (0, 1)))(Z, C)
    ref = [dc.dec_loss(_np(Z[t]), _np(C), alpha=2.0) for t in range(2)]
    np.testing.assert_allclose(_np(loss), sum(r.loss for r in ref), rtol=1e-12 if x64 else 1e-5)
    np.testing.assert_allclose(_np(gZ), np.stack([r.grad_Z for r in ref]), **_close(x64))
    np.testing.assert_allclose(_np(gC), sum(r.grad_centers for r in ref), rtol=1e-12 if x64 else 1e-5)
    T = jax.nn.softmax(jnp.asarray(rng.normal(size=(7, 4))))
    with jax.enable_x64(True):
        Z64, C64, T64 = (a.astype(jnp.float64) for a in (Z[0], C, T))
        check_grads(lambda Z, C: dj.dec_loss(Z, C, target=T64), (Z64, C64), order=1, modes=["rev"])
        assert not jnp.any(jax.grad(lambda T: dj.dec_loss(Z64, C64, target=T))(T64))


def test_kmeans_loss(x64):
    rng = np.random.default_rng(11)
    X, C = jnp.asarray(rng.normal(size=(2, 9, 3))), jnp.asarray(rng.normal(size=(2, 4, 3)))
    labels = jnp.asarray(rng.integers(0, 4, size=(2, 9)))
    for lab in (None, labels):
        value = jax.jit(jax.vmap(lambda X, C, lab=lab: dj.kmeans_loss(X, C, lab)))(X, C) if lab is None else \
            jax.jit(jax.vmap(dj.kmeans_loss))(X, C, lab)
        for t in range(2):
            ref = dc.kmeans_loss(_np(X[t]), _np(C[t]), None if lab is None else _np(lab[t]))
            np.testing.assert_allclose(_np(value[t]), ref, rtol=1e-12 if x64 else 1e-5)
    with jax.enable_x64(True):
        X64, C64 = X.astype(jnp.float64), C.astype(jnp.float64)
        check_grads(lambda X, C: dj.kmeans_loss(X, C), (X64, C64), order=1, modes=["rev"])
        check_grads(lambda X, C: dj.kmeans_loss(X, C, labels), (X64, C64), order=1, modes=["rev"])


def test_gmm_nll(x64):
    rng = np.random.default_rng(12)
    X, M = jnp.asarray(rng.normal(size=(2, 9, 3))), jnp.asarray(rng.normal(size=(2, 3)))
    w, var = jnp.asarray([0.3, 0.7]), jnp.asarray(rng.uniform(0.5, 2, size=(2, 3)))
    value = jax.jit(lambda X: dj.gmm_nll(X, w, M, var, covariance_type="diag"))(X)
    for t in range(2):
        ref = dc.gmm_nll(_np(X[t]), _np(w), _np(M), _np(var), covariance_type="diag")
        np.testing.assert_allclose(_np(value[t]), ref, rtol=1e-12 if x64 else 1e-5)
    with pytest.raises(TypeError, match="not differentiable"):
        jax.grad(lambda X: dj.gmm_nll(X, w, M, var, covariance_type="diag").sum())(X)


def test_vmap_is_one_host_call_per_op(x64, monkeypatch):
    calls = []
    host = importlib.import_module("diffclust.jax._host")
    real = host._batched
    monkeypatch.setattr(host, "_batched", lambda op, cfg, S, *a: calls.append((op, S.shape)) or real(op, cfg, S, *a))
    S = jnp.asarray(_sym(np.random.default_rng(13), 2, 5, 6))
    y = jnp.asarray([0, 0, 1, -1, -1, 1])
    keys = jax.random.split(jax.random.key(1), 5)

    def f(S, key):
        _, M, F = dj.perturbed_kforest(S, 2, key, sigma=SIGMA, n_samples=4)
        return jnp.sum(M) + F + dj.partial_fy_loss(S, 2, y, key, sigma=SIGMA, n_samples=4)

    jax.jit(jax.vmap(jax.vmap(jax.grad(f), in_axes=(0, 0)), in_axes=(0, None)))(S, keys)
    assert sorted(calls) == [
        ("partial_fy_loss", (10, 6, 6)), ("perturbed_kforest", (10, 6, 6)), ("perturbed_kforest_vjp", (10, 6, 6))
    ]


def test_traced_infeasible_labels_are_a_runtime_error(x64):
    f = jax.jit(lambda S, y: dj.partial_fy_loss(S, 2, y, jax.random.key(0), sigma=1.0, n_samples=4))
    with pytest.raises(RuntimeError, match="label"):
        f(jnp.zeros((5, 5)), jnp.asarray([0, 1, 2, -1, -1])).block_until_ready()


def test_unnumbered_traced_labels_equal_numpy(x64):
    """Labels with gaps and large values, traced (so first seen in the callback), are
    numbered there as the NumPy API numbers them; one matrix and a batch."""
    rng = np.random.default_rng(21)
    y = jnp.asarray([7, 7, 100, -1, 5000, -1, 100, -1])
    key = jax.random.key(3)
    for shape in [(8,), (3, 8)]:
        S = jnp.asarray(_sym(rng, *shape))
        f = jax.jit(jax.value_and_grad(lambda S, y: dj.partial_fy_loss(S, 3, y, key, sigma=SIGMA, n_samples=B).sum()))
        _, grad = f(S, y)
        A = jax.jit(lambda S, y: dj.perturbed_kforest(S, 3, key, sigma=SIGMA, n_samples=B, known_labels=y))(S, y)[0]
        seeds = dj.seeds(key, shape[:-1]).reshape(-1)
        S2, g2, A2 = (_np(x).reshape(-1, 8, 8) for x in (S, grad, A))
        for t, s in enumerate(seeds):
            ref = dc.partial_fy_loss(S2[t], 3, _np(y), sigma=SIGMA, n_samples=B, seed=int(s))
            np.testing.assert_array_equal(g2[t], ref.grad)
            ref_A = dc.perturbed_kforest(S2[t], 3, sigma=SIGMA, n_samples=B, seed=int(s), known_labels=_np(y))
            np.testing.assert_array_equal(A2[t], ref_A.adjacency)
