// The exact minimum spanning tree of the mutual-reachability distance
//   d_mr(i, j) = max(core_i, core_j, d(x_i, x_j))
// by Borůvka over the kd-tree of density/core_distances.hpp (low d; the box
// metrics euclidean, sqeuclidean and manhattan). core = 0 gives the plain
// minimum spanning tree (single linkage).
//
// The answer. Edges are ordered by the package's strict order: lighter d_mr
// first, ties by the smaller pair (min(i, j), max(i, j)). Under a strict total
// order the spanning tree is unique, so this tree equals Prim's
// (density/mr_prim.hpp, forest/prim_sources.hpp) bit for bit: every distance
// is computed with the same operations in the same order (coordinates as
// doubles, terms summed in coordinate order from 0.0, then sqrt for
// euclidean), and d_mr is the same max of the same doubles.
//
// A round. Every point q looks for its lightest edge to a point of another
// component (a kd-tree search); a component's best edge is the lightest of its
// points' (reduced serially, in point order); every component's best edge
// joins the tree (cut property). The per-point searches are exact: a node is
// pruned only when its lower bound is heavier than the best edge found, or
// equal and its smallest point gives a larger pair (for a fixed q the pair
// (min(q, j), max(q, j)) grows with j). Bounds:
//   - max(core_q, the node's smallest core, the box distance) <= d_mr
//     (the box bound is computed as in KdTree: never above a true distance);
//   - nodes whose points are all in q's component are skipped;
//   - a component's best edge found so far by any thread (a racing atomic
//     bound): a node heavier than it cannot hold the component's edge. This
//     bound depends on the schedule, so it only prunes (strictly heavier),
//     and a search it cut is not cached;
//   - a point's exact nearest outside its component stays exact while that
//     neighbour has not joined its component (the candidates only shrink):
//     cached across rounds, never searched again.
// The result is identical for any thread count and schedule. Memory O(n d).
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

#include "diffclust/core/cancel.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/core/types.hpp"
#include "diffclust/core/union_find.hpp"
#include "diffclust/density/core_distances.hpp"
#include "diffclust/forest/kruskal.hpp"

namespace diffclust {

namespace density {

// An edge of the mutual-reachability tree: i < j, d = d_mr.
struct MrEdge {
    double d;
    index_t i, j;
};

// The strict order: lighter first, then the smaller pair (i < j in both).
inline bool mr_lighter(const MrEdge& a, const MrEdge& b) noexcept {
    if (a.d != b.d) return a.d < b.d;
    if (a.i != b.i) return a.i < b.i;
    return a.j < b.j;
}

class MrBoruvka {
public:
    // `core` in original point order (n,), all >= 0 and finite.
    MrBoruvka(const KdTree& tree, const double* core, Metric metric)
        : tree_(tree), metric_(metric), n_(tree.size()), d_(tree.dims()) {
        const auto& perm = tree.perm();
        const auto& nodes = tree.nodes();
        const std::size_t n = static_cast<std::size_t>(n_), m = nodes.size();
        core_t_.resize(n);
        for (std::size_t t = 0; t < n; ++t) core_t_[t] = core[perm[t]];
        min_core_.resize(m);
        min_id_.resize(m);
        node_comp_.resize(m);
        for (std::size_t a = m; a-- > 0;) {  // children after parents: bottom-up
            const auto& nd = nodes[a];
            if (nd.left < 0) {
                double c = std::numeric_limits<double>::infinity();
                index_t id = std::numeric_limits<index_t>::max();
                for (index_t t = nd.lo; t < nd.hi; ++t) {
                    c = std::min(c, core_t_[static_cast<std::size_t>(t)]);
                    id = std::min(id, perm[static_cast<std::size_t>(t)]);
                }
                min_core_[a] = c;
                min_id_[a] = id;
            } else {
                const std::size_t l = static_cast<std::size_t>(nd.left), r = static_cast<std::size_t>(nd.right);
                min_core_[a] = std::min(min_core_[l], min_core_[r]);
                min_id_[a] = std::min(min_id_[l], min_id_[r]);
            }
        }
    }

