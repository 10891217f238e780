// Block kernels of the exact k-forest of points, for out-of-core and
// distributed front ends (diffclust.dask): the maximum spanning tree split
// into row blocks of the points.
//
// Vertices keep their global indices (block offset + local row). Weights are
// -d(x_i, x_j) computed exactly as kforest_points computes them in memory
// (forest/prim_sources.hpp): the same float64 rows (normalised the same way
// for cosine), the same distance routine (column_block_distances of
// core/point_metrics.hpp: coordinates summed in order, no FMA), and ties
// broken by the strict edge order of core/types.hpp on global indices. Under
// that order the maximum spanning tree is unique and the cycle property holds
// in every subgraph, so
//   - the tree of block P is the MST of G[P]   (block_tree_points);
//   - the MST edges between blocks P and Q are the cross edges of the MST of
//     the union of the two block trees and of the MST of the complete
//     bipartite graph between P and Q          (pair_cross_edges);
//   - Kruskal over any union of such edge sets keeps every MST edge of G that
//     it sees, and among them the n - k heaviest of the MST of G are within
//     its first n - k kept edges               (kruskal_edges).
// Hence the heaviest n - k edges of Kruskal over all block trees and all
// pairs' cross edges are exactly the k-forest kforest_points returns, for any
// chunking and any order or grouping of the merges.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "diffclust/core/cancel.hpp"
#include "diffclust/core/checks.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/core/point_metrics.hpp"
#include "diffclust/core/sort.hpp"
#include "diffclust/core/types.hpp"
#include "diffclust/core/union_find.hpp"
#include "diffclust/forest/kruskal.hpp"
#include "diffclust/forest/prim_kernels.hpp"
#include "diffclust/forest/prim_sources.hpp"

namespace diffclust {

namespace detail {

// Global indices must fit with room to spare: offset + rows <= 2^62.
inline void require_offset(index_t offset, index_t rows, const char* name) {
    constexpr index_t limit = index_t(1) << 62;
    if (offset < 0 || rows > limit || offset > limit - rows) {
        throw std::invalid_argument(std::string(name) + " must be in [0, 2**62 - rows], got " + std::to_string(offset));
    }
}

[[noreturn]] inline void distance_overflow() {
    throw std::overflow_error("a distance between two points overflows float64; rescale X");
}

}  // namespace detail

// The rows of X (b x d) as the in-memory Prim sees them (PointRegions): float64,
// and for cosine each row times 1 / sqrt(sum of its squares) (zero rows stay zero).
template <class T>
void point_rows_double(const T* X, index_t b, index_t d, Metric metric, double* out) {
    for (index_t i = 0; i < b; ++i) {
        double scale = 1.0;
        if (metric == Metric::cosine) {
            double norm2 = 0.0;
            for (index_t c = 0; c < d; ++c) norm2 += static_cast<double>(X[i * d + c]) * static_cast<double>(X[i * d + c]);
            scale = norm2 > 0.0 ? 1.0 / std::sqrt(norm2) : 0.0;
        }
        for (index_t c = 0; c < d; ++c) out[i * d + c] = static_cast<double>(X[i * d + c]) * scale;
    }
}

// (a) The maximum spanning tree of one row block X (b x d) whose first row is
// global point `offset`: b - 1 edges with global indices, heaviest first.
template <class T>
std::vector<WeightedEdge<double>> block_tree_points(const T* X, index_t b, index_t d, index_t offset, Metric metric) {
    if (b < 1 || d < 1) throw std::invalid_argument("a block needs at least one point and one coordinate");
    detail::require_offset(offset, b, "offset");
    require_finite_points(X, b * d, "X");
    std::vector<WeightedEdge<double>> tree(static_cast<std::size_t>(b - 1));
    prim_max_tree_points(X, b, d, metric, 1, tree.data());
    for (auto& e : tree) {
        if (!(e.w > -std::numeric_limits<double>::infinity())) detail::distance_overflow();
        e.i += offset;
        e.j += offset;
    }
    sort_edges_heaviest_first(tree);
    return tree;
}

// A Prim step kernel over points with core distances (density/mr_prim.hpp's
// prim_mr_step): weights -max(core_v, core_u, d(x_v, x_u)).
using MrStepFn = PrimCandidate<double> (*)(const double* cols, index_t stride, index_t d, const double* x,
                                           double core_v, int metric, double* key, std::int64_t* par,
                                           const std::int64_t* ids, const double* core, index_t v, index_t m_pad);

// Core distances of the two blocks of a pair and the step that uses them (all
// null: plain distances).
struct PairCores {
    const double* a = nullptr;
    const double* b = nullptr;
    MrStepFn step = nullptr;
};

namespace detail {

// One side of the bipartite Prim: the points not yet in the tree, compact in
// slots [0, m) of arrays padded to the lane count (padding: NaN keys, zero
// coordinates), laid out as the in-memory Prim's regions (prim_sources.hpp)
// so that the in-memory step kernel prim_point_step computes the distances
// and folds them into the keys: coordinates column-major (d rows of stride
// `cap`), the row copy for when a point joins, key, parent and global id.
struct BipartiteSide {
    // Keys are grouped by `group` slots; gmax[g] is the largest live key of group g,
    // so that best() scans the groups and then only the groups holding the top key.
    static constexpr index_t group = 64;
    index_t cap = 0, m = 0, d = 0, base = 0;
    int metric_code = 0;
    bool reached = false;  // relaxed at least once: every live slot has a parent
    std::vector<double> rows, cols, key, wbuf, gmax;
    std::vector<std::int64_t> par, ids;
    // Mutual reachability (density/mr_blocks.hpp): the core distances by slot and
    // by local row, and the step kernel that folds them in; empty: plain distances.
    std::vector<double> core, core_rows;
    MrStepFn mr_step = nullptr;

