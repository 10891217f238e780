// Normalized cut and ratio cut of a labeling, and the relaxed (soft) normalized
// cut of an assignment matrix with its gradient, on a dense or CSR affinity W.
//
// W is used as given: degrees are row sums d_i = sum_j W_ij, and for a cluster A
// cut(A) = sum_{i in A, j not in A} W_ij, vol(A) = sum_{i in A} d_i. For a symmetric
// affinity these are the textbook quantities. Work is O(nnz) (O(nnz k) for the soft
// cut), threaded by rows; per-row results are reduced over clusters in index order,
// so the value never depends on the thread count. The W^T P term of the soft cut's
// gradient is a scatter over the entries split by output rows (no transpose is built).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "diffclust/core/chunked.hpp"
#include "diffclust/metrics/contingency.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/core/simd.hpp"
#include "diffclust/core/checks.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust {

// Row sums use four interleaved partial sums: entry e of a row (counted from the row's
// start) goes to lane e % 4, and the lanes are added as (s0 + s1) + (s2 + s3). The order is
// fixed, so results never depend on the thread count, and the four add chains run in
// parallel instead of one long dependency chain. fn(lane, e) with a constant lane.
template <class Fn>
inline void for_each_lane(index_t begin, index_t end, Fn&& fn) {
    index_t e = begin;
    for (; e + 4 <= end; e += 4) {
        fn(0, e);
        fn(1, e + 1);
        fn(2, e + 2);
        fn(3, e + 3);
    }
    if (e < end) fn(0, e);
    if (e + 1 < end) fn(1, e + 1);
    if (e + 2 < end) fn(2, e + 2);
}

inline double lane_total(const double* s) noexcept { return (s[0] + s[1]) + (s[2] + s[3]); }

// keep ? w : +0.0 by masking the bits, so that no branch depends on a label comparison
// that the predictor cannot guess (cluster boundaries).
inline double keep_if(double w, bool keep) noexcept {
    std::uint64_t bits;
    std::memcpy(&bits, &w, sizeof bits);
    bits &= std::uint64_t(0) - static_cast<std::uint64_t>(keep);
    double out;
    std::memcpy(&out, &bits, sizeof out);
    return out;
}

// Asks for the cache lines of a row of k doubles: random gathers from an (n, k) matrix
// are memory-latency bound, and a prefetch a few entries ahead hides much of it.
inline void prefetch_row(const double* p, index_t k) noexcept {
#if defined(__GNUC__)
    for (index_t off = 0; off < k; off += 8) __builtin_prefetch(p + off);
#else
    (void)p;
    (void)k;
#endif
}

constexpr index_t prefetch_distance = 8;  // entries ahead

template <class T>
struct DenseGraph {
    const T* w;  // (n, n) row-major
    index_t n;
    index_t nnz_stored() const noexcept { return n * n; }
    template <class Fn>
    void row(index_t i, Fn&& fn) const {
        const T* r = w + i * n;
        for (index_t j = 0; j < n; ++j) fn(j, static_cast<double>(r[j]));
    }
    template <class Fn>
    void row4(index_t i, Fn&& fn) const {
        const T* r = w + i * n;
        for_each_lane(index_t(0), n, [&](int lane, index_t e) { fn(lane, e, static_cast<double>(r[e])); });
    }
    // row4, and ahead(j) for the column `prefetch_distance` entries ahead
    template <class Fn, class Ahead>
    void row4_ahead(index_t i, Fn&& fn, Ahead&& ahead) const {
        const T* r = w + i * n;
        for_each_lane(index_t(0), n, [&](int lane, index_t e) {
            if (e + prefetch_distance < n) ahead(e + prefetch_distance);
            fn(lane, e, static_cast<double>(r[e]));
        });
    }
};

