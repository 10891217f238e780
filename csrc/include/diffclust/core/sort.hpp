// The edge sort: heaviest first, ties by (i, j) (see types.hpp).
#pragma once

#include <algorithm>
#include <vector>

#include "diffclust/core/types.hpp"

namespace diffclust {

template <class T>
void sort_edges_heaviest_first(std::vector<WeightedEdge<T>>& edges) {
    std::sort(edges.begin(), edges.end(), [](const WeightedEdge<T>& a, const WeightedEdge<T>& b) {
        return heavier(a, b);
    });
}

}  // namespace diffclust