    template <class T>
    BipartiteSide(const T* X, index_t b, index_t d_, index_t offset, Metric metric)
        : cap(std::max<index_t>(detail::round_up(b, PrimLanes<double>::L), PrimLanes<double>::L)), m(b), d(d_),
          base(offset), metric_code(static_cast<int>(metric)), rows(static_cast<std::size_t>(b * d_)),
          cols(static_cast<std::size_t>(cap * d_), 0.0), key(static_cast<std::size_t>(cap), std::numeric_limits<double>::quiet_NaN()),
          wbuf(static_cast<std::size_t>(cap)), par(static_cast<std::size_t>(cap), 0), ids(static_cast<std::size_t>(cap), 0) {
        point_rows_double(X, b, d, metric, rows.data());
        for (index_t s = 0; s < b; ++s) {
            for (index_t c = 0; c < d; ++c) cols[static_cast<std::size_t>(c * cap + s)] = rows[static_cast<std::size_t>(s * d + c)];
            key[static_cast<std::size_t>(s)] = -std::numeric_limits<double>::infinity();
            ids[static_cast<std::size_t>(s)] = offset + s;
        }
        gmax.assign(static_cast<std::size_t>((cap + group - 1) / group), -std::numeric_limits<double>::infinity());
    }

    // Mutual-reachability weights: core distances c (this block's rows) and the step.
    void set_core(const double* c, MrStepFn step) {
        core_rows.assign(c, c + m);
        core.assign(static_cast<std::size_t>(cap), 0.0);
        std::copy(c, c + m, core.begin());
        mr_step = step;
    }

    // gmax of group g over its live slots (-inf if none).
    void regroup(index_t g) {
        const index_t lo = g * group, hi = std::min(m, lo + group);
        const double* k = key.data();
        double t = -std::numeric_limits<double>::infinity();
        for (index_t s = lo; s < hi; ++s) t = k[s] > t ? k[s] : t;
        gmax[static_cast<std::size_t>(g)] = t;
    }

