// k-means by Lloyd's algorithm, bit-identical for any number of threads.
//
// One iteration assigns every point to its nearest centre (kmeans_kernels.hpp:
// the register-tiled Gram-trick kernel proposes, a direct computation decides
// near ties, ties go to the smallest centre index) and, fused in the same pass,
// accumulates the weighted sum of the points of each cluster. The rows are cut
// into fixed chunks of `chunk_rows` rows, independent of the thread count; each
// chunk sums its rows in row order into its own buffer, and the chunk buffers
// are folded into the totals one after the other in chunk order. The new centre
// is the weighted mean (a division, rounded to the input's float type, so that
// the centres used and returned are exactly representable in it).
//
// Like scikit-learn's Lloyd iterations:
// - stop when the labels did not change (strict convergence), or when the sum
//   over centres of the squared centre shift is <= tol (an absolute value; the
//   Python layer scales it by the mean per-feature variance of X, as
//   scikit-learn does), or after max_iter iterations; without strict
//   convergence, a last assignment makes the labels match the returned centres;
// - a cluster whose weight is 0 (an empty cluster) is relocated: the points are
//   ordered by their squared distance to their own (old) centre, largest first,
//   ties by smaller index, among the points of positive weight whose removal
//   would not empty their own cluster; the empty clusters, by increasing index,
//   take them in that order: the point's weighted coordinates move from its
//   cluster's sum to the empty cluster's (its label changes at the next
//   assignment). An empty cluster left without a candidate keeps its centre.
// - the inertia is sum_i w_i ||x_i - c_{l_i}||^2, computed directly (never by
//   the Gram trick), summed in fixed chunks like everything else.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "diffclust/cluster/kmeans_avx2.hpp"
#include "diffclust/cluster/column_variances.hpp"
#include "diffclust/cluster/kmeans_avx512.hpp"
#include "diffclust/cluster/kmeans_bounds.hpp"
#include "diffclust/cluster/kmeans_kernels.hpp"
#include "diffclust/core/aligned.hpp"
#include "diffclust/core/cancel.hpp"
#include "diffclust/core/checks.hpp"
#include "diffclust/core/chunked.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/core/simd.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust {

