// Pairwise distances between the rows of X (nx x d) and Y (ny x d), blocked and
// threaded, with scikit-learn's conventions:
//   sqeuclidean  ||x||^2 + ||y||^2 - 2 <x, y>, clamped at 0 (the Gram trick)
//   euclidean    the square root of that
//   cosine       1 - <x / ||x||, y / ||y||>, clipped to [0, 2]; a zero vector is
//                left at zero, so its distance to any vector is 1. A product
//                within 2^-20 of 1 is divided by sqrt(q_x q_y), q_x being
//                <x / ||x||, x / ||x||> summed as the product is: so identical
//                rows are at distance exactly 0 (sqrt(q * q) == q in IEEE
//                arithmetic), as they are for the other metrics
//   manhattan    sum_k |x_k - y_k|, computed directly
// When Y is X (Y == nullptr) the diagonal is set to exactly 0, and for d >= 32
// only the upper triangle is computed (each entry written to (i, j) and (j, i)).
// Entry (i, j) and (j, i) are the same sums in the same order either way, so the
// result is exactly symmetric.
//
// Work is split into cache blocks of tiles::mc rows x tiles::nc columns; each
// block packs its rows and runs the register-tiled product of tiles.hpp against
// Y, packed once. Everything is accumulated in double, also for float32 input,
// and rounded once on output. Each entry is computed by exactly one block in a
// fixed order, so the result does not depend on the number of threads.
#pragma once

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "diffclust/core/parallel.hpp"
#include "diffclust/core/point_metrics.hpp"
#include "diffclust/core/simd.hpp"
#include "diffclust/core/tiles.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust {

