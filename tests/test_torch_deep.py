"""diffclust.torch.deep: DEC, VaDE, ClusterGAN, DeepCluster, SwAV.

References are independent NumPy/SciPy computations of each paper's formula (written
here from the formulas, in a different form where one exists: VaDE's KL as a sum of
Gaussian KLs, Sinkhorn as the multiplicative algorithm), scikit-learn's
GaussianMixture for the VaDE prior, and finite differences (gradcheck, float64).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import log_softmax as np_log_softmax
from scipy.special import softmax as np_softmax
from scipy.stats import multivariate_normal

torch = pytest.importorskip("torch")  # in the test extra: never skipped in CI

import diffclust
import diffclust.torch as dt
from diffclust.torch import deep

gradcheck = torch.autograd.gradcheck


def _t(a: np.ndarray, requires_grad: bool = False) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64, requires_grad=requires_grad)


def test_reexported_by_diffclust_torch():
    for name in deep.__all__:
        assert getattr(dt, name) is getattr(deep, name)
        assert name in dt.__all__


# ----------------------------------------------------------------------------------------- DEC


def _np_student_t(Z, C, alpha):
    d2 = ((Z[:, None, :] - C[None]) ** 2).sum(-1)
    q = (1 + d2 / alpha) ** (-(alpha + 1) / 2)
    return q / q.sum(1, keepdims=True)


def _np_target(Q):
    w = Q**2 / Q.sum(0)
    return w / w.sum(1, keepdims=True)


@pytest.mark.parametrize("alpha", [1.0, 2.5])
def test_student_t_and_target_match_numpy(rng, alpha):
    Z, C = rng.normal(size=(13, 4)), rng.normal(size=(3, 4))
    Q = dt.student_t_assignment(_t(Z), _t(C), alpha)
    np.testing.assert_allclose(Q.numpy(), _np_student_t(Z, C, alpha), rtol=1e-12)
    np.testing.assert_allclose(dt.dec_target_distribution(Q).numpy(), _np_target(_np_student_t(Z, C, alpha)),
                               rtol=1e-12)


def test_student_t_far_points_stay_finite():
    Z = torch.tensor([[1e150, 0.0], [0.0, 0.0]], dtype=torch.float64)
    Q = dt.student_t_assignment(Z, torch.tensor([[0.0, 0.0], [1e150, 1.0]], dtype=torch.float64))
    assert torch.isfinite(Q).all()
    np.testing.assert_allclose(Q.sum(1).numpy(), 1.0)


def test_dec_gradcheck(rng):
    Z, C = _t(rng.normal(size=(6, 3)), True), _t(rng.normal(size=(3, 3)), True)
    assert gradcheck(lambda z, c: dt.student_t_assignment(z, c, 1.5), (Z, C))
    assert gradcheck(lambda z, c: dt.dec_target_distribution(dt.student_t_assignment(z, c)), (Z, C))


def test_clustering_layer_forward_and_loss(rng):
    Z, C = rng.normal(size=(10, 3)), rng.normal(size=(4, 3))
    layer = dt.ClusteringLayer(4, 3, alpha=1.0, centers=_t(C))
    np.testing.assert_allclose(layer(_t(Z)).detach().numpy(), _np_student_t(Z, C, 1.0), rtol=1e-12)
    Q = _np_student_t(Z, C, 1.0)
    P = _np_target(Q)
    kl = float((P * np.log(P / Q)).sum())
    np.testing.assert_allclose(layer.loss(_t(Z)).item(), kl, rtol=1e-10)
    np.testing.assert_allclose(layer.loss(_t(Z), reduction="mean").item(), kl / 10, rtol=1e-10)
    # DEC's gradient with P held fixed (the paper's equation 5) reaches the centers
    loss = layer.loss(_t(Z))
    loss.backward()
    d2 = ((Z[:, None] - C[None]) ** 2).sum(-1)
    g = -2 * (((P - Q) / (1 + d2))[:, :, None] * (Z[:, None] - C[None])).sum(0)
    np.testing.assert_allclose(layer.centers.grad.numpy(), g, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="centers must have shape"):
        dt.ClusteringLayer(4, 2, centers=_t(C))


def test_dec_init_centers_uses_kmeans(rng):
    Z = np.concatenate([rng.normal(size=(30, 2)) + m for m in ([0, 0], [8, 0], [0, 8])])
    layer = dt.ClusteringLayer(3, 2).double()
    layer.init_from_kmeans(_t(Z), seed=0)
    from sklearn.cluster import KMeans

    ref = KMeans(3, n_init=20, random_state=0).fit(Z)
    ours = np.sort(layer.centers.detach().numpy(), axis=0)
    np.testing.assert_allclose(ours, np.sort(ref.cluster_centers_, axis=0), atol=1e-8)


# ---------------------------------------------------------------------------------------- VaDE


def _np_gauss_kl(m1, v1, m2, v2):
    """KL(N(m1, diag v1) || N(m2, diag v2)), summed over the last axis."""
    return 0.5 * (np.log(v2 / v1) + v1 / v2 + (m1 - m2) ** 2 / v2 - 1).sum(-1)


def _np_vade(x, xr, z, zm, zlv, wl, mu, lv, kind, rlv=0.0):
    pi = np_softmax(wl)
    n, k = z.shape[0], mu.shape[0]
    logpdf = np.array([[multivariate_normal(mu[c], np.diag(np.exp(lv[c]))).logpdf(z[i]) for c in range(k)]
                       for i in range(n)])
    gamma = np_softmax(np.log(pi) + logpdf, axis=1)
    if kind == "bernoulli":
        p = 1 / (1 + np.exp(-xr))
        log_px = (x * np.log(p) + (1 - x) * np.log(1 - p)).reshape(n, -1).sum(1)
    else:
        var = np.exp(rlv) * np.ones_like(x)
        log_px = np.array([multivariate_normal(xr[i].ravel(), np.diag(var[i].ravel())).logpdf(x[i].ravel())
                           for i in range(n)])
    kl_z = np.array([[_np_gauss_kl(zm[i], np.exp(zlv[i]), mu[c], np.exp(lv[c])) for c in range(k)]
                     for i in range(n)])
    kl_c = (gamma * np.log(gamma / pi)).sum(1)
    return -(log_px - (gamma * kl_z).sum(1) - kl_c), gamma


def _vade_inputs(rng, n=5, d=3, k=4, shape=(6,)):
    x = rng.uniform(size=(n, *shape))
    xr = rng.normal(size=(n, *shape))
    zm, zlv = rng.normal(size=(n, d)), 0.3 * rng.normal(size=(n, d))
    z = zm + np.exp(zlv / 2) * rng.normal(size=(n, d))
    wl, mu, lv = rng.normal(size=k), rng.normal(size=(k, d)), 0.3 * rng.normal(size=(k, d))
    return x, xr, z, zm, zlv, wl, mu, lv


@pytest.mark.parametrize("kind", ["bernoulli", "gaussian"])
def test_vade_loss_matches_numpy(rng, kind):
    args = _vade_inputs(rng, shape=(2, 3))
    ref, gamma = _np_vade(*args, kind, rlv=0.0)
    out = dt.vade_loss(*map(_t, args), reconstruction=kind, reduction="none")
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10)
    np.testing.assert_allclose(dt.vade_loss(*map(_t, args), reconstruction=kind).item(), ref.mean(), rtol=1e-10)
    np.testing.assert_allclose(dt.vade_responsibilities(*map(_t, args[2:3] + args[5:])).numpy(), gamma,
                               rtol=1e-10)


def test_vade_kl_term_by_monte_carlo(rng):
    """The closed-form KL(q(z, c | x) || p(z, c)), with q(c | x) = gamma, against sampling z."""
    x, _xr, z, zm, zlv, wl, mu, lv = _vade_inputs(rng, n=1, d=2, k=3)
    out = dt.vade_loss(*map(_t, (x, x, z, zm, zlv, wl, mu, lv)), reconstruction="gaussian").item()
    kl = out - 0.5 * x.size * np.log(2 * np.pi)  # x_recon = x: log p(x|z) = -D/2 log(2 pi)
    gamma = dt.vade_responsibilities(_t(z), _t(wl), _t(mu), _t(lv)).numpy()[0]
    pi = np_softmax(wl)
    zs = zm[0] + np.exp(zlv[0] / 2) * rng.normal(size=(400_000, 2))
    log_q = multivariate_normal(zm[0], np.diag(np.exp(zlv[0]))).logpdf(zs)
    log_p = np.stack([multivariate_normal(mu[c], np.diag(np.exp(lv[c]))).logpdf(zs) for c in range(3)], 1)
    samples = (gamma * (log_q[:, None] + np.log(gamma / pi) - log_p)).sum(1)
    assert abs(samples.mean() - kl) < 5 * samples.std() / np.sqrt(samples.size)


def test_vade_gaussian_recon_logvar(rng):
    args = _vade_inputs(rng)
    rlv = 0.4 * rng.normal(size=args[0].shape)
    ref, _ = _np_vade(*args, "gaussian", rlv=rlv)
    out = dt.vade_loss(*map(_t, args), reconstruction="gaussian", recon_logvar=_t(rlv), reduction="sum")
    np.testing.assert_allclose(out.item(), ref.sum(), rtol=1e-10)
    with pytest.raises(ValueError, match="recon_logvar"):
        dt.vade_loss(*map(_t, args), recon_logvar=0.0)


def test_vade_gradcheck(rng):
    args = [_t(a, True) for a in _vade_inputs(rng, n=3, d=2, k=3, shape=(3,))]
    args[0] = args[0].detach()
    for kind in ("bernoulli", "gaussian"):
        assert gradcheck(lambda *a, kind=kind: dt.vade_loss(*a, reconstruction=kind), tuple(args))


def test_vade_module_prior_from_sklearn_mixture(rng):
    from sklearn.mixture import GaussianMixture

    Z = np.concatenate([rng.normal(size=(60, 2)) * s + m for m, s in (([0, 0], 0.5), ([5, 1], 1.0),
                                                                       ([1, 6], 0.8))])
    gm = GaussianMixture(3, covariance_type="diag", random_state=0).fit(Z)
    loss = dt.VaDELoss(3, 2, reconstruction="gaussian").double()
    loss.init_from_mixture(gm.weights_, gm.means_, gm.covariances_)
    np.testing.assert_allclose(loss.weights.detach().numpy(), gm.weights_, rtol=1e-12)
    np.testing.assert_allclose(loss.means.detach().numpy(), gm.means_)
    np.testing.assert_allclose(np.exp(loss.log_vars.detach().numpy()), gm.covariances_, rtol=1e-12)
    np.testing.assert_allclose(loss.responsibilities(_t(Z)).detach().numpy(), gm.predict_proba(Z),
                               rtol=1e-8, atol=1e-12)
    np.testing.assert_array_equal(loss.predict(_t(Z)).numpy(), gm.predict(Z))
    # full and spherical covariances become the diagonal prior
    full = np.stack([np.diag(c) + 0.1 * (1 - np.eye(2)) for c in gm.covariances_])
    loss.init_from_mixture(gm.weights_, gm.means_, full)
    np.testing.assert_allclose(np.exp(loss.log_vars.detach().numpy()), gm.covariances_, rtol=1e-12)
    loss.init_from_mixture(gm.weights_, gm.means_, np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(np.exp(loss.log_vars.detach().numpy()), [[1, 1], [2, 2], [3, 3]], rtol=1e-12)
    with pytest.raises(ValueError, match="covariances"):
        loss.init_from_mixture(gm.weights_, gm.means_, np.ones((3, 5)))
    # the module is vade_loss with its parameters, and they are learnable
    args = _vade_inputs(rng, n=4, d=2, k=3)
    out = loss(*map(_t, args[:5]))
    ref = dt.vade_loss(*map(_t, args[:5]), loss.weight_logits, loss.means, loss.log_vars,
                       reconstruction="gaussian")
    assert out.item() == ref.item()
    out.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in loss.parameters())


def test_vade_init_from_gmm(rng):
    Z = np.concatenate([rng.normal(size=(50, 2)) + m for m in ([0, 0], [6, 0])])
    loss = dt.VaDELoss(2, 2).double()
    loss.init_from_gmm(_t(Z), seed=0)
    from sklearn.mixture import GaussianMixture

    gm = GaussianMixture(2, covariance_type="diag", random_state=0).fit(Z)
    order = np.argsort(loss.means.detach().numpy()[:, 0])
    ref = np.argsort(gm.means_[:, 0])
    # both EM fits converge to the same separated-blob optimum (up to their stopping rules)
    np.testing.assert_allclose(loss.means.detach().numpy()[order], gm.means_[ref], atol=1e-2)
    np.testing.assert_allclose(loss.weights.detach().numpy()[order], gm.weights_[ref], atol=1e-2)
    np.testing.assert_allclose(np.exp(loss.log_vars.detach().numpy())[order], gm.covariances_[ref], rtol=2e-2)


# ---------------------------------------------------------------------------------- ClusterGAN


def test_clustergan_loss_matches_numpy(rng):
    n, dn, K = 7, 3, 4
    zn, en, logits = rng.normal(size=(n, dn)), rng.normal(size=(n, dn)), rng.normal(size=(n, K))
    lab = rng.integers(0, K, n)
    onehot = np.eye(K)[lab]
    ref = 2.0 * ((zn - en) ** 2).sum(1) - 3.0 * np_log_softmax(logits, axis=1)[np.arange(n), lab]
    out = dt.clustergan_loss(_t(zn), _t(onehot), _t(en), _t(logits), beta_n=2.0, beta_c=3.0, reduction="none")
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
    by_index = dt.clustergan_loss(_t(zn), torch.tensor(lab), _t(en), _t(logits), beta_n=2.0, beta_c=3.0)
    np.testing.assert_allclose(by_index.item(), ref.mean(), rtol=1e-12)
    module = dt.ClusterGANLoss(2.0, 3.0, reduction="sum")
    np.testing.assert_allclose(module(_t(zn), _t(onehot), _t(en), _t(logits)).item(), ref.sum(), rtol=1e-12)
    assert gradcheck(lambda e, lg: dt.clustergan_loss(_t(zn), _t(onehot), e, lg),
                     (_t(en, True), _t(logits, True)))
    with pytest.raises(ValueError, match="z_c"):
        dt.clustergan_loss(_t(zn), _t(onehot[:, :2]), _t(en), _t(logits))


def test_clustergan_prior_sampler():
    g = torch.Generator().manual_seed(3)
    z_n, z_c, lab = dt.clustergan_prior(40000, 5, 10, sigma=0.1, generator=g, dtype=torch.float64)
    assert z_n.shape == (40000, 5) and z_c.shape == (40000, 10) and lab.dtype == torch.int64
    np.testing.assert_array_equal(z_c.numpy(), np.eye(10)[lab.numpy()])
    assert abs(z_n.std().item() - 0.1) < 0.002 and abs(z_n.mean().item()) < 0.002
    counts = np.bincount(lab.numpy(), minlength=10)
    assert np.all(np.abs(counts - 4000) < 5 * np.sqrt(4000 * 0.9))  # 5 binomial standard deviations
    again = dt.clustergan_prior(40000, 5, 10, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert torch.equal(again[0], z_n) and torch.equal(again[2], lab)
    fixed = dt.clustergan_prior(3, 2, 4, labels=torch.tensor([3, 0, 3]))
    np.testing.assert_array_equal(fixed[1].numpy(), np.eye(4)[[3, 0, 3]])
    x, lab2 = dt.ClusterGANPrior(2, 4, generator=torch.Generator().manual_seed(1))(6)
    assert x.shape == (6, 6) and torch.equal(x[:, 2:].argmax(1), lab2)
    with pytest.raises(ValueError, match="labels"):
        dt.clustergan_prior(3, 2, 4, labels=torch.tensor([4, 0, 3]))


# --------------------------------------------------------------------------------- DeepCluster


def test_reassign_empty_clusters_splits_nonempty_ones(rng):
    X = rng.normal(size=(40, 3))
    labels = torch.tensor(rng.integers(0, 2, 40))  # clusters 2, 3, 4 empty
    C = _t(rng.normal(size=(5, 3)))
    new, centers, n_empty = dt.reassign_empty_clusters(_t(X), C, labels, generator=torch.Generator().manual_seed(0))
    assert n_empty == 3
    sizes = np.bincount(new.numpy(), minlength=5)
    assert (sizes > 0).all() and sizes.sum() == 40
    # points only ever move into a formerly empty cluster, and every center is its points' mean
    old = labels.numpy()
    moved = new.numpy() != old
    assert set(new.numpy()[moved]) <= {2, 3, 4}
    for c in range(5):
        np.testing.assert_allclose(centers[c].numpy(), X[new.numpy() == c].mean(0), atol=1e-12)
    # each split separates its parent's points by a hyperplane through their mean
    again = dt.reassign_empty_clusters(_t(X), C, labels, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again[0], new) and torch.equal(again[1], centers)
    # nothing empty: unchanged
    full = torch.arange(40) % 5
    same = dt.reassign_empty_clusters(_t(X), C, full)
    assert torch.equal(same[0], full) and torch.equal(same[1], C) and same[2] == 0


def test_reassign_empty_clusters_identical_points():
    X = torch.ones(7, 2, dtype=torch.float64)
    new, centers, n = dt.reassign_empty_clusters(X, torch.zeros(2, 2, dtype=torch.float64),
                                                 torch.zeros(7, dtype=torch.int64))
    assert n == 1 and np.bincount(new.numpy()).tolist() == [4, 3]
    np.testing.assert_array_equal(centers.numpy(), np.ones((2, 2)))
    with pytest.raises(ValueError, match="k <= n"):
        dt.reassign_empty_clusters(X[:1], torch.zeros(2, 2, dtype=torch.float64), torch.zeros(1, dtype=torch.int64))


def test_uniform_label_sampling(rng):
    labels = torch.tensor(np.repeat([0, 1, 3, 4], [50, 3, 7, 1]))  # label 2 unused
    idx = dt.uniform_label_indices(labels, 103, generator=torch.Generator().manual_seed(1))
    assert idx.shape == (103,) and idx.dtype == torch.int64
    counts = np.bincount(labels[idx].numpy(), minlength=5)
    assert counts[2] == 0 and counts.sum() == 103
    assert set(counts[[0, 1, 3, 4]]) <= {25, 26}
    # within a cluster, points are used in full random permutations before repeating
    for c in (0, 1, 3, 4):
        members = np.nonzero(labels.numpy() == c)[0]
        per_point = np.bincount(idx.numpy(), minlength=61)[members]
        assert per_point.max() - per_point.min() <= 1
    sampler = dt.UniformLabelSampler(labels, 20, generator=torch.Generator().manual_seed(2))
    first, second = list(sampler), list(sampler)
    assert len(sampler) == 20 and len(first) == 20 and first != second
    assert len(list(dt.UniformLabelSampler(labels))) == 61


def test_deepcluster_loss_matches_numpy(rng):
    logits, y = rng.normal(size=(8, 5)), rng.integers(0, 5, 8)
    ref = -np_log_softmax(logits, axis=1)[np.arange(8), y]
    np.testing.assert_allclose(dt.deepcluster_loss(_t(logits), torch.tensor(y), "none").numpy(), ref, rtol=1e-12)
    np.testing.assert_allclose(dt.DeepClusterLoss(5)(_t(logits), torch.tensor(y)).item(), ref.mean(), rtol=1e-12)
    assert gradcheck(lambda lg: dt.deepcluster_loss(lg, torch.tensor(y)), (_t(logits, True),))
    with pytest.raises(ValueError, match="pseudo_labels"):
        dt.deepcluster_loss(_t(logits), torch.tensor(y + 5))


def test_deepcluster_pseudo_labels(rng):
    X = np.concatenate([rng.normal(size=(20, 2)) * 0.2 + m for m in ([0, 0], [4, 0], [0, 4])])
    module = dt.DeepClusterLoss(3, generator=torch.Generator().manual_seed(0))
    labels = module.assign(_t(X), seed=0)
    ref = diffclust.kmeans(X, 3, max_iter=20, seed=0)
    np.testing.assert_array_equal(labels.numpy(), ref.labels)
    assert torch.equal(module.pseudo_labels, labels)
    counts = np.bincount(labels[torch.tensor(list(module.sampler(30)))].numpy())
    np.testing.assert_array_equal(counts, [10, 10, 10])


# ---------------------------------------------------------------------------------------- SwAV


def _np_sinkhorn(scores, eps, n_iters):
    Q = np.exp(scores / eps).T
    Q /= Q.sum()
    K, B = Q.shape
    for _ in range(n_iters):
        Q /= Q.sum(1, keepdims=True)
        Q /= K
        Q /= Q.sum(0, keepdims=True)
        Q /= B
    return (Q * B).T


@pytest.mark.parametrize("n_iters", [0, 1, 3, 10])
def test_sinkhorn_matches_multiplicative_algorithm(rng, n_iters):
    scores = rng.uniform(-1, 1, size=(12, 5))
    Q = dt.sinkhorn_knopp(_t(scores), epsilon=0.05, n_iters=n_iters)
    np.testing.assert_allclose(Q.numpy(), _np_sinkhorn(scores, 0.05, n_iters), rtol=1e-10, atol=1e-300)


def test_sinkhorn_marginals(rng):
    B, K = 40, 8
    Q = dt.sinkhorn_knopp(_t(rng.uniform(-1, 1, size=(B, K))), epsilon=0.1, n_iters=200)
    np.testing.assert_allclose(Q.sum(1).numpy(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(Q.sum(0).numpy(), B / K, rtol=1e-8)
    assert not Q.requires_grad


def test_sinkhorn_float32_stable_with_large_logits(rng):
    B, K = 64, 16
    scores = torch.tensor(rng.normal(size=(B, K)) * 1e4, dtype=torch.float32)
    with np.errstate(all="ignore"):
        naive = _np_sinkhorn(scores.numpy(), 0.05, 3)  # exp overflows: the multiplicative form fails
    assert not np.isfinite(naive).all()
    Q = dt.sinkhorn_knopp(scores, epsilon=0.05, n_iters=3)
    assert Q.dtype == torch.float32 and torch.isfinite(Q).all()
    np.testing.assert_allclose(Q.sum(1).numpy(), 1.0, rtol=1e-5)
    # shifted scores give the same codes (only differences matter), and low precision works
    np.testing.assert_allclose(dt.sinkhorn_knopp(scores + 3e4, n_iters=3).numpy(), Q.numpy(), atol=1e-5)
    half = dt.sinkhorn_knopp(scores.to(torch.bfloat16), n_iters=3)
    assert half.dtype == torch.bfloat16 and torch.isfinite(half.float()).all()
    with pytest.raises(ValueError, match="finite"):
        dt.sinkhorn_knopp(torch.tensor([[0.0, float("inf")]]))


def _np_swav(views, tau, eps, n_iters, assign):
    V = len(views)
    total = 0.0
    for s in assign:
        q = _np_sinkhorn(views[s], eps, n_iters)
        for v in range(V):
            if v != s:
                total += -(q * np_log_softmax(views[v] / tau, axis=1)).sum(1).mean()
    return total / (len(assign) * (V - 1))


@pytest.mark.parametrize(("V", "assign"), [(2, (0, 1)), (4, (0, 1)), (3, (2,))])
def test_swav_loss_matches_numpy(rng, V, assign):
    views = [rng.uniform(-1, 1, size=(9, 6)) for _ in range(V)]
    ref = _np_swav(views, 0.1, 0.05, 3, assign)
    out = dt.swav_loss([_t(v) for v in views], assign_views=assign)
    np.testing.assert_allclose(out.item(), ref, rtol=1e-10)
    stacked = dt.SwAVLoss(assign_views=assign)(_t(np.stack(views)))
    np.testing.assert_allclose(stacked.item(), ref, rtol=1e-10)


def test_swav_gradient(rng):
    views = [rng.uniform(-1, 1, size=(5, 4)) for _ in range(3)]
    tensors = [_t(v, True) for v in views]
    dt.swav_loss(tensors, temperature=0.5).backward()
    # codes are targets: d/ds_v = sum_{s in S, s != v} (softmax(s_v / tau) - q_s) / (tau B |S| (V - 1))
    codes = [_np_sinkhorn(views[s], 0.05, 3) for s in (0, 1)]
    for v in range(3):
        g = sum((np_softmax(views[v] / 0.5, axis=1) - codes[i]) for i, s in enumerate((0, 1)) if s != v)
        np.testing.assert_allclose(tensors[v].grad.numpy(), g / (0.5 * 5 * 2 * 2), rtol=1e-10, atol=1e-14)
    q = [_t(c) for c in codes]
    assert gradcheck(lambda a, b, c: dt.swav_loss([a, b, c], codes=q, temperature=0.5),
                     tuple(_t(v, True) for v in views))


def test_swav_argument_errors(rng):
    s = _t(rng.normal(size=(4, 3)))
    with pytest.raises(ValueError, match="two views"):
        dt.swav_loss([s])
    with pytest.raises(ValueError, match="assign_views"):
        dt.swav_loss([s, s], assign_views=(0, 2))
    with pytest.raises(ValueError, match="prototypes"):
        dt.swav_loss([s, s[:, :2]])
    with pytest.raises(ValueError, match="epsilon"):
        dt.sinkhorn_knopp(s, epsilon=0.0)


def test_sinkhorn_rows_are_distributions_for_any_finite_scores():
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import given
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays

    shapes = st.tuples(st.integers(1, 9), st.integers(1, 7))
    values = st.floats(-1e6, 1e6, allow_nan=False, width=32)

    @given(arrays(np.float32, shapes, elements=values), st.sampled_from([0.01, 0.05, 1.0]), st.integers(1, 5))
    def check(scores, eps, n_iters):
        Q = dt.sinkhorn_knopp(torch.from_numpy(scores), epsilon=eps, n_iters=n_iters)
        assert Q.dtype == torch.float32 and torch.isfinite(Q).all() and (Q >= 0).all()
        np.testing.assert_allclose(Q.sum(1).numpy(), 1.0, rtol=1e-4)

    assert hypothesis.__version__
    check()


def test_losses_compile_to_one_graph(rng):
    """fullgraph=True: no graph break (the eager backend checks the capture, fast)."""
    vade = [_t(a) for a in _vade_inputs(rng)]
    zn, en, logits = _t(rng.normal(size=(5, 3))), _t(rng.normal(size=(5, 3))), _t(rng.normal(size=(5, 4)))
    lab = torch.tensor(rng.integers(0, 4, 5))
    views = _t(rng.normal(size=(3, 8, 5)))
    Z, C = _t(rng.normal(size=(7, 3))), _t(rng.normal(size=(2, 3)))
    cases = [
        (lambda *a: dt.vade_loss(*a), vade),
        (lambda *a: dt.clustergan_loss(*a), [zn, lab, en, logits]),
        (lambda v: dt.swav_loss(v, assign_views=(0, 2)), [views]),
        (lambda z, c: dt.dec_target_distribution(dt.student_t_assignment(z, c)), [Z, C]),
    ]
    for fn, args in cases:
        torch._dynamo.reset()
        compiled = torch.compile(fn, fullgraph=True, backend="eager")
        torch.testing.assert_close(compiled(*args), fn(*args))


def test_float32_in_float32_out(rng):
    f32 = [torch.tensor(a, dtype=torch.float32) for a in _vade_inputs(rng)]
    assert dt.vade_loss(*f32).dtype == torch.float32
    Z, C = f32[2], f32[6]
    assert dt.student_t_assignment(Z, C).dtype == torch.float32
    assert dt.swav_loss([f32[2], f32[3]]).dtype == torch.float32
    assert dt.sinkhorn_knopp(Z).dtype == torch.float32
    z_n, z_c, _ = dt.clustergan_prior(4, 2, 3)
    assert z_n.dtype == z_c.dtype == torch.get_default_dtype()


def test_argument_errors_name_the_argument(rng):
    x, xr, z, zm, zlv, wl, mu, lv = map(_t, _vade_inputs(rng))
    with pytest.raises(ValueError, match="log_vars"):
        dt.vade_loss(x, xr, z, zm, zlv, wl, mu, lv[:, :2])
    with pytest.raises(ValueError, match="weight_logits"):
        dt.vade_loss(x, xr, z, zm, zlv, wl[:2], mu, lv)
    with pytest.raises(ValueError, match="z_mean"):
        dt.vade_loss(x, xr, z, zm[:2], zlv, wl, mu, lv)
    with pytest.raises(ValueError, match="x_recon"):
        dt.vade_loss(x, xr[:, :2], z, zm, zlv, wl, mu, lv)
    with pytest.raises(ValueError, match="reconstruction"):
        dt.vade_loss(x, xr, z, zm, zlv, wl, mu, lv, reconstruction="poisson")
    with pytest.raises(ValueError, match="reduction"):
        dt.vade_loss(x, xr, z, zm, zlv, wl, mu, lv, reduction="max")
    with pytest.raises(ValueError, match="centers must have 3 columns"):
        dt.student_t_assignment(z, mu[:, :2])
    with pytest.raises(ValueError, match="alpha"):
        dt.student_t_assignment(z, mu, alpha=0.0)
    with pytest.raises(TypeError, match="Z must be a torch.Tensor"):
        dt.student_t_assignment(z.numpy(), mu)
    with pytest.raises(TypeError, match="labels must hold integers"):
        dt.uniform_label_indices(torch.zeros(3), 3)
    with pytest.raises(ValueError, match="beta_n"):
        dt.ClusterGANLoss(beta_n=-1.0)
    with pytest.raises(ValueError, match="n_clusters"):
        dt.deepcluster_pseudo_labels(z, 0)
