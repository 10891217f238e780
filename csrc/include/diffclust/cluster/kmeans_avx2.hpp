// The AVX2 kernels of Lloyd's passes (kmeans.hpp), for CPUs with AVX2 and FMA but
// without AVX-512 (AMD Zen 1-3, most client CPUs): the same two tiers as
// kmeans_avx512.hpp on the same packed centres (WideCenters), in 8 float lanes
// and 4 double lanes. The sums are those of the AVX-512 tiers lane for lane (each
// dot product by fused multiply-adds in increasing t, then g = ||c||^2 - 2 acc in
// one rounding), so the first tier's margin (margin_factor_f) and the second's
// (margin_factor) hold unchanged, and the labels are the exact argmin, the same
// as every other kernel's.
//
// With 16 vector registers a step holds two registers of points against up to
// six centres (12 accumulators, two point registers and a broadcast): the first
// tier takes its 32 rows as two halves of 16 (two float panels of 8 rows each),
// the second tier its 16 points as two panels of 8 (each two double registers);
// a group of 12 centres is two steps of up to six.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <limits>

#include "diffclust/cluster/kmeans_avx512.hpp"
#include "diffclust/cluster/kmeans_kernels.hpp"
#include "diffclust/core/simd.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust::kmeans_detail {

#ifdef DIFFCLUST_HAVE_AVX2_PATH
// The two tiers' lanes: float32 (8 per register) and float64 (4), with the index
// of the best centre in an integer lane of the same width.
struct Avx2F32 {
    using T = float;
    using V = __m256;
    using J = int;
    DIFFCLUST_AVX2_FMA static DIFFCLUST_ALWAYS_INLINE V zero() { return _mm256_setzero_ps(); }
    DIFFCLUST_AVX2_FMA static DIFFCLUST_ALWAYS_INLINE V set1(T v) { return _mm256_set1_ps(v); }
    DIFFCLUST_AVX2_FMA static DIFFCLUST_ALWAYS_INLINE V load(const T* p) { return _mm256_loadu_ps(p); }
    DIFFCLUST_AVX2_FMA static DIFFCLUST_ALWAYS_INLINE V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
    DIFFCLUST_AVX2_FMA static DIFFCLUST_ALWAYS_INLINE V fnmadd(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }
    DIFFCLUST_AVX2_FMA static DIFFCLUST_ALWAYS_INLINE V min(V a, V b) { return _mm256_min_ps(a, b); }
    DIFFCLUST_AVX2_FMA static DIFFCLUST_ALWAYS_INLINE V less(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
    DIFFCLUST_AVX2_FMA static DIFFCLUST_ALWAYS_INLINE V pick(V a, V m, V b) { return _mm256_blendv_ps(a, b, m); }
    DIFFCLUST_AVX2_FMA static DIFFCLUST_ALWAYS_INLINE __m256i index(J j) { return _mm256_set1_epi32(j); }
    DIFFCLUST_AVX2_FMA static DIFFCLUST_ALWAYS_INLINE __m256i pick(__m256i a, V m, __m256i b) {
        return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), m));
    }
};

