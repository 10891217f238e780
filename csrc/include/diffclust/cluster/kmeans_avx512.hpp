// The AVX-512 kernels of k-means and k-means++ (kmeans.hpp, kmeans_plusplus.hpp):
// Lloyd's two tiers (float32 then float64, on rows read in place and transposed
// in registers), the verdicts of consecutive rows, the inertia's distances and
// k-means++'s dot products. Every one gives the values of the portable kernels in
// kmeans_kernels.hpp (the labels, sums and potentials are the same bit for bit);
// they run only when the CPU has AVX-512 (use_wide_kernel).
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <vector>

#include "diffclust/cluster/kmeans_kernels.hpp"
#include "diffclust/core/simd.hpp"
#include "diffclust/core/tiles.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust::kmeans_detail {

// The AVX-512 kernels (any k, used whenever the CPU has AVX-512), two tiers.
//
// First tier, float32 (16 lanes): 32 points (their rows read in place, converted
// and transposed in registers into two 16-lane panels, pack16f) against groups of
// up to 12 centres (float copies of
// the centres, wide_f[t * r + j] for the group's r centres, the last group
// rounded up to even), the centre value broadcast into fused multiply-adds: 24
// accumulators, one per centre and panel. Best, second and arg are kept as in
// nearest8 (strict <, first on ties). Its error: with u = 2^-24 and the inputs
// rounded to float, |fl(g_j) - (D_j - ||x||^2)| <= (d + 3) u (||x|| + ||c_j||)^2
// (the conversions of x, c and ||c||^2, the d fused steps and the last
// subtraction), plus absolute terms below 2^-140 d from float's subnormal range;
// the first tier's margin is margin_factor_f(d) (twice that bound for both
// values, times 4) plus d 2^-140. The float values cannot overflow while
// ||x||^2 and max ||c||^2 are at most 2^100 (then |x_t c_t| <= 2^100): a point
// above that, or a pass whose centres are, is left to the second tier.
//
// Second tier, float64 (8 lanes): the points the first tier left undecided (a
// gap within its margin), 16 at a time, on double panels and double centres
// with the margin of nearest8; what is still undecided goes to exact_nearest.
// Either way the label is the exact argmin, as for every other kernel.
constexpr index_t wide_rows = 4 * pw;   // points per first-tier call (32)
constexpr index_t wide2_rows = 2 * pw;  // points per second-tier call (16)
constexpr index_t wide_group = 12;      // centres per group
constexpr index_t wide_cands = 8;       // k-means++ candidates per call of plusplus_dots16_avx512
constexpr double wide_f_limit = 0x1p100;  // largest ||x||^2 and ||c||^2 for the float tier

inline double margin_factor_f(index_t d) { return 8.0 * static_cast<double>(d + 4) * 0x1p-24; }
inline double margin_floor_f(index_t d) { return static_cast<double>(d) * 0x1p-140; }

struct WideCenters {
    std::vector<double> groups, sq_norms;  // per group d x wide_group (the last d x last_r), norms padded +inf
    std::vector<float> groups_f, sq_norms_f;
    double max_norm = 0.0;
    index_t count = 0, last_r = 0;  // groups, centres in the last group (even)
    bool float_ok = false;          // max ||c||^2 <= wide_f_limit
    bool avx512 = true;             // the AVX-512 kernels (else the AVX2 ones, kmeans_avx2.hpp)

    void pack(const double* C, index_t k, index_t d) {
        count = tiles::ceil_div(k, wide_group);
        last_r = (k - (count - 1) * wide_group + 1) / 2 * 2;
        groups.assign(static_cast<std::size_t>(count * wide_group * d), 0.0);
        sq_norms.assign(static_cast<std::size_t>(count * wide_group), inf);
        max_norm = 0.0;
        for (index_t j = 0; j < k; ++j) {
            const index_t g = j / wide_group, r = g + 1 < count ? wide_group : last_r;
            double* A = groups.data() + g * wide_group * d;
            double s = 0.0;
            for (index_t t = 0; t < d; ++t) {
                A[t * r + j % wide_group] = C[j * d + t];
                s += C[j * d + t] * C[j * d + t];
            }
            sq_norms[static_cast<std::size_t>(j)] = s;
            max_norm = std::max(max_norm, std::sqrt(s));
        }
        float_ok = max_norm * max_norm <= wide_f_limit;
        groups_f.assign(groups.begin(), groups.end());
        sq_norms_f.resize(sq_norms.size());
        for (std::size_t j = 0; j < sq_norms.size(); ++j)
            sq_norms_f[j] = float_ok ? static_cast<float>(sq_norms[j]) : std::numeric_limits<float>::infinity();
    }
};