namespace kmeans_detail {

// What one pass over a chunk produces.
struct ChunkSums {
    // k x d weighted coordinate sums (update passes), on cache lines so that the
    // AVX-512 update's rows (d a multiple of 8) never straddle two (paired, with
    // the kept norms below: a 3-iteration fit at k = 10 2% faster at d = 64, 5% at
    // d = 16)
    aligned_vector<double> sums;
    std::vector<double> weights;  // k cluster weights (update passes)
    double inertia = 0.0;         // sum of w * D (inertia passes)
    index_t changed = 0;          // labels that changed
    index_t computed = 0;         // points compared with every centre
    bool nonfinite = false;       // a row held NaN or infinity (passes that check)
};

template <class T>
struct LloydJob {
    const T* X;
    const double* w;  // nullptr: unit weights
    index_t n, d, k;
    const double* centers;  // k x d
    const PackedCenters* packed;
    index_t* labels;
    bool assign;   // recompute the labels (else use the given ones)
    bool update;   // accumulate sums and weights
    bool inertia;  // accumulate sum of w * D
    // Hamerly's bounds (nullptr: none), in distance (not squared) units: upper[i] >=
    // d(x_i, c_{l_i}), lower[i] <= min_{j != l_i} d(x_i, c_j); half_sep[j] <= half the
    // distance from c_j to its nearest other centre. `fresh`: no bounds yet.
    double* upper = nullptr;
    double* lower = nullptr;
    const double* half_sep = nullptr;
    bool fresh = true;
    // Check the rows read for NaN and infinity (the first pass of kmeans_lloyd,
    // which spares its callers a pass of their own over X).
    bool check_finite = false;
    // The small-k kernel's centres (nullptr: the packed kernel); never with bounds.
    const SmallCenters* small = nullptr;
    // The two-tier kernels' centres (nullptr: the two above); set only on a CPU that
    // runs them (AVX-512, or AVX2 with FMA: wide->avx512 says which).
    const WideCenters* wide = nullptr;
    // The AVX-512 first tier's squared norms of the rows (n; nullptr: none kept): the
    // pass writes them, or, with norms_known, reads them instead of computing them
    // (X does not change between the passes of a fit).
    double* norms = nullptr;
    bool norms_known = false;
};

// Relative slack that keeps the bounds rigorous under rounding (distance units):
// a bound test passes only when it holds with this margin, far above the rounding
// error of the directly computed distances, so a skipped point keeps exactly the
// label the direct computation would give it.
inline double bound_slack(index_t d) { return 4.0 * margin_factor(d); }

// Hamerly's bounds of point i from its kernel values: its best and second-best g
// (||c||^2 - 2 <x, c>), its squared norm xn and the rounding bound err of those.
template <class T>
DIFFCLUST_ALWAYS_INLINE void set_bounds(const LloydJob<T>& job, index_t i, double xn, double best, double second,
                                        double err, double slack) {
    const double h = xn + best + err, l = xn + second - err;
    job.upper[i] = std::sqrt(h > 0.0 ? h : 0.0) * (1.0 + slack);
    job.lower[i] = std::sqrt(l > 0.0 ? l : 0.0) * (1.0 - slack);
}

// Labels of the points rows[0 .. m) (their bounds set when the job keeps them),
// 8 points per call of nearest8, or 16 per call of the AVX-512 second tier (Wide).
template <bool Wide, class T>
DIFFCLUST_ALWAYS_INLINE void assign_rows(const LloydJob<T>& job, const index_t* rows, index_t m, double* panel,
                                         ChunkSums& out) {
    constexpr index_t lanes = Wide ? wide2_rows : pw;
    const index_t d = job.d, k = job.k;
    // (||x|| + max ||c||)^2 <= 2 (||x||^2 + max ||c||^2): the margin without square roots
    const double rel2 = 2.0 * margin_factor(d);
    const double cmax = Wide ? job.wide->max_norm : job.packed->max_norm;
    const double cmax2 = cmax * cmax;
    const double slack = bound_slack(d);
    double xn[lanes], best[lanes], second[lanes];
    long long arg[lanes];
    out.computed += m;
    for (index_t p = 0; p < m; p += lanes) {
        const index_t cnt = std::min(lanes, m - p);
        if constexpr (Wide) {
            const index_t c0 = std::min(pw, cnt);
            pack8(job.X, d, rows, p, c0, panel);
            pack8(job.X, d, rows, p + c0, cnt - c0, panel + d * pw);
            if (job.wide->avx512) {
                nearest16_avx512(panel, d, *job.wide, best, second, arg, xn);
            } else {
                nearest16_avx2(panel, d, *job.wide, best, second, arg, xn);
            }
        } else {
            pack_points(job.X, d, p, cnt, panel, xn, rows);
            nearest8(panel, d, *job.packed, best, second, arg);
        }
        for (index_t w = 0; w < cnt; ++w) {
            const index_t i = rows[p + w];
            const double err = rel2 * (xn[w] + cmax2);
            const bool clear = second[w] - best[w] > err;
            const index_t l = clear ? static_cast<index_t>(arg[w]) : exact_nearest(job.X + i * d, job.centers, k, d);
            out.changed += job.labels[i] != l;
            job.labels[i] = l;
            if (!clear) second[w] = best[w];  // the smallest g bounds every other centre
            if (job.upper) set_bounds(job, i, xn[w], best[w], second[w], err, slack);
        }
    }
}

// Per-thread buffers of a pass.
struct LloydScratch {
    std::vector<double> panel;            // wide_rows x d: B panels
    std::vector<float> panel_f;           // wide_rows x d: the first tier's float panels
    std::vector<index_t> rows, deferred;  // block_rows each
};

// Labels of the points rows[0 .. m) (m <= block_rows) by the AVX-512 tiers: the
// float tier decides the points whose gap clears its margin, the others go to the
// double tier (and from there, if need be, to exact_nearest).
// [ahead, ahead_end): memory the kernel prefetches while it computes (the rows
// that come next, when they are known).
template <class T>
DIFFCLUST_ALWAYS_INLINE void assign_rows_wide(const LloydJob<T>& job, const index_t* rows, index_t m,
                                              LloydScratch& scratch, ChunkSums& out, const char* ahead = nullptr,
                                              const char* ahead_end = nullptr) {
    const WideCenters& wc = *job.wide;
    double* panel = scratch.panel.data();
    if (!wc.float_ok) {
        assign_rows<true>(job, rows, m, panel, out);
        return;
    }
    const index_t d = job.d;
    const double rel2 = 2.0 * margin_factor_f(d), floor = margin_floor_f(d);
    const double cmax2 = wc.max_norm * wc.max_norm;
    const double slack = bound_slack(d);
    double xn[wide_rows];
    float best[wide_rows], second[wide_rows];
    int arg[wide_rows];
    index_t* deferred = scratch.deferred.data();
    index_t undecided = 0;
    out.computed += m;
    const T* r[wide_rows];
    // without bounds, rows[p ..] are consecutive: the verdicts are settled 8 at a time
    const bool consecutive = job.upper == nullptr && m > 0 && rows[m - 1] - rows[0] == m - 1;
    for (index_t p = 0; p < m; p += wide_rows) {
        const index_t cnt = std::min(wide_rows, m - p);
        if (consecutive) {
            for (index_t w = 0; w < wide_rows; ++w) r[w] = job.X + (rows[p] + std::min(w, cnt - 1)) * d;
        } else {
            for (index_t w = 0; w < wide_rows; ++w) r[w] = job.X + rows[p + std::min(w, cnt - 1)] * d;
        }  // (padding: the last row again)
        if (wc.avx512) {
            nearest32f_avx512(r, d, wc, scratch.panel_f.data(), best, second, arg, xn, !job.norms_known, ahead,
                              ahead_end);
        } else {
            nearest32f_avx2(r, d, wc, scratch.panel_f.data(), best, second, arg, xn, !job.norms_known, ahead,
                            ahead_end);
        }
        const double* norms = xn;  // of rows[p ..], as many as cnt
        if (job.norms && consecutive) {  // read in place, or stored in one copy
            if (job.norms_known) {
                norms = job.norms + rows[p];
            } else {
                std::copy(xn, xn + cnt, job.norms + rows[p]);
            }
        } else if (job.norms) {
            for (index_t w = 0; w < cnt; ++w) {
                const index_t i = rows[p + w];
                if (job.norms_known) {
                    xn[w] = job.norms[i];
                } else {
                    job.norms[i] = xn[w];
                }
            }
        }
        if (consecutive) {
            out.changed += wc.avx512 ? settle32_avx512(best, second, arg, norms, cnt, rel2, cmax2, floor, rows[p],
                                                       job.labels, deferred, undecided)
                                     : settle32_avx2(best, second, arg, norms, cnt, rel2, cmax2, floor, rows[p],
                                                     job.labels, deferred, undecided);
            continue;
        }
        for (index_t w = 0; w < cnt; ++w) {
            const index_t i = rows[p + w];
            const double err = rel2 * (xn[w] + cmax2) + floor;
            const double bw = best[w], sw = second[w];
            if (!(xn[w] <= wide_f_limit && sw - bw > err)) {
                deferred[undecided++] = i;
                continue;
            }
            const index_t l = arg[w];
            out.changed += job.labels[i] != l;
            job.labels[i] = l;
            if (job.upper) set_bounds(job, i, xn[w], bw, sw, err, slack);
        }
    }
    if (undecided > 0) {
        assign_rows<true>(job, deferred, undecided, panel, out);
        out.computed -= undecided;
    }
}

// Labels of the rows [b0, b1) by the small-k kernel (same labels as assign_rows).
template <class T>
DIFFCLUST_ALWAYS_INLINE void assign_rows_small(const LloydJob<T>& job, index_t b0, index_t b1, ChunkSums& out) {
    const index_t d = job.d, k = job.k;
    const double rel2 = 2.0 * margin_factor(d);
    const double cmax2 = job.small->max_sq;
    double xn[small_rows], best[small_rows], second[small_rows];
    long long arg[small_rows];
    out.computed += b1 - b0;
    for (index_t p = b0; p < b1; p += small_rows) {
        const index_t cnt = std::min(small_rows, b1 - p);
        nearest_small(job.X, d, p, cnt, *job.small, best, second, arg, xn);
        for (index_t w = 0; w < cnt; ++w) {
            const index_t i = p + w;
            const bool clear = second[w] - best[w] > rel2 * (xn[w] + cmax2);
            const index_t l = clear ? static_cast<index_t>(arg[w]) : exact_nearest(job.X + i * d, job.centers, k, d);
            out.changed += job.labels[i] != l;
            job.labels[i] = l;
        }
    }
}

// Rows [r0, r1) of one chunk, in blocks of `block_rows` (so that the rows are still
// in cache for the sums): labels (plain, or skipping the points whose bounds prove
// the label unchanged), then the sums in row order.
constexpr index_t block_rows = 128;

template <class T>
DIFFCLUST_ALWAYS_INLINE void lloyd_rows_impl(const LloydJob<T>& job, index_t r0, index_t r1, ChunkSums& out,
                                             LloydScratch& scratch) {
    double* panel = scratch.panel.data();
    index_t* rows = scratch.rows.data();
    const index_t d = job.d;
    const double slack = bound_slack(d);
    double* sums = out.sums.data();
    double* weights = out.weights.data();
    // Without bounds, a block is one call of the kernel: labels and sums while in L1.
    const index_t step = job.upper ? block_rows : job.wide ? wide_rows : pw;
    for (index_t b0 = r0; b0 < r1; b0 += step) {
        const index_t b1 = std::min(r1, b0 + step);
        if (job.assign && job.wide && !job.upper) {
            // the next block's rows, on their way while this one is computed
            const char* next = reinterpret_cast<const char*>(job.X + b1 * d);
            const char* end = reinterpret_cast<const char*>(job.X + std::min(job.n, b1 + step) * d);
            for (index_t i = b0; i < b1; ++i) rows[i - b0] = i;
            assign_rows_wide(job, rows, b1 - b0, scratch, out, next, end);
        } else if (job.assign && job.small) {
            assign_rows_small(job, b0, b1, out);
        } else if (job.assign) {
            index_t m = 0;
            if (job.upper && !job.fresh) {
                // the points whose bounds fail: their upper bound tightened to the
                // distance to their centre (eight at a time), then tested again
                index_t* check = scratch.deferred.data();
                index_t nc = 0;
                for (index_t i = b0; i < b1; ++i) {
                    const index_t a = job.labels[i];
                    if (job.upper[i] >= std::max(job.half_sep[a], job.lower[i]) * (1.0 - slack)) check[nc++] = i;
                }
                double dist[pw];
                for (index_t q = 0; q < nc; q += pw) {
                    const index_t cnt = std::min(pw, nc - q);
                    sq_distances_labelled8(job.X, d, check, q, cnt, job.centers, job.labels, panel, dist);
                    for (index_t w = 0; w < cnt; ++w) {
                        const index_t i = check[q + w], a = job.labels[i];
                        const double lim = std::max(job.half_sep[a], job.lower[i]) * (1.0 - slack);
                        const double u = std::sqrt(dist[w]) * (1.0 + slack);
                        job.upper[i] = u;
                        if (u >= lim) rows[m++] = i;
                    }
                }
            } else {
                for (index_t i = b0; i < b1; ++i) rows[m++] = i;
            }
            if (job.wide) {
                assign_rows_wide(job, rows, m, scratch, out);
            } else {
                assign_rows<false>(job, rows, m, panel, out);
            }
        }
        if (job.check_finite) {  // a pass that fills the norms has every row's norm by now
            const bool filled = job.assign && job.wide && job.norms && !job.norms_known;
            out.nonfinite |= filled ? rows_nonfinite(job.X, d, b0, b1, job.norms)
                                    : any_nonfinite(job.X + b0 * d, (b1 - b0) * d);
        }
        bool summed = false;
        if constexpr (std::is_same_v<T, double>) {
            if (job.update && job.wide && job.wide->avx512 && rows_off_line(job.X, d)) {
                add_rows_off_line_avx512(job.X, d, b0, b1, job.labels, job.w, sums, weights);
                summed = true;
            } else if (job.update && job.wide && !job.wide->avx512 && d % 4 == 0) {
                add_rows_avx2(job.X, d, b0, b1, job.labels, job.w, sums, weights);
                summed = true;
            }
        }
        if (job.update && !summed) {
            for (index_t i = b0; i < b1; ++i) {
                const T* DIFFCLUST_RESTRICT x = job.X + i * d;
                const index_t l = job.labels[i];
                const double wi = job.w ? job.w[i] : 1.0;
                double* DIFFCLUST_RESTRICT s = sums + l * d;
                if (job.w) {
                    for (index_t t = 0; t < d; ++t) s[t] += wi * static_cast<double>(x[t]);
                } else {
                    for (index_t t = 0; t < d; ++t) s[t] += static_cast<double>(x[t]);
                }
                weights[l] += wi;
            }
        }
        if (job.inertia) {  // summed in row order
            double dist[wide_rows];
            const bool rows32 = job.wide && job.wide->avx512, rows16 = job.wide && !job.wide->avx512;
            const index_t rows_per_call = rows32 ? wide_rows : rows16 ? 2 * pw : pw;
            for (index_t i = b0; i < b1; i += rows_per_call) {
                const index_t cnt = std::min(rows_per_call, b1 - i);
                if (rows32) {  // the same sums, transposed in registers instead of packed
                    sq_distances_rows32_avx512(job.X, d, i, cnt, job.centers, job.labels, dist);
                } else if (rows16) {
                    sq_distances_rows16_avx2(job.X, d, i, cnt, job.centers, job.labels, dist);
                } else {
                    sq_distances_labelled8(job.X, d, nullptr, i, cnt, job.centers, job.labels, panel, dist);
                }
                for (index_t w = 0; w < cnt; ++w) out.inertia += (job.w ? job.w[i + w] : 1.0) * dist[w];
            }
        }
    }
}

[[maybe_unused]] static DIFFCLUST_TARGET_CLONES void lloyd_rows(const LloydJob<double>& job, index_t r0, index_t r1,
                                                                ChunkSums& out, LloydScratch& scratch) {
    lloyd_rows_impl(job, r0, r1, out, scratch);
}

[[maybe_unused]] static DIFFCLUST_TARGET_CLONES void lloyd_rows(const LloydJob<float>& job, index_t r0, index_t r1,
                                                                ChunkSums& out, LloydScratch& scratch) {
    lloyd_rows_impl(job, r0, r1, out, scratch);
}

// The centres of a pass in the layout of the kernel this CPU runs: the AVX-512
// kernel when the CPU has it, else the small-k kernel for k <= small_k_max, else
// nearest8. Every kernel gives the same labels (see kmeans_kernels.hpp).
struct LloydCenters {
    PackedCenters packed;
    SmallCenters small;
    WideCenters wide;
    bool use_wide, use_small;

