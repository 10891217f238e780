// The inner kernels of k-means and k-means++ (kmeans.hpp, kmeans_plusplus.hpp).
//
// Points are packed eight at a time into tiles.hpp's B panels (panel[t * 8 + w]
// = x_w[t], as double) and centres six at a time into A panels; the fused
// kernel `nearest8` runs the register tile of tiles.hpp (6 centres x 8 points
// in 12 vector registers, each dot product summed over t in increasing order)
// and keeps, per point, the best and second-best value of
//     g_j = ||c_j||^2 - 2 <x, c_j>      (= ||x - c_j||^2 - ||x||^2, the Gram trick)
// with the centre index of the best (strict <, so ties go to the smaller index).
//
// The Gram trick only proposes. A label is defined as the argmin over j of the
// squared distance computed directly, D_j = sum_t (x_t - c_jt)^2 summed in
// increasing t in double, ties to the smallest j (`exact_nearest`). When the
// gap between the best and the second-best g exceeds `margin` (a bound on the
// rounding error of both computations, see below), the proposal is that argmin;
// otherwise the point is decided by `exact_nearest`. A label is therefore a pure
// function of the point and the centres: it does not depend on blocking,
// threads or on which path decided it.
//
// Error bound: |fl(g_j) - (D_j - ||x||^2)| and |fl(D_j) - D_j| are both at most
// about (d + 2) u (||x|| + ||c_j||)^2 (u = 2^-53, all sums in double), so a gap
// larger than margin = 8 (d + 4) u (||x|| + max_j ||c_j||)^2 orders the directly
// computed distances the same way.
//
// The AVX-512 kernels (the ones a CPU that has AVX-512 runs, with the same
// labels) are in kmeans_avx512.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "diffclust/core/checks.hpp"
#include "diffclust/core/simd.hpp"
#include "diffclust/core/tiles.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust::kmeans_detail {

constexpr index_t pw = tiles::nr;  // points per B panel (8)
constexpr index_t cw = tiles::mr;  // centres per A panel (6)
constexpr double inf = std::numeric_limits<double>::infinity();

// Rows per reduction chunk: fixed, so that partial sums never depend on threads.
constexpr index_t chunk_rows = 2048;

// The relative factor of the margin above for d features.
inline double margin_factor(index_t d) { return 8.0 * static_cast<double>(d + 4) * 0x1p-53; }

// Centres (k x d, double) packed into ceil(k / 6) A panels, their squared norms
// padded with +inf (a padded centre never wins), and the largest norm.
struct PackedCenters {
    std::vector<double> panels, sq_norms;
    double max_norm = 0.0;
    index_t count = 0;  // panels

    void pack(const double* C, index_t k, index_t d) {
        count = tiles::ceil_div(k, cw);
        panels.assign(static_cast<std::size_t>(count * cw * d), 0.0);
        sq_norms.assign(static_cast<std::size_t>(count * cw), inf);
        tiles::pack_panels(C, d, nullptr, 0, k, cw, nullptr, panels.data());
        max_norm = 0.0;
        for (index_t j = 0; j < k; ++j) {
            double s = 0.0;
            for (index_t t = 0; t < d; ++t) s += C[j * d + t] * C[j * d + t];
            sq_norms[static_cast<std::size_t>(j)] = s;
            max_norm = std::max(max_norm, std::sqrt(s));
        }
    }
};

// tiles::pack_panels for one B panel (the same values), inlined in the caller's
// instruction set: a full panel is transposed 4 x 4 in registers.
template <class T>
DIFFCLUST_ALWAYS_INLINE void pack8(const T* X, index_t d, const index_t* rows, index_t i0, index_t count,
                                   double* panel) {
#if DIFFCLUST_VECTOR_EXTENSIONS
    if (count == pw) {
        using tiles::vec4;
        const T* r[pw];
        for (index_t w = 0; w < pw; ++w) r[w] = X + (rows ? rows[i0 + w] : i0 + w) * d;
        index_t t = 0;
        for (; t + 4 <= d; t += 4) {
#pragma GCC unroll 2
            for (int h = 0; h < 2; ++h) {
                vec4 a, b, c, e, x0, x1, x2, x3;
                tiles::load4(r[4 * h] + t, a), tiles::load4(r[4 * h + 1] + t, b);
                tiles::load4(r[4 * h + 2] + t, c), tiles::load4(r[4 * h + 3] + t, e);
                tiles::transpose4(a, b, c, e, x0, x1, x2, x3);
                double* o = panel + t * pw + 4 * h;
                std::memcpy(o, &x0, sizeof x0);
                std::memcpy(o + pw, &x1, sizeof x1);
                std::memcpy(o + 2 * pw, &x2, sizeof x2);
                std::memcpy(o + 3 * pw, &x3, sizeof x3);
            }
        }
        for (; t < d; ++t)
            for (index_t w = 0; w < pw; ++w) panel[t * pw + w] = static_cast<double>(r[w][t]);
        return;
    }
#endif
    tiles::pack_panels(X, d, rows, i0, count, pw, nullptr, panel);
}

