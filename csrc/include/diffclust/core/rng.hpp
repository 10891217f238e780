// Counter-based normals: Philox4x32-10 (Salmon et al., SC'11) feeding a
// 256-layer ziggurat (Marsaglia & Tsang, 2000), both written for diffclust.
//
// The standard normal for (seed, sample s, edge {i, j}) is a pure function of
// those values: Philox's key is the 64-bit seed and its counter is (i, j, s, a)
// with i < j and a the attempt number (0 for the first draw, which the
// ziggurat accepts ~99% of the time). Results therefore do not depend on
// threads, chunking or the order in which edges are visited, and a backward
// pass regenerates the forward noise exactly. The streams differ from NumPy's.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "diffclust/core/simd.hpp"
#include "diffclust/core/types.hpp"


namespace diffclust {

using u32 = std::uint32_t;
using u64 = std::uint64_t;

struct Philox4x32 {
    static constexpr u32 M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
    static constexpr u32 W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;

    // Ten rounds of Philox4x32 on counter c with key (k0, k1), in place.
    static DIFFCLUST_ALWAYS_INLINE void rounds(u32& c0, u32& c1, u32& c2, u32& c3, u32 k0, u32 k1) noexcept {
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 10
#endif
        for (int r = 0; r < 10; ++r) {
            const u64 p0 = static_cast<u64>(M0) * c0;
            const u64 p1 = static_cast<u64>(M1) * c2;
            const u32 hi0 = static_cast<u32>(p0 >> 32), lo0 = static_cast<u32>(p0);
            const u32 hi1 = static_cast<u32>(p1 >> 32), lo1 = static_cast<u32>(p1);
            c0 = hi1 ^ c1 ^ k0;
            c1 = lo1;
            c2 = hi0 ^ c3 ^ k1;
            c3 = lo0;
            k0 += W0;
            k1 += W1;
        }
    }

    static std::array<u32, 4> block(std::array<u32, 4> c, u32 k0, u32 k1) noexcept {
        rounds(c[0], c[1], c[2], c[3], k0, k1);
        return c;
    }
};

// The seed of element t of a batch derived from one 64-bit seed:
//   derive_seed(seed, t) = w0 | (w1 << 32), (w0, w1, w2, w3) = Philox4x32-10(
//       counter = (t mod 2^32, t div 2^32, 0x62617463, 0xFFFFFFFF), key = (seed mod 2^32, seed div 2^32)).
// A pure function of (seed, t), independent of the batch size (element t of a
// batch of b keeps its seed in a larger batch). Edge noise never uses this
// counter: its counters are (i, j, s, a) with i < j and a small attempt a,
// while here the last word is 0xFFFFFFFF ("batc" tags the third).
constexpr u32 derive_seed_tag = 0x62617463u;  // "batc"
inline u64 derive_seed(u64 seed, u64 t) noexcept {
    const auto w = Philox4x32::block({static_cast<u32>(t), static_cast<u32>(t >> 32), derive_seed_tag, 0xFFFFFFFFu},
                                     static_cast<u32>(seed), static_cast<u32>(seed >> 32));
    return static_cast<u64>(w[0]) | (static_cast<u64>(w[1]) << 32);
}

// A uniform double in [0, 1) from the top 52 bits of a 64-bit word, built from
// bits (1.xxx - 1) so that vector code needs no integer-to-double conversion.
DIFFCLUST_ALWAYS_INLINE double uniform52(u64 bits) noexcept {
    const u64 m = (bits >> 12) | 0x3FF0000000000000ull;
    double d;
    std::memcpy(&d, &m, sizeof d);
    return d - 1.0;
}

// A uniform double in (0, 1], for logarithms.
DIFFCLUST_ALWAYS_INLINE double uniform52_open0(u64 bits) noexcept { return 1.0 - uniform52(bits); }

// Ziggurat tables for the standard normal density f(x) = exp(-x^2 / 2), 256
// layers of equal area v; layer 0 is the base strip plus the tail beyond r.
struct ZigguratTables {
    static constexpr double r = 3.6541528853610088;
    static constexpr double v = 4.92867323399e-3;
    double x[257];      // right edges: x[0] = v / f(r) (virtual), x[1] = r, ..., x[256] = 0
    double ratio[256];  // x[i + 1] / x[i]: below it a draw lies wholly under the curve
    double f[257];      // f(x[i])

