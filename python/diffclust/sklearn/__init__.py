"""scikit-learn estimators over diffclust's kernels (needs ``pip install 'diffclust[sklearn]'``).

Parameter and attribute names are scikit-learn's; every estimator passes
``sklearn.utils.estimator_checks.parametrize_with_checks``.
"""

from __future__ import annotations

from ._forest import SpanningForestClustering
from ._kmedoids import KMedoids

__all__ = ["KMedoids", "SpanningForestClustering"]
