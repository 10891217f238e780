// The mutual-reachability spanning tree by row blocks, in memory: the block
// decomposition of forest/blocks.hpp with the weight -d_mr(u, v) =
// -max(core_u, core_v, d(x_u, x_v)) in place of -d(x_u, x_v).
//
// Every argument of blocks.hpp holds for any edge weight under the package's
// strict order (heavier first, then the smaller pair): the tree is unique and the
// cycle property holds in every subgraph. So the tree of a row block is the MST of
// its points under d_mr (with the global core distances), a pair of blocks gives
// its cross edges by the bipartite Prim with prim_mr_step, and Kruskal over all of
// them returns the tree mutual_reachability_tree (the whole-array Prim) and
// mutual_reachability_boruvka return, bit for bit: the distances are computed by
// the same kernels from the same float64 rows.
//
// Where it pays: once the n points outgrow the cache (prefer_point_blocks), as for
// the plain k-forest; each task's working set is two blocks.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "diffclust/core/parallel.hpp"
#include "diffclust/core/types.hpp"
#include "diffclust/density/boruvka.hpp"
#include "diffclust/density/mr_prim.hpp"
#include "diffclust/forest/blocks.hpp"

namespace diffclust {

// The n - 1 edges of the mutual-reachability spanning tree of X (n x d) with core
// distances `core` (n), lightest first (density::mr_lighter), from row blocks of
// `block` points. X finite; the tasks run on n_threads threads of the pool.
template <class T>
std::vector<density::MrEdge> mutual_reachability_blocked(const T* X, index_t n, index_t d, Metric metric,
                                                         const double* core, int n_threads, index_t block) {
    if (block < 1) throw std::invalid_argument("block must be at least 1");
    if (n <= 1) return {};
    const index_t p = (n + block - 1) / block;
    auto first = [&](index_t i) { return i * block; };
    auto rows = [&](index_t i) { return std::min(n, (i + 1) * block) - i * block; };
    std::vector<std::vector<WeightedEdge<double>>> trees(static_cast<std::size_t>(p));
    parallel_for(p, n_threads, [&](index_t i) {
        const index_t b = rows(i), o = first(i);
        if (b < 2) return;
        std::vector<index_t> order(static_cast<std::size_t>(b)), parent(static_cast<std::size_t>(b));
        std::vector<double> dist(static_cast<std::size_t>(b));
        mutual_reachability_tree(X + o * d, b, d, metric, core + o, 1, order.data(), parent.data(), dist.data());
        auto& tree = trees[static_cast<std::size_t>(i)];
        tree.reserve(static_cast<std::size_t>(b - 1));
        for (index_t e = 0; e < b - 1; ++e) {
            const std::size_t s = static_cast<std::size_t>(e);
            if (!(dist[s] < std::numeric_limits<double>::infinity())) detail::distance_overflow();
            tree.push_back(WeightedEdge<double>{-dist[s], o + std::min(order[s], parent[s]), o + std::max(order[s], parent[s])});
        }
    });
    std::vector<std::pair<index_t, index_t>> pairs;
    pairs.reserve(static_cast<std::size_t>(p * (p - 1) / 2));
    for (index_t i = 0; i < p; ++i)
        for (index_t j = i + 1; j < p; ++j) pairs.emplace_back(i, j);
    std::vector<std::vector<WeightedEdge<double>>> cross(pairs.size());
    parallel_for(static_cast<index_t>(pairs.size()), n_threads, [&](index_t t) {
        const auto [i, j] = pairs[static_cast<std::size_t>(t)];
        const PairCores cores{core + first(i), core + first(j), &prim_mr_step};
        cross[static_cast<std::size_t>(t)] =
            pair_cross_edges(X + first(i) * d, rows(i), first(i), X + first(j) * d, rows(j), first(j), d, metric,
                             trees[static_cast<std::size_t>(i)], trees[static_cast<std::size_t>(j)], n - 1, cores);
    });
    std::vector<WeightedEdge<double>> all;
    for (auto* part : {&trees, &cross}) {
        for (auto& piece : *part) {
            all.insert(all.end(), piece.begin(), piece.end());
            std::vector<WeightedEdge<double>>().swap(piece);
        }
    }
    const std::vector<WeightedEdge<double>> kept = kruskal_edges(std::move(all), n - 1);
    std::vector<density::MrEdge> edges(kept.size());
    for (std::size_t e = 0; e < kept.size(); ++e) edges[e] = density::MrEdge{-kept[e].w, kept[e].i, kept[e].j};
    std::sort(edges.begin(), edges.end(), density::mr_lighter);
    return edges;
}

}  // namespace diffclust