template <class T, class I>
struct CsrGraph {
    const I* indptr;   // (n + 1,)
    const I* indices;  // (nnz,)
    const T* data;     // (nnz,)
    index_t n;
    index_t nnz;       // length of indices and data
    index_t nnz_stored() const noexcept { return nnz; }
    template <class Fn>
    void row(index_t i, Fn&& fn) const {
        for (index_t e = static_cast<index_t>(indptr[i]); e < static_cast<index_t>(indptr[i + 1]); ++e)
            fn(static_cast<index_t>(indices[e]), static_cast<double>(data[e]));
    }
    template <class Fn>
    void row4(index_t i, Fn&& fn) const {
        for_each_lane(static_cast<index_t>(indptr[i]), static_cast<index_t>(indptr[i + 1]), [&](int lane, index_t e) {
            fn(lane, static_cast<index_t>(indices[e]), static_cast<double>(data[e]));
        });
    }
    // row4, and ahead(j) for the column `prefetch_distance` entries ahead (possibly in a
    // later row); ahead may receive an out-of-range j, so it must only prefetch
    template <class Fn, class Ahead>
    void row4_ahead(index_t i, Fn&& fn, Ahead&& ahead) const {
        const index_t end = static_cast<index_t>(indptr[n]);
        for_each_lane(static_cast<index_t>(indptr[i]), static_cast<index_t>(indptr[i + 1]), [&](int lane, index_t e) {
            if (e + prefetch_distance < end) ahead(static_cast<index_t>(indices[e + prefetch_distance]));
            fn(lane, static_cast<index_t>(indices[e]), static_cast<double>(data[e]));
        });
    }
};

// Checks a CSR structure before any row is read.
template <class T, class I>
void check_csr(const CsrGraph<T, I>& g) {
    if (static_cast<index_t>(g.indptr[0]) != 0)
        throw std::invalid_argument("W.indptr[0] must be 0, got " + std::to_string(g.indptr[0]));
    for (index_t i = 0; i < g.n; ++i)
        if (g.indptr[i + 1] < g.indptr[i])
            throw std::invalid_argument("W.indptr must be non-decreasing (row " + std::to_string(i) + ")");
    if (static_cast<index_t>(g.indptr[g.n]) > g.nnz)
        throw std::invalid_argument("W.indptr[-1] = " + std::to_string(g.indptr[g.n]) + " exceeds the " +
                                    std::to_string(g.nnz) + " stored entries");
}

namespace detail {

// The first bad entry met by a chunk of rows; chunks report in order, so the error
// raised is the same for any thread count.
struct GraphError {
    index_t row = -1, col = -1;
    double value = 0.0;
    int kind = 0;  // 1: column index out of range, 2: NaN or infinity, 3: negative

    bool set(index_t i, index_t j, double w, index_t n) {
        if (j < 0 || j >= n) kind = 1;
        else if (!std::isfinite(w)) kind = 2;
        else if (w < 0.0) kind = 3;
        else return false;
        row = i;
        col = j;
        value = w;
        return true;
    }
};

inline void raise_first(const std::vector<GraphError>& errors) {
    for (const GraphError& e : errors) {
        if (e.kind == 0) continue;
        const std::string where = "W[" + std::to_string(e.row) + ", " + std::to_string(e.col) + "]";
        if (e.kind == 1)
            throw std::out_of_range("W has a column index " + std::to_string(e.col) + " in row " +
                                    std::to_string(e.row) + " outside [0, n)");
        if (e.kind == 2) throw std::invalid_argument("W contains NaN or infinity (" + where + ")");
        throw std::invalid_argument("W must hold non-negative affinities, but " + where + " = " +
                                    std::to_string(e.value));
    }
}

template <class Graph>
bool row_is_clean(const Graph& g, index_t i, GraphError& err) {
    bool found = false;
    g.row(i, [&](index_t j, double w) {
        if (!found) found = err.set(i, j, w, g.n);
    });
    return !found;
}

}  // namespace detail

struct CutValues {
    double ncut = 0.0;       // sum_c cut(A_c) / vol(A_c), a cluster of volume 0 adding 0
    double ratio_cut = 0.0;  // sum_c cut(A_c) / |A_c|
};

// The chunks of rows over which graph_cuts and soft_ncut sum per cluster: in index order
// within a chunk, then chunk by chunk. Shared, so that a one-hot P reproduces the
// normalized cut exactly; fixed by (n, k), so that no thread count changes a sum.
inline Chunks cluster_sum_chunks(index_t n, index_t k) { return make_chunks(n, 512, 3 * k); }

