"""diffclust.sklearn's HDBSCAN, DBSCAN and OPTICS: scikit-learn's estimator checks and references."""

from __future__ import annotations

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn import cluster as skc
from sklearn.datasets import make_blobs
from sklearn.utils.estimator_checks import estimator_checks_generator

from diffclust.sklearn import DBSCAN, HDBSCAN, OPTICS


def _check_name(check: object) -> str:
    return str(getattr(getattr(check, "func", check), "__name__", check))


# scikit-learn's checks, as parametrize_with_checks lists them, except the array-API
# one: it skips itself without SCIPY_ARRAY_API (these estimators take NumPy input only),
# and a skipped test fails this project's CI.
CHECKS = [
    pytest.param(est, check, id=f"{type(est).__name__}-{_check_name(check)}")
    for est in (HDBSCAN(), DBSCAN(), OPTICS())
    for _, check in estimator_checks_generator(est, legacy=True)
    if _check_name(check) != "check_array_api_input"
]


@pytest.mark.parametrize("estimator,check", CHECKS)
def test_sklearn_compatible(estimator: object, check: object) -> None:
    check(estimator)  # type: ignore[operator]


def data() -> np.ndarray:
    X, _ = make_blobs(n_samples=300, centers=4, cluster_std=[0.3, 0.5, 0.8, 0.4], random_state=0)
    return X


def test_hdbscan_attributes() -> None:
    X = data()
    est = HDBSCAN(min_cluster_size=10, min_samples=1).fit(X)
    ref = skc.HDBSCAN(min_cluster_size=10, min_samples=1, copy=True).fit(X)
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(est.labels_, ref.labels_) == 1.0
    np.testing.assert_allclose(est.probabilities_, ref.probabilities_, rtol=1e-9)
    assert est.minimum_spanning_tree_.shape == (299, 3)
    assert est.outlier_scores_.shape == (300,) and est.n_features_in_ == 2
    np.testing.assert_array_equal(est.fit_predict(X), est.labels_)


def test_dbscan_core_points_and_components() -> None:
    X = data()
    est = DBSCAN(eps=0.4, min_samples=6).fit(X)
    ref = skc.DBSCAN(eps=0.4, min_samples=6).fit(X)
    np.testing.assert_array_equal(est.core_sample_indices_, ref.core_sample_indices_)
    np.testing.assert_array_equal(est.labels_[ref.core_sample_indices_], ref.labels_[ref.core_sample_indices_])
    np.testing.assert_array_equal(est.components_, ref.components_)


def test_optics_dbscan_extraction_matches_sklearn() -> None:
    X = data()
    est = OPTICS(min_samples=5, eps=0.5, cluster_method="dbscan").fit(X)
    ref = skc.OPTICS(min_samples=5, max_eps=np.inf, cluster_method="dbscan", eps=0.5).fit(X)
    np.testing.assert_array_equal(est.ordering_, ref.ordering_)
    np.testing.assert_allclose(est.reachability_, ref.reachability_, rtol=1e-12)
    np.testing.assert_array_equal(est.labels_, ref.labels_)
    with pytest.raises(ValueError, match="cluster_method"):
        OPTICS(cluster_method="dbscan*").fit(X)
