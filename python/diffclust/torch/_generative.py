"""DEC, VaDE and ClusterGAN: the survey's deep clustering losses with a latent model.

Plain differentiable torch code (the DEC KL itself is the ``diffclust::dec_loss``
kernel of :func:`diffclust.torch.dec_loss`). Re-exported by :mod:`diffclust.torch.deep`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from . import functional as F

__all__ = [
    "ClusterGANLoss",
    "ClusterGANPrior",
    "ClusteringLayer",
    "VaDELoss",
    "clustergan_loss",
    "clustergan_prior",
    "dec_init_centers",
    "dec_target_distribution",
    "student_t_assignment",
    "vade_loss",
    "vade_responsibilities",
]

LOG_2PI = math.log(2.0 * math.pi)
REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def _check_matrix(x: Any, name: str, cols: int | None = None) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")
    if x.dim() != 2:
        raise ValueError(f"{name} must have shape (n, d), got {tuple(x.shape)}")
    if cols is not None and x.shape[1] != cols:
        raise ValueError(f"{name} must have {cols} columns, got shape {tuple(x.shape)}")
    return x


def _check_positive(value: Any, name: str) -> float:
    v = float(value)
    if not v > 0 or not math.isfinite(v):
        raise ValueError(f"{name} must be positive and finite, got {value}")
    return v


def _sqdist(Z: Tensor, centers: Tensor) -> Tensor:
    """(n, k) squared distances by differences (no Gram trick: exact, zero at a center)."""
    return ((Z[:, None, :] - centers[None, :, :]) ** 2).sum(-1)


# --------------------------------------------------------------------------------------- DEC


def student_t_assignment(Z: Tensor, centers: Tensor, alpha: float = 1.0) -> Tensor:
    """DEC's soft assignment Q (n, k) of embeddings to centers by a Student-t kernel.

    ``q_ij = (1 + ||z_i - mu_j||^2 / alpha)^(-(alpha+1)/2) / sum_j' (...)``,
    computed in log space (``log1p`` and a softmax), so far points keep a finite Q.

    Parameters
    ----------
    Z : Tensor, shape (n, d)
        Embedded points.
    centers : Tensor, shape (k, d)
        Cluster centers mu_j.
    alpha : float, default 1.0
        Degrees of freedom of the Student-t kernel (DEC uses 1).

    Returns
    -------
    Tensor, shape (n, k)
        Rows sum to 1; differentiable in Z and centers.

    References
    ----------
    J. Xie, R. Girshick, A. Farhadi. Unsupervised deep embedding for clustering
    analysis. ICML 2016 (equation 1).
    """
    _check_matrix(Z, "Z")
    _check_matrix(centers, "centers", Z.shape[1])
    a = _check_positive(alpha, "alpha")
    logits = -(a + 1.0) / 2.0 * torch.log1p(_sqdist(Z, centers) / a)
    return torch.softmax(logits, dim=-1)


def dec_target_distribution(Q: Tensor) -> Tensor:
    """DEC's target distribution ``p_ij = (q_ij^2 / f_j) / sum_j' (q_ij'^2 / f_j')``.

    ``f_j = sum_i q_ij`` are the soft cluster frequencies. DEC holds P fixed while
    it trains (detach it, or recompute it every few iterations as the paper does).

    Parameters
    ----------
    Q : Tensor, shape (n, k)
        Soft assignment (:func:`student_t_assignment`).

    Returns
    -------
    Tensor, shape (n, k)
        Rows sum to 1.

    References
    ----------
    Xie, Girshick, Farhadi, ICML 2016 (equation 3).
    """
    _check_matrix(Q, "Q")
    weight = Q * Q / Q.sum(0, keepdim=True)
    return weight / weight.sum(1, keepdim=True)


def dec_init_centers(
    Z: Tensor, n_clusters: int, *, n_init: int = 20, max_iter: int = 300, seed: int | None = None,
    n_threads: int | None = None,
) -> Tensor:
    """DEC's initial centers: k-means (:func:`diffclust.kmeans`) on the embeddings.

    The paper runs k-means with 20 restarts on the pretrained autoencoder's
    embeddings and keeps the best; ``n_init=20`` does the same.

    Parameters
    ----------
    Z : Tensor, shape (n, d)
        Embeddings (detached; computed on the CPU).
    n_clusters : int
        Number of clusters k.
    n_init, max_iter, seed, n_threads
        Passed to :func:`diffclust.kmeans` (k-means++ initialisation).

    Returns
    -------
    Tensor, shape (k, d)
        The centers, in the dtype and on the device of Z.
    """
    from ..centroids import kmeans

    _check_matrix(Z, "Z")
    X = Z.detach().to(device="cpu", dtype=torch.float64).numpy()
    res = kmeans(X, int(n_clusters), n_init=n_init, max_iter=max_iter, seed=seed, n_threads=n_threads)
    return torch.from_numpy(np.asarray(res.centers, dtype=np.float64)).to(dtype=Z.dtype, device=Z.device)


class ClusteringLayer(nn.Module):
    """DEC's clustering layer: learnable centers and the Student-t soft assignment.

    ``forward(Z)`` returns Q (n, k) (:func:`student_t_assignment`); :meth:`loss` is
    DEC's KL(P || Q) through the ``diffclust::dec_loss`` kernel; :meth:`init_from_kmeans`
    sets the centers from k-means on the embeddings, as DEC does before training.

    Parameters
    ----------
    n_clusters : int
        Number of clusters k.
    n_features : int
        Dimension d of the embeddings.
    alpha : float, default 1.0
        Student-t degrees of freedom.
    centers : Tensor, shape (k, d), optional
        Initial centers (default: Xavier-uniform, to be replaced by
        :meth:`init_from_kmeans`).

    References
    ----------
    Xie, Girshick, Farhadi. Unsupervised deep embedding for clustering analysis. ICML 2016.
    """

    def __init__(self, n_clusters: int, n_features: int, alpha: float = 1.0,
                 centers: Tensor | None = None) -> None:
        super().__init__()
        if int(n_clusters) < 1 or int(n_features) < 1:
            raise ValueError(f"n_clusters and n_features must be >= 1, got {n_clusters}, {n_features}")
        self.alpha = _check_positive(alpha, "alpha")
        if centers is None:
            init = torch.empty(int(n_clusters), int(n_features))
            nn.init.xavier_uniform_(init)
        else:
            init = torch.as_tensor(centers).detach().clone()
            if tuple(init.shape) != (int(n_clusters), int(n_features)):
                raise ValueError(f"centers must have shape ({n_clusters}, {n_features}), got {tuple(init.shape)}")
        self.centers = nn.Parameter(init)

    def forward(self, Z: Tensor) -> Tensor:
        """Soft assignment Q (n, k) of embeddings Z (n, d)."""
        return student_t_assignment(Z, self.centers, self.alpha)

    def loss(self, Z: Tensor, target: Tensor | None = None, reduction: str = "sum") -> Tensor:
        """KL(P || Q); P is DEC's target computed from Q and held fixed unless given.

        ``reduction="sum"`` is the paper's sum over points, ``"mean"`` divides by n.
        """
        if reduction not in ("sum", "mean"):
            raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
        value = F.dec_loss(Z, self.centers, self.alpha, target=target)
        return value / Z.shape[0] if reduction == "mean" else value

    @torch.no_grad()
    def init_from_kmeans(self, Z: Tensor, *, n_init: int = 20, max_iter: int = 300,
                         seed: int | None = None, n_threads: int | None = None) -> None:
        """Set the centers to k-means centers of Z (:func:`dec_init_centers`)."""
        centers = dec_init_centers(Z, self.centers.shape[0], n_init=n_init, max_iter=max_iter, seed=seed,
                                   n_threads=n_threads)
        if centers.shape != self.centers.shape:
            raise ValueError(f"Z must have {self.centers.shape[1]} columns, got {Z.shape[1]}")
        self.centers.copy_(centers)

    def extra_repr(self) -> str:
        return f"n_clusters={self.centers.shape[0]}, n_features={self.centers.shape[1]}, alpha={self.alpha}"


# -------------------------------------------------------------------------------------- VaDE


def _log_normal_diag(z: Tensor, means: Tensor, log_vars: Tensor) -> Tensor:
    """(n, k) log N(z_i | mu_c, diag exp(log_vars_c))."""
    diff = z[:, None, :] - means[None, :, :]
    return -0.5 * (LOG_2PI + log_vars[None] + diff * diff * torch.exp(-log_vars)[None]).sum(-1)


def _check_mixture(weight_logits: Tensor, means: Tensor, log_vars: Tensor, d: int) -> None:
    k = means.shape[0] if means.dim() == 2 else -1
    if means.dim() != 2 or means.shape[1] != d:
        raise ValueError(f"means must have shape (k, {d}), got {tuple(means.shape)}")
    if tuple(log_vars.shape) != (k, d):
        raise ValueError(f"log_vars must have shape ({k}, {d}), got {tuple(log_vars.shape)}")
    if tuple(weight_logits.shape) != (k,):
        raise ValueError(f"weight_logits must have shape ({k},), got {tuple(weight_logits.shape)}")


def vade_responsibilities(z: Tensor, weight_logits: Tensor, means: Tensor, log_vars: Tensor) -> Tensor:
    """VaDE's ``gamma_c = q(c|x) = p(c|z) = pi_c N(z | mu_c, sigma_c^2) / sum_c' (...)``.

    Parameters
    ----------
    z : Tensor, shape (n, d)
        Latent points (a sample of q(z|x), or its mean to predict clusters).
    weight_logits : Tensor, shape (k,)
        Mixture weights as logits: ``pi = softmax(weight_logits)``.
    means, log_vars : Tensor, shape (k, d)
        Means and log-variances of the diagonal Gaussian components.

    Returns
    -------
    Tensor, shape (n, k)
        Responsibilities (rows sum to 1), differentiable in every argument.
    """
    _check_matrix(z, "z")
    _check_mixture(weight_logits, means, log_vars, z.shape[1])
    logits = torch.log_softmax(weight_logits, -1)[None] + _log_normal_diag(z, means, log_vars)
    return torch.softmax(logits, dim=-1)


def vade_loss(
    x: Tensor, x_recon: Tensor, z: Tensor, z_mean: Tensor, z_logvar: Tensor,
    weight_logits: Tensor, means: Tensor, log_vars: Tensor, *,
    reconstruction: str = "bernoulli", recon_logvar: Tensor | float | None = None, reduction: str = "mean",
) -> Tensor:
    """VaDE's negative ELBO with a Gaussian-mixture prior (one sample z of q(z|x)).

    With ``q(z|x) = N(mu~, diag sigma~^2)``, ``p(c) = pi``, ``p(z|c) = N(mu_c, diag
    sigma_c^2)`` and ``gamma = q(c|x) = p(c|z)`` (:func:`vade_responsibilities`, at
    the sample z), the ELBO of each point is (Jiang et al.)::

        log p(x|z)
        - 1/2 sum_c gamma_c sum_j (log sigma_cj^2 + sigma~_j^2 / sigma_cj^2
                                   + (mu~_j - mu_cj)^2 / sigma_cj^2)
        + sum_c gamma_c log(pi_c / gamma_c) + 1/2 sum_j (1 + log sigma~_j^2)

    that is ``log p(x|z) - sum_c gamma_c KL(q(z|x) || p(z|c)) - KL(gamma || pi)``.
    Gradients flow through gamma as in the paper.

    Parameters
    ----------
    x : Tensor, shape (n, ...)
        Data (in [0, 1] for the Bernoulli likelihood).
    x_recon : Tensor, shape of x
        Decoder output at z: **logits** for ``"bernoulli"`` (the stable form of
        ``x log mu + (1 - x) log(1 - mu)``), the mean for ``"gaussian"``.
    z : Tensor, shape (n, d)
        The reparameterised sample ``z_mean + exp(z_logvar / 2) * eps`` that x_recon decodes.
    z_mean, z_logvar : Tensor, shape (n, d)
        Encoder outputs mu~ and log sigma~^2.
    weight_logits, means, log_vars
        The mixture prior, as in :func:`vade_responsibilities` (learnable tensors).
    reconstruction : {"bernoulli", "gaussian"}, default "bernoulli"
        The likelihood p(x|z), summed over the features of each point.
    recon_logvar : Tensor or float, optional
        ``"gaussian"`` only: log-variance of p(x|z), broadcast against x (default 0:
        unit variance). ``log p(x|z) = -1/2 sum (log 2 pi + v + (x - m)^2 e^-v)``.
    reduction : {"mean", "sum", "none"}, default "mean"
        Over the n points ("none" returns shape (n,)).

    Returns
    -------
    Tensor
        The negative ELBO (a loss to minimise).

    References
    ----------
    Z. Jiang, Y. Zheng, H. Tan, B. Tang, H. Zhou. Variational deep embedding: an
    unsupervised and generative approach to clustering. IJCAI 2017.
    """
    _check_reduction(reduction)
    for name, t in (("z", z), ("z_mean", z_mean), ("z_logvar", z_logvar)):
        _check_matrix(t, name)
        if t.shape != z.shape:
            raise ValueError(f"{name} must have the shape of z {tuple(z.shape)}, got {tuple(t.shape)}")
    _check_mixture(weight_logits, means, log_vars, z.shape[1])
    if x.shape != x_recon.shape or x.dim() < 1 or x.shape[0] != z.shape[0]:
        raise ValueError(f"x and x_recon must have one shape (n, ...) with n = {z.shape[0]}, got "
                         f"{tuple(x.shape)} and {tuple(x_recon.shape)}")
    n = x.shape[0]
    if reconstruction == "bernoulli":
        if recon_logvar is not None:
            raise ValueError("recon_logvar is for reconstruction='gaussian' only")
        bce = nn.functional.binary_cross_entropy_with_logits(x_recon, x.to(x_recon.dtype), reduction="none")
        log_px = -bce.reshape(n, -1).sum(1)
    elif reconstruction == "gaussian":
        v = torch.zeros((), dtype=x_recon.dtype, device=x_recon.device) if recon_logvar is None \
            else torch.as_tensor(recon_logvar, dtype=x_recon.dtype, device=x_recon.device)
        sq = (x - x_recon) ** 2 * torch.exp(-v)
        full = LOG_2PI + v + sq
        if full.shape != x.shape:
            raise ValueError(f"recon_logvar of shape {tuple(v.shape)} must broadcast to x {tuple(x.shape)}")
        log_px = -0.5 * full.reshape(n, -1).sum(1)
    else:
        raise ValueError(f"reconstruction must be 'bernoulli' or 'gaussian', got {reconstruction!r}")
    log_pi = torch.log_softmax(weight_logits, -1)
    log_gamma = torch.log_softmax(log_pi[None] + _log_normal_diag(z, means, log_vars), dim=-1)
    gamma = torch.exp(log_gamma)
    inv_var = torch.exp(-log_vars)[None]                                   # (1, k, d)
    diff = z_mean[:, None, :] - means[None]                                # (n, k, d)
    cross = (log_vars[None] + torch.exp(z_logvar)[:, None, :] * inv_var + diff * diff * inv_var).sum(-1)
    elbo = (log_px - 0.5 * (gamma * cross).sum(1) + (gamma * (log_pi[None] - log_gamma)).sum(1)
            + 0.5 * (1.0 + z_logvar).sum(1))
    return _reduce(-elbo, reduction)


class VaDELoss(nn.Module):
    """VaDE's negative ELBO with the Gaussian-mixture prior as learnable parameters.

    Parameters ``weight_logits`` (k,) (``pi = softmax``), ``means`` (k, d) and
    ``log_vars`` (k, d); ``forward(x, x_recon, z, z_mean, z_logvar)`` is
    :func:`vade_loss`. Initialise the prior with :meth:`init_from_gmm` (a diagonal
    Gaussian mixture fitted to the pretrained embeddings, as VaDE does) or with
    :meth:`init_from_mixture` from any fitted mixture.

    Parameters
    ----------
    n_clusters : int
        Number of mixture components k.
    latent_dim : int
        Dimension d of z.
    reconstruction : {"bernoulli", "gaussian"}, default "bernoulli"
    reduction : {"mean", "sum", "none"}, default "mean"

    References
    ----------
    Jiang, Zheng, Tan, Tang, Zhou. Variational deep embedding. IJCAI 2017.
    """

    def __init__(self, n_clusters: int, latent_dim: int, reconstruction: str = "bernoulli",
                 reduction: str = "mean") -> None:
        super().__init__()
        k, d = int(n_clusters), int(latent_dim)
        if k < 1 or d < 1:
            raise ValueError(f"n_clusters and latent_dim must be >= 1, got {n_clusters}, {latent_dim}")
        if reconstruction not in ("bernoulli", "gaussian"):
            raise ValueError(f"reconstruction must be 'bernoulli' or 'gaussian', got {reconstruction!r}")
        self.reconstruction, self.reduction = reconstruction, _check_reduction(reduction)
        self.weight_logits = nn.Parameter(torch.zeros(k))
        self.means = nn.Parameter(torch.zeros(k, d))
        self.log_vars = nn.Parameter(torch.zeros(k, d))

    @property
    def weights(self) -> Tensor:
        """The mixture weights pi = softmax(weight_logits)."""
        return torch.softmax(self.weight_logits, -1)

    def forward(self, x: Tensor, x_recon: Tensor, z: Tensor, z_mean: Tensor, z_logvar: Tensor,
                recon_logvar: Tensor | float | None = None) -> Tensor:
        return vade_loss(x, x_recon, z, z_mean, z_logvar, self.weight_logits, self.means, self.log_vars,
                         reconstruction=self.reconstruction, recon_logvar=recon_logvar,
                         reduction=self.reduction)

    def responsibilities(self, z: Tensor) -> Tensor:
        """gamma (n, k) at latent points z (:func:`vade_responsibilities`)."""
        return vade_responsibilities(z, self.weight_logits, self.means, self.log_vars)

    def predict(self, z_mean: Tensor) -> Tensor:
        """Cluster of each point: argmax_c gamma_c at the latent mean (int64, (n,))."""
        with torch.no_grad():
            return self.responsibilities(z_mean).argmax(-1)

    @torch.no_grad()
    def init_from_mixture(self, weights: Any, means: Any, covariances: Any) -> None:
        """Set the prior from a fitted mixture's weights (k,), means (k, d) and covariances.

        covariances: (k, d) diagonal, (k,) spherical, or (k, d, d) full (VaDE's prior
        is diagonal: the diagonal of each matrix is kept).
        """
        k, d = self.means.shape
        w = torch.as_tensor(np.asarray(weights, dtype=np.float64))
        m = torch.as_tensor(np.asarray(means, dtype=np.float64))
        c = torch.as_tensor(np.asarray(covariances, dtype=np.float64))
        if tuple(w.shape) != (k,) or tuple(m.shape) != (k, d):
            raise ValueError(f"weights and means must have shapes ({k},) and ({k}, {d}), got "
                             f"{tuple(w.shape)} and {tuple(m.shape)}")
        if tuple(c.shape) == (k, d, d):
            c = torch.diagonal(c, dim1=-2, dim2=-1)
        elif tuple(c.shape) == (k,):
            c = c[:, None].expand(k, d)
        elif tuple(c.shape) != (k, d):
            raise ValueError(f"covariances must have shape ({k}, {d}), ({k},) or ({k}, {d}, {d}), got "
                             f"{tuple(c.shape)}")
        if not (bool((w > 0).all()) and bool((c > 0).all())):
            raise ValueError("weights and variances must be positive")
        self.weight_logits.copy_(torch.log(w / w.sum()))
        self.means.copy_(m)
        self.log_vars.copy_(torch.log(c))

    @torch.no_grad()
    def init_from_gmm(self, Z: Tensor, *, seed: int | None = None, **kwargs: Any) -> None:
        """Fit a diagonal Gaussian mixture to embeddings Z (:func:`diffclust.gaussian_mixture`)
        and set the prior from it; ``kwargs`` go to the fit (``max_iter``, ``reg_covar``, ...).
        """
        from ..mixture import gaussian_mixture as fit

        _check_matrix(Z, "Z", self.means.shape[1])
        X = Z.detach().to(device="cpu", dtype=torch.float64).numpy()
        res = fit(X, self.means.shape[0], covariance_type="diag", seed=seed, **kwargs)
        self.init_from_mixture(res.weights, res.means, res.covariances)

    def extra_repr(self) -> str:
        k, d = self.means.shape
        return f"n_clusters={k}, latent_dim={d}, reconstruction={self.reconstruction!r}"


# -------------------------------------------------------------------------------- ClusterGAN


def clustergan_prior(
    n: int, n_continuous: int, n_clusters: int, *, sigma: float = 0.1, labels: Tensor | None = None,
    generator: torch.Generator | None = None, dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """ClusterGAN's mixed prior: ``z_n ~ N(0, sigma^2 I)`` and a uniform one-hot ``z_c``.

    The generator's input is ``torch.cat([z_n, z_c], 1)``.

    Parameters
    ----------
    n : int
        Number of samples.
    n_continuous : int
        Dimension of the continuous part z_n.
    n_clusters : int
        Number of clusters K (dimension of the one-hot z_c).
    sigma : float, default 0.1
        Standard deviation of z_n (the paper's 0.1).
    labels : Tensor of int, shape (n,), optional
        Fixed classes instead of uniform draws (to generate a chosen cluster).
    generator : torch.Generator, optional
        Source of randomness (default: torch's default generator).
    dtype, device
        Of the float outputs (default: torch's default dtype, the CPU).

    Returns
    -------
    z_n : Tensor, shape (n, n_continuous)
    z_c : Tensor, shape (n, n_clusters)
        One-hot rows.
    labels : Tensor of int64, shape (n,)
        The class of each one-hot row.

    References
    ----------
    S. Mukherjee, H. Asnani, E. Lin, S. Kannan. ClusterGAN: latent space clustering in
    generative adversarial networks. AAAI 2019.
    """
    n, dn, K = int(n), int(n_continuous), int(n_clusters)
    if n < 0 or dn < 0 or K < 1:
        raise ValueError(f"need n >= 0, n_continuous >= 0 and n_clusters >= 1, got {n}, {dn}, {K}")
    s = _check_positive(sigma, "sigma")
    dtype = dtype or torch.get_default_dtype()
    if labels is None:
        labels = torch.randint(0, K, (n,), generator=generator)
    else:
        labels = torch.as_tensor(labels).to(device="cpu", dtype=torch.int64)
        if tuple(labels.shape) != (n,) or (n and (int(labels.min()) < 0 or int(labels.max()) >= K)):
            raise ValueError(f"labels must have shape ({n},) and values in [0, {K})")
    z_n = torch.randn(n, dn, generator=generator, dtype=dtype) * s
    z_c = nn.functional.one_hot(labels, K).to(dtype)
    return z_n.to(device), z_c.to(device), labels.to(device)


def clustergan_loss(
    z_n: Tensor, z_c: Tensor, enc_n: Tensor, enc_c_logits: Tensor, *, beta_n: float = 10.0,
    beta_c: float = 10.0, reduction: str = "mean",
) -> Tensor:
    """ClusterGAN's clustering penalty on the encoder ``E(G(z))`` of generated samples.

    ``beta_n ||z_n - E(G(z))_n||^2 + beta_c CE(z_c, E(G(z))_c)`` per sample, with the
    cross-entropy ``-sum_c z_c log softmax(logits)_c``. The adversarial term of the
    generator's objective stays the caller's.

    Parameters
    ----------
    z_n : Tensor, shape (n, d_n)
        The continuous part of the prior sample (:func:`clustergan_prior`).
    z_c : Tensor, shape (n, K) or (n,)
        The one-hot part, or its class indices (int).
    enc_n : Tensor, shape (n, d_n)
        The encoder's continuous output on the generated samples.
    enc_c_logits : Tensor, shape (n, K)
        The encoder's cluster logits on them (before the softmax).
    beta_n, beta_c : float, default 10.0
        Weights of the two terms (>= 0).
    reduction : {"mean", "sum", "none"}, default "mean"

    Returns
    -------
    Tensor
        Differentiable in enc_n and enc_c_logits (and z_n, z_c if they require grad).

    References
    ----------
    Mukherjee, Asnani, Lin, Kannan. ClusterGAN. AAAI 2019 (the clustering loss of the joint objective).
    """
    _check_reduction(reduction)
    _check_matrix(z_n, "z_n")
    _check_matrix(enc_n, "enc_n")
    _check_matrix(enc_c_logits, "enc_c_logits")
    if enc_n.shape != z_n.shape:
        raise ValueError(f"enc_n must have the shape of z_n {tuple(z_n.shape)}, got {tuple(enc_n.shape)}")
    n, K = enc_c_logits.shape
    if n != z_n.shape[0]:
        raise ValueError(f"enc_c_logits must have {z_n.shape[0]} rows, got {n}")
    bn, bc = float(beta_n), float(beta_c)
    if not (bn >= 0 and bc >= 0):
        raise ValueError(f"beta_n and beta_c must be >= 0, got {beta_n}, {beta_c}")
    log_p = torch.log_softmax(enc_c_logits, -1)
    if z_c.dim() == 1 and not z_c.dtype.is_floating_point:
        if z_c.shape[0] != n:
            raise ValueError(f"z_c must have {n} entries, got {z_c.shape[0]}")
        ce = -log_p.gather(1, z_c.to(torch.int64)[:, None])[:, 0]
    elif tuple(z_c.shape) == (n, K):
        ce = -(z_c * log_p).sum(1)
    else:
        raise ValueError(f"z_c must be one-hot rows ({n}, {K}) or class indices ({n},), got "
                         f"{tuple(z_c.shape)} {z_c.dtype}")
    loss = bn * ((z_n - enc_n) ** 2).sum(1) + bc * ce
    return _reduce(loss, reduction)


class ClusterGANPrior(nn.Module):
    """ClusterGAN's prior sampler as a module: :meth:`sample` is :func:`clustergan_prior`.

    ``forward(n)`` returns the generator input ``cat([z_n, z_c])`` (n, d_n + K) and
    the classes.
    """

    def __init__(self, n_continuous: int, n_clusters: int, sigma: float = 0.1,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.n_continuous, self.n_clusters = int(n_continuous), int(n_clusters)
        self.sigma = _check_positive(sigma, "sigma")
        self.generator = generator

    def sample(self, n: int, labels: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        return clustergan_prior(n, self.n_continuous, self.n_clusters, sigma=self.sigma, labels=labels,
                                generator=self.generator)

    def forward(self, n: int, labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
        z_n, z_c, lab = self.sample(n, labels)
        return torch.cat([z_n, z_c], 1), lab

    def extra_repr(self) -> str:
        return f"n_continuous={self.n_continuous}, n_clusters={self.n_clusters}, sigma={self.sigma}"


class ClusterGANLoss(nn.Module):
    """ClusterGAN's clustering penalty: ``forward(z_n, z_c, enc_n, enc_c_logits)`` is
    :func:`clustergan_loss` with the module's ``beta_n``, ``beta_c`` and ``reduction``."""

    def __init__(self, beta_n: float = 10.0, beta_c: float = 10.0, reduction: str = "mean") -> None:
        super().__init__()
        self.beta_n, self.beta_c = float(beta_n), float(beta_c)
        if not (self.beta_n >= 0 and self.beta_c >= 0):
            raise ValueError(f"beta_n and beta_c must be >= 0, got {beta_n}, {beta_c}")
        self.reduction = _check_reduction(reduction)

    def forward(self, z_n: Tensor, z_c: Tensor, enc_n: Tensor, enc_c_logits: Tensor) -> Tensor:
        return clustergan_loss(z_n, z_c, enc_n, enc_c_logits, beta_n=self.beta_n, beta_c=self.beta_c,
                               reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"beta_n={self.beta_n}, beta_c={self.beta_c}, reduction={self.reduction!r}"