namespace detail {

// Per-cluster sums of the cut and the degree of each chunk's rows (cut_part, vol_part:
// chunks x k), with the cluster codes narrowed to the smallest type that holds
// them (Code), so that the gathers lab[j] stay in cache.
template <class Code, class Graph>
void row_cuts(const Graph& g, const LabelCodes& codes, const Chunks& ch, int n_threads, double* cut_part,
              double* vol_part) {
    const index_t n = g.n, k = codes.size();
    std::vector<Code> narrow(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) narrow[static_cast<std::size_t>(i)] = static_cast<Code>(codes.codes[static_cast<std::size_t>(i)]);
    const Code* lab = narrow.data();
    std::vector<GraphError> errors(static_cast<std::size_t>(ch.count));
    const int threads = useful_threads(n_threads, static_cast<double>(g.nnz_stored()) + static_cast<double>(n));
    parallel_for(ch.count, threads, [&](index_t c) {
        GraphError& err = errors[static_cast<std::size_t>(c)];
        for (index_t i = ch.begin(c); i < ch.end(c); ++i) {
            const Code li = lab[i];
            double deg4[4] = {0.0, 0.0, 0.0, 0.0}, out4[4] = {0.0, 0.0, 0.0, 0.0};
            double low = 0.0;  // the smallest weight (NaN and inf show in the degree instead)
            bool bad = false;
            g.row4(i, [&](int lane, index_t j, double w) {
                if (static_cast<std::uint64_t>(j) >= static_cast<std::uint64_t>(n)) {
                    bad = true;
                    return;
                }
                low = std::min(low, w);
                deg4[lane] += w;
                out4[lane] += keep_if(w, lab[j] != li);
            });
            const double deg = lane_total(deg4), out = lane_total(out4);
            if (bad || low < 0.0 || !std::isfinite(deg)) {
                if (!row_is_clean(g, i, err)) return;
                throw std::overflow_error("the degree of row " + std::to_string(i) + " of W overflows");
            }
            cut_part[c * k + li] += out;
            vol_part[c * k + li] += deg;
        }
    });
    raise_first(errors);
}

}  // namespace detail

// Cuts of the labeling with codes (n,) in [0, k) and k = codes.size() clusters.
template <class Graph>
CutValues graph_cuts(const Graph& g, const LabelCodes& codes, int n_threads) {
    const index_t n = g.n, k = codes.size();
    const Chunks ch = cluster_sum_chunks(n, k);
    std::vector<double> cut_part(static_cast<std::size_t>(ch.count * k), 0.0), vol_part(cut_part.size(), 0.0);
    if (k <= (index_t(1) << 8))
        detail::row_cuts<std::uint8_t>(g, codes, ch, n_threads, cut_part.data(), vol_part.data());
    else if (k <= (index_t(1) << 16))
        detail::row_cuts<std::uint16_t>(g, codes, ch, n_threads, cut_part.data(), vol_part.data());
    else if (k <= (index_t(1) << 31))
        detail::row_cuts<std::uint32_t>(g, codes, ch, n_threads, cut_part.data(), vol_part.data());
    else
        detail::row_cuts<index_t>(g, codes, ch, n_threads, cut_part.data(), vol_part.data());
    std::vector<double> cut_c(static_cast<std::size_t>(k), 0.0), vol_c(static_cast<std::size_t>(k), 0.0);
    for (index_t c = 0; c < ch.count; ++c) {
        for (index_t q = 0; q < k; ++q) {
            cut_c[static_cast<std::size_t>(q)] += cut_part[static_cast<std::size_t>(c * k + q)];
            vol_c[static_cast<std::size_t>(q)] += vol_part[static_cast<std::size_t>(c * k + q)];
        }
    }
    std::vector<double> nc(static_cast<std::size_t>(k)), rc(static_cast<std::size_t>(k));
    for (index_t c = 0; c < k; ++c) {
        const std::size_t s = static_cast<std::size_t>(c);
        nc[s] = vol_c[s] > 0.0 ? cut_c[s] / vol_c[s] : 0.0;
        rc[s] = cut_c[s] / static_cast<double>(codes.counts[s]);
    }
    return {pairwise_sum(nc), pairwise_sum(rc)};
}

