"""An estimator in dask-ml's style: exact single linkage on a row-chunked dask array."""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
from numpy.typing import NDArray

from ..forests import Forest
from ._forest import kforest_from_points

__all__ = ["SpanningForestClustering"]


class SpanningForestClustering:
    """Single-linkage clustering (maximum-weight k-forest) of a dask array, fitted exactly.

    As in dask-ml, parameters are stored unchanged by ``__init__``, ``fit``
    computes (with whichever scheduler is active; the estimator never creates a
    ``Client``) and fitted attributes end in ``_``.

    Parameters
    ----------
    n_clusters : int, default 2
        Number of clusters k.
    metric : {"sqeuclidean", "euclidean", "manhattan", "cosine"}, default "sqeuclidean"
        Distance between points.
    fan_in : int, default 8
        Inputs per Kruskal merge task.

    Attributes
    ----------
    labels_ : dask.array.Array or ndarray of int, shape (n,)
        Cluster of each point (numbered by first appearance), chunked like X's
        rows when X is a dask array, else a NumPy array.
    forest_ : Forest
        The k-forest itself (edges, weights, value; labels as a NumPy array),
        equal bit for bit to :func:`diffclust.kforest_from_points`.
    n_features_in_ : int
        Number of columns of X.
    """

    def __init__(self, n_clusters: int = 2, *, metric: str = "sqeuclidean", fan_in: int = 8) -> None:
        self.n_clusters = n_clusters
        self.metric = metric
        self.fan_in = fan_in

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters of the estimator (scikit-learn's protocol).

        Parameters
        ----------
        deep : bool, default True
            Ignored (no nested estimators).

        Returns
        -------
        dict
            ``n_clusters``, ``metric`` and ``fan_in``.
        """
        return {"n_clusters": self.n_clusters, "metric": self.metric, "fan_in": self.fan_in}

    def set_params(self, **params: Any) -> SpanningForestClustering:
        """Set parameters (scikit-learn's protocol).

        Parameters
        ----------
        **params
            Any of ``n_clusters``, ``metric``, ``fan_in``.

        Returns
        -------
        SpanningForestClustering
            self.
        """
        for key, value in params.items():
            if key not in self.get_params():
                raise ValueError(f"invalid parameter {key!r} for SpanningForestClustering")
            setattr(self, key, value)
        return self

    def fit(self, X: Any, y: Any = None) -> SpanningForestClustering:
        """Compute the k-forest of X.

        Parameters
        ----------
        X : dask.array.Array or array_like, shape (n, d)
            Points, chunked by rows.
        y : ignored

        Returns
        -------
        SpanningForestClustering
            self, fitted.
        """
        forest: Forest = kforest_from_points(X, self.n_clusters, metric=self.metric, fan_in=self.fan_in)
        labels: NDArray[np.intp] = forest.labels
        self.forest_ = forest
        self.n_features_in_ = int(np.shape(X)[1])
        if isinstance(X, da.Array):
            self.labels_: Any = da.from_array(labels, chunks=(X.chunks[0],))
        else:
            self.labels_ = labels
        return self

    def fit_predict(self, X: Any, y: Any = None) -> Any:
        """Fit and return ``labels_``.

        Parameters
        ----------
        X : dask.array.Array or array_like, shape (n, d)
            Points, chunked by rows.
        y : ignored

        Returns
        -------
        dask.array.Array or ndarray
            ``labels_``.
        """
        return self.fit(X).labels_

    def __repr__(self) -> str:
        return (
            f"SpanningForestClustering(n_clusters={self.n_clusters!r}, metric={self.metric!r}, "
            f"fan_in={self.fan_in!r})"
        )
