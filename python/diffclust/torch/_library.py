"""The ``diffclust::`` torch operators: ``torch.library.custom_op`` over ``diffclust._ops``.

Each operator converts its tensors once (a CPU float32/float64 contiguous tensor is
handed to the kernel as a NumPy view, no copy; float16/bfloat16 are computed in
float32; a tensor on another device is computed on the CPU), calls the kernel and
returns tensors in the input's dtype on the input's device. ``register_fake`` gives
the output shapes to ``torch.compile``; ``register_autograd`` the gradients;
``register_vmap`` moves vmapped axes to the front of the batch (the forest ops take
any leading batch axes; the classical losses, 2-D, loop over the vmapped axis).

User code calls the functions of :mod:`diffclust.torch.functional`, which check the
arguments and draw the seeds, not these operators.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from .. import _ops
from .._validation import resolve_threads
from . import _batch

LIB = "diffclust"
_LOW_PRECISION = (torch.float16, torch.bfloat16)


# --------------------------------------------------------------------------- conversions


_FAST = (torch.float32, torch.float64)
_NP_FAST = (np.dtype(np.float32), np.dtype(np.float64))
_U64 = 2**64


def to_numpy(x: Tensor) -> NDArray[Any]:
    """A NumPy view of ``x`` (a copy only if it is not a contiguous CPU float32/float64 tensor)."""
    if x.requires_grad:
        x = x.detach()
    try:
        a = x.numpy()  # the common case in one call; raises on another device, bf16, conj/neg bits
    except (RuntimeError, TypeError):
        a = None
    if a is not None and a.dtype in _NP_FAST and a.flags.c_contiguous:
        return a
    if not x.is_cpu:
        x = x.cpu()
    if x.dtype in _LOW_PRECISION:
        x = x.float()
    if x.is_conj() or x.is_neg():
        x = x.resolve_conj().resolve_neg()
    return x.contiguous().numpy()


def from_numpy(a: Any, like: Tensor, shape: Any = None, dtype: torch.dtype | None = None) -> Tensor:
    """``a`` (reshaped to ``shape``) as a tensor in ``dtype`` (default: that of ``like``) on
    the device of ``like``; a C-contiguous array of the right dtype is shared, not copied."""
    a = np.asarray(a)
    if shape is not None and a.shape != shape:
        a = a.reshape(shape)  # NumPy's reshape: a view, and cheaper than torch's
    out = torch.from_numpy(a if a.flags.c_contiguous else np.ascontiguousarray(a))
    dtype = like.dtype if dtype is None else dtype
    if out.dtype is not dtype or not like.is_cpu:
        out = out.to(device=like.device, dtype=dtype)
    return out


def _scalars(value: float, like: Tensor, shape: tuple[int, ...], compute: np.dtype[Any]) -> Tensor:
    """A float of the kernel (a double) as a tensor of ``shape`` (one element) in the dtype of
    ``like``, rounded through the compute dtype as the NumPy API rounds it."""
    a = np.array(value, dtype=compute)
    out = torch.from_numpy(a if not shape else a.reshape(shape))
    if out.dtype is not like.dtype or not like.is_cpu:
        out = out.to(device=like.device, dtype=like.dtype)
    return out


def _seeds(seed: Tensor, batch: tuple[int, ...]) -> NDArray[np.uint64]:
    """The seeds (b,) uint64 of a stack (int64 tensor of shape ``batch``, read as uint64)."""
    _check_seed(seed, batch)
    if not seed.is_cpu:
        seed = seed.cpu()
    return np.ascontiguousarray(seed.detach().numpy()).reshape(-1).view(np.uint64)


def _seed(seed: Tensor, batch: tuple[int, ...]) -> int:
    """The seed in [0, 2**64) of one matrix (an int64 tensor of shape ``batch``, one element)."""
    _check_seed(seed, batch)
    return int(seed) % _U64


def _check_seed(seed: Tensor, batch: tuple[int, ...]) -> None:
    if tuple(seed.shape) != batch:
        raise ValueError(f"seed must have shape S.shape[:-2] = {batch}, got {tuple(seed.shape)}")
    if seed.dtype != torch.int64:
        raise TypeError(f"seed must be an int64 tensor, got {seed.dtype}")


def _labels(labels: Tensor | None, shape: tuple[int, ...], name: str, one: bool) -> NDArray[np.int64] | None:
    """Label rows (b, n) for the kernels (a row (n,) if ``one``), numbered as the NumPy API numbers them."""
    if labels is None:
        return None
    if tuple(labels.shape) != shape:
        raise ValueError(f"{name} must have shape S.shape[:-1] = {shape}, got {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor, got {labels.dtype}")
    labels = labels.detach()
    if not labels.is_cpu or labels.dtype != torch.int64:
        labels = labels.to(device="cpu", dtype=torch.int64)
    return _batch.labels_for_kernel(labels.numpy().reshape((-1, shape[-1]) if not one else (shape[-1],)))


class _Host(NamedTuple):
    """The NumPy side of a perturbed operator's tensors: S as one matrix (n, n) with an int
    seed and labels (n,) when it holds one matrix, else as a stack (b, n, n) with seeds (b,)
    and labels (b, n)."""

    S: NDArray[Any]
    seeds: int | NDArray[np.uint64]
    labels: NDArray[np.int64] | None
    batch: tuple[int, ...]
    one: bool


def _host(S: Tensor, seed: Tensor, labels: Tensor | None, name: str) -> _Host:
    batch, n = _square(S)
    X = to_numpy(S)
    one = X.size == n * n
    if one:
        return _Host(X.reshape(n, n), _seed(seed, batch), _labels(labels, (*batch, n), name, True), batch, True)
    return _Host(X.reshape(-1, n, n), _seeds(seed, batch), _labels(labels, (*batch, n), name, False), batch, False)


def _square(S: Tensor) -> tuple[tuple[int, ...], int]:
    shape = S.shape
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"S must have shape (..., n, n), got {tuple(shape)}")
    if not S.dtype.is_floating_point:
        raise TypeError(f"S must be a floating-point tensor, got {S.dtype}")
    return tuple(shape[:-2]), int(shape[-1])


def _empty(shape: Any, like: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    return torch.empty(tuple(shape), dtype=like.dtype if dtype is None else dtype, device=like.device)


def _is_zero(g: Tensor | None) -> bool:
    """True for a missing cotangent, or one that autograd (or AOT) filled with zeros."""
    return g is None or not bool(g.any())


def _vmap_rule(op: Any, tensors: tuple[int, ...]) -> Callable[..., Any]:
    """A vmap rule for an op batched over leading axes: vmapped axes go in front (an
    unbatched tensor argument is expanded), the op runs once, outputs are batched at 0."""

    def rule(info: Any, in_dims: tuple[Any, ...], *args: Any) -> tuple[Any, Any]:
        new = list(args)
        for i in tensors:
            x = args[i]
            if x is None:
                continue
            d = in_dims[i]
            new[i] = x.movedim(d, 0) if d is not None else x.expand(info.batch_size, *x.shape)
        out = op(*new)
        if isinstance(out, tuple):
            return out, (0,) * len(out)
        return out, 0

    return rule


def _loop_vmap_rule(op: Any) -> Callable[..., Any]:
    """A vmap rule for a 2-D op: one call per element of the vmapped axis, outputs stacked."""

    def rule(info: Any, in_dims: tuple[Any, ...], *args: Any) -> tuple[Any, Any]:
        outs = []
        for i in range(info.batch_size):
            outs.append(op(*[x if d is None else x.select(d, i) for x, d in zip(args, in_dims)]))
        if isinstance(outs[0], tuple):
            return tuple(torch.stack(parts) for parts in zip(*outs)), (0,) * len(outs[0])
        return torch.stack(outs), 0

    return rule


# --------------------------------------------------------------------------- perturbed k-forest


@torch.library.custom_op(f"{LIB}::perturbed_kforest", mutates_args=())
def perturbed_kforest(
    S: Tensor, k: int, sigma: float, n_samples: int, seed: Tensor, known_labels: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """(A_eps, M_eps, F_eps) of S (..., n, n); seed (...) int64, one per matrix."""
    h = _host(S, seed, known_labels, "known_labels")
    A, M, F = _batch.forward(h.S, k, sigma, n_samples, h.seeds, h.labels)
    F = _scalars(F, S, h.batch, h.S.dtype) if h.one else from_numpy(F, S, h.batch)
    return from_numpy(A, S, S.shape), from_numpy(M, S, S.shape), F


@perturbed_kforest.register_fake
def _(S: Tensor, k: int, sigma: float, n_samples: int, seed: Tensor, known_labels: Tensor | None) -> Any:
    return _empty(S.shape, S), _empty(S.shape, S), _empty(S.shape[:-2], S)


@torch.library.custom_op(f"{LIB}::perturbed_kforest_vjp", mutates_args=())
def perturbed_kforest_vjp(
    S: Tensor, grad_adjacency: Tensor | None, grad_connectivity: Tensor | None, k: int,
    sigma: float, n_samples: int, seed: Tensor, known_labels: Tensor | None, control_variate: bool,
) -> Tensor:
    """The score-function VJP of (A_eps, M_eps) at S for the cotangents (None or zeros: skipped)."""
    _square(S)
    VA = None if _is_zero(grad_adjacency) else grad_adjacency
    VM = None if _is_zero(grad_connectivity) else grad_connectivity
    if VA is None and VM is None:
        return torch.zeros(S.shape, dtype=S.dtype, device=S.device)
    h = _host(S, seed, known_labels, "known_labels")

    def cotangent(V: Tensor | None, name: str) -> NDArray[Any] | None:
        if V is None:
            return None
        if tuple(V.shape) != tuple(S.shape):
            raise ValueError(f"{name} must have the shape of S {tuple(S.shape)}, got {tuple(V.shape)}")
        return np.ascontiguousarray(to_numpy(V), dtype=h.S.dtype).reshape(h.S.shape)

    g = _batch.vjp(h.S, k, sigma, n_samples, h.seeds, h.labels, cotangent(VA, "grad_adjacency"),
                   cotangent(VM, "grad_connectivity"), bool(control_variate))
    return from_numpy(g, S, S.shape)


@perturbed_kforest_vjp.register_fake
def _(S: Tensor, grad_adjacency: Tensor | None, grad_connectivity: Tensor | None, k: int,
      sigma: float, n_samples: int, seed: Tensor, known_labels: Tensor | None, control_variate: bool) -> Tensor:
    return _empty(S.shape, S)


def _forest_setup(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
    S, k, sigma, n_samples, seed, known_labels = inputs
    ctx.set_materialize_grads(False)  # an unused A or M reaches backward as None: no VJP
    ctx.save_for_backward(S, seed, known_labels, output[0])
    ctx.params = (k, sigma, n_samples)


def _forest_backward(ctx: Any, grad_A: Tensor | None, grad_M: Tensor | None, grad_F: Tensor | None) -> Any:
    S, seed, known_labels, A = ctx.saved_tensors
    k, sigma, n_samples = ctx.params
    grad: Tensor | None = None
    if grad_F is not None:
        grad = _scale(grad_F, A)  # dF_eps/dS = A_eps
    if grad_A is not None or grad_M is not None:
        g = perturbed_kforest_vjp(S, grad_A, grad_M, k, sigma, n_samples, seed, known_labels, True)
        grad = g if grad is None else grad + g
    return grad, None, None, None, None, None


perturbed_kforest.register_autograd(_forest_backward, setup_context=_forest_setup)
perturbed_kforest.register_vmap(_vmap_rule(perturbed_kforest, (0, 4, 5)))


def _vjp_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    pass


def _vjp_backward(ctx: Any, grad: Tensor) -> Any:
    raise NotImplementedError(
        "diffclust.torch: second derivatives of the perturbed k-forest's A_eps and M_eps are not "
        "implemented (the first-order VJP is a score-function estimate)"
    )


perturbed_kforest_vjp.register_autograd(_vjp_backward, setup_context=_vjp_setup)
perturbed_kforest_vjp.register_vmap(_vmap_rule(perturbed_kforest_vjp, (0, 1, 2, 6, 7)))


# --------------------------------------------------------------------------- partial Fenchel-Young loss


@torch.library.custom_op(f"{LIB}::partial_fy_loss", mutates_args=())
def partial_fy_loss(
    S: Tensor, k: int, known_labels: Tensor, sigma: float, n_samples: int, seed: Tensor
) -> tuple[Tensor, Tensor]:
    """(loss (...), dloss/dS (..., n, n)) of the partial Fenchel-Young loss, per matrix."""
    h = _host(S, seed, known_labels, "known_labels")
    assert h.labels is not None  # known_labels is a Tensor (the schema says so)
    loss, grad = _batch.loss(h.S, k, sigma, n_samples, h.seeds, h.labels)
    loss = _scalars(loss, S, h.batch, h.S.dtype) if h.one else from_numpy(loss, S, h.batch)
    return loss, from_numpy(grad, S, S.shape)


@partial_fy_loss.register_fake
def _(S: Tensor, k: int, known_labels: Tensor, sigma: float, n_samples: int, seed: Tensor) -> Any:
    return _empty(S.shape[:-2], S), _empty(S.shape, S)


def _loss_setup(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> None:
    ctx.set_materialize_grads(False)
    ctx.mark_non_differentiable(output[1])  # internal: with the noise fixed, dloss/dS is piecewise constant
    ctx.save_for_backward(output[1])


def _scale(g: Tensor, grad: Tensor) -> Tensor:
    """g (...) times grad (..., n, n), matrix by matrix."""
    return grad * (g if g.dim() == 0 else g[..., None, None])


def _loss_backward(ctx: Any, grad_loss: Tensor | None, grad_grad: Tensor | None) -> Any:
    (grad,) = ctx.saved_tensors
    g = None if grad_loss is None else _scale(grad_loss, grad)
    return g, None, None, None, None, None


partial_fy_loss.register_autograd(_loss_backward, setup_context=_loss_setup)
partial_fy_loss.register_vmap(_vmap_rule(partial_fy_loss, (0, 2, 5)))


# --------------------------------------------------------------------------- exact k-forest


@torch.library.custom_op(f"{LIB}::kforest", mutates_args=())
def kforest(S: Tensor, k: int) -> Tensor:
    """Labels (..., n) int64 of the maximum-weight k-forest of S (..., n, n)."""
    batch, n = _square(S)
    S3 = to_numpy(S).reshape(-1, n, n)
    labels = _ops.kforest(S3, k, resolve_threads(None))[0]
    return from_numpy(labels, S, (*batch, n), torch.int64)


@kforest.register_fake
def _(S: Tensor, k: int) -> Tensor:
    return _empty(S.shape[:-1], S, torch.int64)


kforest.register_vmap(_vmap_rule(kforest, (0,)))


# --------------------------------------------------------------------------- classical losses


@torch.library.custom_op(f"{LIB}::soft_ncut", mutates_args=())
def soft_ncut(W: Tensor, P: Tensor) -> tuple[Tensor, Tensor]:
    """(relaxed Ncut, d value / d P) of a dense affinity W (n, n) and soft assignment P (n, k)."""
    value, grad = _ops.soft_ncut(to_numpy(W), to_numpy(P), resolve_threads(None))
    return from_numpy(np.asarray(value), P), from_numpy(grad, P)


@soft_ncut.register_fake
def _(W: Tensor, P: Tensor) -> Any:
    return _empty((), P), _empty(P.shape, P)


def _save_outputs_setup(first: int) -> Callable[..., None]:
    def setup(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(*output[first:])

    return setup


def _soft_ncut_backward(ctx: Any, grad_value: Tensor | None, grad_grad: Tensor | None) -> Any:
    # the gradient output is internal (the functional API returns the value only)
    (grad,) = ctx.saved_tensors
    return None, None if grad_value is None else grad_value * grad


soft_ncut.register_autograd(_soft_ncut_backward, setup_context=_save_outputs_setup(1))
soft_ncut.register_vmap(_loop_vmap_rule(soft_ncut))


@torch.library.custom_op(f"{LIB}::dec_loss", mutates_args=())
def dec_loss(Z: Tensor, centers: Tensor, alpha: float, target: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """(KL(P || Q), d/dZ, d/dcenters) of the DEC loss (target None: DEC's, held fixed)."""
    T = None if target is None else to_numpy(target)
    loss, gz, gc = _ops.dec_loss(to_numpy(Z), to_numpy(centers), alpha, T, resolve_threads(None))
    return from_numpy(np.asarray(loss), Z), from_numpy(gz, Z), from_numpy(gc, centers)


@dec_loss.register_fake
def _(Z: Tensor, centers: Tensor, alpha: float, target: Tensor | None) -> Any:
    return _empty((), Z), _empty(Z.shape, Z), _empty(centers.shape, centers)


def _dec_backward(ctx: Any, grad_loss: Tensor | None, *grad_grads: Tensor | None) -> Any:
    gz, gc = ctx.saved_tensors
    if grad_loss is None:
        return None, None, None, None
    return grad_loss * gz, grad_loss * gc, None, None


dec_loss.register_autograd(_dec_backward, setup_context=_save_outputs_setup(1))
dec_loss.register_vmap(_loop_vmap_rule(dec_loss))


@torch.library.custom_op(f"{LIB}::kmeans_loss", mutates_args=())
def kmeans_loss(X: Tensor, centers: Tensor, labels: Tensor | None) -> Tensor:
    """The k-means loss sum_i ||x_i - c_{l_i}||^2 (labels None: the nearest center)."""
    lab = None if labels is None else labels.detach().cpu().numpy()
    value = _ops.kmeans_loss(to_numpy(X), to_numpy(centers), lab, resolve_threads(None))
    return from_numpy(np.asarray(value), X)


@kmeans_loss.register_fake
def _(X: Tensor, centers: Tensor, labels: Tensor | None) -> Tensor:
    return _empty((), X)


def _inputs_setup(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    ctx.save_for_backward(*[x if isinstance(x, Tensor) else None for x in inputs])
    ctx.others = [None if isinstance(x, Tensor) else x for x in inputs]


def kmeans_assignment(X: Tensor, centers: Tensor) -> Tensor:
    """The nearest center of each point (the first one on ties), from exact differences."""
    d = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
    return d.argmin(dim=1)


def _kmeans_backward(ctx: Any, grad: Tensor) -> Any:
    X, centers, labels = ctx.saved_tensors
    with torch.no_grad():
        lab = kmeans_assignment(X, centers) if labels is None else labels.to(torch.int64)
        diff = X - centers[lab]  # dL/dx_i = 2 (x_i - c_{l_i})
        gx = 2 * grad * diff
        gc = torch.zeros_like(centers).index_add_(0, lab, -2 * grad * diff.to(centers.dtype))
    return gx, gc, None


kmeans_loss.register_autograd(_kmeans_backward, setup_context=_inputs_setup)
kmeans_loss.register_vmap(_loop_vmap_rule(kmeans_loss))


@torch.library.custom_op(f"{LIB}::gmm_nll", mutates_args=())
def gmm_nll(X: Tensor, weights: Tensor, means: Tensor, covariances: Tensor, covariance_type: str) -> Tensor:
    """The mean negative log-likelihood of X under a Gaussian mixture."""
    value, _ = _ops.gmm_nll(
        to_numpy(X), to_numpy(weights), to_numpy(means), to_numpy(covariances), covariance_type, False,
        resolve_threads(None),
    )
    return from_numpy(np.asarray(value), X)


@gmm_nll.register_fake
def _(X: Tensor, weights: Tensor, means: Tensor, covariances: Tensor, covariance_type: str) -> Tensor:
    return _empty((), X)


def gmm_responsibilities(
    X: Tensor, weights: Tensor, means: Tensor, covariances: Tensor, covariance_type: str
) -> tuple[Tensor, Tensor]:
    """(r (n, k), Sigma_j^-1 (x_i - mu_j) (n, k, d)) in float64: the posterior of each
    component and the whitened differences, from the Cholesky factor of each covariance."""
    X, w, mu, cov = (t.detach().to(torch.float64) for t in (X, weights, means, covariances))
    k, d = mu.shape
    if covariance_type == "full":
        full = cov
    elif covariance_type == "tied":
        full = cov.expand(k, d, d)
    elif covariance_type == "diag":
        full = torch.diag_embed(cov)
    else:
        full = cov[:, None, None] * torch.eye(d, dtype=cov.dtype)
    L = torch.linalg.cholesky(full)  # (k, d, d)
    diff = X[:, None, :] - mu[None, :, :]  # (n, k, d)
    y = torch.linalg.solve_triangular(L, diff.permute(1, 2, 0), upper=False)  # (k, d, n)
    white = torch.linalg.solve_triangular(L.mT, y, upper=True).permute(2, 0, 1)  # (n, k, d)
    maha = (y**2).sum(1).T  # (n, k)
    logdet = 2 * torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)
    log_p = torch.log(w) - 0.5 * (d * np.log(2 * np.pi) + logdet + maha)
    return torch.softmax(log_p, dim=1), white


def _gmm_backward(ctx: Any, grad: Tensor) -> Any:
    X, weights, means, covariances = ctx.saved_tensors[:4]
    covariance_type = ctx.others[4]
    if ctx.needs_input_grad[1] or ctx.needs_input_grad[3]:
        raise NotImplementedError(
            "diffclust.torch.gmm_nll is differentiable in X and means only; pass weights and "
            "covariances that do not require grad (detach them)"
        )
    with torch.no_grad():
        r, white = gmm_responsibilities(X, weights, means, covariances, covariance_type)
        n = X.shape[0]
        term = r[:, :, None] * white / n  # d NLL / d x_i = (1/n) sum_j r_ij Sigma_j^-1 (x_i - mu_j)
        g = grad.to(torch.float64)
        gx = (g * term.sum(1)).to(X.dtype) if ctx.needs_input_grad[0] else None
        gm = (-g * term.sum(0)).to(means.dtype) if ctx.needs_input_grad[2] else None
    return gx, None, gm, None, None


gmm_nll.register_autograd(_gmm_backward, setup_context=_inputs_setup)
gmm_nll.register_vmap(_loop_vmap_rule(gmm_nll))


# --------------------------------------------------------------------------- perturbed HDBSCAN*


def _hdbscan_host(S: Tensor, seed: Tensor) -> tuple[NDArray[Any], int]:
    batch, _ = _square(S)
    if batch:
        raise ValueError(f"S must have shape (n, n) (one matrix), got {tuple(S.shape)}")
    return to_numpy(S), _seed(seed, ())


@torch.library.custom_op(f"{LIB}::perturbed_hdbscan", mutates_args=())
def perturbed_hdbscan(
    S: Tensor, min_cluster_size: int, sigma: float, sigma_scale: str, n_samples: int, seed: Tensor,
    cluster_selection_method: str, cluster_selection_epsilon: float, allow_single_cluster: bool,
) -> tuple[Tensor, Tensor]:
    """(co_clustering (n, n), noise_probability (n,)) of HDBSCAN* on the perturbed trees of S = -d_mr."""
    from .. import density_perturbed

    Sn, s = _hdbscan_host(S, seed)
    C, noise = density_perturbed.hdbscan_of_similarity(
        Sn, min_cluster_size, sigma, sigma_scale, n_samples, s,
        (cluster_selection_method, cluster_selection_epsilon, allow_single_cluster), resolve_threads(None))
    return from_numpy(C, S, S.shape), from_numpy(noise, S, S.shape[:-1])


@perturbed_hdbscan.register_fake
def _(S: Tensor, min_cluster_size: int, sigma: float, sigma_scale: str, n_samples: int, seed: Tensor,
      cluster_selection_method: str, cluster_selection_epsilon: float, allow_single_cluster: bool) -> Any:
    return _empty(S.shape, S), _empty(S.shape[:-1], S)


@torch.library.custom_op(f"{LIB}::perturbed_hdbscan_vjp", mutates_args=())
def perturbed_hdbscan_vjp(
    S: Tensor, grad_co_clustering: Tensor | None, grad_noise_probability: Tensor | None, min_cluster_size: int,
    sigma: float, sigma_scale: str, n_samples: int, seed: Tensor, cluster_selection_method: str,
    cluster_selection_epsilon: float, allow_single_cluster: bool,
) -> Tensor:
    """The score-function VJP of perturbed_hdbscan's outputs at S (cotangents None or zeros: skipped)."""
    from .. import density_perturbed

    VC = None if _is_zero(grad_co_clustering) else grad_co_clustering
    vn = None if _is_zero(grad_noise_probability) else grad_noise_probability
    if VC is None and vn is None:
        return torch.zeros(S.shape, dtype=S.dtype, device=S.device)
    Sn, s = _hdbscan_host(S, seed)
    g = density_perturbed.hdbscan_of_similarity_vjp(
        Sn, None if VC is None else to_numpy(VC), None if vn is None else to_numpy(vn), min_cluster_size, sigma,
        sigma_scale, n_samples, s, (cluster_selection_method, cluster_selection_epsilon, allow_single_cluster),
        resolve_threads(None))
    return from_numpy(g, S, S.shape)


@perturbed_hdbscan_vjp.register_fake
def _(S: Tensor, grad_co_clustering: Tensor | None, grad_noise_probability: Tensor | None, min_cluster_size: int,
      sigma: float, sigma_scale: str, n_samples: int, seed: Tensor, cluster_selection_method: str,
      cluster_selection_epsilon: float, allow_single_cluster: bool) -> Tensor:
    return _empty(S.shape, S)


def _hdbscan_setup(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
    ctx.set_materialize_grads(False)
    ctx.save_for_backward(inputs[0], inputs[5])
    ctx.params = inputs[1:5] + inputs[6:]


def _hdbscan_backward(ctx: Any, grad_C: Tensor | None, grad_noise: Tensor | None) -> Any:
    S, seed = ctx.saved_tensors
    mcs, sigma, sigma_scale, n_samples, method, epsilon, single = ctx.params
    grad = None
    if grad_C is not None or grad_noise is not None:
        grad = perturbed_hdbscan_vjp(S, grad_C, grad_noise, mcs, sigma, sigma_scale, n_samples, seed, method,
                                     epsilon, single)
    return grad, None, None, None, None, None, None, None, None


def _hdbscan_vjp_backward(ctx: Any, grad: Tensor) -> Any:
    raise NotImplementedError(
        "diffclust.torch: second derivatives of the perturbed HDBSCAN* are not implemented (the "
        "first-order VJP is a score-function estimate)"
    )


perturbed_hdbscan.register_autograd(_hdbscan_backward, setup_context=_hdbscan_setup)
perturbed_hdbscan.register_vmap(_loop_vmap_rule(perturbed_hdbscan))
perturbed_hdbscan_vjp.register_autograd(_hdbscan_vjp_backward, setup_context=_vjp_setup)
perturbed_hdbscan_vjp.register_vmap(_loop_vmap_rule(perturbed_hdbscan_vjp))
