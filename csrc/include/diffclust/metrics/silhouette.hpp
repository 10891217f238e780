// Exact silhouette coefficients, scikit-learn's definition:
//   a_i = mean distance from i to the other members of its cluster,
//   b_i = smallest mean distance from i to the members of another cluster,
//   s_i = (b_i - a_i) / max(a_i, b_i), and 0 when i is alone in its cluster
//         (or when a_i = b_i = 0).
//
// From points, the points are ordered by cluster (a stable counting sort) and
// packed once, then cut into blocks of 768 positions (more for n > 24576, so that
// there are at most 32 blocks). Each pair of blocks
// (I <= J) is one task: its distances are computed once, by the register-tiled
// product of tiles.hpp in 48 x 256 tiles, and summed per cluster run both along
// rows (for the points of I) and along columns (for the points of J) -- half of
// the n^2 distances. The partial sums of each pair of blocks are kept (n x
// (blocks + k) <= n x (32 + k) doubles) and reduced per point in block order. Extra memory: the
// partial sums, the n x k sums, the packed points (n x d doubles) and one tile
// per thread; never n x n. Every partial sum is built by one task in a fixed
// order, so the result does not depend on the number of threads.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "diffclust/metrics/distances.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/core/point_metrics.hpp"
#include "diffclust/core/group_by_label.hpp"
#include "diffclust/core/simd.hpp"
#include "diffclust/core/tiles.hpp"
#include "diffclust/core/checks.hpp"
#include "diffclust/core/types.hpp"

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
    for (index_t i = 0; i < n; ++i) {
        if (labels[i] < 0 || labels[i] >= k) throw std::out_of_range("labels must lie in [0, k)");
    }
    group_by_label(labels, n, k, co.start, co.order);
    co.size.resize(static_cast<std::size_t>(k));
    for (index_t c = 0; c < k; ++c)
        co.size[static_cast<std::size_t>(c)] = co.start[static_cast<std::size_t>(c + 1)] - co.start[static_cast<std::size_t>(c)];
    co.label_at.resize(static_cast<std::size_t>(n));
    for (index_t pos = 0; pos < n; ++pos)
        co.label_at[static_cast<std::size_t>(pos)] = labels[co.order[static_cast<std::size_t>(pos)]];
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

// A run of positions [begin, end) of one cluster inside one block.
struct Run {
    index_t cluster, begin, end;
};

template <class T>
struct SilhouetteJob {
    const T* X;
    index_t n, d;
    index_t bs, nb;  // nb blocks of bs positions
    Metric metric;
    const index_t* order;           // position -> point
    const double* sq;               // squared norms by point (sqeuclidean, euclidean)
    const double* div;              // cosine divisors by point
    const double* packed;           // all points, by position, in nr panels
    const std::vector<Run>* runs;   // (nb,) the cluster runs of each block
    const index_t* slot;            // (nb * nb,) offset of the partial sums of block pair (A, B)
    double* partial;                // for pair (A, B): rows(A) x runs(B) sums of distances
};

// Positions per block: 768 (16 tiles::mc x 3 tiles::nc), or a multiple of it that
// keeps the number of blocks at most 32, so that the partial sums (n x (blocks + k)
// doubles) stay O(n k).
inline index_t silhouette_block(index_t n) {
    constexpr index_t unit = 768, max_blocks = 32;
    return unit * std::max<index_t>(1, tiles::ceil_div(n, unit * max_blocks));
}

// Tile of blocks (I, J), I <= J: the distances between their positions, summed
// per cluster run: along rows into the partial sums of (I, J) and, when I < J,
// along columns into those of (J, I). Every pair of blocks is therefore
// computed once, and each partial sum is built by one task in a fixed order.
// Scratch: apack (mc * d), cbuf (mc * nc), colsum (nc).
template <class T>
DIFFCLUST_ALWAYS_INLINE void silhouette_tile_impl(const SilhouetteJob<T>& job, index_t I, index_t J, double* apack,
                                                  double* cbuf, double* colsum) {
    using namespace tiles;
    const index_t d = job.d, n = job.n, bs = job.bs;
    const Metric m = job.metric;
    const Product op = m == Metric::manhattan ? Product::l1 : Product::dot;
    const bool gram = m == Metric::sqeuclidean || m == Metric::euclidean;
    const index_t i0 = I * bs, i1 = std::min(n, i0 + bs), j0 = J * bs, j1 = std::min(n, j0 + bs);
    const std::vector<Run>& runs_i = job.runs[I];
    const std::vector<Run>& runs_j = job.runs[J];
    const index_t nri = static_cast<index_t>(runs_i.size()), nrj = static_cast<index_t>(runs_j.size());
    double* row_part = job.partial + job.slot[I * job.nb + J];                     // rows(I) x nrj
    double* col_part = I == J ? nullptr : job.partial + job.slot[J * job.nb + I];  // rows(J) x nri
    double ys[nc];
    for (index_t r0 = i0; r0 < i1; r0 += mc) {
        const index_t r1 = std::min(i1, r0 + mc);
        pack_panels(job.X, d, job.order, r0, r1 - r0, mr, m == Metric::cosine ? job.div : nullptr, apack);
        for (index_t c0 = j0; c0 < j1; c0 += nc) {
            const index_t c1 = std::min(j1, c0 + nc), len = c1 - c0;
            block_product(op, apack, ceil_div(r1 - r0, mr), job.packed + (c0 / nr) * d * nr, ceil_div(len, nr), d,
                          cbuf, nc);
            if (gram)
                for (index_t j = 0; j < len; ++j) ys[j] = job.sq[job.order[c0 + j]];
            for (index_t r = r0; r < r1; ++r) {
                double* c = cbuf + (r - r0) * nc;
                finish_row(m, c, len, gram ? job.sq[job.order[r]] : 0.0, ys);
                if (r >= c0 && r < c1) c[r - c0] = 0.0;  // d(x, x) = 0 exactly
                double* out = row_part + (r - i0) * nrj;
                for (index_t q = 0; q < nrj; ++q) {
                    const index_t b = std::max(c0, runs_j[static_cast<std::size_t>(q)].begin);
                    const index_t e = std::min(c1, runs_j[static_cast<std::size_t>(q)].end);
                    if (b >= e) continue;
                    const double* seg = c + (b - c0);
                    out[q] += lane_sum(e - b, [seg](index_t t) { return seg[t]; });
                }
            }
            if (!col_part) continue;
            for (index_t p = 0; p < nri; ++p) {
                const index_t b = std::max(r0, runs_i[static_cast<std::size_t>(p)].begin);
                const index_t e = std::min(r1, runs_i[static_cast<std::size_t>(p)].end);
                if (b >= e) continue;
                for (index_t j = 0; j < len; ++j) colsum[j] = 0.0;
                for (index_t r = b; r < e; ++r) {
                    const double* c = cbuf + (r - r0) * nc;
                    for (index_t j = 0; j < len; ++j) colsum[j] += c[j];
                }
                for (index_t j = 0; j < len; ++j) col_part[(c0 + j - j0) * nri + p] += colsum[j];
            }
        }
    }
}