    // Seeds for the first round (optional), by tree position: the k nearest
    // other points of each point (tree positions, k per point) and a lower
    // bound of the raw distance of every other point (KdTree::knn_at). A seed
    // is a real edge, so it starts the search's bound; when it reaches core_q
    // (the least d_mr q can have) and no point outside the k can tie with it,
    // it is the exact answer and q is not searched at all.
    void set_seeds(const index_t* nbr, index_t k, const double* outside_raw) {
        nbr_ = nbr;
        k_ = k;
        outside_raw_ = outside_raw;
    }

    // The n - 1 edges of the tree (n >= 1), lightest first.
    std::vector<MrEdge> run(int n_threads) {
        std::vector<MrEdge> out;
        if (n_ <= 1) return out;
        out.reserve(static_cast<std::size_t>(n_ - 1));
        const std::size_t n = static_cast<std::size_t>(n_);
        const auto& perm = tree_.perm();
        UnionFind uf(n_);
        std::vector<index_t> comp_of(n);          // by original index
        comp_t_.assign(n, 0);                     // by tree position
        cache_j_.assign(n, -1);                   // exact nearest outside the component, or -1
        cache_d_.assign(n, 0.0);
        cand_j_.assign(n, -1);
        cand_d_.assign(n, 0.0);
        low_.assign(core_t_.begin(), core_t_.end());
        bound_ = std::vector<std::atomic<double>>(n);
        std::vector<MrEdge> best(n);
        std::vector<char> has(n);
        const int team = std::max(1, n_threads);
        constexpr index_t block = 64;
        std::vector<std::vector<index_t>> stacks(static_cast<std::size_t>(team));
        while (static_cast<index_t>(out.size()) < n_ - 1) {
            for (std::size_t i = 0; i < n; ++i) comp_of[i] = uf.find(static_cast<index_t>(i));
            for (std::size_t t = 0; t < n; ++t) comp_t_[t] = comp_of[static_cast<std::size_t>(perm[t])];
            label_nodes();
            for (std::size_t c = 0; c < n; ++c) bound_[c].store(std::numeric_limits<double>::infinity(), std::memory_order_relaxed);
            for (std::size_t t = 0; t < n; ++t) {
                const index_t j = cache_j_[t];
                if (j >= 0 && comp_of[static_cast<std::size_t>(j)] == comp_t_[t]) cache_j_[t] = -1;
                if (cache_j_[t] >= 0) {
                    auto& b = bound_[static_cast<std::size_t>(comp_t_[t])];
                    if (cache_d_[t] < b.load(std::memory_order_relaxed)) b.store(cache_d_[t], std::memory_order_relaxed);
                }
            }
            // the points to search, in tree order (neighbours one after the other)
            todo_.clear();
            for (std::size_t t = 0; t < n; ++t) {
                if (cache_j_[t] >= 0) {
                    cand_j_[t] = cache_j_[t];
                    cand_d_[t] = cache_d_[t];
                } else {
                    todo_.push_back(static_cast<index_t>(t));
                }
            }
            const index_t count = static_cast<index_t>(todo_.size());
            parallel_for_tid((count + block - 1) / block, team, [&](index_t b, int tid) {
                auto& stack = stacks[static_cast<std::size_t>(tid)];
                for (index_t u = b * block; u < std::min(count, (b + 1) * block); ++u) search(todo_[static_cast<std::size_t>(u)], stack);
            });
            // each component's best edge, reduced in point order
            std::fill(has.begin(), has.end(), 0);
            for (std::size_t t = 0; t < n; ++t) {
                const index_t j = cand_j_[t];
                if (j < 0) continue;
                const index_t q = perm[t];
                const MrEdge e{cand_d_[t], std::min(q, j), std::max(q, j)};
                const std::size_t c = static_cast<std::size_t>(comp_t_[t]);
                if (!has[c] || mr_lighter(e, best[c])) {
                    best[c] = e;
                    has[c] = 1;
                }
            }
            const std::size_t before = out.size();
            for (std::size_t c = 0; c < n; ++c) {
                if (has[c] && uf.unite(best[c].i, best[c].j) >= 0) out.push_back(best[c]);
            }
            first_round_ = false;
            if (out.size() == before) break;  // cannot happen with finite distances
            cancellation_point();
        }
        std::sort(out.begin(), out.end(), mr_lighter);
        return out;
    }

private:
    // node_comp_: the component of all the node's points, or -1 if mixed.
    void label_nodes() {
        const auto& nodes = tree_.nodes();
        for (std::size_t a = nodes.size(); a-- > 0;) {
            const auto& nd = nodes[a];
            if (nd.left < 0) {
                index_t c = comp_t_[static_cast<std::size_t>(nd.lo)];
                for (index_t t = nd.lo + 1; t < nd.hi && c >= 0; ++t) {
                    if (comp_t_[static_cast<std::size_t>(t)] != c) c = -1;
                }
                node_comp_[a] = c;
            } else {
                const index_t l = node_comp_[static_cast<std::size_t>(nd.left)];
                node_comp_[a] = l == node_comp_[static_cast<std::size_t>(nd.right)] ? l : -1;
            }
        }
    }

