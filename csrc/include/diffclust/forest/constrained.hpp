// Constrained maximum-weight k-forests from partial clustering information.
//
// Constraints: partial labels (points with equal labels share a tree, points
// with different labels do not) and must-link / cannot-link pairs. The exact
// problem is hard in general; this is the greedy of Stewart et al. (2023):
//   1. must-link groups first (each joined by its own maximum spanning tree);
//   2. the other edges by decreasing weight (strict order of types.hpp),
//      never merging two trees that hold different labels (one label per
//      tree: an O(alpha(n)) check) or that a cannot-link pair spans (partner
//      lists merged small-to-large), until k trees remain;
//   3. optionally (refine) each tree re-spanned by Prim on its own points,
//      which keeps the partition and never lowers the value.
//
// Without cannot-links the greedy of step 2 needs only the n - 1 edges of the
// maximum spanning tree of W (solve_from_tree), not the n^2 / 2 edges of W.
// After step 1 every label is one tree, and the greedy takes an edge between
// two trees unless both hold a label. Contract every labelled tree into one
// node R and every other tree into a node of its own: two trees are then in
// one component of the contracted graph exactly when they are equal or both
// labelled, so the greedy takes an edge exactly when Kruskal on the contracted
// graph does. (Forests with at most one label per tree are the forests of the
// contracted graph: a graphic matroid, which is why the greedy is optimal
// here.) Contraction keeps every path, so an edge that some path of heavier
// edges bypasses in the original graph is bypassed in the contracted one too:
// every edge Kruskal takes on the contracted graph is an edge of the maximum
// spanning tree of W (unique under the strict order). Kruskal over those
// n - 1 edges alone, heaviest first, therefore takes the same edges in the
// same order as the greedy over all edges, ties included; it stops at k
// trees, i.e. after m - c edges, where the contracted graph has m nodes and
// c = k - max(L - 1, 0) components at the end (L labels). Step 1 and step 3
// still read W inside each group or tree (a callback, so that the perturbed
// loss can draw just those weights).
//
// Feasibility is decided up front, before any weights are seen: more distinct
// labels than k, a must-link joining two labels, a cannot-link inside a
// must-link group, fewer than k groups, or a cannot-link graph that needs more
// than k colours (feasibility.hpp) raise std::invalid_argument naming the
// conflict.
//
// The greedy cannot get stuck without cannot-links: it stops above k trees
// only when every two trees hold two different labels, i.e. with at most
// L <= k trees. With cannot-links it can (n = 4, k = 2, cannot-links (0,1),
// (1,2), (2,3): merging 0-2 and then 1-3 is fine, but 0-3 first blocks both),
// so the constructor also keeps one feasible colouring of the must-link groups
// (at most k colour classes, each free of conflicts; groups without any
// constraint left uncoloured). Completion rule, when the greedy ends above k
// trees: it is run again from the start on the same weights with the colour
// classes in place of the labels (a tree's colour is that of its coloured
// groups; an uncoloured tree may join any tree). Within a class nothing is
// forbidden, so this second greedy can merge down to at most k trees and stops
// at exactly k: the same heaviest-first rule, restricted to merges inside a
// colour class. Its trees each lie in one class, so every constraint holds,
// must-link groups are never split (they are merged first), and the result
// is a deterministic function of the weights. solve() reports such a repair.
#pragma once

#include <algorithm>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "diffclust/forest/feasibility.hpp"
#include "diffclust/forest/prim_sources.hpp"
#include "diffclust/forest/spanning_forest.hpp"
#include "diffclust/core/checks.hpp"
#include "diffclust/core/types.hpp"
#include "diffclust/core/union_find.hpp"

