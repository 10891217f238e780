from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import THREAD_COUNTS
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

import diffclust as dc

# --------------------------------------------------------------------------- references (brute force)


def brute_cuts(W: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Ncut and ratio cut straight from the definitions, on a dense W."""
    nc = rc = 0.0
    for v in np.unique(labels):
        inside = labels == v
        cut = W[np.ix_(inside, ~inside)].sum()
        vol = W[inside].sum()
        nc += cut / vol if vol > 0 else 0.0
        rc += cut / inside.sum()
    return nc, rc


def brute_soft_ncut(W: np.ndarray, P: np.ndarray) -> float:
    d = W.sum(axis=1)
    value = 0.0
    for c in range(P.shape[1]):
        p = P[:, c]
        v = p @ d
        value += (v - p @ W @ p) / v if v > 0 else 0.0
    return value


def brute_dec(Z, C, alpha, target=None):
    d2 = ((Z[:, None, :] - C[None, :, :]) ** 2).sum(-1)
    num = (1.0 + d2 / alpha) ** (-(alpha + 1) / 2)
    Q = num / num.sum(axis=1, keepdims=True)
    if target is None:
        P = Q**2 / Q.sum(axis=0)
        P /= P.sum(axis=1, keepdims=True)
    else:
        P = target
    safe = np.where(P > 0, P, 1.0)
    return float(np.sum(np.where(P > 0, P * np.log(safe / Q), 0.0))), P


def central_differences(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    g = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        g[idx] = (f(xp) - f(xm)) / (2 * h)
    return g


def random_affinity(rng, n, density=0.3, symmetric=True):
    W = rng.random((n, n)) * (rng.random((n, n)) < density)
    if symmetric:
        W = W + W.T
    return W


def blobs(rng, n, d, k, spread=4.0):
    labels = rng.integers(0, k, n)
    return rng.standard_normal((n, d)) + spread * rng.standard_normal((k, d))[labels]


# --------------------------------------------------------------------------- k-means


@pytest.mark.parametrize("k", [1, 3, 8])
def test_kmeans_loss_equals_sklearn_inertia(rng, k):
    X = blobs(rng, 600, 4, 5)
    km = KMeans(n_clusters=k, n_init=1, random_state=0).fit(X)
    np.testing.assert_allclose(dc.kmeans_loss(X, km.cluster_centers_), km.inertia_, rtol=1e-12)
    np.testing.assert_allclose(
        dc.kmeans_loss(X, km.cluster_centers_, km.labels_), km.inertia_, rtol=1e-12
    )


def test_kmeans_loss_with_labels_is_distortion(rng):
    X = rng.standard_normal((300, 3))
    C = rng.standard_normal((5, 3))
    labels = rng.integers(0, 5, 300)
    expected = ((X - C[labels]) ** 2).sum()
    np.testing.assert_allclose(dc.kmeans_loss(X, C, labels), expected, rtol=1e-12)
    nearest = ((X[:, None] - C[None]) ** 2).sum(-1).min(axis=1).sum()
    np.testing.assert_allclose(dc.kmeans_loss(X, C), nearest, rtol=1e-12)
    np.testing.assert_allclose(dc.kmeans_loss(X.astype(np.float32), C), nearest, rtol=1e-6)


def test_kmeans_loss_errors(rng):
    X = rng.standard_normal((10, 2))
    C = rng.standard_normal((3, 2))
    with pytest.raises(IndexError, match=r"labels\[4\] = 3 is outside \[0, k\)"):
        dc.kmeans_loss(X, C, [0, 1, 2, 0, 3, 0, 0, 0, 0, 0])
    with pytest.raises(IndexError, match="outside"):
        dc.kmeans_loss(X, C, [-1] * 10)
    with pytest.raises(ValueError, match="labels must have length n = 10"):
        dc.kmeans_loss(X, C, [0, 1])
    with pytest.raises(ValueError, match=r"centers must have shape \(k, 2\)"):
        dc.kmeans_loss(X, rng.standard_normal((3, 3)))
    with pytest.raises(ValueError, match="centers contains NaN"):
        dc.kmeans_loss(X, np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match="X contains NaN"):
        dc.kmeans_loss(np.full((3, 2), np.inf), C)
    with pytest.raises(ValueError, match="centers is empty"):
        dc.kmeans_loss(X, np.zeros((0, 2)))


# --------------------------------------------------------------------------- Gaussian mixtures

COV_TYPES = ["full", "tied", "diag", "spherical"]


def fitted_mixture(rng, covariance_type, d=3, k=3):
    X = blobs(rng, 500, d, k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # only the fitted parameters matter
        gm = GaussianMixture(k, covariance_type=covariance_type, random_state=0).fit(X)
    return X, gm


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_gmm_nll_matches_sklearn(rng, covariance_type):
    X, gm = fitted_mixture(rng, covariance_type)
    params = (gm.weights_, gm.means_, gm.covariances_)
    samples = dc.gmm_nll_samples(X, *params, covariance_type=covariance_type)
    np.testing.assert_allclose(samples, -gm.score_samples(X), rtol=1e-12)
    np.testing.assert_allclose(
        dc.gmm_nll(X, *params, covariance_type=covariance_type), -gm.score(X), rtol=1e-12
    )
    # far from every component: log-sum-exp keeps it finite, and still equal
    far = X[:20] * 1e3 + 1e5
    got = dc.gmm_nll_samples(far, *params, covariance_type=covariance_type)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, -gm.score_samples(far), rtol=1e-12)
    X32 = X.astype(np.float32)
    got32 = dc.gmm_nll_samples(X32, *params, covariance_type=covariance_type)
    assert got32.dtype == np.float32  # computed in float64, rounded once
    np.testing.assert_allclose(got32, -gm.score_samples(X32.astype(np.float64)), rtol=2.0**-23)


def test_gmm_nll_overflowing_distance_is_infinite(rng):
    _, gm = fitted_mixture(rng, "diag")
    far = np.full((2, 3), 1e200)
    got = dc.gmm_nll_samples(far, gm.weights_, gm.means_, gm.covariances_, covariance_type="diag")
    assert (got == np.inf).all()


def test_gmm_nll_zero_weight_component_is_ignored(rng):
    X, gm = fitted_mixture(rng, "full")
    w = np.append(gm.weights_, 0.0)
    means = np.vstack([gm.means_, np.zeros((1, 3))])
    covs = np.concatenate([gm.covariances_, np.eye(3)[None]])
    np.testing.assert_allclose(
        dc.gmm_nll_samples(X, w, means, covs), -gm.score_samples(X), rtol=1e-12
    )


def test_gmm_nll_errors(rng):
    X, gm = fitted_mixture(rng, "full")
    w, m, c = gm.weights_, gm.means_, gm.covariances_.copy()
    bad = c.copy()
    bad[1] = np.diag([1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match=r"covariances\[1\] is not symmetric positive definite"):
        dc.gmm_nll(X, w, m, bad)
    bad = c.copy()
    bad[2, 0, 1] += 1.0
    with pytest.raises(ValueError, match=r"covariances\[2\] is not symmetric"):
        dc.gmm_nll(X, w, m, bad)
    with pytest.raises(ValueError, match=r"covariances\[1\]\[2\] must be a positive variance"):
        dc.gmm_nll(X, w, m, np.array([[1.0, 1, 1], [1, 1, 0], [1, 1, 1]]), covariance_type="diag")
    with pytest.raises(ValueError, match=r"covariances\[0\] must be a positive variance"):
        dc.gmm_nll(X, w, m, np.array([-1.0, 1, 1]), covariance_type="spherical")
    with pytest.raises(ValueError, match="covariances is not symmetric positive definite"):
        dc.gmm_nll(X, w, m, np.zeros((3, 3)), covariance_type="tied")
    with pytest.raises(ValueError, match="weights must sum to 1"):
        dc.gmm_nll(X, w * 0.9, m, c)
    with pytest.raises(ValueError, match="weights must be non-negative"):
        dc.gmm_nll(X, [1.5, -0.5, 0.0], m, c)
    with pytest.raises(ValueError, match=r"weights must have shape \(3,\)"):
        dc.gmm_nll(X, [0.5, 0.5], m, c)
    with pytest.raises(ValueError, match=r"covariances must have shape \(3, 3, 3\)"):
        dc.gmm_nll(X, w, m, c[:2])
    with pytest.raises(ValueError, match=r"means must have shape \(k, 3\)"):
        dc.gmm_nll(X, w, m[:, :2], c)
    with pytest.raises(ValueError, match="covariance_type must be one of"):
        dc.gmm_nll(X, w, m, c, covariance_type="banded")
    with pytest.raises(ValueError, match="X contains NaN"):
        dc.gmm_nll(np.full((2, 3), np.nan), w, m, c)
    with pytest.raises(ValueError, match="covariances contains NaN"):
        dc.gmm_nll(X, w, m, np.full_like(c, np.nan))


# --------------------------------------------------------------------------- cuts


def csr_int64(W):
    """A CSR matrix with int64 index arrays (scipy picks int32 for small matrices)."""
    M = sp.csr_matrix(W)
    M.indices = M.indices.astype(np.int64)
    M.indptr = M.indptr.astype(np.int64)
    assert M.indices.dtype == M.indptr.dtype == np.int64
    return M


def sparse_forms(W):
    return {
        "dense": W,
        "dense32": W.astype(np.float32),
        "csr": sp.csr_matrix(W),
        "csr64": csr_int64(W),
        "csr32data": sp.csr_matrix(W.astype(np.float32)),
        "csr_array": sp.csr_array(W),
        "csc": sp.csc_matrix(W),
        "coo": sp.coo_matrix(W),
    }


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("n, k", [(2, 2), (9, 3), (40, 5)])
def test_cuts_match_brute_force(rng, n, k, symmetric):
    W = random_affinity(rng, n, symmetric=symmetric)
    labels = rng.integers(0, k, n) * 13 - 7  # arbitrary label values
    expected = brute_cuts(W, labels)
    for form, Wf in sparse_forms(W).items():
        single = form in ("dense32", "csr32data")
        rtol = 1e-6 if single else 1e-13
        exp = brute_cuts(W.astype(np.float32).astype(np.float64), labels) if single else expected
        np.testing.assert_allclose(dc.ncut(Wf, labels), exp[0], rtol=rtol, err_msg=form)
        np.testing.assert_allclose(dc.ratio_cut(Wf, labels), exp[1], rtol=rtol, err_msg=form)


def bincount_cuts(W: sp.csr_matrix, labels: np.ndarray) -> tuple[float, float]:
    """Ncut and ratio cut of a CSR W by bincounts over its entries (a vectorised reference)."""
    _, codes, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    row = np.repeat(codes, np.diff(W.indptr))
    cross = row != codes[W.indices]
    cut = np.bincount(row[cross], weights=W.data[cross], minlength=sizes.size)
    vol = np.bincount(row, weights=W.data, minlength=sizes.size)
    return float(np.where(vol > 0, cut / np.where(vol > 0, vol, 1), 0).sum()), float(
        (cut / sizes).sum()
    )


@pytest.mark.parametrize("n_clusters", [300, 70_000])  # 16-bit and 32-bit cluster codes
def test_cuts_with_many_clusters(rng, n_clusters):
    n = 80_000
    rows, cols = np.repeat(np.arange(n), 4), rng.integers(0, n, 4 * n)
    W = sp.coo_matrix((rng.random(4 * n), (rows, cols)), shape=(n, n))
    W = (W + W.T).tocsr()
    labels = rng.permutation(np.arange(n) % n_clusters) * 3 - 1000
    nc, rc = bincount_cuts(W, labels)
    np.testing.assert_allclose(dc.ncut(W, labels), nc, rtol=1e-10)
    np.testing.assert_allclose(dc.ratio_cut(W, labels), rc, rtol=1e-10)


def test_cuts_special_cases(rng):
    W = random_affinity(rng, 8)
    assert dc.ncut(W, np.zeros(8, int)) == 0.0  # one cluster cuts nothing
    # an isolated vertex: its cluster has volume 0 and adds 0 to the Ncut
    W[3, :] = W[:, 3] = 0
    labels = np.array([0, 0, 1, 2, 1, 0, 1, 1])
    nc, rc = brute_cuts(W, labels)
    np.testing.assert_allclose(dc.ncut(W, labels), nc, rtol=1e-13)
    np.testing.assert_allclose(dc.ratio_cut(W, labels), rc, rtol=1e-13)
    # self-loops count in the volume only
    W2 = W + np.diag(rng.random(8))
    np.testing.assert_allclose(dc.ncut(W2, labels), brute_cuts(W2, labels)[0], rtol=1e-13)
    # duplicate entries in a CSR matrix add up
    rows, cols = np.nonzero(W)
    Wdup = sp.csr_matrix(
        (np.r_[W[rows, cols] / 2, W[rows, cols] / 2], (np.r_[rows, rows], np.r_[cols, cols])),
        shape=W.shape,
    )
    Wdup.has_canonical_format = False
    np.testing.assert_allclose(dc.ncut(Wdup, labels), nc, rtol=1e-13)


def test_cut_errors(rng):
    W = random_affinity(rng, 6)
    labels = np.array([0, 0, 1, 1, 2, 2])
    W[2, 3] = W[1, 4] = 1.0  # stored entries, so the sparse form keeps them
    for make in (np.asarray, sp.csr_matrix):
        Wf = make(W)
        neg = W.copy()
        neg[2, 3] = -0.5
        with pytest.raises(ValueError, match=r"non-negative affinities, but W\[2, 3\] = -0.5"):
            dc.ncut(make(neg), labels)
        nan = W.copy()
        nan[1, 4] = np.nan
        with pytest.raises(ValueError, match=r"W contains NaN or infinity \(W\[1, 4\]\)"):
            dc.ratio_cut(make(nan), labels)
        with pytest.raises(ValueError, match="labels must have length n = 6"):
            dc.ncut(Wf, labels[:5])
        with pytest.raises(ValueError, match="W must be square"):
            dc.ncut(Wf[:5], labels[:5])
    Wbad = sp.csr_matrix(W)
    Wbad.indices[3] = 17
    with pytest.raises(IndexError, match="column index 17"):
        dc.ncut(Wbad, labels)
    with pytest.raises(TypeError, match="labels must hold integers"):
        dc.ncut(W, labels + 0.5)
    with pytest.raises(ValueError, match="W must have 2 dimensions"):
        dc.ncut(W[0], labels)


# --------------------------------------------------------------------------- soft Ncut


@pytest.mark.parametrize("symmetric", [True, False])
def test_soft_ncut_of_hard_assignment_is_ncut(rng, symmetric):
    n, k = 30, 4
    W = random_affinity(rng, n, symmetric=symmetric)
    labels = rng.integers(0, k, n)
    labels[:k] = np.arange(k)
    P = np.eye(k)[labels]
    for form, Wf in sparse_forms(W).items():
        assert dc.soft_ncut(Wf, P).value == dc.ncut(Wf, labels), form


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("form", ["dense", "csr", "csc"])
def test_soft_ncut_value_and_gradient(rng, symmetric, form):
    n, k = 12, 3
    W = random_affinity(rng, n, density=0.5, symmetric=symmetric)
    Wf = sparse_forms(W)[form]
    logits = rng.standard_normal((n, k))
    P = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    value, grad = dc.soft_ncut(Wf, P)
    np.testing.assert_allclose(value, brute_soft_ncut(W, P), rtol=1e-12)
    fd = central_differences(lambda Q: brute_soft_ncut(W, Q), P)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)
    # any non-negative P, not only the simplex
    P2 = rng.random((n, k)) * 3
    value2, grad2 = dc.soft_ncut(Wf, P2)
    np.testing.assert_allclose(value2, brute_soft_ncut(W, P2), rtol=1e-12)
    np.testing.assert_allclose(
        grad2, central_differences(lambda Q: brute_soft_ncut(W, Q), P2), rtol=1e-6, atol=1e-8
    )


def test_soft_ncut_empty_column_adds_nothing(rng):
    W = random_affinity(rng, 10)
    P = np.zeros((10, 3))
    P[:5, 0] = 1
    P[5:, 1] = 1
    value, grad = dc.soft_ncut(W, P)
    np.testing.assert_allclose(
        value, brute_cuts(W, np.r_[np.zeros(5), np.ones(5)].astype(int))[0], rtol=1e-13
    )
    assert (grad[:, 2] == 0).all()


def test_soft_ncut_errors(rng):
    W = random_affinity(rng, 6)
    P = np.full((6, 2), 0.5)
    with pytest.raises(ValueError, match=r"P must have n = 6 rows"):
        dc.soft_ncut(W, P[:5])
    with pytest.raises(ValueError, match="P must be non-negative"):
        dc.soft_ncut(W, P - 0.6)
    with pytest.raises(ValueError, match="P contains NaN"):
        dc.soft_ncut(W, np.full((6, 2), np.nan))
    with pytest.raises(ValueError, match="P must have 2 dimensions"):
        dc.soft_ncut(W, P[:, 0])
    neg = sp.csr_matrix(W)
    neg.data[0] = -1
    with pytest.raises(ValueError, match="non-negative affinities"):
        dc.soft_ncut(neg, P)
    with pytest.raises(ValueError, match="W must be square"):
        dc.soft_ncut(W[:, :5], P)


# --------------------------------------------------------------------------- DEC


@pytest.mark.parametrize("alpha", [1.0, 0.5, 3.0])
def test_dec_loss_value_and_gradients(rng, alpha):
    n, d, k = 15, 3, 4
    Z = rng.standard_normal((n, d)) * 2
    C = rng.standard_normal((k, d)) * 2
    loss, gz, gc = dc.dec_loss(Z, C, alpha=alpha)
    expected, P = brute_dec(Z, C, alpha)
    np.testing.assert_allclose(loss, expected, rtol=1e-12)
    # the target is held fixed: the gradients are those of KL(P || Q(Z, C)) for that P
    fd_z = central_differences(lambda V: brute_dec(V, C, alpha, P)[0], Z)
    fd_c = central_differences(lambda V: brute_dec(Z, V, alpha, P)[0], C)
    np.testing.assert_allclose(gz, fd_z, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gc, fd_c, rtol=1e-6, atol=1e-8)
    # an explicit target equal to DEC's gives the same result
    loss2, gz2, gc2 = dc.dec_loss(Z, C, alpha=alpha, target=P)
    np.testing.assert_allclose([loss2], [loss], rtol=1e-12)
    np.testing.assert_allclose(gz2, gz, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(gc2, gc, rtol=1e-10, atol=1e-14)


def test_dec_loss_with_any_target(rng):
    n, d, k = 10, 2, 3
    Z, C = rng.standard_normal((n, d)), rng.standard_normal((k, d))
    T = rng.random((n, k))
    T[0, 1] = 0.0  # a zero entry adds 0
    loss, gz, gc = dc.dec_loss(Z, C, alpha=2.0, target=T)
    np.testing.assert_allclose(loss, brute_dec(Z, C, 2.0, T)[0], rtol=1e-12)
    np.testing.assert_allclose(
        gz, central_differences(lambda V: brute_dec(V, C, 2.0, T)[0], Z), rtol=1e-6, atol=1e-8
    )
    np.testing.assert_allclose(
        gc, central_differences(lambda V: brute_dec(Z, V, 2.0, T)[0], C), rtol=1e-6, atol=1e-8
    )


def test_dec_loss_paper_closed_form(rng):
    # DEC (ICML 2016) equations 4-5 with alpha = 1
    Z, C = rng.standard_normal((8, 3)), rng.standard_normal((4, 3))
    _, P = brute_dec(Z, C, 1.0)
    diff = Z[:, None, :] - C[None, :, :]
    inv = 1.0 / (1.0 + (diff**2).sum(-1))
    Q = inv / inv.sum(axis=1, keepdims=True)
    coef = (inv * (P - Q))[..., None] * diff
    _, gz, gc = dc.dec_loss(Z, C)
    np.testing.assert_allclose(gz, 2 * coef.sum(axis=1), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(gc, -2 * coef.sum(axis=0), rtol=1e-10, atol=1e-14)


def test_dec_loss_far_points_stay_finite(rng):
    Z = rng.standard_normal((6, 2))
    Z[0] = 1e150
    C = rng.standard_normal((3, 2))
    loss, gz, gc = dc.dec_loss(Z, C, alpha=1.0)
    assert np.isfinite(loss) and np.isfinite(gz).all() and np.isfinite(gc).all()


def test_dec_loss_errors(rng):
    Z, C = rng.standard_normal((5, 2)), rng.standard_normal((3, 2))
    with pytest.raises(OverflowError, match=r"Z\[1\] and centers\[0\] overflows"):
        dc.dec_loss(np.where(np.arange(5)[:, None] == 1, 1e200, Z), C)
    with pytest.raises(ValueError, match="alpha must be positive"):
        dc.dec_loss(Z, C, alpha=0.0)
    with pytest.raises(ValueError, match="alpha must be positive"):
        dc.dec_loss(Z, C, alpha=float("nan"))
    with pytest.raises(TypeError, match="alpha must be a real number"):
        dc.dec_loss(Z, C, alpha=True)
    with pytest.raises(ValueError, match=r"target must have shape \(n, k\) = \(5, 3\)"):
        dc.dec_loss(Z, C, target=np.ones((5, 2)))
    with pytest.raises(ValueError, match="target must be non-negative"):
        dc.dec_loss(Z, C, target=-np.ones((5, 3)))
    with pytest.raises(ValueError, match=r"centers must have shape \(k, 2\)"):
        dc.dec_loss(Z, rng.standard_normal((3, 4)))
    with pytest.raises(ValueError, match="Z contains NaN"):
        dc.dec_loss(np.full((5, 2), np.nan), C)
    with pytest.raises(TypeError, match="Z must hold real numbers"):
        dc.dec_loss(np.array([["a", "b"]]), C)


# --------------------------------------------------------------------------- threads and inputs


@pytest.mark.parametrize("n_threads", THREAD_COUNTS)
def test_thread_count_invariance(rng, n_threads):
    X = blobs(rng, 40_000, 3, 6)
    C = rng.standard_normal((6, 3))
    lab = rng.integers(0, 6, X.shape[0])
    assert dc.kmeans_loss(X, C, n_threads=n_threads) == dc.kmeans_loss(X, C, n_threads=1)
    assert dc.kmeans_loss(X, C, lab, n_threads=n_threads) == dc.kmeans_loss(X, C, lab, n_threads=1)
    args = (np.full(6, 1 / 6), C, np.stack([np.eye(3)] * 6))
    np.testing.assert_array_equal(
        dc.gmm_nll_samples(X, *args, n_threads=n_threads), dc.gmm_nll_samples(X, *args, n_threads=1)
    )
    assert dc.gmm_nll(X, *args, n_threads=n_threads) == dc.gmm_nll(X, *args, n_threads=1)

    n = 20_000
    rows, cols = np.repeat(np.arange(n), 5), rng.integers(0, n, 5 * n)
    W = sp.coo_matrix((rng.random(5 * n), (rows, cols)), shape=(n, n))
    W = (W + W.T).tocsr()
    labels = rng.integers(0, 7, n)
    P = rng.random((n, 3))
    for Wf in (W, random_affinity(rng, 700)):
        lab = labels[: Wf.shape[0]]
        assert dc.ncut(Wf, lab, n_threads=n_threads) == dc.ncut(Wf, lab, n_threads=1)
        assert dc.ratio_cut(Wf, lab, n_threads=n_threads) == dc.ratio_cut(Wf, lab, n_threads=1)
        v1, g1 = dc.soft_ncut(Wf, P[: Wf.shape[0]], n_threads=1)
        vt, gt = dc.soft_ncut(Wf, P[: Wf.shape[0]], n_threads=n_threads)
        assert v1 == vt
        np.testing.assert_array_equal(g1, gt)

    Z, M = X[:20_000], C[:4]
    ref = dc.dec_loss(Z, M, alpha=2.0, n_threads=1)
    got = dc.dec_loss(Z, M, alpha=2.0, n_threads=n_threads)
    assert ref.loss == got.loss
    np.testing.assert_array_equal(ref.grad_Z, got.grad_Z)
    np.testing.assert_array_equal(ref.grad_centers, got.grad_centers)


def test_inputs_unchanged(rng):
    X = rng.standard_normal((50, 3))
    C = rng.standard_normal((4, 3))
    lab = rng.integers(0, 4, 50)
    W = random_affinity(rng, 50)
    Ws = sp.csr_matrix(W)
    P = rng.random((50, 4))
    covs = np.stack([np.eye(3) * 2] * 4)
    w = np.full(4, 0.25)
    arrays = [X, C, lab, W, Ws.data, Ws.indices, Ws.indptr, P, covs, w]
    before = [a.copy() for a in arrays]
    dc.kmeans_loss(X, C, lab)
    dc.gmm_nll_samples(X, w, C, covs)
    dc.ncut(W, lab)
    dc.ratio_cut(Ws, lab)
    dc.soft_ncut(W, P)
    dc.soft_ncut(Ws, P)
    dc.dec_loss(X, C, target=P)
    dc.dec_loss(X, C)
    for a, b in zip(before, arrays):
        np.testing.assert_array_equal(a, b)


def test_dense_inputs_never_import_scipy():
    # numpy is the only runtime dependency: scipy is touched only for a sparse W
    code = (
        "import sys, numpy as np, diffclust as dc\n"
        "W = np.ones((4, 4))\n"
        "dc.ncut(W, [0, 0, 1, 1]); dc.ratio_cut(W, [0, 0, 1, 1]); dc.soft_ncut(W, np.ones((4, 2)))\n"
        "dc.adjusted_rand_score([0, 1], [1, 0]); dc.davies_bouldin_score(np.eye(3), [0, 0, 1])\n"
        "assert not any(m.split('.')[0] == 'scipy' for m in sys.modules), 'scipy imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
