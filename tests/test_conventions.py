"""One convention each, checked across every public function (README "Conventions").

- one metric table: scikit-learn's names and aliases accepted by every ``metric=``;
- one label rule: integers, or floats that are whole numbers, everywhere labels are taken;
- one family of result types: compact repr, tuple unpacking where promised, frozen;
- returned arrays are ordinary writable arrays, never views of the input;
- float32 in, float32 out.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import pairwise_distances as sk_pairwise
from sklearn.metrics.pairwise import PAIRWISE_DISTANCE_FUNCTIONS

import diffclust as dc

N = 40


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((N, 4))
    X[3] = X[0]  # a duplicate point
    S = -sk_pairwise(X)
    labels = np.arange(N) % 3
    y = np.full(N, -1)
    y[:6] = [0, 1, 2, 0, 1, 2]
    return {"X": X, "S": S, "labels": labels, "y": y, "W": np.exp(S), "rng": rng}


# --------------------------------------------------------------------------- metrics

ALIASES = {"l2": "euclidean", "l1": "manhattan", "cityblock": "manhattan"}
# every function with a metric= argument, as f(X, metric) -> something comparable
METRIC_FUNCTIONS = {
    "pairwise_distances": lambda X, m: dc.pairwise_distances(X, metric=m, n_threads=2),
    "pairwise_distances_xy": lambda X, m: dc.pairwise_distances(X[:7], X, metric=m),
    "kforest_from_points": lambda X, m: dc.kforest_from_points(X, 4, metric=m).weights,
    "perturbed_kforest_from_points": lambda X, m: dc.perturbed_kforest_from_points(
        X, 4, metric=m, n_samples=5, seed=3
    ).adjacency,
    "kmedoids": lambda X, m: dc.kmedoids(X, 4, metric=m).medoids,
    "silhouette_samples": lambda X, m: dc.silhouette_samples(X, np.arange(len(X)) % 3, metric=m),
    "silhouette_score": lambda X, m: dc.silhouette_score(X, np.arange(len(X)) % 3, metric=m),
    "hdbscan": lambda X, m: dc.hdbscan(X, min_samples=3, metric=m).weights,
    "dbscan": lambda X, m: dc.dbscan(X, 2.0, min_samples=3, metric=m).labels,
    "optics": lambda X, m: dc.optics(X, min_samples=3, metric=m).reachability,
    "mutual_reachability_distances": lambda X, m: dc.mutual_reachability_distances(X, min_samples=3, metric=m),
    "perturbed_hdbscan": lambda X, m: dc.perturbed_hdbscan(X, min_samples=3, metric=m, n_samples=3, seed=1).co_clustering,
    "partial_fy_loss_from_points": lambda X, m: dc.partial_fy_loss_from_points(
        X, 3, np.r_[0, 1, 2, [-1] * (len(X) - 3)], min_samples=3, metric=m, n_samples=3, seed=1
    ).grad_X,
}


@pytest.mark.parametrize("alias", sorted(ALIASES))
@pytest.mark.parametrize("name", sorted(METRIC_FUNCTIONS))
def test_metric_aliases_everywhere(data, name, alias):
    f = METRIC_FUNCTIONS[name]
    np.testing.assert_array_equal(f(data["X"], alias), f(data["X"], ALIASES[alias]))


@pytest.mark.parametrize("name", sorted(METRIC_FUNCTIONS))
def test_unknown_metric_everywhere(data, name):
    f = METRIC_FUNCTIONS[name]
    with pytest.raises(ValueError, match="metric must be one of"):
        f(data["X"], "chebyshev")
    with pytest.raises(TypeError, match="metric must be a string"):
        f(data["X"], None)


def test_metric_table_covers_sklearn_names(data):
    """Every name scikit-learn accepts for these four metrics is accepted, with its value."""
    X = data["X"]
    ours = {"euclidean", "sqeuclidean", "manhattan", "cosine"}
    sk_names = [m for m in PAIRWISE_DISTANCE_FUNCTIONS if m not in ("precomputed", "haversine", "nan_euclidean")]
    for name in [*sk_names, "sqeuclidean"]:
        np.testing.assert_allclose(dc.pairwise_distances(X, metric=name), sk_pairwise(X, metric=name), atol=1e-12)
    assert set(dc._validation.METRIC_ALIASES.values()) == ours
    assert set(sk_names) <= set(dc._validation.METRIC_ALIASES)


# --------------------------------------------------------------------------- labels

# every place labels are taken: (argument name, f(labels) -> comparable)
LABEL_FUNCTIONS = {
    "silhouette_samples": ("labels", lambda d, lab: dc.silhouette_samples(d["X"], lab)),
    "silhouette_score": ("labels", lambda d, lab: dc.silhouette_score(d["X"], lab)),
    "davies_bouldin_score": ("labels", lambda d, lab: dc.davies_bouldin_score(d["X"], lab)),
    "adjusted_rand_score_true": ("labels_true", lambda d, lab: dc.adjusted_rand_score(lab, d["labels"])),
    "adjusted_rand_score_pred": ("labels_pred", lambda d, lab: dc.adjusted_rand_score(d["labels"], lab)),
    "mutual_info_score": ("labels_pred", lambda d, lab: dc.mutual_info_score(d["labels"], lab)),
    "normalized_mutual_info_score": ("labels_true", lambda d, lab: dc.normalized_mutual_info_score(lab, d["labels"])),
    "kmeans_loss": ("labels", lambda d, lab: dc.kmeans_loss(d["X"], d["X"][:3], lab)),
    "ncut": ("labels", lambda d, lab: dc.ncut(d["W"], lab)),
    "ratio_cut": ("labels", lambda d, lab: dc.ratio_cut(sp.csr_matrix(d["W"]), lab)),
}
# partial labels (-1 = unknown)
PARTIAL_FUNCTIONS = {
    "kforest": lambda d, y: dc.kforest(d["S"], 3, known_labels=y).labels,
    "perturbed_kforest": lambda d, y: dc.perturbed_kforest(d["S"], 3, known_labels=y, n_samples=4, seed=1).adjacency,
    "perturbed_kforest_vjp": lambda d, y: dc.perturbed_kforest_vjp(
        d["S"], 3, d["S"], known_labels=y, sigma=0.1, n_samples=4, seed=1
    ),
    "partial_fy_loss": lambda d, y: dc.partial_fy_loss(d["S"], 3, y, n_samples=4, seed=1).grad,
}


def _bad_labels(lab):
    """Label vectors of the right length that the rule rejects, with the error type."""
    return [
        (lab + 0.5, TypeError),
        (lab.astype(bool), TypeError),
        (lab.astype(complex), TypeError),
        (lab.astype(str), TypeError),
        (lab.astype(object), TypeError),
        (np.where(lab == 0, np.nan, lab.astype(float)), ValueError),
    ]


@pytest.mark.parametrize("name", sorted(LABEL_FUNCTIONS))
def test_labels_one_rule(data, name):
    arg, f = LABEL_FUNCTIONS[name]
    lab = data["labels"]
    ref = f(data, lab)
    floats = (lab.astype(np.float64), lab.astype(np.float32), lab.astype(np.float16))
    for same in (*floats, lab.astype(np.int32), lab.astype(np.uint8), list(lab)):
        np.testing.assert_array_equal(f(data, same), ref)
    for bad, error in _bad_labels(lab):
        with pytest.raises(error, match=arg):
            f(data, bad)
    with pytest.raises(ValueError, match=arg):
        f(data, lab[:-1])  # wrong length


@pytest.mark.parametrize("name", sorted(PARTIAL_FUNCTIONS))
def test_partial_labels_one_rule(data, name):
    f = PARTIAL_FUNCTIONS[name]
    y = data["y"]
    ref = f(data, y)
    for same in (y.astype(np.float64), y.astype(np.float32), y.astype(np.int8), list(y)):
        np.testing.assert_array_equal(f(data, same), ref)
    for bad, error in _bad_labels(y):
        with pytest.raises(error, match="known_labels"):
            f(data, bad)
    with pytest.raises(ValueError, match="known_labels must be -1"):
        f(data, np.where(y == 0, -2, y))


# --------------------------------------------------------------------------- result types


def _results(n=200):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, 3))
    S = -sk_pairwise(X)
    y = np.full(n, -1)
    y[:4] = [0, 1, 0, 1]
    kw = {"sigma": 0.1, "n_samples": 3, "seed": 2}
    p = dc.perturbed_kforest(S, 3, keep_samples=True, **kw)
    return {
        "Forest": dc.kforest(S, 3),
        "Forest_batched": dc.kforest(np.stack([S, S]), 3),
        "Forest_constrained": dc.kforest(S, 3, known_labels=y),
        "Forest_points": dc.kforest_from_points(X, 3),
        "Forest_edges": dc.kforest_from_edges(np.c_[np.arange(n - 1), np.arange(1, n)], np.ones(n - 1), n, 3),
        "PerturbedForest": p,
        "PerturbedSamples": p.samples,
        "PerturbedForest_points": dc.perturbed_kforest_from_points(X, 3, **kw),
        "FYLoss": dc.partial_fy_loss(S, 3, y, **kw),
        "FYLoss_batched": dc.partial_fy_loss(np.stack([S, S]), 3, y, **kw),
        "PerturbedSamples_batched": dc.perturbed_kforest(np.stack([S, S]), 3, keep_samples=True, **kw).samples,
        "KMedoidsResult": dc.kmedoids(X, 3),
        "SoftNcut": dc.soft_ncut(np.exp(S), rng.random((n, 3))),
        "DECLoss": dc.dec_loss(X, X[:3]),
    }


UNPACKS = {"FYLoss": ("loss", "grad"), "SoftNcut": ("value", "grad"), "DECLoss": ("loss", "grad_Z", "grad_centers")}


def test_results_compact_repr_frozen_and_unpacking():
    for name, r in _results().items():
        text = repr(r)
        assert text.startswith(type(r).__name__ + "(")
        assert len(text) < 320, (name, text)
        assert "[[" not in text and "array(" not in text and "\n" not in text, (name, text)
        assert dataclasses.is_dataclass(r)
        field = dataclasses.fields(r)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(r, field, None)
        base = name.split("_")[0]
        if base in UNPACKS:
            parts = tuple(r)
            assert len(r) == len(parts) == len(UNPACKS[base])
            for i, attr in enumerate(UNPACKS[base]):
                assert parts[i] is getattr(r, attr) and r[i] is getattr(r, attr)
        else:
            with pytest.raises(TypeError):
                iter(r)
    loss, grad = _results()["FYLoss"]  # the promised form
    assert isinstance(loss, float) and grad.shape == (200, 200)


def test_results_pickle_round_trip():
    """Worker processes (Dask, multiprocessing) send results back pickled."""
    import pickle

    for name, r in _results(30).items():
        back = pickle.loads(pickle.dumps(r))
        assert type(back) is type(r) and repr(back) == repr(r), name
        for a, b in zip(_arrays(r), _arrays(back)):
            np.testing.assert_array_equal(a, b)


def test_repr_shows_sizes():
    r = _results(50)
    assert repr(r["Forest"]).startswith("Forest(n=50, k=3, labels=int64[50], edges=int64[47, 2]")
    assert "n_repaired=0" in repr(r["Forest"]) and "n_repaired=0" in repr(r["FYLoss"])
    assert repr(r["KMedoidsResult"]).startswith("KMedoidsResult(n=50, k=3,")


# --------------------------------------------------------------------------- returned arrays


def _arrays(value):
    if isinstance(value, np.ndarray):
        return [value]
    if dataclasses.is_dataclass(value):
        return [a for f in dataclasses.fields(value) for a in _arrays(getattr(value, f.name))]
    if isinstance(value, tuple):
        return [a for v in value for a in _arrays(v)]
    return []


def _calls(dtype):
    """Every public function returning arrays, on float inputs of ``dtype``:
    name -> (inputs, thunk)."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((30, 4)).astype(dtype)
    S = -np.asarray(sk_pairwise(X.astype(np.float64)), dtype=dtype)
    Sb = np.stack([S, S * 2])
    W = np.exp(S)
    P = rng.random((30, 3)).astype(dtype)
    y = np.full(30, -1)
    y[:4] = [0, 1, 0, 1]
    lab = np.arange(30) % 3
    V = rng.standard_normal((30, 30)).astype(dtype)
    kw = {"sigma": 0.3, "n_samples": 4, "seed": 5}
    edges = np.c_[np.arange(29), np.arange(1, 30)]
    w = rng.random(29).astype(dtype)
    params = (np.full(3, 1 / 3), X[:3].astype(np.float64), np.ones(3))
    return {
        "kforest": ((S,), lambda: dc.kforest(S, 3)),
        "kforest_batched": ((Sb,), lambda: dc.kforest(Sb, 3)),
        "kforest_constrained": ((S,), lambda: dc.kforest(S, 3, known_labels=y)),
        "kforest_from_edges": ((w,), lambda: dc.kforest_from_edges(edges, w, 30, 3)),
        "kforest_from_points": ((X,), lambda: dc.kforest_from_points(X, 3)),
        "Forest.adjacency": ((S,), lambda: dc.kforest(S, 3).adjacency()),
        "Forest.connectivity": ((S,), lambda: dc.kforest(S, 3).connectivity()),
        "perturbed_kforest": ((S,), lambda: dc.perturbed_kforest(S, 3, keep_samples=True, **kw)),
        "perturbed_kforest_batched": ((Sb,), lambda: dc.perturbed_kforest(Sb, 3, **kw)),
        "perturbed_kforest_from_points": ((X,), lambda: dc.perturbed_kforest_from_points(X, 3, **kw)),
        "perturbed_kforest_vjp": ((S, V), lambda: dc.perturbed_kforest_vjp(S, 3, V, V, **kw)),
        "perturbed_kforest_vjp_zero": ((S,), lambda: dc.perturbed_kforest_vjp(S, 3, **kw)),
        "partial_fy_loss": ((S,), lambda: dc.partial_fy_loss(S, 3, y, **kw)),
        # grad only: the (b,) losses are float64 whatever S's dtype, as the 2-D loss is a Python float
        "partial_fy_loss_batched": ((Sb,), lambda: dc.partial_fy_loss(Sb, 3, np.stack([y, y[::-1]]), **kw).grad),
        "perturbed_kforest_vjp_batched": ((Sb,), lambda: dc.perturbed_kforest_vjp(Sb, 3, Sb, **kw)),
        "pairwise_distances": ((X,), lambda: dc.pairwise_distances(X)),
        "silhouette_samples": ((X,), lambda: dc.silhouette_samples(X, lab)),
        "gmm_nll_samples": ((X,), lambda: dc.gmm_nll_samples(X, *params, covariance_type="spherical")),
        "soft_ncut": ((W, P), lambda: dc.soft_ncut(W, P)),
        "dec_loss": ((X, X[:3].copy()), lambda: dc.dec_loss(X, X[:3])),
        "kmedoids": ((X,), lambda: dc.kmedoids(X, 3)),
        "hdbscan": ((X,), lambda: dc.hdbscan(X, min_cluster_size=3, min_samples=3)),
        "dbscan": ((X,), lambda: dc.dbscan(X, 1.5, min_samples=3)),
        "optics": ((X,), lambda: dc.optics(X, min_samples=3)),
        "mutual_reachability_distances": ((X,), lambda: dc.mutual_reachability_distances(X, min_samples=3)),
        "perturbed_hdbscan": ((X,), lambda: dc.perturbed_hdbscan(X, min_cluster_size=3, min_samples=3, keep_samples=True, **kw)),
        "perturbed_hdbscan_vjp": ((X, V), lambda: dc.perturbed_hdbscan_vjp(X, V, V[0], min_cluster_size=3, min_samples=3, **kw)),
        "partial_fy_loss_from_points": ((X,), lambda: dc.partial_fy_loss_from_points(X, 3, y, min_samples=3, **kw)),
        "kmeans": ((X,), lambda: dc.kmeans(X, 3, seed=0)),
        "kmeans_plusplus": ((X,), lambda: dc.kmeans_plusplus(X, 3, seed=0)),
        "minibatch_kmeans": ((X,), lambda: dc.minibatch_kmeans(X, 3, seed=0)),
        "gaussian_mixture": ((X,), lambda: dc.gaussian_mixture(X, 3, init="random_from_data", seed=0)),
    }