namespace diffclust {

struct Constraints {
    const index_t* labels = nullptr;  // (n,), -1 = unknown; or null
    const index_t* must = nullptr;    // (n_must, 2) pairs; or null
    index_t n_must = 0;
    const index_t* cannot = nullptr;  // (n_cannot, 2) pairs; or null
    index_t n_cannot = 0;
    bool any() const noexcept { return labels != nullptr || n_must > 0 || n_cannot > 0; }
};

// Prim's maximum spanning tree on the points members[0..m) of a dense
// symmetric weight matrix W (keys compared by the strict order, so the tree is
// the unique one); appends m - 1 edges in global ids. Its arrays live in
// per-thread buffers: the trees here are many and mostly small.
template <class T>
void member_max_tree(const T* W, index_t n, const index_t* members, index_t m, std::vector<WeightedEdge<T>>& out) {
    if (m < 2) return;
    thread_local std::vector<index_t> rem, par;
    thread_local std::vector<T> key;
    rem.assign(members + 1, members + m);
    par.assign(static_cast<std::size_t>(m - 1), members[0]);
    key.resize(static_cast<std::size_t>(m - 1));
    const T* row = W + members[0] * n;
    for (index_t r = 0; r < m - 1; ++r) key[static_cast<std::size_t>(r)] = row[rem[static_cast<std::size_t>(r)]];
    for (index_t left = m - 1; left > 0; --left) {
        index_t b = 0;
        for (index_t r = 1; r < left; ++r) {
            const std::size_t x = static_cast<std::size_t>(r), y = static_cast<std::size_t>(b);
            if (key[x] > key[y] || (key[x] == key[y] && pair_less(par[x], rem[x], par[y], rem[y]))) b = r;
        }
        const std::size_t bb = static_cast<std::size_t>(b), last = static_cast<std::size_t>(left - 1);
        const index_t v = rem[bb];
        out.push_back(WeightedEdge<T>{key[bb], std::min(v, par[bb]), std::max(v, par[bb])});
        rem[bb] = rem[last];
        key[bb] = key[last];
        par[bb] = par[last];
        row = W + v * n;
        for (index_t r = 0; r + 1 < left; ++r) {
            const std::size_t x = static_cast<std::size_t>(r);
            const T w = row[rem[x]];
            if (w > key[x] || (w == key[x] && pair_less(v, rem[x], par[x], rem[x]))) {
                key[x] = w;
                par[x] = v;
            }
        }
    }
}

template <class T>
void member_max_tree(const T* W, index_t n, const std::vector<index_t>& members, std::vector<WeightedEdge<T>>& out) {
    member_max_tree(W, n, members.data(), static_cast<index_t>(members.size()), out);
}

// The part of a constrained problem that does not depend on the weights:
// checked once, then reused for every weight matrix (every Monte-Carlo sample).
class ConstrainedProblem {
public:
    ConstrainedProblem(index_t n, index_t k, const Constraints& c) : n_(n), k_(k) {
        check_k(n, k);
        UnionFind uf(n);
        std::vector<index_t> root_label(static_cast<std::size_t>(n), -1);
        index_t n_labels = 0;
        if (c.labels) {
            std::vector<index_t> first_of_label;  // label values are remapped by the caller to 0..L-1
            for (index_t i = 0; i < n; ++i) {
                const index_t l = c.labels[i];
                if (l < 0) continue;
                if (l >= static_cast<index_t>(first_of_label.size())) first_of_label.resize(static_cast<std::size_t>(l + 1), -1);
                index_t& f = first_of_label[static_cast<std::size_t>(l)];
                if (f < 0) {
                    f = i;
                    ++n_labels;
                } else {
                    uf.unite(f, i);
                }
            }
            if (n_labels > k) {
                throw std::invalid_argument("known_labels has " + std::to_string(n_labels) +
                                            " distinct labels but k = " + std::to_string(k) +
                                            ": points with different labels need different trees");
            }
            for (index_t i = 0; i < n; ++i) {
                if (c.labels[i] >= 0) root_label[static_cast<std::size_t>(uf.find(i))] = c.labels[i];
            }
        }
        for (index_t p = 0; p < c.n_must; ++p) {
            const index_t a = c.must[2 * p], b = c.must[2 * p + 1];
            check_pair(a, b, p, "must_link");
            const index_t ra = uf.find(a), rb = uf.find(b);
            if (ra == rb) continue;
            const index_t la = root_label[static_cast<std::size_t>(ra)], lb = root_label[static_cast<std::size_t>(rb)];
            if (la >= 0 && lb >= 0 && la != lb) {
                const index_t pa = labelled_point(c.labels, uf, ra), pb = labelled_point(c.labels, uf, rb);
                throw std::invalid_argument("must_link pair " + std::to_string(p) + " (" + std::to_string(a) + ", " +
                                            std::to_string(b) + ") joins points with different known labels: point " +
                                            std::to_string(a) + " is tied to labelled point " + std::to_string(pa) +
                                            " and point " + std::to_string(b) + " to labelled point " +
                                            std::to_string(pb));
            }
            const index_t r = uf.link_roots(ra, rb);
            root_label[static_cast<std::size_t>(r)] = la >= 0 ? la : lb;
        }
        for (index_t p = 0; p < c.n_cannot; ++p) {
            const index_t a = c.cannot[2 * p], b = c.cannot[2 * p + 1];
            check_pair(a, b, p, "cannot_link");
            if (uf.find(a) == uf.find(b)) {
                throw std::invalid_argument("cannot_link pair " + std::to_string(p) + " (" + std::to_string(a) + ", " +
                                            std::to_string(b) + ") contradicts the must-link constraints: " +
                                            "these points must share a tree (must-linked, or equal known labels)");
            }
            partners_[static_cast<std::size_t>(a)].push_back(b);
            partners_[static_cast<std::size_t>(b)].push_back(a);
        }
        if (uf.components() < k) {
            throw std::invalid_argument("the constraints join the points into " + std::to_string(uf.components()) +
                                        " groups that must each stay in one tree, fewer than k = " +
                                        std::to_string(k));
        }
        // Must-link groups (ascending members) and each point's label.
        std::vector<index_t> group_of(static_cast<std::size_t>(n), -1);
        label_.assign(static_cast<std::size_t>(n), -1);
        for (index_t i = 0; i < n; ++i) {
            const index_t r = uf.find(i);
            label_[static_cast<std::size_t>(i)] = root_label[static_cast<std::size_t>(r)];
            index_t& g = group_of[static_cast<std::size_t>(r)];
            if (g < 0) {
                g = static_cast<index_t>(groups_.size());
                groups_.emplace_back();
            }
            groups_[static_cast<std::size_t>(g)].push_back(i);
        }
        if (c.n_cannot > 0) {
            colour_for_repair(c, uf, group_of, root_label);
        } else {
            contract(uf, root_label);
        }
        groups_.erase(std::remove_if(groups_.begin(), groups_.end(), [](const auto& g) { return g.size() < 2; }),
                      groups_.end());
    }