    // The point in slot s joins the tree; returns its row in `rows` (its local
    // index). The last live slot moves into s and becomes padding.
    index_t take(index_t s) {
        const std::size_t p = static_cast<std::size_t>(s);
        const index_t local = ids[p] - base;
        const index_t last = --m;
        const std::size_t l = static_cast<std::size_t>(last);
        for (index_t c = 0; c < d; ++c) {
            cols[static_cast<std::size_t>(c * cap + s)] = cols[static_cast<std::size_t>(c * cap + last)];
            cols[static_cast<std::size_t>(c * cap + last)] = 0.0;
        }
        key[p] = key[l];
        par[p] = par[l];
        ids[p] = ids[l];
        key[l] = std::numeric_limits<double>::quiet_NaN();
        par[l] = 0;
        ids[l] = 0;
        if (!core.empty()) core[p] = core[l], core[l] = 0.0;
        regroup(s / group);
        if (last / group != s / group) regroup(last / group);
        return local;
    }

    // The edges (v, u) from the new tree vertex v (row x, global id g) to every
    // live slot u fold into the keys (strict order on global pairs); returns
    // this side's best candidate (u < 0: none).
    // core_v: the core distance of the new tree vertex (mutual reachability only).
    // With core distances, an overflowing distance shows as a live key still at
    // -inf (the step kernel skips distances it does not need, so no buffer holds
    // them all).
    PrimCandidate<double> relax(const double* x, index_t g, double core_v = 0.0) {
        reached = true;
        if (m == 0) return PrimCandidate<double>{-std::numeric_limits<double>::infinity(), -1, -1, -1};
        const index_t m_pad = detail::round_up(m, PrimLanes<double>::L);
        const PrimCandidate<double> c =
            mr_step ? mr_step(cols.data(), cap, d, x, core_v, metric_code, key.data(), par.data(), ids.data(),
                              core.data(), g, m_pad)
                    : prim_point_step(cols.data(), cap, d, x, metric_code, key.data(), par.data(), ids.data(),
                                      wbuf.data(), g, m_pad);
        const double* seen = mr_step ? key.data() : wbuf.data();
        bool overflow = false;
        for (index_t s = 0; s < m; ++s) overflow = overflow || seen[static_cast<std::size_t>(s)] == -std::numeric_limits<double>::infinity();
        if (overflow) distance_overflow();
        for (index_t g = 0; g * group < m; ++g) regroup(g);
        return c;
    }