// Packs rows [i0, i0 + count) (count <= 8) of X, or rows[i0 .. i0 + count) when
// rows is given, into one B panel and writes their squared norms (zero for padding).
template <class T>
DIFFCLUST_ALWAYS_INLINE void pack_points(const T* X, index_t d, index_t i0, index_t count, double* panel,
                                         double* sq_norm, const index_t* rows = nullptr) {
    pack8(X, d, rows, i0, count, panel);
    double s[pw] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (index_t t = 0; t < d; ++t) {
#pragma GCC unroll 8
        for (int w = 0; w < pw; ++w) s[w] += panel[t * pw + w] * panel[t * pw + w];
    }
    for (int w = 0; w < pw; ++w) sq_norm[w] = s[w];
}

// sum_t (x_t - c_t)^2 in increasing t, in double.
template <class T>
DIFFCLUST_ALWAYS_INLINE double sq_distance(const T* x, const double* c, index_t d) {
    double s = 0.0;
    for (index_t t = 0; t < d; ++t) {
        const double v = static_cast<double>(x[t]) - c[t];
        s += v * v;
    }
    return s;
}

// out[w] = sq_distance(x_i, C + labels[i] * d) for the points i = rows[i0 + w]
// (rows null: i0 + w), w < count <= 8: the eight sums side by side, each in
// increasing t as in sq_distance (bit-identical to it), on two B panels (panel:
// 16 d doubles), so that they run at the adder's throughput, not its latency.
template <class T>
DIFFCLUST_ALWAYS_INLINE void sq_distances_labelled8(const T* X, index_t d, const index_t* rows, index_t i0,
                                                    index_t count, const double* C, const index_t* labels,
                                                    double* panel, double* out) {
    index_t lab[pw];
    for (index_t w = 0; w < count; ++w) lab[w] = labels[rows ? rows[i0 + w] : i0 + w];
    double* xp = panel;
    double* cp = panel + pw * d;
    pack8(X, d, rows, i0, count, xp);
    pack8(C, d, lab, 0, count, cp);
    double acc[pw] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (index_t t = 0; t < d; ++t) {
#pragma GCC unroll 8
        for (int w = 0; w < pw; ++w) {
            const double v = xp[t * pw + w] - cp[t * pw + w];
            acc[w] += v * v;
        }
    }
    for (index_t w = 0; w < count; ++w) out[w] = acc[w];
}

// Whether rows [r0, r1) of X hold NaN or infinity, given their squared norms in
// double summed from their values (sq_norm[i] for row i): NaN and infinity carry
// into a norm, so finite norms clear the rows without reading them again; a norm
// that overflowed from finite values only costs the scan.
template <class T>
DIFFCLUST_ALWAYS_INLINE bool rows_nonfinite(const T* X, index_t d, index_t r0, index_t r1, const double* sq_norm) {
    bool clear = true;
    for (index_t i = r0; i < r1; ++i) clear &= sq_norm[i] <= std::numeric_limits<double>::max();
    return !clear && any_nonfinite(X + r0 * d, (r1 - r0) * d);
}

// The rows i0 .. i0 + width of X (xr) and their labelled centres (cr), the rows
// from count on repeating the last one (padding, for kernels of a fixed width).
template <class T>
DIFFCLUST_ALWAYS_INLINE void labelled_rows(const T* X, index_t d, index_t i0, index_t count, const double* C,
                                           const index_t* labels, index_t width, const T** xr, const double** cr) {
    for (index_t w = 0; w < width; ++w) {
        const index_t i = i0 + std::min(w, count - 1);
        xr[w] = X + i * d;
        cr[w] = C + labels[i] * d;
    }
}

// The argmin of sq_distance(x, c_j) over j in [0, k), ties to the smallest j.
template <class T>
DIFFCLUST_ALWAYS_INLINE index_t exact_nearest(const T* x, const double* C, index_t k, index_t d) {
    index_t best = 0;
    double bd = inf;
    for (index_t j = 0; j < k; ++j) {
        const double v = sq_distance(x, C + j * d, d);
        if (v < bd) bd = v, best = j;
    }
    return best;
}

