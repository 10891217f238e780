// Grouping by label: the one stable counting sort of the core (silhouette's
// order by cluster and perturb's connectivity counts; the contingency table
// places samples by class in one pass, since it knows the class sizes).
#pragma once

#include <cstddef>
#include <vector>

#include "diffclust/core/types.hpp"

namespace diffclust {

// Stable counting sort of the items [0, n) by key(i) in [0, k): afterwards
// group c occupies positions [start[c], start[c + 1]) of `out` (start has
// k + 1 entries), and holds value(i) for the items of key c in increasing i.
template <class Key, class Value, class Out>
void counting_sort(index_t n, index_t k, Key&& key, Value&& value, std::vector<index_t>& start, Out* out) {
    start.assign(static_cast<std::size_t>(k + 1), 0);
    for (index_t i = 0; i < n; ++i) ++start[static_cast<std::size_t>(key(i)) + 1];
    for (index_t c = 0; c < k; ++c) start[static_cast<std::size_t>(c + 1)] += start[static_cast<std::size_t>(c)];
    std::vector<index_t> next(start.begin(), start.end() - 1);
    for (index_t i = 0; i < n; ++i) out[next[static_cast<std::size_t>(key(i))]++] = value(i);
}

// The items grouped by label (labels in [0, k)): the members of group c are
// order[start[c] .. start[c + 1]), ascending.
inline void group_by_label(const index_t* labels, index_t n, index_t k, std::vector<index_t>& start,
                           std::vector<index_t>& order) {
    order.resize(static_cast<std::size_t>(n));
    counting_sort(
        n, k, [labels](index_t i) { return labels[i]; }, [](index_t i) { return i; }, start, order.data());
}

}  // namespace diffclust
