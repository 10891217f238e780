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

#include "simd.hpp"
#include "types.hpp"

#if defined(__GNUC__) && defined(__x86_64__) && !defined(DIFFCLUST_NO_AVX512)
#include <immintrin.h>
#define DIFFCLUST_HAVE_AVX512_PATH 1
#endif

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

#define DIFFCLUST_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl")))

// Philox4x32-10 and the ziggurat fast path in AVX-512 registers, 8 lanes at a
// time (each 64-bit lane holds one 32-bit Philox word; vpmuludq reads only the
// low half, so high halves may hold garbage until the outputs are assembled).
// Separate multiply and add, as in the scalar code: results are bit-identical.
struct Avx512Normals {
    __m512i K0[10], K1[10], M0, M1, low32, byte, one_bits, sign_bit, c2;
    __m512d one;
    const ZigguratTables* t;

    DIFFCLUST_AVX512 Avx512Normals(u64 seed, u32 sample) : t(&ziggurat_tables()) {
        const u32 k0 = static_cast<u32>(seed), k1 = static_cast<u32>(seed >> 32);
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
        c2 = _mm512_set1_epi64(static_cast<long long>(sample));
        one = _mm512_set1_pd(1.0);
    }

    // Z for the edges {lo, hi} (32-bit vertex ids in 64-bit lanes); `ok` marks
    // the lanes the fast path accepted. The others are finished by
    // finish_edge_normal with the Philox words left in w01 and w23.
    DIFFCLUST_AVX512 DIFFCLUST_ALWAYS_INLINE __m512d draw(__m512i lo, __m512i hi, __mmask8& ok, __m512i& w01,
                                                          __m512i& w23) const {
        __m512i c0 = lo, c1 = hi, c2v = c2, c3 = _mm512_setzero_si512();
        for (int r = 0; r < 10; ++r) {
            const __m512i p0 = _mm512_mul_epu32(c0, M0);
            const __m512i p1 = _mm512_mul_epu32(c2v, M1);
            c0 = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p1, 32), c1, K0[r], 0x96);
            c2v = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p0, 32), c3, K1[r], 0x96);
            c1 = p1;
            c3 = p0;
        }
        const __m512i bits = _mm512_or_si512(_mm512_slli_epi64(c1, 32), _mm512_and_si512(c0, low32));
        w01 = bits;
        w23 = _mm512_or_si512(_mm512_slli_epi64(c3, 32), _mm512_and_si512(c2v, low32));
        const __m512i layer = _mm512_and_si512(bits, byte);
        const __m512d u = _mm512_sub_pd(_mm512_castsi512_pd(_mm512_or_si512(_mm512_srli_epi64(bits, 12), one_bits)), one);
        ok = _mm512_cmp_pd_mask(u, _mm512_i64gather_pd(layer, t->ratio, 8), _CMP_LT_OQ);
        const __m512d z = _mm512_mul_pd(u, _mm512_i64gather_pd(layer, t->x, 8));
        return _mm512_castsi512_pd(
            _mm512_xor_si512(_mm512_castpd_si512(z), _mm512_and_si512(_mm512_slli_epi64(bits, 55), sign_bit)));
    }
};