    index_t n() const noexcept { return n_; }
    index_t k() const noexcept { return k_; }

    // Solves the constrained problem for the dense symmetric weights W
    // (n x n, diagonal ignored). Writes n - k edges (heaviest first) and labels.
    // `scratch` (optional) keeps the edge pool's memory between calls: a fresh
    // n^2 / 2-edge buffer per call costs page faults that outweigh the greedy.
    // Returns true when the greedy got stuck above k trees and the result comes
    // from the completion rule (file comment).
    template <class T>
    bool solve(const T* W, bool refine, std::vector<WeightedEdge<T>>& edges, index_t* labels,
               std::vector<WeightedEdge<T>>* scratch = nullptr) const {
        UnionFind uf(n_);
        if (from_tree()) {
            std::vector<WeightedEdge<T>> tree(static_cast<std::size_t>(n_ - 1));
            prim_max_tree_dense<T>(W, n_, 1, tree.data(), n_, detail::prim_stall_limit, nullptr, false);
            solve_from_tree(tree, refine, [&](const index_t* members, index_t m, std::vector<WeightedEdge<T>>& out) {
                member_max_tree(W, n_, members, m, out);
            }, edges, labels);
            return false;
        }
        if (greedy(W, label_, uf, edges, scratch)) {
            finish(W, refine, uf, edges, labels);
            return false;
        }
        if (colour_.empty()) {  // cannot happen (file comment): only cannot-links can block the greedy
            throw std::logic_error("the constrained greedy stopped at " + std::to_string(uf.components()) +
                                   " trees without cannot-link constraints");
        }
        UnionFind again(n_);
        if (!greedy(W, colour_, again, edges, scratch)) {
            throw std::logic_error("the constrained greedy within a feasible colouring stopped at " +
                                   std::to_string(again.components()) + " trees");
        }
        finish(W, refine, again, edges, labels);
        return true;
    }

    // Whether solve_from_tree applies: no cannot-links (file comment).
    bool from_tree() const noexcept { return !node_of_.empty(); }