// Memory to prefetch into L2 while a kernel computes: `count` rows of `lines`
// cache lines each, `per_step` lines per step of the kernel's loop.
struct Ahead {
    const char* rows[16];
    index_t count = 0, lines = 0, per_step = 0;
};

#ifdef DIFFCLUST_HAVE_AVX512_PATH
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // see rng.hpp
#pragma GCC diagnostic ignored "-Wuninitialized"        // the same (_mm512_undefined_pd in unpack and shuffles)
#endif
// The two tiers' lanes: float32 (16 per register) and float64 (8), with the
// index of the best centre in an integer lane of the same width.
struct LanesF32 {
    using T = float;
    using V = __m512;
    using M = __mmask16;
    using J = int;
    static constexpr index_t width = 16;
    DIFFCLUST_AVX512 static DIFFCLUST_ALWAYS_INLINE V zero() { return _mm512_setzero_ps(); }
    DIFFCLUST_AVX512 static DIFFCLUST_ALWAYS_INLINE V set1(T v) { return _mm512_set1_ps(v); }
    DIFFCLUST_AVX512 static DIFFCLUST_ALWAYS_INLINE V load(const T* p) { return _mm512_loadu_ps(p); }
    DIFFCLUST_AVX512 static DIFFCLUST_ALWAYS_INLINE V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
    DIFFCLUST_AVX512 static DIFFCLUST_ALWAYS_INLINE V fnmadd(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }
    DIFFCLUST_AVX512 static DIFFCLUST_ALWAYS_INLINE V min(V a, V b) { return _mm512_min_ps(a, b); }
    DIFFCLUST_AVX512 static DIFFCLUST_ALWAYS_INLINE M less(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
    DIFFCLUST_AVX512 static DIFFCLUST_ALWAYS_INLINE V pick(V a, M m, V b) { return _mm512_mask_mov_ps(a, m, b); }
    DIFFCLUST_AVX512 static DIFFCLUST_ALWAYS_INLINE __m512i index(J j) { return _mm512_set1_epi32(j); }
    DIFFCLUST_AVX512 static DIFFCLUST_ALWAYS_INLINE __m512i pick(__m512i a, M m, __m512i b) {
        return _mm512_mask_mov_epi32(a, m, b);
    }
};

struct LanesF64 {
    using T = double;
    using V = __m512d;
    using M = __mmask8;
    using J = long long;
    static constexpr index_t width = 8;
    DIFFCLUST_AVX512 static DIFFCLUST_ALWAYS_INLINE V zero() { return _mm512_setzero_pd(); }
    DIFFCLUST_AVX512 static DIFFCLUST_ALWAYS_INLINE V set1(T v) { return _mm512_set1_pd(v); }
    DIFFCLUST_AVX512 static DIFFCLUST_ALWAYS_INLINE V load(const T* p) { return _mm512_loadu_pd(p); }
    DIFFCLUST_AVX512 static DIFFCLUST_ALWAYS_INLINE V fmadd(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
    DIFFCLUST_AVX512 static DIFFCLUST_ALWAYS_INLINE V fnmadd(V a, V b, V c) { return _mm512_fnmadd_pd(a, b, c); }
    DIFFCLUST_AVX512 static DIFFCLUST_ALWAYS_INLINE V min(V a, V b) { return _mm512_min_pd(a, b); }
    DIFFCLUST_AVX512 static DIFFCLUST_ALWAYS_INLINE M less(V a, V b) { return _mm512_cmp_pd_mask(a, b, _CMP_LT_OQ); }
    DIFFCLUST_AVX512 static DIFFCLUST_ALWAYS_INLINE V pick(V a, M m, V b) { return _mm512_mask_mov_pd(a, m, b); }
    DIFFCLUST_AVX512 static DIFFCLUST_ALWAYS_INLINE __m512i index(J j) { return _mm512_set1_epi64(j); }
    DIFFCLUST_AVX512 static DIFFCLUST_ALWAYS_INLINE __m512i pick(__m512i a, M m, __m512i b) {
        return _mm512_mask_mov_epi64(a, m, b);
    }
};

// The running best, second and arg of two panels of points (one register each)
// over the centres seen so far.
template <class W>
struct WideBest {
    typename W::V b[2], s[2];
    __m512i a[2];
};

// One group of R centres (A: d x R, cn: their squared norms, j0: the first one's
// index) against the two panels at P (2 x d x W::width): acc = <x, c> by fused
// multiply-adds, then g = cn - 2 acc into the running best (strict <: the first
// centre on ties). With Norms, xn (float64 lanes) also sums x * x. [ahead,
// ahead_end): memory to prefetch into L2 meanwhile, four lines a step (the next
// block's rows: spread over the compute, the prefetches overlap it instead of
// stalling in a burst).
template <class W, int R, bool Norms>
DIFFCLUST_AVX512 DIFFCLUST_ALWAYS_INLINE void wide_group_step(const typename W::T* DIFFCLUST_RESTRICT P, index_t d,
                                                              const typename W::T* DIFFCLUST_RESTRICT A,
                                                              const typename W::T* cn, typename W::J j0,
                                                              WideBest<W>& st, typename W::V* xn, const char*& ahead,
                                                              const char* ahead_end) {
    using V = typename W::V;
    constexpr index_t L = W::width;
    V acc0[R], acc1[R];
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) acc0[r] = W::zero(), acc1[r] = W::zero();
    for (index_t t = 0; t < d; ++t) {
        if (ahead < ahead_end) {
            for (int q = 0; q < 4; ++q) _mm_prefetch(ahead + 64 * q, _MM_HINT_T1);
            ahead += 256;
        }
        const V x0 = W::load(P + t * L), x1 = W::load(P + (d + t) * L);
        if constexpr (Norms) xn[0] = W::fmadd(x0, x0, xn[0]), xn[1] = W::fmadd(x1, x1, xn[1]);
        const typename W::T* a_t = A + t * R;
#pragma GCC unroll 12
        for (int r = 0; r < R; ++r) {
            const V c = W::set1(a_t[r]);
            acc0[r] = W::fmadd(x0, c, acc0[r]);
            acc1[r] = W::fmadd(x1, c, acc1[r]);
        }
    }
    const V two = W::set1(2);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
        const V c = W::set1(cn[r]);
        const __m512i vj = W::index(j0 + r);
        for (int h = 0; h < 2; ++h) {
            const V g = W::fnmadd(two, h == 0 ? acc0[r] : acc1[r], c);  // cn - 2 acc, one rounding
            const typename W::M lt = W::less(g, st.b[h]);
            st.s[h] = W::pick(W::min(g, st.s[h]), lt, st.b[h]);
            st.b[h] = W::pick(st.b[h], lt, g);
            st.a[h] = W::pick(st.a[h], lt, vj);
        }
    }
}

