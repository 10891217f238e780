// Core tests without Python for the partial Fenchel-Young loss's sample solver:
// the pair-list normals equal the scalar normals on every code path, and the
// constrained forest built from the free sample's tree (fy_sample.hpp) equals
// the constrained greedy on the whole perturbed matrix, bit for bit.
#include <cmath>
#include <vector>

#include "check.hpp"
#include "diffclust/core/rng.hpp"
#include "diffclust/perturb/fy_sample.hpp"

using namespace diffclust;

static void test_pair_normals_equal_scalar() {
    for (index_t m : {1, 7, 8, 9, 17, 25, 32, 33, 200}) {
        std::vector<u32> lo(static_cast<std::size_t>(m)), hi(static_cast<std::size_t>(m));
        std::vector<double> base(static_cast<std::size_t>(m)), out(static_cast<std::size_t>(m)), generic(static_cast<std::size_t>(m));
        for (index_t e = 0; e < m; ++e) {
            lo[static_cast<std::size_t>(e)] = static_cast<u32>(e % 11);
            hi[static_cast<std::size_t>(e)] = static_cast<u32>(11 + 5 * e);
            base[static_cast<std::size_t>(e)] = 0.25 * static_cast<double>(e);
        }
        pair_normals(777ull, 9, lo.data(), hi.data(), m, 1.5, base.data(), out.data());
        pair_normals_generic(777ull, 9, lo.data(), hi.data(), m, 1.5, base.data(), generic.data());
        for (index_t e = 0; e < m; ++e) {
            const std::size_t x = static_cast<std::size_t>(e);
            const double expected = base[x] + 1.5 * edge_normal(777ull, 9, lo[x], hi[x]);
            CHECK(out[x] == expected);
            CHECK(generic[x] == expected);
        }
    }
}

static void test_sample_from_tree_equals_greedy_on_the_matrix() {
    const index_t n = 40, k = 6;
    std::vector<double> S(static_cast<std::size_t>(n * n));
    for (index_t i = 0; i < n; ++i) {
        for (index_t j = 0; j < n; ++j) {
            const double d = std::sin(0.37 * static_cast<double>(i)) - std::sin(0.37 * static_cast<double>(j));
            S[static_cast<std::size_t>(i * n + j)] = i == j ? 0.0 : -d * d;
        }
    }
    std::vector<index_t> labels(static_cast<std::size_t>(n), -1);
    for (index_t i = 0; i < n; i += 5) labels[static_cast<std::size_t>(i)] = (i / 5) % 4;
    const index_t must[] = {1, 2, 3, 4};
    Constraints c;
    c.labels = labels.data();
    c.must = must;
    c.n_must = 2;
    const ConstrainedProblem cp(n, k, c);
    CHECK(cp.from_tree());
    const PerturbSpec spec{0.3, 4, 2024};
    for (bool refine : {true, false}) {
        for (u32 s = 0; s < 4; ++s) {
            PrimWorkspace ws;
            FYScratch fs;
            SampleForest free_f, con_f, expected;
            fy_sample(S.data(), n, k, spec, s, cp, refine, ws, fs, free_f, con_f, false);
            std::vector<double> Wt(static_cast<std::size_t>(n * n));
            perturbed_matrix(S.data(), n, spec.sigma, spec.seed, s, Wt.data());
            expected.labels.resize(static_cast<std::size_t>(n));
            cp.solve(Wt.data(), refine, expected.edges, expected.labels.data());
            CHECK(con_f.labels == expected.labels);
            sort_edges_heaviest_first(con_f.edges);
            CHECK(con_f.edges.size() == expected.edges.size());
            for (std::size_t e = 0; e < expected.edges.size(); ++e) {
                CHECK(con_f.edges[e].i == expected.edges[e].i);
                CHECK(con_f.edges[e].j == expected.edges[e].j);
                CHECK(con_f.edges[e].w == expected.edges[e].w);
            }
        }
    }
}

int main() {
    test_pair_normals_equal_scalar();
    test_sample_from_tree_equals_greedy_on_the_matrix();
    TEST_MAIN_END();
}