// For the 8 points of B panel P: best[w], second[w] = the two smallest g_j and
// arg[w] = the j of best[w] (the first one on ties), over all packed centres.
#if DIFFCLUST_VECTOR_EXTENSIONS
DIFFCLUST_ALWAYS_INLINE void nearest8(const double* DIFFCLUST_RESTRICT P, index_t d, const PackedCenters& pc,
                                      double* best, double* second, long long* arg) {
    using tiles::vec4;
    using tiles::vec4i;
    const vec4 vinf = {inf, inf, inf, inf};
    vec4 b[2] = {vinf, vinf}, s[2] = {vinf, vinf};
    vec4i a[2] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
    const double* DIFFCLUST_RESTRICT panels = pc.panels.data();
    for (index_t cp = 0; cp < pc.count; ++cp) {
        const double* DIFFCLUST_RESTRICT A = panels + cp * d * cw;
        vec4 acc[cw][2] = {};
        for (index_t t = 0; t < d; ++t) {
            vec4 b0, b1;
            std::memcpy(&b0, P + t * pw, sizeof b0);
            std::memcpy(&b1, P + t * pw + 4, sizeof b1);
            const double* a_t = A + t * cw;
#pragma GCC unroll 8
            for (int r = 0; r < cw; ++r) {
                acc[r][0] += b0 * a_t[r];
                acc[r][1] += b1 * a_t[r];
            }
        }
#pragma GCC unroll 8
        for (int r = 0; r < cw; ++r) {
            const double cn = pc.sq_norms[static_cast<std::size_t>(cp * cw + r)];
            const long long j = static_cast<long long>(cp * cw + r);
            const vec4i vj = {j, j, j, j};
#pragma GCC unroll 2
            for (int h = 0; h < 2; ++h) {
                const vec4 g = cn - (acc[r][h] + acc[r][h]);
                const vec4i lt = g < b[h];
                const vec4i lt2 = g < s[h];
                s[h] = lt ? b[h] : (lt2 ? g : s[h]);
                b[h] = lt ? g : b[h];
                a[h] = lt ? vj : a[h];
            }
        }
    }
    std::memcpy(best, &b[0], sizeof b[0]);
    std::memcpy(best + 4, &b[1], sizeof b[1]);
    std::memcpy(second, &s[0], sizeof s[0]);
    std::memcpy(second + 4, &s[1], sizeof s[1]);
    std::memcpy(arg, &a[0], sizeof a[0]);
    std::memcpy(arg + 4, &a[1], sizeof a[1]);
}
#else
DIFFCLUST_ALWAYS_INLINE void nearest8(const double* P, index_t d, const PackedCenters& pc, double* best,
                                      double* second, long long* arg) {
    for (int w = 0; w < pw; ++w) best[w] = inf, second[w] = inf, arg[w] = 0;
    for (index_t cp = 0; cp < pc.count; ++cp) {
        const double* A = pc.panels.data() + cp * d * cw;
        for (int r = 0; r < cw; ++r) {
            const double cn = pc.sq_norms[static_cast<std::size_t>(cp * cw + r)];
            for (int w = 0; w < pw; ++w) {
                double acc = 0.0;
                for (index_t t = 0; t < d; ++t) acc += P[t * pw + w] * A[t * cw + r];
                const double g = cn - (acc + acc);
                if (g < best[w]) {
                    second[w] = best[w], best[w] = g, arg[w] = cp * cw + r;
                } else if (g < second[w]) {
                    second[w] = g;
                }
            }
        }
    }
}
#endif


// The small-k kernel (k <= small_k_max): no packing of the points. Four rows are
// read in place and transposed in registers, 4 features at a time, so that a vector
// holds feature t of the four points; the centres are stored transposed
// (ct[t * kb + j] = c_j[t], kb = k rounded up to even, padded centres with squared
// norm +inf) and broadcast. Each point stays in one lane, so the best and second g
// are kept without any horizontal step, as in nearest8, and the dot products are
// summed over t in increasing order.
constexpr index_t small_k_max = 12;
constexpr index_t small_rows = 4;

struct SmallCenters {
    std::vector<double> ct, sq_norms;  // d x kb, kb
    double max_sq = 0.0;               // the largest squared norm
    index_t kb = 0;

    void pack(const double* C, index_t k, index_t d) {
        kb = (k + 1) / 2 * 2;
        ct.assign(static_cast<std::size_t>(d * kb), 0.0);
        sq_norms.assign(static_cast<std::size_t>(kb), inf);
        max_sq = 0.0;
        for (index_t j = 0; j < k; ++j) {
            double s = 0.0;
            for (index_t t = 0; t < d; ++t) {
                ct[static_cast<std::size_t>(t * kb + j)] = C[j * d + t];
                s += C[j * d + t] * C[j * d + t];
            }
            sq_norms[static_cast<std::size_t>(j)] = s;
            max_sq = std::max(max_sq, s);
        }
    }
};