    ZigguratTables() noexcept {
        const double fr = std::exp(-0.5 * r * r);
        x[0] = v / fr;
        x[1] = r;
        for (int i = 1; i < 255; ++i) x[i + 1] = std::sqrt(-2.0 * std::log(v / x[i] + std::exp(-0.5 * x[i] * x[i])));
        x[256] = 0.0;
        for (int i = 0; i < 257; ++i) f[i] = std::exp(-0.5 * x[i] * x[i]);
        for (int i = 0; i < 256; ++i) ratio[i] = x[i + 1] / x[i];
    }
};

inline const ZigguratTables& ziggurat_tables() noexcept {
    static const ZigguratTables tables;
    return tables;
}

// The fast path of one ziggurat draw from 64 random bits: layer = low 8 bits,
// sign = bit 8, u = top 52 bits. Sets `accepted` when the draw lies in the
// layer's inner rectangle (no density evaluation needed).
DIFFCLUST_ALWAYS_INLINE double ziggurat_fast(const ZigguratTables& t, u64 bits, bool& accepted) noexcept {
    const unsigned layer = static_cast<unsigned>(bits & 0xFFu);
    const double u = uniform52(bits);
    accepted = u < t.ratio[layer];
    const double z = u * t.x[layer];
    return (bits >> 8) & 1u ? -z : z;
}

// The slow path: the draw from counter attempt 0 was not accepted by the fast
// path; finish it exactly (wedge or tail), drawing further counters (i, j, s, a).
inline double ziggurat_slow(const ZigguratTables& t, u32 k0, u32 k1, u32 i, u32 j, u32 s,
                            const std::array<u32, 4>& first) noexcept {
    std::array<u32, 4> w = first;
    for (u32 attempt = 1;; ++attempt) {
        const u64 bits = (static_cast<u64>(w[1]) << 32) | w[0];
        const u64 extra = (static_cast<u64>(w[3]) << 32) | w[2];
        const unsigned layer = static_cast<unsigned>(bits & 0xFFu);
        const bool negative = (bits >> 8) & 1u;
        const double u = uniform52(bits);
        if (u < t.ratio[layer]) {
            const double z = u * t.x[layer];
            return negative ? -z : z;
        }
        if (layer == 0) {
            // Tail beyond r (Marsaglia 1964): exact, with its own counters.
            for (u32 tail = 0;; ++tail) {
                const auto b = Philox4x32::block({i, j, s, 0x80000000u | tail}, k0, k1);
                const double a = -std::log(uniform52_open0((static_cast<u64>(b[1]) << 32) | b[0])) / t.r;
                const double c = -std::log(uniform52_open0((static_cast<u64>(b[3]) << 32) | b[2]));
                if (c + c > a * a) return negative ? -(t.r + a) : t.r + a;
            }
        }
        // Wedge: accept if a uniform height under the layer lies under the curve.
        const double z = u * t.x[layer];
        const double height = t.f[layer] + uniform52(extra) * (t.f[layer + 1] - t.f[layer]);
        if (height < std::exp(-0.5 * z * z)) return negative ? -z : z;
        w = Philox4x32::block({i, j, s, attempt}, k0, k1);
    }
}

// The standard normal for (seed, sample, edge {i, j}); i and j in any order.
inline double edge_normal(u64 seed, u32 sample, u32 a, u32 b) noexcept {
    const u32 i = a < b ? a : b, j = a < b ? b : a;
    const u32 k0 = static_cast<u32>(seed), k1 = static_cast<u32>(seed >> 32);
    const auto w = Philox4x32::block({i, j, sample, 0u}, k0, k1);
    const ZigguratTables& t = ziggurat_tables();
    bool accepted;
    const double z = ziggurat_fast(t, (static_cast<u64>(w[1]) << 32) | w[0], accepted);
    return accepted ? z : ziggurat_slow(t, k0, k1, i, j, sample, w);
}

// Finishes a draw the fast path rejected, given the Philox block of attempt 0
// as two 64-bit words (w01 = words 1:0, w23 = words 3:2): no Philox recomputed.
inline double finish_edge_normal(u64 seed, u32 sample, u32 a, u32 b, u64 w01, u64 w23) noexcept {
    const u32 i = a < b ? a : b, j = a < b ? b : a;
    const std::array<u32, 4> w{static_cast<u32>(w01), static_cast<u32>(w01 >> 32), static_cast<u32>(w23),
                               static_cast<u32>(w23 >> 32)};
    return ziggurat_slow(ziggurat_tables(), static_cast<u32>(seed), static_cast<u32>(seed >> 32), i, j, sample, w);
}

// Philox on a block of counters (lo[r], hi[r], sample, 0): writes the first
// two output words. Straight-line integer code over arrays, so that the
// compiler vectorises it (vpmuludq) in every target_clones copy.
DIFFCLUST_ALWAYS_INLINE void philox_block(const u32* DIFFCLUST_RESTRICT lo, const u32* DIFFCLUST_RESTRICT hi,
                                          index_t m, u32 sample, u32 k0, u32 k1, u32* DIFFCLUST_RESTRICT w0,
                                          u32* DIFFCLUST_RESTRICT w1) noexcept {
    for (index_t r = 0; r < m; ++r) {
        u32 c0 = lo[r], c1 = hi[r], c2 = sample, c3 = 0;
        Philox4x32::rounds(c0, c1, c2, c3, k0, k1);
        w0[r] = c0;
        w1[r] = c1;
    }
}

// The ziggurat fast path on a block of Philox outputs: out[r] = base[r] +
// scale * z, and rejected[r] = 1 where the slow path must finish the draw.
DIFFCLUST_ALWAYS_INLINE int ziggurat_block(const ZigguratTables& t, const u32* DIFFCLUST_RESTRICT w0,
                                           const u32* DIFFCLUST_RESTRICT w1, index_t m, double scale,
                                           const double* DIFFCLUST_RESTRICT base, double* DIFFCLUST_RESTRICT out,
                                           unsigned char* DIFFCLUST_RESTRICT rejected) noexcept {
    int any = 0;
    for (index_t r = 0; r < m; ++r) {
        const u64 bits = (static_cast<u64>(w1[r]) << 32) | w0[r];
        const u64 layer = bits & 0xFFu;
        const double un = uniform52(bits);
        const bool ok = un < t.ratio[layer];
        const double z = un * t.x[layer];
        const double signed_z = (bits >> 8) & 1u ? -z : z;
        out[r] = base[r] + scale * signed_z;
        rejected[r] = static_cast<unsigned char>(!ok);
        any |= !ok;
    }
    return any;
}

constexpr index_t normal_lanes = 128;

// Philox + ziggurat fast path for m lanes, portable form (auto-vectorised in
// every target_clones copy). Returns whether any lane needs the slow path.
static DIFFCLUST_TARGET_CLONES int normals_block_generic(const u32* DIFFCLUST_RESTRICT lo, const u32* DIFFCLUST_RESTRICT hi,
                                                         index_t m, u32 sample, u32 k0, u32 k1, double scale,
                                                         const double* DIFFCLUST_RESTRICT base,
                                                         double* DIFFCLUST_RESTRICT out,
                                                         unsigned char* DIFFCLUST_RESTRICT rejected) {
    alignas(64) u32 w0[normal_lanes], w1[normal_lanes];
    philox_block(lo, hi, m, sample, k0, k1, w0, w1);
    return ziggurat_block(ziggurat_tables(), w0, w1, m, scale, base, out, rejected);
}

#ifdef DIFFCLUST_HAVE_AVX512_PATH
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own
// _mm512_undefined_* placeholders once inlined; nothing here is uninitialised.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// Lanes of z the fast path rejected (bits of `bad`), finished exactly on the
// scalar path from their Philox words (~1.5% of lanes; out of line, so that
// the hot loops keep their registers).
DIFFCLUST_AVX512 DIFFCLUST_ALWAYS_INLINE u64 lane(__m512i v, __m512i at) {
    return static_cast<u64>(_mm_cvtsi128_si64(_mm512_castsi512_si128(_mm512_permutexvar_epi64(at, v))));
}

DIFFCLUST_AVX512 __attribute__((noinline)) inline __m512d finish_rejected(__m512d z, unsigned bad, u64 seed, u32 sample,
                                                                           __m512i lo, __m512i hi, __m512i w01,
                                                                           __m512i w23) {
    // lanes are moved by permutes, not through scalar loads: a wide store read
    // back as narrow loads would stall store forwarding
    while (bad != 0) {
        const int q = __builtin_ctz(bad);
        bad &= bad - 1;
        const __m512i at = _mm512_set1_epi64(q);
        const double value = finish_edge_normal(seed, sample, static_cast<u32>(lane(lo, at)), static_cast<u32>(lane(hi, at)),
                                                lane(w01, at), lane(w23, at));
        z = _mm512_mask_broadcastsd_pd(z, static_cast<__mmask8>(1u << q), _mm_set_sd(value));
    }
    return z;
}

// Philox4x32-10 and the ziggurat fast path in AVX-512 registers, 8 lanes at a
// time (each 64-bit lane holds one 32-bit Philox word; vpmuludq reads only the
// low half, so high halves may hold garbage until the outputs are assembled).
// Separate multiply and add, as in the scalar code: results are bit-identical.
struct Avx512Normals {
    __m512i K0[10], K1[10], M0, M1, low32, byte, one_bits, sign_bit, c2;
    __m512d one;
    const ZigguratTables* t;
    u64 seed;
    u32 sample;

