// Core tests of density/perturbed_trees.hpp without Python: each sample's tree is
// the one perturbed_kforest(S, 1) keeps, with weights W + sigma Z; the noise sum
// equals the scalar sum over samples; both are independent of the thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "check.hpp"
#include "diffclust/density/perturbed_trees.hpp"
#include "diffclust/perturb/perturb.hpp"

using namespace diffclust;

static std::vector<double> similarity(index_t n) {
    std::vector<double> S(static_cast<std::size_t>(n * n));
    for (index_t i = 0; i < n; ++i) {
        for (index_t j = 0; j < n; ++j) {
            const double a = std::sin(0.7 * static_cast<double>(i)), b = std::sin(0.7 * static_cast<double>(j));
            S[static_cast<std::size_t>(i * n + j)] = i == j ? 0.0 : -std::abs(a - b) - 0.01 * static_cast<double>((i + j) % 3);
        }
    }
    return S;
}

static void test_trees_are_the_kept_samples() {
    const index_t n = 40, B = 7;
    const auto S = similarity(n);
    const PerturbSpec spec{0.3, B, 4242};
    std::vector<index_t> edges(static_cast<std::size_t>(B * (n - 1) * 2)), kept(edges.size()), labels(static_cast<std::size_t>(B * n));
    std::vector<double> weights(static_cast<std::size_t>(B * (n - 1)));
    perturbed_spanning_trees(S.data(), n, spec, 1, edges.data(), weights.data());
    std::vector<double> A(static_cast<std::size_t>(n * n)), M(A.size());
    double F = 0.0;
    perturbed_kforest(S.data(), n, 1, spec, nullptr, true, 2, PerturbedOut<double>{A.data(), M.data(), &F}, "S",
                      KeptSamples{kept.data(), labels.data()});
    double total = 0.0;
    for (index_t s = 0; s < B; ++s) {
        for (index_t e = 0; e < n - 1; ++e) {
            const std::size_t at = static_cast<std::size_t>((s * (n - 1) + e) * 2);
            const index_t i = edges[at], j = edges[at + 1];
            CHECK(i < j);
            CHECK(std::min(kept[at], kept[at + 1]) == i && std::max(kept[at], kept[at + 1]) == j);
            const double w = S[static_cast<std::size_t>(i * n + j)] + 0.3 * edge_normal(4242, static_cast<u32>(s), static_cast<u32>(i), static_cast<u32>(j));
            CHECK(std::abs(weights[static_cast<std::size_t>(s * (n - 1) + e)] - w) < 1e-12);
            total += weights[static_cast<std::size_t>(s * (n - 1) + e)];
        }
    }
    CHECK(std::abs(F - 2.0 * total / static_cast<double>(B)) < 1e-9);
    for (int threads : {2, 3, 7}) {
        std::vector<index_t> e2(edges.size());
        std::vector<double> w2(weights.size());
        perturbed_spanning_trees(S.data(), n, spec, threads, e2.data(), w2.data());
        CHECK(e2 == edges);
        CHECK(w2 == weights);
    }
    CHECK_THROWS(perturbed_spanning_trees(S.data(), n, PerturbSpec{0.0, B, 1}, 1, edges.data(), weights.data()),
                 std::invalid_argument);
}

static void test_noise_sum_is_the_scalar_sum() {
    const index_t B = 5;
    const std::vector<double> coef{0.5, -1.0, 2.0, 0.0, 3.25};
    for (index_t n : {1, 2, 23, 40}) {
        std::vector<double> g(static_cast<std::size_t>(n * n), -1.0), g3(g.size());
        weighted_noise_matrix(n, 99, coef.data(), B, 0.125, 1, g.data());
        weighted_noise_matrix(n, 99, coef.data(), B, 0.125, 3, g3.data());
        CHECK(g == g3);
        for (index_t i = 0; i < n; ++i) {
            CHECK(g[static_cast<std::size_t>(i * n + i)] == 0.0);
            for (index_t j = i + 1; j < n; ++j) {
                double sum = 0.0;
                for (index_t s = 0; s < B; ++s) sum += coef[static_cast<std::size_t>(s)] * edge_normal(99, static_cast<u32>(s), static_cast<u32>(i), static_cast<u32>(j));
                CHECK(std::abs(g[static_cast<std::size_t>(i * n + j)] - 0.125 * sum) < 1e-12);
                CHECK(g[static_cast<std::size_t>(i * n + j)] == g[static_cast<std::size_t>(j * n + i)]);
            }
        }
    }
}

int main() {
    test_trees_are_the_kept_samples();
    test_noise_sum_is_the_scalar_sum();
    TEST_MAIN_END();
}