struct Avx2F64 {
    using T = double;
    using V = __m256d;
    using J = long long;
    DIFFCLUST_AVX2_FMA static DIFFCLUST_ALWAYS_INLINE V zero() { return _mm256_setzero_pd(); }
    DIFFCLUST_AVX2_FMA static DIFFCLUST_ALWAYS_INLINE V set1(T v) { return _mm256_set1_pd(v); }
    DIFFCLUST_AVX2_FMA static DIFFCLUST_ALWAYS_INLINE V load(const T* p) { return _mm256_loadu_pd(p); }
    DIFFCLUST_AVX2_FMA static DIFFCLUST_ALWAYS_INLINE V fmadd(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
    DIFFCLUST_AVX2_FMA static DIFFCLUST_ALWAYS_INLINE V fnmadd(V a, V b, V c) { return _mm256_fnmadd_pd(a, b, c); }
    DIFFCLUST_AVX2_FMA static DIFFCLUST_ALWAYS_INLINE V min(V a, V b) { return _mm256_min_pd(a, b); }
    DIFFCLUST_AVX2_FMA static DIFFCLUST_ALWAYS_INLINE V less(V a, V b) { return _mm256_cmp_pd(a, b, _CMP_LT_OQ); }
    DIFFCLUST_AVX2_FMA static DIFFCLUST_ALWAYS_INLINE V pick(V a, V m, V b) { return _mm256_blendv_pd(a, b, m); }
    DIFFCLUST_AVX2_FMA static DIFFCLUST_ALWAYS_INLINE __m256i index(J j) { return _mm256_set1_epi64x(j); }
    DIFFCLUST_AVX2_FMA static DIFFCLUST_ALWAYS_INLINE __m256i pick(__m256i a, V m, __m256i b) {
        return _mm256_castpd_si256(_mm256_blendv_pd(_mm256_castsi256_pd(a), _mm256_castsi256_pd(b), m));
    }
};

// The next `per` lines of [ahead, ahead_end) prefetched into L2 (ahead advances past
// them): the share of one step of the first tier's packing or dot products.
DIFFCLUST_ALWAYS_INLINE void avx2_prefetch_lines(const char*& ahead, const char* ahead_end, index_t per) {
    for (index_t q = 0; q < per && ahead < ahead_end; ++q, ahead += 64) _mm_prefetch(ahead, _MM_HINT_T1);
}

// The running best, second and arg of two registers of points.
template <class W>
struct Avx2Best {
    typename W::V b[2], s[2];
    __m256i a[2];
};

// R centres (a_t = A + t * lda: their values at feature t; cn: their squared norms;
// j0: the first one's index) against the two point registers at P0 + t * stride and
// P1 + t * stride: acc = <x, c> by fused multiply-adds in increasing t, then g =
// cn - 2 acc into the running best (strict <: the first centre on ties), as
// wide_group_step. With Norms, xn also sums x * x. Meanwhile [ahead, ahead_end) is
// prefetched into L2, `per` lines a step (spread over the whole call: in bursts of
// four lines a step, as on AVX-512, the prefetches waited for each other and a pass
// at d = 64 took 1.3 times as long here).
template <class W, int R, bool Norms>
DIFFCLUST_AVX2_FMA DIFFCLUST_ALWAYS_INLINE void avx2_step(const typename W::T* DIFFCLUST_RESTRICT P0,
                                                          const typename W::T* DIFFCLUST_RESTRICT P1, index_t stride,
                                                          index_t d, const typename W::T* DIFFCLUST_RESTRICT A,
                                                          index_t lda, const typename W::T* cn, typename W::J j0,
                                                          Avx2Best<W>& st, typename W::V* xn, const char*& ahead,
                                                          const char* ahead_end, index_t per) {
    using V = typename W::V;
    V acc0[R], acc1[R];
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) acc0[r] = W::zero(), acc1[r] = W::zero();
    for (index_t t = 0; t < d; ++t) {
        avx2_prefetch_lines(ahead, ahead_end, per);
        const V x0 = W::load(P0 + t * stride), x1 = W::load(P1 + t * stride);
        if constexpr (Norms) xn[0] = W::fmadd(x0, x0, xn[0]), xn[1] = W::fmadd(x1, x1, xn[1]);
        const typename W::T* a_t = A + t * lda;
#pragma GCC unroll 6
        for (int r = 0; r < R; ++r) {
            const V c = W::set1(a_t[r]);
            acc0[r] = W::fmadd(x0, c, acc0[r]);
            acc1[r] = W::fmadd(x1, c, acc1[r]);
        }
    }
    const V two = W::set1(2);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
        const V c = W::set1(cn[r]);
        const __m256i vj = W::index(j0 + r);
        for (int h = 0; h < 2; ++h) {
            const V g = W::fnmadd(two, h == 0 ? acc0[r] : acc1[r], c);  // cn - 2 acc, one rounding
            const V lt = W::less(g, st.b[h]);
            st.s[h] = W::pick(W::min(g, st.s[h]), lt, st.b[h]);
            st.b[h] = W::pick(st.b[h], lt, g);
            st.a[h] = W::pick(st.a[h], lt, vj);
        }
    }
}

