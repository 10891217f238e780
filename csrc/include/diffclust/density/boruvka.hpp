// The exact minimum spanning tree of the mutual-reachability distance
//   d_mr(i, j) = max(core_i, core_j, d(x_i, x_j))
// by Borůvka over the kd-tree of density/core_distances.hpp (the box metrics
// euclidean, sqeuclidean and manhattan). core = 0 gives the plain
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
// component (a kd-tree search; the points of a leaf search together, one
// traversal for all, the distances to a leaf as one vectorised tile); a
// component's best edge is the lightest of its points' (reduced serially, in
// point order); every component's best edge joins the tree (cut property).
// A point whose k nearest (kept from the core distances) settle its answer is
// not searched (see settled()). Once at most 16 components are left, one dual
// traversal finds the lightest edge between every two of them and Kruskal
// finishes the tree (density/component_pairs.hpp). The per-point searches are exact: a node is
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
#include "diffclust/density/component_pairs.hpp"
#include "diffclust/density/core_distances.hpp"
#include "diffclust/forest/kruskal.hpp"

namespace diffclust {

namespace density {

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

    // Seeds for every round (optional), by tree position: the k nearest other
    // points of each point (tree positions, k per point) and a lower bound of
    // the raw distance of every other point (KdTree::knn_leaf). The lightest
    // seed outside q's component is a real edge, so it starts the search's
    // bound; when no point outside the k can reach or tie it, it is the exact
    // answer and q is not searched at all (settled()).
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
        constexpr index_t block = 2;  // leaves per task
        std::vector<LeafScratch> scratch(static_cast<std::size_t>(team));
        while (static_cast<index_t>(out.size()) < n_ - 1) {
            for (std::size_t i = 0; i < n; ++i) comp_of[i] = uf.find(static_cast<index_t>(i));
            for (std::size_t t = 0; t < n; ++t) comp_t_[t] = comp_of[static_cast<std::size_t>(perm[t])];
            label_nodes();
            if (finish_by_pairs(PairsView{tree_, metric_, core_t_, min_core_, comp_t_}, uf, team, out)) {
                break;
            }
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
            // the points to search grouped by leaf: each group searched together
            groups_.clear();
            {
                const auto& leaves = tree_.leaves();
                const auto& nodes = tree_.nodes();
                std::size_t leaf = 0;
                for (std::size_t u = 0; u < todo_.size();) {
                    const index_t t = todo_[u];
                    while (nodes[static_cast<std::size_t>(leaves[leaf])].hi <= t) ++leaf;
                    const index_t hi = nodes[static_cast<std::size_t>(leaves[leaf])].hi;
                    std::size_t v = u;
                    while (v < todo_.size() && todo_[v] < hi) ++v;
                    groups_.push_back(Group{leaves[leaf], static_cast<index_t>(u), static_cast<index_t>(v)});
                    u = v;
                }
            }
            const index_t count = static_cast<index_t>(groups_.size());
            parallel_for_tid((count + block - 1) / block, team, [&](index_t b, int tid) {
                auto& sc = scratch[static_cast<std::size_t>(tid)];
                for (index_t u = b * block; u < std::min(count, (b + 1) * block); ++u) search_leaf(groups_[static_cast<std::size_t>(u)], sc);
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

    // A group of points to search: tree positions todo_[begin, end), all in `leaf`.
    struct Group {
        index_t leaf, begin, end;
    };

    // One thread's scratch for search_leaf.
    struct LeafScratch {
        std::vector<index_t> act, need, bj;
        std::vector<double> bd, cut, rows, tile, rowmin;
        std::vector<char> exact;
        std::vector<std::pair<index_t, double>> stack;  // (node, lower bound of the distance to the leaf's box)
    };

    // Whether point t need not be searched this round: its lower bound is above its
    // component's bound (cand_j_ = -1), or its k nearest give its exact lightest
    // edge leaving the component (into cand_* and the cache). Otherwise (bd, bj)
    // is the lightest edge among its k nearest (inf, max if none leave the
    // component), a real edge that starts the search.
    //
    // The k nearest s of q are within core_q, so d_mr(q, s) = max(core_q, core_s);
    // every other point is at raw distance >= outside_raw_[q] (knn_leaf), so its
    // d_mr is at least lo = max(core_q, that distance). The lightest of the k
    // nearest outside q's component is q's answer when it is below lo (no other
    // point can reach or tie it), and min(it, lo) bounds q's answer from below.
    bool settled(index_t t, double& bd, index_t& bj) {
        const std::size_t ts = static_cast<std::size_t>(t);
        const index_t c = comp_t_[ts];
        const double cq = core_t_[ts];
        std::atomic<double>& cbound = bound_[static_cast<std::size_t>(c)];
        cand_j_[ts] = -1;
        bd = std::numeric_limits<double>::infinity();
        bj = std::numeric_limits<index_t>::max();
        if (nbr_ != nullptr) {
            const auto& perm = tree_.perm();
            for (index_t e = 0; e < k_; ++e) {
                const std::size_t ss = static_cast<std::size_t>(nbr_[t * k_ + e]);
                if (comp_t_[ss] == c) continue;
                const index_t j = perm[ss];
                const double dmr = std::max(cq, core_t_[ss]);
                if (dmr < bd || (dmr == bd && j < bj)) {
                    bd = dmr;
                    bj = j;
                }
            }
            const double lo = std::max(cq, finish_distance(outside_raw_[ts], metric_));
            if (bd < lo) {
                cand_j_[ts] = cache_j_[ts] = bj;
                cand_d_[ts] = cache_d_[ts] = bd;
                low_[ts] = bd;
                atomic_min(cbound, bd);
                return true;
            }
            low_[ts] = std::max(low_[ts], lo);
        }
        // low_[t] <= q's lightest edge leaving its component (the candidates only
        // shrink from round to round): above the component's bound, q cannot give
        // the component's edge
        return low_[ts] > cbound.load(std::memory_order_relaxed);
    }


    // The points of group g, searched together: each one's lightest edge leaving
    // its component, into cand_*. One traversal of the tree for all of them: a
    // node is visited when some point may find its edge there, the bounds of each
    // point as in the top of this file with the distance between the leaf's box
    // and the node's box (never above the point's own box distance); the
    // distances to a visited leaf are one tile (leaf_tiles.hpp, raw_distance's
    // bits). A point's answer is the lightest edge in the strict order among the
    // points it evaluates, and every point it skips is provably not lighter, so
    // it does not depend on which other points share its group.
    void search_leaf(const Group& g, LeafScratch& sc) {
        sc.act.clear();
        sc.bd.clear();
        sc.bj.clear();
        for (index_t u = g.begin; u < g.end; ++u) {
            const index_t t = todo_[static_cast<std::size_t>(u)];
            double bd;
            index_t bj;
            if (settled(t, bd, bj)) continue;
            sc.act.push_back(t);
            sc.bd.push_back(bd);
            sc.bj.push_back(bj);
        }
        if (sc.act.empty()) return;
        const std::size_t na = sc.act.size();
        sc.cut.assign(na, std::numeric_limits<double>::infinity());
        sc.exact.assign(na, 1);
        const auto& nodes = tree_.nodes();
        const auto& perm = tree_.perm();
        const double* pts = tree_.points();
        const Metric m = metric_;
        sc.stack.clear();
        sc.stack.emplace_back(0, finish_distance(tree_.lower_raw_between(g.leaf, 0, m), m));
        while (!sc.stack.empty()) {
            const auto [a, box] = sc.stack.back();
            sc.stack.pop_back();
            const std::size_t as = static_cast<std::size_t>(a);
            const index_t nc = node_comp_[as], mid = min_id_[as];
            const double mc = min_core_[as];
            sc.need.clear();
            for (std::size_t i = 0; i < na; ++i) {
                const std::size_t ts = static_cast<std::size_t>(sc.act[i]);
                const index_t c = comp_t_[ts];
                if (nc == c) continue;
                const double lb = std::max(std::max(core_t_[ts], mc), box);
                if (lb > sc.bd[i] || (lb == sc.bd[i] && mid > sc.bj[i])) continue;
                if (lb > bound_[static_cast<std::size_t>(c)].load(std::memory_order_relaxed)) {
                    sc.exact[i] = 0;
                    sc.cut[i] = std::min(sc.cut[i], lb);
                    continue;
                }
                sc.need.push_back(static_cast<index_t>(i));
            }
            if (sc.need.empty()) continue;
            const auto& nd = nodes[as];
            if (nd.left >= 0) {
                const double bl = finish_distance(tree_.lower_raw_between(g.leaf, nd.left, m), m);
                const double br = finish_distance(tree_.lower_raw_between(g.leaf, nd.right, m), m);
                if (bl <= br) {  // nearer child popped first
                    sc.stack.emplace_back(nd.right, br);
                    sc.stack.emplace_back(nd.left, bl);
                } else {
                    sc.stack.emplace_back(nd.left, bl);
                    sc.stack.emplace_back(nd.right, br);
                }
                continue;
            }
            const std::size_t nn = sc.need.size();
            const index_t w = tree_.panel_width(a), cnt = nd.hi - nd.lo;
            sc.rows.resize(nn * static_cast<std::size_t>(d_));
            for (std::size_t r = 0; r < nn; ++r) {
                const double* x = pts + sc.act[static_cast<std::size_t>(sc.need[r])] * d_;
                std::copy(x, x + d_, sc.rows.begin() + static_cast<std::ptrdiff_t>(r * static_cast<std::size_t>(d_)));
            }
            sc.tile.resize(nn * static_cast<std::size_t>(w));
            sc.rowmin.resize(nn);
            leaf_tile_raw(sc.rows.data(), static_cast<index_t>(nn), d_, tree_.panel(a), w, static_cast<int>(m),
                          sc.tile.data(), w, sc.rowmin.data());
            for (std::size_t r = 0; r < nn; ++r) {
                const std::size_t i = static_cast<std::size_t>(sc.need[r]);
                const std::size_t ts = static_cast<std::size_t>(sc.act[i]);
                const index_t c = comp_t_[ts];
                const double cq = core_t_[ts];
                double bd = sc.bd[i];
                index_t bj = sc.bj[i];
                if (std::max(std::max(cq, mc), finish_distance(sc.rowmin[r], m)) > bd) continue;
                const double* row = sc.tile.data() + r * static_cast<std::size_t>(w);
                for (index_t s = 0; s < cnt; ++s) {
                    const std::size_t ss = static_cast<std::size_t>(nd.lo + s);
                    if (comp_t_[ss] == c) continue;
                    const index_t j = perm[ss];
                    const double cm = std::max(cq, core_t_[ss]);
                    if (cm > bd || (cm == bd && j > bj)) continue;
                    const double dmr = std::max(cm, finish_distance(row[s], m));
                    if (dmr < bd || (dmr == bd && j < bj)) {
                        bd = dmr;
                        bj = j;
                    }
                }
                if (bd < sc.bd[i]) atomic_min(bound_[static_cast<std::size_t>(c)], bd);  // a real edge of c
                sc.bd[i] = bd;
                sc.bj[i] = bj;
            }
        }
        for (std::size_t i = 0; i < na; ++i) {
            const std::size_t ts = static_cast<std::size_t>(sc.act[i]);
            const double bd = sc.bd[i];
            const index_t bj = sc.bj[i];
            low_[ts] = std::max(low_[ts], std::min(bd, sc.cut[i]));
            if (bj == std::numeric_limits<index_t>::max()) continue;
            cand_j_[ts] = bj;
            cand_d_[ts] = bd;
            if (sc.exact[i]) {
                cache_j_[ts] = bj;
                cache_d_[ts] = bd;
            }
            atomic_min(bound_[static_cast<std::size_t>(comp_t_[ts])], bd);
        }
    }

    const KdTree& tree_;
    Metric metric_;
    index_t n_, d_;
    std::vector<double> core_t_, min_core_;
    std::vector<index_t> min_id_, node_comp_, comp_t_;
    std::vector<index_t> cache_j_, cand_j_, todo_;
    std::vector<Group> groups_;
    std::vector<double> cache_d_, cand_d_, low_;
    std::vector<std::atomic<double>> bound_;
    const index_t* nbr_ = nullptr;
    index_t k_ = 0;
    const double* outside_raw_ = nullptr;
};

}  // namespace density

// Whether Borůvka handles this metric (the kd-tree's box metrics).
inline bool boruvka_supports(Metric metric) { return metric != Metric::cosine; }

// The automatic choice between Borůvka and Prim (or Prim's row blocks).
// With core distances (min_samples >= 2) Borůvka at every d: its seeds settle
// most points and the searches and the last pass over pairs of components are
// vectorised tiles. Measured (2 threads, min_samples = 10; Borůvka / row blocks
// / Prim): one isotropic Gaussian, n = 20 000: 0.47 / 1.41 s at d = 16, 0.81 /
// 2.11 / 2.48 s at d = 32, 1.59 / 3.35 s at d = 64; 10 000 x 128: 0.81 / 1.95 s;
// 10 Gaussian blobs, 50 000 x 32: 2.25 / 7.8 / 15.5 s; with min_samples = 2,
// 20 000 x 32: 1.55 / 2.01 / 3.55 s. With min_samples = 1 (single linkage: no
// core distances, no seeds) one thread, 10k points: Borůvka / Prim 0.33 at d =
// 4, 0.67 and 1.06 at d = 6, 2.0 at d = 8 (one Gaussian), but 0.28 at n = 50k,
// d = 6 (Prim is quadratic in n).
constexpr index_t boruvka_min_points = 256;
inline bool prefer_boruvka(index_t n, index_t d, Metric metric, index_t min_samples = 2) {
    if (!boruvka_supports(metric) || n < boruvka_min_points) return false;
    if (min_samples >= 2) return true;
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
        // point's k nearest, which seed every Borůvka round
        const auto& perm = tree.perm();
        density::for_each_leaf(
            tree, n_threads, [&](index_t leaf, density::KdTree::LeafKnn& sc) { tree.knn_leaf<true>(leaf, k, metric, sc); },
            [&](index_t t, std::size_t i, const density::KdTree::LeafKnn& sc) {
                const auto& heap = sc.heaps[i];
                core[perm[static_cast<std::size_t>(t)]] = density::finish_distance(heap.front().first, metric);
                outside[static_cast<std::size_t>(t)] = sc.outside[i];
                for (index_t j = 0; j < k; ++j) nbr[static_cast<std::size_t>(t * k + j)] = heap[static_cast<std::size_t>(j)].second;
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
