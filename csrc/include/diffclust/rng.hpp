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

// out[r] = base[r] + scale * Z(seed, sample, {v, u[r]}) for r in [0, len)
// A vectorised pass over every lane (Philox + ziggurat
// fast path), then a scalar pass finishing the ~1% the fast path did not accept.
static DIFFCLUST_TARGET_CLONES void add_edge_normals(u64 seed, u32 sample, u32 v, const index_t* DIFFCLUST_RESTRICT u,
                                                     index_t len, double scale, const double* DIFFCLUST_RESTRICT base,
                                                     double* DIFFCLUST_RESTRICT out) {
    const ZigguratTables& t = ziggurat_tables();
    const u32 k0 = static_cast<u32>(seed), k1 = static_cast<u32>(seed >> 32);
    alignas(64) u32 lo[normal_lanes], hi[normal_lanes], w0[normal_lanes], w1[normal_lanes];
    unsigned char rejected[normal_lanes];
    for (index_t r0 = 0; r0 < len; r0 += normal_lanes) {
        const index_t m = len - r0 < normal_lanes ? len - r0 : normal_lanes;
        for (index_t r = 0; r < m; ++r) {
            const u32 w = static_cast<u32>(u[r0 + r]);
            lo[r] = v < w ? v : w;
            hi[r] = v < w ? w : v;
        }
        philox_block(lo, hi, m, sample, k0, k1, w0, w1);
        if (!ziggurat_block(t, w0, w1, m, scale, base + r0, out + r0, rejected)) continue;
        for (index_t r = 0; r < m; ++r) {
            if (rejected[r]) out[r0 + r] = base[r0 + r] + scale * edge_normal(seed, sample, lo[r], hi[r]);
        }
    }
}

// out[r] = scale * Z(seed, sample, {v, first + r}) for r in [0, len): a row of
// consecutive partners, as the backward pass and the noise export need.
static DIFFCLUST_TARGET_CLONES void row_edge_normals(u64 seed, u32 sample, u32 v, u32 first, index_t len, double scale,
                                                     double* DIFFCLUST_RESTRICT out) {
    const ZigguratTables& t = ziggurat_tables();
    const u32 k0 = static_cast<u32>(seed), k1 = static_cast<u32>(seed >> 32);
    alignas(64) u32 lo[normal_lanes], hi[normal_lanes], w0[normal_lanes], w1[normal_lanes];
    alignas(64) double zeros[normal_lanes] = {};
    unsigned char rejected[normal_lanes];
    for (index_t r0 = 0; r0 < len; r0 += normal_lanes) {
        const index_t m = len - r0 < normal_lanes ? len - r0 : normal_lanes;
        for (index_t r = 0; r < m; ++r) {
            const u32 w = first + static_cast<u32>(r0 + r);
            lo[r] = v < w ? v : w;
            hi[r] = v < w ? w : v;
        }
        philox_block(lo, hi, m, sample, k0, k1, w0, w1);
        if (!ziggurat_block(t, w0, w1, m, scale, zeros, out + r0, rejected)) continue;
        for (index_t r = 0; r < m; ++r) {
            if (rejected[r]) out[r0 + r] = scale * edge_normal(seed, sample, lo[r], hi[r]);
        }
    }
}

}  // namespace diffclust
