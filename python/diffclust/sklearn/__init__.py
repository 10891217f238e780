"""scikit-learn estimators on diffclust's kernels (needs scikit-learn).

Parameter and attribute names are scikit-learn's, and every estimator passes
``sklearn.utils.estimator_checks.parametrize_with_checks``.
"""

from __future__ import annotations

try:
    import sklearn  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("diffclust.sklearn needs scikit-learn: pip install 'diffclust[sklearn]'") from exc

from ._mixture import GaussianMixture

__all__ = ["GaussianMixture"]