// Every centre of the groups (wide_group centres each, the last last_r; layout and
// norms as WideCenters) against the two point registers, six centres a step; the
// norms (with Norms) over the first step.
template <class W, bool Norms>
DIFFCLUST_AVX2_FMA DIFFCLUST_ALWAYS_INLINE void avx2_groups(const typename W::T* P0, const typename W::T* P1,
                                                            index_t stride, index_t d, const typename W::T* groups,
                                                            const typename W::T* sq_norms, index_t count,
                                                            index_t last_r, Avx2Best<W>& st, typename W::V* xn,
                                                            const char*& ahead, const char* ahead_end, index_t per) {
    for (index_t g = 0; g < count; ++g) {
        const typename W::T* A = groups + g * wide_group * d;
        const typename W::T* cn = sq_norms + g * wide_group;
        const auto j0 = static_cast<typename W::J>(g * wide_group);
        const index_t r = g + 1 < count ? wide_group : last_r;  // even
        for (index_t off = 0; off < r; off += 6) {
            const typename W::T* a = A + off;
            const auto j = static_cast<typename W::J>(j0 + off);
            const bool norms = Norms && g == 0 && off == 0;
            switch (std::min<index_t>(6, r - off)) {
                case 2:
                    if (norms) {
                        avx2_step<W, 2, true>(P0, P1, stride, d, a, r, cn + off, j, st, xn, ahead, ahead_end, per);
                    } else {
                        avx2_step<W, 2, false>(P0, P1, stride, d, a, r, cn + off, j, st, xn, ahead, ahead_end, per);
                    }
                    break;
                case 4:
                    if (norms) {
                        avx2_step<W, 4, true>(P0, P1, stride, d, a, r, cn + off, j, st, xn, ahead, ahead_end, per);
                    } else {
                        avx2_step<W, 4, false>(P0, P1, stride, d, a, r, cn + off, j, st, xn, ahead, ahead_end, per);
                    }
                    break;
                default:
                    if (norms) {
                        avx2_step<W, 6, true>(P0, P1, stride, d, a, r, cn + off, j, st, xn, ahead, ahead_end, per);
                    } else {
                        avx2_step<W, 6, false>(P0, P1, stride, d, a, r, cn + off, j, st, xn, ahead, ahead_end, per);
                    }
                    break;
            }
        }
    }
}

// Eight features (from t) of one row as float (the first `tail` when tail < 8, the
// others read as 0), their squares added to the row's double accumulator.
template <bool Norms>
DIFFCLUST_AVX2_FMA DIFFCLUST_ALWAYS_INLINE __m256 avx2_row8f(const double* r, index_t t, index_t tail, __m256d& sq) {
    __m256d lo, hi;
    if (tail < 8) {
        const __m256i n = _mm256_set1_epi64x(tail);
        lo = _mm256_maskload_pd(r + t, _mm256_cmpgt_epi64(n, _mm256_setr_epi64x(0, 1, 2, 3)));
        hi = _mm256_maskload_pd(r + t + 4, _mm256_cmpgt_epi64(n, _mm256_setr_epi64x(4, 5, 6, 7)));
    } else {
        lo = _mm256_loadu_pd(r + t), hi = _mm256_loadu_pd(r + t + 4);
    }
    if constexpr (Norms) sq = _mm256_fmadd_pd(hi, hi, _mm256_fmadd_pd(lo, lo, sq));
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(lo)), _mm256_cvtpd_ps(hi), 1);
}
template <bool Norms>
DIFFCLUST_AVX2_FMA DIFFCLUST_ALWAYS_INLINE __m256 avx2_row8f(const float* r, index_t t, index_t tail, __m256d& sq) {
    const __m256 x = tail < 8 ? _mm256_maskload_ps(r + t, _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(tail)),
                                                                             _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)))
                              : _mm256_loadu_ps(r + t);
    if constexpr (Norms) {
        const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(x)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
        sq = _mm256_fmadd_pd(hi, hi, _mm256_fmadd_pd(lo, lo, sq));
    }
    return x;
}