// wide_group_step for a run-time R (even, 2 to 12). No lambdas here: a lambda's
// body would not carry the AVX-512 target the steps need to be inlined.
template <class W, bool Norms>
DIFFCLUST_AVX512 DIFFCLUST_ALWAYS_INLINE void wide_group_any(index_t r, const typename W::T* P, index_t d,
                                                             const typename W::T* A, const typename W::T* cn,
                                                             typename W::J j0, WideBest<W>& st, typename W::V* xn,
                                                             const char*& ahead, const char* ahead_end) {
    switch (r) {
        case 2: wide_group_step<W, 2, Norms>(P, d, A, cn, j0, st, xn, ahead, ahead_end); break;
        case 4: wide_group_step<W, 4, Norms>(P, d, A, cn, j0, st, xn, ahead, ahead_end); break;
        case 6: wide_group_step<W, 6, Norms>(P, d, A, cn, j0, st, xn, ahead, ahead_end); break;
        case 8: wide_group_step<W, 8, Norms>(P, d, A, cn, j0, st, xn, ahead, ahead_end); break;
        case 10: wide_group_step<W, 10, Norms>(P, d, A, cn, j0, st, xn, ahead, ahead_end); break;
        default: wide_group_step<W, 12, Norms>(P, d, A, cn, j0, st, xn, ahead, ahead_end); break;
    }
}

// Every group of wc (the centres of W's type: the last group's R is even, up to
// 12) against the two panels at P; the norms (with Norms) over the first group.
template <class W, bool Norms>
DIFFCLUST_AVX512 DIFFCLUST_ALWAYS_INLINE void wide_groups(const typename W::T* P, index_t d,
                                                          const typename W::T* groups, const typename W::T* sq_norms,
                                                          index_t count, index_t last_r, WideBest<W>& st,
                                                          typename W::V* xn, const char* ahead,
                                                          const char* ahead_end) {
    for (index_t g = 0; g < count; ++g) {
        const typename W::T* A = groups + g * wide_group * d;
        const typename W::T* cn = sq_norms + g * wide_group;
        const auto j0 = static_cast<typename W::J>(g * wide_group);
        const index_t r = g + 1 < count ? wide_group : last_r;
        if (g == 0) {
            wide_group_any<W, Norms>(r, P, d, A, cn, j0, st, xn, ahead, ahead_end);
        } else {
            wide_group_any<W, false>(r, P, d, A, cn, j0, st, xn, ahead, ahead_end);
        }
    }
}

