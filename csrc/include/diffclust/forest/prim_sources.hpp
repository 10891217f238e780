// The fast Prim sources of the exact forests (forest/prim.hpp): the rows of a
// dense symmetric matrix, and points under any metric of point_metrics.hpp.
// Both split the vertices into regions scanned by the vectorised steps of
// prim_kernels.hpp, and give the tree prim_max_tree builds with DenseRowSource
// and PointSource, bit for bit, for any number of regions and threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "diffclust/core/point_metrics.hpp"
#include "diffclust/core/types.hpp"
#include "diffclust/forest/prim.hpp"
#include "diffclust/forest/prim_kernels.hpp"

namespace diffclust {

// Rows of a symmetric dense matrix W (n x n, diagonal ignored). Keys live in
// full-length arrays (NaN = in the tree), so every step reads row v
// sequentially; region r is the columns [r share, (r + 1) share).
//
// With check_finite, every step also checks the entries it reads: every row
// but the last vertex's is read in full, which covers every entry of a
// symmetric W, so finite() tells whether W was finite off the diagonal.
template <class T>
class DenseRegions {
public:
    using weight_type = T;
    using I = typename PrimLanes<T>::I;

    DenseRegions(const T* W, index_t n, int regions, bool check_finite)
        : W_(W), n_(n), check_finite_(check_finite), key_(static_cast<std::size_t>(n), -std::numeric_limits<T>::infinity()),
          par_(static_cast<std::size_t>(n), 0) {
        constexpr index_t L = PrimLanes<T>::L;
        if (n > 0) key_[0] = std::numeric_limits<T>::quiet_NaN();
        const index_t parts = std::max(1, regions);
        share_ = std::max<index_t>(detail::round_up((n + parts - 1) / parts, L), L);
        regions_ = static_cast<int>(std::max<index_t>(1, (n + share_ - 1) / share_));
        checks_.assign(static_cast<std::size_t>(regions_) * 8, T(0));  // a cache line per region
    }

    int regions() const { return regions_; }
    void fill(int) {}

    PrimCandidate<T> step(int r, index_t v) {
        const index_t lo = std::min(n_, r * share_), hi = std::min(n_, lo + share_);
        T* check = check_finite_ ? &checks_[static_cast<std::size_t>(r) * 8] : nullptr;
        return prim_dense_step(W_ + v * n_, key_.data(), par_.data(), v, lo, hi, check);
    }

    void take(int, const PrimCandidate<T>& c) { key_[static_cast<std::size_t>(c.u)] = std::numeric_limits<T>::quiet_NaN(); }

    bool finite() const {
        for (std::size_t t = 0; t < checks_.size(); t += 8) {
            if (!(checks_[t] == T(0))) return false;
        }
        return true;
    }

private:
    const T* W_;
    index_t n_;
    bool check_finite_;
    std::vector<T> key_;
    std::vector<I> par_;
    std::vector<T> checks_;
    index_t share_ = 1;
    int regions_ = 1;
};

// The layout of the point sources' regions (PointRegions here,
// MutualReachabilityRegions in density/mr_prim.hpp): vertices 1..n-1 dealt to
// `regions` regions in chunks of `chunk` (round robin); region t owns the slots
// [offs[t], offs[t] + caps[t]), its capacity rounded up to the lane count.
struct RegionLayout {
    index_t n, chunk;
    int regions;
    std::vector<index_t> offs, caps;

    RegionLayout(index_t n_, int regions_, index_t chunk_, index_t lanes)
        : n(n_), chunk(std::max<index_t>(chunk_, 1)), regions(std::max(1, regions_)) {
        const index_t nchunks = (n + chunk - 1) / chunk;
        offs.assign(static_cast<std::size_t>(regions) + 1, 0);
        caps.assign(static_cast<std::size_t>(regions), 0);
        for (int t = 0; t < regions; ++t) {
            index_t count = 0;
            for (index_t ch = t; ch < nchunks; ch += regions) count += std::min(n, (ch + 1) * chunk) - ch * chunk;
            if (t == 0 && count > 0) --count;
            const std::size_t s = static_cast<std::size_t>(t);
            caps[s] = std::max<index_t>(detail::round_up(count, lanes), lanes);
            offs[s + 1] = offs[s] + caps[s];
        }
    }