// One float panel of the 8 rows r[0 .. 8), read in place: Pf[t * 8 + w] =
// float(x_w[t]) for t < d, 8 features at a time (the 8 x 8 block transposed in
// registers), and with Norms their squared norms in double (lane sums in any
// order: a norm only sizes the margins and bounds, as in pack16f). Meanwhile
// `per` lines of [ahead, ahead_end) a step are prefetched into L2.
template <bool Norms, class T>
DIFFCLUST_AVX2_FMA DIFFCLUST_ALWAYS_INLINE void avx2_pack8f(const T* const* r, index_t d, float* Pf, double* sq_norm,
                                                            const char*& ahead, const char* ahead_end, index_t per) {
    __m256d sq[8];
#pragma GCC unroll 8
    for (int w = 0; w < 8; ++w) sq[w] = _mm256_setzero_pd();
    for (index_t t = 0; t < d; t += 8) {
        const index_t tail = std::min<index_t>(8, d - t);
        avx2_prefetch_lines(ahead, ahead_end, per);
        __m256 z[8], u[8], v[8];
#pragma GCC unroll 8
        for (int w = 0; w < 8; ++w) z[w] = avx2_row8f<Norms>(r[w], t, tail, sq[w]);
#pragma GCC unroll 4
        for (int q = 0; q < 4; ++q) {
            u[2 * q] = _mm256_unpacklo_ps(z[2 * q], z[2 * q + 1]);
            u[2 * q + 1] = _mm256_unpackhi_ps(z[2 * q], z[2 * q + 1]);
        }
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {  // rows 0-3 (h = 0) or 4-7
            v[4 * h] = _mm256_shuffle_ps(u[4 * h], u[4 * h + 2], 0x44);
            v[4 * h + 1] = _mm256_shuffle_ps(u[4 * h], u[4 * h + 2], 0xEE);
            v[4 * h + 2] = _mm256_shuffle_ps(u[4 * h + 1], u[4 * h + 3], 0x44);
            v[4 * h + 3] = _mm256_shuffle_ps(u[4 * h + 1], u[4 * h + 3], 0xEE);
        }
        // v[f] (f < 4): feature f (low 128 bits) and f + 4 (high) of rows 0-3; v[f + 4]: of rows 4-7
        float* o = Pf + t * 8;
#pragma GCC unroll 4
        for (int f = 0; f < 4; ++f) {
            if (f < tail) _mm256_storeu_ps(o + f * 8, _mm256_permute2f128_ps(v[f], v[f + 4], 0x20));
            if (f + 4 < tail) _mm256_storeu_ps(o + (f + 4) * 8, _mm256_permute2f128_ps(v[f], v[f + 4], 0x31));
        }
    }
    if constexpr (Norms) {
#pragma GCC unroll 8
        for (int w = 0; w < 8; ++w) {
            const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(sq[w]), _mm256_extractf128_pd(sq[w], 1));
            sq_norm[w] = _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
        }
    }
}

// First tier on AVX2: nearest32f_avx512's outputs for the 32 rows r[0 .. 32) (Pf:
// scratch of 32 d floats), bit for bit.
template <class T>
DIFFCLUST_AVX2_FMA __attribute__((noinline)) void nearest32f_avx2(const T* const* r, index_t d, const WideCenters& wc,
                                                                 float* Pf, float* best, float* second, int* arg,
                                                                 double* sq_norm, bool norms, const char* ahead,
                                                                 const char* ahead_end) {
    // whole lines, as nearest32f_avx512 (the line count below rounds up, so the last
    // line is among them; prefetching it first as well, as the AVX-512 kernel does,
    // made a pass at d = 64 6% slower here)
    if (ahead < ahead_end)
        ahead = reinterpret_cast<const char*>(reinterpret_cast<std::uintptr_t>(ahead) & ~std::uintptr_t(63));
    // Half the lines of `ahead` are prefetched while the rows are packed (4 panels of
    // ceil(d / 8) steps), the rest spread over the dot products' steps (two halves,
    // d per step, a step per six centres). Issued during the dot products alone,
    // they came at a rate that kept the miss buffers full: the prefetches stalled
    // and a pass at d = 64 took 1.3 times as long as with this split.
    const index_t pack_steps = 4 * ((d + 7) / 8);
    const index_t pack_per = ((ahead_end - ahead + 63) / 64 / 2 + pack_steps - 1) / pack_steps;
    for (int p = 0; p < 4; ++p) {
        if (norms) {
            avx2_pack8f<true>(r + 8 * p, d, Pf + 8 * p * d, sq_norm + 8 * p, ahead, ahead_end, pack_per);
        } else {
            avx2_pack8f<false>(r + 8 * p, d, Pf + 8 * p * d, sq_norm + 8 * p, ahead, ahead_end, pack_per);
        }
    }
    index_t steps = 0;
    for (index_t g = 0; g < wc.count; ++g) steps += (g + 1 < wc.count ? wide_group : wc.last_r) > 6 ? 2 : 1;
    const index_t lines = (ahead_end - ahead + 63) / 64, per = (lines + 2 * steps * d - 1) / (2 * steps * d);
    const __m256 vinf = _mm256_set1_ps(std::numeric_limits<float>::infinity());
    for (int h = 0; h < 2; ++h) {  // rows 16 h .. 16 h + 16: panels 2 h and 2 h + 1
        Avx2Best<Avx2F32> st{{vinf, vinf}, {vinf, vinf}, {_mm256_setzero_si256(), _mm256_setzero_si256()}};
        const float* P0 = Pf + 16 * h * d;
        avx2_groups<Avx2F32, false>(P0, P0 + 8 * d, 8, d, wc.groups_f.data(), wc.sq_norms_f.data(), wc.count,
                                    wc.last_r, st, nullptr, ahead, ahead_end, per);
        for (int q = 0; q < 2; ++q) {
            _mm256_storeu_ps(best + 16 * h + 8 * q, st.b[q]);
            _mm256_storeu_ps(second + 16 * h + 8 * q, st.s[q]);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(arg + 16 * h + 8 * q), st.a[q]);
        }
    }
}