    // The constrained forest from `tree`, the n - 1 edges of the maximum
    // spanning tree of the weights (sorted here heaviest first, unless
    // `tree_sorted` says they are), when from_tree(). member_tree(members, m,
    // out) appends the maximum spanning tree (strict order) of the points
    // members[0..m) (ascending) to out; it is asked for each must-link group
    // (refine = false) and for each final tree that the spanning tree does not
    // already span (refine = true: a set of points that the spanning tree's own
    // edges connect is spanned best by those edges, since every other edge
    // inside it closes a cycle of heavier tree edges). Writes n - k edges,
    // heaviest first, and labels: the same result as solve() on those weights,
    // bit for bit.
    template <class T, class MemberTree>
    void solve_from_tree(std::vector<WeightedEdge<T>>& tree, bool refine, MemberTree&& member_tree,
                         std::vector<WeightedEdge<T>>& edges, index_t* labels, bool tree_sorted = false) const {
        if (!tree_sorted) std::sort(tree.begin(), tree.end(), [](const WeightedEdge<T>& a, const WeightedEdge<T>& b) { return heavier(a, b); });
        UnionFind uf(n_);
        edges.clear();
        for (const auto& g : groups_) {
            if (refine) {  // the group trees would be re-spanned anyway: only their union matters
                for (std::size_t t = 1; t < g.size(); ++t) uf.unite(g[0], g[t]);
            } else {
                const std::size_t before = edges.size();
                member_tree(g.data(), static_cast<index_t>(g.size()), edges);
                for (std::size_t e = before; e < edges.size(); ++e) uf.unite(edges[e].i, edges[e].j);
            }
        }
        // Kruskal on the contracted graph over the tree's edges, heaviest first
        index_t take = n_nodes_ - target_;
        if (take > 0) {
            UnionFind nodes(n_nodes_);
            for (const auto& e : tree) {
                const index_t a = node_of_[static_cast<std::size_t>(e.i)], b = node_of_[static_cast<std::size_t>(e.j)];
                if (nodes.find(a) == nodes.find(b)) continue;
                nodes.unite(a, b);
                uf.unite(e.i, e.j);
                edges.push_back(e);
                if (--take == 0) break;
            }
        }
        uf.first_appearance_labels(labels);
        if (!refine) {
            sort_edges_heaviest_first(edges);
            return;
        }
        // Each final tree: the spanning tree's edges inside it when they connect
        // it (they are then in the heaviest-first order already), else its own tree.
        thread_local std::vector<index_t> size, inside, start, points;
        size.assign(static_cast<std::size_t>(k_), 0);
        inside.assign(static_cast<std::size_t>(k_), 0);
        for (index_t i = 0; i < n_; ++i) ++size[static_cast<std::size_t>(labels[i])];
        for (const auto& e : tree) {
            const index_t c = labels[e.i];
            if (c == labels[e.j]) ++inside[static_cast<std::size_t>(c)];
        }
        bool spanned = true;
        for (index_t c = 0; c < k_; ++c) spanned = spanned && inside[static_cast<std::size_t>(c)] == size[static_cast<std::size_t>(c)] - 1;
        edges.clear();
        for (const auto& e : tree) {
            const std::size_t c = static_cast<std::size_t>(labels[e.i]);
            if (labels[e.i] == labels[e.j] && inside[c] == size[c] - 1) edges.push_back(e);
        }
        if (spanned) return;
        start.assign(static_cast<std::size_t>(k_ + 1), 0);  // the other trees' points, ascending (a counting sort)
        for (index_t i = 0; i < n_; ++i) ++start[static_cast<std::size_t>(labels[i] + 1)];
        for (index_t c = 0; c < k_; ++c) start[static_cast<std::size_t>(c + 1)] += start[static_cast<std::size_t>(c)];
        points.resize(static_cast<std::size_t>(n_));
        for (index_t i = 0; i < n_; ++i) points[static_cast<std::size_t>(start[static_cast<std::size_t>(labels[i])]++)] = i;
        const std::ptrdiff_t spanned_edges = static_cast<std::ptrdiff_t>(edges.size());
        index_t first = 0;
        for (index_t c = 0; c < k_; ++c) {
            const index_t last = start[static_cast<std::size_t>(c)];
            if (inside[static_cast<std::size_t>(c)] != size[static_cast<std::size_t>(c)] - 1) {
                member_tree(points.data() + first, last - first, edges);
            }
            first = last;
        }
        const auto order = [](const WeightedEdge<T>& a, const WeightedEdge<T>& b) { return heavier(a, b); };
        std::sort(edges.begin() + spanned_edges, edges.end(), order);
        std::inplace_merge(edges.begin(), edges.begin() + spanned_edges, edges.end(), order);
    }

private:
    // The greedy with `label` as each point's label (-1 none): the known labels,
    // or the colour classes of the completion rule. Returns whether it reached
    // k trees; edges holds the edges taken.
    template <class T>
    bool greedy(const T* W, const std::vector<index_t>& label, UnionFind& uf, std::vector<WeightedEdge<T>>& edges,
                std::vector<WeightedEdge<T>>* scratch) const {
        const index_t n = n_;
        edges.clear();
        span_groups(W, uf, edges);
        std::vector<index_t> tree_label(label);  // label of each root
        for (index_t i = 0; i < n; ++i) {
            if (label[static_cast<std::size_t>(i)] >= 0) tree_label[static_cast<std::size_t>(uf.find(i))] = label[static_cast<std::size_t>(i)];
        }
        std::vector<std::vector<index_t>> partners;  // per root: points it may not join
        const bool has_cannot = std::any_of(partners_.begin(), partners_.end(), [](const auto& p) { return !p.empty(); });
        if (has_cannot) {
            partners.resize(static_cast<std::size_t>(n));
            for (index_t i = 0; i < n; ++i) {
                auto& dst = partners[static_cast<std::size_t>(uf.find(i))];
                const auto& src = partners_[static_cast<std::size_t>(i)];
                dst.insert(dst.end(), src.begin(), src.end());
            }
        }

        // Greedy over the remaining edges, heaviest first, in two tiers: it
        // usually stops within the heaviest few percent of the edges (about 10%
        // for clustered data), so the edges at or above a threshold (taken from
        // a fixed sample of the weights) go first and the rest only if needed.
        // Within a tier, Filter-Kruskal (Osipov, Sanders, Singler 2009): split
        // at the median, run the heavier half, then drop from the lighter half
        // every edge the greedy would now skip (both ends in one tree, two
        // different labels, a cannot-link pair across: once true, true for
        // good) and go on with the rest. The edges taken and their order are
        // exactly those of the greedy over all edges sorted by the strict order.
        std::vector<WeightedEdge<T>> local;
        std::vector<WeightedEdge<T>>& pool = scratch != nullptr ? *scratch : local;
        const index_t n_edges = n * (n - 1) / 2;
        T threshold = -std::numeric_limits<T>::infinity();
        {
            std::vector<T> sample;
            const index_t stride = std::max<index_t>(1, n_edges / 512);
            index_t at = 0;
            for (index_t i = 0; i < n; ++i) {
                for (index_t j = i + 1 + (at % stride == 0 ? 0 : stride - at % stride); j < n; j += stride) sample.push_back(W[i * n + j]);
                at += n - 1 - i;
            }
            const std::size_t want = static_cast<std::size_t>(std::min<index_t>(n_edges, 16 * n));
            const std::size_t q = want * sample.size() / static_cast<std::size_t>(std::max<index_t>(1, n_edges));
            if (q > 0 && q < sample.size()) {
                std::nth_element(sample.begin(), sample.begin() + static_cast<std::ptrdiff_t>(q), sample.end(), std::greater<T>());
                threshold = sample[q];
            }
        }
        const auto collect = [&](bool heavy) {
            pool.clear();
            for (index_t i = 0; i < n; ++i) {
                const T* row = W + i * n;
                const index_t ri = uf.find(i);
                for (index_t j = i + 1; j < n; ++j) {
                    if ((row[j] >= threshold) == heavy && uf.find(j) != ri) pool.push_back(WeightedEdge<T>{row[j], i, j});
                }
            }
        };
        const auto skip = [&](const WeightedEdge<T>& e) {
            const index_t ra = uf.find(e.i), rb = uf.find(e.j);
            if (ra == rb) return true;
            const index_t la = tree_label[static_cast<std::size_t>(ra)], lb = tree_label[static_cast<std::size_t>(rb)];
            if (la >= 0 && lb >= 0 && la != lb) return true;
            return has_cannot && spans_cannot_link(uf, partners, ra, rb);
        };
        const auto take = [&](const WeightedEdge<T>& e) {
            const index_t ra = uf.find(e.i), rb = uf.find(e.j);
            const index_t la = tree_label[static_cast<std::size_t>(ra)], lb = tree_label[static_cast<std::size_t>(rb)];
            const index_t r = uf.link_roots(ra, rb);
            tree_label[static_cast<std::size_t>(r)] = la >= 0 ? la : lb;
            if (has_cannot) {
                const index_t other = r == ra ? rb : ra;
                auto& keep = partners[static_cast<std::size_t>(r)];
                auto& gone = partners[static_cast<std::size_t>(other)];
                if (keep.size() < gone.size()) keep.swap(gone);
                keep.insert(keep.end(), gone.begin(), gone.end());
                std::vector<index_t>().swap(gone);
            }
            edges.push_back(e);
        };
        using It = typename std::vector<WeightedEdge<T>>::iterator;
        const auto order = [](const WeightedEdge<T>& a, const WeightedEdge<T>& b) { return heavier(a, b); };
        const std::function<void(It, It)> run = [&](It first, It last) {
            constexpr std::ptrdiff_t small = 64;
            while (last - first > small && uf.components() > k_) {
                const It mid = first + (last - first) / 2;
                std::nth_element(first, mid, last, order);
                run(first, mid);  // the heavier half
                last = std::remove_if(mid, last, skip);
                first = mid;
            }
            if (uf.components() <= k_) return;
            std::sort(first, last, order);
            for (It e = first; e != last && uf.components() > k_; ++e) {
                if (!skip(*e)) take(*e);
            }
        };
        collect(true);  // every edge >= threshold comes before every edge < threshold in the strict order
        run(pool.begin(), pool.end());
        if (uf.components() > k_ && threshold > -std::numeric_limits<T>::infinity()) {
            collect(false);
            run(pool.begin(), pool.end());
        }
        return uf.components() <= k_;
    }

