// The mutual-reachability weight source of Prim (forest/prim.hpp): points X
// with core distances, w(u, v) = -d_mr(u, v) = -max(core_u, core_v, d(x_u, x_v)).
// Prim's maximum spanning tree of w is the minimum spanning tree of d_mr, the
// tree under HDBSCAN*, DBSCAN* and OPTICS.
//
// Layout as PointRegions (forest/prim_sources.hpp): vertices dealt to regions
// in chunks, round robin; each region keeps its vertices' coordinates
// column-major and compact, with their core distances, keys, parents and ids;
// padding slots have NaN keys. Distances are computed exactly as there, so
// core distances (density/core_distances.hpp) and d_ij agree bit for bit.
//
// The step is exact in one pass (no tie pass): the key update and the running
// best both apply the package's strict order (heavier, then the smaller pair).
// A slot whose key cannot improve,
//   -max(core_v, core_u) < key_u, or equal with a pair that is not smaller,
// skips its distance (the bound -max(core_v, core_u) >= -d_mr decides alone).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "diffclust/core/point_metrics.hpp"
#include "diffclust/core/simd.hpp"
#include "diffclust/core/types.hpp"
#include "diffclust/density/core_distances.hpp"
#include "diffclust/forest/prim.hpp"
#include "diffclust/forest/prim_kernels.hpp"

namespace diffclust {

namespace detail {

// One Prim step over slots [0, m_pad). A scalar loop: GCC's generic 64-byte
// vectors lowered piecewise in the target_clones copies were 5x slower here
// (their compare masks are scalarised), while this loop runs near the speed of
// the plain point kernel. Asym (OPTICS): keys change only when strictly
// better, and the best candidate is reported with par = -1, so that Prim's
// strict order among equal keys becomes the order of the points
// (scikit-learn's OPTICS takes the smallest index); the source keeps the real
// parent. A slot whose key cannot improve (-max(core_v, core_u) below it, or
// equal without a smaller pair) skips its distance.
template <bool Asym>
DIFFCLUST_ALWAYS_INLINE PrimCandidate<double> mr_step_impl(const double* DIFFCLUST_RESTRICT cols, index_t stride,
                                                           index_t d, const double* DIFFCLUST_RESTRICT x,
                                                           double core_v, int metric, double* DIFFCLUST_RESTRICT key,
                                                           std::int64_t* DIFFCLUST_RESTRICT par,
                                                           const std::int64_t* DIFFCLUST_RESTRICT ids,
                                                           const double* DIFFCLUST_RESTRICT core, index_t v_,
                                                           index_t m_pad) {
    const Metric mt = static_cast<Metric>(metric);
    const std::int64_t v = static_cast<std::int64_t>(v_);
    PrimCandidate<double> best{-std::numeric_limits<double>::infinity(), -1, -1, -1};
    for (index_t s = 0; s < m_pad; ++s) {
        const double k = key[s];
        if (!(k == k)) continue;  // in the tree, or padding
        const std::int64_t id = ids[s];
        const double bound = -std::max(core[s], core_v);
        const bool tie_wins = !Asym && pair_less(v, id, par[s], id);
        if (bound > k || (bound == k && tie_wins)) {
            double acc = 0.0;
            for (index_t c = 0; c < d; ++c) {
                const double cv = cols[c * stride + s], xc = x[c];
                if (mt == Metric::manhattan) {
                    acc += std::fabs(cv - xc);
                } else if (mt == Metric::cosine) {
                    acc += cv * xc;
                } else {
                    const double t = cv - xc;
                    acc += t * t;
                }
            }
            const double nd = -density::finish_distance(acc, mt);
            const double w = nd < bound ? nd : bound;
            if (w > k || (w == k && tie_wins)) {
                key[s] = w;
                par[s] = v;
            }
        }
        const PrimCandidate<double> c{key[s], static_cast<index_t>(id), Asym ? index_t(-1) : static_cast<index_t>(par[s]), s};
        if (candidate_better(c, best)) best = c;
    }
    return best;
}

}  // namespace detail

static DIFFCLUST_TARGET_CLONES PrimCandidate<double> prim_mr_step(const double* cols, index_t stride, index_t d,
                                                                  const double* x, double core_v, int metric,
                                                                  double* key, std::int64_t* par,
                                                                  const std::int64_t* ids, const double* core,
                                                                  index_t v, index_t m_pad) {
    return detail::mr_step_impl<false>(cols, stride, d, x, core_v, metric, key, par, ids, core, v, m_pad);
}

static DIFFCLUST_TARGET_CLONES PrimCandidate<double> prim_mr_step_asym(const double* cols, index_t stride, index_t d,
                                                                       const double* x, double core_v, int metric,
                                                                       double* key, std::int64_t* par,
                                                                       const std::int64_t* ids, const double* core,
                                                                       index_t v, index_t m_pad) {
    return detail::mr_step_impl<true>(cols, stride, d, x, core_v, metric, key, par, ids, core, v, m_pad);
}

// Prim's source for -d_mr over points (see the top of this file). With
// `asymmetric`, the slots' own core distances are left out (zero).
class MutualReachabilityRegions {
public:
    using weight_type = double;

