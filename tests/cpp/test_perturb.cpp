// Core tests without Python: Philox known answers, vector and scalar normals
// agree, perturbed estimates independent of the thread count.
#include <cmath>
#include <vector>

#include "check.hpp"
#include "diffclust/perturb.hpp"
#include "diffclust/rng.hpp"

using namespace diffclust;

static void test_philox_known_answers() {
    // Random123 kat_vectors for philox4x32_10
    CHECK((Philox4x32::block({0, 0, 0, 0}, 0, 0) == std::array<u32, 4>{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}));
    CHECK((Philox4x32::block({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, 0xffffffffu, 0xffffffffu) ==
           std::array<u32, 4>{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}));
    CHECK((Philox4x32::block({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, 0xa4093822u, 0x299f31d0u) ==
           std::array<u32, 4>{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}));
}

static void test_block_normals_equal_scalar() {
    const index_t n = 1000;
    std::vector<index_t> u(n);
    for (index_t r = 0; r < n; ++r) u[static_cast<std::size_t>(r)] = (r * 7919) % 5000 + 1;
    std::vector<double> base(n, 1.0), out(n), row(n);
    add_edge_normals(123456789ull, 5, 0, u.data(), n, 2.0, base.data(), out.data());
    for (index_t r = 0; r < n; ++r) CHECK(out[static_cast<std::size_t>(r)] == 1.0 + 2.0 * edge_normal(123456789ull, 5, 0, static_cast<u32>(u[static_cast<std::size_t>(r)])));
    row_edge_normals(99, 3, 17, 18, n, 1.0, row.data());
    for (index_t r = 0; r < n; ++r) CHECK(row[static_cast<std::size_t>(r)] == edge_normal(99, 3, static_cast<u32>(18 + r), 17));
    // the ziggurat's layers tile the density: the last layer reaches f = 1
    const ZigguratTables& t = ziggurat_tables();
    CHECK(std::abs(t.f[255] + t.v / t.x[255] - 1.0) < 1e-9);
}

static void test_perturbed_thread_invariance() {
    const index_t n = 20, k = 3;
    std::vector<double> S(static_cast<std::size_t>(n * n));
    for (index_t i = 0; i < n * n; ++i) S[static_cast<std::size_t>(i)] = std::sin(static_cast<double>(i) * 1.3);
    const PerturbSpec spec{0.5, 13, 42};
    std::vector<double> A1(S.size()), M1(S.size()), A2(S.size()), M2(S.size());
    double F1 = 0, F2 = 0;
    perturbed_kforest(S.data(), n, k, spec, nullptr, true, 1, PerturbedOut<double>{A1.data(), M1.data(), &F1}, nullptr);
    for (int threads : {2, 3, 7}) {
        perturbed_kforest(S.data(), n, k, spec, nullptr, true, threads, PerturbedOut<double>{A2.data(), M2.data(), &F2}, nullptr);
        CHECK(A1 == A2);
        CHECK(M1 == M2);
        CHECK(F1 == F2);
    }
    // every sample's forest has n - k edges: A_eps sums to 2 (n - k)
    double total = 0;
    for (double a : A1) total += a;
    CHECK(std::abs(total - 2.0 * static_cast<double>(n - k)) < 1e-9);
}

int main() {
    test_philox_known_answers();
    test_block_normals_equal_scalar();
    test_perturbed_thread_invariance();
    TEST_MAIN_END();
}
