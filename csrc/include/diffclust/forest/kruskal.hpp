// Kruskal: the k-forest from a list of edges (a sparse graph, or the n - 1
// edges of a maximum spanning tree), in the strict edge order of types.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "diffclust/core/cancel.hpp"
#include "diffclust/core/sort.hpp"
#include "diffclust/core/types.hpp"
#include "diffclust/core/union_find.hpp"
#include "diffclust/core/checks.hpp"

namespace diffclust {

// Kruskal on edges already sorted heaviest first: keeps the first n - k edges
// that join two trees. Returns how many it kept (fewer than n - k when the
// graph has more than k connected components).
template <class T>
index_t kruskal_sorted(index_t n, index_t k, const WeightedEdge<T>* sorted, index_t m, UnionFind& uf,
                       WeightedEdge<T>* kept) {
    const index_t target = n - k;
    index_t count = 0;
    for (index_t e = 0; e < m && count < target; ++e) {
        if (uf.unite(sorted[e].i, sorted[e].j) >= 0) kept[count++] = sorted[e];
        if ((e & 0xFFFF) == 0xFFFF) cancellation_point();
    }
    return count;
}

template <class T>
void write_forest_edges(const WeightedEdge<T>* kept, index_t count, ForestOut<T>& out) {
    for (index_t e = 0; e < count; ++e) {
        out.edges[2 * e] = kept[e].i;
        out.edges[2 * e + 1] = kept[e].j;
        out.weights[e] = kept[e].w;
    }
}

// The k-forest from the n - 1 edges of a maximum spanning tree: drop the k - 1
// lightest (in the strict order). Value is left to the caller.
template <class T>
void kforest_from_tree(index_t n, index_t k, std::vector<WeightedEdge<T>>& tree, ForestOut<T>& out) {
    sort_edges_heaviest_first(tree);
    UnionFind uf(n);
    const index_t kept = n - k;
    for (index_t e = 0; e < kept; ++e) uf.unite(tree[static_cast<std::size_t>(e)].i, tree[static_cast<std::size_t>(e)].j);
    write_forest_edges(tree.data(), kept, out);
    uf.first_appearance_labels(out.labels);
}

// The k-forest of points from the maximum spanning tree of their similarities
// -d(x_i, x_j): kforest_from_tree, and value = 2 * the sum of the kept weights
// (S summed over both orientations of each kept edge).
inline void kforest_points_from_tree(index_t n, index_t k, std::vector<WeightedEdge<double>>& tree,
                                     ForestOut<double>& out) {
    kforest_from_tree(n, k, tree, out);
    double value = 0.0;
    for (index_t e = 0; e < n - k; ++e) value += 2.0 * out.weights[e];
    *out.value = value;
}

// The edge sort (heaviest first, core/sort.hpp's order) for long lists, with
// a cancellation point every 65536 edges: runs of 32768 sorted, then merged
// bottom-up. The order is strict (pair_less breaks every tie of weight), so
// the result is the one std::sort gives.
template <class T>
void sort_edges_interruptible(std::vector<WeightedEdge<T>>& edges) {
    const std::size_t m = edges.size(), run = std::size_t(1) << 15;
    if (m <= run) {
        sort_edges_heaviest_first(edges);
        return;
    }
    auto first = [](const WeightedEdge<T>& a, const WeightedEdge<T>& b) { return heavier(a, b); };
    for (std::size_t lo = 0; lo < m; lo += run) {
        std::sort(edges.begin() + static_cast<std::ptrdiff_t>(lo),
                  edges.begin() + static_cast<std::ptrdiff_t>(std::min(m, lo + run)), first);
        cancellation_point();
    }
    std::vector<WeightedEdge<T>> merged(m);
    for (std::size_t width = run; width < m; width *= 2) {
        for (std::size_t lo = 0; lo < m; lo += 2 * width) {
            const std::size_t mid = std::min(m, lo + width), hi = std::min(m, lo + 2 * width);
            std::size_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) {
                merged[o++] = first(edges[j], edges[i]) ? edges[j++] : edges[i++];
                if ((o & 0xFFFF) == 0) cancellation_point();
            }
            while (i < mid) merged[o++] = edges[i++];
            while (j < hi) merged[o++] = edges[j++];
        }
        edges.swap(merged);
        cancellation_point();
    }
}

// Kruskal on an explicit edge list (sparse graph). Edges may be in any order
// and orientation; self-loops are skipped; for repeated pairs the heaviest
// counts. value = 2 * sum of the kept weights (<A, S> for the symmetric S the
// edge list describes).
template <class T>
void kforest_from_edge_list(const index_t* edges, const T* weights, index_t m, index_t n, index_t k,
                            ForestOut<T>& out) {
    check_k(n, k);
    check_size(m, "m", 0);
    std::vector<WeightedEdge<T>> list;
    list.reserve(static_cast<std::size_t>(m));
    for (index_t e = 0; e < m; ++e) {
        const index_t a = edges[2 * e], b = edges[2 * e + 1];
        if (a < 0 || a >= n || b < 0 || b >= n) {
            throw std::out_of_range("edges[" + std::to_string(e) + "] = (" + std::to_string(a) + ", " +
                                    std::to_string(b) + ") is out of range for n = " + std::to_string(n));
        }
        if (!std::isfinite(static_cast<double>(weights[e]))) {
            throw std::invalid_argument("weights[" + std::to_string(e) + "] is NaN or infinite");
        }
        if ((e & 0xFFFF) == 0xFFFF) cancellation_point();
        if (a == b) continue;
        list.push_back(WeightedEdge<T>{weights[e], std::min(a, b), std::max(a, b)});
    }
    sort_edges_interruptible(list);
    UnionFind uf(n);
    std::vector<WeightedEdge<T>> kept(static_cast<std::size_t>(n - k));
    const index_t count = kruskal_sorted(n, k, list.data(), static_cast<index_t>(list.size()), uf, kept.data());
    if (count < n - k) {
        throw std::invalid_argument("the graph has " + std::to_string(uf.components()) +
                                    " connected components, so it has no forest with k = " + std::to_string(k) +
                                    " trees; k must be at least " + std::to_string(uf.components()));
    }
    write_forest_edges(kept.data(), count, out);
    uf.first_appearance_labels(out.labels);
    double total = 0.0;
    for (index_t e = 0; e < count; ++e) total += static_cast<double>(kept[static_cast<std::size_t>(e)].w);
    *out.value = 2.0 * total;
}

}  // namespace diffclust
