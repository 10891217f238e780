// Disjoint sets with path halving and union by size: O(alpha(n)) amortised.
#pragma once

#include <numeric>
#include <vector>

#include "diffclust/core/types.hpp"

namespace diffclust {

class UnionFind {
public:
    explicit UnionFind(index_t n) : parent_(static_cast<std::size_t>(n)), size_(static_cast<std::size_t>(n), 1), components_(n) {
        std::iota(parent_.begin(), parent_.end(), index_t{0});
    }

    index_t find(index_t x) noexcept {
        while (parent_[idx(x)] != x) {
            parent_[idx(x)] = parent_[idx(parent_[idx(x)])];
            x = parent_[idx(x)];
        }
        return x;
    }

    // Merges the sets of a and b; returns the new root, or -1 if already joined.
    index_t unite(index_t a, index_t b) noexcept {
        a = find(a);
        b = find(b);
        if (a == b) return -1;
        if (size_[idx(a)] < size_[idx(b)]) std::swap(a, b);
        parent_[idx(b)] = a;
        size_[idx(a)] += size_[idx(b)];
        --components_;
        return a;
    }

    // Unites two roots (as returned by find); returns the new root.
    index_t link_roots(index_t a, index_t b) noexcept {
        if (size_[idx(a)] < size_[idx(b)]) std::swap(a, b);
        parent_[idx(b)] = a;
        size_[idx(a)] += size_[idx(b)];
        --components_;
        return a;
    }

    index_t components() const noexcept { return components_; }
    index_t size() const noexcept { return static_cast<index_t>(parent_.size()); }

    // labels[i] = cluster of i, clusters numbered by first appearance (0 for point 0).
    void first_appearance_labels(index_t* labels) {
        const index_t n = size();
        std::vector<index_t> number(static_cast<std::size_t>(n), -1);
        index_t next = 0;
        for (index_t i = 0; i < n; ++i) {
            index_t& c = number[idx(find(i))];
            if (c < 0) c = next++;
            labels[i] = c;
        }
    }

private:
    static std::size_t idx(index_t x) noexcept { return static_cast<std::size_t>(x); }
    std::vector<index_t> parent_;
    std::vector<index_t> size_;
    index_t components_;
};

}  // namespace diffclust