    // Step 1: each must-link group (labels included) joined by its own maximum spanning tree.
    template <class T>
    void span_groups(const T* W, UnionFind& uf, std::vector<WeightedEdge<T>>& edges) const {
        for (const auto& g : groups_) {
            const std::size_t before = edges.size();
            member_max_tree(W, n_, g, edges);
            for (std::size_t e = before; e < edges.size(); ++e) uf.unite(edges[e].i, edges[e].j);
        }
    }

    // The contracted graph (file comment): node_of_ maps each point to its node
    // (0 = R, the labelled trees, when there are labels), n_nodes_ is m and
    // target_ is c.
    void contract(UnionFind& uf, const std::vector<index_t>& root_label) {
        const index_t n = n_;
        std::vector<index_t> node_of_root(static_cast<std::size_t>(n), -1);
        index_t n_labelled = 0;
        for (index_t i = 0; i < n; ++i) {
            if (uf.find(i) == i && root_label[static_cast<std::size_t>(i)] >= 0) ++n_labelled;
        }
        index_t m = n_labelled > 0 ? 1 : 0;
        node_of_.assign(static_cast<std::size_t>(n), -1);
        for (index_t i = 0; i < n; ++i) {
            const index_t r = uf.find(i);
            index_t& node = node_of_root[static_cast<std::size_t>(r)];
            if (node < 0) node = root_label[static_cast<std::size_t>(r)] >= 0 ? 0 : m++;
            node_of_[static_cast<std::size_t>(i)] = node;
        }
        n_nodes_ = m;
        target_ = k_ - std::max<index_t>(n_labelled - 1, 0);
    }

