// Feasibility of cannot-link constraints: graph colouring of must-link groups.
//
// Contract the must-link groups (a known label's points are one group) into
// vertices; a cannot-link pair is an edge between its two groups, and the
// groups with known labels are pre-coloured with their (distinct) labels. A
// constrained k-forest exists iff this graph has a proper colouring with at
// most k colours (and there are at least k groups: a colour class of two or
// more groups can then give one group a colour of its own, up to exactly k).
// Each colour class is free of conflicts, so any forest whose trees each lie
// in one class satisfies every constraint.
//
// Deciding k-colourability is NP-complete, so the search is exact but
// budgeted:
//   1. peeling: an uncoloured vertex with fewer than k neighbours can always be
//      coloured last, so such vertices are set aside (repeatedly) and coloured
//      greedily in reverse order at the end. What remains (the k-core) is
//      empty in most practical cases (k >= 3 and sparse cannot-links);
//   2. each connected component of the rest is searched on its own by DSatur
//      backtracking (Brelaz 1979): the uncoloured vertex with the most distinct
//      neighbouring colours first (then the most uncoloured neighbours, then the
//      smallest id), colours tried in increasing order, a colour never used
//      before tried only as the lowest such (colours are interchangeable).
//      DSatur is exact without backtracking on bipartite graphs and forced on
//      odd cycles, so k = 2 takes O(vertices) assignments.
// The search gives up after `colouring_budget` steps (2e8; an assignment costs
// the uncoloured vertices DSatur compares plus the neighbours it updates:
// about a second on one core) with a ValueError that says so; it never
// reports a feasible problem as infeasible.
#pragma once

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "diffclust/core/cancel.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust {

// The colouring search's budget, in steps: each vertex assignment costs one
// step per uncoloured vertex of its component (DSatur's choice) plus one per
// neighbour (the saturation update); about a second on one core.
constexpr index_t colouring_budget = 200'000'000;

// A conflict between two groups, from cannot_link pair `pair` (points a, b).
struct GroupConflict {
    index_t ga, gb;
    index_t pair, a, b;
};

