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

// Prim's maximum spanning tree on the points `members` (ascending ids) of a
// dense symmetric weight matrix W; appends |members| - 1 edges in global ids.
template <class T>
struct MemberSource {
    const T* W;
    index_t n;
    const index_t* members;
    const T* row;
    MemberSource(const T* W_, index_t n_, const index_t* members_) : W(W_), n(n_), members(members_), row(W_ + members_[0] * n_) {}
    void weights(const index_t* rem, index_t r0, index_t r1, T* out) const {
        for (index_t r = r0; r < r1; ++r) out[r - r0] = row[members[rem[r]]];
    }
    void take(index_t v, index_t, index_t) { row = W + members[v] * n; }
};

template <class T>
void member_max_tree(const T* W, index_t n, const std::vector<index_t>& members, std::vector<WeightedEdge<T>>& out) {
    const index_t m = static_cast<index_t>(members.size());
    if (m < 2) return;
    std::vector<WeightedEdge<T>> tree(static_cast<std::size_t>(m - 1));
    MemberSource<T> source(W, n, members.data());
    prim_max_tree<T>(m, source, tree.data());
    for (auto& e : tree) {
        const index_t a = members[static_cast<std::size_t>(e.i)], b = members[static_cast<std::size_t>(e.j)];
        out.push_back(WeightedEdge<T>{e.w, std::min(a, b), std::max(a, b)});
    }
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
        if (c.n_cannot > 0) colour_for_repair(c, uf, group_of, root_label);
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

private:
    // The greedy with `label` as each point's label (-1 none): the known labels,
    // or the colour classes of the completion rule. Returns whether it reached
    // k trees; edges holds the edges taken.
    template <class T>
    bool greedy(const T* W, const std::vector<index_t>& label, UnionFind& uf, std::vector<WeightedEdge<T>>& edges,
                std::vector<WeightedEdge<T>>* scratch) const {
        const index_t n = n_;
        edges.clear();
        for (const auto& g : groups_) {
            const std::size_t before = edges.size();
            member_max_tree(W, n, g, edges);
            for (std::size_t e = before; e < edges.size(); ++e) uf.unite(edges[e].i, edges[e].j);
        }
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

    template <class T>
    void finish(const T* W, bool refine, UnionFind& uf, std::vector<WeightedEdge<T>>& edges, index_t* labels) const {
        const index_t n = n_;
        if (refine) {
            std::vector<std::vector<index_t>> trees(static_cast<std::size_t>(n));
            for (index_t i = 0; i < n; ++i) trees[static_cast<std::size_t>(uf.find(i))].push_back(i);
            edges.clear();
            for (const auto& t : trees) member_max_tree(W, n, t, edges);
        }
        sort_edges_heaviest_first(edges);
        uf.first_appearance_labels(labels);
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
    std::vector<index_t> colour_;                   // per point: its group's colour (-1 free); empty without cannot-links
    std::vector<index_t> label_;                    // per point: its (remapped) label or -1
    std::vector<std::vector<index_t>> groups_;      // must-link groups of size >= 2
    std::vector<std::vector<index_t>> partners_ = std::vector<std::vector<index_t>>(static_cast<std::size_t>(n_));
};

}  // namespace diffclust
