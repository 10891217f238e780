// Greedy k-means++ seeding (Arthur & Vassilvitskii 2007; the greedy variant of
// scikit-learn: 2 + floor(ln k) candidates per centre, keep the one that lowers
// the potential most), bit-identical for any number of threads.
//
// Potential: phi = sum_i w_i D_i, D_i the squared distance of x_i to its
// nearest centre so far. The first centre is drawn with probability w_i / sum w;
// each next one draws `trials` candidates with probability w_i D_i / phi and
// keeps the candidate whose addition gives the smallest potential (the first
// on ties). A draw is a uniform u (Philox4x32-10 on the counter (trial, step,
// "kmpp", 0) with the 64-bit seed as key, so the stream differs from NumPy's)
// scaled by phi, and the chosen point is the first i, in row order, whose prefix
// sum of w_i D_i exceeds it: a point with w_i D_i = 0 (an already chosen point or
// a duplicate of one, a zero weight) is never drawn. When phi is 0 (every point
// coincides with a chosen centre), the next centre is the first point not chosen.
//
// One pass over the rows per step: it computes the candidates' potentials and,
// first, lowers D_i by the centre chosen at the last step (so that no pass of its
// own updates D; the draws of a step compute that centre's distances for the
// rows they scan, the same values bit for bit). A point whose nearest centre is,
// by the triangle inequality, too far from the pass's columns keeps D_i without
// being computed. Sums are taken over fixed chunks (kmeans_detail::chunk_rows
// rows) and combined in chunk order; inside a chunk, the computed points' values
// go to 8 lanes (the q-th computed point to lane q % 8) and the skipped points'
// to 8 other lanes (row i to lane i % 8), each lane summed in row order, the
// lanes folded in order: fixed by the data, never by the thread count.
//
// Distances use the Gram trick ||x||^2 + ||c||^2 - 2 <x, c> on the register
// tile of tiles.hpp (the columns as A panels, points as B panels; on AVX-512,
// 16 points against 8 columns, the same sums bit for bit, and the work after
// the sums in AVX-512 registers, the same operations), clamped at 0; a value
// within the rounding margin of 0 (kmeans_kernels.hpp) is recomputed directly,
// so a duplicate of a centre is at distance exactly 0.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "diffclust/cluster/kmeans.hpp"
#include "diffclust/cluster/kmeans_avx2.hpp"
#include "diffclust/cluster/kmeans_avx512.hpp"
#include "diffclust/cluster/kmeans_kernels.hpp"
#include "diffclust/core/cancel.hpp"
#include "diffclust/core/checks.hpp"
#include "diffclust/core/chunked.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/core/rng.hpp"
#include "diffclust/core/simd.hpp"
#include "diffclust/core/tiles.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust {

namespace kmeans_detail {

constexpr u32 kmpp_tag = 0x6b6d7070u;  // "kmpp"

inline double kmpp_uniform(u64 seed, index_t step, index_t trial) {
    const auto b = Philox4x32::block({static_cast<u32>(trial), static_cast<u32>(step), kmpp_tag, 0u},
                                     static_cast<u32>(seed), static_cast<u32>(seed >> 32));
    return uniform52(static_cast<u64>(b[0]) | (static_cast<u64>(b[1]) << 32));
}

// The sums of one chunk, each carried in 8 lanes (see the top of the file).
constexpr int sum_lanes = 8;

// One pass of a step over the rows. Its columns are the centre chosen at the last
// step (`pending`: its distances lower D_i here, in place, rather than in a pass
// of their own) followed by the step's candidates. For each chunk c it writes
// pots[c * trials + t], the sum of w_i min(D_i, d(x_i, cand_t)) over the chunk,
// and base[c], the sum of w_i D_i (D_i after the pending centre).
template <class T>
struct PlusPlusJob {
    const T* X;
    const double* w;
    index_t n, d;
    const double* cols;         // ncols x d coordinates: the pending centre (if any), then the candidates
    const double* col_panels;   // packed as A panels (portable kernels)
    const double* col_groups;   // on AVX-512 or AVX2 (else nullptr): groups of wide_cands, d x (group size) each
    const double* col_sq;       // their squared norms
    index_t ncols, trials;      // trials = ncols - pending
    bool pending;
    index_t pending_id;         // the pending centre's index (the value `nearest` takes)
    double* closest;            // (n) D_i
    index_t* nearest;           // (n) the nearest centre of each point
    double* pots;               // (chunks x trials)
    double* base;               // (chunks)
    // The triangle-inequality skip (nullptr: every point computed, as in the first
    // pass): a point whose nearest centre a satisfies min over the columns of
    // ||c_a - col||^2 >= 4 (D_i + E_i) keeps D_i.
    const double* min_sep;  // (centres) min over the columns of ||c_a - col||^2
    double* sq_norm;        // (n) ||x_i||^2, written by the first pass
    char* nonfinite;        // (chunks) set by the first pass when the chunk holds NaN or infinity
    double norm_bound;      // max squared norm of the centres and candidates
    bool first;             // the first pass: squared norms and the finiteness check
    bool avx512 = false;    // with col_groups: the AVX-512 kernels (else the AVX2 ones)
};

// min(D, g) for g = ||x||^2 + ||c||^2 - 2 <x, c> from the dot product `dot`; a g
// within the rounding margin of 0 is replaced by the direct sum of squares (so a
// duplicate of c is at distance exactly 0). The scalar form of plusplus_panel's
// lanes, bit for bit: search_prefix uses it for the pending centre.
template <class T>
DIFFCLUST_ALWAYS_INLINE double plusplus_value(double xn, double cn, double dot, double cur, double rel2, const T* x,
                                              const double* c, index_t d) {
    const double g = (xn + cn) - 2.0 * dot;
    if (!(g > rel2 * (xn + cn))) {
        const double e = sq_distance(x, c, d);
        return e < cur ? e : cur;
    }
    return g < cur ? g : cur;
}

#ifdef DIFFCLUST_HAVE_AVX512_PATH
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // see rng.hpp (_mm512_undefined in the gather)
#endif
// plusplus_panel's work after the dot products of one group of columns (col0 ..
// col0 + nrows), for a panel of 16 points, in AVX-512 registers: the same
// operations on the same values as the portable loops below, so the same bits.
// cur holds the points' D_i and is lowered by the pending column.
template <class T>
DIFFCLUST_AVX512 __attribute__((noinline)) void plusplus_columns16_avx512(const PlusPlusJob<T>& job,
                                                                         const index_t* rows, index_t count,
                                                                         const double* tile, index_t col0,
                                                                         index_t nrows, const double* xn, double* cur,
                                                                         const double* wt, double* acc) {
    const index_t d = job.d;
    const double rel2 = 2.0 * margin_factor(d);
    const __mmask16 live = static_cast<__mmask16>((1u << count) - 1u);
    const __m512d x0 = _mm512_loadu_pd(xn), x1 = _mm512_loadu_pd(xn + 8), w0 = _mm512_loadu_pd(wt),
                  w1 = _mm512_loadu_pd(wt + 8), vrel2 = _mm512_set1_pd(rel2);
    __m512d c0 = _mm512_loadu_pd(cur), c1 = _mm512_loadu_pd(cur + 8);
    for (index_t r = 0; r < nrows; ++r) {
        const index_t col = col0 + r;
        const __m512d cn = _mm512_set1_pd(job.col_sq[col]);
        const __m512d dot0 = _mm512_loadu_pd(tile + r * 16), dot1 = _mm512_loadu_pd(tile + r * 16 + 8);
        const __m512d s0 = _mm512_add_pd(x0, cn), s1 = _mm512_add_pd(x1, cn);
        const __m512d g0 = _mm512_sub_pd(s0, _mm512_add_pd(dot0, dot0)), g1 = _mm512_sub_pd(s1, _mm512_add_pd(dot1, dot1));
        const __mmask16 near = static_cast<__mmask16>(
            (_mm512_cmp_pd_mask(g0, _mm512_mul_pd(vrel2, s0), _CMP_NGT_UQ) |
             (static_cast<unsigned>(_mm512_cmp_pd_mask(g1, _mm512_mul_pd(vrel2, s1), _CMP_NGT_UQ)) << 8)) & live);
        __m512d v0 = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(g0, c0, _CMP_LT_OQ), c0, g0);
        __m512d v1 = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(g1, c1, _CMP_LT_OQ), c1, g1);
        if (near) {  // rare: the direct sums of squares
            alignas(64) double v[16], c[16];
            _mm512_store_pd(v, v0), _mm512_store_pd(v + 8, v1), _mm512_store_pd(c, c0), _mm512_store_pd(c + 8, c1);
            for (unsigned bits = near; bits; bits &= bits - 1) {
                const int q = __builtin_ctz(bits);
                v[q] = plusplus_value(xn[q], job.col_sq[col], tile[r * 16 + q], c[q], rel2, job.X + rows[q] * d,
                                      job.cols + col * d, d);
            }
            v0 = _mm512_load_pd(v), v1 = _mm512_load_pd(v + 8);
        }
        if (job.pending && col == 0) {  // the centre chosen at the last step lowers D_i
            const __mmask8 m0 = _mm512_cmp_pd_mask(v0, c0, _CMP_LT_OQ), m1 = _mm512_cmp_pd_mask(v1, c1, _CMP_LT_OQ);
            const unsigned lower = (m0 | (static_cast<unsigned>(m1) << 8)) & live;
            if (lower) {
                alignas(64) double v[16];
                _mm512_store_pd(v, v0), _mm512_store_pd(v + 8, v1);
                for (unsigned bits = lower; bits; bits &= bits - 1) {
                    const int q = __builtin_ctz(bits);
                    const auto i = static_cast<std::size_t>(rows[q]);
                    job.closest[i] = v[q];
                    job.nearest[i] = job.pending_id;
                }
            }
            c0 = _mm512_mask_blend_pd(m0, c0, v0), c1 = _mm512_mask_blend_pd(m1, c1, v1);
            continue;
        }
        double* a = acc + (col - job.pending) * sum_lanes;
        __m512d s = _mm512_loadu_pd(a);
        s = _mm512_add_pd(s, _mm512_mul_pd(w0, v0));
        s = _mm512_add_pd(s, _mm512_mul_pd(w1, v1));
        _mm512_storeu_pd(a, s);
    }
    _mm512_storeu_pd(cur, c0), _mm512_storeu_pd(cur + 8, c1);
}

