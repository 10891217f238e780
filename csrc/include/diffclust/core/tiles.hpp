// Register-tiled products of two sets of points, the engine under pairwise
// distances and the silhouette.
//
// Points are packed into panels: `width` points side by side, coordinate by
// coordinate (panel[k * width + w] = x_w[k]), converted to double and zero-padded.
// A micro-kernel multiplies an mr-point panel of A by an nr-point panel of B
// into an mr x nr tile held in 12 vector registers (mr = 6, nr = 8: the classic
// AVX2 double-precision shape; the AVX-512 clone runs the same code with more
// registers to spare). Two products share the tiling:
//   dot: C_ij = sum_k a_ik b_jk           (sqeuclidean, euclidean, cosine)
//   l1:  C_ij = sum_k |a_ik - b_jk|       (manhattan)
// Every entry is summed over k in increasing order by one lane of one vector,
// so a result never depends on the blocking or on the thread that computed it.
// The project builds with -ffp-contract=off (no fused multiply-add), so the
// AVX-512, AVX2 and baseline copies round every operation alike as well.
//
// These helpers are always inlined into the callers' DIFFCLUST_TARGET_CLONES
// entry points, so each CPU level (x86-64-v4, v3, baseline) gets its own copy.
#pragma once

#include <cstring>

#include "diffclust/core/simd.hpp"
#include "diffclust/core/types.hpp"

// GCC/Clang vector extensions; without them (or with
// -DDIFFCLUST_NO_VECTOR_EXTENSIONS) plain loops compute the same sums.
#ifndef DIFFCLUST_VECTOR_EXTENSIONS
#if defined(__GNUC__) && !defined(DIFFCLUST_NO_VECTOR_EXTENSIONS)
#define DIFFCLUST_VECTOR_EXTENSIONS 1
#else
#define DIFFCLUST_VECTOR_EXTENSIONS 0
#endif
#endif

