// Maximum-weight k-forests (single-linkage clustering): the public entry points.
//
// Dense input goes Prim (forest/prim.hpp, O(n^2), optimal on a complete graph)
// -> extraction of the k-forest from the n - 1 tree edges by a second, tiny
// Kruskal (forest/kruskal.hpp). Points go Prim over PointRegions in O(n d)
// memory. Both follow the strict edge order of types.hpp, so the forest is
// unique and every path gives the same answer.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "diffclust/core/cancel.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/core/types.hpp"
#include "diffclust/forest/dense_checks.hpp"
#include "diffclust/forest/kruskal.hpp"
#include "diffclust/forest/prim.hpp"
#include "diffclust/forest/prim_sources.hpp"
#include "diffclust/core/checks.hpp"

namespace diffclust {

// Maximum spanning tree of the dense similarity S (n x n). `name` names the
// argument in error messages.
//
// Both passes over S (the symmetry check and Prim) are bound by memory latency,
// not by compute. With two or more threads they run at the same time: Prim on
// S (as if symmetric) on the calling thread, the check on the others (and on
// the Prim thread once it is done); no per-step synchronisation, so a busy
// machine makes it at worst about as slow as the serial order. If S turns out
// not to be symmetric, Prim is cancelled and rerun on the symmetrised copy.
template <class T>
std::vector<WeightedEdge<T>> dense_max_tree(const T* S, index_t n, int n_threads, const std::string& name,
                                            index_t min_overlap = 1024) {
    std::vector<WeightedEdge<T>> tree(static_cast<std::size_t>(n > 0 ? n - 1 : 0));
    bool finite = true, symmetric = true;
    if (n_threads >= 2 && n >= min_overlap) {
        // Item 0 is Prim, items 1.. the row blocks of the check, claimed in order
        // from the pool's shared counter: the caller starts Prim, the others take
        // the blocks from the start, and whoever is done joins in, so a slow
        // (busy) core never leaves work waiting.
        constexpr index_t tile = 64;
        const index_t nb = (n + tile - 1) / tile;
        std::atomic<bool> cancel{false};  // S is not symmetric and finite: stop Prim
        parallel_for(
            nb + 1, n_threads,
            [&](index_t item) {
                if (item == 0) {
                    prim_max_tree_dense<T>(S, n, 1, tree.data(), n, detail::prim_stall_limit, &cancel, false);
                    return;
                }
                if (cancel.load(std::memory_order_relaxed)) return;
                const index_t i0 = (item - 1) * tile;
                if (!row_block_symmetric(S, n, i0, std::min(n, i0 + tile), tile)) cancel.store(true);
            },
            std::chrono::nanoseconds(0));
        symmetric = !cancel.load();
    } else {
        symmetric = symmetric_and_finite(S, n, n_threads);
        // The check covered every entry of a symmetric S: Prim need not.
        if (symmetric) {
            prim_max_tree_dense<T>(S, n, n_threads, tree.data(), 2048, detail::prim_stall_limit, nullptr, false);
        }
    }
    if (!symmetric) {  // (or not finite)
        std::vector<T> W(static_cast<std::size_t>(n) * static_cast<std::size_t>(n));
        symmetrize(S, n, W.data(), n_threads);  // NaN and inf survive into W
        finite = prim_max_tree_dense<T>(W.data(), n, n_threads, tree.data());
    }
    if (!finite) throw std::invalid_argument(name + " contains NaN or infinity off the diagonal");
    return tree;
}

// Exact maximum-weight k-forest of a dense similarity matrix.
template <class T>
void kforest_dense(const T* S, index_t n, index_t k, int n_threads, ForestOut<T>& out,
                   const std::string& name = "S") {
    check_k(n, k);
    std::vector<WeightedEdge<T>> tree = dense_max_tree(S, n, n_threads, name);
    kforest_from_tree(n, k, tree, out);
    double value = 0.0;
    for (index_t e = 0; e < n - k; ++e) {
        const index_t i = out.edges[2 * e], j = out.edges[2 * e + 1];
        value += static_cast<double>(S[i * n + j]) + static_cast<double>(S[j * n + i]);
    }
    *out.value = value;
}

// A batch of b dense matrices (b, n, n); threads across the batch.
template <class T>
void kforest_dense_batch(const T* S, index_t b, index_t n, index_t k, int n_threads, index_t* labels,
                         index_t* edges, T* weights, double* values) {
    check_k(n, k);
    check_size(b, "b", 0);
    const index_t kept = n - k;
    parallel_for(b, n_threads, [&](index_t t) {
        ForestOut<T> out{labels + t * n, edges + t * kept * 2, weights + t * kept, values + t};
        kforest_dense(S + t * n * n, n, k, 1, out, "S[" + std::to_string(t) + "]");
    });
}

// Exact k-forest of points X (n x d) with S_ij = -d(x_i, x_j), in O(n d) memory.
// Weights are -d(x_i, x_j) in double precision; value = -2 * sum of distances.
template <class T>
void kforest_points(const T* X, index_t n, index_t d, index_t k, Metric metric, ForestOut<double>& out,
                    int n_threads = 1) {
    check_k(n, k);
    check_size(d, "d");
    require_finite_points(X, n * d, "X");
    std::vector<WeightedEdge<double>> tree(static_cast<std::size_t>(n > 0 ? n - 1 : 0));
    prim_max_tree_points(X, n, d, metric, n_threads, tree.data());
    kforest_points_from_tree(n, k, tree, out);
}

}  // namespace diffclust