    template <class T>
    void finish(const T* W, bool refine, UnionFind& uf, std::vector<WeightedEdge<T>>& edges, index_t* labels) const {
        const index_t n = n_;
        uf.first_appearance_labels(labels);
        if (refine) {  // each tree's points in ascending order (a counting sort by label), then its own tree
            thread_local std::vector<index_t> start, points;
            start.assign(static_cast<std::size_t>(n + 1), 0);
            for (index_t i = 0; i < n; ++i) ++start[static_cast<std::size_t>(labels[i] + 1)];
            for (index_t c = 0; c < n; ++c) start[static_cast<std::size_t>(c + 1)] += start[static_cast<std::size_t>(c)];
            points.resize(static_cast<std::size_t>(n));
            for (index_t i = 0; i < n; ++i) points[static_cast<std::size_t>(start[static_cast<std::size_t>(labels[i])]++)] = i;
            edges.clear();
            index_t first = 0;
            for (index_t c = 0; c < n && first < n; ++c) {
                const index_t last = start[static_cast<std::size_t>(c)];
                member_max_tree(W, n, points.data() + first, last - first, edges);
                first = last;
            }
        }
        sort_edges_heaviest_first(edges);
    }

    void check_pair(index_t a, index_t b, index_t p, const char* name) const {
        if (a < 0 || a >= n_ || b < 0 || b >= n_) {
            throw std::out_of_range(std::string(name) + "[" + std::to_string(p) + "] = (" + std::to_string(a) + ", " +
                                    std::to_string(b) + ") is out of range for n = " + std::to_string(n_));
        }
    }