// The skip of plusplus_chunk_impl for rows [r0, r1) on AVX-512 (r1 - r0 a multiple
// of 8): the kept rows' indices appended to rows, the skipped rows' w_i D_i added
// to their lanes. Returns the number kept.
template <class T>
DIFFCLUST_AVX512 __attribute__((noinline)) index_t plusplus_skip_avx512(const PlusPlusJob<T>& job, index_t r0,
                                                                       index_t r1, index_t* rows, double* skip) {
    static_assert(sizeof(index_t) == 8, "row indices are 64-bit lanes here");
    const double rel2 = 2.0 * margin_factor(job.d);
    const __m512d vrel2 = _mm512_set1_pd(rel2), nb = _mm512_set1_pd(job.norm_bound), four = _mm512_set1_pd(4.0),
                  slack = _mm512_set1_pd(1.0 + 1e-12);
    __m512d lanes = _mm512_loadu_pd(skip);
    __m512i idx = _mm512_add_epi64(_mm512_set1_epi64(r0), _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
    const __m512i eight = _mm512_set1_epi64(8);
    index_t m = 0;
    for (index_t i = r0; i < r1; i += 8) {
        const __m512d D = _mm512_loadu_pd(job.closest + i);
        const __m512d reach = _mm512_mul_pd(
            _mm512_mul_pd(four, _mm512_add_pd(D, _mm512_mul_pd(vrel2, _mm512_add_pd(_mm512_loadu_pd(job.sq_norm + i), nb)))),
            slack);
        const __m512i a = _mm512_loadu_si512(job.nearest + i);
        const __m512d sep = _mm512_i64gather_pd(a, job.min_sep, 8);
        const __mmask8 keep = _mm512_cmp_pd_mask(sep, reach, _CMP_NGE_UQ);
        _mm512_mask_compressstoreu_epi64(rows + m, keep, idx);
        m += __builtin_popcount(keep);
        const __m512d wd = job.w ? _mm512_mul_pd(_mm512_loadu_pd(job.w + i), D) : D;
        lanes = _mm512_mask_add_pd(lanes, static_cast<__mmask8>(~keep), lanes, wd);
        idx = _mm512_add_epi64(idx, eight);
    }
    _mm512_storeu_pd(skip, lanes);
    return m;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

}  // namespace kmeans_detail
}  // namespace diffclust

// (PlusPlusJob and plusplus_value are defined by now: the AVX2 kernels use them.)
#include "diffclust/cluster/kmeans_plusplus_avx2.hpp"  // NOLINT(build/include_order)

