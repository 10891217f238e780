// Exact core distances for density-based clustering (HDBSCAN*, DBSCAN*, OPTICS).
//
// core(i) = the distance from x_i to its min_samples-th nearest point, the
// point itself included (scikit-learn's convention): min_samples = 1 gives 0,
// min_samples = 2 the distance to the nearest other point.
//
// Every distance is computed exactly as the Prim-from-points kernels compute it
// (forest/prim_kernels.hpp): coordinates as doubles (normalised for cosine),
// the per-coordinate terms summed in coordinate order from 0.0, then sqrt for
// euclidean and 1 - <x, y> clipped to [0, 2] for cosine. A core distance is
// therefore bit-identical to the tree kernels' d_ij of the same pair, and
// d_mr = max(core_i, core_j, d_ij) is consistent everywhere.
//
// Two exact methods, chosen by the caller (core_distances picks one):
//   kd-tree  (euclidean, sqeuclidean, manhattan; the automatic choice for
//            them): k nearest neighbours with box bounds, the points of a leaf
//            searched together. The bound between two boxes is computed with
//            the same operations, in the same order, on per-coordinate terms
//            that are never larger than the true ones, so (rounding being
//            monotone) it never exceeds a true distance: the pruning is exact.
//   brute    (any metric; cosine): all distances of a query by
//            column_block_distances, then a selection.
// A query's k-th smallest distance is a property of all the values, whatever
// was pruned; each leaf of queries is computed by one thread: the result is
// bit-identical for any thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <queue>
#include <utility>
#include <stdexcept>
#include <vector>

#include "diffclust/core/cancel.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/core/point_metrics.hpp"
#include "diffclust/core/types.hpp"
#include "diffclust/density/leaf_tiles.hpp"

namespace diffclust {

namespace density {

// Row-major double copy of X, normalised for cosine exactly as PointRegions does.
template <class T>
std::vector<double> metric_rows(const T* X, index_t n, index_t d, Metric metric) {
    std::vector<double> rows(static_cast<std::size_t>(n * d));
    for (index_t i = 0; i < n; ++i) {
        double scale = 1.0;
        if (metric == Metric::cosine) {
            double norm2 = 0.0;
            for (index_t c = 0; c < d; ++c) norm2 += static_cast<double>(X[i * d + c]) * static_cast<double>(X[i * d + c]);
            scale = norm2 > 0.0 ? 1.0 / std::sqrt(norm2) : 0.0;
        }
        for (index_t c = 0; c < d; ++c) rows[static_cast<std::size_t>(i * d + c)] = static_cast<double>(X[i * d + c]) * scale;
    }
    return rows;
}

// The accumulated sum of per-coordinate terms (before sqrt / 1 - .), as in Prim.
inline double raw_distance(const double* slot, const double* x, index_t d, Metric m) {
    double acc = 0.0;
    for (index_t c = 0; c < d; ++c) {
        if (m == Metric::manhattan) {
            acc += std::fabs(slot[c] - x[c]);
        } else if (m == Metric::cosine) {
            acc += slot[c] * x[c];
        } else {
            const double t = slot[c] - x[c];
            acc += t * t;
        }
    }
    return acc;
}

// The distance from the raw sum (monotone in the sum for the box metrics).
inline double finish_distance(double acc, Metric m) {
    if (m == Metric::euclidean) return std::sqrt(acc);
    if (m == Metric::cosine) {
        const double v = 1.0 - acc;
        return v < 0.0 ? 0.0 : (v > 2.0 ? 2.0 : v);
    }
    return acc;
}

// A kd-tree over the rows (median splits on the widest coordinate, leaves of
// at most `leaf` points), built serially: its shape depends on the data only.
class KdTree {
public:
    KdTree(const double* rows, index_t n, index_t d, index_t leaf = 24) : rows_(rows), n_(n), d_(d), leaf_(leaf) {
        perm_.resize(static_cast<std::size_t>(n));
        for (index_t i = 0; i < n; ++i) perm_[static_cast<std::size_t>(i)] = i;
        build(0, n);
        // points in tree order, for locality
        pts_.resize(static_cast<std::size_t>(n * d));
        for (index_t t = 0; t < n; ++t) {
            const index_t i = perm_[static_cast<std::size_t>(t)];
            for (index_t c = 0; c < d; ++c) pts_[static_cast<std::size_t>(t * d + c)] = rows[i * d + c];
        }
        // every leaf's points again as a panel (leaf_tiles.hpp), for the batched searches
        panel_at_.assign(nodes_.size(), -1);
        index_t total = 0;
        for (std::size_t a = 0; a < nodes_.size(); ++a) {
            if (nodes_[a].left >= 0) continue;
            panel_at_[a] = total;
            total += panel_width(nodes_[a]) * d;
        }
        panels_.assign(static_cast<std::size_t>(total), std::numeric_limits<double>::infinity());
        for (std::size_t a = 0; a < nodes_.size(); ++a) {
            const Node& nd = nodes_[a];
            if (nd.left >= 0) continue;
            const index_t w = panel_width(nd);
            double* panel = panels_.data() + panel_at_[a];
            for (index_t t = nd.lo; t < nd.hi; ++t) {
                for (index_t c = 0; c < d; ++c) panel[c * w + (t - nd.lo)] = pts_[static_cast<std::size_t>(t * d + c)];
            }
            leaves_.push_back(static_cast<index_t>(a));
        }
    }