    explicit LloydCenters(index_t k)
        : use_wide(use_wide_kernel()), use_small(!use_wide && small_kernel_available && k <= small_k_max) {
        wide.avx512 = use_wide && use_wide_avx512();
    }
    void pack(const double* C, index_t k, index_t d) {
        if (use_wide) {
            wide.pack(C, k, d);
        } else if (use_small) {
            small.pack(C, k, d);
        } else {
            packed.pack(C, k, d);
        }
    }
    template <class T>
    LloydJob<T> job(const T* X, const double* w, index_t n, index_t d, index_t k, const double* C, index_t* labels,
                    bool assign, bool update, bool inertia) const {
        LloydJob<T> j{X, w, n, d, k, C, &packed, labels, assign, update, inertia};
        if (use_wide) j.wide = &wide;
        if (use_small) j.small = &small;
        return j;
    }
};

// The totals of one pass (fixed chunks, folded in chunk order).
struct PassTotals {
    std::vector<double> sums, weights;
    double inertia = 0.0;
    index_t changed = 0;
    index_t computed = 0;
    bool nonfinite = false;
};

template <class T>
PassTotals lloyd_pass(const LloydJob<T>& job, int threads) {
    const index_t n = job.n, k = job.k, d = job.d;
    const index_t chunks = tiles::ceil_div(n, chunk_rows);
    PassTotals tot;
    if (job.update) {
        tot.sums.assign(static_cast<std::size_t>(k * d), 0.0);
        tot.weights.assign(static_cast<std::size_t>(k), 0.0);
    }
    // A wave of chunks runs in parallel, then is folded in order; the wave size
    // (memory only) never changes the result: the fold is always in chunk order.
    const index_t per_chunk = job.update ? k * d + k : 1;
    const index_t wave = std::min(chunks, std::max<index_t>(2 * threads, (index_t(1) << 21) / per_chunk));
    std::vector<ChunkSums> slots(static_cast<std::size_t>(wave));
    std::vector<LloydScratch> scratch(static_cast<std::size_t>(threads));
    for (index_t c0 = 0; c0 < chunks; c0 += wave) {
        const index_t m = std::min(wave, chunks - c0);
        parallel_for_tid(m, threads, [&](index_t s, int tid) {
            LloydScratch& sc = scratch[static_cast<std::size_t>(tid)];
            if (sc.panel.empty()) {
                sc.panel.resize(static_cast<std::size_t>(wide_rows * d));
                if (job.wide) sc.panel_f.resize(static_cast<std::size_t>(wide_rows * d));
                sc.rows.resize(static_cast<std::size_t>(block_rows));
                sc.deferred.resize(static_cast<std::size_t>(block_rows));
            }
            ChunkSums& out = slots[static_cast<std::size_t>(s)];
            if (job.update) {
                out.sums.assign(static_cast<std::size_t>(k * d), 0.0);
                out.weights.assign(static_cast<std::size_t>(k), 0.0);
            }
            out.inertia = 0.0;
            out.changed = 0;
            out.computed = 0;
            out.nonfinite = false;
            const index_t c = c0 + s;
            lloyd_rows(job, c * chunk_rows, std::min(n, (c + 1) * chunk_rows), out, sc);
        });
        for (index_t s = 0; s < m; ++s) {
            const ChunkSums& out = slots[static_cast<std::size_t>(s)];
            if (job.update) {
                for (std::size_t e = 0; e < tot.sums.size(); ++e) tot.sums[e] += out.sums[e];
                for (std::size_t e = 0; e < tot.weights.size(); ++e) tot.weights[e] += out.weights[e];
            }
            tot.inertia += out.inertia;
            tot.changed += out.changed;
            tot.computed += out.computed;
            tot.nonfinite |= out.nonfinite;
        }
    }
    return tot;
}

// Squared distance of every point to its labelled centre (for relocation).
template <class T>
std::vector<double> distances_to_labelled(const T* X, index_t n, index_t d, const double* C, const index_t* labels,
                                          int threads) {
    std::vector<double> out(static_cast<std::size_t>(n));
    parallel_for(tiles::ceil_div(n, chunk_rows), threads, [&](index_t c) {
        for (index_t i = c * chunk_rows; i < std::min(n, (c + 1) * chunk_rows); ++i)
            out[static_cast<std::size_t>(i)] = sq_distance(X + i * d, C + labels[i] * d, d);
    });
    return out;
}

// The empty-cluster relocation described at the top of this file; `C` holds the
// centres the labels were computed against.
template <class T>
void relocate_empty(const T* X, const double* w, index_t n, index_t d, index_t k, const double* C,
                    const index_t* labels, PassTotals& tot, int threads) {
    std::vector<index_t> empty;
    for (index_t j = 0; j < k; ++j)
        if (!(tot.weights[static_cast<std::size_t>(j)] > 0.0)) empty.push_back(j);
    if (empty.empty()) return;
    const std::vector<double> dist = distances_to_labelled(X, n, d, C, labels, threads);
    std::vector<index_t> order;
    order.reserve(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i)
        if (!w || w[i] > 0.0) order.push_back(i);
    std::sort(order.begin(), order.end(), [&](index_t a, index_t b) {
        const double da = dist[static_cast<std::size_t>(a)], db = dist[static_cast<std::size_t>(b)];
        return da != db ? da > db : a < b;
    });
    std::size_t next = 0;
    for (const index_t e : empty) {
        for (; next < order.size(); ++next) {
            const index_t i = order[next];
            const index_t o = labels[i];
            const double wi = w ? w[i] : 1.0;
            if (o == e || !(tot.weights[static_cast<std::size_t>(o)] - wi > 0.0)) continue;
            const T* x = X + i * d;
            double* so = tot.sums.data() + o * d;
            double* se = tot.sums.data() + e * d;
            for (index_t t = 0; t < d; ++t) {
                so[t] -= wi * static_cast<double>(x[t]);
                se[t] = wi * static_cast<double>(x[t]);
            }
            tot.weights[static_cast<std::size_t>(o)] -= wi;
            tot.weights[static_cast<std::size_t>(e)] = wi;
            ++next;
            break;
        }
    }
}

template <class T>
void check_kmeans_args(index_t n, index_t d, index_t k, const double* w) {
    if (n < 1 || d < 1) throw std::invalid_argument("X must have at least one row and one column");
    if (k < 1 || k > n)
        throw std::invalid_argument("k must be in [1, n] = [1, " + std::to_string(n) + "], got " + std::to_string(k));
    if (w) {
        double total = 0.0;
        for (index_t i = 0; i < n; ++i) {
            if (!(w[i] >= 0.0) || !std::isfinite(w[i]))
                throw std::invalid_argument("sample_weight must be finite and non-negative");
            total += w[i];
        }
        if (!(total > 0.0)) throw std::invalid_argument("sample_weight must not be all zero (its sum must be positive)");
    }
}

constexpr index_t bounds_min_k = 24;  // below, the bookkeeping costs more than it spares

}  // namespace kmeans_detail

