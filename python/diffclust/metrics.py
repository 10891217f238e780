"""Clustering metrics: ARI, NMI, MI (external) and Davies-Bouldin (internal).

Drop-in replacements for the scikit-learn functions of the same names, with the
same values and the same conventions for degenerate inputs, computed in C++ from a
sparse contingency table: labels of any integer values are encoded by a lookup
table or a radix sort, and only the nonzero cells of the table are kept, so the
cost is O(n) (O(n log) for widely spread label values) whatever the number of
classes and clusters.
"""

from __future__ import annotations

from numpy.typing import ArrayLike

from . import _ops
from ._validation import resolve_threads

__all__ = [
    "adjusted_rand_score",
    "davies_bouldin_score",
    "mutual_info_score",
    "normalized_mutual_info_score",
]


def adjusted_rand_score(
    labels_true: ArrayLike, labels_pred: ArrayLike, *, n_threads: int | None = None
) -> float:
    """Adjusted Rand index (Hubert and Arabie) between two labelings.

    Parameters
    ----------
    labels_true, labels_pred : array_like of int, shape (n,)
        Two labelings of the same n samples. Label values are arbitrary integers
        (negative, huge, non-contiguous) or whole-number floats; only equality
        matters.
    n_threads : int, optional
        Threads for encoding and counting. None means ``DIFFCLUST_NUM_THREADS``,
        else ``OMP_NUM_THREADS``, else the usable cores. The result never depends on it.

    Returns
    -------
    float
        ``2 (tp tn - fn fp) / ((tp + fn)(fn + tn) + (tp + fp)(fp + tn))`` from the
        exact pair counts (``sklearn.metrics.pair_confusion_matrix``). 1.0 when the
        labelings agree on every pair, including n <= 1 and two single-cluster
        labelings; bounded below by -0.5; symmetric in its arguments.

    Raises
    ------
    ValueError
        If a labeling is not 1-d, or the lengths differ.
    TypeError
        If a labeling holds neither integers nor whole-number floats.

    Notes
    -----
    The pair counts are exact (128-bit integers), and the quotient rounds each
    integer once, as scikit-learn does with Python integers, so the two agree to the
    last bit.

    References
    ----------
    L. Hubert and P. Arabie. Comparing partitions. Journal of Classification 2, 1985.
    """
    return _ops.adjusted_rand_score(labels_true, labels_pred, resolve_threads(n_threads))


def mutual_info_score(
    labels_true: ArrayLike, labels_pred: ArrayLike, *, n_threads: int | None = None
) -> float:
    """Mutual information (in nats) between two labelings.

    Parameters
    ----------
    labels_true, labels_pred : array_like of int, shape (n,)
        Two labelings of the same n samples; any integer values.
    n_threads : int, optional
        Threads for encoding and counting; the result never depends on it.

    Returns
    -------
    float
        ``sum_ij (n_ij / n) log(n n_ij / (a_i b_j))`` over the nonzero cells of the
        contingency table, with row sums a and column sums b. As in scikit-learn,
        0.0 when either labeling has a single value (or n = 0), terms below machine
        epsilon in magnitude are dropped and the sum is clipped at 0.

    Raises
    ------
    ValueError
        If a labeling is not 1-d, or the lengths differ.
    TypeError
        If a labeling holds neither integers nor whole-number floats.
    """
    return _ops.mutual_info_score(labels_true, labels_pred, resolve_threads(n_threads))


def normalized_mutual_info_score(
    labels_true: ArrayLike,
    labels_pred: ArrayLike,
    *,
    average_method: str = "arithmetic",
    n_threads: int | None = None,
) -> float:
    """Normalized mutual information between two labelings.

    Parameters
    ----------
    labels_true, labels_pred : array_like of int, shape (n,)
        Two labelings of the same n samples; any integer values.
    average_method : {"arithmetic", "geometric", "min", "max"}
        How the entropies H(true) and H(pred) are averaged into the normaliser
        (scikit-learn's parameter and default).
    n_threads : int, optional
        Threads for encoding and counting; the result never depends on it.

    Returns
    -------
    float
        ``MI / mean(H(true), H(pred))``. scikit-learn's conventions: 1.0 when both
        labelings have a single value (or n = 0); 0.0 whenever the MI is 0 otherwise
        (for instance one labeling constant and the other not).

    Raises
    ------
    ValueError
        If a labeling is not 1-d, the lengths differ, or ``average_method`` is unknown.
    TypeError
        If a labeling holds neither integers nor whole-number floats.

    References
    ----------
    N. X. Vinh, J. Epps, J. Bailey. Information theoretic measures for clusterings
    comparison. JMLR 11, 2010.
    """
    return _ops.normalized_mutual_info_score(
        labels_true, labels_pred, average_method, resolve_threads(n_threads)
    )


def davies_bouldin_score(X: ArrayLike, labels: ArrayLike, *, n_threads: int | None = None) -> float:
    """Davies-Bouldin index of a clustering (lower is better).

    Parameters
    ----------
    X : array_like, shape (n, d)
        Points, float32 or float64 (accumulated in float64; used without a copy
        when C-contiguous).
    labels : array_like of int, shape (n,)
        Cluster of each point; any integer values, between 2 and n - 1 distinct ones.
    n_threads : int, optional
        Threads for the centroid and distance passes; the result never depends on it.

    Returns
    -------
    float
        ``mean_c max_{c' != c} (s_c + s_c') / ||mu_c - mu_c'||`` with mu_c the
        centroid (mean) of cluster c and s_c the mean Euclidean distance of its
        points to mu_c. As in scikit-learn: 0.0 when every s_c, or every centroid
        distance, is within 1e-8 of 0, and pairs of coinciding centroids are skipped.

    Raises
    ------
    ValueError
        If X is not 2-d, is empty or holds NaN/inf; if labels has the wrong length
        or fewer than 2 or more than n - 1 distinct values.
    TypeError
        If X is not real-valued or labels holds neither integers nor whole-number floats.

    Notes
    -----
    Distances are computed directly (not by scikit-learn's ``|x|^2 + |y|^2 - 2 x.y``
    expansion), so the two agree to about 1e-12 relative, not to the last bit.

    References
    ----------
    D. L. Davies and D. W. Bouldin. A cluster separation measure. IEEE TPAMI 1(2), 1979.
    """
    return _ops.davies_bouldin_score(X, labels, resolve_threads(n_threads))
