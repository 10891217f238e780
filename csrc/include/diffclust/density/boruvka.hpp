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
// finishes the tree (finish_by_pairs). The per-point searches are exact: a node is
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
            if (finish_by_pairs(uf, team, out)) break;
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

    // The last rounds at once, when at most pair_components components are
    // left: the lightest edge between every two components (the
    // strict order), then Kruskal over those edges. The tree is the current
    // forest plus the spanning tree of the components under their lightest
    // connecting edges (the forest is part of the tree, and of several edges
    // between two components only the lightest can be in it), so the answer is
    // the same as the rounds'. One dual traversal of the kd-tree over pairs of
    // nodes, each node knowing the set of components of its points (a 64-bit
    // mask): a pair is skipped when its lower bound (max of the two smallest
    // cores and the distance between the boxes) is heavier than the lightest
    // edge found so far between every two distinct components of the two sets.
    // The distances between two leaves are one tile (leaf_tiles.hpp). Tasks are
    // pairs of subtrees, nearest first; each thread keeps its own table of edges
    // (merged by the strict order: the same edges for any thread count), and the
    // threads share the tables' weights as bounds (a racing bound only prunes
    // pairs strictly heavier than a real edge: never the answer).
    // Worth it where the kd-tree's boxes separate little (high d): there every
    // round would scan nearly all pairs again; one pass here scans them once.
    // Returns false (and does nothing) when more components are left.
    static constexpr index_t pair_components = 16;

    struct PairTask {
        double lb;  // the squared distance between the two centroids (the order of the tasks)
        index_t a, b;
    };

    // A lower bound of the distance (in the metric's units) between any point of
    // node a and any point of node b, from their projections on the line through
    // the centroids ca and cb: |<u, x - y>| <= ||x - y||_2 <= ||x - y||_1 for a
    // unit u. Computed in double with generous margins (1e-9 relative) for the
    // rounding of the projections and of the distances; 0 when the projections
    // overlap.
    double projection_bound(index_t a, index_t b, const double* ca, const double* cb) const {
        const auto& nodes = tree_.nodes();
        const double* pts = tree_.points();
        const index_t d = d_;
        std::vector<double> u(static_cast<std::size_t>(d));
        double norm2 = 0.0;
        for (index_t k = 0; k < d; ++k) {
            u[static_cast<std::size_t>(k)] = cb[k] - ca[k];
            norm2 += u[static_cast<std::size_t>(k)] * u[static_cast<std::size_t>(k)];
        }
        if (!(norm2 > 0.0) || !std::isfinite(norm2)) return 0.0;
        const double inv = 1.0 / std::sqrt(norm2);
        for (auto& v : u) v *= inv;
        auto range = [&](index_t node, double& lo, double& hi, double& mag) {
            const auto& nd = nodes[static_cast<std::size_t>(node)];
            lo = std::numeric_limits<double>::infinity();
            hi = -lo;
            mag = 0.0;
            for (index_t t = nd.lo; t < nd.hi; ++t) {
                double p = 0.0, m = 0.0;
                for (index_t k = 0; k < d; ++k) {
                    p += u[static_cast<std::size_t>(k)] * pts[t * d + k];
                    m += std::fabs(u[static_cast<std::size_t>(k)] * pts[t * d + k]);
                }
                lo = std::min(lo, p);
                hi = std::max(hi, p);
                mag = std::max(mag, m);
            }
        };
        double alo, ahi, amag, blo, bhi, bmag;
        range(a, alo, ahi, amag);
        range(b, blo, bhi, bmag);
        const double gap = std::max(blo - ahi, alo - bhi);
        const double bound = gap * (1.0 - 1e-9) - 1e-9 * (amag + bmag);
        if (!(bound > 0.0)) return 0.0;
        return metric_ == Metric::sqeuclidean ? bound * bound * (1.0 - 1e-9) : bound;
    }

    bool finish_by_pairs(UnionFind& uf, int team, std::vector<MrEdge>& out) {
        const std::size_t n = static_cast<std::size_t>(n_);
        std::vector<index_t> id(n, -1);
        index_t m = 0;
        for (std::size_t t = 0; t < n; ++t) {
            index_t& slot = id[static_cast<std::size_t>(comp_t_[t])];
            if (slot < 0) {
                if (m == pair_components) return false;
                slot = m++;
            }
        }
        const auto& nodes = tree_.nodes();
        const auto& perm = tree_.perm();
        std::vector<index_t> cid(n);
        for (std::size_t t = 0; t < n; ++t) cid[t] = id[static_cast<std::size_t>(comp_t_[t])];
        std::vector<std::uint64_t> mask(nodes.size(), 0);
        for (std::size_t a = nodes.size(); a-- > 0;) {  // children after parents: bottom-up
            const auto& nd = nodes[a];
            if (nd.left < 0) {
                for (index_t t = nd.lo; t < nd.hi; ++t) mask[a] |= std::uint64_t(1) << cid[static_cast<std::size_t>(t)];
            } else {
                mask[a] = mask[static_cast<std::size_t>(nd.left)] | mask[static_cast<std::size_t>(nd.right)];
            }
        }
        const Metric metric = metric_;
        auto lower = [&](index_t a, index_t b) {
            return std::max(std::max(min_core_[static_cast<std::size_t>(a)], min_core_[static_cast<std::size_t>(b)]),
                            finish_distance(tree_.lower_raw_between(a, b, metric), metric));
        };
        // tasks: every unordered pair of the subtrees at depth 5 (or shallower leaves)
        std::vector<index_t> front;
        {
            std::vector<std::pair<index_t, int>> st{{0, 0}};
            while (!st.empty()) {
                const auto [a, depth] = st.back();
                st.pop_back();
                const auto& nd = nodes[static_cast<std::size_t>(a)];
                if (nd.left < 0 || depth == 5) {
                    front.push_back(a);
                } else {
                    st.emplace_back(nd.right, depth + 1);
                    st.emplace_back(nd.left, depth + 1);
                }
            }
        }
        // the subtrees' centroids: tasks run nearest centroids first (in high d the
        // boxes say little about which pairs are near), and a task's points are
        // projected on the line through its two centroids (projection_bound)
        const index_t d = d_;
        const double* pts = tree_.points();
        std::vector<double> centroid(nodes.size() * static_cast<std::size_t>(d), 0.0);  // by node
        for (std::size_t a = nodes.size(); a-- > 0;) {  // children after parents: bottom-up
            const auto& nd = nodes[a];
            double* c = centroid.data() + a * static_cast<std::size_t>(d);
            if (nd.left < 0) {
                for (index_t t = nd.lo; t < nd.hi; ++t) {
                    for (index_t k = 0; k < d; ++k) c[k] += pts[t * d + k];
                }
                for (index_t k = 0; k < d; ++k) c[k] /= static_cast<double>(nd.hi - nd.lo);
            } else {
                const auto& l = nodes[static_cast<std::size_t>(nd.left)];
                const double* cl = centroid.data() + static_cast<std::size_t>(nd.left) * static_cast<std::size_t>(d);
                const double* cr = centroid.data() + static_cast<std::size_t>(nd.right) * static_cast<std::size_t>(d);
                const double fl = static_cast<double>(l.hi - l.lo) / static_cast<double>(nd.hi - nd.lo);
                for (index_t k = 0; k < d; ++k) c[k] = fl * cl[k] + (1.0 - fl) * cr[k];
            }
        }
        auto centre = [&](index_t a) { return centroid.data() + static_cast<std::size_t>(a) * static_cast<std::size_t>(d); };
        std::vector<PairTask> tasks;
        for (std::size_t u = 0; u < front.size(); ++u) {
            for (std::size_t v = u; v < front.size(); ++v) {
                const index_t a = front[u], b = front[v];
                const std::uint64_t ma = mask[static_cast<std::size_t>(a)], mb = mask[static_cast<std::size_t>(b)];
                if (ma == mb && (ma & (ma - 1)) == 0) continue;  // one component
                tasks.push_back(PairTask{raw_distance(centre(a), centre(b), d, Metric::sqeuclidean), a, b});
            }
        }
        std::sort(tasks.begin(), tasks.end(), [](const PairTask& x, const PairTask& y) {
            return x.lb != y.lb ? x.lb < y.lb : (x.a != y.a ? x.a < y.a : x.b < y.b);
        });
        const std::size_t mm = static_cast<std::size_t>(m) * static_cast<std::size_t>(m);
        const MrEdge none{std::numeric_limits<double>::infinity(), std::numeric_limits<index_t>::max(),
                          std::numeric_limits<index_t>::max()};
        std::vector<std::vector<MrEdge>> tables(static_cast<std::size_t>(team), std::vector<MrEdge>(mm, none));
        std::vector<std::atomic<double>> shared(mm);
        for (auto& v : shared) v.store(std::numeric_limits<double>::infinity(), std::memory_order_relaxed);
        auto at = [m](index_t u, index_t v) {
            return static_cast<std::size_t>(std::min(u, v)) * static_cast<std::size_t>(m) + static_cast<std::size_t>(std::max(u, v));
        };
        struct Scratch {
            std::vector<double> tile, rowmin, bottleneck;
            std::vector<std::pair<index_t, index_t>> stack;
            index_t tiles = 0;
        };
        std::vector<Scratch> scratch(static_cast<std::size_t>(team));
        // bottleneck[u m + v]: the heaviest edge on the lightest path from u to v
        // over the edges found so far (a minimax path, Floyd-Warshall). An edge
        // between u and v heavier than it is the heaviest of a cycle of real
        // edges: not in the tree. So every edge of the tree between u and v is
        // found, and is then the lightest found between them; Kruskal over the
        // table (real edges containing the tree) returns the tree.
        auto refresh = [&](Scratch& sc) {
            sc.bottleneck.resize(mm);
            double* b = sc.bottleneck.data();
            for (index_t u = 0; u < m; ++u) {
                for (index_t v = 0; v < m; ++v) b[u * m + v] = u == v ? 0.0 : shared[at(u, v)].load(std::memory_order_relaxed);
            }
            for (index_t k = 0; k < m; ++k) {
                for (index_t u = 0; u < m; ++u) {
                    const double bu = b[u * m + k];
                    if (bu == std::numeric_limits<double>::infinity()) continue;
                    for (index_t v = 0; v < m; ++v) {
                        const double via = std::max(bu, b[k * m + v]);
                        if (via < b[u * m + v]) b[u * m + v] = via;
                    }
                }
            }
        };
        // whether some two distinct components of the sets ma and mb may still be
        // joined by a tree edge of weight lb (not heavier than their bottleneck)
        auto open = [&](const Scratch& sc, std::uint64_t ma, std::uint64_t mb, double lb) {
            for (std::uint64_t x = ma; x; x &= x - 1) {
                const index_t u = static_cast<index_t>(__builtin_ctzll(x));
                for (std::uint64_t y = mb & ~(std::uint64_t(1) << u); y; y &= y - 1) {
                    const index_t v = static_cast<index_t>(__builtin_ctzll(y));
                    if (!(lb > sc.bottleneck[static_cast<std::size_t>(u * m + v)])) return true;
                }
            }
            return false;
        };
        parallel_for_tid(static_cast<index_t>(tasks.size()), team, [&](index_t task, int tid) {
            std::vector<MrEdge>& best = tables[static_cast<std::size_t>(tid)];
            Scratch& sc = scratch[static_cast<std::size_t>(tid)];
            // the pairs of points (lo_a + r, lo_b + s) of two leaves (s > r when a == b)
            auto leaves = [&](index_t a, index_t b) {
                const auto& na = nodes[static_cast<std::size_t>(a)];
                const auto& nb = nodes[static_cast<std::size_t>(b)];
                const index_t ra = na.hi - na.lo, w = tree_.panel_width(b), rb = nb.hi - nb.lo;
                sc.tile.resize(static_cast<std::size_t>(ra * w));
                sc.rowmin.resize(static_cast<std::size_t>(ra));
                leaf_tile_raw(pts + na.lo * d, ra, d, tree_.panel(b), w, static_cast<int>(metric), sc.tile.data(), w,
                              sc.rowmin.data());
                const std::uint64_t mb = mask[static_cast<std::size_t>(b)];
                const double core_b = min_core_[static_cast<std::size_t>(b)];
                for (index_t r = 0; r < ra; ++r) {
                    const std::size_t tr = static_cast<std::size_t>(na.lo + r);
                    const index_t i = perm[tr], ci = cid[tr];
                    const double cr = core_t_[tr];
                    const double row_lb = std::max(std::max(cr, core_b), finish_distance(sc.rowmin[static_cast<std::size_t>(r)], metric));
                    if (a != b && !open(sc, std::uint64_t(1) << ci, mb, row_lb)) continue;
                    const double* row = sc.tile.data() + r * w;
                    for (index_t s2 = a == b ? r + 1 : 0; s2 < rb; ++s2) {
                        const std::size_t ts = static_cast<std::size_t>(nb.lo + s2);
                        const index_t cj = cid[ts];
                        if (cj == ci) continue;
                        const std::size_t p = at(ci, cj);
                        MrEdge& e = best[p];
                        const double cm = std::max(cr, core_t_[ts]);
                        if (cm > e.d) continue;
                        const index_t j = perm[ts];
                        const MrEdge f{std::max(cm, finish_distance(row[s2], metric)), std::min(i, j), std::max(i, j)};
                        if (mr_lighter(f, e)) {
                            e = f;
                            lower_bound(shared[p], f.d);
                        }
                    }
                }
            };
            refresh(sc);
            const PairTask& job = tasks[static_cast<std::size_t>(task)];
            if (job.a != job.b) {
                const double lb = std::max(std::max(min_core_[static_cast<std::size_t>(job.a)], min_core_[static_cast<std::size_t>(job.b)]),
                                           projection_bound(job.a, job.b, centre(job.a), centre(job.b)));
                if (!open(sc, mask[static_cast<std::size_t>(job.a)], mask[static_cast<std::size_t>(job.b)], lb)) return;
            }
            sc.stack.clear();
            sc.stack.emplace_back(job.a, job.b);
            while (!sc.stack.empty()) {
                const auto [a, b] = sc.stack.back();
                sc.stack.pop_back();
                const std::uint64_t ma = mask[static_cast<std::size_t>(a)], mb = mask[static_cast<std::size_t>(b)];
                if (ma == mb && (ma & (ma - 1)) == 0) continue;  // one component
                if (!open(sc, ma, mb, lower(a, b))) continue;
                const auto& na = nodes[static_cast<std::size_t>(a)];
                const auto& nb = nodes[static_cast<std::size_t>(b)];
                // big pairs in high d (where boxes bound little): the projection
                // bound too (it costs a pass over their points; at d = 8 it does not
                // pay: 50 000 points, 10 blobs 452 -> 480 ms; at d = 32 3.6 -> 1.7 s)
                if (a != b && d >= 12 && na.hi - na.lo >= 48 && nb.hi - nb.lo >= 48 &&
                    !open(sc, ma, mb, std::max(std::max(min_core_[static_cast<std::size_t>(a)], min_core_[static_cast<std::size_t>(b)]),
                                               projection_bound(a, b, centre(a), centre(b))))) {
                    continue;
                }
                if (a == b) {
                    if (na.left < 0) {
                        leaves(a, a);
                    } else {
                        sc.stack.emplace_back(na.left, na.right);
                        sc.stack.emplace_back(na.right, na.right);
                        sc.stack.emplace_back(na.left, na.left);
                    }
                    continue;
                }
                if (na.left < 0 && nb.left < 0) {
                    leaves(a, b);
                    if (++sc.tiles % 256 == 0) refresh(sc);
                    continue;
                }
                // split the larger node (a leaf is never split); nearer pair popped first
                const bool split_a = nb.left < 0 || (na.left >= 0 && na.hi - na.lo >= nb.hi - nb.lo);
                const index_t keep = split_a ? b : a, sp = split_a ? a : b;
                const auto& ns = nodes[static_cast<std::size_t>(sp)];
                const double l1 = lower(ns.left, keep), l2 = lower(ns.right, keep);
                if (l1 <= l2) {
                    sc.stack.emplace_back(ns.right, keep);
                    sc.stack.emplace_back(ns.left, keep);
                } else {
                    sc.stack.emplace_back(ns.left, keep);
                    sc.stack.emplace_back(ns.right, keep);
                }
            }
        });
        std::vector<MrEdge> edges;
        for (index_t u = 0; u < m; ++u) {
            for (index_t v = u + 1; v < m; ++v) {
                MrEdge e = none;
                for (const auto& table : tables) {
                    const MrEdge& f = table[at(u, v)];
                    if (mr_lighter(f, e)) e = f;
                }
                if (e.i != none.i) edges.push_back(e);
            }
        }
        std::sort(edges.begin(), edges.end(), mr_lighter);
        for (const MrEdge& e : edges) {
            if (uf.unite(e.i, e.j) >= 0) out.push_back(e);
        }
        return true;
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
                lower_bound(cbound, bd);
                return true;
            }
            low_[ts] = std::max(low_[ts], lo);
        }
        // low_[t] <= q's lightest edge leaving its component (the candidates only
        // shrink from round to round): above the component's bound, q cannot give
        // the component's edge
        return low_[ts] > cbound.load(std::memory_order_relaxed);
    }

    static void lower_bound(std::atomic<double>& bound, double v) {
        double cur = bound.load(std::memory_order_relaxed);
        while (v < cur && !bound.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
        }
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
                if (bd < sc.bd[i]) lower_bound(bound_[static_cast<std::size_t>(c)], bd);  // a real edge of c
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
            lower_bound(bound_[static_cast<std::size_t>(comp_t_[ts])], bd);
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
