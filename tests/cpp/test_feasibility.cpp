// Core tests without Python: the colouring search of feasibility.hpp against
// brute force on small graphs, its budget, and the constrained greedy's
// completion rule on the problem that gets it stuck.
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "check.hpp"
#include "diffclust/forest/constrained.hpp"

using namespace diffclust;

namespace {

// Whether some assignment of colours [0, k) to the groups is proper and keeps
// every label class on its own colour (all k^G assignments).
bool brute_colourable(index_t G, index_t k, const std::vector<index_t>& label, const std::vector<GroupConflict>& conflicts) {
    std::vector<index_t> c(static_cast<std::size_t>(G), 0);
    while (true) {
        bool ok = true;
        for (const auto& e : conflicts) ok = ok && c[static_cast<std::size_t>(e.ga)] != c[static_cast<std::size_t>(e.gb)];
        for (index_t a = 0; a < G && ok; ++a) {
            for (index_t b = a + 1; b < G && ok; ++b) {
                const index_t la = label[static_cast<std::size_t>(a)], lb = label[static_cast<std::size_t>(b)];
                if (la >= 0 && lb >= 0 && la != lb && c[static_cast<std::size_t>(a)] == c[static_cast<std::size_t>(b)]) ok = false;
            }
        }
        if (ok) return true;
        index_t g = 0;
        while (g < G && ++c[static_cast<std::size_t>(g)] == k) c[static_cast<std::size_t>(g++)] = 0;
        if (g == G) return false;
    }
}

std::uint64_t state = 88172645463325252ull;
index_t next(index_t bound) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<index_t>(state % static_cast<std::uint64_t>(bound));
}

}  // namespace

static void test_colouring_matches_brute_force() {
    int feasible = 0, infeasible = 0;
    for (int trial = 0; trial < 3000; ++trial) {
        const index_t G = 1 + next(7), k = 1 + next(4);
        std::vector<index_t> label(static_cast<std::size_t>(G), -1);
        const index_t n_labels = next(3);
        for (index_t l = 0; l < n_labels && l < G; ++l) label[static_cast<std::size_t>(next(G))] = l;
        std::vector<GroupConflict> conflicts;
        const index_t m = next(G * 2 + 1);
        for (index_t p = 0; p < m; ++p) {
            const index_t a = next(G), b = next(G);
            if (a != b) conflicts.push_back(GroupConflict{a, b, p, a, b});
        }
        // a label used twice would be one group: keep labels distinct per group
        std::vector<index_t> seen;
        for (auto& l : label) {
            if (l < 0) continue;
            if (std::find(seen.begin(), seen.end(), l) != seen.end()) l = -1; else seen.push_back(l);
        }
        const bool expected = static_cast<index_t>(seen.size()) <= k && brute_colourable(G, k, label, conflicts);
        std::vector<index_t> colour;
        bool got = true;
        try {
            colour = colour_groups(G, k, label, conflicts);
        } catch (const std::invalid_argument&) {
            got = false;
        }
        CHECK(got == expected);
        if (!got) {
            ++infeasible;
            continue;
        }
        ++feasible;
        for (const auto& e : conflicts) {
            const index_t ca = colour[static_cast<std::size_t>(e.ga)], cb = colour[static_cast<std::size_t>(e.gb)];
            CHECK(ca >= 0 && cb >= 0 && ca < k && cb < k && ca != cb);
        }
        for (index_t a = 0; a < G; ++a) {
            const index_t ca = colour[static_cast<std::size_t>(a)];
            CHECK(ca >= -1 && ca < k);
            if (label[static_cast<std::size_t>(a)] >= 0) CHECK(ca >= 0);
            for (index_t b = a + 1; b < G; ++b) {
                const index_t la = label[static_cast<std::size_t>(a)], lb = label[static_cast<std::size_t>(b)];
                if (la >= 0 && lb >= 0) CHECK(ca != colour[static_cast<std::size_t>(b)]);
            }
        }
    }
    CHECK(feasible > 300 && infeasible > 300);
}

static void test_colouring_budget() {
    // K4 needs 4 colours: with k = 3 the search fails, and with a budget of 2 steps it gives up
    std::vector<GroupConflict> k4;
    index_t p = 0;
    for (index_t a = 0; a < 4; ++a) {
        for (index_t b = a + 1; b < 4; ++b, ++p) k4.push_back(GroupConflict{a, b, p, a, b});
    }
    const std::vector<index_t> none(4, -1);
    bool said_budget = false, said_pairs = false;
    try {
        colour_groups(4, 3, none, k4, 2);
    } catch (const std::invalid_argument& e) {
        said_budget = std::string(e.what()).find("could not decide within the search budget (2 steps)") != std::string::npos;
    }
    try {
        colour_groups(4, 3, none, k4);
    } catch (const std::invalid_argument& e) {
        said_pairs = std::string(e.what()).find("(0, 1), (0, 2)") != std::string::npos;
    }
    CHECK(said_budget);
    CHECK(said_pairs);
    CHECK(colour_groups(4, 4, none, k4).size() == 4);
    // an even cycle of 2000 groups with k = 2 (nothing peels): DSatur never
    // backtracks, so its steps are the choices (2000 + 1999 + ... + 0) plus two
    // neighbours per assignment
    std::vector<GroupConflict> ring;
    for (index_t g = 0; g < 2000; ++g) ring.push_back(GroupConflict{g, (g + 1) % 2000, g, g, (g + 1) % 2000});
    const auto colour = colour_groups(2000, 2, std::vector<index_t>(2000, -1), ring, 2001000 + 4000);
    for (const auto& e : ring) CHECK(colour[static_cast<std::size_t>(e.ga)] != colour[static_cast<std::size_t>(e.gb)]);
}

static void test_stuck_greedy_is_completed() {
    // n = 4, k = 2, cannot-links (0,1), (1,2), (2,3): the heaviest edge (0,3)
    // leaves three trees that no merge may join
    const index_t n = 4, k = 2;
    const std::vector<index_t> cannot{0, 1, 1, 2, 2, 3};
    Constraints c;
    c.cannot = cannot.data();
    c.n_cannot = 3;
    const ConstrainedProblem cp(n, k, c);
    std::vector<double> W(16, 0.0);
    W[0 * 4 + 3] = W[3 * 4 + 0] = 5.0;
    std::vector<WeightedEdge<double>> edges;
    std::vector<index_t> labels(4);
    for (bool refine : {false, true}) {
        CHECK(cp.solve(W.data(), refine, edges, labels.data()));
        CHECK(static_cast<index_t>(edges.size()) == n - k);
        CHECK(labels[0] == labels[2] && labels[1] == labels[3] && labels[0] != labels[1]);
    }
    // the same problem with (0, 2) heaviest: the greedy alone succeeds
    std::fill(W.begin(), W.end(), 0.0);
    W[0 * 4 + 2] = W[2 * 4 + 0] = 5.0;
    CHECK(!cp.solve(W.data(), true, edges, labels.data()));
}

int main() {
    test_colouring_matches_brute_force();
    test_colouring_budget();
    test_stuck_greedy_is_completed();
    TEST_MAIN_END();
}
