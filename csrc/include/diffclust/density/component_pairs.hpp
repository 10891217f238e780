// The last rounds of the mutual-reachability Borůvka (density/boruvka.hpp) at
// once: the lightest edge between every two of a few components, then Kruskal.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "diffclust/core/parallel.hpp"
#include "diffclust/core/types.hpp"
#include "diffclust/core/union_find.hpp"
#include "diffclust/density/core_distances.hpp"

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

// bound = min(bound, v), shared between threads.
inline void atomic_min(std::atomic<double>& bound, double v) {
    double cur = bound.load(std::memory_order_relaxed);
    while (v < cur && !bound.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
    }
}

// The finishing pass takes over when at most this many components are left.
constexpr index_t pair_components = 16;

// What the pass reads of a Borůvka round: the kd-tree, by tree position the core
// distances and the components, by node the smallest core.
struct PairsView {
    const KdTree& tree;
    Metric metric;
    const std::vector<double>& core_t;
    const std::vector<double>& min_core;
    const std::vector<index_t>& comp_t;
};

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
inline double projection_bound(const KdTree& tree, Metric metric, index_t a, index_t b, const double* ca, const double* cb) {
    const auto& nodes = tree.nodes();
    const double* pts = tree.points();
    const index_t d = tree.dims();
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
    return metric == Metric::sqeuclidean ? bound * bound * (1.0 - 1e-9) : bound;
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
// cores and the distance between the boxes; at d >= 12 for big nodes also the
// projection bound) is heavier than the minimax path over the edges found so
// far between every two distinct components of the two sets (see refresh).
// The distances between two leaves are one tile (leaf_tiles.hpp). Tasks are
// pairs of subtrees, nearest first; each thread keeps its own table of edges
// (merged by the strict order: the same edges for any thread count), and the
// threads share the tables' weights as bounds (a racing bound only prunes
// pairs strictly heavier than a real edge: never the answer).
// Worth it where the kd-tree's boxes separate little (high d): there every
// round would scan nearly all pairs again; one pass here scans them once.
// Returns false (and does nothing) when more components are left.
inline bool finish_by_pairs(const PairsView& v, UnionFind& uf, int team, std::vector<MrEdge>& out) {
    const KdTree& tree = v.tree;
    const Metric metric = v.metric;
    const auto& core_t = v.core_t;
    const auto& min_core = v.min_core;
    const auto& comp_t = v.comp_t;
    const std::size_t n = static_cast<std::size_t>(tree.size());
    std::vector<index_t> id(n, -1);
    index_t m = 0;
    for (std::size_t t = 0; t < n; ++t) {
        index_t& slot = id[static_cast<std::size_t>(comp_t[t])];
        if (slot < 0) {
            if (m == pair_components) return false;
            slot = m++;
        }
    }
    const auto& nodes = tree.nodes();
    const auto& perm = tree.perm();
    std::vector<index_t> cid(n);
    for (std::size_t t = 0; t < n; ++t) cid[t] = id[static_cast<std::size_t>(comp_t[t])];
    std::vector<std::uint64_t> mask(nodes.size(), 0);
    for (std::size_t a = nodes.size(); a-- > 0;) {  // children after parents: bottom-up
        const auto& nd = nodes[a];
        if (nd.left < 0) {
            for (index_t t = nd.lo; t < nd.hi; ++t) mask[a] |= std::uint64_t(1) << cid[static_cast<std::size_t>(t)];
        } else {
            mask[a] = mask[static_cast<std::size_t>(nd.left)] | mask[static_cast<std::size_t>(nd.right)];
        }
    }
    auto lower = [&](index_t a, index_t b) {
        return std::max(std::max(min_core[static_cast<std::size_t>(a)], min_core[static_cast<std::size_t>(b)]),
                        finish_distance(tree.lower_raw_between(a, b, metric), metric));
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
    const index_t d = tree.dims();
    const double* pts = tree.points();
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
            const index_t ra = na.hi - na.lo, w = tree.panel_width(b), rb = nb.hi - nb.lo;
            sc.tile.resize(static_cast<std::size_t>(ra * w));
            sc.rowmin.resize(static_cast<std::size_t>(ra));
            leaf_tile_raw(pts + na.lo * d, ra, d, tree.panel(b), w, static_cast<int>(metric), sc.tile.data(), w,
                          sc.rowmin.data());
            const std::uint64_t mb = mask[static_cast<std::size_t>(b)];
            const double core_b = min_core[static_cast<std::size_t>(b)];
            for (index_t r = 0; r < ra; ++r) {
                const std::size_t tr = static_cast<std::size_t>(na.lo + r);
                const index_t i = perm[tr], ci = cid[tr];
                const double cr = core_t[tr];
                const double row_lb = std::max(std::max(cr, core_b), finish_distance(sc.rowmin[static_cast<std::size_t>(r)], metric));
                if (a != b && !open(sc, std::uint64_t(1) << ci, mb, row_lb)) continue;
                const double* row = sc.tile.data() + r * w;
                for (index_t s2 = a == b ? r + 1 : 0; s2 < rb; ++s2) {
                    const std::size_t ts = static_cast<std::size_t>(nb.lo + s2);
                    const index_t cj = cid[ts];
                    if (cj == ci) continue;
                    const std::size_t p = at(ci, cj);
                    MrEdge& e = best[p];
                    const double cm = std::max(cr, core_t[ts]);
                    if (cm > e.d) continue;
                    const index_t j = perm[ts];
                    const MrEdge f{std::max(cm, finish_distance(row[s2], metric)), std::min(i, j), std::max(i, j)};
                    if (mr_lighter(f, e)) {
                        e = f;
                        atomic_min(shared[p], f.d);
                    }
                }
            }
        };
        refresh(sc);
        const PairTask& job = tasks[static_cast<std::size_t>(task)];
        if (job.a != job.b) {
            const double lb = std::max(std::max(min_core[static_cast<std::size_t>(job.a)], min_core[static_cast<std::size_t>(job.b)]),
                                       projection_bound(tree, metric, job.a, job.b, centre(job.a), centre(job.b)));
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
                !open(sc, ma, mb, std::max(std::max(min_core[static_cast<std::size_t>(a)], min_core[static_cast<std::size_t>(b)]),
                                           projection_bound(tree, metric, a, b, centre(a), centre(b))))) {
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

}  // namespace density

}  // namespace diffclust
