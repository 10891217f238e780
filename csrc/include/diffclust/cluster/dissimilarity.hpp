// The input check of k-medoids: is D (n, n) a dissimilarity matrix (finite,
// non-negative, symmetric up to a tolerance)? One tiled pass.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "diffclust/core/cancel.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/core/simd.hpp"
#include "diffclust/core/tiles.hpp"
#include "diffclust/core/types.hpp"
#include "diffclust/core/checks.hpp"

namespace diffclust {

namespace detail {

// Summary of the entries of a pair of tiles (i, j) and (j, i) of D.
struct TileStats {
    double lo = 0.0, hi = 0.0, asym = 0.0;  // min and max entry, max |D_ij - D_ji|
    double nan = 0.0;                        // NaN iff an entry is NaN or infinite
};

// Rows [i0, i1) x columns [j0, j1) against their transposes, j0 >= i0 (only
// j >= i on a diagonal tile). `tile` holds 64 x 64 doubles of scratch.
template <class T>
DIFFCLUST_ALWAYS_INLINE void tile_stats_impl(const T* D, index_t n, index_t i0, index_t i1, index_t j0, index_t j1,
                                             double* tile, TileStats& st) {
    constexpr index_t w = 64;
    auto fold = [&](double v, double u) {
        st.lo = std::min(st.lo, std::min(v, u));
        st.hi = std::max(st.hi, std::max(v, u));
        st.asym = std::max(st.asym, std::fabs(v - u));
        st.nan += (v - v) + (u - u);
    };
    if (i0 == j0) {  // diagonal tile: plain loop over j >= i
        for (index_t i = i0; i < i1; ++i)
            for (index_t j = i; j < j1; ++j) fold(static_cast<double>(D[i * n + j]), static_cast<double>(D[j * n + i]));
        return;
    }
    // tile[ii * w + jj] = D[j0 + jj, i0 + ii], read row by row
    for (index_t j = j0; j < j1; ++j)
        for (index_t i = i0; i < i1; ++i) tile[(i - i0) * w + (j - j0)] = static_cast<double>(D[j * n + i]);
    const index_t len = j1 - j0;
#if DIFFCLUST_VECTOR_EXTENSIONS
    using tiles::vec4;
    vec4 lo = {st.lo, st.lo, st.lo, st.lo}, hi = {st.hi, st.hi, st.hi, st.hi}, asym = {}, nan = {};
    const tiles::vec4i no_sign = {0x7fffffffffffffffLL, 0x7fffffffffffffffLL, 0x7fffffffffffffffLL,
                                  0x7fffffffffffffffLL};
    const index_t vlen = len / 4 * 4;
    for (index_t i = i0; i < i1; ++i) {
        const T* row = D + i * n + j0;
        const double* col = tile + (i - i0) * w;
        for (index_t jj = 0; jj < vlen; jj += 4) {
            vec4 v, u;
            tiles::load4(row + jj, v);
            tiles::load4(col + jj, u);
            lo = v < lo ? v : lo;
            lo = u < lo ? u : lo;
            hi = v > hi ? v : hi;
            hi = u > hi ? u : hi;
            const vec4 diff = (vec4)((tiles::vec4i)(v - u) & no_sign);
            asym = diff > asym ? diff : asym;
            nan += (v - v) + (u - u);
        }
        for (index_t jj = vlen; jj < len; ++jj) fold(static_cast<double>(row[jj]), col[jj]);
    }
    for (int l = 0; l < 4; ++l) {
        st.lo = std::min(st.lo, lo[l]);
        st.hi = std::max(st.hi, hi[l]);
        st.asym = std::max(st.asym, asym[l]);
        st.nan += nan[l];
    }
#else
    for (index_t i = i0; i < i1; ++i)
        for (index_t jj = 0; jj < len; ++jj) fold(static_cast<double>(D[i * n + j0 + jj]), tile[(i - i0) * w + jj]);
#endif
}
[[maybe_unused]] static DIFFCLUST_TARGET_CLONES void tile_stats(const double* D, index_t n, index_t i0, index_t i1,
                                                                index_t j0, index_t j1, double* tile, TileStats& st) {
    tile_stats_impl(D, n, i0, i1, j0, j1, tile, st);
}
[[maybe_unused]] static DIFFCLUST_TARGET_CLONES void tile_stats(const float* D, index_t n, index_t i0, index_t i1,
                                                                index_t j0, index_t j1, double* tile, TileStats& st) {
    tile_stats_impl(D, n, i0, i1, j0, j1, tile, st);
}

}  // namespace detail

// Checks that D (n, n) is a dissimilarity matrix: finite, non-negative and, if
// `symmetric`, with |D_ij - D_ji| <= sym_rtol * max(D). Throws
// std::invalid_argument naming `name` and the first offending entry (row-major).
// One pass over pairs of 64 x 64 tiles (i, j) and (j, i) reads every entry once.
template <class T>
void check_dissimilarity(const T* D, index_t n, bool symmetric, double sym_rtol, const std::string& name,
                         int n_threads) {
    check_size(n, "n");
    const int threads = static_cast<double>(n) * static_cast<double>(n) < 1.0e6 ? 1 : std::max(1, n_threads);
    constexpr index_t rows = 64;
    const index_t blocks = tiles::ceil_div(n, rows);
    std::vector<detail::TileStats> stats(static_cast<std::size_t>(blocks));
    std::vector<std::vector<double>> scratch(static_cast<std::size_t>(threads));
    parallel_for_tid(blocks, threads, [&](index_t b, int tid) {
        std::vector<double>& tile = scratch[static_cast<std::size_t>(tid)];
        tile.resize(static_cast<std::size_t>(rows * rows));
        const index_t i0 = b * rows, i1 = std::min(n, i0 + rows);
        for (index_t j0 = i0; j0 < n; j0 += rows)
            detail::tile_stats(D, n, i0, i1, j0, std::min(n, j0 + rows), tile.data(), stats[static_cast<std::size_t>(b)]);
    });
    bool bad = false;
    double hi = 0.0, asym = 0.0;
    for (const auto& st : stats) {
        bad |= !(st.nan == 0.0) || st.lo < 0.0;
        hi = std::max(hi, st.hi);
        asym = std::max(asym, st.asym);
    }
    auto entry = [&](index_t i, index_t j) {
        return name + "[" + std::to_string(i) + ", " + std::to_string(j) + "] = " +
               std::to_string(static_cast<double>(D[i * n + j]));
    };
    if (bad) {
        for (index_t f = 0; f < n * n; ++f) {  // error path: find the first bad entry
            const double v = static_cast<double>(D[f]);
            if (std::isnan(v) || std::isinf(v))
                throw std::invalid_argument(name + " contains NaN or infinity (" + entry(f / n, f % n) + ")");
            if (v < 0.0)
                throw std::invalid_argument(name + " must be a dissimilarity matrix without negative entries; " +
                                            entry(f / n, f % n));
        }
    }
    if (!symmetric) return;
    const double tol = sym_rtol * hi;
    if (asym <= tol) return;
    for (index_t i = 0; i < n; ++i)  // error path: find the first asymmetric pair
        for (index_t j = i + 1; j < n; ++j)
            if (std::fabs(static_cast<double>(D[i * n + j]) - static_cast<double>(D[j * n + i])) > tol)
                throw std::invalid_argument(name + " must be symmetric: " + entry(i, j) + " but " + entry(j, i));
}

}  // namespace diffclust