    // Point at tree position t: its lightest edge leaving its component, into cand_*.
    void search(index_t t, std::vector<index_t>& stack) {
        const std::size_t ts = static_cast<std::size_t>(t);
        const index_t c = comp_t_[ts];
        const double cq = core_t_[ts];
        std::atomic<double>& cbound = bound_[static_cast<std::size_t>(c)];
        cand_j_[ts] = -1;
        // low_[t] <= q's lightest edge leaving its component (the candidates only
        // shrink from round to round): above the component's bound, q cannot give
        // the component's edge
        if (low_[ts] > cbound.load(std::memory_order_relaxed)) return;
        const auto& nodes = tree_.nodes();
        const auto& perm = tree_.perm();
        const double* pts = tree_.points();
        const double* x = pts + t * d_;
        const Metric m = metric_;
        double bd = std::numeric_limits<double>::infinity();
        index_t bj = std::numeric_limits<index_t>::max();
        if (first_round_ && nbr_ != nullptr) {  // every component a single point
            for (index_t e = 0; e < k_; ++e) {
                const index_t s = nbr_[t * k_ + e];
                const std::size_t ss = static_cast<std::size_t>(s);
                const index_t j = perm[ss];
                const double dist = finish_distance(raw_distance(pts + s * d_, x, d_, m), m);
                const double dmr = std::max(std::max(cq, core_t_[ss]), dist);
                if (dmr < bd || (dmr == bd && j < bj)) {
                    bd = dmr;
                    bj = j;
                }
            }
            if (bd == cq && finish_distance(outside_raw_[ts], m) > cq) {
                cand_j_[ts] = cache_j_[ts] = bj;
                cand_d_[ts] = cache_d_[ts] = bd;
                low_[ts] = bd;
                double cur = cbound.load(std::memory_order_relaxed);
                while (bd < cur && !cbound.compare_exchange_weak(cur, bd, std::memory_order_relaxed)) {
                }
                return;
            }
        }
        bool exact = true;
        double cut = std::numeric_limits<double>::infinity();  // the least bound of a node cut by cbound
        stack.clear();
        stack.push_back(0);
        while (!stack.empty()) {
            const index_t a = stack.back();
            stack.pop_back();
            const std::size_t as = static_cast<std::size_t>(a);
            if (node_comp_[as] == c) continue;
            const auto& nd = nodes[as];
            double lb = std::max(cq, min_core_[as]);
            if (lb > bd || (lb == bd && min_id_[as] > bj)) continue;
            lb = std::max(lb, finish_distance(tree_.lower_raw(a, x, m), m));
            if (lb > bd || (lb == bd && min_id_[as] > bj)) continue;
            if (lb > cbound.load(std::memory_order_relaxed)) {
                exact = false;
                cut = std::min(cut, lb);
                continue;
            }
            if (nd.left >= 0) {
                // nearer child popped first
                const auto& l = nodes[static_cast<std::size_t>(nd.left)];
                const bool left_first = x[nd.dim] <= l.hi_box(nd.dim, d_, boxes_of());
                if (left_first) {
                    stack.push_back(nd.right);
                    stack.push_back(nd.left);
                } else {
                    stack.push_back(nd.left);
                    stack.push_back(nd.right);
                }
                continue;
            }
            for (index_t s = nd.lo; s < nd.hi; ++s) {
                const std::size_t ss = static_cast<std::size_t>(s);
                if (comp_t_[ss] == c) continue;
                const index_t j = perm[ss];
                const double cm = std::max(cq, core_t_[ss]);
                if (cm > bd || (cm == bd && j > bj)) continue;
                const double dist = finish_distance(raw_distance(pts + s * d_, x, d_, m), m);
                const double dmr = std::max(cm, dist);
                if (dmr < bd || (dmr == bd && j < bj)) {
                    bd = dmr;
                    bj = j;
                }
            }
        }
        low_[ts] = std::max(low_[ts], std::min(bd, cut));
        if (bj == std::numeric_limits<index_t>::max()) return;
        cand_j_[ts] = bj;
        cand_d_[ts] = bd;
        if (exact) {
            cache_j_[ts] = bj;
            cache_d_[ts] = bd;
        }
        double cur = cbound.load(std::memory_order_relaxed);
        while (bd < cur && !cbound.compare_exchange_weak(cur, bd, std::memory_order_relaxed)) {
        }
    }