    index_t total() const { return offs.back(); }

    // f(slot, u) for the vertices u of region t, slots from 0; returns the count.
    template <class F>
    index_t for_each(int t, F&& f) const {
        const index_t nchunks = (n + chunk - 1) / chunk;
        index_t slot = 0;
        for (index_t ch = t; ch < nchunks; ch += regions) {
            for (index_t u = std::max<index_t>(ch * chunk, 1); u < std::min(n, (ch + 1) * chunk); ++u, ++slot) f(slot, u);
        }
        return slot;
    }
};

// Points X (n x d) with w(u, v) = -d(x_u, x_v) in double precision (cosine:
// on the normalised points). Vertices are dealt to the regions in chunks of
// `chunk` (round robin, so any order of removal stays balanced); each region
// keeps its vertices' coordinates column-major and compact, padded to the lane
// count with NaN keys. Memory O(n d).
class PointRegions {
public:
    using weight_type = double;

    template <class T>
    PointRegions(const T* X, index_t n, index_t d, Metric metric, int regions, index_t chunk)
        : n_(n), d_(d), metric_(metric), chunk_(std::max<index_t>(chunk, 1)),
          regions_(std::max(1, regions)), rows_(static_cast<std::size_t>(n * d)) {
        constexpr index_t L = PrimLanes<double>::L;
        // Row-major double copy (normalised for cosine), read by every region for x_v.
        for (index_t i = 0; i < n; ++i) {
            double scale = 1.0;
            if (metric == Metric::cosine) {
                double norm2 = 0.0;
                for (index_t c = 0; c < d; ++c) norm2 += static_cast<double>(X[i * d + c]) * static_cast<double>(X[i * d + c]);
                scale = norm2 > 0.0 ? 1.0 / std::sqrt(norm2) : 0.0;
            }
            for (index_t c = 0; c < d; ++c) rows_[static_cast<std::size_t>(i * d + c)] = static_cast<double>(X[i * d + c]) * scale;
        }
        // Region t holds the vertices of chunks c with c % regions == t (vertex 0 excluded).
        const RegionLayout layout(n, regions_, chunk_, L);
        offs_ = layout.offs;
        caps_ = layout.caps;
        live_.assign(static_cast<std::size_t>(regions_) * 8, 0);  // a cache line each
        const index_t total = offs_.back();
        cols_.resize(static_cast<std::size_t>(total * std::max<index_t>(d, 1)));
        key_.resize(static_cast<std::size_t>(total));
        wbuf_.resize(static_cast<std::size_t>(total));
        par_.resize(static_cast<std::size_t>(total));
        ids_.resize(static_cast<std::size_t>(total));
    }

    int regions() const { return regions_; }

    void fill(int t) {
        const index_t off = offs_[static_cast<std::size_t>(t)], cap = caps_[static_cast<std::size_t>(t)];
        double* tcols = cols_.data() + off * d_;
        index_t slot = RegionLayout(n_, regions_, chunk_, 1).for_each(t, [&](index_t sl, index_t u) {
            for (index_t c = 0; c < d_; ++c) tcols[c * cap + sl] = rows_[static_cast<std::size_t>(u * d_ + c)];
            key_[static_cast<std::size_t>(off + sl)] = -std::numeric_limits<double>::infinity();
            par_[static_cast<std::size_t>(off + sl)] = 0;
            ids_[static_cast<std::size_t>(off + sl)] = u;
        });
        live_[static_cast<std::size_t>(t) * 8] = slot;
        for (; slot < cap; ++slot) {
            for (index_t c = 0; c < d_; ++c) tcols[c * cap + slot] = 0.0;
            key_[static_cast<std::size_t>(off + slot)] = std::numeric_limits<double>::quiet_NaN();
            par_[static_cast<std::size_t>(off + slot)] = 0;
            ids_[static_cast<std::size_t>(off + slot)] = 0;
        }
    }