    DIFFCLUST_AVX512 Avx512Normals(u64 seed_, u32 sample_) : t(&ziggurat_tables()), seed(seed_), sample(sample_) {
        const u32 k0 = static_cast<u32>(seed_), k1 = static_cast<u32>(seed_ >> 32);
        for (int r = 0; r < 10; ++r) {
            K0[r] = _mm512_set1_epi64(static_cast<long long>(static_cast<u32>(k0 + static_cast<u32>(r) * Philox4x32::W0)));
            K1[r] = _mm512_set1_epi64(static_cast<long long>(static_cast<u32>(k1 + static_cast<u32>(r) * Philox4x32::W1)));
        }
        M0 = _mm512_set1_epi64(Philox4x32::M0);
        M1 = _mm512_set1_epi64(Philox4x32::M1);
        low32 = _mm512_set1_epi64(0xFFFFFFFFll);
        byte = _mm512_set1_epi64(0xFF);
        one_bits = _mm512_set1_epi64(0x3FF0000000000000ll);
        sign_bit = _mm512_set1_epi64(static_cast<long long>(0x8000000000000000ull));
        c2 = _mm512_set1_epi64(static_cast<long long>(sample_));
        one = _mm512_set1_pd(1.0);
    }

    DIFFCLUST_AVX512 void set_sample(u32 s) {
        sample = s;
        c2 = _mm512_set1_epi64(static_cast<long long>(s));
    }