    struct Node {
        index_t lo, hi, left, right, dim, box;  // box: offset of 2 d doubles (min, max)
    };

    // Scratch of knn_leaf, one per thread.
    struct LeafKnn {
        std::vector<std::vector<std::pair<double, index_t>>> heaps;  // per query: (raw, tree position), a max-heap
        std::vector<double> worst, outside, tile, rowmin;
        std::vector<std::pair<index_t, double>> stack;  // (node, lower bound)
    };

    // The k nearest other points of every point of the leaf `leaf` (a node),
    // searched together: one traversal for the leaf's queries, a node pruned when
    // its box is farther from the leaf's box than every query's current k-th, the
    // distances to a visited leaf computed as one tile (leaf_tiles.hpp, equal to
    // raw_distance's bit for bit). For query i (tree position lo + i):
    // sc.heaps[i] holds (raw, tree position) of k of its nearest (which of several
    // tied at the k-th raw is unspecified), sc.heaps[i].front() the k-th raw,
    // which equals kth_raw_at's (the k-th smallest of the same values: every
    // pruned point is farther); with Outside, sc.outside[i] is a lower bound of
    // the raw of every other point not kept: the points evaluated and dropped,
    // and the box bounds of the pruned nodes. 1 <= k < n.
    template <bool Outside>
    void knn_leaf(index_t leaf, index_t k, Metric m, LeafKnn& sc) const {
        const index_t nq = start_leaf(leaf, sc);
        auto less = [](const std::pair<double, index_t>& a, const std::pair<double, index_t>& b) { return a.first < b.first; };
        sc.outside.assign(static_cast<std::size_t>(nq), std::numeric_limits<double>::infinity());
        auto pruned = [&](double bound) {
            if constexpr (Outside) {
                for (index_t i = 0; i < nq; ++i) sc.outside[static_cast<std::size_t>(i)] = std::min(sc.outside[static_cast<std::size_t>(i)], bound);
            }
        };
        // query i against the visited leaf a (points lo.., cnt of them; its row of sc.tile)
        auto visit = [&](index_t i, index_t a, index_t lo, index_t cnt, const double* row) {
            auto& heap = sc.heaps[static_cast<std::size_t>(i)];
            double& worst = sc.worst[static_cast<std::size_t>(i)];
            double& out = sc.outside[static_cast<std::size_t>(i)];
            const double least = sc.rowmin[static_cast<std::size_t>(i)];
            const bool full = static_cast<index_t>(heap.size()) == k;
            if (full && !(least < worst) && a != leaf) {  // no value of the row is kept
                if constexpr (Outside) out = std::min(out, least);
                return;
            }
            const index_t self = a == leaf ? i : -1;
            for (index_t s = 0; s < cnt; ++s) {
                const double r = row[s];
                // (a heap not yet full takes every value, +inf too: X may hold
                // coordinates whose distances overflow, which the callers report)
                if (r < worst || static_cast<index_t>(heap.size()) < k) {
                    if (s == self) continue;
                    if (static_cast<index_t>(heap.size()) < k) {
                        heap.emplace_back(r, lo + s);
                        std::push_heap(heap.begin(), heap.end(), less);
                        if (static_cast<index_t>(heap.size()) == k) worst = heap.front().first;
                    } else {
                        if constexpr (Outside) out = std::min(out, heap.front().first);
                        std::pop_heap(heap.begin(), heap.end(), less);
                        heap.back() = {r, lo + s};
                        std::push_heap(heap.begin(), heap.end(), less);
                        worst = heap.front().first;
                    }
                } else if constexpr (Outside) {
                    if (s != self) out = std::min(out, r);
                }
            }
        };
        traverse_leaf(leaf, m, sc, pruned, visit);
    }