// Eight features (from t) of one row as float: x_t .. x_{t+7} (the first `tail`
// only when tail < 8, the others read as 0), and their squares added to the row's
// double accumulator.
template <bool Norms>
DIFFCLUST_AVX512 DIFFCLUST_ALWAYS_INLINE __m256 row8f(const double* r, index_t t, index_t tail, __m512d& sq) {
    const __m512d x = tail < 8 ? _mm512_maskz_loadu_pd(static_cast<__mmask8>((1u << tail) - 1), r + t)
                               : _mm512_loadu_pd(r + t);
    if constexpr (Norms) sq = _mm512_fmadd_pd(x, x, sq);
    return _mm512_cvtpd_ps(x);
}
template <bool Norms>
DIFFCLUST_AVX512 DIFFCLUST_ALWAYS_INLINE __m256 row8f(const float* r, index_t t, index_t tail, __m512d& sq) {
    const __m256 x = tail < 8 ? _mm256_maskz_loadu_ps(static_cast<__mmask8>((1u << tail) - 1), r + t)
                              : _mm256_loadu_ps(r + t);
    if constexpr (Norms) {
        const __m512d xd = _mm512_cvtps_pd(x);
        sq = _mm512_fmadd_pd(xd, xd, sq);
    }
    return x;
}

// Lane w of the result: the sum of the eight lanes of v[w] (pairs, then halves,
// then the two halves of each row: 14 shuffles and 7 additions for the eight).
DIFFCLUST_AVX512 DIFFCLUST_ALWAYS_INLINE __m512d lane_sums8(const __m512d* v) {
    __m512d a[4];
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q)
        a[q] = _mm512_add_pd(_mm512_unpacklo_pd(v[2 * q], v[2 * q + 1]), _mm512_unpackhi_pd(v[2 * q], v[2 * q + 1]));
    const __m512d b0 = _mm512_add_pd(_mm512_shuffle_f64x2(a[0], a[1], 0x88), _mm512_shuffle_f64x2(a[0], a[1], 0xDD));
    const __m512d b1 = _mm512_add_pd(_mm512_shuffle_f64x2(a[2], a[3], 0x88), _mm512_shuffle_f64x2(a[2], a[3], 0xDD));
    return _mm512_add_pd(_mm512_shuffle_f64x2(b0, b1, 0x88), _mm512_shuffle_f64x2(b0, b1, 0xDD));
}