namespace detail {

template <class T>
double row_sq_norm(const T* x, index_t d) {
    double s = 0.0;
    for (index_t k = 0; k < d; ++k) s += static_cast<double>(x[k]) * static_cast<double>(x[k]);
    return s;
}

// What every block of one pairwise_distances call shares.
template <class T>
struct PairwiseJob {
    const T* X;
    index_t nx, ny, d;
    Metric metric;
    const double* x_sq;   // squared row norms of X (sqeuclidean, euclidean); cosine: q of X
    const double* y_sq;   // squared row norms of Y; cosine: q of Y
    const double* x_div;  // cosine: row norms of X, zero norms replaced by 1
    const double* packed_y;
    T* out;       // (nx, ny)
    bool mirror;  // Y is X: compute the entries with j > i and write them twice
};

// Turns one row of a product tile into distances, in place.
DIFFCLUST_ALWAYS_INLINE void finish_row(Metric m, double* c, index_t len, double xs, const double* ys) {
    if (m == Metric::sqeuclidean) {
        for (index_t j = 0; j < len; ++j) {
            const double v = (xs + ys[j]) - 2.0 * c[j];  // symmetric in x and y, bit for bit
            c[j] = v > 0.0 ? v : 0.0;
        }
    } else if (m == Metric::euclidean) {
        for (index_t j = 0; j < len; ++j) {
            const double v = (xs + ys[j]) - 2.0 * c[j];
            c[j] = std::sqrt(v > 0.0 ? v : 0.0);
        }
    } else if (m == Metric::cosine) {
        for (index_t j = 0; j < len; ++j) {
            const double v = 1.0 - c[j];
            c[j] = v < 0.0 ? 0.0 : (v > 2.0 ? 2.0 : v);
        }
    }
}

// Rows [i0, i1) x columns [j0, j1) of the output. `apack` holds mc * d doubles,
// `cbuf` mc * nc doubles. With job.mirror (Y is X), only the entries with j > i
// are written, to (i, j) and to (j, i).
template <class T>
DIFFCLUST_ALWAYS_INLINE void pairwise_block_impl(const PairwiseJob<T>& job, index_t i0, index_t i1, index_t j0,
                                                 index_t j1, double* apack, double* cbuf) {
    using namespace tiles;
    const index_t d = job.d, ny = job.ny, len = j1 - j0;
    const Metric m = job.metric;
    const Product op = m == Metric::manhattan ? Product::l1 : Product::dot;
    pack_panels(job.X, d, nullptr, i0, i1 - i0, mr, m == Metric::cosine ? job.x_div : nullptr, apack);
    block_product(op, apack, ceil_div(i1 - i0, mr), job.packed_y + (j0 / nr) * d * nr, ceil_div(len, nr), d, cbuf,
                  nc);
    const bool gram = m == Metric::sqeuclidean || m == Metric::euclidean;
    for (index_t i = i0; i < i1; ++i) {
        double* c = cbuf + (i - i0) * nc;
        if (m == Metric::cosine) {
            constexpr double near_one = 1.0 - 0x1p-20;
            int any = 0;  // a vectorised scan first: products near 1 are rare
            for (index_t j = 0; j < len; ++j) any |= c[j] >= near_one;
            if (any) {
                const double qx = job.x_sq[i];
                const double* qy = job.y_sq + j0;
                for (index_t j = 0; j < len; ++j) {
                    if (c[j] >= near_one) c[j] = c[j] / std::sqrt(qx * qy[j]);
                }
            }
        }
        finish_row(m, c, len, gram ? job.x_sq[i] : 0.0, gram ? job.y_sq + j0 : nullptr);
        const index_t first = job.mirror ? std::min(len, std::max<index_t>(0, i + 1 - j0)) : 0;
        T* o = job.out + i * ny + j0;
        for (index_t j = first; j < len; ++j) o[j] = static_cast<T>(c[j]);
    }
    if (!job.mirror) return;
    for (index_t j = j0; j < j1; ++j) {  // the transposed half: rows i < j of column j
        T* o = job.out + j * ny;
        const double* c = cbuf + (j - j0);
        const index_t end = std::min(i1, j);
        for (index_t i = i0; i < end; ++i) o[i] = static_cast<T>(c[(i - i0) * nc]);
    }
}

// One copy per CPU level; called once per cache block.
[[maybe_unused]] static DIFFCLUST_TARGET_CLONES void pairwise_block(const PairwiseJob<double>& job, index_t i0, index_t i1,
                                                   index_t j0, index_t j1, double* apack, double* cbuf) {
    pairwise_block_impl(job, i0, i1, j0, j1, apack, cbuf);
}

[[maybe_unused]] static DIFFCLUST_TARGET_CLONES void pairwise_block(const PairwiseJob<float>& job, index_t i0, index_t i1,
                                                   index_t j0, index_t j1, double* apack, double* cbuf) {
    pairwise_block_impl(job, i0, i1, j0, j1, apack, cbuf);
}

// Row norms in the form `metric` needs: squared norms (Gram trick) or cosine
// divisors (norms, with 0 replaced by 1 as scikit-learn's normalize does).
template <class T>
std::vector<double> row_norms_for(const T* X, index_t n, index_t d, Metric metric, int n_threads) {
    std::vector<double> out(static_cast<std::size_t>(n));
    if (metric == Metric::manhattan) return out;
    parallel_for(n, n * d > 65536 ? n_threads : 1, [&](index_t i) {
        const double s = row_sq_norm(X + i * d, d);
        double& o = out[static_cast<std::size_t>(i)];
        if (metric == Metric::cosine) {
            const double norm = std::sqrt(s);
            o = norm == 0.0 ? 1.0 : norm;
        } else {
            o = s;
        }
    });
    return out;
}

// Cosine: q_i = sum_k (x_ik / div_i)^2 in increasing k, the sum the product
// forms for a row against itself (0 for a zero row is replaced by 1).
template <class T>
std::vector<double> cosine_self_products(const T* X, index_t n, index_t d, const double* div, int n_threads) {
    std::vector<double> out(static_cast<std::size_t>(n));
    parallel_for(n, n * d > 65536 ? n_threads : 1, [&](index_t i) {
        const T* x = X + i * d;
        double s = 0.0;
        for (index_t k = 0; k < d; ++k) {
            const double t = static_cast<double>(x[k]) / div[i];
            s += t * t;
        }
        out[static_cast<std::size_t>(i)] = s == 0.0 ? 1.0 : s;
    });
    return out;
}

// Packs all n rows of X (through `rows` if given) into nr-point panels.
template <class T>
std::vector<double> pack_all(const T* X, index_t n, index_t d, const index_t* rows, const double* divisor,
                             int n_threads) {
    using namespace tiles;
    const index_t panels = ceil_div(n, nr);
    std::vector<double> packed(static_cast<std::size_t>(panels * nr * d));
    constexpr index_t group = 64;  // panels per task
    parallel_for(ceil_div(panels, group), n * d > 65536 ? n_threads : 1, [&](index_t g) {
        const index_t first = g * group * nr;
        const index_t count = std::min(n - first, group * nr);
        pack_panels(X, d, rows, first, count, nr, divisor, packed.data() + first * d);
    });
    return packed;
}

}  // namespace detail