    // The weighted k-th of every point of the leaf `leaf`: the smallest raw r such
    // that the points within r (the point itself included, at 0) weigh at least
    // `need` (> 0), with w_t the weights by tree position (>= 0, summing to at least
    // need). The same traversal and tiles as knn_leaf; each query keeps the fewest
    // nearest points whose weight reaches `need` (a max-heap: the top leaves while the
    // others still reach it), so that its top raw is the answer and the current
    // bound. sc.heaps[i].front().first is query i's answer.
    void weighted_knn_leaf(index_t leaf, const double* w_t, double need, Metric m, LeafKnn& sc) const {
        const index_t nq = start_leaf(leaf, sc);
        const double inf = std::numeric_limits<double>::infinity();
        auto less = [](const std::pair<double, index_t>& a, const std::pair<double, index_t>& b) { return a.first < b.first; };
        sc.outside.assign(static_cast<std::size_t>(nq), 0.0);  // the heap's total weight
        // the total of a heap, summed afresh (a running total drifts by rounding)
        auto total_of = [&](const std::vector<std::pair<double, index_t>>& heap) {
            double t = 0.0;
            for (const auto& e : heap) t += w_t[static_cast<std::size_t>(e.second)];
            return t;
        };
        // after an insertion: drop the top while the rest still weighs `need`
        auto settle = [&](std::vector<std::pair<double, index_t>>& heap, double& total) {
            while (heap.size() > 1) {
                const double rest = total - w_t[static_cast<std::size_t>(heap.front().second)];
                if (std::fabs(rest - need) <= 1e-9 * need) {  // near the threshold: exact sums
                    const double fresh = total_of(heap) - w_t[static_cast<std::size_t>(heap.front().second)];
                    if (!(fresh >= need)) break;
                } else if (!(rest >= need)) {
                    break;
                }
                std::pop_heap(heap.begin(), heap.end(), less);
                heap.pop_back();
                total = total_of(heap);
            }
        };
        auto visit = [&](index_t i, index_t, index_t lo, index_t cnt, const double* row) {
            auto& heap = sc.heaps[static_cast<std::size_t>(i)];
            double& worst = sc.worst[static_cast<std::size_t>(i)];
            double& total = sc.outside[static_cast<std::size_t>(i)];
            if (!(sc.rowmin[static_cast<std::size_t>(i)] < worst) && worst < inf) return;
            for (index_t s = 0; s < cnt; ++s) {
                const double r = row[s];
                // the point itself too (its raw is 0); a bound of inf takes every value
                if (!(r < worst) && worst < inf) continue;
                heap.emplace_back(r, lo + s);
                std::push_heap(heap.begin(), heap.end(), less);
                total += w_t[static_cast<std::size_t>(lo + s)];
                settle(heap, total);
                worst = total >= need ? heap.front().first : inf;
            }
        };
        traverse_leaf(leaf, m, sc, [](double) {}, visit);
    }