// The first tier's panel of 16 rows r[0 .. 16), read in place: Pf[t * 16 + w] =
// float(x_w[t]) for t < d, 8 features at a time (each row's 8 values converted to
// float, then the 16 x 8 block transposed in registers: rows w and w + 8 share a
// register, then unpack, shuffle and a two-source permutation, as the 8 x 8
// transpose of float vectors in each half), and the squared norms in double
// (sq_norm[w]: eight partial sums in lanes, added at the end; a norm only sizes
// the margins and bounds, whose error bounds hold for any summation order; only
// with Norms).
template <bool Norms, class T>
DIFFCLUST_AVX512 DIFFCLUST_ALWAYS_INLINE void pack16f(const T* const* r, index_t d, float* Pf, double* sq_norm) {
    __m512d sq[16];
#pragma GCC unroll 16
    for (int w = 0; w < 16; ++w) sq[w] = _mm512_setzero_pd();
    const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
    const __m512i hi = _mm512_setr_epi32(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    for (index_t t = 0; t < d; t += 8) {
        const index_t tail = std::min<index_t>(8, d - t);
        __m512 z[8];
#pragma GCC unroll 8
        for (int w = 0; w < 8; ++w) {
            const __m256 a = row8f<Norms>(r[w], t, tail, sq[w]);
            const __m256 b = row8f<Norms>(r[w + 8], t, tail, sq[w + 8]);
            z[w] = _mm512_insertf32x8(_mm512_castps256_ps512(a), b, 1);
        }
        __m512 u[8], v[8];
#pragma GCC unroll 4
        for (int q = 0; q < 4; ++q) {
            u[2 * q] = _mm512_unpacklo_ps(z[2 * q], z[2 * q + 1]);
            u[2 * q + 1] = _mm512_unpackhi_ps(z[2 * q], z[2 * q + 1]);
        }
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {  // rows 0-3 (h = 0) or 4-7, and 8 more
            v[4 * h] = _mm512_shuffle_ps(u[4 * h], u[4 * h + 2], 0x44);
            v[4 * h + 1] = _mm512_shuffle_ps(u[4 * h], u[4 * h + 2], 0xEE);
            v[4 * h + 2] = _mm512_shuffle_ps(u[4 * h + 1], u[4 * h + 3], 0x44);
            v[4 * h + 3] = _mm512_shuffle_ps(u[4 * h + 1], u[4 * h + 3], 0xEE);
        }
        // v[f] (f < 4) holds feature f (128-bit lanes 0 and 2) and f + 4 (lanes 1 and 3)
        // of rows 0-3 and 8-11; v[f + 4] the same of rows 4-7 and 12-15
        float* o = Pf + t * 16;
#pragma GCC unroll 4
        for (int f = 0; f < 4; ++f) {
            if (f < tail) _mm512_storeu_ps(o + f * 16, _mm512_permutex2var_ps(v[f], lo, v[f + 4]));
            if (f + 4 < tail) _mm512_storeu_ps(o + (f + 4) * 16, _mm512_permutex2var_ps(v[f], hi, v[f + 4]));
        }
    }
    if constexpr (Norms) {
        _mm512_storeu_pd(sq_norm, lane_sums8(sq));
        _mm512_storeu_pd(sq_norm + 8, lane_sums8(sq + 8));
    }
}

// First tier: the 32 rows r[0 .. 32) (read in place, packed by pack16f into Pf,
// scratch of 32 d floats) over every centre of wc: best, second (as float), arg
// and, with norms, the squared norms (double; left unwritten without).
template <class T>
DIFFCLUST_AVX512 __attribute__((noinline)) void nearest32f_avx512(const T* const* r, index_t d, const WideCenters& wc,
                                                                 float* Pf, float* best, float* second, int* arg,
                                                                 double* sq_norm, bool norms, const char* ahead,
                                                                 const char* ahead_end) {
    if (ahead < ahead_end) {
        // The steps prefetch whole lines from `ahead`, as many as the rows have bytes:
        // rows that start inside a line (NumPy's) reach into one line more, prefetched
        // here (paired runs: a Lloyd pass 1.5% faster at d = 16, 3% at d = 64).
        ahead = reinterpret_cast<const char*>(reinterpret_cast<std::uintptr_t>(ahead) & ~std::uintptr_t(63));
        _mm_prefetch(ahead_end - 1, _MM_HINT_T1);
    }
    if (norms) {
        pack16f<true>(r, d, Pf, sq_norm);
        pack16f<true>(r + 16, d, Pf + 16 * d, sq_norm + 16);
    } else {
        pack16f<false>(r, d, Pf, sq_norm);
        pack16f<false>(r + 16, d, Pf + 16 * d, sq_norm + 16);
    }
    const __m512 vinf = _mm512_set1_ps(std::numeric_limits<float>::infinity());
    WideBest<LanesF32> st{{vinf, vinf}, {vinf, vinf}, {_mm512_setzero_si512(), _mm512_setzero_si512()}};
    wide_groups<LanesF32, false>(Pf, d, wc.groups_f.data(), wc.sq_norms_f.data(), wc.count, wc.last_r, st, nullptr,
                                 ahead, ahead_end);
    for (int h = 0; h < 2; ++h) {
        _mm512_storeu_ps(best + 16 * h, st.b[h]);
        _mm512_storeu_ps(second + 16 * h, st.s[h]);
        _mm512_storeu_si512(arg + 16 * h, st.a[h]);
    }
}

// Eight features (from t; the first `mask` ones) of a row as double.
DIFFCLUST_AVX512 DIFFCLUST_ALWAYS_INLINE __m512d row8d(const double* r, __mmask8 mask) {
    return _mm512_maskz_loadu_pd(mask, r);
}
DIFFCLUST_AVX512 DIFFCLUST_ALWAYS_INLINE __m512d row8d(const float* r, __mmask8 mask) {
    return _mm512_cvtps_pd(_mm256_maskz_loadu_ps(mask, r));
}

// Whether the float64 rows of X (d features each) all start the same 8 to 56 bytes
// into a cache line, as the rows of a NumPy array do (numpy aligns its data to 16
// bytes, not 64) when d is a multiple of 8.
inline bool rows_off_line(const double* X, index_t d) {
    const std::uintptr_t offset = reinterpret_cast<std::uintptr_t>(X) & 63;
    return d % 8 == 0 && offset != 0 && offset % 8 == 0;
}

// The update's sums for the consecutive rows [i0, i1) when rows_off_line(X, d), on
// AVX-512, bit for bit the portable loop's: sums[l * d + t] += x_t (with weights,
// += w_i * x_t: a product and then a sum, never fused) and weights[l] += w_i (1
// without weights), row by row in row order. Each row is read by aligned loads of
// the lines it straddles (masked to its own bytes), joined by a permutation: loads
// across two lines made the update about 1.5 times slower (d = 16, k = 10).
DIFFCLUST_AVX512 __attribute__((noinline)) inline void add_rows_off_line_avx512(const double* X, index_t d,
                                                                              index_t i0, index_t i1,
                                                                              const index_t* labels, const double* w,
                                                                              double* sums, double* weights) {
    const auto lane = static_cast<long long>((reinterpret_cast<std::uintptr_t>(X) & 63) / 8);
    const __m512i index = _mm512_add_epi64(_mm512_set1_epi64(lane), _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
    const auto first = static_cast<__mmask8>(0xFFu << lane), last = static_cast<__mmask8>((1u << lane) - 1);
    for (index_t i = i0; i < i1; ++i) {
        const double* line = X + i * d - lane;  // 64-byte aligned
        const index_t l = labels[i];
        double* s = sums + l * d;
        const double wi = w ? w[i] : 1.0;
        const __m512d vw = _mm512_set1_pd(wi);
        __m512d a = _mm512_maskz_load_pd(first, line);
        for (index_t t = 0; t < d; t += 8) {
            const __m512d b = _mm512_maskz_load_pd(t + 8 < d ? __mmask8(0xFF) : last, line + t + 8);
            const __m512d x = _mm512_permutex2var_pd(a, index, b);
            _mm512_storeu_pd(s + t, _mm512_add_pd(_mm512_loadu_pd(s + t), w ? _mm512_mul_pd(vw, x) : x));
            a = b;
        }
        weights[l] += wi;
    }
}

// sq_distances_labelled8 for the consecutive rows i0 .. i0 + count (count <= 32) on
// AVX-512, bit for bit: out[w] = sum_t (x_t - c_t)^2 (c the row's labelled centre),
// each in increasing t by a product and then a sum. The differences of eight rows
// and eight features are transposed in registers (unpack, a two-source
// permutation, then 256-bit halves), so that no row is packed first; four groups of
// eight rows keep four chains of sums in flight (one group's chain of d additions
// leaves the adder idle most of the time: the final pass's inertia took 1.0 ms
// instead of 0.8 at n = 200 000, d = 16, k = 10).
template <class T>
DIFFCLUST_AVX512 __attribute__((noinline)) void sq_distances_rows32_avx512(const T* X, index_t d, index_t i0,
                                                                          index_t count, const double* C,
                                                                          const index_t* labels, double* out) {
    constexpr int groups = 4;
    const T* xr[groups * 8];
    const double* cr[groups * 8];
    labelled_rows(X, d, i0, count, C, labels, groups * 8, xr, cr);
    const __m512i pick_a = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
    const __m512i pick_b = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    __m512d acc[groups];
#pragma GCC unroll 4
    for (int g = 0; g < groups; ++g) acc[g] = _mm512_setzero_pd();
    for (index_t t = 0; t < d; t += 8) {
        // masked-out features read as 0 on both sides: they add +0, which changes no sum
        const __mmask8 mask = static_cast<__mmask8>(d - t >= 8 ? 0xFF : (1u << (d - t)) - 1);
#pragma GCC unroll 4
        for (int g = 0; g < groups; ++g) {
            const T* const* xg = xr + 8 * g;
            const double* const* cg = cr + 8 * g;
            __m512d v[8], u[8], f[8];
#pragma GCC unroll 8
            for (int w = 0; w < 8; ++w) v[w] = _mm512_sub_pd(row8d(xg[w] + t, mask), _mm512_maskz_loadu_pd(mask, cg[w] + t));
#pragma GCC unroll 4
            for (int q = 0; q < 4; ++q) {
                const __m512d lo = _mm512_unpacklo_pd(v[2 * q], v[2 * q + 1]);  // features 0, 2, 4, 6 of two rows
                const __m512d hi = _mm512_unpackhi_pd(v[2 * q], v[2 * q + 1]);  // 1, 3, 5, 7
                v[2 * q] = lo, v[2 * q + 1] = hi;
            }
#pragma GCC unroll 2
            for (int h = 0; h < 2; ++h) {  // rows 0-3 (h = 0) or 4-7
                u[4 * h] = _mm512_permutex2var_pd(v[4 * h], pick_a, v[4 * h + 2]);          // features 0, 4
                u[4 * h + 1] = _mm512_permutex2var_pd(v[4 * h], pick_b, v[4 * h + 2]);      // 2, 6
                u[4 * h + 2] = _mm512_permutex2var_pd(v[4 * h + 1], pick_a, v[4 * h + 3]);  // 1, 5
                u[4 * h + 3] = _mm512_permutex2var_pd(v[4 * h + 1], pick_b, v[4 * h + 3]);  // 3, 7
            }
            f[0] = _mm512_shuffle_f64x2(u[0], u[4], 0x44), f[4] = _mm512_shuffle_f64x2(u[0], u[4], 0xEE);
            f[2] = _mm512_shuffle_f64x2(u[1], u[5], 0x44), f[6] = _mm512_shuffle_f64x2(u[1], u[5], 0xEE);
            f[1] = _mm512_shuffle_f64x2(u[2], u[6], 0x44), f[5] = _mm512_shuffle_f64x2(u[2], u[6], 0xEE);
            f[3] = _mm512_shuffle_f64x2(u[3], u[7], 0x44), f[7] = _mm512_shuffle_f64x2(u[3], u[7], 0xEE);
#pragma GCC unroll 8
            for (int j = 0; j < 8; ++j) acc[g] = _mm512_add_pd(acc[g], _mm512_mul_pd(f[j], f[j]));
        }
    }
#pragma GCC unroll 4
    for (int g = 0; g < groups; ++g) _mm512_storeu_pd(out + 8 * g, acc[g]);
}

// k-means++'s dot products (kmeans_plusplus.hpp) on AVX-512: the 16 points of the
// two double B panels at P (2 x d x 8) against R <= wide_cands candidates (A[t * R
// + r] = c_r[t]): dots[r * 16 + w] = sum_t x_w[t] c_r[t], summed in increasing t
// by a product and then a sum (never fused: the values of tiles::micro_tile, bit
// for bit, whatever the instruction set). Meanwhile the rows of `ahead` are
// prefetched, spread over the steps.
template <int R>
DIFFCLUST_AVX512 DIFFCLUST_ALWAYS_INLINE void plusplus_dots16(const double* DIFFCLUST_RESTRICT P, index_t d,
                                                              const double* DIFFCLUST_RESTRICT A, double* dots,
                                                              const Ahead& ahead) {
    __m512d acc0[R], acc1[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) acc0[r] = _mm512_setzero_pd(), acc1[r] = _mm512_setzero_pd();
    index_t row = 0, line = 0;
    for (index_t t = 0; t < d; ++t) {
        for (index_t q = 0; q < ahead.per_step && row < ahead.count; ++q) {
            _mm_prefetch(ahead.rows[row] + 64 * line, _MM_HINT_T1);
            if (++line == ahead.lines) line = 0, ++row;
        }
        const __m512d x0 = _mm512_loadu_pd(P + t * pw), x1 = _mm512_loadu_pd(P + (d + t) * pw);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
            const __m512d c = _mm512_set1_pd(A[t * R + r]);
            acc0[r] = _mm512_add_pd(acc0[r], _mm512_mul_pd(x0, c));
            acc1[r] = _mm512_add_pd(acc1[r], _mm512_mul_pd(x1, c));
        }
    }
    for (; row < ahead.count; ++row, line = 0)  // what the steps did not cover
        for (; line < ahead.lines; ++line) _mm_prefetch(ahead.rows[row] + 64 * line, _MM_HINT_T1);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
        _mm512_storeu_pd(dots + r * 16, acc0[r]);
        _mm512_storeu_pd(dots + r * 16 + 8, acc1[r]);
    }
}