// out (nx, ny) = d(X[i], Y[j]). Y == nullptr means Y is X (and ny = nx); then the
// diagonal is exactly 0. Buffers are owned by the caller; out must not alias X or Y.
template <class T>
void pairwise_distances(const T* X, index_t nx, const T* Y, index_t ny, index_t d, Metric metric, int n_threads,
                        T* out) {
    using namespace tiles;
    if (nx < 0 || ny < 0 || d < 0) throw std::invalid_argument("pairwise_distances: negative size");
    if (nx == 0 || ny == 0) return;
    const bool same = Y == nullptr;
    if (same) {
        Y = X;
        ny = nx;
    }
    // Tiny problems are not worth a thread.
    const int threads = static_cast<double>(nx) * static_cast<double>(ny) * static_cast<double>(d + 1) < 2.0e5
                            ? 1
                            : std::max(1, n_threads);

    const std::vector<double> x_norms = detail::row_norms_for(X, nx, d, metric, threads);
    const std::vector<double> y_norms = same ? std::vector<double>() : detail::row_norms_for(Y, ny, d, metric, threads);
    const double* yn = same ? x_norms.data() : y_norms.data();
    const std::vector<double> packed_y =
        detail::pack_all(Y, ny, d, nullptr, metric == Metric::cosine ? yn : nullptr, threads);
    const bool cosine = metric == Metric::cosine;
    const std::vector<double> x_q =
        cosine ? detail::cosine_self_products(X, nx, d, x_norms.data(), threads) : std::vector<double>();
    const std::vector<double> y_q =
        cosine && !same ? detail::cosine_self_products(Y, ny, d, yn, threads) : std::vector<double>();
    const double* x_sq = cosine ? x_q.data() : x_norms.data();
    const double* y_sq = cosine ? (same ? x_q.data() : y_q.data()) : yn;

    // When Y is X, computing the upper triangle once and writing each entry twice
    // halves the arithmetic, but the transposed writes cost more than they save
    // when d is small (measured: a loss at d <= 16, a win from d = 32 on).
    const bool mirror = same && d >= 32;
    const detail::PairwiseJob<T> job{X, nx, ny, d, metric, x_sq, y_sq, x_norms.data(), packed_y.data(), out, mirror};
    // Cache blocks; when mirroring, only those holding an entry above the diagonal.
    const index_t row_blocks = ceil_div(nx, mc), col_blocks = ceil_div(ny, nc);
    std::vector<index_t> blocks;
    blocks.reserve(static_cast<std::size_t>(row_blocks * col_blocks));
    for (index_t rb = 0; rb < row_blocks; ++rb)
        for (index_t cb = 0; cb < col_blocks; ++cb)
            if (!mirror || std::min(ny, (cb + 1) * nc) - 1 > rb * mc) blocks.push_back(rb * col_blocks + cb);
    const std::size_t scratch = static_cast<std::size_t>(mc * d + mc * nc);
    std::vector<std::vector<double>> buffers(static_cast<std::size_t>(threads));
    parallel_for_tid(static_cast<index_t>(blocks.size()), threads, [&](index_t t, int tid) {
        std::vector<double>& buf = buffers[static_cast<std::size_t>(tid)];
        if (buf.empty()) buf.resize(scratch);
        const index_t task = blocks[static_cast<std::size_t>(t)];
        const index_t rb = task / col_blocks, cb = task % col_blocks;
        const index_t i0 = rb * mc, i1 = std::min(nx, i0 + mc);
        const index_t j0 = cb * nc, j1 = std::min(ny, j0 + nc);
        detail::pairwise_block(job, i0, i1, j0, j1, buf.data(), buf.data() + mc * d);
    });
    if (same) {
        for (index_t i = 0; i < nx; ++i) out[i * nx + i] = T(0);
    }
}

}  // namespace diffclust