    // Z for L registers of edges {lo[l], hi[l]} (32-bit vertex ids in 64-bit
    // lanes), exact in the lanes of valid[l]: the ~1.5% the ziggurat's fast
    // path rejects are finished on the scalar path. The L Philox chains are
    // interleaved round by round: one chain is bound by the multiply latency,
    // several keep the multiplier busy.
    template <int L>
    DIFFCLUST_AVX512 DIFFCLUST_ALWAYS_INLINE void draw(const __m512i* lo, const __m512i* hi, const __mmask8* valid,
                                                       __m512d* z) const {
        __m512i c0[L], c1[L], c2v[L], c3[L];
        for (int l = 0; l < L; ++l) {
            c0[l] = lo[l];
            c1[l] = hi[l];
            c2v[l] = c2;
            c3[l] = _mm512_setzero_si512();
        }
        for (int r = 0; r < 10; ++r) {
            for (int l = 0; l < L; ++l) {
                const __m512i p0 = _mm512_mul_epu32(c0[l], M0);
                const __m512i p1 = _mm512_mul_epu32(c2v[l], M1);
                c0[l] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p1, 32), c1[l], K0[r], 0x96);
                c2v[l] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p0, 32), c3[l], K1[r], 0x96);
                c1[l] = p1;
                c3[l] = p0;
            }
        }
        for (int l = 0; l < L; ++l) {
            const __m512i bits = _mm512_or_si512(_mm512_slli_epi64(c1[l], 32), _mm512_and_si512(c0[l], low32));
            const __m512i layer = _mm512_and_si512(bits, byte);
            const __m512d u = _mm512_sub_pd(_mm512_castsi512_pd(_mm512_or_si512(_mm512_srli_epi64(bits, 12), one_bits)), one);
            const __mmask8 ok = _mm512_cmp_pd_mask(u, _mm512_i64gather_pd(layer, t->ratio, 8), _CMP_LT_OQ);
            const __m512d zl = _mm512_mul_pd(u, _mm512_i64gather_pd(layer, t->x, 8));
            z[l] = _mm512_castsi512_pd(
                _mm512_xor_si512(_mm512_castpd_si512(zl), _mm512_and_si512(_mm512_slli_epi64(bits, 55), sign_bit)));
            const unsigned bad = static_cast<unsigned>(static_cast<__mmask8>(~ok) & valid[l]);
            if (bad) {
                const __m512i w23 = _mm512_or_si512(_mm512_slli_epi64(c3[l], 32), _mm512_and_si512(c2v[l], low32));
                z[l] = finish_rejected(z[l], bad, seed, sample, lo[l], hi[l], bits, w23);
            }
        }
    }

};

// L registers of out[r] = base[r] + scale * Z(seed, sample, {v, u_r}) from r0
// on, u_r = u[r] (or first + r when u is null), base null meaning zeros.
template <int L>
DIFFCLUST_AVX512 DIFFCLUST_ALWAYS_INLINE void edge_normals_avx512_block(const Avx512Normals& normals, u32 v,
                                                                        const index_t* u, u32 first,
                                                                        index_t r0, index_t len, __m512d vscale,
                                                                        const double* base, double* out) {
    const __m512i vv = _mm512_set1_epi64(v);
    __m512i lo[L], hi[L];
    __m512d z[L];
    __mmask8 valid[L];
    for (int l = 0; l < L; ++l) {
        const index_t r = r0 + 8 * l, left = len - r;
        valid[l] = static_cast<__mmask8>(left >= 8 ? 0xFFu : (1u << left) - 1u);
        const __m512i uv = u != nullptr ? _mm512_maskz_loadu_epi64(valid[l], u + r)
                                        : _mm512_add_epi64(_mm512_set1_epi64(static_cast<long long>(first) + r),
                                                           _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0));
        lo[l] = _mm512_min_epu64(vv, uv);
        hi[l] = _mm512_max_epu64(vv, uv);
    }
    normals.draw<L>(lo, hi, valid, z);
    for (int l = 0; l < L; ++l) {
        const index_t r = r0 + 8 * l;
        const __m512d scaled = _mm512_mul_pd(vscale, z[l]);
        _mm512_mask_storeu_pd(out + r, valid[l],
                              base != nullptr ? _mm512_add_pd(_mm512_maskz_loadu_pd(valid[l], base + r), scaled) : scaled);
    }
}

// out[r] = base[r] + scale * Z(seed, sample, {v, u_r}) for r in [0, len), with
// u_r = u[r], or first + r when u is null; base null means zeros. Four
// registers of lanes are drawn together so that their Philox chains overlap.
DIFFCLUST_AVX512 static void edge_normals_avx512(u64 seed, u32 sample, u32 v, const index_t* u, u32 first, index_t len,
                                                 double scale, const double* base, double* out) {
    const Avx512Normals normals(seed, sample);
    const __m512d vscale = _mm512_set1_pd(scale);
    index_t r0 = 0;
    for (; len - r0 > 24; r0 += 32) edge_normals_avx512_block<4>(normals, v, u, first, r0, len, vscale, base, out);
    if (len - r0 > 16) {
        edge_normals_avx512_block<3>(normals, v, u, first, r0, len, vscale, base, out);
    } else if (len - r0 > 8) {
        edge_normals_avx512_block<2>(normals, v, u, first, r0, len, vscale, base, out);
    } else if (len - r0 > 0) {
        edge_normals_avx512_block<1>(normals, v, u, first, r0, len, vscale, base, out);
    }
}