    // The leaves (node indices) in tree order.
    const std::vector<index_t>& leaves() const { return leaves_; }
    // A leaf's panel (leaf_tiles.hpp) and its width.
    const double* panel(index_t leaf) const { return panels_.data() + panel_at_[static_cast<std::size_t>(leaf)]; }
    index_t panel_width(index_t leaf) const { return panel_width(nodes_[static_cast<std::size_t>(leaf)]); }

    // Read access for the other users of the tree (density/boruvka.hpp). Nodes
    // are numbered in preorder (children after their parent); node 0 is the
    // root; node.lo/hi index the tree order: point perm()[t] is at points() + t d.
    const std::vector<Node>& nodes() const { return nodes_; }
    const std::vector<index_t>& perm() const { return perm_; }
    const double* points() const { return pts_.data(); }
    const std::vector<double>& boxes() const { return boxes_; }
    index_t dims() const { return d_; }
    index_t size() const { return n_; }
    // A lower bound of the raw distance between any point of node a and any point of node b.
    double lower_raw_between(index_t a, index_t b, Metric m) const {
        return box_box_raw(nodes_[static_cast<std::size_t>(a)], nodes_[static_cast<std::size_t>(b)], m);
    }

private:
    index_t build(index_t lo, index_t hi) {
        const index_t id = static_cast<index_t>(nodes_.size());
        const index_t box = static_cast<index_t>(boxes_.size());
        boxes_.resize(boxes_.size() + static_cast<std::size_t>(2 * d_));
        for (index_t c = 0; c < d_; ++c) {
            double mn = std::numeric_limits<double>::infinity(), mx = -mn;
            for (index_t t = lo; t < hi; ++t) {
                const double v = rows_[perm_[static_cast<std::size_t>(t)] * d_ + c];
                mn = std::min(mn, v);
                mx = std::max(mx, v);
            }
            boxes_[static_cast<std::size_t>(box + c)] = mn;
            boxes_[static_cast<std::size_t>(box + d_ + c)] = mx;
        }
        nodes_.push_back(Node{lo, hi, -1, -1, 0, box});
        if (hi - lo <= leaf_) return id;
        index_t dim = 0;
        double spread = -1.0;
        for (index_t c = 0; c < d_; ++c) {
            const double s = boxes_[static_cast<std::size_t>(box + d_ + c)] - boxes_[static_cast<std::size_t>(box + c)];
            if (s > spread) {
                spread = s;
                dim = c;
            }
        }
        if (!(spread > 0.0)) return id;  // all points equal: a leaf
        const index_t mid = lo + (hi - lo) / 2;
        const double* rows = rows_;
        const index_t d = d_;
        std::nth_element(perm_.begin() + lo, perm_.begin() + mid, perm_.begin() + hi, [&](index_t a, index_t b) {
            const double va = rows[a * d + dim], vb = rows[b * d + dim];
            return va != vb ? va < vb : a < b;
        });
        const index_t left = build(lo, mid);
        const index_t right = build(mid, hi);
        Node& nd = nodes_[static_cast<std::size_t>(id)];
        nd.left = left;
        nd.right = right;
        nd.dim = dim;
        return id;
    }

    // Clears the scratch of a leaf search; returns the number of queries.
    index_t start_leaf(index_t leaf, LeafKnn& sc) const {
        const Node& L = nodes_[static_cast<std::size_t>(leaf)];
        const index_t nq = L.hi - L.lo;
        if (static_cast<index_t>(sc.heaps.size()) < nq) sc.heaps.resize(static_cast<std::size_t>(nq));
        for (index_t i = 0; i < nq; ++i) sc.heaps[static_cast<std::size_t>(i)].clear();
        sc.worst.assign(static_cast<std::size_t>(nq), std::numeric_limits<double>::infinity());
        return nq;
    }