namespace diffclust {
namespace kmeans_detail {

// The rows rows[0 .. count) (count <= 8, or 16 with Wide): their distances to
// the columns; the pending column lowers their D_i (closest, nearest) first, and
// each candidate's values min(D_i, d(x_i, cand_t)), times w_i, are added to the
// lanes acc[t * 8 + l], the q-th computed point of the chunk to lane q % 8 (the
// rows in order: a panel of 16 is two of 8, and a lane past count adds 0). The
// dot products come from tiles::micro_tile (8 points, columns 6 at a time) or,
// on AVX-512 (Wide), plusplus_dots16_avx512 (16 points, 8 columns at a time):
// the same sums in the same order, so the same values.
// No rows to prefetch. A constant: `cp == 0 ? ahead : Ahead{}` built and copied a
// 152-byte Ahead for every panel and group (2% of a seeding at d = 16, k = 10).
inline const Ahead no_ahead{};

template <bool Wide, class T>
DIFFCLUST_ALWAYS_INLINE void plusplus_panel(const PlusPlusJob<T>& job, const index_t* rows, index_t count,
                                            double* panel, double* tile, double* DIFFCLUST_RESTRICT acc,
                                            double* DIFFCLUST_RESTRICT base, const Ahead& ahead) {
    constexpr index_t lanes = Wide ? 2 * pw : pw;
    constexpr index_t group = Wide ? wide_cands : cw;
    static_assert(pw == sum_lanes, "a B panel is one row of lanes");
    const index_t d = job.d;
    const double rel2 = 2.0 * margin_factor(d);
    double xn[lanes], v[lanes], cur[lanes], wt[lanes];
    if constexpr (Wide) {
        const index_t c0 = std::min(pw, count);
        pack8(job.X, d, rows, 0, c0, panel);
        pack8(job.X, d, rows, c0, count - c0, panel + d * pw);
    } else {
        pack8(job.X, d, rows, 0, count, panel);
    }
    for (int w = 0; w < lanes; ++w) xn[w] = 0.0, cur[w] = 0.0, wt[w] = 0.0;
    for (index_t w = 0; w < count; ++w) {
        cur[w] = job.closest[rows[w]];
        wt[w] = job.w ? job.w[rows[w]] : 1.0;
    }
    if (!job.first) {
        for (index_t w = 0; w < count; ++w) xn[w] = job.sq_norm[rows[w]];
    } else {  // the squared norms, summed in increasing t, kept for the other passes
        for (index_t h = 0; h * pw < lanes; ++h) {
            const double* P = panel + h * d * pw;
            for (index_t t = 0; t < d; ++t) {
#pragma GCC unroll 8
                for (int w = 0; w < pw; ++w) xn[h * pw + w] += P[t * pw + w] * P[t * pw + w];
            }
        }
        for (index_t w = 0; w < count; ++w) job.sq_norm[rows[w]] = xn[w];
    }
    const index_t groups = tiles::ceil_div(job.ncols, group);
    for (index_t cp = 0; cp < groups; ++cp) {
        const index_t nrows = std::min(group, job.ncols - cp * group);
        if constexpr (Wide) {
            if (job.avx512) {
                plusplus_dots16_avx512(panel, d, job.col_groups + cp * d * group, nrows, tile,
                                       cp == 0 ? ahead : no_ahead);
            } else {
                plusplus_dots16_avx2(panel, d, job.col_groups + cp * d * group, nrows, tile,
                                     cp == 0 ? ahead : no_ahead);
            }
        } else {
            tiles::micro_tile(tiles::Product::dot, job.col_panels + cp * d * cw, panel, d, tile, pw);
        }
        if constexpr (Wide) {
#ifdef DIFFCLUST_HAVE_AVX512_PATH
            if (job.avx512) {
                plusplus_columns16_avx512(job, rows, count, tile, cp * group, nrows, xn, cur, wt, acc);
                continue;
            }
#endif
            plusplus_columns16_avx2(job, rows, count, tile, cp * group, nrows, xn, cur, wt, acc);
            continue;
        }
        for (index_t r = 0; r < nrows; ++r) {
            const index_t col = cp * group + r;
            const double cn = job.col_sq[col];
            const double* DIFFCLUST_RESTRICT dot = tile + r * lanes;
            int near = 0;  // a vectorised pass; values near 0 are rare
#pragma GCC unroll 16
            for (int w = 0; w < lanes; ++w) {
                const double g = (xn[w] + cn) - 2.0 * dot[w];
                near |= !(g > rel2 * (xn[w] + cn));
                v[w] = g < cur[w] ? g : cur[w];
            }
            if (near) {
                for (index_t w = 0; w < count; ++w)
                    v[w] = plusplus_value(xn[w], cn, dot[w], cur[w], rel2, job.X + rows[w] * d, job.cols + col * d, d);
            }
            if (job.pending && col == 0) {  // the centre chosen at the last step
                for (index_t w = 0; w < count; ++w) {
                    if (v[w] < cur[w]) {
                        const auto i = static_cast<std::size_t>(rows[w]);
                        job.closest[i] = v[w];
                        job.nearest[i] = job.pending_id;
                        cur[w] = v[w];
                    }
                }
                continue;
            }
            double* DIFFCLUST_RESTRICT a = acc + (col - job.pending) * sum_lanes;
            for (index_t h = 0; h * pw < lanes; ++h) {
#pragma GCC unroll 8
                for (int l = 0; l < pw; ++l) a[l] += wt[h * pw + l] * v[h * pw + l];
            }
        }
    }
    if (job.first) {
        for (index_t h = 0; h * pw < lanes; ++h) {
#pragma GCC unroll 8
            for (int l = 0; l < pw; ++l) base[l] += wt[h * pw + l] * cur[h * pw + l];
        }
    }
}

// ((a_0 + a_1) + a_2) + ... + a_7.
inline double fold_lanes(const double* a) {
    double s = a[0];
    for (int l = 1; l < sum_lanes; ++l) s += a[l];
    return s;
}

// Chunk c: the points the skip leaves (listed in `rows`), their distances to the
// columns, and the chunk sums: for candidate t, fold(its lanes) + fold(the skipped
// points' lanes), where the skipped row i adds w_i D_i to lane (i - r0) % 8.
// (s_x + s_c)^2 <= 2 (||x||^2 + ||c||^2) bounds the margin without square roots.
// scratch: the panel (2 * pw * d), the tile (wide_cands * 2 * pw), the lanes
// ((trials + 2) * 8) and the row list (chunk_rows).
template <class T>
DIFFCLUST_ALWAYS_INLINE void plusplus_chunk_impl(const PlusPlusJob<T>& job, index_t c, double* panel, double* tile,
                                                 double* acc, index_t* rows) {
    const index_t n = job.n, trials = job.trials;
    const index_t r0 = c * chunk_rows, r1 = std::min(n, r0 + chunk_rows);
    double* skip = acc + trials * sum_lanes;
    double* base = skip + sum_lanes;
    std::fill(acc, acc + (trials + 2) * sum_lanes, 0.0);
    index_t m = 0;
    if (job.min_sep) {
        const double rel2 = 2.0 * margin_factor(job.d);
        index_t i = r0;
        if (job.col_groups) {
            const index_t r8 = r0 + (r1 - r0) / sum_lanes * sum_lanes;
#ifdef DIFFCLUST_HAVE_AVX512_PATH
            m = job.avx512 ? plusplus_skip_avx512(job, r0, r8, rows, skip) : plusplus_skip_avx2(job, r0, r8, rows, skip);
#else
            m = plusplus_skip_avx2(job, r0, r8, rows, skip);
#endif
            i = r8;
        }
        for (; i < r1; ++i) {
            const double D = job.closest[i];
            const double reach = 4.0 * (D + rel2 * (job.sq_norm[i] + job.norm_bound)) * (1.0 + 1e-12);
            const bool keep = !(job.min_sep[job.nearest[i]] >= reach);
            rows[m] = i;
            m += keep;
            skip[(i - r0) % sum_lanes] += keep ? 0.0 : (job.w ? job.w[i] * D : D);
        }
    } else {
        for (index_t i = r0; i < r1; ++i) rows[m++] = i;
    }
    const index_t row_bytes = job.d * static_cast<index_t>(sizeof(T));
    if (job.col_groups) {
        // the next panel's rows on their way while this one is computed (scattered
        // once the skip starts, which the hardware prefetchers do not follow)
        Ahead ahead;
        ahead.lines = tiles::ceil_div(row_bytes, 64);
        for (index_t p = 0; p < m; p += 2 * pw) {
            ahead.count = std::max<index_t>(0, std::min(2 * pw, m - p - 2 * pw));
            for (index_t q = 0; q < ahead.count; ++q)
                ahead.rows[q] = reinterpret_cast<const char*>(job.X + rows[p + 2 * pw + q] * job.d);
            ahead.per_step = tiles::ceil_div(ahead.count * ahead.lines, job.d);
            plusplus_panel<true>(job, rows + p, std::min(2 * pw, m - p), panel, tile, acc, base, ahead);
        }
    } else {
        for (index_t p = 0; p < m; p += pw) {
            for (index_t q = p + 2 * pw; q < std::min(m, p + 3 * pw); ++q) {
                const char* x = reinterpret_cast<const char*>(job.X + rows[q] * job.d);
                for (index_t b = 0; b < row_bytes; b += 64) DIFFCLUST_PREFETCH(x + b);
            }
            plusplus_panel<false>(job, rows + p, std::min(pw, m - p), panel, tile, acc, base, Ahead{});
        }
    }
    // the first pass computed every row's squared norm (job.sq_norm) from its values
    if (job.first) job.nonfinite[c] = rows_nonfinite(job.X, job.d, r0, r1, job.sq_norm);
    const double skipped = fold_lanes(skip);
    for (index_t t = 0; t < trials; ++t) job.pots[c * trials + t] = fold_lanes(acc + t * sum_lanes) + skipped;
    job.base[c] = fold_lanes(base) + skipped;
}

[[maybe_unused]] static DIFFCLUST_TARGET_CLONES void plusplus_chunk(const PlusPlusJob<double>& job, index_t c,
                                                                    double* panel, double* tile, double* acc,
                                                                    index_t* rows) {
    plusplus_chunk_impl(job, c, panel, tile, acc, rows);
}

[[maybe_unused]] static DIFFCLUST_TARGET_CLONES void plusplus_chunk(const PlusPlusJob<float>& job, index_t c,
                                                                    double* panel, double* tile, double* acc,
                                                                    index_t* rows) {
    plusplus_chunk_impl(job, c, panel, tile, acc, rows);
}

// The first i whose prefix sum of w_i * value(i) exceeds r (see the top of the
// file); chunk_sum[c] is chunk c's sum. Falls back to the last point of positive
// mass if rounding leaves r at or above the total.
template <class Value>
index_t search_prefix(const double* w, Value&& value, index_t n, const std::vector<double>& chunk_sum, double r) {
    double acc = 0.0;
    const index_t chunks = static_cast<index_t>(chunk_sum.size());
    for (index_t c = 0; c < chunks; ++c) {
        const double next = acc + chunk_sum[static_cast<std::size_t>(c)];
        if (next > r) {
            double s = 0.0;
            const index_t r0 = c * chunk_rows, r1 = std::min(n, r0 + chunk_rows);
            for (index_t i = r0; i < r1; ++i) {
                s += w ? w[i] * value(i) : value(i);
                if (acc + s > r) return i;
            }
        }
        acc = next;
    }
    for (index_t i = n - 1; i > 0; --i)
        if ((w ? w[i] * value(i) : value(i)) > 0.0) return i;
    return 0;
}

}  // namespace kmeans_detail

// 2 + floor(ln k), scikit-learn's number of candidates per centre.
inline index_t default_plusplus_trials(index_t k) {
    return 2 + static_cast<index_t>(std::floor(std::log(static_cast<double>(k))));
}

// Greedy k-means++: writes the k chosen row indices to `indices` and returns
// the final potential. w: weights (nullptr: all 1). trials >= 1. X holding NaN
// or infinity throws std::invalid_argument (checked during the first step, which
// reads every row anyway, and computes the squared norms on the way).
template <class T>
double kmeans_plusplus(const T* X, index_t n, index_t d, const double* w, index_t k, index_t trials, u64 seed,
                       index_t* indices, int n_threads) {
    using namespace kmeans_detail;
    check_kmeans_args<T>(n, d, k, w);
    if (trials < 1) throw std::invalid_argument("n_local_trials must be at least 1");
    const int threads = useful_threads(n_threads, static_cast<double>(n) * static_cast<double>(d) *
                                                      static_cast<double>(trials),
                                       double(1 << 17));
    const index_t chunks = tiles::ceil_div(n, chunk_rows);
    // D_i (+inf before the first centre) and each point's nearest centre
    std::vector<double> closest(static_cast<std::size_t>(n), inf);
    std::vector<index_t> nearest(static_cast<std::size_t>(n), 0);
    std::vector<double> chunk_sum(static_cast<std::size_t>(chunks));
    for (index_t c = 0; c < chunks; ++c) {  // the first centre is drawn by weight alone
        double s = 0.0;
        for (index_t i = c * chunk_rows; i < std::min(n, (c + 1) * chunk_rows); ++i) s += w ? w[i] : 1.0;
        chunk_sum[static_cast<std::size_t>(c)] = s;
    }
    std::vector<double> pots(static_cast<std::size_t>(chunks * trials)), base(static_cast<std::size_t>(chunks));
    // the columns of a pass: the pending centre (if any), then the candidates
    std::vector<double> cols(static_cast<std::size_t>((trials + 1) * d)), col_sq(static_cast<std::size_t>(trials + 1));
    std::vector<double> col_panels, col_groups;
    const bool wide = use_wide_kernel(), avx512 = use_wide_avx512();  // AVX-512, or AVX2 with FMA
    std::vector<index_t> ids(static_cast<std::size_t>(trials));
    std::vector<char> chosen(static_cast<std::size_t>(n), 0);
    struct Scratch {
        std::vector<double> buf;
        std::vector<index_t> rows;
    };
    std::vector<Scratch> scratch(static_cast<std::size_t>(threads));
    // the centres, their least separation from a pass's columns (the skip), the
    // points' squared norms
    std::vector<double> centres(static_cast<std::size_t>(k * d)), centre_sq(static_cast<std::size_t>(k));
    std::vector<double> min_sep(static_cast<std::size_t>(k));
    std::vector<double> sq_norm(static_cast<std::size_t>(n));
    std::vector<char> nonfinite(static_cast<std::size_t>(chunks), 0);
    const double rel2 = 2.0 * margin_factor(d);
    double norm_bound = 0.0;
    double phi = 0.0;
    index_t pending = -1;  // the centre chosen at the last step, not yet in closest
    for (index_t step = 0; step < k; ++step) {
        cancellation_point();
        phi = 0.0;
        for (const double s : chunk_sum) phi += s;
        // D_i with the pending centre, computed as the pass computes it
        const auto value = [&](index_t i) {
            const double cur = closest[static_cast<std::size_t>(i)];
            if (pending < 0) return cur;
            const T* x = X + i * d;
            const double* c = centres.data() + pending * d;
            double dot = 0.0;
            for (index_t t = 0; t < d; ++t) dot += static_cast<double>(x[t]) * c[t];
            return plusplus_value(sq_norm[static_cast<std::size_t>(i)], centre_sq[static_cast<std::size_t>(pending)],
                                  dot, cur, rel2, x, c, d);
        };
        const index_t m = step == 0 ? 1 : trials;
        if (step > 0 && !(phi > 0.0)) {  // every point is a centre already
            index_t i = 0;
            while (chosen[static_cast<std::size_t>(i)]) ++i;
            ids[0] = i;
        } else if (step == 0) {
            ids[0] = search_prefix(w, [](index_t) { return 1.0; }, n, chunk_sum, kmpp_uniform(seed, 0, 0) * phi);
        } else {
            for (index_t t = 0; t < m; ++t)
                ids[static_cast<std::size_t>(t)] = search_prefix(w, value, n, chunk_sum, kmpp_uniform(seed, step, t) * phi);
        }
        // step 0's pass applies the first centre (pending, no candidates); the
        // others' compute their candidates after the last step's centre
        const index_t used = step == 0 ? 0 : (!(phi > 0.0) ? 1 : m);
        if (step == 0) {
            pending = 0;
            const T* x = X + ids[0] * d;
            double s = 0.0;
            for (index_t j = 0; j < d; ++j) {
                const double v = static_cast<double>(x[j]);
                centres[static_cast<std::size_t>(j)] = v;
                s += v * v;
            }
            centre_sq[0] = s;
            norm_bound = s;
            indices[0] = ids[0];
            chosen[static_cast<std::size_t>(ids[0])] = 1;
        }
        const index_t off = pending >= 0 ? 1 : 0, ncols = off + used;
        if (pending >= 0) {
            std::copy(centres.begin() + pending * d, centres.begin() + (pending + 1) * d, cols.begin());
            col_sq[0] = centre_sq[static_cast<std::size_t>(pending)];
        }
        for (index_t t = 0; t < used; ++t) {
            const T* x = X + ids[static_cast<std::size_t>(t)] * d;
            double s = 0.0;
            for (index_t j = 0; j < d; ++j) {
                const double v = static_cast<double>(x[j]);
                cols[static_cast<std::size_t>((off + t) * d + j)] = v;
                s += v * v;
            }
            col_sq[static_cast<std::size_t>(off + t)] = s;
            norm_bound = std::max(norm_bound, s);
        }
        // the skip: each point's nearest centre so far is one of 0 .. step - 1 (none at step 0)
        for (index_t a = 0; a < step; ++a) {
            double low = inf;
            for (index_t j = 0; j < ncols; ++j)
                low = std::min(low, sq_distance(centres.data() + a * d, cols.data() + j * d, d));
            min_sep[static_cast<std::size_t>(a)] = low;
        }
        if (wide) {
            col_groups.assign(static_cast<std::size_t>(ncols * d), 0.0);
            for (index_t g = 0; g * wide_cands < ncols; ++g) {
                const index_t r0 = g * wide_cands, nr = std::min(wide_cands, ncols - r0);
                double* A = col_groups.data() + r0 * d;
                for (index_t t = 0; t < d; ++t)
                    for (index_t r = 0; r < nr; ++r) A[t * nr + r] = cols[static_cast<std::size_t>((r0 + r) * d + t)];
            }
        } else {
            col_panels.assign(static_cast<std::size_t>(tiles::ceil_div(ncols, cw) * cw * d), 0.0);
            tiles::pack_panels(cols.data(), d, nullptr, 0, ncols, cw, nullptr, col_panels.data());
        }
        const PlusPlusJob<T> job{X, w, n, d,
                                 cols.data(), col_panels.data(), wide ? col_groups.data() : nullptr, col_sq.data(),
                                 ncols, used, pending >= 0, pending,
                                 closest.data(), nearest.data(), pots.data(), base.data(),
                                 step > 0 ? min_sep.data() : nullptr, sq_norm.data(), nonfinite.data(), norm_bound,
                                 step == 0, avx512};
        parallel_for_tid(chunks, threads, [&](index_t c, int tid) {
            Scratch& s = scratch[static_cast<std::size_t>(tid)];
            if (s.buf.empty()) {
                s.buf.resize(static_cast<std::size_t>(2 * pw * d + wide_cands * 2 * pw + (trials + 2) * sum_lanes));
                s.rows.resize(static_cast<std::size_t>(chunk_rows));
            }
            double* panel = s.buf.data();
            double* tile = panel + 2 * pw * d;
            plusplus_chunk(job, c, panel, tile, tile + wide_cands * 2 * pw, s.rows.data());
        });
        if (step == 0) {
            if (std::find(nonfinite.begin(), nonfinite.end(), 1) != nonfinite.end())
                throw std::invalid_argument("X contains NaN or infinity");
            pending = -1;  // now in closest
            phi = 0.0;
            for (index_t c = 0; c < chunks; ++c) {
                chunk_sum[static_cast<std::size_t>(c)] = base[static_cast<std::size_t>(c)];
                phi += base[static_cast<std::size_t>(c)];
            }
            continue;
        }
        // The candidate with the smallest potential (fold of chunk sums in order).
        index_t best = 0;
        double best_pot = inf;
        for (index_t t = 0; t < used; ++t) {
            double p = 0.0;
            for (index_t c = 0; c < chunks; ++c) p += pots[static_cast<std::size_t>(c * used + t)];
            if (p < best_pot) best_pot = p, best = t;
        }
        const index_t id = ids[static_cast<std::size_t>(best)];
        indices[step] = id;
        chosen[static_cast<std::size_t>(id)] = 1;
        std::copy(cols.begin() + (off + best) * d, cols.begin() + (off + best + 1) * d, centres.begin() + step * d);
        centre_sq[static_cast<std::size_t>(step)] = col_sq[static_cast<std::size_t>(off + best)];
        pending = step;  // its distances lower D_i in the next step's pass
        for (index_t c = 0; c < chunks; ++c) chunk_sum[static_cast<std::size_t>(c)] = pots[static_cast<std::size_t>(c * used + best)];
        phi = best_pot;
    }
    return phi;
}

}  // namespace diffclust