CALLS = sorted(_calls(np.float64))


@pytest.mark.parametrize("name", CALLS)
def test_returned_arrays_are_writable_and_owned(name):
    inputs, thunk = _calls(np.float64)[name]
    copies = [a.copy() for a in inputs]
    arrays = _arrays(thunk())
    assert arrays
    for a in arrays:
        assert a.flags.writeable, name
        for x in inputs:
            assert not np.shares_memory(a, x), name
        a[...] = 0  # the caller may write into them
    for x, c in zip(inputs, copies):
        np.testing.assert_array_equal(x, c)  # and the inputs were never touched


@pytest.mark.parametrize("name", CALLS)
def test_float32_in_float32_out(name):
    out32 = _arrays(_calls(np.float32)[name][1]())
    out64 = _arrays(_calls(np.float64)[name][1]())
    floats32 = [a for a in out32 if a.dtype.kind == "f"]
    floats64 = [a for a in out64 if a.dtype.kind == "f"]
    assert len(floats32) == len(floats64)
    for a, b in zip(floats32, floats64):
        assert a.dtype == np.float32, name
        assert b.dtype == np.float64, name
        assert a.shape == b.shape


def test_every_public_function_is_classified():
    """A new public function must be added to the lists above (or here, if it returns no array)."""
    no_arrays = {
        "adjusted_rand_score", "davies_bouldin_score", "gmm_nll", "kmeans_loss", "mutual_info_score",
        "ncut", "normalized_mutual_info_score", "ratio_cut", "silhouette_score", "dbcv_score",
        "element_seeds",  # integer seeds from an int: no float array in or out
    }
    covered = {c.split("_batched")[0].split("_constrained")[0].split("_zero")[0] for c in CALLS}
    for name in dc.__all__:
        obj = getattr(dc, name)
        if isinstance(obj, type) or name.startswith("_"):
            continue
        assert name in covered or name in no_arrays, name