    template <class T>
    MutualReachabilityRegions(const T* X, index_t n, index_t d, Metric metric, const double* core, int regions,
                              index_t chunk, bool asymmetric = false)
        : n_(n), d_(d), metric_(metric), chunk_(std::max<index_t>(chunk, 1)), regions_(std::max(1, regions)),
          asymmetric_(asymmetric), rows_(density::metric_rows(X, n, d, metric)), core_of_(core) {
        constexpr index_t L = PrimLanes<double>::L;
        const index_t nchunks = (n + chunk_ - 1) / chunk_;
        offs_.assign(static_cast<std::size_t>(regions_) + 1, 0);
        caps_.assign(static_cast<std::size_t>(regions_), 0);
        live_.assign(static_cast<std::size_t>(regions_) * 8, 0);  // a cache line each
        for (int t = 0; t < regions_; ++t) {
            index_t count = 0;
            for (index_t ch = t; ch < nchunks; ch += regions_) count += std::min(n, (ch + 1) * chunk_) - ch * chunk_;
            if (t == 0 && count > 0) --count;
            const std::size_t s = static_cast<std::size_t>(t);
            caps_[s] = std::max<index_t>(detail::round_up(count, L), L);
            offs_[s + 1] = offs_[s] + caps_[s];
        }
        const index_t total = offs_.back();
        cols_.resize(static_cast<std::size_t>(total * std::max<index_t>(d, 1)));
        key_.resize(static_cast<std::size_t>(total));
        core_.resize(static_cast<std::size_t>(total));
        order_.reserve(static_cast<std::size_t>(std::max<index_t>(n - 1, 0)));
        parent_.reserve(static_cast<std::size_t>(std::max<index_t>(n - 1, 0)));
        par_.resize(static_cast<std::size_t>(total));
        ids_.resize(static_cast<std::size_t>(total));
    }

    int regions() const { return regions_; }

    // The vertices in the order they joined (vertex 0 first: not listed) and the
    // tree vertex each joined through.
    const std::vector<index_t>& order() const { return order_; }
    const std::vector<index_t>& parents() const { return parent_; }

    void fill(int t) {
        const index_t off = offs_[static_cast<std::size_t>(t)], cap = caps_[static_cast<std::size_t>(t)];
        const index_t nchunks = (n_ + chunk_ - 1) / chunk_;
        double* tcols = cols_.data() + off * d_;
        index_t slot = 0;
        for (index_t ch = t; ch < nchunks; ch += regions_) {
            for (index_t u = std::max<index_t>(ch * chunk_, 1); u < std::min(n_, (ch + 1) * chunk_); ++u, ++slot) {
                for (index_t c = 0; c < d_; ++c) tcols[c * cap + slot] = rows_[static_cast<std::size_t>(u * d_ + c)];
                const std::size_t p = static_cast<std::size_t>(off + slot);
                key_[p] = -std::numeric_limits<double>::infinity();
                core_[p] = asymmetric_ ? 0.0 : core_of_[u];
                par_[p] = 0;
                ids_[p] = u;
            }
        }
        live_[static_cast<std::size_t>(t) * 8] = slot;
        for (; slot < cap; ++slot) {
            for (index_t c = 0; c < d_; ++c) tcols[c * cap + slot] = 0.0;
            const std::size_t p = static_cast<std::size_t>(off + slot);
            key_[p] = std::numeric_limits<double>::quiet_NaN();
            core_[p] = 0.0;
            par_[p] = 0;
            ids_[p] = 0;
        }
    }