namespace detail {

inline std::string conflict_list(const std::vector<const GroupConflict*>& pairs) {
    std::string s;
    const std::size_t shown = std::min<std::size_t>(pairs.size(), 8);
    for (std::size_t q = 0; q < shown; ++q) {
        if (q > 0) s += ", ";
        s += "(" + std::to_string(pairs[q]->a) + ", " + std::to_string(pairs[q]->b) + ")";
    }
    if (pairs.size() > shown) s += " and " + std::to_string(pairs.size() - shown) + " more";
    return s;
}

// DSatur backtracking over one connected component `comp` (group ids) of
// uncoloured vertices; `colour` holds the pre-coloured and already coloured
// groups. Returns false when no colouring with k colours exists.
inline bool dsatur_component(const std::vector<index_t>& comp, const std::vector<std::vector<index_t>>& adj, index_t k,
                             index_t first_free_colour, std::vector<index_t>& colour, index_t& work, index_t max_work) {
    const index_t m = static_cast<index_t>(comp.size());
    std::vector<index_t> local(adj.size(), -1);
    for (index_t v = 0; v < m; ++v) local[static_cast<std::size_t>(comp[static_cast<std::size_t>(v)])] = v;
    // cnt[v * k + c]: neighbours of v with colour c; sat[v]: distinct such colours.
    // m * k <= sum of degrees here (every vertex of the k-core has >= k neighbours).
    std::vector<index_t> cnt(static_cast<std::size_t>(m) * static_cast<std::size_t>(k), 0), sat(static_cast<std::size_t>(m), 0),
        free_deg(static_cast<std::size_t>(m), 0);
    const auto cell = [&](index_t v, index_t c) -> index_t& { return cnt[static_cast<std::size_t>(v * k + c)]; };
    for (index_t v = 0; v < m; ++v) {
        for (index_t u : adj[static_cast<std::size_t>(comp[static_cast<std::size_t>(v)])]) {
            const index_t c = colour[static_cast<std::size_t>(u)];
            if (c >= 0) {
                if (cell(v, c)++ == 0) ++sat[static_cast<std::size_t>(v)];
            } else if (local[static_cast<std::size_t>(u)] >= 0) {
                ++free_deg[static_cast<std::size_t>(v)];
            }
        }
    }
    // the uncoloured vertices (unordered; pos[v] is v's place, -1 once coloured)
    std::vector<index_t> open(static_cast<std::size_t>(m)), pos(static_cast<std::size_t>(m));
    for (index_t v = 0; v < m; ++v) open[static_cast<std::size_t>(v)] = pos[static_cast<std::size_t>(v)] = v;
    const auto paint = [&](index_t v, index_t c, int sign) {
        const index_t g = comp[static_cast<std::size_t>(v)];
        colour[static_cast<std::size_t>(g)] = sign > 0 ? c : -1;
        if (sign > 0) {  // swap-remove v from the open list
            const index_t at = pos[static_cast<std::size_t>(v)], last = open.back();
            open[static_cast<std::size_t>(at)] = last;
            pos[static_cast<std::size_t>(last)] = at;
            open.pop_back();
            pos[static_cast<std::size_t>(v)] = -1;
        } else {
            pos[static_cast<std::size_t>(v)] = static_cast<index_t>(open.size());
            open.push_back(v);
        }
        const auto& nb = adj[static_cast<std::size_t>(g)];
        work += static_cast<index_t>(nb.size());
        for (index_t u : nb) {
            const index_t w = local[static_cast<std::size_t>(u)];
            if (w < 0) continue;
            free_deg[static_cast<std::size_t>(w)] -= sign;
            index_t& x = cell(w, c);
            if (sign > 0) {
                if (x++ == 0) ++sat[static_cast<std::size_t>(w)];
            } else if (--x == 0) {
                --sat[static_cast<std::size_t>(w)];
            }
        }
    };
    // DSatur's choice: the most distinct neighbouring colours, then the most
    // uncoloured neighbours, then the smallest id
    const auto pick = [&]() {
        index_t best = -1;
        work += static_cast<index_t>(open.size());
        for (index_t v : open) {
            const std::size_t a = static_cast<std::size_t>(v);
            if (best < 0) {
                best = v;
                continue;
            }
            const std::size_t b = static_cast<std::size_t>(best);
            if (sat[a] > sat[b] || (sat[a] == sat[b] && (free_deg[a] > free_deg[b] || (free_deg[a] == free_deg[b] && v < best)))) best = v;
        }
        return best;
    };
    struct Frame {
        index_t v, next, used;  // vertex, next colour to try, colours in use before it
    };
    std::vector<Frame> stack;
    index_t assignments = 0;
    index_t used = first_free_colour;  // colours >= used are interchangeable
    index_t v = pick();
    if (v >= 0) stack.push_back(Frame{v, 0, used});
    while (!stack.empty()) {
        Frame& f = stack.back();
        const index_t g = comp[static_cast<std::size_t>(f.v)];
        if (colour[static_cast<std::size_t>(g)] >= 0) paint(f.v, colour[static_cast<std::size_t>(g)], -1);
        const index_t top = std::min(k, f.used + 1);
        index_t c = f.next;
        while (c < top && cell(f.v, c) > 0) ++c;
        if (c >= top) {
            stack.pop_back();
            continue;
        }
        if (work > max_work) {
            throw std::invalid_argument("cannot_link: could not decide within the search budget (" + std::to_string(max_work) +
                                        " steps) whether the cannot-link constraints can be met with k = " +
                                        std::to_string(k) + " trees (a graph colouring problem); use fewer cannot-link pairs or a larger k");
        }
        if ((++assignments & 0xfff) == 0) cancellation_point();
        paint(f.v, c, +1);
        f.next = c + 1;
        used = std::max(f.used, c + 1);
        v = pick();
        if (v < 0) return true;
        stack.push_back(Frame{v, 0, used});
    }
    return v < 0;  // an empty component, or every branch failed
}

}  // namespace detail