DIFFCLUST_AVX512 __attribute__((noinline)) inline void plusplus_dots16_avx512(const double* P, index_t d,
                                                                              const double* A, index_t R,
                                                                              double* dots, const Ahead& ahead) {
    switch (R) {
        case 1: plusplus_dots16<1>(P, d, A, dots, ahead); break;
        case 2: plusplus_dots16<2>(P, d, A, dots, ahead); break;
        case 3: plusplus_dots16<3>(P, d, A, dots, ahead); break;
        case 4: plusplus_dots16<4>(P, d, A, dots, ahead); break;
        case 5: plusplus_dots16<5>(P, d, A, dots, ahead); break;
        case 6: plusplus_dots16<6>(P, d, A, dots, ahead); break;
        case 7: plusplus_dots16<7>(P, d, A, dots, ahead); break;
        default: plusplus_dots16<8>(P, d, A, dots, ahead); break;
    }
}

// The first tier's verdicts on the rows i0 .. i0 + cnt (consecutive, cnt <= 32), as
// the scalar loop of assign_rows_wide: a row whose gap second - best clears
// rel2 (xn + cmax2) + floor (and whose xn <= wide_f_limit) takes label arg; the
// others are appended to deferred[undecided ..]. Returns the labels changed.
DIFFCLUST_AVX512 __attribute__((noinline)) inline index_t settle32_avx512(const float* best, const float* second,
                                                                         const int* arg, const double* xn,
                                                                         index_t cnt, double rel2, double cmax2,
                                                                         double floor, index_t i0, index_t* labels,
                                                                         index_t* deferred, index_t& undecided) {
    static_assert(sizeof(index_t) == 8, "labels are 64-bit lanes here");
    index_t changed = 0;
    const __m512d vrel2 = _mm512_set1_pd(rel2), vcmax2 = _mm512_set1_pd(cmax2), vfloor = _mm512_set1_pd(floor);
    const __m512d limit = _mm512_set1_pd(wide_f_limit);
    const __m512i lane = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
    for (index_t q = 0; q * 8 < cnt; ++q) {
        const index_t o = q * 8;
        const __mmask8 valid = static_cast<__mmask8>(cnt - o >= 8 ? 0xFF : (1u << (cnt - o)) - 1);
        const __m512d x = _mm512_maskz_loadu_pd(valid, xn + o);
        const __m512d b = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(valid, best + o));
        const __m512d s = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(valid, second + o));
        const __m512d err = _mm512_add_pd(_mm512_mul_pd(vrel2, _mm512_add_pd(x, vcmax2)), vfloor);
        const __mmask8 ok = _mm512_mask_cmp_pd_mask(_mm512_cmp_pd_mask(x, limit, _CMP_LE_OQ),
                                                    _mm512_sub_pd(s, b), err, _CMP_GT_OQ) &
                            valid;
        const __m512i a = _mm512_cvtepi32_epi64(_mm256_maskz_loadu_epi32(valid, arg + o));
        const __m512i old = _mm512_maskz_loadu_epi64(ok, labels + i0 + o);
        changed += __builtin_popcount(_mm512_mask_cmpneq_epi64_mask(ok, old, a));
        _mm512_mask_storeu_epi64(labels + i0 + o, ok, a);
        const __mmask8 left = valid & static_cast<__mmask8>(~ok);
        _mm512_mask_compressstoreu_epi64(deferred + undecided, left,
                                         _mm512_add_epi64(lane, _mm512_set1_epi64(i0 + o)));
        undecided += __builtin_popcount(left);
    }
    return changed;
}