namespace detail {

// out (n, k) = W^T P for a dense W, by blocks of columns of W (one task per block).
template <class T>
void dense_transpose_product(const DenseGraph<T>& g, const double* P, index_t k, double* out, int n_threads) {
    const index_t n = g.n, block = 32;
    const index_t blocks = (n + block - 1) / block;
    parallel_for(blocks, n_threads, [&](index_t b) {
        const index_t i0 = b * block, i1 = std::min(n, i0 + block);
        double* o = out + i0 * k;
        std::fill(o, o + (i1 - i0) * k, 0.0);
        for (index_t j = 0; j < n; ++j) {  // a block is O(32 n k): the pool's point after it is enough
            const T* wr = g.w + j * n;
            const double* pj = P + j * k;
            for (index_t i = i0; i < i1; ++i) {
                const double w = static_cast<double>(wr[i]);
                double* oi = out + i * k;
                for (index_t c = 0; c < k; ++c) oi[c] += w * pj[c];
            }
        }
    });
}

// out (n, k) = W^T P for a CSR W already checked, by scattering w P_i into row j for each
// entry (i, j, w). Each task owns a range of output rows and scans all entries, applying
// only those that land in its range: every output row still accumulates in entry order,
// so the sums are the same for any number of tasks, with no transpose built.
template <class T, class I>
void transpose_product(const CsrGraph<T, I>& g, const double* P, index_t k, double* out, int n_threads) {
    const index_t n = g.n, parts = std::max(1, n_threads);
    parallel_for(parts, static_cast<int>(parts), [&](index_t part) {
        const index_t lo = n * part / parts, hi = n * (part + 1) / parts;
        std::fill(out + lo * k, out + hi * k, 0.0);
        const index_t end = static_cast<index_t>(g.indptr[n]);
        for (index_t i = 0; i < n; ++i) {
            if ((i & 1023) == 1023) cancellation_point();
            const double* DIFFCLUST_RESTRICT pi = P + i * k;
            for (index_t e = static_cast<index_t>(g.indptr[i]); e < static_cast<index_t>(g.indptr[i + 1]); ++e) {
                if (e + prefetch_distance < end) {
                    const index_t ahead = static_cast<index_t>(g.indices[e + prefetch_distance]);
                    if (ahead >= lo && ahead < hi) prefetch_row(out + ahead * k, k);
                }
                const index_t j = static_cast<index_t>(g.indices[e]);
                if (j < lo || j >= hi) continue;
                const double w = static_cast<double>(g.data[e]);
                double* DIFFCLUST_RESTRICT o = out + j * k;
                for (index_t q = 0; q < k; ++q) o[q] += w * pi[q];
            }
        }
    });
}

template <class T>
void transpose_product(const DenseGraph<T>& g, const double* P, index_t k, double* out, int n_threads) {
    dense_transpose_product(g, P, k, out, n_threads);
}

}  // namespace detail

