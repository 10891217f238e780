// k-means++'s kernels on AVX2 (CPUs with AVX2 and FMA but without AVX-512): the
// dot products of 16 points with up to wide_cands candidates, the work after them
// and the triangle-inequality skip, as the AVX-512 ones in kmeans_plusplus.hpp (the
// same operations on the same values, so the same bits: every sum a product and
// then an addition, in the portable order). Included by kmeans_plusplus.hpp after
// PlusPlusJob and plusplus_value, which it uses.
#pragma once

#include <algorithm>
#include <cstdlib>

#include "diffclust/cluster/kmeans_avx512.hpp"
#include "diffclust/cluster/kmeans_kernels.hpp"
#include "diffclust/core/simd.hpp"
#include "diffclust/core/tiles.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust::kmeans_detail {

#ifdef DIFFCLUST_HAVE_AVX2_PATH
// R <= 6 candidates (A[t * lda + r]) against the 8 points of the double B panel
// at P (d x 8, two registers): dots[r * 16 + w] = sum_t x_w[t] c_r[t], a product
// and then a sum in increasing t. With Prefetch, the rows of `ahead` meanwhile.
template <int R, bool Prefetch>
DIFFCLUST_AVX2_FMA DIFFCLUST_ALWAYS_INLINE void plusplus_dots8_avx2(const double* DIFFCLUST_RESTRICT P, index_t d,
                                                                    const double* DIFFCLUST_RESTRICT A, index_t lda,
                                                                    double* dots, const Ahead& ahead) {
    __m256d acc0[R], acc1[R];
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) acc0[r] = _mm256_setzero_pd(), acc1[r] = _mm256_setzero_pd();
    index_t row = 0, line = 0;
    for (index_t t = 0; t < d; ++t) {
        if constexpr (Prefetch) {
            for (index_t q = 0; q < ahead.per_step && row < ahead.count; ++q) {
                _mm_prefetch(ahead.rows[row] + 64 * line, _MM_HINT_T1);
                if (++line == ahead.lines) line = 0, ++row;
            }
        }
        const __m256d x0 = _mm256_loadu_pd(P + t * pw), x1 = _mm256_loadu_pd(P + t * pw + 4);
#pragma GCC unroll 6
        for (int r = 0; r < R; ++r) {
            const __m256d c = _mm256_set1_pd(A[t * lda + r]);
            acc0[r] = _mm256_add_pd(acc0[r], _mm256_mul_pd(x0, c));
            acc1[r] = _mm256_add_pd(acc1[r], _mm256_mul_pd(x1, c));
        }
    }
    if constexpr (Prefetch) {
        for (; row < ahead.count; ++row, line = 0)  // what the steps did not cover
            for (; line < ahead.lines; ++line) _mm_prefetch(ahead.rows[row] + 64 * line, _MM_HINT_T1);
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
        _mm256_storeu_pd(dots + r * 16, acc0[r]);
        _mm256_storeu_pd(dots + r * 16 + 4, acc1[r]);
    }
}

template <bool Prefetch>
DIFFCLUST_AVX2_FMA DIFFCLUST_ALWAYS_INLINE void plusplus_dots8_any(index_t R, const double* P, index_t d,
                                                                   const double* A, index_t lda, double* dots,
                                                                   const Ahead& ahead) {
    switch (R) {
        case 1: plusplus_dots8_avx2<1, Prefetch>(P, d, A, lda, dots, ahead); break;
        case 2: plusplus_dots8_avx2<2, Prefetch>(P, d, A, lda, dots, ahead); break;
        case 3: plusplus_dots8_avx2<3, Prefetch>(P, d, A, lda, dots, ahead); break;
        case 4: plusplus_dots8_avx2<4, Prefetch>(P, d, A, lda, dots, ahead); break;
        case 5: plusplus_dots8_avx2<5, Prefetch>(P, d, A, lda, dots, ahead); break;
        default: plusplus_dots8_avx2<6, Prefetch>(P, d, A, lda, dots, ahead); break;
    }
}