#if DIFFCLUST_VECTOR_EXTENSIONS
constexpr bool small_kernel_available = true;

template <int KB>
DIFFCLUST_ALWAYS_INLINE void small_step(tiles::vec4* acc, tiles::vec4& xn, const tiles::vec4& x,
                                        const double* DIFFCLUST_RESTRICT c) {
    xn += x * x;
#pragma GCC unroll 12
    for (int j = 0; j < KB; ++j) acc[j] += x * c[j];
}

// best/second/arg/sq_norm of the rows r[0..4) (d values each), KB centres.
template <int KB, class T>
DIFFCLUST_ALWAYS_INLINE void nearest_small4(const T* const* r, index_t d, const SmallCenters& sc, double* best,
                                            double* second, long long* arg, double* sq_norm) {
    using tiles::vec4;
    using tiles::vec4i;
    const double* DIFFCLUST_RESTRICT ct = sc.ct.data();
    vec4 acc[KB] = {};
    vec4 xn = {0.0, 0.0, 0.0, 0.0};
    index_t t = 0;
    for (; t + 4 <= d; t += 4) {
        vec4 a, b, c, e, x0, x1, x2, x3;
        tiles::load4(r[0] + t, a), tiles::load4(r[1] + t, b), tiles::load4(r[2] + t, c), tiles::load4(r[3] + t, e);
        tiles::transpose4(a, b, c, e, x0, x1, x2, x3);
        small_step<KB>(acc, xn, x0, ct + t * KB);
        small_step<KB>(acc, xn, x1, ct + (t + 1) * KB);
        small_step<KB>(acc, xn, x2, ct + (t + 2) * KB);
        small_step<KB>(acc, xn, x3, ct + (t + 3) * KB);
    }
    for (; t < d; ++t) {
        const vec4 x = {static_cast<double>(r[0][t]), static_cast<double>(r[1][t]), static_cast<double>(r[2][t]),
                        static_cast<double>(r[3][t])};
        small_step<KB>(acc, xn, x, ct + t * KB);
    }
    const vec4 vinf = {inf, inf, inf, inf};
    vec4 b = vinf, s = vinf;
    vec4i a = {0, 0, 0, 0};
#pragma GCC unroll 12
    for (int j = 0; j < KB; ++j) {
        const vec4 g = sc.sq_norms[static_cast<std::size_t>(j)] - (acc[j] + acc[j]);
        const vec4i vj = {j, j, j, j};
        const vec4i lt = g < b;
        const vec4i lt2 = g < s;
        s = lt ? b : (lt2 ? g : s);
        b = lt ? g : b;
        a = lt ? vj : a;
    }
    std::memcpy(best, &b, sizeof b);
    std::memcpy(second, &s, sizeof s);
    std::memcpy(arg, &a, sizeof a);
    std::memcpy(sq_norm, &xn, sizeof xn);
}

// Rows i0 .. i0 + cnt (cnt <= 4) of X (padding repeats the last row).
template <class T>
DIFFCLUST_ALWAYS_INLINE void nearest_small(const T* X, index_t d, index_t i0, index_t cnt, const SmallCenters& sc,
                                           double* best, double* second, long long* arg, double* sq_norm) {
    const T* r[small_rows];
    for (index_t q = 0; q < small_rows; ++q) r[q] = X + (i0 + std::min(q, cnt - 1)) * d;
    switch (sc.kb) {
        case 2: nearest_small4<2>(r, d, sc, best, second, arg, sq_norm); break;
        case 4: nearest_small4<4>(r, d, sc, best, second, arg, sq_norm); break;
        case 6: nearest_small4<6>(r, d, sc, best, second, arg, sq_norm); break;
        case 8: nearest_small4<8>(r, d, sc, best, second, arg, sq_norm); break;
        case 10: nearest_small4<10>(r, d, sc, best, second, arg, sq_norm); break;
        default: nearest_small4<12>(r, d, sc, best, second, arg, sq_norm); break;
    }
}
#else
constexpr bool small_kernel_available = false;

template <class T>
DIFFCLUST_ALWAYS_INLINE void nearest_small(const T*, index_t, index_t, index_t, const SmallCenters&, double*, double*,
                                           long long*, double*) {}
#endif

}  // namespace diffclust::kmeans_detail