// Soft normalized cut of an assignment P (n, k), P >= 0 (Xia & Kulis's soft Ncut):
//   value = sum_c num_c / v_c = k - sum_c a_c / v_c, where
//   v_c = P_c^T d,  a_c = P_c^T W P_c,  num_c = v_c - a_c = sum_ij W_ij P_ic (1 - P_jc);
// num_c is summed in that last form, free of cancellation. A column with v_c = 0 adds 0
// and gets a zero gradient. For one-hot P it is exactly the normalized cut. grad (n, k) receives
//   d value / d P_ic = -((W + W^T) P)_ic / v_c + a_c d_i / v_c^2,  a_c = P_c^T W P_c.
template <class Graph>
double soft_ncut(const Graph& g, const double* P, index_t k, double* grad, int n_threads) {
    check_size(g.n, "n"), check_size(k, "k");
    const index_t n = g.n;
    const std::size_t nk = static_cast<std::size_t>(n * k);
    std::vector<double> degree(static_cast<std::size_t>(n)), WP(nk);
    const Chunks ch = cluster_sum_chunks(n, k);
    // per chunk: v = sum_i P_ic d_i, num = sum_i P_ic R_ic, a = sum_i P_ic (W P)_ic
    std::vector<double> v_part(static_cast<std::size_t>(ch.count * k), 0.0), num_part(v_part.size(), 0.0),
        a_part(v_part.size(), 0.0);
    std::vector<detail::GraphError> errors(static_cast<std::size_t>(ch.count));
    const int threads = useful_threads(n_threads, (static_cast<double>(g.nnz_stored()) + static_cast<double>(n)) *
                                                      static_cast<double>(k));
    // check every entry first (a sequential scan), so that the gathers below need no tests
    parallel_for(ch.count, threads, [&](index_t c) {
        detail::GraphError& err = errors[static_cast<std::size_t>(c)];
        for (index_t i = ch.begin(c); i < ch.end(c); ++i) {
            double deg4[4] = {0.0, 0.0, 0.0, 0.0};
            bool bad = false;
            g.row4(i, [&](int lane, index_t j, double w) {
                bad |= j < 0 || j >= n || !(w >= 0.0);
                deg4[lane] += w;
            });
            const double deg = lane_total(deg4);  // the same lanes as graph_cuts
            if (bad || !std::isfinite(deg)) {
                if (!detail::row_is_clean(g, i, err)) return;
                throw std::overflow_error("the degree of row " + std::to_string(i) + " of W overflows");
            }
            degree[static_cast<std::size_t>(i)] = deg;
        }
    });
    detail::raise_first(errors);

    parallel_for(ch.count, threads, [&](index_t c) {
        std::vector<double> r4(static_cast<std::size_t>(4 * k));
        double* DIFFCLUST_RESTRICT lanes = r4.data();
        double* v = v_part.data() + c * k;
        double* num = num_part.data() + c * k;
        double* a = a_part.data() + c * k;
        for (index_t i = ch.begin(c); i < ch.end(c); ++i) {
            cancellation_point();  // a row costs O(n k) on a dense W
            double* DIFFCLUST_RESTRICT wp = WP.data() + i * k;
            std::fill(wp, wp + k, 0.0);
            std::fill(r4.begin(), r4.end(), 0.0);
            // R in the lanes of graph_cuts, so that a one-hot P reproduces its sums exactly
            g.row4_ahead(
                i,
                [&](int lane, index_t j, double w) {
                    const double* DIFFCLUST_RESTRICT pj = P + j * k;
                    double* DIFFCLUST_RESTRICT rl = lanes + lane * k;
                    for (index_t q = 0; q < k; ++q) {
                        wp[q] += w * pj[q];
                        rl[q] += w * (1.0 - pj[q]);
                    }
                },
                [&](index_t j) {
                    if (j >= 0 && j < n) prefetch_row(P + j * k, k);
                });
            const double deg = degree[static_cast<std::size_t>(i)];
            for (index_t q = 0; q < k; ++q) {
                const double p = P[i * k + q];
                if (p == 0.0) continue;
                const double l[4] = {lanes[q], lanes[k + q], lanes[2 * k + q], lanes[3 * k + q]};
                v[q] += p * deg;
                num[q] += p * lane_total(l);  // R_iq = sum_j W_ij (1 - P_jq)
                a[q] += p * wp[q];
            }
        }
    });

    std::vector<double> WtP(nk);
    detail::transpose_product(g, P, k, WtP.data(), threads);

    // chunk sums in chunk order, as graph_cuts does
    std::vector<double> v(static_cast<std::size_t>(k), 0.0), num(static_cast<std::size_t>(k), 0.0),
        a(static_cast<std::size_t>(k), 0.0);
    for (index_t c = 0; c < ch.count; ++c) {
        for (index_t q = 0; q < k; ++q) {
            const std::size_t s = static_cast<std::size_t>(c * k + q), t = static_cast<std::size_t>(q);
            v[t] += v_part[s];
            num[t] += num_part[s];
            a[t] += a_part[s];
        }
    }
    std::vector<double> terms(static_cast<std::size_t>(k), 0.0);
    for (index_t q = 0; q < k; ++q) {
        const std::size_t s = static_cast<std::size_t>(q);
        terms[s] = v[s] > 0.0 ? num[s] / v[s] : 0.0;
    }
    parallel_for(ch.count, threads, [&](index_t chunk) {
        for (index_t i = ch.begin(chunk); i < ch.end(chunk); ++i) {
            for (index_t q = 0; q < k; ++q) {
                const std::size_t s = static_cast<std::size_t>(i * k + q), c = static_cast<std::size_t>(q);
                grad[s] = v[c] > 0.0
                              ? -(WP[s] + WtP[s]) / v[c] + a[c] * degree[static_cast<std::size_t>(i)] / (v[c] * v[c])
                              : 0.0;
            }
        }
    });
    return pairwise_sum(terms);
}

}  // namespace diffclust
