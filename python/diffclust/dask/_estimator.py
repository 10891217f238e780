"""An estimator in dask-ml's style: exact single linkage on a row-chunked dask array."""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
from numpy.typing import NDArray

from ..forests import Forest
from ._forest import kforest_from_points

__all__ = ["SpanningForestClustering"]


class _Params:
    """scikit-learn's parameter protocol for the estimators below: the constructor's
    keyword parameters, named in ``_params``, stored unchanged."""

    _params: tuple[str, ...] = ()

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters of the estimator (scikit-learn's protocol).

        Parameters
        ----------
        deep : bool, default True
            Ignored (no nested estimators).

        Returns
        -------
        dict
            The constructor's parameters.
        """
        return {key: getattr(self, key) for key in self._params}

    def set_params(self, **params: Any) -> Any:
        """Set parameters (scikit-learn's protocol).

        Parameters
        ----------
        **params
            Any of the constructor's parameters.

        Returns
        -------
        estimator
            self.
        """
        for key, value in params.items():
            if key not in self._params:
                raise ValueError(f"invalid parameter {key!r} for {type(self).__name__}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={getattr(self, key)!r}" for key in self._params)
        return f"{type(self).__name__}({args})"


class SpanningForestClustering(_Params):
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

    _params = ("n_clusters", "metric", "fan_in")

    def __init__(self, n_clusters: int = 2, *, metric: str = "sqeuclidean", fan_in: int = 8) -> None:
        self.n_clusters = n_clusters
        self.metric = metric
        self.fan_in = fan_in

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


class KMeans(_Params):
    """k-means (Lloyd) of a row-chunked dask array, fitted exactly as :func:`diffclust.kmeans`.

    In dask-ml's style: parameters stored unchanged by ``__init__``, ``fit``
    computes with whichever scheduler is active (never creating a ``Client``),
    fitted attributes end in ``_``, ``labels_`` is a dask array and ``predict``
    returns one.

    Parameters
    ----------
    n_clusters : int, default 8
        Number of clusters k.
    init : {"k-means++", "random"} or array_like, shape (k, d), default "k-means++"
        As in :func:`diffclust.dask.kmeans` (k-means++ gathers X once).
    n_init : int, default 1
        Runs from different seeds (ignored for an array ``init``).
    max_iter : int, default 300
        Maximum Lloyd iterations per run.
    tol : float, default 1e-4
        Relative tolerance on the squared centre shift (scikit-learn's rule).
    random_state : int, numpy.random.Generator or None
        Seed of the initialisation.
    block_rows : int, optional
        Rows per task, a multiple of 2048.

    Attributes
    ----------
    cluster_centers_ : ndarray, shape (k, d)
        Equal bit for bit to ``diffclust.kmeans(X.compute(), ...).centers``.
    labels_ : dask.array.Array of intp, shape (n,)
        Cluster of each point, chunked like X's rows.
    inertia_ : float
        Sum of the (weighted) squared distances to the assigned centres.
    n_iter_ : int
        Lloyd iterations of the returned run.
    n_features_in_ : int
        Number of columns of X.
    """

    _params = ("n_clusters", "init", "n_init", "max_iter", "tol", "random_state", "block_rows")

    def __init__(
        self, n_clusters: int = 8, *, init: Any = "k-means++", n_init: int = 1, max_iter: int = 300,
        tol: float = 1e-4, random_state: Any = None, block_rows: int | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.block_rows = block_rows

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> KMeans:
        """Compute k-means clustering of X.

        Parameters
        ----------
        X : dask.array.Array or array_like, shape (n, d)
            Points, chunked by rows.
        y : ignored
        sample_weight : dask.array.Array or array_like, shape (n,), optional
            Non-negative weights (gathered: n floats).

        Returns
        -------
        KMeans
            self, fitted.
        """
        from ._common import as_dask_points
        from ._kmeans import _fit

        Xd = as_dask_points(X)
        C, labels, inertia, n_iter, blocked = _fit(
            Xd, self.n_clusters, self.init, self.n_init, self.max_iter, self.tol, sample_weight,
            self.random_state, self.block_rows, None,
        )
        pieces = [da.from_delayed(lab, shape=(int(rows),), dtype=np.int64)
                  for lab, rows in zip(labels, blocked.chunks[0])]
        self.labels_: Any = da.concatenate(pieces).astype(np.intp).rechunk((Xd.chunks[0],))
        self.cluster_centers_ = C
        self.inertia_ = float(inertia)
        self.n_iter_ = int(n_iter)
        self.n_features_in_ = int(Xd.shape[1])
        return self

    def predict(self, X: Any) -> Any:
        """Nearest fitted centre of each point (ties: the smallest index), as a dask array.

        Parameters
        ----------
        X : dask.array.Array or array_like, shape (m, d)
            Points, chunked by rows.

        Returns
        -------
        dask.array.Array of intp, shape (m,)
            Labels chunked like X's rows; equal to
            ``diffclust.kmeans_predict``-style assignment in memory.
        """
        from ._common import as_dask_points
        from ._kmeans import predict_block

        if not hasattr(self, "cluster_centers_"):
            raise ValueError("this KMeans instance is not fitted yet: call fit first")
        Xd = as_dask_points(X)
        if Xd.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {Xd.shape[1]} features, but KMeans was fitted with {self.n_features_in_}")
        return Xd.map_blocks(predict_block, self.cluster_centers_, drop_axis=1, dtype=np.intp)

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
        """Fit and return ``labels_``.

        Parameters
        ----------
        X : dask.array.Array or array_like, shape (n, d)
            Points, chunked by rows.
        y : ignored
        sample_weight : array_like, optional
            As in :meth:`fit`.

        Returns
        -------
        dask.array.Array
            ``labels_``.
        """
        return self.fit(X, sample_weight=sample_weight).labels_