struct KMeansStats {
    double inertia = 0.0;
    index_t n_iter = 0;
    bool converged = false;  // stopped by strict convergence or by tol (not by max_iter)
};

// Lloyd's algorithm on X (n x d, row-major) with weights w (nullptr: all 1).
// centers (k x d): the initial centres on entry, the final ones on exit.
// labels (n): written. tol: absolute threshold on the summed squared centre
// shift. max_iter >= 1. Bit-identical for any n_threads. X holding NaN or
// infinity throws std::invalid_argument (checked during the first pass, which
// reads every row anyway; the centres are the caller's to check).
template <class T>
KMeansStats kmeans_lloyd(const T* X, index_t n, index_t d, const double* w, index_t k, T* centers, index_t* labels,
                         index_t max_iter, double tol, int n_threads) {
    using namespace kmeans_detail;
    check_kmeans_args<T>(n, d, k, w);
    if (max_iter < 1) throw std::invalid_argument("max_iter must be at least 1");
    if (!(tol >= 0.0)) throw std::invalid_argument("tol must be non-negative");
    const int threads = useful_threads(n_threads, static_cast<double>(n) * static_cast<double>(d) *
                                                      static_cast<double>(k + 2),
                                       double(1 << 17));
    std::vector<double> C(static_cast<std::size_t>(k * d)), Cnew(C.size());
    for (std::size_t e = 0; e < C.size(); ++e) C[e] = static_cast<double>(centers[e]);
    std::fill(labels, labels + n, index_t(-1));
    LloydCenters centres(k);
    KMeansStats stats;
    // Hamerly's bounds pay once there are a few centres to skip.
    const bool bounded = k >= bounds_min_k;
    std::vector<double> upper(bounded ? static_cast<std::size_t>(n) : 0), lower(upper.size());
    std::vector<double> half_sep(static_cast<std::size_t>(k)), drift(static_cast<std::size_t>(k));
    // The first tier's squared norms, kept from the first pass that computes every
    // row on it (the same values as computing them again: bit-identical fits).
    std::vector<double> norms(centres.use_wide ? static_cast<std::size_t>(n) : 0);
    bool norms_known = false;
    const auto keep_norms = [&](LloydJob<T>& job) {
        const bool fill = centres.use_wide && !norms_known && centres.wide.float_ok && job.assign &&
                          (job.upper == nullptr || job.fresh);
        if (norms_known || fill) job.norms = norms.data(), job.norms_known = norms_known;
        return fill;
    };
    const double slack = bound_slack(d);
    bool strict = false;
    // After a bound test that spared less than a third of the points, the tests are
    // skipped (all points computed, bounds reset) for 1, 2, 4, then 8 iterations;
    // the labels are the same either way.
    index_t wait = 0, backoff = 1;
    index_t it = 0;
    for (; it < max_iter; ++it) {
        cancellation_point();
        centres.pack(C.data(), k, d);
        LloydJob<T> job = centres.job(X, w, n, d, k, C.data(), labels, true, true, false);
        if (bounded) {
            separations(C.data(), k, d, slack, half_sep.data());
            job.upper = upper.data(), job.lower = lower.data(), job.half_sep = half_sep.data();
            job.fresh = it == 0 || wait > 0;
        }
        job.check_finite = it == 0;
        const bool filled = keep_norms(job);
        PassTotals tot = lloyd_pass(job, threads);
        if (tot.nonfinite) throw std::invalid_argument("X contains NaN or infinity");
        norms_known = norms_known || filled;
        if (bounded && it > 0) {
            if (wait > 0) {
                --wait;
            } else if (3 * tot.computed >= 2 * n) {
                wait = backoff;
                backoff = std::min<index_t>(2 * backoff, 8);
            } else {
                backoff = 1;
            }
        }
        relocate_empty(X, w, n, d, k, C.data(), labels, tot, threads);
        double shift = 0.0;
        for (index_t j = 0; j < k; ++j) {
            const double wj = tot.weights[static_cast<std::size_t>(j)];
            double dj = 0.0;
            for (index_t t = 0; t < d; ++t) {
                const std::size_t e = static_cast<std::size_t>(j * d + t);
                const double v = wj > 0.0 ? static_cast<double>(static_cast<T>(tot.sums[e] / wj)) : C[e];
                const double delta = v - C[e];
                dj += delta * delta;
                Cnew[e] = v;
            }
            shift += dj;
            drift[static_cast<std::size_t>(j)] = std::sqrt(dj) * (1.0 + slack);
        }
        C.swap(Cnew);
        if (tot.changed == 0) {
            strict = true;
            break;
        }
        if (shift <= tol) break;
        if (bounded) move_bounds(labels, n, drift, upper.data(), lower.data(), threads);
    }
    stats.n_iter = std::min(it + 1, max_iter);
    stats.converged = it < max_iter;
    // The labels of the returned centres (unless they already are) and the inertia.
    centres.pack(C.data(), k, d);
    LloydJob<T> last = centres.job(X, w, n, d, k, C.data(), labels, !strict, false, true);
    keep_norms(last);
    stats.inertia = lloyd_pass(last, threads).inertia;
    for (std::size_t e = 0; e < C.size(); ++e) centers[e] = static_cast<T>(C[e]);
    return stats;
}

