// The bookkeeping of Hamerly's bounds in Lloyd's passes (kmeans.hpp): the centres'
// half separations and the bounds' update after the centres moved.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "diffclust/cluster/kmeans_kernels.hpp"
#include "diffclust/core/chunked.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/core/tiles.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust::kmeans_detail {

// half_sep[j] = (1 - slack) * min_{j' != j} ||c_j - c_j'|| / 2 (a lower bound).
inline void separations(const double* C, index_t k, index_t d, double slack, double* half_sep) {
    for (index_t j = 0; j < k; ++j) half_sep[j] = inf;
    for (index_t a = 0; a < k; ++a)
        for (index_t b = a + 1; b < k; ++b) {
            const double s = 0.5 * std::sqrt(sq_distance(C + a * d, C + b * d, d)) * (1.0 - slack);
            half_sep[a] = std::min(half_sep[a], s);
            half_sep[b] = std::min(half_sep[b], s);
        }
}

// After the centres moved by drift[j] (upper bounds of the shifts): upper += the
// drift of the point's centre, lower -= the largest drift of the other centres.
inline void move_bounds(const index_t* labels, index_t n, const std::vector<double>& drift, double* upper,
                        double* lower, int threads) {
    index_t top = 0;
    for (index_t j = 1; j < static_cast<index_t>(drift.size()); ++j)
        if (drift[static_cast<std::size_t>(j)] > drift[static_cast<std::size_t>(top)]) top = j;
    double runner = 0.0;
    for (index_t j = 0; j < static_cast<index_t>(drift.size()); ++j)
        if (j != top) runner = std::max(runner, drift[static_cast<std::size_t>(j)]);
    const double first = drift[static_cast<std::size_t>(top)];
    constexpr double up = 1.0 + 0x1p-50, down = 1.0 - 0x1p-50;
    parallel_for(tiles::ceil_div(n, chunk_rows), threads, [&](index_t c) {
        for (index_t i = c * chunk_rows; i < std::min(n, (c + 1) * chunk_rows); ++i) {
            const index_t l = labels[i];
            upper[i] = (upper[i] + drift[static_cast<std::size_t>(l)]) * up;
            const double lo = (lower[i] - (l == top ? runner : first)) * down;
            lower[i] = lo > 0.0 ? lo : 0.0;
        }
    });
}

}  // namespace diffclust::kmeans_detail
