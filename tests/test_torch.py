"""diffclust.torch: operators, gradients, compile, vmap, dtypes, seeds.

References are independent of the code under test: the NumPy API (same seeds, bit
for bit), finite differences (gradcheck), Monte-Carlo central differences of the
expectation (A and M), plain torch formulas (similarities, k-means, GMM gradients).
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # in the test extra: never skipped in CI

import diffclust
import diffclust.torch as dt
from diffclust import _core, _ops

opcheck = torch.library.opcheck
DTYPES = (torch.float32, torch.float64)


def _similarity(rng: np.random.Generator, *shape: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    n = shape[-1]
    X = rng.normal(size=(*shape, 3))
    S = -((X[..., :, None, :] - X[..., None, :, :]) ** 2).sum(-1)
    assert S.shape[-1] == n
    return torch.tensor(S, dtype=dtype)


def _spy_kernels(monkeypatch: Any, calls: list[Any], families: tuple[str, ...]) -> None:
    """Record the S argument of every call of the compiled kernels of these families
    (2-D and batched, float32 and float64): the operators call ``_core`` directly."""
    for family in families:
        for name in (f"{family}_f32", f"{family}_f64", f"{family}_batch_f32", f"{family}_batch_f64"):
            real = getattr(_core, name)
            monkeypatch.setattr(_core, name, lambda S, *a, _real=real: calls.append(S) or _real(S, *a))


def _u64(seed: torch.Tensor) -> list[int]:
    return [int(s) for s in seed.reshape(-1).numpy().view(np.uint64)]


def test_import_diffclust_does_not_import_torch():
    code = "import sys, diffclust; assert 'torch' not in sys.modules; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_missing_torch_names_the_extra():
    code = ("import sys; sys.modules['torch'] = None\n"
            "try:\n    import diffclust.torch\nexcept ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'diffclust[torch]'" in out.stdout


# --------------------------------------------------------------------------- NumPy API, bit for bit


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_equals_numpy_api(rng, dtype):
    S = _similarity(rng, 9, dtype=dtype)
    A, M, F = dt.perturbed_kforest(S, 3, sigma=0.5, n_samples=20, seed=2**64 - 5)
    ref = diffclust.perturbed_kforest(S.numpy(), 3, sigma=0.5, n_samples=20, seed=2**64 - 5)
    assert A.dtype == M.dtype == F.dtype == dtype and F.shape == ()
    np.testing.assert_array_equal(A.numpy(), ref.adjacency)
    np.testing.assert_array_equal(M.numpy(), ref.connectivity)
    assert F.item() == np.asarray(ref.value, dtype=S.numpy().dtype)


def test_batched_forward_uses_each_elements_seed(rng):
    S = _similarity(rng, 2, 3, 7)
    seed = torch.tensor([[1, -2, 3], [2**62, -(2**63), 0]], dtype=torch.int64)
    labels = torch.tensor([0, -1, 1, -1, -1, 0, -1])
    A, M, F = dt.perturbed_kforest(S, 2, sigma=0.3, n_samples=15, seed=seed, known_labels=labels)
    assert A.shape == (2, 3, 7, 7) and F.shape == (2, 3)
    for (i, j), s in zip(np.ndindex(2, 3), _u64(seed)):
        ref = diffclust.perturbed_kforest(S[i, j].numpy(), 2, sigma=0.3, n_samples=15, seed=s,
                                          known_labels=labels.numpy())
        np.testing.assert_array_equal(A[i, j].numpy(), ref.adjacency)
        np.testing.assert_array_equal(M[i, j].numpy(), ref.connectivity)
        assert F[i, j].item() == ref.value
    # one matrix, different seeds: different noise
    A2 = dt.perturbed_kforest(S[0, 0].expand(2, 7, 7), 2, sigma=3.0, n_samples=15, seed=seed[0, :2])[0]
    assert not torch.equal(A2[0], A2[1])


def test_int_seed_for_batched_S_is_the_numpy_per_element_seed(rng):
    S = _similarity(rng, 3, 6)
    A, _, _ = dt.perturbed_kforest(S, 2, sigma=0.3, n_samples=5, seed=7)
    for t, s in enumerate(_ops.element_seeds(7, 3)):
        ref = diffclust.perturbed_kforest(S[t].numpy(), 2, sigma=0.3, n_samples=5, seed=int(s))
        np.testing.assert_array_equal(A[t].numpy(), ref.adjacency)


@pytest.mark.parametrize("dtype", DTYPES)
def test_vjp_equals_numpy_api(rng, dtype):
    S = _similarity(rng, 2, 8, dtype=dtype).requires_grad_()
    seed = torch.tensor([11, 12])
    VA = torch.tensor(rng.normal(size=(2, 8, 8)), dtype=dtype)
    VM = torch.tensor(rng.normal(size=(2, 8, 8)), dtype=dtype)
    A, M, F = dt.perturbed_kforest(S, 3, sigma=0.4, n_samples=12, seed=seed)
    ((A * VA).sum() + (M * VM).sum() + 2 * F.sum()).backward()
    for t in range(2):
        g = diffclust.perturbed_kforest_vjp(S[t].detach().numpy(), 3, VA[t].numpy(), VM[t].numpy(), sigma=0.4,
                                            n_samples=12, seed=11 + t)
        expected = g + 2 * A[t].detach().numpy()
        np.testing.assert_array_equal(S.grad[t].numpy(), expected.astype(g.dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_equals_numpy_api(rng, dtype):
    S = _similarity(rng, 3, 10, dtype=dtype).requires_grad_()
    labels = torch.tensor([[0, 0, 1, 1, 2, -1, -1, -1, -1, -1]] * 2 + [[-1] * 8 + [0, 1]])
    seed = torch.tensor([5, 6, 7])
    loss = dt.partial_fy_loss(S, 3, labels, sigma=0.5, n_samples=16, seed=seed)
    assert loss.shape == (3,) and loss.dtype == dtype
    (loss * torch.tensor([1.0, 2.0, -1.0], dtype=dtype)).sum().backward()
    for t, w in enumerate((1.0, 2.0, -1.0)):
        ref_loss, ref_grad = diffclust.partial_fy_loss(S[t].detach().numpy(), 3, labels[t].numpy(), sigma=0.5,
                                                       n_samples=16, seed=5 + t)
        assert loss[t].item() == np.asarray(ref_loss, dtype=ref_grad.dtype)
        np.testing.assert_array_equal(S.grad[t].numpy(), (w * ref_grad).astype(ref_grad.dtype))


def test_kforest_equals_numpy_api(rng):
    S = _similarity(rng, 2, 12).requires_grad_()  # labels are not differentiable: no grad, no warning
    labels = dt.kforest(S, 4)
    assert labels.dtype == torch.int64 and labels.shape == (2, 12)
    for t in range(2):
        np.testing.assert_array_equal(labels[t].numpy(), diffclust.kforest(S[t].detach().numpy(), 4).labels)
    assert not labels.requires_grad


def test_non_contiguous_input(rng):
    S = _similarity(rng, 3, 6)
    St = S.transpose(0, 2)  # (6, 6, 3): a strided view, copied once
    A, _, F = dt.perturbed_kforest(St.permute(2, 0, 1), 2, sigma=0.5, n_samples=4, seed=torch.tensor([1, 2, 3]))
    B, _, G = dt.perturbed_kforest(S.transpose(1, 2).contiguous(), 2, sigma=0.5, n_samples=4,
                                   seed=torch.tensor([1, 2, 3]))
    assert torch.equal(A, B) and torch.equal(F, G) and A.is_contiguous()


def test_to_numpy_views_and_copies(rng):
    """The operators' tensor-to-array step: a view of a contiguous CPU float32/float64 tensor
    (also one that requires grad), a correct copy of the others (strided, negative-bit,
    half precision)."""
    from diffclust.torch._library import to_numpy

    S = torch.tensor(rng.normal(size=(5, 5)))
    for x in (S, S.float(), S.clone().requires_grad_()):
        a = to_numpy(x)
        assert a.dtype == {torch.float32: np.float32, torch.float64: np.float64}[x.dtype] and a.flags.c_contiguous
        assert np.shares_memory(a, x.detach().numpy())
    for x, ref in ((S.mT, S.numpy().T), (torch._neg_view(S), -S.numpy()), (S.half(), S.half().float().numpy()),
                   (S.bfloat16(), S.bfloat16().float().numpy())):
        a = to_numpy(x)
        assert a.flags.c_contiguous and a.dtype in (np.float32, np.float64) and not np.shares_memory(a, S.numpy())
        np.testing.assert_array_equal(a, ref)


def test_classical_losses_equal_numpy_api(rng):
    X = torch.tensor(rng.normal(size=(20, 3)))
    C = torch.tensor(rng.normal(size=(4, 3)))
    assert dt.kmeans_loss(X, C).item() == diffclust.kmeans_loss(X.numpy(), C.numpy())
    W = torch.tensor(rng.uniform(size=(20, 20)))
    P = torch.softmax(torch.tensor(rng.normal(size=(20, 4))), 1)
    assert dt.soft_ncut(W, P).item() == diffclust.soft_ncut(W.numpy(), P.numpy()).value
    assert dt.dec_loss(X, C, 2.0).item() == diffclust.dec_loss(X.numpy(), C.numpy(), alpha=2.0).loss
    w = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    cov = torch.tensor(rng.uniform(0.5, 2.0, size=(3, 3)))
    ref = diffclust.gmm_nll(X.numpy(), w.numpy(), C[:3].numpy(), cov.numpy(), covariance_type="diag")
    assert dt.gmm_nll(X, w, C[:3], cov, "diag").item() == ref


# --------------------------------------------------------------------------- opcheck


def _opcheck_cases(rng, dtype, grad):
    def S(*shape):
        return _similarity(rng, *shape, dtype=dtype).requires_grad_(grad)

    def t(a):
        return torch.tensor(a, dtype=dtype).requires_grad_(grad)

    ops = torch.ops.diffclust
    labels = torch.tensor([[0, -1, 1, -1, 0, -1]] * 2)
    seed = torch.tensor([3, -4])
    yield ops.perturbed_kforest.default, (S(6), 2, 0.5, 8, torch.tensor(9), None)
    yield ops.perturbed_kforest.default, (S(2, 6), 2, 0.5, 8, seed, labels)
    yield ops.partial_fy_loss.default, (S(2, 6), 2, labels, 0.5, 8, seed)
    yield ops.partial_fy_loss.default, (S(6), 3, labels[0], 0.5, 8, torch.tensor(1))
    yield ops.kforest.default, (S(2, 6), 3)
    X, C = t(rng.normal(size=(10, 2))), t(rng.normal(size=(3, 2)))
    yield ops.kmeans_loss.default, (X, C, None)
    yield ops.kmeans_loss.default, (X, C, torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0]))
    yield ops.dec_loss.default, (X, C, 1.0, None)
    W = torch.tensor(rng.uniform(size=(10, 10)), dtype=dtype)
    yield ops.soft_ncut.default, (W, t(rng.uniform(0.1, 1.0, size=(10, 3))))
    w = torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64)
    cov = torch.tensor(rng.uniform(0.5, 2.0, size=(3,)), dtype=torch.float64)
    yield ops.gmm_nll.default, (X, w, C, cov, "spherical")
    # the VJP is not differentiable again: checked without requires_grad
    V = torch.tensor(rng.normal(size=(2, 6, 6)), dtype=dtype)
    yield ops.perturbed_kforest_vjp.default, (S(2, 6).detach(), V, None, 2, 0.5, 8, seed, labels, True)
    yield ops.perturbed_kforest_vjp.default, (S(2, 6).detach(), V, V, 2, 0.5, 8, seed, None, False)


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_opcheck_every_op(rng, dtype, grad):
    seen = set()
    for op, args in _opcheck_cases(rng, dtype, grad):
        opcheck(op, args)
        seen.add(op.name())
    assert {f"diffclust::{name}" for name in ("perturbed_kforest", "perturbed_kforest_vjp", "partial_fy_loss",
                                              "kforest", "kmeans_loss", "dec_loss", "soft_ncut",
                                              "gmm_nll")} == seen


# --------------------------------------------------------------------------- gradients


def test_gradcheck_value_and_loss(rng):
    S = _similarity(rng, 2, 6).requires_grad_()
    seed = torch.tensor([21, 22])
    labels = torch.tensor([0, 0, -1, 1, -1, -1])

    def value(S):
        return dt.perturbed_kforest(S, 2, sigma=0.5, n_samples=10, seed=seed)[2]

    def loss(S):
        return dt.partial_fy_loss(S, 2, labels, sigma=0.5, n_samples=10, seed=seed)

    assert torch.autograd.gradcheck(value, (S,), eps=1e-7, atol=1e-6)
    assert torch.autograd.gradcheck(loss, (S,), eps=1e-7, atol=1e-6)
    assert loss(S).min() >= 0  # 0 exactly where the free forests already satisfy the labels


def _expected_pairing(S, k, V, which, sigma, seeds, n_samples):
    """Monte-Carlo estimate of E <A or M, V> over many seeds (common random numbers)."""
    out = dt.perturbed_kforest(S.expand(len(seeds), *S.shape), k, sigma=sigma, n_samples=n_samples, seed=seeds)
    return (out[which] * V).sum((-2, -1)).mean()


@pytest.mark.parametrize("which", [0, 1])
def test_vjp_matches_central_differences_of_the_expectation(rng, which):
    n, k, sigma = 4, 2, 1.0
    S = _similarity(rng, n) / 2
    V = torch.tensor(rng.normal(size=(n, n)))
    gen = torch.Generator().manual_seed(123)
    seeds = torch.randint(-(2**63), 2**63 - 1, (40,), generator=gen)
    B = 4000
    # the score VJP, averaged over the seeds
    Sg = S.expand(len(seeds), n, n).clone().requires_grad_()
    out = dt.perturbed_kforest(Sg, k, sigma=sigma, n_samples=B, seed=seeds)
    (out[which] * V).sum().backward()
    g = Sg.grad.mean(0)
    # central differences in each edge weight w_ij (S_ij and S_ji move together)
    h = 0.25
    for i, j in [(0, 1), (0, 2), (1, 3), (2, 3)]:
        E = torch.zeros(n, n, dtype=S.dtype)
        E[i, j] = E[j, i] = h
        fd = (_expected_pairing(S + E, k, V, which, sigma, seeds, B)
              - _expected_pairing(S - E, k, V, which, sigma, seeds, B)) / (2 * h)
        assert abs((g[i, j] + g[j, i]).item() - fd.item()) < 0.015 + 0.03 * abs(fd.item()), (i, j)


def test_vjp_is_skipped_when_only_the_value_gets_a_gradient(rng, monkeypatch):
    calls = []
    _spy_kernels(monkeypatch, calls, ("perturbed_kforest_vjp",))
    S = _similarity(rng, 3, 6).requires_grad_()
    A, M, F = dt.perturbed_kforest(S, 2, sigma=0.5, n_samples=8, seed=torch.tensor([1, 2, 3]))
    F.sum().backward(retain_graph=True)
    torch.testing.assert_close(S.grad, A.detach(), rtol=0, atol=0)
    (0 * A.sum() + F.sum()).backward(retain_graph=True)  # a zero cotangent is skipped too
    assert calls == []
    (A[0] * M[1]).sum().backward()
    assert len(calls) == 1  # one batched call, for the two matrices whose A or M is used
    np.testing.assert_array_equal(S.grad[2].numpy(), A[2].detach().numpy() * 2)  # F's part only, twice


def test_loss_backward_calls_no_kernel(rng, monkeypatch):
    S = _similarity(rng, 2, 6).requires_grad_()
    loss = dt.partial_fy_loss(S, 2, torch.tensor([0, 1, -1, -1, 0, -1]), sigma=0.5, n_samples=8)
    calls: list[Any] = []
    _spy_kernels(monkeypatch, calls, ("partial_fy_loss", "perturbed_kforest", "perturbed_kforest_vjp"))
    loss.sum().backward()  # the gradient was computed by the forward and kept
    assert calls == [] and torch.isfinite(S.grad).all()


def test_gradcheck_classical_losses(rng):
    X = torch.tensor(rng.normal(size=(12, 2)), requires_grad=True)
    C = torch.tensor(rng.normal(size=(3, 2)), requires_grad=True)
    labels = torch.tensor(rng.integers(0, 3, size=12))
    assert torch.autograd.gradcheck(lambda X, C: dt.kmeans_loss(X, C), (X, C))
    assert torch.autograd.gradcheck(lambda X, C: dt.kmeans_loss(X, C, labels), (X, C))
    # DEC's own target is held fixed in the gradient (not the total derivative): check with a given target
    T = torch.softmax(torch.tensor(rng.normal(size=(12, 3))), 1)
    assert torch.autograd.gradcheck(lambda X, C: dt.dec_loss(X, C, 1.5, target=T), (X, C))
    W = torch.tensor(rng.uniform(size=(12, 12)))
    P = torch.tensor(rng.uniform(0.1, 1.0, size=(12, 3)), requires_grad=True)
    assert torch.autograd.gradcheck(lambda P: dt.soft_ncut(W, P), (P,))
    w = torch.tensor([0.3, 0.3, 0.4], dtype=torch.float64)
    L = torch.tensor(rng.normal(size=(3, 2, 2)))
    full = L @ L.mT + torch.eye(2, dtype=torch.float64)
    for cov_type, cov in [("full", full), ("tied", full[0]), ("diag", full.diagonal(dim1=1, dim2=2)),
                          ("spherical", full[:, 0, 0])]:
        def nll(X, C, cov=cov, cov_type=cov_type):
            return dt.gmm_nll(X, w, C, cov, cov_type)

        assert torch.autograd.gradcheck(nll, (X, C)), cov_type


def test_kmeans_gradient_closed_form(rng):
    X = torch.tensor(rng.normal(size=(15, 3)), requires_grad=True)
    C = torch.tensor(rng.normal(size=(4, 3)), requires_grad=True)
    dt.kmeans_loss(X, C).backward()
    Xr, Cr = X.detach().clone().requires_grad_(), C.detach().clone().requires_grad_()
    torch.cdist(Xr, Cr).pow(2).min(1).values.sum().backward()  # plain torch autograd
    torch.testing.assert_close(X.grad, Xr.grad)
    torch.testing.assert_close(C.grad, Cr.grad)


def test_non_differentiable_arguments_raise(rng):
    X = torch.tensor(rng.normal(size=(6, 2)))
    C = torch.tensor(rng.normal(size=(2, 2)))
    W = torch.tensor(rng.uniform(size=(6, 6)), requires_grad=True)
    with pytest.raises(ValueError, match="differentiable in P only"):
        dt.soft_ncut(W, torch.full((6, 2), 0.5, dtype=torch.float64))
    w = torch.tensor([0.5, 0.5], dtype=torch.float64, requires_grad=True)
    with pytest.raises(ValueError, match="X and means only"):
        dt.gmm_nll(X, w, C, torch.ones(2, dtype=torch.float64), "spherical")
    with torch.no_grad():  # fine without autograd
        dt.soft_ncut(W, torch.full((6, 2), 0.5, dtype=torch.float64))


# --------------------------------------------------------------------------- seeds, dtypes, devices


def test_manual_seed_reproduces_and_generator_is_used(rng):
    S = _similarity(rng, 4, 8)
    labels = torch.tensor([0, 1, -1, -1, -1, -1, -1, 0])
    torch.manual_seed(3)
    a = dt.partial_fy_loss(S, 2, labels, sigma=1.0, n_samples=8)
    torch.manual_seed(3)
    b = dt.partial_fy_loss(S, 2, labels, sigma=1.0, n_samples=8)
    c = dt.partial_fy_loss(S, 2, labels, sigma=1.0, n_samples=8)
    assert torch.equal(a, b) and not torch.equal(a, c)
    gen = torch.Generator().manual_seed(9)
    seeds = torch.randint(-(2**63), 2**63 - 1, (4,), generator=torch.Generator().manual_seed(9))
    d = dt.partial_fy_loss(S, 2, labels, sigma=1.0, n_samples=8, generator=gen)
    assert torch.equal(d, dt.partial_fy_loss(S, 2, labels, sigma=1.0, n_samples=8, seed=seeds))


def test_float32_cpu_tensors_reach_the_kernel_without_a_copy(rng, monkeypatch):
    seen: list[Any] = []
    _spy_kernels(monkeypatch, seen, ("perturbed_kforest",))
    for dtype in DTYPES:
        S = _similarity(rng, 2, 5, dtype=dtype)
        dt.perturbed_kforest(S, 2, sigma=0.1, n_samples=2, seed=torch.tensor([0, 1]))
        assert len(seen) == 1 and np.shares_memory(seen[0], S.numpy())  # one batched call on the tensor's memory
        seen.clear()
        dt.perturbed_kforest(S[1], 2, sigma=0.1, n_samples=2, seed=1)  # one matrix: the 2-D kernel, no copy
        assert len(seen) == 1 and seen[0].shape == (5, 5) and np.shares_memory(seen[0], S.numpy())
        seen.clear()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_is_computed_in_float32(rng, dtype):
    S = _similarity(rng, 2, 7, dtype=torch.float32).to(dtype).requires_grad_()
    seed = torch.tensor([4, 5])
    labels = torch.tensor([0, 0, 1, -1, -1, 1, -1])
    loss = dt.partial_fy_loss(S, 2, labels, sigma=0.5, n_samples=6, seed=seed)
    loss.sum().backward()
    S32 = S.detach().float().requires_grad_()
    ref = dt.partial_fy_loss(S32, 2, labels, sigma=0.5, n_samples=6, seed=seed)
    ref.sum().backward()
    assert loss.dtype == S.grad.dtype == dtype
    assert torch.equal(loss, ref.to(dtype)) and torch.equal(S.grad, S32.grad.to(dtype))
    A, _, _ = dt.perturbed_kforest(S.detach(), 2, sigma=0.5, n_samples=6, seed=seed)
    assert A.dtype == dtype


def test_partial_fy_module_bf16_embeddings(rng):
    X = torch.tensor(rng.normal(size=(16, 4)), dtype=torch.bfloat16, requires_grad=True)
    y = torch.tensor([0, 1, 2, 3] * 2 + [-1] * 8)
    loss = dt.PartialFYLoss(k=4, n_samples=8)(X, y, seed=1)
    loss.backward()
    assert loss.dtype == X.grad.dtype == torch.bfloat16 and torch.isfinite(X.grad.float()).all()


def test_argument_errors(rng):
    S = _similarity(rng, 2, 5)
    with pytest.raises(ValueError, match="shape"):
        dt.perturbed_kforest(S[..., :4], 2, sigma=0.1, n_samples=2)
    with pytest.raises(ValueError, match=r"S.shape\[:-2\]"):
        dt.perturbed_kforest(S, 2, sigma=0.1, n_samples=2, seed=torch.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match="integer tensor"):
        dt.perturbed_kforest(S, 2, sigma=0.1, n_samples=2, seed=torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="not both"):
        dt.perturbed_kforest(S[0], 2, sigma=0.1, n_samples=2, seed=1, generator=torch.Generator())
    with pytest.raises(ValueError, match=r"\[0, 2\*\*64\)"):
        dt.perturbed_kforest(S[0], 2, sigma=0.1, n_samples=2, seed=-1)
    with pytest.raises(TypeError, match="integers"):
        dt.partial_fy_loss(S, 2, torch.zeros(5), sigma=0.1, n_samples=2)
    with pytest.raises(ValueError, match="labels"):
        dt.partial_fy_loss(S, 2, torch.zeros(4, dtype=torch.int64), sigma=0.1, n_samples=2)
    with pytest.raises(ValueError, match="sigma"):
        dt.partial_fy_loss(S, 2, torch.zeros(5, dtype=torch.int64), sigma=0.0, n_samples=2)
    with pytest.raises(ValueError, match="similarity"):
        dt.PartialFYLoss(2, similarity="l1")
    with pytest.raises(TypeError, match="floating-point"):
        dt.kforest(torch.zeros(3, 3, dtype=torch.int64), 1)


# --------------------------------------------------------------------------- similarities and modules


def test_similarities_and_standardization(rng):
    X = torch.tensor(rng.normal(size=(2, 7, 3)))
    torch.testing.assert_close(dt.similarity(X, "sqeuclidean"), -torch.cdist(X, X) ** 2)
    torch.testing.assert_close(dt.similarity(X, "dot"), torch.einsum("bid,bjd->bij", X, X))
    U = X / X.norm(dim=-1, keepdim=True)
    torch.testing.assert_close(dt.similarity(X, "cosine"), U @ U.mT)
    S = dt.similarity(X, "sqeuclidean", standardize=True)
    off = S[:, ~torch.eye(7, dtype=torch.bool)]
    torch.testing.assert_close(off.mean(-1), torch.zeros(2, dtype=S.dtype))
    torch.testing.assert_close(off.std(-1, unbiased=False), torch.ones(2, dtype=S.dtype))


def test_partial_fy_module_reductions(rng):
    X = torch.tensor(rng.normal(size=(3, 8, 2)))
    y = torch.tensor([[0, 0, 1, 1, -1, -1, -1, -1]] * 3)
    seed = torch.tensor([1, 2, 3])
    per = dt.PartialFYLoss(2, sigma=0.5, n_samples=8, reduction="none")(X, y, seed=seed)
    S = dt.similarity(X, "sqeuclidean", standardize=True)
    assert torch.equal(per, dt.partial_fy_loss(S, 2, y, sigma=0.5, n_samples=8, seed=seed))
    assert torch.equal(dt.PartialFYLoss(2, sigma=0.5, n_samples=8)(X, y, seed=seed), per.mean())
    assert torch.equal(dt.PartialFYLoss(2, sigma=0.5, n_samples=8, reduction="sum")(X, y, seed=seed), per.sum())


def test_dec_and_soft_ncut_modules(rng):
    Z = torch.tensor(rng.normal(size=(10, 2)), requires_grad=True)
    C = torch.tensor(rng.normal(size=(3, 2)))
    module = dt.DECLoss(C, alpha=1.0, reduction="mean")
    loss = module(Z)
    loss.backward()
    ref = diffclust.dec_loss(Z.detach().numpy(), C.numpy())
    assert loss.item() == pytest.approx(ref.loss / 10, rel=1e-15)
    np.testing.assert_allclose(Z.grad.numpy(), ref.grad_Z / 10, rtol=1e-13)
    np.testing.assert_allclose(module.centers.grad.numpy(), ref.grad_centers / 10, rtol=1e-13)
    W = torch.tensor(rng.uniform(size=(10, 10)))
    logits = torch.tensor(rng.normal(size=(10, 3)))
    assert torch.equal(dt.SoftNcutLoss(from_logits=True)(W, logits), dt.soft_ncut(W, torch.softmax(logits, -1)))


# --------------------------------------------------------------------------- vmap and compile


def test_vmap_equals_a_loop(rng):
    S = _similarity(rng, 3, 6)
    seeds = torch.tensor([7, 8, 9])
    labels = torch.tensor([[0, 0, 1, -1, -1, 1]] * 3)

    def forward(S, seed):
        return dt.perturbed_kforest(S, 2, sigma=0.5, n_samples=8, seed=seed)

    def loss(S, y, seed):
        return dt.partial_fy_loss(S, 2, y, sigma=0.5, n_samples=8, seed=seed)

    A, M, F = torch.vmap(forward)(S, seeds)
    L = torch.vmap(loss)(S, labels, seeds)
    for t in range(3):
        a, m, f = forward(S[t], seeds[t])
        assert torch.equal(A[t], a) and torch.equal(M[t], m) and torch.equal(F[t], f)
        assert torch.equal(L[t], loss(S[t], labels[t], seeds[t]))
    # vmapped over the second axis, S shared: every element sees the same S
    A2 = torch.vmap(forward, in_dims=(None, 0))(S[0], seeds)[0]
    assert torch.equal(A2[1], forward(S[0], seeds[1])[0])
    # autograd through vmap (torch.func.grad is not available for torch.library custom ops)
    Sg = S.clone().requires_grad_()
    torch.vmap(loss)(Sg, labels, seeds).sum().backward()
    for t in range(3):
        St = S[t].clone().requires_grad_()
        loss(St, labels[t], seeds[t]).backward()
        assert torch.equal(Sg.grad[t], St.grad)


def test_vmap_of_classical_losses_equals_a_loop(rng):
    X = torch.tensor(rng.normal(size=(3, 10, 2)))
    C = torch.tensor(rng.normal(size=(3, 4, 2)))
    W = torch.tensor(rng.uniform(size=(10, 10)))
    P = torch.softmax(torch.tensor(rng.normal(size=(3, 10, 4))), -1)
    w = torch.full((4,), 0.25, dtype=torch.float64)
    cov = torch.ones(4, dtype=torch.float64)
    cases = [
        (dt.kmeans_loss, (X, C), (0, 0)),
        (lambda X, C: dt.dec_loss(X, C, 1.0), (X, C), (0, 0)),
        (dt.soft_ncut, (W, P), (None, 0)),
        (lambda X, C: dt.gmm_nll(X, w, C, cov, "spherical"), (X, C), (0, 0)),
    ]
    for fn, args, in_dims in cases:
        out = torch.vmap(fn, in_dims=in_dims)(*args)
        for t in range(3):
            assert torch.equal(out[t], fn(*[a if d is None else a[t] for a, d in zip(args, in_dims)]))


def test_compiled_training_step_one_graph_across_seeds(rng):
    from torch._dynamo.testing import CompileCounterWithBackend

    torch._dynamo.reset()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    loss_fn = dt.PartialFYLoss(k=3, sigma=1.0, n_samples=8)

    def model_step(x, y, seed=None):
        return loss_fn(model(x), y, seed=seed)

    counter = CompileCounterWithBackend("aot_eager")
    step = torch.compile(model_step, fullgraph=True, backend=counter)
    y = torch.tensor([0, 1, 2] + [-1] * 9)
    for _ in range(3):  # new data, seeds drawn inside the graph
        x = torch.tensor(rng.normal(size=(12, 5)), dtype=torch.float32)
        loss = step(x, y)
        loss.backward()
        assert loss.item() >= 0 and all(p.grad is not None for p in model.parameters())
        model.zero_grad()
    assert counter.frame_count == 1  # one graph for every seed drawn
    for s in (1, 2):  # explicit seed tensors: the same graph, the eager result
        seed = torch.tensor(s)
        x = torch.tensor(rng.normal(size=(12, 5)), dtype=torch.float32)
        assert torch.equal(step(x, y, seed), model_step(x, y, seed))
    torch.manual_seed(5)
    a = step(x, y)
    torch.manual_seed(5)
    assert torch.equal(a, step(x, y))
    assert counter.frame_count == 2  # plus one graph taking a seed tensor, for every seed


# --------------------------------------------------------------------------- the lean path


def test_kernel_labels_number_rows_as_the_numpy_api():
    """``_ops.kernel_labels`` (the operators' label numbering) against ``check_constraints``."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    from diffclust._validation import check_constraints

    @hypothesis.settings(max_examples=200, deadline=None)
    @hypothesis.given(st.lists(st.lists(st.sampled_from([-1, 0, 1, 2, 3, 7, 2**40]), min_size=6, max_size=6),
                               min_size=1, max_size=4))
    def check(rows):
        y = np.array(rows, dtype=np.int64)
        out = _ops.kernel_labels(y)
        assert out.dtype == np.int64 and out.shape == y.shape and out.flags.c_contiguous
        for t in range(y.shape[0]):
            np.testing.assert_array_equal(out[t], check_constraints(6, y[t], None, None)[0])

    check()
    numbered = np.array([0, 1, -1, 1, 2], dtype=np.int64)
    assert _ops.kernel_labels(numbered) is numbered  # already numbered: passed as it is
    with pytest.raises(ValueError, match=">= -1"):
        _ops.kernel_labels(np.array([0, -2, 1]))


@pytest.mark.parametrize("batch", [(), (1,), (3,)])
def test_unnumbered_labels_equal_the_numpy_api(rng, batch):
    """Labels with gaps and large values are numbered inside the op as the NumPy API does."""
    n = 8
    S = _similarity(rng, *batch, n).requires_grad_()
    labels = torch.tensor([7, 7, 100, -1, 2**40, -1, 100, -1])
    seed = torch.arange(int(np.prod(batch)), dtype=torch.int64).reshape(batch) + 5
    loss = dt.partial_fy_loss(S, 3, labels, sigma=0.5, n_samples=10, seed=seed)
    A = dt.perturbed_kforest(S.detach(), 3, sigma=0.5, n_samples=10, seed=seed, known_labels=labels)[0]
    loss.sum().backward()
    S2, A2, g2 = (x.reshape(-1, n, n) for x in (S.detach(), A, S.grad))
    for t, s in enumerate(_u64(seed)):
        ref = diffclust.partial_fy_loss(S2[t].numpy(), 3, labels.numpy(), sigma=0.5, n_samples=10, seed=s)
        assert loss.reshape(-1)[t].item() == ref.loss
        np.testing.assert_array_equal(g2[t].numpy(), ref.grad)
        ref_A = diffclust.perturbed_kforest(S2[t].numpy(), 3, sigma=0.5, n_samples=10, seed=s,
                                            known_labels=labels.numpy()).adjacency
        np.testing.assert_array_equal(A2[t].numpy(), ref_A)


def test_direct_operator_calls_with_bad_arguments_raise(rng):
    """The front end checks once; a direct ``torch.ops.diffclust`` call skips it, and the
    bindings' checks answer with clear errors (never a crash)."""
    S = _similarity(rng, 6)
    y = torch.tensor([0, 1, -1, -1, 0, 1])
    ops = torch.ops.diffclust
    with pytest.raises(ValueError, match="k"):
        ops.partial_fy_loss(S, 9, y, 0.5, 4, torch.tensor(1))
    with pytest.raises(ValueError, match="sigma"):
        ops.partial_fy_loss(S, 2, y, -1.0, 4, torch.tensor(1))
    with pytest.raises(ValueError, match="n_samples"):
        ops.perturbed_kforest(S, 2, 0.5, 0, torch.tensor(1), None)
    with pytest.raises(ValueError, match="labels"):
        ops.partial_fy_loss(S, 2, torch.tensor([0, 1, 2, -1, -1, -1]), 0.5, 4, torch.tensor(1))  # 3 labels, k = 2
    with pytest.raises(ValueError, match="labels"):
        ops.partial_fy_loss(S, 2, torch.tensor([0, -3, 1, -1, -1, -1]), 0.5, 4, torch.tensor(1))
    with pytest.raises(ValueError, match="seed"):
        ops.perturbed_kforest(S, 2, 0.5, 4, torch.tensor([1, 2]), None)
    bad = S.clone()
    bad[0, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN|finite"):
        ops.perturbed_kforest(bad, 2, 0.5, 4, torch.tensor(1), None)
