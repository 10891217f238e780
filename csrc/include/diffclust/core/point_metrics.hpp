// Distances between one point and a block of points stored column-major
// (d rows of `stride` coordinates), the layout Prim-from-points keeps.
#pragma once

#include <cmath>
#include <string>

#include "diffclust/core/simd.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust {

enum class Metric : int { sqeuclidean = 0, euclidean = 1, manhattan = 2, cosine = 3 };

inline Metric parse_metric(const std::string& name) {
    if (name == "sqeuclidean") return Metric::sqeuclidean;
    if (name == "euclidean") return Metric::euclidean;
    if (name == "manhattan" || name == "cityblock") return Metric::manhattan;
    if (name == "cosine") return Metric::cosine;
    throw std::invalid_argument("metric must be one of 'sqeuclidean', 'euclidean', 'manhattan', 'cosine'; got '" +
                                name + "'");
}

// out[r - r0] = d(x, column r) for r in [r0, r1). For cosine, x and the columns
// are already normalised (zero vectors stay zero, as in scikit-learn), and the
// distance 1 - <x, y> is clipped to [0, 2].
[[maybe_unused]] static DIFFCLUST_TARGET_CLONES void column_block_distances(const double* DIFFCLUST_RESTRICT cols, index_t stride,
                                                           index_t d, const double* DIFFCLUST_RESTRICT x,
                                                           index_t r0, index_t r1, int metric,
                                                           double* DIFFCLUST_RESTRICT out) {
    const index_t len = r1 - r0;
    for (index_t r = 0; r < len; ++r) out[r] = 0.0;
    const Metric m = static_cast<Metric>(metric);
    for (index_t k = 0; k < d; ++k) {
        const double* DIFFCLUST_RESTRICT col = cols + k * stride + r0;
        const double c = x[k];
        if (m == Metric::manhattan) {
            for (index_t r = 0; r < len; ++r) out[r] += std::fabs(col[r] - c);
        } else if (m == Metric::cosine) {
            for (index_t r = 0; r < len; ++r) out[r] += col[r] * c;
        } else {
            for (index_t r = 0; r < len; ++r) {
                const double t = col[r] - c;
                out[r] += t * t;
            }
        }
    }
    if (m == Metric::euclidean) {
        for (index_t r = 0; r < len; ++r) out[r] = std::sqrt(out[r]);
    } else if (m == Metric::cosine) {
        for (index_t r = 0; r < len; ++r) {
            const double v = 1.0 - out[r];
            out[r] = v < 0.0 ? 0.0 : (v > 2.0 ? 2.0 : v);
        }
    }
}

}  // namespace diffclust