    PrimCandidate<double> step(int t, index_t v) {
        constexpr index_t L = PrimLanes<double>::L;
        const index_t off = offs_[static_cast<std::size_t>(t)];
        auto* step_fn = asymmetric_ ? &prim_mr_step_asym : &prim_mr_step;
        return step_fn(cols_.data() + off * d_, caps_[static_cast<std::size_t>(t)], d_, rows_.data() + v * d_,
                            core_of_[v], static_cast<int>(metric_), key_.data() + off, par_.data() + off,
                            ids_.data() + off, core_.data() + off, v,
                            detail::round_up(live_[static_cast<std::size_t>(t) * 8], L));
    }

    // Moves region t's last live slot into the taken vertex's slot.
    void take(int t, const PrimCandidate<double>& c) {
        const index_t off = offs_[static_cast<std::size_t>(t)], cap = caps_[static_cast<std::size_t>(t)];
        const index_t pos = c.pos;
        double* tcols = cols_.data() + off * d_;
        const index_t last = --live_[static_cast<std::size_t>(t) * 8];
        for (index_t k = 0; k < d_; ++k) tcols[k * cap + pos] = tcols[k * cap + last];
        const std::size_t p = static_cast<std::size_t>(off + pos), l = static_cast<std::size_t>(off + last);
        order_.push_back(c.u);
        parent_.push_back(static_cast<index_t>(par_[p]));
        key_[p] = key_[l];
        core_[p] = core_[l];
        par_[p] = par_[l];
        ids_[p] = ids_[l];
        key_[l] = std::numeric_limits<double>::quiet_NaN();
        core_[l] = 0.0;
    }

private:
    index_t n_, d_;
    Metric metric_;
    index_t chunk_;
    int regions_;
    bool asymmetric_;
    std::vector<double> rows_;
    const double* core_of_;
    std::vector<double> cols_, key_, core_;
    std::vector<std::int64_t> par_, ids_;
    std::vector<index_t> offs_, caps_, live_;
    std::vector<index_t> order_, parent_;
};

// The minimum spanning tree of d_mr (Prim's maximum tree of -d_mr), grown from
// vertex 0: step e joins order[e] through parent[e] at distance dist[e] = d_mr
// (each array n - 1 long). Regions of at least `min_share` points.
// asymmetric: the weight of the step from the tree vertex v to u is
// -max(core_v, d(v, u)) (OPTICS's reachability), keys change only when strictly
// better and equal keys go to the smaller point: the visit order is then
// OPTICS's ordering (scikit-learn's rule, smallest index first among ties).
template <class T>
void mutual_reachability_tree(const T* X, index_t n, index_t d, Metric metric, const double* core, int n_threads,
                              index_t* order, index_t* parent, double* dist, bool asymmetric = false,
                              index_t min_share = 2048, index_t chunk = 256) {
    if (n <= 1) return;
    const index_t most = std::max<index_t>(1, n / std::max<index_t>(min_share, 1));
    const int regions = static_cast<int>(std::min<index_t>(std::max(n_threads, 1), most));
    MutualReachabilityRegions source(X, n, d, metric, core, regions, chunk, asymmetric);
    std::vector<WeightedEdge<double>> tree(static_cast<std::size_t>(n - 1));
    prim_tree(n, source, n_threads, tree.data());
    for (index_t e = 0; e < n - 1; ++e) {
        order[e] = source.order()[static_cast<std::size_t>(e)];
        parent[e] = source.parents()[static_cast<std::size_t>(e)];
        dist[e] = -tree[static_cast<std::size_t>(e)].w;
    }
}

}  // namespace diffclust