namespace diffclust::tiles {

constexpr index_t mr = 6;    // rows (A points) of the register tile
constexpr index_t nr = 8;    // columns (B points) of the register tile: two 4-double vectors
constexpr index_t mc = 48;   // A points per cache block (8 register tiles)
constexpr index_t nc = 256;  // B points per cache block (32 register tiles)

enum class Product : int { dot = 0, l1 = 1 };

inline index_t ceil_div(index_t a, index_t b) { return (a + b - 1) / b; }

// Packs points rows[first .. first + count) of X (n x d, row-major; rows == nullptr
// means the identity) into ceil(count / width) panels of `width` points. With a
// divisor, coordinate x_k becomes x_k / divisor[row] (cosine normalisation).
template <class T>
void pack_panels(const T* X, index_t d, const index_t* rows, index_t first, index_t count, index_t width,
                 const double* divisor, double* out) {
    const index_t panels = ceil_div(count, width);
    for (index_t p = 0; p < panels; ++p) {
        double* panel = out + p * d * width;
        for (index_t w = 0; w < width; ++w) {
            const index_t r = p * width + w;
            if (r >= count) {
                for (index_t k = 0; k < d; ++k) panel[k * width + w] = 0.0;
                continue;
            }
            const index_t src = rows ? rows[first + r] : first + r;
            const T* x = X + src * d;
            if (divisor) {
                const double div = divisor[src];
                for (index_t k = 0; k < d; ++k) panel[k * width + w] = static_cast<double>(x[k]) / div;
            } else {
                for (index_t k = 0; k < d; ++k) panel[k * width + w] = static_cast<double>(x[k]);
            }
        }
    }
}

#if DIFFCLUST_VECTOR_EXTENSIONS
typedef double vec4 __attribute__((vector_size(32)));
typedef long long vec4i __attribute__((vector_size(32)));

// Four entries as doubles (through a reference: a vector return value would
// change the ABI between the clones).
DIFFCLUST_ALWAYS_INLINE void load4(const double* p, vec4& v) { std::memcpy(&v, p, sizeof v); }
DIFFCLUST_ALWAYS_INLINE void load4(const float* p, vec4& v) {
    typedef float vec4f __attribute__((vector_size(16)));
    vec4f f;
    std::memcpy(&f, p, sizeof f);
    v = __builtin_convertvector(f, vec4);
}

// The 4 x 4 block of rows a, b, c, e transposed in registers: x0 .. x3 are its
// columns (x0 = {a[0], b[0], c[0], e[0]}, ...), element by element the same values.
DIFFCLUST_ALWAYS_INLINE void transpose4(const vec4& a, const vec4& b, const vec4& c, const vec4& e, vec4& x0,
                                        vec4& x1, vec4& x2, vec4& x3) {
    const vec4i lo_even = {0, 4, 2, 6}, lo_odd = {1, 5, 3, 7}, low = {0, 1, 4, 5}, high = {2, 3, 6, 7};
    const vec4 t0 = __builtin_shuffle(a, b, lo_even), t1 = __builtin_shuffle(a, b, lo_odd);
    const vec4 t2 = __builtin_shuffle(c, e, lo_even), t3 = __builtin_shuffle(c, e, lo_odd);
    x0 = __builtin_shuffle(t0, t2, low), x1 = __builtin_shuffle(t1, t3, low);
    x2 = __builtin_shuffle(t0, t2, high), x3 = __builtin_shuffle(t1, t3, high);
}

// C[r * ldc + c] for the mr x nr tile of one A panel and one B panel.
DIFFCLUST_ALWAYS_INLINE void micro_tile(Product op, const double* DIFFCLUST_RESTRICT A,
                                        const double* DIFFCLUST_RESTRICT B, index_t d, double* DIFFCLUST_RESTRICT C,
                                        index_t ldc) {
    vec4 acc[mr][2] = {};
    if (op == Product::dot) {
        for (index_t k = 0; k < d; ++k) {
            vec4 b0, b1;
            std::memcpy(&b0, B + k * nr, sizeof b0);
            std::memcpy(&b1, B + k * nr + 4, sizeof b1);
            const double* a = A + k * mr;
#pragma GCC unroll 8
            for (int r = 0; r < mr; ++r) {
                acc[r][0] += b0 * a[r];
                acc[r][1] += b1 * a[r];
            }
        }
    } else {
        const vec4i no_sign = {0x7fffffffffffffffLL, 0x7fffffffffffffffLL, 0x7fffffffffffffffLL,
                               0x7fffffffffffffffLL};
        for (index_t k = 0; k < d; ++k) {
            vec4 b0, b1;
            std::memcpy(&b0, B + k * nr, sizeof b0);
            std::memcpy(&b1, B + k * nr + 4, sizeof b1);
            const double* a = A + k * mr;
#pragma GCC unroll 8
            for (int r = 0; r < mr; ++r) {
                const vec4 t0 = b0 - a[r], t1 = b1 - a[r];
                acc[r][0] += (vec4)((vec4i)t0 & no_sign);
                acc[r][1] += (vec4)((vec4i)t1 & no_sign);
            }
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < mr; ++r) {
        std::memcpy(C + r * ldc, &acc[r][0], sizeof acc[r][0]);
        std::memcpy(C + r * ldc + 4, &acc[r][1], sizeof acc[r][1]);
    }
}
#else
DIFFCLUST_ALWAYS_INLINE void micro_tile(Product op, const double* A, const double* B, index_t d, double* C,
                                        index_t ldc) {
    double acc[mr][nr] = {};
    for (index_t k = 0; k < d; ++k)
        for (index_t r = 0; r < mr; ++r)
            for (index_t c = 0; c < nr; ++c) {
                const double a = A[k * mr + r], b = B[k * nr + c];
                acc[r][c] += op == Product::dot ? a * b : (a > b ? a - b : b - a);
            }
    for (index_t r = 0; r < mr; ++r)
        for (index_t c = 0; c < nr; ++c) C[r * ldc + c] = acc[r][c];
}
#endif

// C (row-major, leading dimension ldc) = product of a_panels packed A panels with
// b_panels packed B panels: a (a_panels * mr) x (b_panels * nr) block.
DIFFCLUST_ALWAYS_INLINE void block_product(Product op, const double* A, index_t a_panels, const double* B,
                                           index_t b_panels, index_t d, double* C, index_t ldc) {
    for (index_t bp = 0; bp < b_panels; ++bp) {
        const double* panel_b = B + bp * d * nr;
        for (index_t ap = 0; ap < a_panels; ++ap) {
            micro_tile(op, A + ap * d * mr, panel_b, d, C + ap * mr * ldc + bp * nr, ldc);
        }
    }
}

// Fixed-order sum of f(0) + ... + f(len - 1): eight interleaved partial sums
// (which the compiler turns into vector adds), then a fixed pairwise combination.
template <class F>
DIFFCLUST_ALWAYS_INLINE double lane_sum(index_t len, F&& f) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    index_t j = 0;
    for (; j + 8 <= len; j += 8) {
#pragma GCC unroll 8
        for (int l = 0; l < 8; ++l) acc[l] += f(j + l);
    }
    double tail = 0.0;
    for (; j < len; ++j) tail += f(j);
    return (((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))) + tail;
}

}  // namespace diffclust::tiles