// out[e] = sum_s coef[s] Z(seed, s, {lo[e], hi[e]}) for e in [0, m), summed in
// sample order (samples with coef 0 skipped). Edge-major: four registers of
// edges stay in registers while every sample's normals are drawn for them.
DIFFCLUST_AVX512 static void weighted_noise_sum_avx512(u64 seed, const u32* lo, const u32* hi, index_t m,
                                                       const double* coef, index_t n_samples, double* out) {
    Avx512Normals normals(seed, 0);
    for (index_t e0 = 0; e0 < m; e0 += 32) {
        __m512i vlo[4], vhi[4];
        __mmask8 valid[4];
        __m512d acc[4], z[4];
        for (int l = 0; l < 4; ++l) {
            const index_t left = m - e0 - 8 * l;
            valid[l] = static_cast<__mmask8>(left >= 8 ? 0xFFu : left <= 0 ? 0u : (1u << left) - 1u);
            vlo[l] = _mm512_cvtepu32_epi64(_mm256_maskz_loadu_epi32(valid[l], lo + e0 + 8 * l));
            vhi[l] = _mm512_cvtepu32_epi64(_mm256_maskz_loadu_epi32(valid[l], hi + e0 + 8 * l));
            acc[l] = _mm512_setzero_pd();
        }
        for (index_t s = 0; s < n_samples; ++s) {
            const double c = coef[s];
            if (c == 0.0) continue;
            normals.set_sample(static_cast<u32>(s));
            normals.draw<4>(vlo, vhi, valid, z);
            const __m512d vc = _mm512_set1_pd(c);
            for (int l = 0; l < 4; ++l) acc[l] = _mm512_add_pd(acc[l], _mm512_mul_pd(vc, z[l]));
        }
        for (int l = 0; l < 4; ++l) _mm512_mask_storeu_pd(out + e0 + 8 * l, valid[l], acc[l]);
    }
}

// L registers of out[e] = base[e] + scale * Z(seed, sample, {lo[e], hi[e]}) from e0 on.
template <int L>
DIFFCLUST_AVX512 DIFFCLUST_ALWAYS_INLINE void pair_normals_avx512_block(const Avx512Normals& normals, const u32* lo,
                                                                        const u32* hi, index_t e0, index_t m,
                                                                        __m512d vscale, const double* base, double* out) {
    __m512i vlo[L], vhi[L];
    __m512d z[L];
    __mmask8 valid[L];
    for (int l = 0; l < L; ++l) {
        const index_t left = m - e0 - 8 * l;
        valid[l] = static_cast<__mmask8>(left >= 8 ? 0xFFu : (1u << left) - 1u);
        vlo[l] = _mm512_cvtepu32_epi64(_mm256_maskz_loadu_epi32(valid[l], lo + e0 + 8 * l));
        vhi[l] = _mm512_cvtepu32_epi64(_mm256_maskz_loadu_epi32(valid[l], hi + e0 + 8 * l));
    }
    normals.draw<L>(vlo, vhi, valid, z);
    for (int l = 0; l < L; ++l) {
        const index_t e = e0 + 8 * l;
        const __m512d scaled = _mm512_mul_pd(vscale, z[l]);
        _mm512_mask_storeu_pd(out + e, valid[l], _mm512_add_pd(_mm512_maskz_loadu_pd(valid[l], base + e), scaled));
    }
}