    static bool spans_cannot_link(UnionFind& uf, const std::vector<std::vector<index_t>>& partners, index_t ra,
                                  index_t rb) {
        const auto& pa = partners[static_cast<std::size_t>(ra)];
        const auto& pb = partners[static_cast<std::size_t>(rb)];
        const bool a_smaller = pa.size() <= pb.size();
        const auto& small = a_smaller ? pa : pb;
        const index_t other = a_smaller ? rb : ra;
        for (index_t p : small) {
            if (uf.find(p) == other) return true;
        }
        return false;
    }

    // A point with a known label in the set of root r (for messages).
    static index_t labelled_point(const index_t* labels, UnionFind& uf, index_t r) {
        for (index_t i = 0; i < uf.size(); ++i) {
            if (labels[i] >= 0 && uf.find(i) == r) return i;
        }
        return -1;
    }

    // One colouring of the must-link groups with at most k colours
    // (feasibility.hpp), kept per point in colour_ for the completion rule;
    // throws when none exists.
    void colour_for_repair(const Constraints& c, UnionFind& uf, const std::vector<index_t>& group_of,
                           const std::vector<index_t>& root_label) {
        const index_t n_groups = static_cast<index_t>(groups_.size());
        std::vector<index_t> group_label(static_cast<std::size_t>(n_groups), -1);
        for (index_t i = 0; i < n_; ++i) {
            const index_t r = uf.find(i);
            group_label[static_cast<std::size_t>(group_of[static_cast<std::size_t>(r)])] = root_label[static_cast<std::size_t>(r)];
        }
        std::vector<GroupConflict> conflicts;
        conflicts.reserve(static_cast<std::size_t>(c.n_cannot));
        for (index_t p = 0; p < c.n_cannot; ++p) {
            const index_t a = c.cannot[2 * p], b = c.cannot[2 * p + 1];
            conflicts.push_back(GroupConflict{group_of[static_cast<std::size_t>(uf.find(a))],
                                              group_of[static_cast<std::size_t>(uf.find(b))], p, a, b});
        }
        const std::vector<index_t> colour = colour_groups(n_groups, k_, group_label, conflicts);
        colour_.resize(static_cast<std::size_t>(n_));
        for (index_t i = 0; i < n_; ++i) {
            colour_[static_cast<std::size_t>(i)] = colour[static_cast<std::size_t>(group_of[static_cast<std::size_t>(uf.find(i))])];
        }
    }

    index_t n_, k_;
    std::vector<index_t> node_of_;  // the contracted graph (contract()); empty with cannot-links
    index_t n_nodes_ = 0, target_ = 0;
    std::vector<index_t> colour_;                   // per point: its group's colour (-1 free); empty without cannot-links
    std::vector<index_t> label_;                    // per point: its (remapped) label or -1
    std::vector<std::vector<index_t>> groups_;      // must-link groups of size >= 2
    std::vector<std::vector<index_t>> partners_ = std::vector<std::vector<index_t>>(static_cast<std::size_t>(n_));
};

}  // namespace diffclust