// Second tier: best/second/arg and the squared norms (16 entries each) of the
// points of the two consecutive double B panels at P (2 x d x 8) over every
// centre of wc, in double (the rounding of g is within nearest8's margin: a
// fused sum rounds no worse).
DIFFCLUST_AVX512 __attribute__((noinline)) inline void nearest16_avx512(const double* P, index_t d,
                                                                       const WideCenters& wc, double* best,
                                                                       double* second, long long* arg,
                                                                       double* sq_norm) {
    const __m512d vinf = _mm512_set1_pd(inf);
    WideBest<LanesF64> st{{vinf, vinf}, {vinf, vinf}, {_mm512_setzero_si512(), _mm512_setzero_si512()}};
    __m512d xn[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()};
    wide_groups<LanesF64, true>(P, d, wc.groups.data(), wc.sq_norms.data(), wc.count, wc.last_r, st, xn, nullptr,
                                nullptr);
    for (int h = 0; h < 2; ++h) {
        _mm512_storeu_pd(sq_norm + 8 * h, xn[h]);
        _mm512_storeu_pd(best + 8 * h, st.b[h]);
        _mm512_storeu_pd(second + 8 * h, st.s[h]);
        _mm512_storeu_si512(arg + 8 * h, st.a[h]);
    }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#else  // never called (use_wide_avx512() is false without the AVX-512 path)
template <class T>
[[noreturn]] inline void nearest32f_avx512(const T* const*, index_t, const WideCenters&, float*, float*, float*, int*,
                                           double*, bool, const char*, const char*) {
    std::abort();
}
[[noreturn]] inline void nearest16_avx512(const double*, index_t, const WideCenters&, double*, double*, long long*,
                                          double*) {
    std::abort();
}
[[noreturn]] inline void plusplus_dots16_avx512(const double*, index_t, const double*, index_t, double*,
                                                const Ahead&) {
    std::abort();
}
template <class T>
[[noreturn]] inline void sq_distances_rows32_avx512(const T*, index_t, index_t, index_t, const double*,
                                                    const index_t*, double*) {
    std::abort();
}
inline bool rows_off_line(const double*, index_t) { return false; }
inline void add_rows_off_line_avx512(const double*, index_t, index_t, index_t, const index_t*, const double*, double*,
                                     double*) {}
inline index_t settle32_avx512(const float*, const float*, const int*, const double*, index_t, double, double, double,
                               index_t, index_t*, index_t*, index_t&) {
    return 0;
}
#endif

// Tests only: true makes every later pass use the portable kernels (the labels
// are the same either way; the tests check that they are).
inline std::atomic<bool>& wide_kernel_disabled() {
    static std::atomic<bool> disabled{false};
    return disabled;
}

}  // namespace diffclust::kmeans_detail
