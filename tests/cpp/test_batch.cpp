// Core tests of the batched perturbed kernels without Python: derive_seed is a
// pure function with the documented formula; a batch equals its elements run
// one by one with their own seeds, for any thread count.
#include <cmath>
#include <set>
#include <stdexcept>
#include <vector>

#include "check.hpp"
#include "diffclust/core/rng.hpp"
#include "diffclust/perturb/perturb.hpp"

using namespace diffclust;

static void test_derive_seed() {
    // deterministic, and the documented Philox block: key = seed, counter = (t lo, t hi, tag, ~0)
    for (u64 seed : {u64(0), u64(1), u64(0x123456789abcdef0ull), ~u64(0)}) {
        for (u64 t : {u64(0), u64(1), u64(7), u64(1) << 32, ~u64(0)}) {
            const u64 a = derive_seed(seed, t), b = derive_seed(seed, t);
            CHECK(a == b);
            const auto w = Philox4x32::block({static_cast<u32>(t), static_cast<u32>(t >> 32), 0x62617463u, 0xffffffffu},
                                             static_cast<u32>(seed), static_cast<u32>(seed >> 32));
            CHECK(a == (static_cast<u64>(w[0]) | (static_cast<u64>(w[1]) << 32)));
        }
    }
    // distinct across elements and across seeds
    std::set<u64> seen;
    for (u64 t = 0; t < 1000; ++t) seen.insert(derive_seed(42, t));
    CHECK(seen.size() == 1000);
    CHECK(derive_seed(42, 0) != derive_seed(43, 0));
    CHECK(derive_seed(42, 0) != 42);
}

static std::vector<double> batch_matrices(index_t b, index_t n) {
    std::vector<double> S(static_cast<std::size_t>(b * n * n));
    for (index_t t = 0; t < b; ++t) {
        for (index_t i = 0; i < n; ++i) {
            for (index_t j = 0; j < n; ++j) {
                const double v = std::sin(static_cast<double>((t + 1) * (i + 1) * (j + 3)) * 0.37) +
                                 std::cos(static_cast<double>((t + 2) * (j + 1) * (i + 3)) * 0.41);
                S[static_cast<std::size_t>((t * n + i) * n + j)] = v;
            }
        }
    }
    return S;
}

static void test_batch_equals_elements() {
    const index_t b = 5, n = 14, k = 3, B = 9;
    const double sigma = 0.6;
    const std::vector<double> S = batch_matrices(b, n);
    std::vector<u64> seeds(static_cast<std::size_t>(b));
    for (index_t t = 0; t < b; ++t) seeds[static_cast<std::size_t>(t)] = derive_seed(2024, static_cast<u64>(t));
    std::vector<index_t> labels(static_cast<std::size_t>(b * n), -1);
    for (index_t t = 0; t < b; ++t) {
        labels[static_cast<std::size_t>(t * n + t)] = 0;
        labels[static_cast<std::size_t>(t * n + t + 3)] = 1;
        labels[static_cast<std::size_t>(t * n + t + 5)] = 0;
    }
    const std::size_t nn = static_cast<std::size_t>(n * n);
    // element by element, one thread
    std::vector<double> A(b * nn), M(b * nn), F(static_cast<std::size_t>(b)), L(static_cast<std::size_t>(b)),
        G(b * nn), V(b * nn), VA(b * nn);
    for (std::size_t i = 0; i < VA.size(); ++i) VA[i] = std::cos(static_cast<double>(i) * 0.7);
    for (index_t t = 0; t < b; ++t) {
        const std::size_t o = static_cast<std::size_t>(t) * nn;
        const PerturbSpec spec{sigma, B, seeds[static_cast<std::size_t>(t)]};
        perturbed_kforest(S.data() + o, n, k, spec, nullptr, true, 1,
                          PerturbedOut<double>{A.data() + o, M.data() + o, &F[static_cast<std::size_t>(t)]});
        Constraints c;
        c.labels = labels.data() + t * n;
        const ConstrainedProblem cp(n, k, c);
        L[static_cast<std::size_t>(t)] = partial_fy_loss(S.data() + o, n, k, spec, cp, true, 1, G.data() + o);
        perturbed_kforest_vjp(S.data() + o, n, k, spec, nullptr, true, VA.data() + o, static_cast<const double*>(nullptr), true, 1,
                              V.data() + o);
    }
    for (int threads : {1, 2, 3, 7}) {
        std::vector<double> bA(b * nn), bM(b * nn), bF(static_cast<std::size_t>(b)), bL(static_cast<std::size_t>(b)),
            bG(b * nn), bV(b * nn);
        perturbed_kforest_batch(S.data(), b, n, k, sigma, B, seeds.data(), BatchConstraints{}, true, threads,
                                bA.data(), bM.data(), bF.data(), nullptr);
        CHECK(bA == A);
        CHECK(bM == M);
        CHECK(bF == F);
        BatchConstraints bc;
        bc.labels = labels.data();
        partial_fy_loss_batch(S.data(), b, n, k, sigma, B, seeds.data(), bc, true, threads, bL.data(), bG.data());
        CHECK(bL == L);
        CHECK(bG == G);
        perturbed_kforest_vjp_batch(S.data(), b, n, k, sigma, B, seeds.data(), BatchConstraints{}, true, VA.data(),
                                    static_cast<const double*>(nullptr), true, threads, bV.data());
        CHECK(bV == V);
    }
}

static void test_batch_errors_name_the_element() {
    const index_t b = 4, n = 8, k = 2;
    std::vector<double> S = batch_matrices(b, n);
    std::vector<u64> seeds(static_cast<std::size_t>(b), 1);
    std::vector<double> A(S.size()), F(static_cast<std::size_t>(b));
    S[static_cast<std::size_t>(2 * n * n + 1)] = std::nan("");
    for (int threads : {1, 3}) {
        bool named = false;
        try {
            perturbed_kforest_batch(S.data(), b, n, k, 0.5, 3, seeds.data(), BatchConstraints{}, true, threads,
                                    A.data(), static_cast<double*>(nullptr), F.data(), nullptr);
        } catch (const std::invalid_argument& e) {
            named = std::string(e.what()).find("S[2]") != std::string::npos;
        }
        CHECK(named);
    }
}

int main() {
    test_derive_seed();
    test_batch_equals_elements();
    test_batch_errors_name_the_element();
    TEST_MAIN_END();
}