    // The best live slot in the strict order (u < 0: none): the largest key over
    // the group maxima, then the smallest pair among the slots holding it, in the
    // groups whose maximum it is. Keys are finite once the side has been relaxed.
    PrimCandidate<double> best() const {
        PrimCandidate<double> b{-std::numeric_limits<double>::infinity(), -1, -1, -1};
        if (!reached || m == 0) return b;
        const index_t groups = (m + group - 1) / group;
        const double* gm = gmax.data();
        double top = gm[0];
        for (index_t g = 1; g < groups; ++g) top = gm[g] > top ? gm[g] : top;
        const double* k = key.data();
        for (index_t g = 0; g < groups; ++g) {
            if (gm[g] != top) continue;
            for (index_t s = g * group; s < std::min(m, (g + 1) * group); ++s) {
                if (k[s] != top) continue;
                const std::size_t t = static_cast<std::size_t>(s);
                const PrimCandidate<double> c{top, ids[t], par[t], s};
                if (candidate_better(c, b)) b = c;
            }
        }
        return b;
    }
};

}  // namespace detail

// The maximum spanning tree of the complete bipartite graph between row blocks
// XA (a x d, first global index oa) and XB (b x d, first global index ob):
// a + b - 1 edges (global indices, i < j), heaviest first. Prim from XA's first
// point, in O((a + b) d) memory; every distance is evaluated at most once.
template <class T>
std::vector<WeightedEdge<double>> bipartite_forest_points(const T* XA, index_t a, index_t oa, const T* XB, index_t b,
                                                          index_t ob, index_t d, Metric metric,
                                                          const PairCores& cores = {}) {
    if (a < 1 || b < 1 || d < 1) throw std::invalid_argument("each block needs at least one point and one coordinate");
    detail::require_offset(oa, a, "offset_a");
    detail::require_offset(ob, b, "offset_b");
    if (oa < ob + b && ob < oa + a) throw std::invalid_argument("the two blocks' index ranges overlap");
    require_finite_points(XA, a * d, "XA");
    require_finite_points(XB, b * d, "XB");
    detail::BipartiteSide A(XA, a, d, oa, metric), B(XB, b, d, ob, metric);
    if (cores.step) {
        A.set_core(cores.a, cores.step);
        B.set_core(cores.b, cores.step);
    }
    auto core_of = [](const detail::BipartiteSide& side, index_t local) {
        return side.core_rows.empty() ? 0.0 : side.core_rows[static_cast<std::size_t>(local)];
    };
    std::vector<WeightedEdge<double>> tree;
    tree.reserve(static_cast<std::size_t>(a + b - 1));
    // XA's first point starts the tree: relax XB from it.
    index_t local = A.take(0);
    bool in_a = true;
    index_t countdown = 0;
    for (index_t step = 0; step < a + b - 1; ++step) {
        PrimCandidate<double> ca, cb;
        if (in_a) {
            cb = B.relax(A.rows.data() + local * d, oa + local, core_of(A, local));
            ca = A.best();
        } else {
            ca = A.relax(B.rows.data() + local * d, ob + local, core_of(B, local));
            cb = B.best();
        }
        const bool take_a = candidate_better(ca, cb);
        const PrimCandidate<double>& c = take_a ? ca : cb;
        tree.push_back(WeightedEdge<double>{c.key, std::min(c.par, c.u), std::max(c.par, c.u)});
        in_a = take_a;
        local = take_a ? A.take(c.pos) : B.take(c.pos);
        countdown += a + b;
        if (countdown >= 65536) {
            countdown = 0;
            cancellation_point();
        }
    }
    sort_edges_heaviest_first(tree);
    return tree;
}

// (c) Kruskal over any edge list with global indices (any number of components,
// self-loops skipped, i < j in the output): the forest edges in the strict
// order, heaviest first, at most `max_edges` of them (the first ones kept).
// Memory O(m): vertices are renumbered among the endpoints that occur.
template <class W>
std::vector<WeightedEdge<W>> kruskal_edges(std::vector<WeightedEdge<W>> list, index_t max_edges) {
    if (max_edges < 0) throw std::invalid_argument("max_edges must be non-negative");
    std::vector<WeightedEdge<W>> kept;
    std::size_t o = 0;
    for (std::size_t e = 0; e < list.size(); ++e) {
        WeightedEdge<W> x = list[e];
        if (x.i < 0 || x.j < 0) throw std::out_of_range("edge endpoints must be non-negative");
        if (!std::isfinite(static_cast<double>(x.w))) throw std::invalid_argument("edge weights must be finite");
        if (x.i == x.j) continue;
        if (x.i > x.j) std::swap(x.i, x.j);
        list[o++] = x;
    }
    list.resize(o);
    if (list.empty() || max_edges == 0) return kept;
    std::vector<index_t> verts;
    verts.reserve(2 * list.size());
    for (const auto& x : list) {
        verts.push_back(x.i);
        verts.push_back(x.j);
    }
    std::sort(verts.begin(), verts.end());
    verts.erase(std::unique(verts.begin(), verts.end()), verts.end());
    auto local = [&](index_t g) {
        return static_cast<index_t>(std::lower_bound(verts.begin(), verts.end(), g) - verts.begin());
    };
    sort_edges_interruptible(list);
    UnionFind uf(static_cast<index_t>(verts.size()));
    const index_t limit = std::min<index_t>(max_edges, static_cast<index_t>(verts.size()) - 1);
    kept.reserve(static_cast<std::size_t>(limit));
    for (std::size_t e = 0; e < list.size() && static_cast<index_t>(kept.size()) < limit; ++e) {
        if (uf.unite(local(list[e].i), local(list[e].j)) >= 0) kept.push_back(list[e]);
        if ((e & 0xFFFF) == 0xFFFF) cancellation_point();
    }
    return kept;
}

// (b) The MST edges of the points between row blocks XA and XB: the cross edges
// that survive Kruskal over tree_a (the block tree of XA), tree_b and the
// bipartite spanning tree of the two blocks, heaviest first (at most
// max_edges of the merged forest are considered: pass n - k).
template <class T>
std::vector<WeightedEdge<double>> pair_cross_edges(const T* XA, index_t a, index_t oa, const T* XB, index_t b,
                                                   index_t ob, index_t d, Metric metric,
                                                   const std::vector<WeightedEdge<double>>& tree_a,
                                                   const std::vector<WeightedEdge<double>>& tree_b,
                                                   index_t max_edges, const PairCores& cores = {}) {
    std::vector<WeightedEdge<double>> all = bipartite_forest_points(XA, a, oa, XB, b, ob, d, metric, cores);
    auto in = [](index_t v, index_t lo, index_t len) { return v >= lo && v < lo + len; };
    for (const auto* tree : {&tree_a, &tree_b}) {
        const index_t lo = tree == &tree_a ? oa : ob, len = tree == &tree_a ? a : b;
        for (const auto& e : *tree) {
            if (!in(e.i, lo, len) || !in(e.j, lo, len)) {
                throw std::out_of_range("a block tree edge (" + std::to_string(e.i) + ", " + std::to_string(e.j) +
                                        ") lies outside its block [" + std::to_string(lo) + ", " +
                                        std::to_string(lo + len) + ")");
            }
            all.push_back(e);
        }
    }
    std::vector<WeightedEdge<double>> forest = kruskal_edges(std::move(all), max_edges);
    std::vector<WeightedEdge<double>> cross;
    for (const auto& e : forest) {
        if (in(e.i, oa, a) != in(e.j, oa, a)) cross.push_back(e);
    }
    return cross;
}

// Row blocks for kforest_points_blocked: points per block such that the data one
// step of the bipartite Prim streams (a side's coordinates, keys, parents, ids and
// weights: (d + 4) doubles per point) for the two blocks of a pair stays within
// about 1.5 MB, a core's L2 cache, clamped to [1024, 16384].
inline index_t cache_block_points(index_t d) {
    const double per_point = 2.0 * (static_cast<double>(std::max<index_t>(d, 0)) + 4.0) * 8.0;  // no overflow for any d
    return static_cast<index_t>(std::clamp(static_cast<double>(index_t(3) << 19) / per_point, 1024.0, 16384.0));
}

// Whether kforest_points_blocked beats the whole-array Prim: once the arrays one
// Prim step streams (n (d + 4) doubles) outgrow two cores' L2 caches, Prim is
// bound by memory and no longer gains from a second thread, while the blocks stay
// in cache. Measured on a 2-core Xeon (2 MB of L2 per core; 2 threads, blocks /
// Prim): d = 16: 0.8-1.2 at n = 30 000 (4.8 MB: a tie), 0.59 at 35 000 (5.6 MB),
// 0.51 at 40 000, 0.49 at 50 000; d = 32: 1.1 at n = 16 000 (4.6 MB), 0.40-0.50
// at 20 000 (5.8 MB); d = 12, n = 40 000: 0.78; d = 10, n = 40 000: 0.96 (1.23 on
// one thread); d = 64, n = 10 000: 0.54; d = 4, n = 80 000: 1.06 (a step of the
// bipartite Prim costs more than d = 4 distances: low d is Borůvka's anyway).
inline bool prefer_point_blocks(index_t n, index_t d) {
    const double bytes = static_cast<double>(n) * static_cast<double>(d + 4) * 8.0;
    return (d >= 12 && bytes >= 5.2e6) || (d >= 9 && bytes >= 9e6);
}

// The heaviest max_edges edges (heaviest first) of the maximum spanning tree of
// points X (n x d) cut into row blocks of `block` points, given the tree of each
// block (`trees`, global indices; consumed): the cross edges of every pair of blocks
// as independent tasks on the pool (results stored per task, so neither the thread
// count nor the order in which tasks finish matters), then Kruskal over the trees
// and all cross edges in a fixed order. `core` (n) and `step`: mutual reachability
// (each block with its slice of core); null: plain distances.
template <class T>
std::vector<WeightedEdge<double>> merge_block_trees(const T* X, index_t n, index_t d, Metric metric, int n_threads,
                                                    index_t block, std::vector<std::vector<WeightedEdge<double>>> trees,
                                                    index_t max_edges, const double* core = nullptr,
                                                    MrStepFn step = nullptr) {
    const index_t p = static_cast<index_t>(trees.size());
    auto rows = [&](index_t i) { return std::min(n, (i + 1) * block) - i * block; };
    std::vector<std::pair<index_t, index_t>> pairs;
    pairs.reserve(static_cast<std::size_t>(p * (p - 1) / 2));
    for (index_t i = 0; i < p; ++i)
        for (index_t j = i + 1; j < p; ++j) pairs.emplace_back(i, j);
    std::vector<std::vector<WeightedEdge<double>>> cross(pairs.size());
    parallel_for(static_cast<index_t>(pairs.size()), n_threads, [&](index_t t) {
        const auto [i, j] = pairs[static_cast<std::size_t>(t)];
        const index_t oi = i * block, oj = j * block;
        const PairCores cores = step ? PairCores{core + oi, core + oj, step} : PairCores{};
        cross[static_cast<std::size_t>(t)] =
            pair_cross_edges(X + oi * d, rows(i), oi, X + oj * d, rows(j), oj, d, metric,
                             trees[static_cast<std::size_t>(i)], trees[static_cast<std::size_t>(j)], max_edges, cores);
    });
    std::size_t total = 0;
    for (const auto& t : trees) total += t.size();
    for (const auto& c : cross) total += c.size();
    std::vector<WeightedEdge<double>> all;
    all.reserve(total);
    for (auto* part : {&trees, &cross}) {
        for (auto& piece : *part) {
            all.insert(all.end(), piece.begin(), piece.end());
            std::vector<WeightedEdge<double>>().swap(piece);
        }
    }
    return kruskal_edges(std::move(all), max_edges);
}

// The exact k-forest of points X (n x d), as kforest_points returns it, bit for
// bit, computed in memory by the block decomposition at the top of this file: the
// trees of the row blocks of `block` points (the last one shorter), then
// merge_block_trees. The whole-array Prim streams all n points through the cache
// at each of its n - 1 steps; here a task's working set is two blocks. Work: about
// n^2 / 2 distances as Prim, plus O(n^2 / block) cross edges sorted by the final
// Kruskal.
template <class T>
void kforest_points_blocked(const T* X, index_t n, index_t d, index_t k, Metric metric, ForestOut<double>& out,
                            int n_threads, index_t block) {
    check_k(n, k);
    check_size(d, "d");
    if (block < 1) throw std::invalid_argument("block must be at least 1");
    require_finite_points(X, n * d, "X");
    block = std::min(block, n);  // one block at most (and no overflow below)
    const index_t p = (n + block - 1) / block;
    std::vector<std::vector<WeightedEdge<double>>> trees(static_cast<std::size_t>(p));
    parallel_for(p, n_threads, [&](index_t i) {
        const index_t o = i * block;
        trees[static_cast<std::size_t>(i)] = block_tree_points(X + o * d, std::min(n, o + block) - o, d, o, metric);
    });
    std::vector<WeightedEdge<double>> kept = merge_block_trees(X, n, d, metric, n_threads, block, std::move(trees), n - k);
    kforest_points_from_tree(n, k, kept, out);
}

}  // namespace diffclust
