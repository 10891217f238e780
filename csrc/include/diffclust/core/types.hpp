// Basic types and the edge order shared by every forest kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace diffclust {

using index_t = std::int64_t;

// An undirected edge of the complete graph, stored with i < j.
template <class T>
struct WeightedEdge {
    T w;
    index_t i;
    index_t j;
};

// The strict total order that breaks ties everywhere in the package:
// heavier first; among equal weights, the smaller pair (i, j) in lexicographic
// order (with i < j) first. Under a strict total order the maximum spanning
// tree is unique, so Prim, Kruskal and every thread count agree exactly.
inline bool pair_less(index_t a1, index_t b1, index_t a2, index_t b2) noexcept {
    const index_t i1 = a1 < b1 ? a1 : b1, j1 = a1 < b1 ? b1 : a1;
    const index_t i2 = a2 < b2 ? a2 : b2, j2 = a2 < b2 ? b2 : a2;
    return i1 != i2 ? i1 < i2 : j1 < j2;
}

template <class T>
inline bool heavier(const WeightedEdge<T>& a, const WeightedEdge<T>& b) noexcept {
    if (a.w != b.w) return a.w > b.w;
    if (a.i != b.i) return a.i < b.i;
    return a.j < b.j;
}

// Where a forest kernel writes its result. Buffers are owned by the caller.
template <class T>
struct ForestOut {
    index_t* labels;   // (n,)  cluster of each point, numbered by first appearance
    index_t* edges;    // (n - k, 2) with i < j, heaviest first
    T* weights;        // (n - k,)  w_ij of each edge
    double* value;     // <A, S>; for a symmetric S this is twice the total weight
};

}  // namespace diffclust