# --------------------------------------------------------------------------- no silent answers


def _vjp_problem():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((12, 2))
    S = -sk_pairwise(X)
    V = rng.standard_normal((12, 12))
    return S, V


def test_vjp_refuses_a_generator_seed():
    S, V = _vjp_problem()
    gen = np.random.default_rng(0)
    fwd = dc.perturbed_kforest(S, 3, sigma=0.2, n_samples=6, seed=gen, keep_samples=True)
    for seed in (np.random.default_rng(0), gen):
        with pytest.raises(TypeError, match=r"(?s)Generator.*consumed.*keep_samples=True"):
            dc.perturbed_kforest_vjp(S, 3, V, sigma=0.2, n_samples=6, seed=seed)
        with pytest.raises(TypeError, match="Generator"):
            dc.perturbed_kforest_vjp(S, 3, V, seed=seed, samples=fwd.samples)
    # what the message suggests works, and equals the int-seed VJP of the same noise
    g_samples = dc.perturbed_kforest_vjp(S, 3, V, samples=fwd.samples)
    g_int = dc.perturbed_kforest_vjp(S, 3, V, sigma=0.2, n_samples=6, seed=fwd.samples.seed)
    np.testing.assert_array_equal(g_samples, g_int)
    # and the int seed reproduces the forward's noise: same A_eps from the same int seed
    again = dc.perturbed_kforest(S, 3, sigma=0.2, n_samples=6, seed=fwd.samples.seed)
    np.testing.assert_array_equal(again.adjacency, fwd.adjacency)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("cotangents", ["none", "adjacency", "connectivity", "both", "samples"])
