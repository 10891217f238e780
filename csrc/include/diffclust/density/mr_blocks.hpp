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
#include <limits>
#include <vector>

#include "diffclust/core/parallel.hpp"
#include "diffclust/core/types.hpp"
#include "diffclust/density/boruvka.hpp"
#include "diffclust/density/mr_prim.hpp"
#include "diffclust/forest/blocks.hpp"

namespace diffclust {

// The mutual-reachability spanning tree of X (n x d) with core distances `core` by
// the whole-array Prim (mr_prim.hpp), as its n - 1 edges (i < j, global indices
// offset + local), lightest first (density::mr_lighter).
template <class T>
std::vector<density::MrEdge> mutual_reachability_prim_edges(const T* X, index_t n, index_t d, Metric metric,
                                                           const double* core, int n_threads, index_t offset = 0) {
    if (n <= 1) return {};
    std::vector<index_t> order(static_cast<std::size_t>(n)), parent(static_cast<std::size_t>(n));
    std::vector<double> dist(static_cast<std::size_t>(n));
    mutual_reachability_tree(X, n, d, metric, core, n_threads, order.data(), parent.data(), dist.data());
    std::vector<density::MrEdge> edges(static_cast<std::size_t>(n - 1));
    for (std::size_t e = 0; e < edges.size(); ++e)
        edges[e] = density::MrEdge{dist[e], offset + std::min(order[e], parent[e]), offset + std::max(order[e], parent[e])};
    std::sort(edges.begin(), edges.end(), density::mr_lighter);
    return edges;
}

// The n - 1 edges of the mutual-reachability spanning tree of X (n x d) with core
// distances `core` (n), lightest first (density::mr_lighter), from row blocks of
// `block` points. X finite; the tasks run on n_threads threads of the pool.
template <class T>
std::vector<density::MrEdge> mutual_reachability_blocked(const T* X, index_t n, index_t d, Metric metric,
                                                         const double* core, int n_threads, index_t block) {
    if (block < 1) throw std::invalid_argument("block must be at least 1");
    if (n <= 1) return {};
    block = std::min(block, n);  // one block at most (and no overflow below)
    const index_t p = (n + block - 1) / block;
    std::vector<std::vector<WeightedEdge<double>>> trees(static_cast<std::size_t>(p));
    parallel_for(p, n_threads, [&](index_t i) {
        const index_t o = i * block, b = std::min(n, o + block) - o;
        auto& tree = trees[static_cast<std::size_t>(i)];
        for (const density::MrEdge& e : mutual_reachability_prim_edges(X + o * d, b, d, metric, core + o, 1, o)) {
            if (!(e.d < std::numeric_limits<double>::infinity())) detail::distance_overflow();
            tree.push_back(WeightedEdge<double>{-e.d, e.i, e.j});
        }
    });
    const std::vector<WeightedEdge<double>> kept =
        merge_block_trees(X, n, d, metric, n_threads, block, std::move(trees), n - 1, core, &prim_mr_step);
    std::vector<density::MrEdge> edges(kept.size());
    for (std::size_t e = 0; e < kept.size(); ++e) edges[e] = density::MrEdge{-kept[e].w, kept[e].i, kept[e].j};
    std::sort(edges.begin(), edges.end(), density::mr_lighter);
    return edges;
}

}  // namespace diffclust
