// k-medoids' assignment state: every point's nearest and second-nearest
// medoid, the medoids' removal losses, and the points grouped by medoid.
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

constexpr index_t point_chunk = 2048;  // points per task in the O(n) passes

// Nearest and second-nearest medoid of every point.
struct Assignment {
    std::vector<index_t> near, second;  // medoid positions in [0, k); second = -1 when k = 1
    std::vector<double> d_near, d_second;
    std::vector<double> removal;  // (k,) loss increase if only that medoid is removed
    // The points grouped by nearest medoid (stable), for the swap evaluation:
    // group i is positions [group[i], group[i + 1]) of `order`, and g_near /
    // g_second hold d_near / d_second in that order.
    std::vector<index_t> order, group;
    std::vector<double> g_near, g_second;
};

template <class T>
void assign_point(const T* D, index_t n, const index_t* medoids, index_t k, index_t o, Assignment& a) {
    index_t best = -1, second = -1;
    double db = std::numeric_limits<double>::infinity(), ds = db;
    for (index_t i = 0; i < k; ++i) {
        const double v = static_cast<double>(D[medoids[i] * n + o]);
        if (v < db) {
            second = best;
            ds = db;
            best = i;
            db = v;
        } else if (v < ds) {
            second = i;
            ds = v;
        }
    }
    // Every comparison failed: D holds only NaN or inf between o and the medoids.
    // Stop here rather than leave o without a medoid (the Python layer rejects
    // such D up front; this keeps C++ callers and the raw binding safe without a
    // second scan of the whole matrix).
    if (best < 0) throw std::invalid_argument("D has no finite distance from point " + std::to_string(o) + " to any medoid");
    const std::size_t s = static_cast<std::size_t>(o);
    a.near[s] = best;
    a.d_near[s] = db;
    a.second[s] = second;
    a.d_second[s] = ds;
}

// Removal losses and the grouping by nearest medoid, after any change of medoids.
inline void compute_removal(index_t n, index_t k, Assignment& a) {
    a.removal.assign(static_cast<std::size_t>(k), 0.0);
    a.group.assign(static_cast<std::size_t>(k + 1), 0);
    for (index_t o = 0; o < n; ++o) {
        const std::size_t s = static_cast<std::size_t>(o), m = static_cast<std::size_t>(a.near[s]);
        if (k >= 2) a.removal[m] += a.d_second[s] - a.d_near[s];
        ++a.group[m + 1];
    }
    for (index_t i = 0; i < k; ++i) a.group[static_cast<std::size_t>(i + 1)] += a.group[static_cast<std::size_t>(i)];
    std::vector<index_t> next(a.group.begin(), a.group.end() - 1);
    a.order.resize(static_cast<std::size_t>(n));
    a.g_near.resize(static_cast<std::size_t>(n));
    a.g_second.resize(static_cast<std::size_t>(n));
    for (index_t o = 0; o < n; ++o) {
        const std::size_t s = static_cast<std::size_t>(o);
        const std::size_t pos = static_cast<std::size_t>(next[static_cast<std::size_t>(a.near[s])]++);
        a.order[pos] = o;
        a.g_near[pos] = a.d_near[s];
        a.g_second[pos] = a.d_second[s];
    }
}

}  // namespace detail

}  // namespace diffclust