    PrimCandidate<double> step(int t, index_t v) {
        constexpr index_t L = PrimLanes<double>::L;
        const index_t off = offs_[static_cast<std::size_t>(t)];
        return prim_point_step(cols_.data() + off * d_, caps_[static_cast<std::size_t>(t)], d_, rows_.data() + v * d_,
                               static_cast<int>(metric_), key_.data() + off, par_.data() + off, ids_.data() + off,
                               wbuf_.data() + off, v, detail::round_up(live_[static_cast<std::size_t>(t) * 8], L));
    }

    // Moves region t's last live slot into the taken vertex's slot.
    void take(int t, const PrimCandidate<double>& c) {
        const index_t off = offs_[static_cast<std::size_t>(t)], cap = caps_[static_cast<std::size_t>(t)];
        const index_t pos = c.pos;
        double* tcols = cols_.data() + off * d_;
        const index_t last = --live_[static_cast<std::size_t>(t) * 8];
        for (index_t k = 0; k < d_; ++k) tcols[k * cap + pos] = tcols[k * cap + last];
        const std::size_t p = static_cast<std::size_t>(off + pos), l = static_cast<std::size_t>(off + last);
        key_[p] = key_[l];
        par_[p] = par_[l];
        ids_[p] = ids_[l];
        key_[l] = std::numeric_limits<double>::quiet_NaN();
    }

private:
    index_t n_, d_;
    Metric metric_;
    index_t chunk_;
    int regions_;
    std::vector<double> rows_, cols_, key_, wbuf_;
    std::vector<std::int64_t> par_, ids_;
    std::vector<index_t> offs_, caps_, live_;
};

// Maximum spanning tree of a symmetric dense matrix W (n x n, diagonal
// ignored): Prim over DenseRegions. Threads are used only when each gets at
// least `min_share` columns. Returns false (and leaves `tree` unspecified) if
// an off-diagonal entry is NaN or infinite. `cancel`, if given, stops the run
// early (the tree is then unspecified). check_finite = false: the caller has
// already checked every entry.
template <class T>
bool prim_max_tree_dense(const T* W, index_t n, int n_threads, WeightedEdge<T>* tree, index_t min_share = 2048,
                         int stall_limit = detail::prim_stall_limit, const std::atomic<bool>* cancel = nullptr,
                         bool check_finite = true) {
    if (n <= 1) return true;
    using I = typename PrimLanes<T>::I;
    if (n > static_cast<index_t>(std::numeric_limits<I>::max())) {
        for (index_t t = 0; t < n * n; ++t) {
            if (t % (n + 1) != 0 && !std::isfinite(static_cast<double>(W[t]))) return false;
        }
        DenseRowSource<T> rows(W, n);
        prim_max_tree<T>(n, rows, tree);
        return true;
    }
    const index_t most = std::max<index_t>(1, n / std::max<index_t>(min_share, 1));
    const int regions = static_cast<int>(std::min<index_t>(std::max(n_threads, 1), most));
    DenseRegions<T> source(W, n, regions, check_finite);
    prim_tree(n, source, n_threads, tree, cancel, stall_limit);
    return source.finite();
}

// Maximum spanning tree of points with w(u, v) = -d(x_u, x_v) (double): Prim
// over PointRegions, one region per thread with at least `min_share` points.
template <class T>
void prim_max_tree_points(const T* X, index_t n, index_t d, Metric metric, int n_threads, WeightedEdge<double>* tree,
                          index_t min_share = 2048, index_t chunk = 256, int stall_limit = detail::prim_stall_limit) {
    if (n <= 1) return;
    const index_t most = std::max<index_t>(1, n / std::max<index_t>(min_share, 1));
    const int regions = static_cast<int>(std::min<index_t>(std::max(n_threads, 1), most));
    PointRegions source(X, n, d, metric, regions, chunk);
    prim_tree(n, source, n_threads, tree, nullptr, stall_limit);
}

}  // namespace diffclust