// plusplus_dots16_avx512 on AVX2: the 16 points of the two double B panels at P
// (2 x d x 8) against R <= wide_cands candidates (A[t * R + r]), into dots[r * 16 +
// w], the same sums; the rows of `ahead` prefetched during the first d steps.
DIFFCLUST_AVX2_FMA __attribute__((noinline)) inline void plusplus_dots16_avx2(const double* P, index_t d,
                                                                              const double* A, index_t R,
                                                                              double* dots, const Ahead& ahead) {
    // Rows of four lines or more: the rows ahead are split between the two
    // panels' first calls, at half the rate (at d = 64, k = 10 a burst of two
    // lines a step filled the miss queue: 114 -> 101 ms for the seeding here).
    // Shorter rows keep one burst in the first call (split, the second half's
    // shorter lead cost 4% at d = 16).
    const bool split = ahead.lines >= 4 && ahead.count > 1;
    Ahead half[2];
    if (split) {
        for (index_t p = 0; p < 2; ++p) {
            const index_t first = p == 0 ? 0 : ahead.count / 2, last = p == 0 ? ahead.count / 2 : ahead.count;
            half[p].count = last - first;
            half[p].lines = ahead.lines;
            half[p].per_step = tiles::ceil_div(half[p].count * ahead.lines, d);
            for (index_t q = first; q < last; ++q) half[p].rows[q - first] = ahead.rows[q];
        }
    }
    for (index_t p = 0; p < 2; ++p) {
        for (index_t r0 = 0; r0 < R; r0 += 6) {
            const index_t nr = std::min<index_t>(6, R - r0);
            if (r0 == 0 && (p == 0 || split)) {
                plusplus_dots8_any<true>(nr, P + p * d * pw, d, A, R, dots + p * pw, split ? half[p] : ahead);
            } else {
                plusplus_dots8_any<false>(nr, P + p * d * pw, d, A + r0, R, dots + r0 * 16 + p * pw, ahead);
            }
        }
    }
}

// plusplus_columns16_avx512 on AVX2 (four registers of four points): the same
// operations on the same values.
template <class Job>
DIFFCLUST_AVX2_FMA __attribute__((noinline)) void plusplus_columns16_avx2(const Job& job, const index_t* rows,
                                                                         index_t count, const double* tile,
                                                                         index_t col0, index_t nrows, const double* xn,
                                                                         double* cur, const double* wt, double* acc) {
    const index_t d = job.d;
    const double rel2 = 2.0 * margin_factor(d);
    const unsigned live = (1u << count) - 1u;
    const __m256d vrel2 = _mm256_set1_pd(rel2);
    __m256d x[4], w[4], c[4];
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q)
        x[q] = _mm256_loadu_pd(xn + 4 * q), w[q] = _mm256_loadu_pd(wt + 4 * q), c[q] = _mm256_loadu_pd(cur + 4 * q);
    for (index_t r = 0; r < nrows; ++r) {
        const index_t col = col0 + r;
        const __m256d cn = _mm256_set1_pd(job.col_sq[col]);
        __m256d v[4];
        unsigned near = 0;
#pragma GCC unroll 4
        for (int q = 0; q < 4; ++q) {
            const __m256d dot = _mm256_loadu_pd(tile + r * 16 + 4 * q);
            const __m256d s = _mm256_add_pd(x[q], cn);
            const __m256d g = _mm256_sub_pd(s, _mm256_add_pd(dot, dot));
            near |= static_cast<unsigned>(_mm256_movemask_pd(_mm256_cmp_pd(g, _mm256_mul_pd(vrel2, s), _CMP_NGT_UQ)))
                    << (4 * q);
            v[q] = _mm256_blendv_pd(c[q], g, _mm256_cmp_pd(g, c[q], _CMP_LT_OQ));
        }
        near &= live;
        if (near) {  // rare: the direct sums of squares
            alignas(32) double vs[16], cs[16];
#pragma GCC unroll 4
            for (int q = 0; q < 4; ++q) _mm256_store_pd(vs + 4 * q, v[q]), _mm256_store_pd(cs + 4 * q, c[q]);
            for (unsigned bits = near; bits; bits &= bits - 1) {
                const int q = __builtin_ctz(bits);
                vs[q] = plusplus_value(xn[q], job.col_sq[col], tile[r * 16 + q], cs[q], rel2, job.X + rows[q] * d,
                                       job.cols + col * d, d);
            }
#pragma GCC unroll 4
            for (int q = 0; q < 4; ++q) v[q] = _mm256_load_pd(vs + 4 * q);
        }
        if (job.pending && col == 0) {  // the centre chosen at the last step lowers D_i
            __m256d m[4];
            unsigned lower = 0;
#pragma GCC unroll 4
            for (int q = 0; q < 4; ++q) {
                m[q] = _mm256_cmp_pd(v[q], c[q], _CMP_LT_OQ);
                lower |= static_cast<unsigned>(_mm256_movemask_pd(m[q])) << (4 * q);
            }
            lower &= live;
            if (lower) {
                alignas(32) double vs[16];
#pragma GCC unroll 4
                for (int q = 0; q < 4; ++q) _mm256_store_pd(vs + 4 * q, v[q]);
                for (unsigned bits = lower; bits; bits &= bits - 1) {
                    const int q = __builtin_ctz(bits);
                    const auto i = static_cast<std::size_t>(rows[q]);
                    job.closest[i] = vs[q];
                    job.nearest[i] = job.pending_id;
                }
            }
#pragma GCC unroll 4
            for (int q = 0; q < 4; ++q) c[q] = _mm256_blendv_pd(c[q], v[q], m[q]);
            continue;
        }
        // lane l of the sums: + w_l v_l, then + w_{8+l} v_{8+l}
        double* a = acc + (col - job.pending) * sum_lanes;
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
            __m256d s = _mm256_loadu_pd(a + 4 * h);
            s = _mm256_add_pd(s, _mm256_mul_pd(w[h], v[h]));
            s = _mm256_add_pd(s, _mm256_mul_pd(w[h + 2], v[h + 2]));
            _mm256_storeu_pd(a + 4 * h, s);
        }
    }
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) _mm256_storeu_pd(cur + 4 * q, c[q]);
}