DIFFCLUST_AVX512 static void pair_normals_avx512(u64 seed, u32 sample, const u32* lo, const u32* hi, index_t m,
                                                 double scale, const double* base, double* out) {
    const Avx512Normals normals(seed, sample);
    const __m512d vscale = _mm512_set1_pd(scale);
    index_t e0 = 0;
    for (; m - e0 > 24; e0 += 32) pair_normals_avx512_block<4>(normals, lo, hi, e0, m, vscale, base, out);
    if (m - e0 > 16) {
        pair_normals_avx512_block<3>(normals, lo, hi, e0, m, vscale, base, out);
    } else if (m - e0 > 8) {
        pair_normals_avx512_block<2>(normals, lo, hi, e0, m, vscale, base, out);
    } else if (m - e0 > 0) {
        pair_normals_avx512_block<1>(normals, lo, hi, e0, m, vscale, base, out);
    }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif

#ifdef DIFFCLUST_HAVE_AVX2_PATH
// Philox4x32-10 and the ziggurat fast path in AVX2 registers, 4 lanes at a time:
// the arithmetic of Avx512Normals (vpmuludq on 64-bit lanes holding 32-bit
// words, separate multiply and add), so the normals are the same bits. The
// round keys stay in memory (16 registers hold the chains' state only).
struct Avx2Normals {
    __m256i K0[10], K1[10];
    const ZigguratTables* t;
    u64 seed;
    u32 sample;

    DIFFCLUST_AVX2 Avx2Normals(u64 seed_, u32 sample_) : t(&ziggurat_tables()), seed(seed_), sample(sample_) {
        const u32 k0 = static_cast<u32>(seed_), k1 = static_cast<u32>(seed_ >> 32);
        for (int r = 0; r < 10; ++r) {
            K0[r] = _mm256_set1_epi64x(static_cast<long long>(static_cast<u32>(k0 + static_cast<u32>(r) * Philox4x32::W0)));
            K1[r] = _mm256_set1_epi64x(static_cast<long long>(static_cast<u32>(k1 + static_cast<u32>(r) * Philox4x32::W1)));
        }
    }

    // Z for L registers of edges {lo[l], hi[l]} (32-bit vertex ids in 64-bit
    // lanes) into z[l]; the ~1.5% of lanes the fast path rejects are finished
    // on the scalar path. The L Philox chains are interleaved round by round.
    template <int L>
    DIFFCLUST_AVX2 DIFFCLUST_ALWAYS_INLINE void draw(const __m256i* lo, const __m256i* hi, __m256d* z) const {
        const __m256i M0 = _mm256_set1_epi64x(Philox4x32::M0), M1 = _mm256_set1_epi64x(Philox4x32::M1);
        __m256i c0[L], c1[L], c2[L], c3[L];
        for (int l = 0; l < L; ++l) {
            c0[l] = lo[l];
            c1[l] = hi[l];
            c2[l] = _mm256_set1_epi64x(static_cast<long long>(sample));
            c3[l] = _mm256_setzero_si256();
        }
        for (int r = 0; r < 10; ++r) {
            for (int l = 0; l < L; ++l) {
                const __m256i p0 = _mm256_mul_epu32(c0[l], M0);
                const __m256i p1 = _mm256_mul_epu32(c2[l], M1);
                c0[l] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), c1[l]), K0[r]);
                c2[l] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), c3[l]), K1[r]);
                c1[l] = p1;
                c3[l] = p0;
            }
        }
        const __m256i low32 = _mm256_set1_epi64x(0xFFFFFFFFll), byte = _mm256_set1_epi64x(0xFF);
        const __m256i one_bits = _mm256_set1_epi64x(0x3FF0000000000000ll);
        const __m256i sign_bit = _mm256_set1_epi64x(static_cast<long long>(0x8000000000000000ull));
        const __m256d one = _mm256_set1_pd(1.0);
        for (int l = 0; l < L; ++l) {
            const __m256i bits = _mm256_or_si256(_mm256_slli_epi64(c1[l], 32), _mm256_and_si256(c0[l], low32));
            const __m256i layer = _mm256_and_si256(bits, byte);
            const __m256d u = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64(bits, 12), one_bits)), one);
            const __m256d ok = _mm256_cmp_pd(u, _mm256_i64gather_pd(t->ratio, layer, 8), _CMP_LT_OQ);
            const __m256d zl = _mm256_mul_pd(u, _mm256_i64gather_pd(t->x, layer, 8));
            z[l] = _mm256_castsi256_pd(
                _mm256_xor_si256(_mm256_castpd_si256(zl), _mm256_and_si256(_mm256_slli_epi64(bits, 55), sign_bit)));
            const unsigned bad = ~static_cast<unsigned>(_mm256_movemask_pd(ok)) & 0xFu;
            if (bad) {
                const __m256i w23 = _mm256_or_si256(_mm256_slli_epi64(c3[l], 32), _mm256_and_si256(c2[l], low32));
                z[l] = finish(z[l], bad, lo[l], hi[l], bits, w23);
            }
        }
    }

    // Lanes `bad` of z finished exactly from their Philox words (out of line,
    // so that the hot loop keeps its registers).
    DIFFCLUST_AVX2 __attribute__((noinline)) __m256d finish(__m256d zv, unsigned bad, __m256i lo, __m256i hi, __m256i w01,
                                                             __m256i w23) const {
        alignas(32) double z[4];
        alignas(32) u64 l[4], h[4], a[4], b[4];
        _mm256_store_pd(z, zv);
        _mm256_store_si256(reinterpret_cast<__m256i*>(l), lo);
        _mm256_store_si256(reinterpret_cast<__m256i*>(h), hi);
        _mm256_store_si256(reinterpret_cast<__m256i*>(a), w01);
        _mm256_store_si256(reinterpret_cast<__m256i*>(b), w23);
        for (; bad != 0; bad &= bad - 1) {
            const int q = __builtin_ctz(bad);
            z[q] = finish_edge_normal(seed, sample, static_cast<u32>(l[q]), static_cast<u32>(h[q]), a[q], b[q]);
        }
        return _mm256_load_pd(z);
    }
};

// out[e] = base[e] + scale * Z(seed, sample, {lo[e], hi[e]}) for e in [0, m),
// lo[e] < hi[e]; base null means zeros. Twelve lanes (three chains) at a time,
// the last few through a padded copy.
DIFFCLUST_AVX2 static void pair_normals_avx2(u64 seed, u32 sample, const u32* lo, const u32* hi, index_t m, double scale,
                                             const double* base, double* out) {
    constexpr int L = 3, W = 4 * L;
    const Avx2Normals normals(seed, sample);
    const __m256d vscale = _mm256_set1_pd(scale);
    __m256d z[L];
    __m256i vlo[L], vhi[L];
    index_t e0 = 0;
    for (; m - e0 >= W; e0 += W) {
        for (int l = 0; l < L; ++l) {
            vlo[l] = _mm256_cvtepu32_epi64(_mm_loadu_si128(reinterpret_cast<const __m128i*>(lo + e0 + 4 * l)));
            vhi[l] = _mm256_cvtepu32_epi64(_mm_loadu_si128(reinterpret_cast<const __m128i*>(hi + e0 + 4 * l)));
        }
        normals.draw<L>(vlo, vhi, z);
        for (int l = 0; l < L; ++l) {
            const __m256d scaled = _mm256_mul_pd(vscale, z[l]);
            _mm256_storeu_pd(out + e0 + 4 * l,
                             base != nullptr ? _mm256_add_pd(_mm256_loadu_pd(base + e0 + 4 * l), scaled) : scaled);
        }
    }
    if (e0 == m) return;
    alignas(16) u32 plo[W], phi[W];
    const index_t left = m - e0;
    for (index_t e = 0; e < W; ++e) {
        plo[e] = e < left ? lo[e0 + e] : 0u;
        phi[e] = e < left ? hi[e0 + e] : 1u;
    }
    for (int l = 0; l < L; ++l) {
        vlo[l] = _mm256_cvtepu32_epi64(_mm_load_si128(reinterpret_cast<const __m128i*>(plo + 4 * l)));
        vhi[l] = _mm256_cvtepu32_epi64(_mm_load_si128(reinterpret_cast<const __m128i*>(phi + 4 * l)));
    }
    normals.draw<L>(vlo, vhi, z);
    alignas(32) double zs[W];
    for (int l = 0; l < L; ++l) _mm256_store_pd(zs + 4 * l, z[l]);
    for (index_t e = 0; e < left; ++e) {
        const double scaled = scale * zs[e];
        out[e0 + e] = base != nullptr ? base[e0 + e] + scaled : scaled;
    }
}
#endif