    // The traversal the leaf searches share: nodes nearer the leaf's box first, a
    // node pruned (pruned(bound)) when its box-to-box bound exceeds every query's
    // sc.worst; at a visited leaf a the distances from the leaf's points as one tile
    // (sc.tile, sc.rowmin), then visit(i, a, first point, count, row of query i).
    template <class Pruned, class Visit>
    void traverse_leaf(index_t leaf, Metric m, LeafKnn& sc, Pruned&& pruned, Visit&& visit) const {
        const Node& L = nodes_[static_cast<std::size_t>(leaf)];
        const index_t nq = L.hi - L.lo;
        double W = std::numeric_limits<double>::infinity();  // the largest bound so far
        const double* q = pts_.data() + L.lo * d_;
        sc.stack.clear();
        sc.stack.emplace_back(0, box_box_raw(L, nodes_[0], m));
        while (!sc.stack.empty()) {
            const auto [a, bound] = sc.stack.back();
            sc.stack.pop_back();
            if (bound > W) {
                pruned(bound);
                continue;
            }
            const Node& nd = nodes_[static_cast<std::size_t>(a)];
            if (nd.left >= 0) {
                const index_t l = nd.left, r = nd.right;
                const double bl = box_box_raw(L, nodes_[static_cast<std::size_t>(l)], m);
                const double br = box_box_raw(L, nodes_[static_cast<std::size_t>(r)], m);
                if (bl <= br) {  // nearer child last (popped first)
                    sc.stack.emplace_back(r, br);
                    sc.stack.emplace_back(l, bl);
                } else {
                    sc.stack.emplace_back(l, bl);
                    sc.stack.emplace_back(r, br);
                }
                continue;
            }
            const index_t w = panel_width(nd), cnt = nd.hi - nd.lo;
            if (static_cast<index_t>(sc.tile.size()) < nq * w) sc.tile.resize(static_cast<std::size_t>(nq * w));
            sc.rowmin.resize(static_cast<std::size_t>(nq));
            leaf_tile_raw(q, nq, d_, panels_.data() + panel_at_[static_cast<std::size_t>(a)], w, static_cast<int>(m),
                          sc.tile.data(), w, sc.rowmin.data());
            W = 0.0;
            for (index_t i = 0; i < nq; ++i) {
                visit(i, a, nd.lo, cnt, sc.tile.data() + i * w);
                W = std::max(W, sc.worst[static_cast<std::size_t>(i)]);
            }
        }
    }

    static index_t panel_width(const Node& nd) {
        return std::max<index_t>(1, (nd.hi - nd.lo + leaf_panel_lanes - 1) / leaf_panel_lanes) * leaf_panel_lanes;
    }

    // A lower bound of the raw distance between any point of box a and any point
    // of box b: per coordinate the gap between the boxes (0 where they overlap),
    // never above |y_c - x_c| (the subtraction is monotone), its terms summed in
    // coordinate order as raw_distance's: never above a true raw distance.
    double box_box_raw(const Node& a, const Node& b, Metric m) const {
        const double* amn = boxes_.data() + a.box;
        const double* amx = amn + d_;
        const double* bmn = boxes_.data() + b.box;
        const double* bmx = bmn + d_;
        double acc = 0.0;
        for (index_t c = 0; c < d_; ++c) {
            const double g1 = bmn[c] - amx[c], g2 = amn[c] - bmx[c];
            const double t = g1 > 0.0 ? g1 : (g2 > 0.0 ? g2 : 0.0);
            acc += m == Metric::manhattan ? t : t * t;
        }
        return acc;
    }