// Second tier on AVX2: nearest16_avx512's outputs for the points of the two double
// B panels at P (2 x d x 8), bit for bit.
DIFFCLUST_AVX2_FMA __attribute__((noinline)) inline void nearest16_avx2(const double* P, index_t d,
                                                                       const WideCenters& wc, double* best,
                                                                       double* second, long long* arg,
                                                                       double* sq_norm) {
    const __m256d vinf = _mm256_set1_pd(inf);
    const char* none = nullptr;
    for (int p = 0; p < 2; ++p) {  // points 8 p .. 8 p + 8: the panel's two halves
        Avx2Best<Avx2F64> st{{vinf, vinf}, {vinf, vinf}, {_mm256_setzero_si256(), _mm256_setzero_si256()}};
        __m256d xn[2] = {_mm256_setzero_pd(), _mm256_setzero_pd()};
        const double* P0 = P + 8 * p * d;
        avx2_groups<Avx2F64, true>(P0, P0 + 4, 8, d, wc.groups.data(), wc.sq_norms.data(), wc.count, wc.last_r, st,
                                   xn, none, nullptr, 0);
        for (int q = 0; q < 2; ++q) {
            const index_t o = 8 * p + 4 * q;
            _mm256_storeu_pd(sq_norm + o, xn[q]);
            _mm256_storeu_pd(best + o, st.b[q]);
            _mm256_storeu_pd(second + o, st.s[q]);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(arg + o), st.a[q]);
        }
    }
}
// settle32_avx512 on AVX2 (the same verdicts, labels and deferred rows, four rows
// at a time): a row whose gap second - best clears rel2 (xn + cmax2) + floor (and
// whose xn <= wide_f_limit) takes label arg; the others are appended to
// deferred[undecided ..]. Returns the labels changed.
DIFFCLUST_AVX2_FMA __attribute__((noinline)) inline index_t settle32_avx2(const float* best, const float* second,
                                                                         const int* arg, const double* xn,
                                                                         index_t cnt, double rel2, double cmax2,
                                                                         double floor, index_t i0, index_t* labels,
                                                                         index_t* deferred, index_t& undecided) {
    static_assert(sizeof(index_t) == 8, "labels are 64-bit lanes here");
    index_t changed = 0;
    const __m256d vrel2 = _mm256_set1_pd(rel2), vcmax2 = _mm256_set1_pd(cmax2), vfloor = _mm256_set1_pd(floor);
    const __m256d limit = _mm256_set1_pd(wide_f_limit);
    index_t o = 0;
    for (; o + 4 <= cnt; o += 4) {
        const __m256d x = _mm256_loadu_pd(xn + o);
        const __m256d b = _mm256_cvtps_pd(_mm_loadu_ps(best + o)), s = _mm256_cvtps_pd(_mm_loadu_ps(second + o));
        const __m256d err = _mm256_add_pd(_mm256_mul_pd(vrel2, _mm256_add_pd(x, vcmax2)), vfloor);
        const __m256d ok = _mm256_and_pd(_mm256_cmp_pd(x, limit, _CMP_LE_OQ),
                                         _mm256_cmp_pd(_mm256_sub_pd(s, b), err, _CMP_GT_OQ));
        const __m256i a = _mm256_cvtepi32_epi64(_mm_loadu_si128(reinterpret_cast<const __m128i*>(arg + o)));
        __m256i* dst = reinterpret_cast<__m256i*>(labels + i0 + o);
        const __m256i old = _mm256_loadu_si256(dst);
        const __m256i okm = _mm256_castpd_si256(ok);
        const int moved = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_andnot_si256(_mm256_cmpeq_epi64(old, a), okm)));
        changed += __builtin_popcount(static_cast<unsigned>(moved));
        _mm256_storeu_si256(dst, _mm256_blendv_epi8(old, a, okm));
        const int left = ~_mm256_movemask_pd(ok) & 0xF;
        for (int w = 0; w < 4; ++w)
            if (left >> w & 1) deferred[undecided++] = i0 + o + w;
    }
    for (; o < cnt; ++o) {  // the last rows one at a time, as assign_rows_wide's loop
        const double err = rel2 * (xn[o] + cmax2) + floor;
        const double bw = best[o], sw = second[o];
        if (!(xn[o] <= wide_f_limit && sw - bw > err)) {
            deferred[undecided++] = i0 + o;
            continue;
        }
        changed += labels[i0 + o] != arg[o];
        labels[i0 + o] = arg[o];
    }
    return changed;
}
// The update's sums for the consecutive float64 rows [i0, i1) on AVX2 (d a
// multiple of 4), bit for bit the portable loop's: sums[l * d + t] += x_t (with
// weights, += w_i * x_t: a product and then a sum) and weights[l] += w_i, row by
// row in row order.
template <int Chunks>
DIFFCLUST_AVX2_FMA DIFFCLUST_ALWAYS_INLINE void add_rows_fixed(const double* X, index_t d, index_t i0, index_t i1,
                                                               const index_t* labels, const double* w, double* sums,
                                                               double* weights) {
    for (index_t i = i0; i < i1; ++i) {
        const double* x = X + i * d;
        const index_t l = labels[i];
        double* s = sums + l * d;
        const double wi = w ? w[i] : 1.0;
        const __m256d vw = _mm256_set1_pd(wi);
        const index_t chunks = Chunks > 0 ? Chunks : d / 4;
#pragma GCC unroll 16
        for (index_t q = 0; q < chunks; ++q) {
            const __m256d v = _mm256_loadu_pd(x + 4 * q);
            _mm256_storeu_pd(s + 4 * q, _mm256_add_pd(_mm256_loadu_pd(s + 4 * q), w ? _mm256_mul_pd(vw, v) : v));
        }
        weights[l] += wi;
    }
}