// out[r] = base[r] + scale * Z(seed, sample, {v, u_r}) for r in [0, len), with
// u_r = u[r], or first + r when u is null; base null means zeros. Portable
// form: a vectorised pass over every lane (Philox + ziggurat fast path), then
// a scalar pass finishing the ~1% of lanes the fast path did not accept.
inline void edge_normals_generic(u64 seed, u32 sample, u32 v, const index_t* DIFFCLUST_RESTRICT u, u32 first,
                                 index_t len, double scale, const double* DIFFCLUST_RESTRICT base,
                                 double* DIFFCLUST_RESTRICT out) {
    const u32 k0 = static_cast<u32>(seed), k1 = static_cast<u32>(seed >> 32);
    alignas(64) u32 lo[normal_lanes], hi[normal_lanes];
    alignas(64) static const double zeros[normal_lanes] = {};
    unsigned char rejected[normal_lanes];
    for (index_t r0 = 0; r0 < len; r0 += normal_lanes) {
        const index_t m = len - r0 < normal_lanes ? len - r0 : normal_lanes;
        for (index_t r = 0; r < m; ++r) {
            const u32 w = u != nullptr ? static_cast<u32>(u[r0 + r]) : first + static_cast<u32>(r0 + r);
            lo[r] = v < w ? v : w;
            hi[r] = v < w ? w : v;
        }
        const double* b = base != nullptr ? base + r0 : zeros;
        if (!normals_block_generic(lo, hi, m, sample, k0, k1, scale, b, out + r0, rejected)) continue;
        for (index_t r = 0; r < m; ++r) {
            if (rejected[r]) out[r0 + r] = b[r] + scale * edge_normal(seed, sample, lo[r], hi[r]);
        }
    }
}

#ifdef DIFFCLUST_HAVE_AVX2_PATH
// edge_normals_generic's blocks of edges, drawn by pair_normals_avx2.
inline void edge_normals_avx2(u64 seed, u32 sample, u32 v, const index_t* DIFFCLUST_RESTRICT u, u32 first, index_t len,
                              double scale, const double* DIFFCLUST_RESTRICT base, double* DIFFCLUST_RESTRICT out) {
    alignas(64) u32 lo[normal_lanes], hi[normal_lanes];
    for (index_t r0 = 0; r0 < len; r0 += normal_lanes) {
        const index_t m = len - r0 < normal_lanes ? len - r0 : normal_lanes;
        for (index_t r = 0; r < m; ++r) {
            const u32 w = u != nullptr ? static_cast<u32>(u[r0 + r]) : first + static_cast<u32>(r0 + r);
            lo[r] = v < w ? v : w;
            hi[r] = v < w ? w : v;
        }
        pair_normals_avx2(seed, sample, lo, hi, m, scale, base != nullptr ? base + r0 : nullptr, out + r0);
    }
}
#endif

// Dispatches to the best available code path.
inline void edge_normals(u64 seed, u32 sample, u32 v, const index_t* u, u32 first, index_t len, double scale,
                         const double* base, double* out) {
#ifdef DIFFCLUST_HAVE_AVX512_PATH
    if (cpu_has_avx512()) {
        edge_normals_avx512(seed, sample, v, u, first, len, scale, base, out);
        return;
    }
#endif
#ifdef DIFFCLUST_HAVE_AVX2_PATH
    if (cpu_has_avx2()) {
        edge_normals_avx2(seed, sample, v, u, first, len, scale, base, out);
        return;
    }
#endif
    edge_normals_generic(seed, sample, v, u, first, len, scale, base, out);
}

