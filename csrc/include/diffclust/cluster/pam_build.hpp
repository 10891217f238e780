// PAM BUILD, the greedy initialisation of k-medoids (Kaufman & Rousseeuw).
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

namespace diffclust {

namespace detail {

// sum_o max(0, near[o] - row[o]): what adding the point of `row` gains (BUILD).
template <class T>
DIFFCLUST_ALWAYS_INLINE double build_gain_impl(const T* row, const double* near, index_t n) {
    return tiles::lane_sum(n, [row, near](index_t o) {
        const double g = near[o] - static_cast<double>(row[o]);
        return g > 0.0 ? g : 0.0;
    });
}
[[maybe_unused]] static DIFFCLUST_TARGET_CLONES double build_gain(const double* row, const double* near, index_t n) {
    return build_gain_impl(row, near, n);
}
[[maybe_unused]] static DIFFCLUST_TARGET_CLONES double build_gain(const float* row, const double* near, index_t n) {
    return build_gain_impl(row, near, n);
}

template <class T>
DIFFCLUST_ALWAYS_INLINE double row_sum_impl(const T* row, index_t n) {
    return tiles::lane_sum(n, [row](index_t o) { return static_cast<double>(row[o]); });
}
[[maybe_unused]] static DIFFCLUST_TARGET_CLONES double row_sum(const double* row, index_t n) { return row_sum_impl(row, n); }
[[maybe_unused]] static DIFFCLUST_TARGET_CLONES double row_sum(const float* row, index_t n) { return row_sum_impl(row, n); }

}  // namespace detail

// PAM BUILD: the first medoid minimises the total distance; each next one is the
// point that lowers the loss most. Ties go to the smallest index.
template <class T>
void pam_build(const T* D, index_t n, index_t k, int n_threads, index_t* medoids) {
    if (k < 1 || k > n) throw std::invalid_argument("k must be in [1, n]");
    const int threads = static_cast<double>(n) * static_cast<double>(n) < 1.0e6 ? 1 : std::max(1, n_threads);
    std::vector<double> score(static_cast<std::size_t>(n));
    std::vector<double> nearest(static_cast<std::size_t>(n));
    std::vector<char> taken(static_cast<std::size_t>(n), 0);
    const index_t chunk = 64;
    const index_t tasks = tiles::ceil_div(n, chunk);
    parallel_for_tid(tasks, threads, [&](index_t t, int) {
        for (index_t c = t * chunk; c < std::min(n, (t + 1) * chunk); ++c)
            score[static_cast<std::size_t>(c)] = detail::row_sum(D + c * n, n);
    });
    index_t first = 0;
    for (index_t c = 1; c < n; ++c)
        if (score[static_cast<std::size_t>(c)] < score[static_cast<std::size_t>(first)]) first = c;
    medoids[0] = first;
    taken[static_cast<std::size_t>(first)] = 1;
    for (index_t o = 0; o < n; ++o) nearest[static_cast<std::size_t>(o)] = static_cast<double>(D[first * n + o]);
    for (index_t m = 1; m < k; ++m) {
        parallel_for_tid(tasks, threads, [&](index_t t, int) {
            for (index_t c = t * chunk; c < std::min(n, (t + 1) * chunk); ++c)
                score[static_cast<std::size_t>(c)] =
                    taken[static_cast<std::size_t>(c)] ? -1.0 : detail::build_gain(D + c * n, nearest.data(), n);
        });
        index_t best = -1;
        for (index_t c = 0; c < n; ++c) {
            if (taken[static_cast<std::size_t>(c)]) continue;
            if (best < 0 || score[static_cast<std::size_t>(c)] > score[static_cast<std::size_t>(best)]) best = c;
        }
        medoids[m] = best;
        taken[static_cast<std::size_t>(best)] = 1;
        const T* row = D + best * n;
        for (index_t o = 0; o < n; ++o) {
            const double v = static_cast<double>(row[o]);
            double& cur = nearest[static_cast<std::size_t>(o)];
            cur = v < cur ? v : cur;
        }
    }
}

}  // namespace diffclust