DIFFCLUST_AVX2_FMA __attribute__((noinline)) inline void add_rows_avx2(const double* X, index_t d, index_t i0,
                                                                       index_t i1, const index_t* labels,
                                                                       const double* w, double* sums,
                                                                       double* weights) {
    switch (d) {
        case 8: add_rows_fixed<2>(X, d, i0, i1, labels, w, sums, weights); break;
        case 16: add_rows_fixed<4>(X, d, i0, i1, labels, w, sums, weights); break;
        case 32: add_rows_fixed<8>(X, d, i0, i1, labels, w, sums, weights); break;
        case 64: add_rows_fixed<16>(X, d, i0, i1, labels, w, sums, weights); break;
        default: add_rows_fixed<0>(X, d, i0, i1, labels, w, sums, weights); break;
    }
}

// Four features (from t) of one row in double: the first `tail` when tail < 4,
// the others read as 0.
DIFFCLUST_AVX2_FMA DIFFCLUST_ALWAYS_INLINE __m256d avx2_row4d(const double* r, index_t t, index_t tail) {
    if (tail >= 4) return _mm256_loadu_pd(r + t);
    return _mm256_maskload_pd(r + t, _mm256_cmpgt_epi64(_mm256_set1_epi64x(tail), _mm256_setr_epi64x(0, 1, 2, 3)));
}
DIFFCLUST_AVX2_FMA DIFFCLUST_ALWAYS_INLINE __m256d avx2_row4d(const float* r, index_t t, index_t tail) {
    if (tail >= 4) return _mm256_cvtps_pd(_mm_loadu_ps(r + t));
    return _mm256_cvtps_pd(
        _mm_maskload_ps(r + t, _mm_cmpgt_epi32(_mm_set1_epi32(static_cast<int>(tail)), _mm_setr_epi32(0, 1, 2, 3))));
}