    const std::vector<double>& boxes_of() const { return tree_.boxes(); }

    const KdTree& tree_;
    Metric metric_;
    index_t n_, d_;
    std::vector<double> core_t_, min_core_;
    std::vector<index_t> min_id_, node_comp_, comp_t_;
    std::vector<index_t> cache_j_, cand_j_, todo_;
    std::vector<double> cache_d_, cand_d_, low_;
    std::vector<std::atomic<double>> bound_;
    const index_t* nbr_ = nullptr;
    index_t k_ = 0;
    const double* outside_raw_ = nullptr;
    bool first_round_ = true;
};

}  // namespace density

// Whether Borůvka handles this metric (the kd-tree's box metrics).
inline bool boruvka_supports(Metric metric) { return metric != Metric::cosine; }

// The automatic choice between Borůvka and Prim. Measured (one thread, 10k points):
// with min_samples = 10, Borůvka/Prim CPU time 0.46 (10 blobs) and 0.58 (one
// Gaussian) at d = 8, 0.19 and 0.82 at d = 16, 0.29 and 1.11 at d = 32; with
// min_samples = 1 (single linkage: no core distances to share, no seeds) 0.33 at
// d = 4, 0.67 and 1.06 at d = 6, 2.0 at d = 8 (one Gaussian), but 0.28 at n = 50k,
// d = 6 (Prim is quadratic in n).
constexpr index_t boruvka_min_points = 256;
inline bool prefer_boruvka(index_t n, index_t d, Metric metric, index_t min_samples = 2) {
    if (!boruvka_supports(metric) || n < boruvka_min_points) return false;
    if (min_samples >= 2) return d <= 16;
    return d <= 4 || (d <= 6 && n >= 20000) || (d <= 8 && n >= 50000);
}

// Core distances (core, (n,)) and the mutual-reachability tree of X by kd-tree
// Borůvka: n - 1 edges, lightest first (see the top of this file). One kd-tree
// serves both. min_samples in [1, n]; the metric must be supported.
template <class T>
std::vector<density::MrEdge> mutual_reachability_boruvka(const T* X, index_t n, index_t d, Metric metric,
                                                         index_t min_samples, int n_threads, double* core) {
    if (min_samples < 1 || min_samples > n) throw std::invalid_argument("min_samples must be in [1, n]");
    if (!boruvka_supports(metric)) throw std::invalid_argument("Boruvka supports the euclidean, sqeuclidean and manhattan metrics");
    const std::vector<double> rows = density::metric_rows(X, n, d, metric);
    const density::KdTree tree(rows.data(), n, d);
    const index_t k = min_samples - 1;
    std::vector<index_t> nbr(static_cast<std::size_t>(n * k));  // O(n min_samples)
    std::vector<double> outside(static_cast<std::size_t>(k > 0 ? n : 0));
    if (k == 0) {
        std::fill(core, core + n, 0.0);
    } else {
        // core distances (as core_distances_kdtree: the same k-th raw) and each
        // point's k nearest, which seed Borůvka's first round
        constexpr index_t block = 4;  // leaves per task
        const int team = std::max(1, n_threads);
        std::vector<density::KdTree::LeafKnn> scratch(static_cast<std::size_t>(team));
        const auto& perm = tree.perm();
        const auto& leaves = tree.leaves();
        const index_t count = static_cast<index_t>(leaves.size());
        parallel_for_tid((count + block - 1) / block, team, [&](index_t b, int tid) {
            auto& sc = scratch[static_cast<std::size_t>(tid)];
            for (index_t e = b * block; e < std::min(count, (b + 1) * block); ++e) {
                const index_t leaf = leaves[static_cast<std::size_t>(e)];
                tree.knn_leaf<true>(leaf, k, metric, sc);
                const auto& nd = tree.nodes()[static_cast<std::size_t>(leaf)];
                for (index_t t = nd.lo; t < nd.hi; ++t) {
                    const std::size_t i = static_cast<std::size_t>(t - nd.lo);
                    const auto& heap = sc.heaps[i];
                    core[perm[static_cast<std::size_t>(t)]] = density::finish_distance(heap.front().first, metric);
                    outside[static_cast<std::size_t>(t)] = sc.outside[i];
                    for (index_t j = 0; j < k; ++j) nbr[static_cast<std::size_t>(t * k + j)] = heap[static_cast<std::size_t>(j)].second;
                }
            }
        });
    }
    density::MrBoruvka boruvka(tree, core, metric);
    if (k > 0) boruvka.set_seeds(nbr.data(), k, outside.data());
    return boruvka.run(n_threads);
}

// Exact k-forest of points with S_ij = -d(x_i, x_j) (as kforest_points) from
// the Borůvka tree (core = 0): the same forest, bit for bit.
template <class T>
void kforest_points_boruvka(const T* X, index_t n, index_t d, index_t k, Metric metric, ForestOut<double>& out,
                            int n_threads = 1) {
    check_k(n, k);
    check_size(d, "d");
    for (index_t t = 0; t < n * d; ++t) {
        if (!std::isfinite(static_cast<double>(X[t]))) throw std::invalid_argument("X contains NaN or infinity");
    }
    std::vector<double> core(static_cast<std::size_t>(n));
    const std::vector<density::MrEdge> edges = mutual_reachability_boruvka(X, n, d, metric, 1, n_threads, core.data());
    std::vector<WeightedEdge<double>> tree(edges.size());
    for (std::size_t e = 0; e < edges.size(); ++e) tree[e] = WeightedEdge<double>{-edges[e].d, edges[e].i, edges[e].j};
    kforest_from_tree(n, k, tree, out);
    double value = 0.0;
    for (index_t e = 0; e < n - k; ++e) value += 2.0 * out.weights[e];
    *out.value = value;
}

}  // namespace diffclust