// normals_block_generic with AVX-512 intrinsics.
DIFFCLUST_AVX512 static int normals_block_avx512(const u32* DIFFCLUST_RESTRICT lo, const u32* DIFFCLUST_RESTRICT hi,
                                                 index_t m, u32 sample, u64 seed, double scale,
                                                 const double* DIFFCLUST_RESTRICT base, double* DIFFCLUST_RESTRICT out,
                                                 unsigned char* DIFFCLUST_RESTRICT rejected) {
    const Avx512Normals normals(seed, sample);
    const __m512d vscale = _mm512_set1_pd(scale);
    int any = 0;
    for (index_t r0 = 0; r0 < m; r0 += 8) {
        const index_t len = m - r0 < 8 ? m - r0 : 8;
        const __mmask8 valid = static_cast<__mmask8>((1u << len) - 1u);
        __mmask8 ok;
        __m512i w01, w23;
        const __m512d z = normals.draw(_mm512_cvtepu32_epi64(_mm256_maskz_loadu_epi32(valid, lo + r0)),
                                       _mm512_cvtepu32_epi64(_mm256_maskz_loadu_epi32(valid, hi + r0)), ok, w01, w23);
        const __m512d b = _mm512_maskz_loadu_pd(valid, base + r0);
        _mm512_mask_storeu_pd(out + r0, valid, _mm512_add_pd(b, _mm512_mul_pd(vscale, z)));
        const unsigned bad = static_cast<unsigned>(static_cast<__mmask8>(~ok) & valid);
        for (index_t l = 0; l < len; ++l) rejected[r0 + l] = static_cast<unsigned char>((bad >> l) & 1u);
        any |= bad != 0;
    }
    return any;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

inline bool cpu_has_avx512() noexcept {
    static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                             __builtin_cpu_supports("avx512vl");
    return has;
}
#endif

// Dispatches one block of lanes to the best available code path.
inline int normals_block(const u32* lo, const u32* hi, index_t m, u32 sample, u32 k0, u32 k1, double scale,
                         const double* base, double* out, unsigned char* rejected) {
#ifdef DIFFCLUST_HAVE_AVX512_PATH
    if (cpu_has_avx512()) return normals_block_avx512(lo, hi, m, sample, (static_cast<u64>(k1) << 32) | k0, scale, base, out, rejected);
#endif
    return normals_block_generic(lo, hi, m, sample, k0, k1, scale, base, out, rejected);
}

// out[r] = base[r] + scale * Z(seed, sample, {v, u[r]}) for r in [0, len).
// A vectorised pass over every lane (Philox + ziggurat fast path), then a
// scalar pass finishing the ~1% of lanes the fast path did not accept.
inline void add_edge_normals(u64 seed, u32 sample, u32 v, const index_t* DIFFCLUST_RESTRICT u, index_t len,
                             double scale, const double* DIFFCLUST_RESTRICT base, double* DIFFCLUST_RESTRICT out) {
    const u32 k0 = static_cast<u32>(seed), k1 = static_cast<u32>(seed >> 32);
    alignas(64) u32 lo[normal_lanes], hi[normal_lanes];
    unsigned char rejected[normal_lanes];
    for (index_t r0 = 0; r0 < len; r0 += normal_lanes) {
        const index_t m = len - r0 < normal_lanes ? len - r0 : normal_lanes;
        for (index_t r = 0; r < m; ++r) {
            const u32 w = static_cast<u32>(u[r0 + r]);
            lo[r] = v < w ? v : w;
            hi[r] = v < w ? w : v;
        }
        if (!normals_block(lo, hi, m, sample, k0, k1, scale, base + r0, out + r0, rejected)) continue;
        for (index_t r = 0; r < m; ++r) {
            if (rejected[r]) out[r0 + r] = base[r0 + r] + scale * edge_normal(seed, sample, lo[r], hi[r]);
        }
    }
}

// out[r] = scale * Z(seed, sample, {v, first + r}) for r in [0, len): a row of
// consecutive partners, as the backward pass and the noise export need.
inline void row_edge_normals(u64 seed, u32 sample, u32 v, u32 first, index_t len, double scale,
                             double* DIFFCLUST_RESTRICT out) {
    const u32 k0 = static_cast<u32>(seed), k1 = static_cast<u32>(seed >> 32);
    alignas(64) u32 lo[normal_lanes], hi[normal_lanes];
    alignas(64) static const double zeros[normal_lanes] = {};
    unsigned char rejected[normal_lanes];
    for (index_t r0 = 0; r0 < len; r0 += normal_lanes) {
        const index_t m = len - r0 < normal_lanes ? len - r0 : normal_lanes;
        for (index_t r = 0; r < m; ++r) {
            const u32 w = first + static_cast<u32>(r0 + r);
            lo[r] = v < w ? v : w;
            hi[r] = v < w ? w : v;
        }
        if (!normals_block(lo, hi, m, sample, k0, k1, scale, zeros, out + r0, rejected)) continue;
        for (index_t r = 0; r < m; ++r) {
            if (rejected[r]) out[r0 + r] = scale * edge_normal(seed, sample, lo[r], hi[r]);
        }
    }
}

}  // namespace diffclust