// sq_distances_rows32_avx512 on AVX2, for the consecutive rows i0 .. i0 + count
// (count <= 16), bit for bit sq_distances_labelled8: out[w] = sum_t (x_t - c_t)^2
// (c the row's labelled centre) in increasing t, a product and then a sum. The
// differences of four rows and four features are transposed in registers (unpack,
// then 128-bit halves) instead of packed into panels; four groups of four rows keep
// four chains of sums in flight. Padding rows repeat the last row.
template <class T>
DIFFCLUST_AVX2_FMA __attribute__((noinline)) void sq_distances_rows16_avx2(const T* X, index_t d, index_t i0,
                                                                          index_t count, const double* C,
                                                                          const index_t* labels, double* out) {
    constexpr int groups = 4;
    const T* xr[groups * 4];
    const double* cr[groups * 4];
    labelled_rows(X, d, i0, count, C, labels, groups * 4, xr, cr);
    __m256d acc[groups];
#pragma GCC unroll 4
    for (int g = 0; g < groups; ++g) acc[g] = _mm256_setzero_pd();
    for (index_t t = 0; t < d; t += 4) {
        // features past d read as 0 on both sides: they add +0, which changes no sum
        const index_t tail = std::min<index_t>(4, d - t);
#pragma GCC unroll 4
        for (int g = 0; g < groups; ++g) {
            __m256d v[4];
#pragma GCC unroll 4
            for (int w = 0; w < 4; ++w)
                v[w] = _mm256_sub_pd(avx2_row4d(xr[4 * g + w], t, tail), avx2_row4d(cr[4 * g + w], t, tail));
            const __m256d a = _mm256_unpacklo_pd(v[0], v[1]);  // features 0, 2 of rows 0, 1
            const __m256d b = _mm256_unpackhi_pd(v[0], v[1]);  // 1, 3
            const __m256d c = _mm256_unpacklo_pd(v[2], v[3]);  // 0, 2 of rows 2, 3
            const __m256d e = _mm256_unpackhi_pd(v[2], v[3]);  // 1, 3
            const __m256d f0 = _mm256_permute2f128_pd(a, c, 0x20), f1 = _mm256_permute2f128_pd(b, e, 0x20);
            const __m256d f2 = _mm256_permute2f128_pd(a, c, 0x31), f3 = _mm256_permute2f128_pd(b, e, 0x31);
            acc[g] = _mm256_add_pd(acc[g], _mm256_mul_pd(f0, f0));
            acc[g] = _mm256_add_pd(acc[g], _mm256_mul_pd(f1, f1));
            acc[g] = _mm256_add_pd(acc[g], _mm256_mul_pd(f2, f2));
            acc[g] = _mm256_add_pd(acc[g], _mm256_mul_pd(f3, f3));
        }
    }
#pragma GCC unroll 4
    for (int g = 0; g < groups; ++g) _mm256_storeu_pd(out + 4 * g, acc[g]);
}
#else  // never called (use_wide_kernel() is false without the AVX2 path)
[[noreturn]] inline index_t settle32_avx2(const float*, const float*, const int*, const double*, index_t, double,
                                          double, double, index_t, index_t*, index_t*, index_t&) {
    std::abort();
}
template <class T>
[[noreturn]] inline void nearest32f_avx2(const T* const*, index_t, const WideCenters&, float*, float*, float*, int*,
                                         double*, bool, const char*, const char*) {
    std::abort();
}
template <class T>
[[noreturn]] inline void sq_distances_rows16_avx2(const T*, index_t, index_t, index_t, const double*, const index_t*,
                                                  double*) {
    std::abort();
}
[[noreturn]] inline void nearest16_avx2(const double*, index_t, const WideCenters&, double*, double*, long long*,
                                        double*) {
    std::abort();
}
#endif

// Tests only: true makes the passes use these AVX2 kernels on a CPU that has
// AVX-512 too (the labels are the same; the tests check that they are).
inline std::atomic<bool>& avx512_kernel_disabled() {
    static std::atomic<bool> disabled{false};
    return disabled;
}

// Whether the two-tier kernels run on this CPU, and whether in AVX-512 (else AVX2).
inline bool use_wide_avx512() {
#ifdef DIFFCLUST_HAVE_AVX512_PATH
    return cpu_has_avx512() && !wide_kernel_disabled().load(std::memory_order_relaxed) &&
           !avx512_kernel_disabled().load(std::memory_order_relaxed);
#else
    return false;
#endif
}

inline bool use_wide_kernel() {
    if (use_wide_avx512()) return true;
#ifdef DIFFCLUST_HAVE_AVX2_PATH
    return cpu_has_avx2_fma() && !wide_kernel_disabled().load(std::memory_order_relaxed);
#else
    return false;
#endif
}

}  // namespace diffclust::kmeans_detail