// Colours the groups 0..n_groups-1 with colours in [0, k): `label[g]` >= 0
// pre-colours group g (labels distinct per group, remapped here), -1 leaves it
// free. Returns each group's colour, -1 for a group with no conflict and no
// label (it may join any colour). Throws std::invalid_argument naming the
// cannot-link pairs of a component that needs more than k colours.
inline std::vector<index_t> colour_groups(index_t n_groups, index_t k, const std::vector<index_t>& label,
                                          const std::vector<GroupConflict>& conflicts,
                                          index_t max_steps = colouring_budget) {
    std::vector<std::vector<index_t>> adj(static_cast<std::size_t>(n_groups));
    for (const auto& e : conflicts) {
        adj[static_cast<std::size_t>(e.ga)].push_back(e.gb);
        adj[static_cast<std::size_t>(e.gb)].push_back(e.ga);
    }
    for (auto& a : adj) {
        std::sort(a.begin(), a.end());
        a.erase(std::unique(a.begin(), a.end()), a.end());
    }
    // pre-colouring: the known labels, renumbered by first appearance
    std::vector<index_t> colour(static_cast<std::size_t>(n_groups), -1);
    std::vector<index_t> label_colour;
    index_t n_labels = 0;
    for (index_t g = 0; g < n_groups; ++g) {
        const index_t l = label[static_cast<std::size_t>(g)];
        if (l < 0) continue;
        if (l >= static_cast<index_t>(label_colour.size())) label_colour.resize(static_cast<std::size_t>(l + 1), -1);
        index_t& c = label_colour[static_cast<std::size_t>(l)];
        if (c < 0) c = n_labels++;
        colour[static_cast<std::size_t>(g)] = c;
    }
    if (n_labels > k) throw std::invalid_argument("known_labels has more distinct labels than k = " + std::to_string(k));

    // 1. peel uncoloured vertices with fewer than k remaining neighbours
    std::vector<index_t> deg(static_cast<std::size_t>(n_groups));
    std::vector<char> peeled(static_cast<std::size_t>(n_groups), 0);
    std::vector<index_t> order, queue;
    for (index_t g = 0; g < n_groups; ++g) {
        deg[static_cast<std::size_t>(g)] = static_cast<index_t>(adj[static_cast<std::size_t>(g)].size());
        if (colour[static_cast<std::size_t>(g)] < 0 && deg[static_cast<std::size_t>(g)] < k) {
            peeled[static_cast<std::size_t>(g)] = 1;
            queue.push_back(g);
        }
    }
    for (std::size_t q = 0; q < queue.size(); ++q) {
        const index_t g = queue[q];
        order.push_back(g);
        for (index_t u : adj[static_cast<std::size_t>(g)]) {
            if (peeled[static_cast<std::size_t>(u)] || colour[static_cast<std::size_t>(u)] >= 0) continue;
            if (--deg[static_cast<std::size_t>(u)] < k) {
                peeled[static_cast<std::size_t>(u)] = 1;
                queue.push_back(u);
            }
        }
    }

    // 2. each connected component of the uncoloured k-core by DSatur
    index_t work = 0;
    std::vector<char> seen(static_cast<std::size_t>(n_groups), 0);
    std::vector<index_t> comp;
    for (index_t s = 0; s < n_groups; ++s) {
        if (seen[static_cast<std::size_t>(s)] || peeled[static_cast<std::size_t>(s)] || colour[static_cast<std::size_t>(s)] >= 0) continue;
        comp.assign(1, s);
        seen[static_cast<std::size_t>(s)] = 1;
        for (std::size_t q = 0; q < comp.size(); ++q) {
            for (index_t u : adj[static_cast<std::size_t>(comp[q])]) {
                if (seen[static_cast<std::size_t>(u)] || peeled[static_cast<std::size_t>(u)] || colour[static_cast<std::size_t>(u)] >= 0) continue;
                seen[static_cast<std::size_t>(u)] = 1;
                comp.push_back(u);
            }
        }
        std::sort(comp.begin(), comp.end());
        if (!detail::dsatur_component(comp, adj, k, n_labels, colour, work, max_steps)) {
            std::vector<char> in(static_cast<std::size_t>(n_groups), 0);
            for (index_t g : comp) in[static_cast<std::size_t>(g)] = 1;
            std::vector<const GroupConflict*> pairs;
            for (const auto& e : conflicts) {
                if (in[static_cast<std::size_t>(e.ga)] || in[static_cast<std::size_t>(e.gb)]) pairs.push_back(&e);
            }
            const std::string trees = k == 1 ? " tree" : " trees";
            throw std::invalid_argument(
                "cannot_link: no forest with k = " + std::to_string(k) + trees + " meets the constraints: the cannot-link pairs " +
                detail::conflict_list(pairs) + " (with the must-links and known labels) need more than " +
                std::to_string(k) + trees);
        }
    }

    // 3. the peeled vertices in reverse order: fewer than k neighbours were left
    //    when each was set aside, so a colour in [0, k) is always free
    std::vector<char> taken(static_cast<std::size_t>(k) + 1, 0);
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
        const index_t g = *it;
        if (adj[static_cast<std::size_t>(g)].empty()) continue;  // no conflict: left free (-1)
        for (index_t u : adj[static_cast<std::size_t>(g)]) {
            const index_t c = colour[static_cast<std::size_t>(u)];
            if (c >= 0) taken[static_cast<std::size_t>(c)] = 1;
        }
        index_t c = 0;
        while (taken[static_cast<std::size_t>(c)]) ++c;
        if (c >= k) throw std::logic_error("colour_groups: a peeled group found no free colour");
        colour[static_cast<std::size_t>(g)] = c;
        for (index_t u : adj[static_cast<std::size_t>(g)]) {
            const index_t cu = colour[static_cast<std::size_t>(u)];
            if (cu >= 0) taken[static_cast<std::size_t>(cu)] = 0;
        }
    }
    return colour;
}

}  // namespace diffclust