// out[e] = sum_s coef[s] Z(seed, s, {lo[e], hi[e]}) for e in [0, m), summed in
// sample order (samples with coef 0 skipped): the regenerated noise of a
// score-function gradient. The result does not depend on the code path.
inline void weighted_noise_sum_generic(u64 seed, const u32* lo, const u32* hi, index_t m, const double* coef,
                                       index_t n_samples, double* out) {
    const u32 k0 = static_cast<u32>(seed), k1 = static_cast<u32>(seed >> 32);
    alignas(64) static const double zeros[normal_lanes] = {};
    alignas(64) double z[normal_lanes];
    unsigned char rejected[normal_lanes];
    for (index_t e0 = 0; e0 < m; e0 += normal_lanes) {
        const index_t len = m - e0 < normal_lanes ? m - e0 : normal_lanes;
        double* o = out + e0;
        for (index_t e = 0; e < len; ++e) o[e] = 0.0;
        for (index_t s = 0; s < n_samples; ++s) {
            const double c = coef[s];
            if (c == 0.0) continue;
            if (normals_block_generic(lo + e0, hi + e0, len, static_cast<u32>(s), k0, k1, 1.0, zeros, z, rejected)) {
                for (index_t e = 0; e < len; ++e) {
                    if (rejected[e]) z[e] = edge_normal(seed, static_cast<u32>(s), lo[e0 + e], hi[e0 + e]);
                }
            }
            for (index_t e = 0; e < len; ++e) o[e] += c * z[e];
        }
    }
}

#ifdef DIFFCLUST_HAVE_AVX2_PATH
// weighted_noise_sum_generic's blocks and sums, drawn by pair_normals_avx2.
DIFFCLUST_AVX2 inline void weighted_noise_sum_avx2(u64 seed, const u32* lo, const u32* hi, index_t m, const double* coef,
                                                   index_t n_samples, double* out) {
    alignas(64) double z[normal_lanes];
    for (index_t e0 = 0; e0 < m; e0 += normal_lanes) {
        const index_t len = m - e0 < normal_lanes ? m - e0 : normal_lanes;
        double* o = out + e0;
        for (index_t e = 0; e < len; ++e) o[e] = 0.0;
        for (index_t s = 0; s < n_samples; ++s) {
            const double c = coef[s];
            if (c == 0.0) continue;
            pair_normals_avx2(seed, static_cast<u32>(s), lo + e0, hi + e0, len, 1.0, nullptr, z);
            for (index_t e = 0; e < len; ++e) o[e] += c * z[e];
        }
    }
}
#endif

inline void weighted_noise_sum(u64 seed, const u32* lo, const u32* hi, index_t m, const double* coef,
                               index_t n_samples, double* out) {
#ifdef DIFFCLUST_HAVE_AVX512_PATH
    if (cpu_has_avx512()) {
        weighted_noise_sum_avx512(seed, lo, hi, m, coef, n_samples, out);
        return;
    }
#endif
#ifdef DIFFCLUST_HAVE_AVX2_PATH
    if (cpu_has_avx2()) {
        weighted_noise_sum_avx2(seed, lo, hi, m, coef, n_samples, out);
        return;
    }
#endif
    weighted_noise_sum_generic(seed, lo, hi, m, coef, n_samples, out);
}

// out[e] = base[e] + scale * Z(seed, sample, {lo[e], hi[e]}) for e in [0, m),
// lo[e] < hi[e]: the normals of any list of edges of one sample (the same
// numbers as edge_normals draws for those edges).
inline void pair_normals_generic(u64 seed, u32 sample, const u32* lo, const u32* hi, index_t m, double scale,
                                 const double* base, double* out) {
    const u32 k0 = static_cast<u32>(seed), k1 = static_cast<u32>(seed >> 32);
    unsigned char rejected[normal_lanes];
    for (index_t e0 = 0; e0 < m; e0 += normal_lanes) {
        const index_t len = m - e0 < normal_lanes ? m - e0 : normal_lanes;
        if (!normals_block_generic(lo + e0, hi + e0, len, sample, k0, k1, scale, base + e0, out + e0, rejected)) continue;
        for (index_t e = 0; e < len; ++e) {
            if (rejected[e]) out[e0 + e] = base[e0 + e] + scale * edge_normal(seed, sample, lo[e0 + e], hi[e0 + e]);
        }
    }
}

inline void pair_normals(u64 seed, u32 sample, const u32* lo, const u32* hi, index_t m, double scale,
                         const double* base, double* out) {
#ifdef DIFFCLUST_HAVE_AVX512_PATH
    if (cpu_has_avx512()) {
        pair_normals_avx512(seed, sample, lo, hi, m, scale, base, out);
        return;
    }
#endif
#ifdef DIFFCLUST_HAVE_AVX2_PATH
    if (cpu_has_avx2()) {
        pair_normals_avx2(seed, sample, lo, hi, m, scale, base, out);
        return;
    }
#endif
    pair_normals_generic(seed, sample, lo, hi, m, scale, base, out);
}

// out[r] = base[r] + scale * Z(seed, sample, {v, u[r]}) for r in [0, len).
inline void add_edge_normals(u64 seed, u32 sample, u32 v, const index_t* u, index_t len, double scale,
                             const double* base, double* out) {
    edge_normals(seed, sample, v, u, 0, len, scale, base, out);
}

// out[r] = scale * Z(seed, sample, {v, first + r}) for r in [0, len): a row of
// consecutive partners, as the backward pass and the noise export need.
inline void row_edge_normals(u64 seed, u32 sample, u32 v, u32 first, index_t len, double scale, double* out) {
    edge_normals(seed, sample, v, nullptr, first, len, scale, nullptr, out);
}

}  // namespace diffclust
