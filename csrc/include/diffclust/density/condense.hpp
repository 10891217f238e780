// HDBSCAN*'s hierarchy from a spanning tree: the single-linkage dendrogram of
// the sorted tree edges (SciPy's linkage format) and its condensed tree for a
// min_cluster_size (Campello, Moulavi and Sander 2013). Serial, O(n alpha(n))
// and O(n) respectively; both check the cancellation hook.
//
// The row order of both outputs is part of the contract (the Python reference
// in python/diffclust/_density_tree.py produces the same arrays bit for bit):
// - merge t joins the roots a < b of edge t and creates node n + t;
// - the condensed tree visits the dendrogram's nodes from the root (2n - 2) down
//   to n; a split into two large children appends (parent, child, lambda, size)
//   for the smaller-numbered child first; a small child's points fall out in the
//   order of a depth-first walk that visits the right child first.
#pragma once

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "diffclust/core/cancel.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust {

struct CondensedTree {
    std::vector<index_t> parent;
    std::vector<index_t> child;
    std::vector<double> lambda;
    std::vector<index_t> child_size;

    void push(index_t p, index_t c, double lam, index_t size) {
        parent.push_back(p);
        child.push_back(c);
        lambda.push_back(lam);
        child_size.push_back(size);
    }
};

// Z (n - 1, 4), row-major: [a, b, distance, size] for the n - 1 edges (u[t], v[t])
// taken in the given order (sorted by weight by the caller). Throws
// std::invalid_argument if an edge joins two points already connected or an
// endpoint is outside [0, n).
inline void single_linkage_from_sorted(index_t n, const index_t* u, const index_t* v, const double* w, double* Z) {
    if (n <= 1) return;
    const std::size_t nodes = static_cast<std::size_t>(2 * n - 1);
    std::vector<index_t> root(nodes);
    std::vector<index_t> size(nodes, 1);
    for (std::size_t x = 0; x < nodes; ++x) root[x] = static_cast<index_t>(x);
    auto find = [&](index_t x) {
        while (root[static_cast<std::size_t>(x)] != x) {  // path halving
            const std::size_t sx = static_cast<std::size_t>(x);
            root[sx] = root[static_cast<std::size_t>(root[sx])];
            x = root[sx];
        }
        return x;
    };
    for (index_t t = 0; t < n - 1; ++t) {
        if ((t & 0xFFFF) == 0) cancellation_point();
        index_t a = u[t], b = v[t];
        if (a < 0 || a >= n || b < 0 || b >= n) {
            throw std::invalid_argument("edge " + std::to_string(t) + " has an endpoint outside [0, n)");
        }
        a = find(a);
        b = find(b);
        if (a == b) {
            throw std::invalid_argument("the edges do not form a spanning tree: edge " + std::to_string(t) +
                                        " closes a cycle");
        }
        const index_t made = n + t;
        root[static_cast<std::size_t>(a)] = made;
        root[static_cast<std::size_t>(b)] = made;
        size[static_cast<std::size_t>(made)] = size[static_cast<std::size_t>(a)] + size[static_cast<std::size_t>(b)];
        double* row = Z + 4 * t;
        row[0] = static_cast<double>(a < b ? a : b);
        row[1] = static_cast<double>(a < b ? b : a);
        row[2] = w[t];
        row[3] = static_cast<double>(size[static_cast<std::size_t>(made)]);
    }
}

// The condensed tree of the linkage matrix Z (n - 1 rows, as produced above):
// rows (parent, child, lambda = 1 / distance (inf at 0), child_size); the root is
// labelled n and new clusters n + 1, n + 2, ... in the order they appear.
inline void condense_tree(index_t n, const double* Z, index_t min_cluster_size, CondensedTree& out) {
    out = CondensedTree{};
    if (n <= 1) return;
    const index_t m = n - 1;
    const std::size_t nodes = static_cast<std::size_t>(2 * n - 1);
    std::vector<index_t> left(static_cast<std::size_t>(m)), right(static_cast<std::size_t>(m));
    std::vector<index_t> sizes(nodes, 1);
    std::vector<double> lam(static_cast<std::size_t>(m));
    for (index_t t = 0; t < m; ++t) {
        const double* row = Z + 4 * t;
        left[static_cast<std::size_t>(t)] = static_cast<index_t>(row[0]);
        right[static_cast<std::size_t>(t)] = static_cast<index_t>(row[1]);
        sizes[static_cast<std::size_t>(n + t)] = static_cast<index_t>(row[3]);
        lam[static_cast<std::size_t>(t)] = row[2] > 0.0 ? 1.0 / row[2] : std::numeric_limits<double>::infinity();
    }
    std::vector<index_t> relabel(nodes, 0);
    std::vector<std::uint8_t> ignore(nodes, 0);
    relabel[nodes - 1] = n;
    index_t next_label = n + 1;
    out.parent.reserve(static_cast<std::size_t>(n) + 16);
    out.child.reserve(static_cast<std::size_t>(n) + 16);
    out.lambda.reserve(static_cast<std::size_t>(n) + 16);
    out.child_size.reserve(static_cast<std::size_t>(n) + 16);
    std::vector<index_t> stack;
    auto fall_out = [&](index_t node, index_t p, double l) {
        stack.clear();
        stack.push_back(node);
        while (!stack.empty()) {
            const index_t x = stack.back();
            stack.pop_back();
            if (x < n) {
                out.push(p, x, l, 1);
            } else {
                ignore[static_cast<std::size_t>(x)] = 1;
                stack.push_back(left[static_cast<std::size_t>(x - n)]);
                stack.push_back(right[static_cast<std::size_t>(x - n)]);
            }
        }
    };
    for (index_t x = 2 * n - 2; x >= n; --x) {
        if (((x - n) & 0xFFFF) == 0) cancellation_point();
        if (ignore[static_cast<std::size_t>(x)]) continue;
        const std::size_t t = static_cast<std::size_t>(x - n);
        const index_t a = left[t], b = right[t];
        const double l = lam[t];
        const index_t p = relabel[static_cast<std::size_t>(x)];
        const index_t sa = sizes[static_cast<std::size_t>(a)], sb = sizes[static_cast<std::size_t>(b)];
        const bool big_a = sa >= min_cluster_size, big_b = sb >= min_cluster_size;
        if (big_a && big_b) {
            relabel[static_cast<std::size_t>(a)] = next_label;
            out.push(p, next_label++, l, sa);
            relabel[static_cast<std::size_t>(b)] = next_label;
            out.push(p, next_label++, l, sb);
        } else if (!big_a && !big_b) {
            fall_out(a, p, l);
            fall_out(b, p, l);
        } else if (!big_a) {
            relabel[static_cast<std::size_t>(b)] = p;
            fall_out(a, p, l);
        } else {
            relabel[static_cast<std::size_t>(a)] = p;
            fall_out(b, p, l);
        }
    }
}

}  // namespace diffclust