// Nearest centre of every point (labels) and the inertia sum_i w_i ||x_i - c_{l_i}||^2,
// with the labels and sums defined as in kmeans_lloyd. Bit-identical for any n_threads.
template <class T>
double kmeans_assign(const T* X, index_t n, index_t d, const double* w, const T* centers, index_t k, index_t* labels,
                     double* distances, int n_threads) {
    using namespace kmeans_detail;
    if (n < 1 || d < 1 || k < 1) throw std::invalid_argument("kmeans_assign: empty input");
    const int threads = useful_threads(n_threads, static_cast<double>(n) * static_cast<double>(d) *
                                                      static_cast<double>(k + 1),
                                       double(1 << 17));
    std::vector<double> C(static_cast<std::size_t>(k * d));
    for (std::size_t e = 0; e < C.size(); ++e) C[e] = static_cast<double>(centers[e]);
    LloydCenters centres(k);
    centres.pack(C.data(), k, d);
    const LloydJob<T> job = centres.job(X, w, n, d, k, C.data(), labels, true, false, true);
    const double inertia = lloyd_pass(job, threads).inertia;
    if (distances) {
        const std::vector<double> dist = distances_to_labelled(X, n, d, C.data(), labels, threads);
        std::copy(dist.begin(), dist.end(), distances);
    }
    return inertia;
}

}  // namespace diffclust