[[maybe_unused]] static DIFFCLUST_TARGET_CLONES void silhouette_tile(const SilhouetteJob<double>& job, index_t I,
                                                                     index_t J, double* apack, double* cbuf,
                                                                     double* colsum) {
    silhouette_tile_impl(job, I, J, apack, cbuf, colsum);
}

[[maybe_unused]] static DIFFCLUST_TARGET_CLONES void silhouette_tile(const SilhouetteJob<float>& job, index_t I,
                                                                     index_t J, double* apack, double* cbuf,
                                                                     double* colsum) {
    silhouette_tile_impl(job, I, J, apack, cbuf, colsum);
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
    check_size(d, "d");
    detail::check_cluster_count(n, k);
    const detail::ClusterOrder co = detail::order_by_cluster(labels, n, k);
    const int threads = static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(d + 1) < 2.0e5
                            ? 1
                            : std::max(1, n_threads);
    const std::vector<double> norms = detail::row_norms_for(X, n, d, metric, threads);
    const std::vector<double> packed =
        detail::pack_all(X, n, d, co.order.data(), metric == Metric::cosine ? norms.data() : nullptr, threads);
    // Blocks of positions, their cluster runs, and where the partial sums of
    // each pair of blocks go: n x (blocks + k) doubles in all.
    const index_t bs = detail::silhouette_block(n), nb = ceil_div(n, bs);
    std::vector<std::vector<detail::Run>> runs(static_cast<std::size_t>(nb));
    for (index_t b = 0; b < nb; ++b) {
        const index_t e = std::min(n, (b + 1) * bs);
        for (index_t p = b * bs; p < e;) {
            const index_t cl = co.label_at[static_cast<std::size_t>(p)];
            const index_t q = std::min(e, co.start[static_cast<std::size_t>(cl + 1)]);
            runs[static_cast<std::size_t>(b)].push_back(detail::Run{cl, p, q});
            p = q;
        }
    }
    std::vector<index_t> slot(static_cast<std::size_t>(nb * nb));
    index_t total = 0;
    for (index_t a = 0; a < nb; ++a)
        for (index_t b = 0; b < nb; ++b) {
            slot[static_cast<std::size_t>(a * nb + b)] = total;
            total += (std::min(n, (a + 1) * bs) - a * bs) * static_cast<index_t>(runs[static_cast<std::size_t>(b)].size());
        }
    std::vector<double> partial(static_cast<std::size_t>(total), 0.0);
    const detail::SilhouetteJob<T> job{X,           n,           d,         bs,          nb,     metric, co.order.data(),
                                       norms.data(), norms.data(), packed.data(), runs.data(), slot.data(),
                                       partial.data()};
    std::vector<index_t> pairs;  // I * nb + J for I <= J
    for (index_t I = 0; I < nb; ++I)
        for (index_t J = I; J < nb; ++J) pairs.push_back(I * nb + J);
    const std::size_t scratch = static_cast<std::size_t>(mc * d + mc * nc + nc);
    std::vector<std::vector<double>> buffers(static_cast<std::size_t>(threads));
    parallel_for_tid(static_cast<index_t>(pairs.size()), threads, [&](index_t t, int tid) {
        std::vector<double>& buf = buffers[static_cast<std::size_t>(tid)];
        if (buf.empty()) buf.resize(scratch);
        const index_t pair = pairs[static_cast<std::size_t>(t)];
        detail::silhouette_tile(job, pair / nb, pair % nb, buf.data(), buf.data() + mc * d,
                                buf.data() + mc * d + mc * nc);
    });
    // Reduce each position's partial sums in block order.
    std::vector<double> sums(static_cast<std::size_t>(n * k), 0.0);
    parallel_for(nb, threads, [&](index_t a) {
        const index_t a0 = a * bs, a1 = std::min(n, a0 + bs);
        for (index_t b = 0; b < nb; ++b) {
            const std::vector<detail::Run>& rb = runs[static_cast<std::size_t>(b)];
            const index_t nrb = static_cast<index_t>(rb.size());
            const double* part = partial.data() + slot[static_cast<std::size_t>(a * nb + b)];
            for (index_t r = a0; r < a1; ++r)
                for (index_t q = 0; q < nrb; ++q)
                    sums[static_cast<std::size_t>(r * k + rb[static_cast<std::size_t>(q)].cluster)] +=
                        part[(r - a0) * nrb + q];
        }
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