def test_vjp_non_finite_S_raises_whatever_the_cotangents(bad, cotangents):
    S, V = _vjp_problem()
    kw = {"sigma": 0.2, "n_samples": 6, "seed": 4}
    fwd = dc.perturbed_kforest(S, 3, keep_samples=True, **kw)
    Sbad = S.copy()
    Sbad[2, 5] = bad
    args = {
        "none": (None, None), "adjacency": (V, None), "connectivity": (None, V), "both": (V, V), "samples": (V, None)
    }[cotangents]
    with pytest.raises(ValueError, match="S contains NaN or infinity"):
        if cotangents == "samples":
            dc.perturbed_kforest_vjp(Sbad, 3, *args, samples=fwd.samples)
        else:
            dc.perturbed_kforest_vjp(Sbad, 3, *args, **kw)
    # the diagonal is ignored, as everywhere
    Sdiag = S.copy()
    Sdiag[4, 4] = bad
    ref = dc.perturbed_kforest_vjp(S, 3, *args, **kw)
    np.testing.assert_array_equal(dc.perturbed_kforest_vjp(Sdiag, 3, *args, **kw), ref)


@pytest.mark.parametrize("name", ["grad_adjacency", "grad_connectivity"])
def test_vjp_non_finite_cotangent_raises(name):
    S, V = _vjp_problem()
    Vbad = V.copy()
    Vbad[0, 1] = np.nan
    with pytest.raises(ValueError, match=f"{name} contains NaN"):
        dc.perturbed_kforest_vjp(S, 3, sigma=0.2, n_samples=6, seed=4, **{name: Vbad})