// For each 4-bit mask, the 32-bit lane permutation that moves the 64-bit lanes of
// its set bits, in order, to the front (the others follow as lane 0).
struct LeftPack4 {
    int idx[16][8];
    constexpr LeftPack4() : idx{} {
        for (int m = 0; m < 16; ++m) {
            int o = 0;
            for (int q = 0; q < 4; ++q)
                if (m >> q & 1) idx[m][2 * o] = 2 * q, idx[m][2 * o + 1] = 2 * q + 1, ++o;
            for (; o < 4; ++o) idx[m][2 * o] = 0, idx[m][2 * o + 1] = 1;
        }
    }
};
inline constexpr LeftPack4 left_pack4{};

// plusplus_skip_avx512 on AVX2 (r1 - r0 a multiple of 8): the kept rows' indices
// appended to rows (four at a time, left-packed by a permutation: appending them
// one by one chained every row on the count, 6% of a seeding at d = 16, k = 10),
// the skipped rows' w_i D_i added to their lanes. Returns the number kept.
template <class Job>
DIFFCLUST_AVX2_FMA __attribute__((noinline)) index_t plusplus_skip_avx2(const Job& job, index_t r0, index_t r1,
                                                                       index_t* rows, double* skip) {
    static_assert(sizeof(index_t) == 8, "row indices are 64-bit lanes here");
    const double rel2 = 2.0 * margin_factor(job.d);
    const __m256d vrel2 = _mm256_set1_pd(rel2), nb = _mm256_set1_pd(job.norm_bound), four = _mm256_set1_pd(4.0),
                  slack = _mm256_set1_pd(1.0 + 1e-12);
    __m256d lanes[2] = {_mm256_loadu_pd(skip), _mm256_loadu_pd(skip + 4)};
    index_t m = 0;
    for (index_t i = r0; i < r1; i += 8) {
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
            const index_t o = i + 4 * h;
            const __m256d D = _mm256_loadu_pd(job.closest + o);
            const __m256d reach = _mm256_mul_pd(
                _mm256_mul_pd(four, _mm256_add_pd(D, _mm256_mul_pd(vrel2, _mm256_add_pd(_mm256_loadu_pd(job.sq_norm + o), nb)))),
                slack);
            const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(job.nearest + o));
            const __m256d sep = _mm256_i64gather_pd(job.min_sep, a, 8);
            const __m256d keep = _mm256_cmp_pd(sep, reach, _CMP_NGE_UQ);
            const unsigned bits = static_cast<unsigned>(_mm256_movemask_pd(keep));
            // rows[m .. m + 4) are free: m <= o - r0 and o + 4 <= r1
            const __m256i ids = _mm256_add_epi64(_mm256_set1_epi64x(o), _mm256_setr_epi64x(0, 1, 2, 3));
            const __m256i perm = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(left_pack4.idx[bits]));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(rows + m), _mm256_permutevar8x32_epi32(ids, perm));
            m += __builtin_popcount(bits);
            const __m256d wd = job.w ? _mm256_mul_pd(_mm256_loadu_pd(job.w + o), D) : D;
            lanes[h] = _mm256_blendv_pd(_mm256_add_pd(lanes[h], wd), lanes[h], keep);
        }
    }
    _mm256_storeu_pd(skip, lanes[0]), _mm256_storeu_pd(skip + 4, lanes[1]);
    return m;
}
#else  // never called (use_wide_kernel() is false without the AVX2 path)
[[noreturn]] inline void plusplus_dots16_avx2(const double*, index_t, const double*, index_t, double*, const Ahead&) {
    std::abort();
}
template <class Job>
[[noreturn]] inline void plusplus_columns16_avx2(const Job&, const index_t*, index_t, const double*, index_t, index_t,
                                                 const double*, double*, const double*, double*) {
    std::abort();
}
template <class Job>
[[noreturn]] inline index_t plusplus_skip_avx2(const Job&, index_t, index_t, index_t*, double*) {
    std::abort();
}
#endif

}  // namespace diffclust::kmeans_detail
