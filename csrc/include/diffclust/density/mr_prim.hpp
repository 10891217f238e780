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
// The step is exact in one vectorised pass (no tie pass): the key update and
// the running best both apply the package's strict order (heavier, then the
// smaller pair). A block of slots whose keys cannot improve,
//   -max(core_v, core_u) < key_u, or equal with a pair that is not smaller,
// skips its distances (the bound -max(core_v, core_u) >= -d_mr decides alone).
//
// The vectors are 32 bytes (4 doubles): GCC lowers 64-byte generic vectors
// piecewise in the target_clones copies and scalarises their compare masks
// (5x slower here); 32-byte vectors stay native in the AVX2 and AVX-512 copies.
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
#include "diffclust/forest/prim_sources.hpp"

namespace diffclust {

namespace detail {

#if DIFFCLUST_VECTOR_EXTENSIONS
typedef double MrV __attribute__((vector_size(32)));
typedef std::int64_t MrVI __attribute__((vector_size(32)));
constexpr int MrL = 4;

// (min(a1, b1), max(a1, b1)) < (min(a2, b2), max(a2, b2)), lane by lane.
// (Through a reference: a vector return value would change the ABI between the clones.)
DIFFCLUST_ALWAYS_INLINE void pair_less_v(const MrVI& a1, const MrVI& b1, const MrVI& a2, const MrVI& b2, MrVI& out) {
    const MrVI i1 = a1 < b1 ? a1 : b1, j1 = a1 < b1 ? b1 : a1;
    const MrVI i2 = a2 < b2 ? a2 : b2, j2 = a2 < b2 ? b2 : a2;
    out = (i1 < i2) | ((i1 == i2) & (j1 < j2));
}

struct MrLanes {
    MrV bmax;
    MrVI bpar, bid, bslot, ss;
};

template <int U, bool Asym>
DIFFCLUST_ALWAYS_INLINE void mr_block(const double* DIFFCLUST_RESTRICT cols, index_t stride, index_t d,
                                      const double* DIFFCLUST_RESTRICT x, double core_v, Metric mt,
                                      double* DIFFCLUST_RESTRICT key, std::int64_t* DIFFCLUST_RESTRICT par,
                                      const std::int64_t* DIFFCLUST_RESTRICT ids,
                                      const double* DIFFCLUST_RESTRICT core, const MrVI& vv, index_t s, MrLanes& st) {
    constexpr int L = MrL;
    const MrV vzero = {};
    const MrVI izero = {};
    MrV k[U], nm[U];
    MrVI p[U], id[U], less[U];
    bool skip = true;
    for (int u = 0; u < U; ++u) {
        const index_t at = s + u * L;
        MrV cu;
        std::memcpy(&k[u], key + at, sizeof(MrV));
        std::memcpy(&p[u], par + at, sizeof(MrVI));
        std::memcpy(&id[u], ids + at, sizeof(MrVI));
        std::memcpy(&cu, core + at, sizeof(MrV));
        const MrV cv = vzero + core_v;
        nm[u] = -(cu > cv ? cu : cv);
        if constexpr (Asym) {
            less[u] = izero;  // OPTICS: a key changes only when strictly better
        } else {
            pair_less_v(vv, id[u], p[u], id[u], less[u]);
        }
        // a lane can improve only if nm > key, or nm == key with a smaller pair
        const MrVI may = (nm[u] > k[u]) | ((nm[u] == k[u]) & less[u]);
        for (int l = 0; l < L; ++l) skip = skip && may[l] == 0;
    }
    MrV w[U];
    if (skip) {
        for (int u = 0; u < U; ++u) w[u] = nm[u];
    } else {
        MrV acc[U];
        for (int u = 0; u < U; ++u) acc[u] = vzero;
        for (index_t c = 0; c < d; ++c) {
            const double xc = x[c];
            const double* col = cols + c * stride + s;
            for (int u = 0; u < U; ++u) {
                MrV cv;
                std::memcpy(&cv, col + u * L, sizeof(MrV));
                if (mt == Metric::manhattan) {
                    const MrV t = cv - xc;
                    acc[u] += t < vzero ? -t : t;
                } else if (mt == Metric::cosine) {
                    acc[u] += cv * xc;
                } else {
                    const MrV t = cv - xc;
                    acc[u] += t * t;
                }
            }
        }
        for (int u = 0; u < U; ++u) {
            MrV dist;
            if (mt == Metric::euclidean) {
                for (int l = 0; l < L; ++l) dist[l] = std::sqrt(acc[u][l]);
            } else if (mt == Metric::cosine) {
                dist = (vzero + 1.0) - acc[u];
                dist = dist < vzero ? vzero : dist;
                dist = dist > (vzero + 2.0) ? (vzero + 2.0) : dist;
            } else {
                dist = acc[u];
            }
            const MrV nd = -dist;
            w[u] = nd < nm[u] ? nd : nm[u];
        }
    }
    for (int u = 0; u < U; ++u) {
        const index_t at = s + u * L;
        const MrVI up = (w[u] > k[u]) | ((w[u] == k[u]) & less[u]);
        k[u] = up ? w[u] : k[u];
        p[u] = up ? vv : p[u];
        std::memcpy(key + at, &k[u], sizeof(MrV));
        std::memcpy(par + at, &p[u], sizeof(MrVI));
        MrVI smaller;
        if constexpr (Asym) {
            smaller = id[u] < st.bid;  // OPTICS: equal reachability, the smaller point first
        } else {
            pair_less_v(p[u], id[u], st.bpar, st.bid, smaller);
        }
        const MrVI better = (k[u] > st.bmax) | ((k[u] == st.bmax) & smaller);
        st.bmax = better ? k[u] : st.bmax;
        st.bpar = better ? p[u] : st.bpar;
        st.bid = better ? id[u] : st.bid;
        st.bslot = better ? st.ss : st.bslot;
        st.ss += static_cast<std::int64_t>(L);
    }
}
#endif

// One Prim step over slots [0, m_pad) (a multiple of the lane count). Asym
// (OPTICS): keys change only when strictly better, and the best candidate is
// reported with par = -1, so that Prim's strict order among equal keys becomes
// the order of the points (scikit-learn's OPTICS takes the smallest index);
// the source keeps the real parent.
template <bool Asym>
DIFFCLUST_ALWAYS_INLINE PrimCandidate<double> mr_step_impl(const double* DIFFCLUST_RESTRICT cols, index_t stride,
                                                           index_t d, const double* DIFFCLUST_RESTRICT x,
                                                           double core_v, int metric, double* DIFFCLUST_RESTRICT key,
                                                           std::int64_t* DIFFCLUST_RESTRICT par,
                                                           const std::int64_t* DIFFCLUST_RESTRICT ids,
                                                           const double* DIFFCLUST_RESTRICT core, index_t v_,
                                                           index_t m_pad) {
    const Metric mt = static_cast<Metric>(metric);
    PrimCandidate<double> best{-std::numeric_limits<double>::infinity(), -1, -1, -1};
#if DIFFCLUST_VECTOR_EXTENSIONS
    constexpr int L = MrL;
    const MrV vzero = {};
    const MrVI izero = {};
    const MrVI big = izero + std::numeric_limits<std::int64_t>::max();
    MrLanes st{vzero - std::numeric_limits<double>::infinity(), big, big, izero - 1, izero};
    for (int l = 0; l < L; ++l) st.ss[l] = l;
    const MrVI vv = izero + static_cast<std::int64_t>(v_);
    index_t s = 0;
    for (; s + 4 * L <= m_pad; s += 4 * L) mr_block<4, Asym>(cols, stride, d, x, core_v, mt, key, par, ids, core, vv, s, st);
    for (; s < m_pad; s += L) mr_block<1, Asym>(cols, stride, d, x, core_v, mt, key, par, ids, core, vv, s, st);
    for (int l = 0; l < L; ++l) {
        if (st.bslot[l] < 0) continue;
        const PrimCandidate<double> c{st.bmax[l], static_cast<index_t>(st.bid[l]),
                                      Asym ? index_t(-1) : static_cast<index_t>(st.bpar[l]),
                                      static_cast<index_t>(st.bslot[l])};
        if (candidate_better(c, best)) best = c;
    }
#else
    for (index_t s = 0; s < m_pad; ++s) {
        if (!(key[s] == key[s])) continue;
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
        const double dist = density::finish_distance(acc, mt);
        const double w = -std::max(std::max(core[s], core_v), dist);
        if (Asym) {
            if (w > key[s]) {
                key[s] = w;
                par[s] = static_cast<std::int64_t>(v_);
            }
        } else {
            exact_update(w, key[s], par[s], static_cast<std::int64_t>(v_), ids[s]);
        }
        const PrimCandidate<double> c{key[s], static_cast<index_t>(ids[s]), Asym ? index_t(-1) : static_cast<index_t>(par[s]), s};
        if (candidate_better(c, best)) best = c;
    }
#endif
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
        const RegionLayout layout(n, regions_, chunk_, L);  // shared with PointRegions
        offs_ = layout.offs;
        caps_ = layout.caps;
        live_.assign(static_cast<std::size_t>(regions_) * 8, 0);  // a cache line each
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
        double* tcols = cols_.data() + off * d_;
        index_t slot = RegionLayout(n_, regions_, chunk_, 1).for_each(t, [&](index_t sl, index_t u) {
            for (index_t c = 0; c < d_; ++c) tcols[c * cap + sl] = rows_[static_cast<std::size_t>(u * d_ + c)];
            const std::size_t p = static_cast<std::size_t>(off + sl);
            key_[p] = -std::numeric_limits<double>::infinity();
            core_[p] = asymmetric_ ? 0.0 : core_of_[u];
            par_[p] = 0;
            ids_[p] = u;
        });
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
