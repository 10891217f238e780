// Exact silhouette coefficients, scikit-learn's definition:
//   a_i = mean distance from i to the other members of its cluster,
//   b_i = smallest mean distance from i to the members of another cluster,
//   s_i = (b_i - a_i) / max(a_i, b_i), and 0 when i is alone in its cluster
//         (or when a_i = b_i = 0).
//
// From points, the points are ordered by cluster (a stable counting sort) and
// packed once; blocks of tiles::mc rows then sweep the columns in blocks of
// tiles::nc, turn each product tile into distances and add them up per cluster
// (a cluster is a contiguous run of columns). Extra memory: the n x k sums, the
// packed points (n x d doubles) and one mc x nc tile per thread, never n x n.
// Each row's sums are built by one block in a fixed column order, so the result
// does not depend on the number of threads.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "distances.hpp"
#include "parallel.hpp"
#include "point_metrics.hpp"
#include "simd.hpp"
#include "tiles.hpp"
#include "types.hpp"

namespace diffclust {

namespace detail {

// Cluster sizes and the stable order of the points by cluster.
struct ClusterOrder {
    std::vector<index_t> size;   // (k,)
    std::vector<index_t> start;  // (k + 1,) cluster c occupies [start[c], start[c + 1])
    std::vector<index_t> order;  // (n,) order[pos] = point at position pos
    std::vector<index_t> label_at;  // (n,) cluster of the point at position pos
};

inline ClusterOrder order_by_cluster(const index_t* labels, index_t n, index_t k) {
    ClusterOrder co;
    co.size.assign(static_cast<std::size_t>(k), 0);
    for (index_t i = 0; i < n; ++i) {
        const index_t c = labels[i];
        if (c < 0 || c >= k) throw std::out_of_range("labels must lie in [0, k)");
        ++co.size[static_cast<std::size_t>(c)];
    }
    co.start.assign(static_cast<std::size_t>(k + 1), 0);
    for (index_t c = 0; c < k; ++c)
        co.start[static_cast<std::size_t>(c + 1)] = co.start[static_cast<std::size_t>(c)] + co.size[static_cast<std::size_t>(c)];
    std::vector<index_t> next(co.start.begin(), co.start.end() - 1);
    co.order.resize(static_cast<std::size_t>(n));
    co.label_at.resize(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) {
        const std::size_t c = static_cast<std::size_t>(labels[i]);
        const index_t pos = next[c]++;
        co.order[static_cast<std::size_t>(pos)] = i;
        co.label_at[static_cast<std::size_t>(pos)] = static_cast<index_t>(c);
    }
    return co;
}

// s_i from the row of per-cluster distance sums.
inline double silhouette_from_sums(const double* sums, index_t k, index_t own, const index_t* size) {
    if (size[own] <= 1) return 0.0;
    const double a = sums[own] / static_cast<double>(size[own] - 1);
    double b = std::numeric_limits<double>::infinity();
    for (index_t c = 0; c < k; ++c) {
        if (c == own) continue;
        const double m = sums[c] / static_cast<double>(size[c]);
        if (m < b) b = m;
    }
    const double denom = a > b ? a : b;
    return denom > 0.0 ? (b - a) / denom : 0.0;
}

template <class T>
struct SilhouetteJob {
    const T* X;
    index_t n, d, k;
    Metric metric;
    const index_t* order;     // position -> point
    const index_t* label_at;  // position -> cluster
    const index_t* start;     // cluster -> first position
    const double* sq;         // squared norms by point (sqeuclidean, euclidean)
    const double* div;        // cosine divisors by point
    const double* packed;     // all points, by position, in nr panels
    double* sums;             // (n, k) by position
};

// Rows (positions) [i0, i1) against every column: adds the per-cluster distance sums.
template <class T>
DIFFCLUST_ALWAYS_INLINE void silhouette_rows_impl(const SilhouetteJob<T>& job, index_t i0, index_t i1,
                                                  double* apack, double* cbuf) {
    using namespace tiles;
    const index_t d = job.d, n = job.n, k = job.k;
    const Metric m = job.metric;
    const Product op = m == Metric::manhattan ? Product::l1 : Product::dot;
    pack_panels(job.X, d, job.order, i0, i1 - i0, mr, m == Metric::cosine ? job.div : nullptr, apack);
    const index_t a_panels = ceil_div(i1 - i0, mr);
    for (index_t j0 = 0; j0 < n; j0 += nc) {
        const index_t j1 = std::min(n, j0 + nc), len = j1 - j0;
        block_product(op, apack, a_panels, job.packed + (j0 / nr) * d * nr, ceil_div(len, nr), d, cbuf, nc);
        double ys[nc];
        const bool gram = m == Metric::sqeuclidean || m == Metric::euclidean;
        if (gram) {
            for (index_t j = 0; j < len; ++j) ys[j] = job.sq[job.order[j0 + j]];
        }
        for (index_t i = i0; i < i1; ++i) {
            double* c = cbuf + (i - i0) * nc;
            // Product tile -> distances, in place.
            finish_row(m, c, len, gram ? job.sq[job.order[i]] : 0.0, ys);
            if (i >= j0 && i < j1) c[i - j0] = 0.0;  // d(x, x) = 0 exactly
            // Runs of equal cluster -> per-cluster sums.
            double* row_sums = job.sums + i * k;
            index_t j = j0;
            while (j < j1) {
                const index_t cl = job.label_at[j];
                const index_t end = std::min(j1, job.start[cl + 1]);
                const double* seg = c + (j - j0);
                row_sums[cl] += lane_sum(end - j, [seg](index_t t) { return seg[t]; });
                j = end;
            }
        }
    }
}

[[maybe_unused]] static DIFFCLUST_TARGET_CLONES void silhouette_rows(const SilhouetteJob<double>& job, index_t i0, index_t i1,
                                                    double* apack, double* cbuf) {
    silhouette_rows_impl(job, i0, i1, apack, cbuf);
}

[[maybe_unused]] static DIFFCLUST_TARGET_CLONES void silhouette_rows(const SilhouetteJob<float>& job, index_t i0, index_t i1,
                                                    double* apack, double* cbuf) {
    silhouette_rows_impl(job, i0, i1, apack, cbuf);
}

inline void check_cluster_count(index_t n, index_t k) {
    if (k < 2 || k > n - 1) {
        throw std::invalid_argument("the number of distinct labels must be in [2, n - 1] = [2, " +
                                    std::to_string(n - 1) + "], got " + std::to_string(k));
    }
}

}  // namespace detail

// Silhouette of each point of X (n x d) for labels in [0, k); out (n,) float64.
template <class T>
void silhouette_samples(const T* X, index_t n, index_t d, const index_t* labels, index_t k, Metric metric,
                        int n_threads, double* out) {
    using namespace tiles;
    detail::check_cluster_count(n, k);
    const detail::ClusterOrder co = detail::order_by_cluster(labels, n, k);
    const int threads = static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(d + 1) < 2.0e5
                            ? 1
                            : std::max(1, n_threads);
    const std::vector<double> norms = detail::row_norms_for(X, n, d, metric, threads);
    const std::vector<double> packed =
        detail::pack_all(X, n, d, co.order.data(), metric == Metric::cosine ? norms.data() : nullptr, threads);
    std::vector<double> sums(static_cast<std::size_t>(n * k), 0.0);
    detail::SilhouetteJob<T> job{X,           n,           d,          k,     metric, co.order.data(), co.label_at.data(),
                                 co.start.data(), norms.data(), norms.data(), packed.data(), sums.data()};
    const std::size_t scratch = static_cast<std::size_t>(mc * d + mc * nc);
    std::vector<std::vector<double>> buffers(static_cast<std::size_t>(threads));
    parallel_for_tid(ceil_div(n, mc), threads, [&](index_t rb, int tid) {
        std::vector<double>& buf = buffers[static_cast<std::size_t>(tid)];
        if (buf.empty()) buf.resize(scratch);
        const index_t i0 = rb * mc, i1 = std::min(n, i0 + mc);
        detail::silhouette_rows(job, i0, i1, buf.data(), buf.data() + mc * d);
    });
    for (index_t pos = 0; pos < n; ++pos) {
        out[co.order[static_cast<std::size_t>(pos)]] = detail::silhouette_from_sums(
            sums.data() + pos * k, k, co.label_at[static_cast<std::size_t>(pos)], co.size.data());
    }
}

// Silhouette from a precomputed (n, n) dissimilarity matrix D (row i holds the
// distances from point i). The diagonal is included as given.
template <class T>
void silhouette_samples_precomputed(const T* D, index_t n, const index_t* labels, index_t k, int n_threads,
                                    double* out) {
    detail::check_cluster_count(n, k);
    std::vector<index_t> size(static_cast<std::size_t>(k), 0);
    for (index_t i = 0; i < n; ++i) {
        if (labels[i] < 0 || labels[i] >= k) throw std::out_of_range("labels must lie in [0, k)");
        ++size[static_cast<std::size_t>(labels[i])];
    }
    const int threads = static_cast<double>(n) * static_cast<double>(n) < 2.0e5 ? 1 : std::max(1, n_threads);
    constexpr index_t rows_per_task = 16;
    std::vector<std::vector<double>> scratch(static_cast<std::size_t>(threads));
    parallel_for_tid(tiles::ceil_div(n, rows_per_task), threads, [&](index_t task, int tid) {
        std::vector<double>& sums = scratch[static_cast<std::size_t>(tid)];
        sums.resize(static_cast<std::size_t>(k));
        const index_t i1 = std::min(n, (task + 1) * rows_per_task);
        for (index_t i = task * rows_per_task; i < i1; ++i) {
            std::fill(sums.begin(), sums.end(), 0.0);
            const T* row = D + i * n;
            for (index_t j = 0; j < n; ++j) sums[static_cast<std::size_t>(labels[j])] += static_cast<double>(row[j]);
            out[i] = detail::silhouette_from_sums(sums.data(), k, labels[i], size.data());
        }
    });
}

}  // namespace diffclust
