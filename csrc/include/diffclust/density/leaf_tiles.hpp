// Raw distances between a block of query points and one leaf of the kd-tree
// (density/core_distances.hpp), vectorised across the leaf's points.
//
// The leaf's points are stored as a panel: d rows of `w` doubles (w a multiple
// of 8, padding columns +inf), coordinate c of the leaf's s-th point at
// panel[c w + s]. Every value is the sum of the per-coordinate terms in
// coordinate order from 0.0, t = panel - x, then t * t (euclidean and
// sqeuclidean) or |t| (manhattan): the operations and order of raw_distance,
// so each value equals raw_distance's bit for bit (the build has no FMA
// contraction). The lanes are independent points; only their number changes.
//
// The vectors are 32 bytes (4 doubles), as in density/mr_prim.hpp: GCC lowers
// 64-byte generic vectors piecewise in the target_clones copies.
#pragma once

#include <cmath>
#include <cstring>
#include <limits>

#include "diffclust/core/simd.hpp"
#include "diffclust/core/tiles.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust {

namespace density {

// Panel widths are padded to this many points.
constexpr index_t leaf_panel_lanes = 8;

namespace detail {

#if DIFFCLUST_VECTOR_EXTENSIONS
typedef double LeafV __attribute__((vector_size(32)));

// Q queries (rows of q, stride d) x 8 panel points starting at column s; lo[i]
// takes the lane-wise minimum of query i's values.
template <int Q, bool Manhattan>
DIFFCLUST_ALWAYS_INLINE void leaf_tile_block(const double* DIFFCLUST_RESTRICT q, index_t d,
                                             const double* DIFFCLUST_RESTRICT panel, index_t w, index_t s,
                                             double* DIFFCLUST_RESTRICT out, index_t ow, LeafV* lo) {
    const LeafV zero = {};
    LeafV acc[Q][2];
    for (int i = 0; i < Q; ++i) acc[i][0] = acc[i][1] = zero;
    for (index_t c = 0; c < d; ++c) {
        LeafV a, b;
        std::memcpy(&a, panel + c * w + s, sizeof(LeafV));
        std::memcpy(&b, panel + c * w + s + 4, sizeof(LeafV));
        for (int i = 0; i < Q; ++i) {
            const double x = q[i * d + c];
            const LeafV t0 = a - x, t1 = b - x;
            if constexpr (Manhattan) {
                acc[i][0] += t0 < zero ? -t0 : t0;
                acc[i][1] += t1 < zero ? -t1 : t1;
            } else {
                acc[i][0] += t0 * t0;
                acc[i][1] += t1 * t1;
            }
        }
    }
    for (int i = 0; i < Q; ++i) {
        std::memcpy(out + i * ow + s, &acc[i][0], sizeof(LeafV));
        std::memcpy(out + i * ow + s + 4, &acc[i][1], sizeof(LeafV));
        const LeafV m = acc[i][0] < acc[i][1] ? acc[i][0] : acc[i][1];
        lo[i] = m < lo[i] ? m : lo[i];
    }
}

template <int Q, bool Manhattan>
DIFFCLUST_ALWAYS_INLINE void leaf_tile_rows(const double* q, index_t d, const double* panel, index_t w, double* out,
                                            index_t ow, double* rowmin) {
    LeafV lo[Q];
    for (int i = 0; i < Q; ++i) {
        const LeafV inf = {};
        lo[i] = inf + std::numeric_limits<double>::infinity();
    }
    for (index_t s = 0; s < w; s += leaf_panel_lanes) leaf_tile_block<Q, Manhattan>(q, d, panel, w, s, out, ow, lo);
    for (int i = 0; i < Q; ++i) {
        double m = lo[i][0];
        for (int l = 1; l < 4; ++l) m = lo[i][l] < m ? lo[i][l] : m;
        rowmin[i] = m;
    }
}

template <bool Manhattan>
DIFFCLUST_ALWAYS_INLINE void leaf_tile_all(const double* q, index_t nq, index_t d, const double* panel, index_t w,
                                           double* out, index_t ow, double* rowmin) {
    index_t i = 0;
    for (; i + 4 <= nq; i += 4) leaf_tile_rows<4, Manhattan>(q + i * d, d, panel, w, out + i * ow, ow, rowmin + i);
    switch (nq - i) {
        case 3: leaf_tile_rows<3, Manhattan>(q + i * d, d, panel, w, out + i * ow, ow, rowmin + i); break;
        case 2: leaf_tile_rows<2, Manhattan>(q + i * d, d, panel, w, out + i * ow, ow, rowmin + i); break;
        case 1: leaf_tile_rows<1, Manhattan>(q + i * d, d, panel, w, out + i * ow, ow, rowmin + i); break;
        default: break;
    }
}
#endif

}  // namespace detail

// out[i ow + s] = the raw distance from query row i (q + i d) to the panel's
// point s, for i < nq and s < w (w a multiple of leaf_panel_lanes), and
// rowmin[i] = the least of row i. Padding columns hold +inf (raw +inf). metric:
// a box Metric (euclidean, sqeuclidean: squared terms; manhattan: |t|).
[[maybe_unused]] static DIFFCLUST_TARGET_CLONES void leaf_tile_raw(const double* DIFFCLUST_RESTRICT q, index_t nq,
                                                                   index_t d, const double* DIFFCLUST_RESTRICT panel,
                                                                   index_t w, int metric,
                                                                   double* DIFFCLUST_RESTRICT out, index_t ow,
                                                                   double* DIFFCLUST_RESTRICT rowmin) {
    const bool manhattan = static_cast<Metric>(metric) == Metric::manhattan;
#if DIFFCLUST_VECTOR_EXTENSIONS
    if (manhattan) {
        detail::leaf_tile_all<true>(q, nq, d, panel, w, out, ow, rowmin);
    } else {
        detail::leaf_tile_all<false>(q, nq, d, panel, w, out, ow, rowmin);
    }
#else
    for (index_t i = 0; i < nq; ++i) {
        double m = std::numeric_limits<double>::infinity();
        for (index_t s = 0; s < w; ++s) {
            double acc = 0.0;
            for (index_t c = 0; c < d; ++c) {
                const double t = panel[c * w + s] - q[i * d + c];
                acc += manhattan ? std::fabs(t) : t * t;
            }
            out[i * ow + s] = acc;
            m = acc < m ? acc : m;
        }
        rowmin[i] = m;
    }
#endif
}

}  // namespace density

}  // namespace diffclust