    const double* rows_;
    index_t n_, d_, leaf_;
    std::vector<index_t> perm_;
    std::vector<double> pts_, boxes_, panels_;
    std::vector<Node> nodes_;
    std::vector<index_t> panel_at_, leaves_;
};

// Calls search(leaf, scratch) for every leaf of the tree (a node index) and then
// each(t, scratch row of tree position t, scratch) for its points; blocks of four
// leaves are tasks on the pool, each leaf on one thread with that thread's scratch.
template <class Search, class Each>
void for_each_leaf(const KdTree& tree, int n_threads, Search&& search, Each&& each) {
    const auto& leaves = tree.leaves();
    const auto& nodes = tree.nodes();
    constexpr index_t block = 4;
    const index_t count = static_cast<index_t>(leaves.size());
    const int team = std::max(1, n_threads);
    std::vector<KdTree::LeafKnn> scratch(static_cast<std::size_t>(team));
    parallel_for_tid((count + block - 1) / block, team, [&](index_t b, int tid) {
        auto& sc = scratch[static_cast<std::size_t>(tid)];
        for (index_t e = b * block; e < std::min(count, (b + 1) * block); ++e) {
            const index_t leaf = leaves[static_cast<std::size_t>(e)];
            search(leaf, sc);
            const auto& nd = nodes[static_cast<std::size_t>(leaf)];
            for (index_t t = nd.lo; t < nd.hi; ++t) each(t, static_cast<std::size_t>(t - nd.lo), sc);
        }
    });
}

// core[i] for every point of a built kd-tree (min_samples >= 2; see
// core_distances): the leaves' batched searches (KdTree::knn_leaf), each leaf on
// one thread, so the result does not depend on the thread count.
inline void core_distances_kdtree(const KdTree& tree, Metric metric, index_t min_samples, int n_threads, double* core) {
    const index_t k = min_samples - 1;
    for_each_leaf(
        tree, n_threads, [&](index_t leaf, KdTree::LeafKnn& sc) { tree.knn_leaf<false>(leaf, k, metric, sc); },
        [&](index_t t, std::size_t i, const KdTree::LeafKnn& sc) {
            core[tree.perm()[static_cast<std::size_t>(t)]] = finish_distance(sc.heaps[i].front().first, metric);
        });
}

}  // namespace density

// Weighted core distances (box metrics, kd-tree): core[i] = the smallest
// distance r such that the points within r of x_i, x_i included, weigh at least
// min_samples (1 - 1e-12) in total (scikit-learn's DBSCAN core condition with
// sample_weight; the tolerance absorbs the order of the sum). weights: (n,),
// finite, >= 0, summing to at least min_samples. Each leaf of queries is searched
// by one thread: the result does not depend on the thread count.
template <class T>
void weighted_core_distances(const T* X, index_t n, index_t d, Metric metric, double min_samples,
                             const double* weights, int n_threads, double* core) {
    if (metric == Metric::cosine) throw std::invalid_argument("weighted core distances by kd-tree need a box metric");
    const std::vector<double> rows = density::metric_rows(X, n, d, metric);
    const density::KdTree tree(rows.data(), n, d);
    const auto& perm = tree.perm();
    std::vector<double> w_t(static_cast<std::size_t>(n));
    for (index_t t = 0; t < n; ++t) w_t[static_cast<std::size_t>(t)] = weights[perm[static_cast<std::size_t>(t)]];
    const double need = min_samples * (1.0 - 1e-12);
    density::for_each_leaf(
        tree, n_threads,
        [&](index_t leaf, density::KdTree::LeafKnn& sc) { tree.weighted_knn_leaf(leaf, w_t.data(), need, metric, sc); },
        [&](index_t t, std::size_t i, const density::KdTree::LeafKnn& sc) {
            core[perm[static_cast<std::size_t>(t)]] = density::finish_distance(sc.heaps[i].front().first, metric);
        });
}

// Which exact method core_distances uses: 0 = automatic, 1 = kd-tree, 2 = brute force.
enum class CoreMethod : int { automatic = 0, kdtree = 1, brute = 2 };

// core[i] = distance from x_i to its min_samples-th nearest point, itself
// included (min_samples in [1, n]).
template <class T>
void core_distances(const T* X, index_t n, index_t d, Metric metric, index_t min_samples, int n_threads, double* core,
                    CoreMethod method = CoreMethod::automatic) {
    if (min_samples < 1 || min_samples > n) throw std::invalid_argument("min_samples must be in [1, n]");
    const std::vector<double> rows = density::metric_rows(X, n, d, metric);
    const index_t k = min_samples - 1;  // neighbours other than the point itself
    if (k == 0) {
        for (index_t i = 0; i < n; ++i) core[i] = 0.0;
        return;
    }
    // Automatic: the kd-tree for its box metrics. Its searches go a leaf of
    // queries at a time with vectorised tiles (KdTree::knn_leaf), so that even
    // where its boxes prune little it is faster than the brute force below.
    // Measured (2 threads, min_samples = 10): one isotropic Gaussian, kd-tree /
    // brute force 0.77 / 1.30 s at n = 20 000, d = 32, 1.53 / 2.01 s at d = 64,
    // 0.80 / 1.14 s at n = 10 000, d = 128, 0.34 / 0.69 s at n = 20 000, d = 12.
    if (metric == Metric::cosine) method = CoreMethod::brute;
    if (method != CoreMethod::brute) {
        const density::KdTree tree(rows.data(), n, d);
        density::core_distances_kdtree(tree, metric, min_samples, n_threads, core);
        return;
    }
    const int team = std::max(1, n_threads);
    // brute force, blocked: a block of queries against chunks of the column-major
    // copy small enough to stay in a core's cache (the whole copy is n d doubles:
    // streaming it per query made this memory-bound), each query keeping the k
    // smallest distances seen in a max-heap. The k-th smallest of the same values
    // whatever the chunking: the result does not depend on it.
    std::vector<double> cols(static_cast<std::size_t>(n * std::max<index_t>(d, 1)));
    for (index_t i = 0; i < n; ++i) {
        for (index_t c = 0; c < d; ++c) cols[static_cast<std::size_t>(c * n + i)] = rows[static_cast<std::size_t>(i * d + c)];
    }
    constexpr index_t queries = 32;
    const index_t chunk = std::clamp<index_t>((index_t(1) << 18) / (8 * std::max<index_t>(d, 1)), 256, 4096);
    const index_t qblocks = (n + queries - 1) / queries;
    struct Scratch {
        std::vector<double> buf, heaps;
    };
    std::vector<Scratch> scratch(static_cast<std::size_t>(team));
    parallel_for_tid(qblocks, team, [&](index_t b, int tid) {
        Scratch& sc = scratch[static_cast<std::size_t>(tid)];
        sc.buf.resize(static_cast<std::size_t>(chunk));
        sc.heaps.assign(static_cast<std::size_t>(queries * k), std::numeric_limits<double>::infinity());
        const index_t q0 = b * queries, q1 = std::min(n, q0 + queries);
        for (index_t c0 = 0; c0 < n; c0 += chunk) {
            const index_t c1 = std::min(n, c0 + chunk);
            for (index_t q = q0; q < q1; ++q) {
                double* out = sc.buf.data();
                column_block_distances(cols.data(), n, d, rows.data() + q * d, c0, c1, static_cast<int>(metric), out);
                if (q >= c0 && q < c1) out[q - c0] = std::numeric_limits<double>::infinity();
                double* heap = sc.heaps.data() + (q - q0) * k;  // max-heap of the k smallest so far
                double top = heap[0];
                for (index_t r = 0; r < c1 - c0; ++r) {
                    if (out[r] < top) {
                        std::pop_heap(heap, heap + k);
                        heap[k - 1] = out[r];
                        std::push_heap(heap, heap + k);
                        top = heap[0];
                    }
                }
            }
            cancellation_point();
        }
        for (index_t q = q0; q < q1; ++q) core[q] = sc.heaps[static_cast<std::size_t>((q - q0) * k)];
    });
}

}  // namespace diffclust
