// Core tests without Python: Philox known answers, vector and scalar normals
// agree, perturbed estimates independent of the thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "check.hpp"
#include "diffclust/perturb/perturb.hpp"
#include "diffclust/core/rng.hpp"

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
    std::vector<double> base(n, 1.0), out(n), row(n), generic(n);
    // every length exercises a different mix of 4-, 3-, 2- and 1-register blocks
    for (index_t len : {1, 7, 8, 9, 16, 17, 24, 25, 31, 32, 33, 57, 1000}) {
        add_edge_normals(123456789ull, 5, 0, u.data(), len, 2.0, base.data(), out.data());
        edge_normals_generic(123456789ull, 5, 0, u.data(), 0, len, 2.0, base.data(), generic.data());
        for (index_t r = 0; r < len; ++r) {
            const double z = edge_normal(123456789ull, 5, 0, static_cast<u32>(u[static_cast<std::size_t>(r)]));
            CHECK(out[static_cast<std::size_t>(r)] == 1.0 + 2.0 * z);
            CHECK(generic[static_cast<std::size_t>(r)] == 1.0 + 2.0 * z);
        }
        row_edge_normals(99, 3, 17, 18, len, 1.0, row.data());
        edge_normals_generic(99, 3, 17, nullptr, 18, len, 1.0, nullptr, generic.data());
        for (index_t r = 0; r < len; ++r) {
            const double z = edge_normal(99, 3, static_cast<u32>(18 + r), 17);
            CHECK(row[static_cast<std::size_t>(r)] == z);
            CHECK(generic[static_cast<std::size_t>(r)] == z);
        }
    }
    // the ziggurat's layers tile the density: the last layer reaches f = 1
    const ZigguratTables& t = ziggurat_tables();
    CHECK(std::abs(t.f[255] + t.v / t.x[255] - 1.0) < 1e-9);
}

// The VJP's edge-major regeneration equals the scalar sum over samples, bit
// for bit, on every code path and for every tail length.
static void test_weighted_noise_sum() {
    const index_t B = 23;
    std::vector<double> coef(B);
    for (index_t s = 0; s < B; ++s) coef[static_cast<std::size_t>(s)] = s % 5 == 0 ? 0.0 : std::sin(static_cast<double>(s));
    for (index_t m : {1, 7, 8, 9, 31, 32, 33, 100}) {
        std::vector<u32> lo(static_cast<std::size_t>(m)), hi(static_cast<std::size_t>(m));
        for (index_t e = 0; e < m; ++e) {
            lo[static_cast<std::size_t>(e)] = static_cast<u32>(e % 13);
            hi[static_cast<std::size_t>(e)] = static_cast<u32>(13 + e * 3);
        }
        std::vector<double> fast(static_cast<std::size_t>(m)), generic(static_cast<std::size_t>(m));
        weighted_noise_sum(77, lo.data(), hi.data(), m, coef.data(), B, fast.data());
        weighted_noise_sum_generic(77, lo.data(), hi.data(), m, coef.data(), B, generic.data());
        for (index_t e = 0; e < m; ++e) {
            double expected = 0.0;
            for (index_t s = 0; s < B; ++s) {
                const double c = coef[static_cast<std::size_t>(s)];
                if (c != 0.0) expected += c * edge_normal(77, static_cast<u32>(s), lo[static_cast<std::size_t>(e)], hi[static_cast<std::size_t>(e)]);
            }
            CHECK(fast[static_cast<std::size_t>(e)] == expected);
            CHECK(generic[static_cast<std::size_t>(e)] == expected);
        }
    }
}

// Each sample's fused tree (whatever code path the build and CPU take) is the
// maximum spanning tree of the materialised W + sigma Z_s, Z_s from the scalar
// edge_normal: the definition of the noise, independent of any vector code.
static void test_fused_prim_matches_materialised() {
    for (index_t n : {2, 3, 9, 33, 64, 200}) {
        std::vector<double> W(static_cast<std::size_t>(n * n)), P(W.size());
        for (index_t i = 0; i < n; ++i) {
            for (index_t j = 0; j < n; ++j) W[static_cast<std::size_t>(i * n + j)] = std::sin(static_cast<double>((i + 1) * (j + 1)) * 0.37);
        }
        for (index_t i = 0; i < n; ++i) {
            for (index_t j = i + 1; j < n; ++j) W[static_cast<std::size_t>(j * n + i)] = W[static_cast<std::size_t>(i * n + j)];
        }
        const double sigma = 0.3;
        PrimWorkspace ws;
        for (u32 s = 0; s < 6; ++s) {
            for (index_t i = 0; i < n; ++i) {
                P[static_cast<std::size_t>(i * n + i)] = 0.0;
                for (index_t j = i + 1; j < n; ++j) {
                    const double p = W[static_cast<std::size_t>(i * n + j)] + sigma * edge_normal(11, s, static_cast<u32>(i), static_cast<u32>(j));
                    P[static_cast<std::size_t>(i * n + j)] = P[static_cast<std::size_t>(j * n + i)] = p;
                }
            }
            std::vector<WeightedEdge<double>> expected(static_cast<std::size_t>(n - 1));
            prim_max_tree_dense<double>(P.data(), n, 1, expected.data(), n, detail::team_stall_limit, nullptr, false);
            perturbed_prim(W.data(), n, sigma, 11, s, ws, s % 2 == 0);  // pairs where the build has them
            auto got = ws.tree;
            auto order = [](const WeightedEdge<double>& a, const WeightedEdge<double>& b) { return heavier(a, b); };
            std::sort(expected.begin(), expected.end(), order);
            std::sort(got.begin(), got.end(), order);
            CHECK(got.size() == expected.size());
            for (std::size_t e = 0; e < got.size(); ++e) {
                CHECK(got[e].i == expected[e].i && got[e].j == expected[e].j && got[e].w == expected[e].w);
            }
        }
    }
}

static void test_perturbed_thread_invariance() {
    const index_t n = 20, k = 3;
    std::vector<double> S(static_cast<std::size_t>(n * n));
    for (index_t i = 0; i < n * n; ++i) S[static_cast<std::size_t>(i)] = std::sin(static_cast<double>(i) * 1.3);
    const PerturbSpec spec{0.5, 13, 42};
    std::vector<double> A1(S.size()), M1(S.size()), A2(S.size()), M2(S.size());
    double F1 = 0, F2 = 0;
    perturbed_kforest(S.data(), n, k, spec, nullptr, true, 1, PerturbedOut<double>{A1.data(), M1.data(), &F1});
    for (int threads : {2, 3, 7}) {
        perturbed_kforest(S.data(), n, k, spec, nullptr, true, threads, PerturbedOut<double>{A2.data(), M2.data(), &F2});
        CHECK(A1 == A2);
        CHECK(M1 == M2);
        CHECK(F1 == F2);
    }
    // every sample's forest has n - k edges: A_eps sums to 2 (n - k)
    double total = 0;
    for (double a : A1) total += a;
    CHECK(std::abs(total - 2.0 * static_cast<double>(n - k)) < 1e-9);
}

// The VJP from the forests a forward pass kept equals the VJP that solves
// every sample again, bit for bit, for any thread count; kept samples of
// another seed are refused.
static void test_vjp_from_kept_samples() {
    const index_t n = 24, k = 4;
    std::vector<double> S(static_cast<std::size_t>(n * n)), VA(S.size()), VM(S.size());
    for (index_t i = 0; i < n * n; ++i) {
        S[static_cast<std::size_t>(i)] = std::cos(static_cast<double>(i) * 0.7);
        VA[static_cast<std::size_t>(i)] = std::sin(static_cast<double>(i) * 0.3);
        VM[static_cast<std::size_t>(i)] = std::cos(static_cast<double>(i) * 1.1);
    }
    const PerturbSpec spec{0.6, 37, 5};
    std::vector<index_t> edges(static_cast<std::size_t>(spec.n_samples * (n - k) * 2)), labels(static_cast<std::size_t>(spec.n_samples * n));
    std::vector<double> A(S.size()), M(S.size());
    double F = 0.0;
    perturbed_kforest(S.data(), n, k, spec, nullptr, true, 2, PerturbedOut<double>{A.data(), M.data(), &F}, "S",
                      KeptSamples{edges.data(), labels.data()});
    for (bool cv : {true, false}) {
        std::vector<double> g1(S.size()), g2(S.size()), g3(S.size());
        perturbed_kforest_vjp(S.data(), n, k, spec, nullptr, true, VA.data(), VM.data(), cv, 1, g1.data());
        perturbed_kforest_vjp(S.data(), n, k, spec, nullptr, true, VA.data(), VM.data(), cv, 3, g3.data());
        perturbed_kforest_vjp(S.data(), n, k, spec, nullptr, true, VA.data(), VM.data(), cv, 2, g2.data(),
                              edges.data(), labels.data());
        CHECK(g1 == g3);
        CHECK(g1 == g2);
        double largest = 0.0;
        for (double g : g1) largest = std::max(largest, std::abs(g));
        CHECK(largest > 0.0);
    }
    const PerturbSpec other{0.6, 37, 6};
    std::vector<double> g(S.size());
    bool refused = false;
    try {
        perturbed_kforest_vjp(S.data(), n, k, other, nullptr, true, VA.data(), VM.data(), true, 1, g.data(),
                              edges.data(), labels.data());
    } catch (const std::invalid_argument&) {
        refused = true;
    }
    CHECK(refused);
}

// Constrained samples whose greedy gets stuck are completed (constrained.hpp):
// cannot-links on a path 0-1-2-3 with k = 2. Estimates, the repair count and
// the loss do not depend on the thread count; every sample keeps the
// cannot-link pairs apart in exactly k trees.
static void test_repaired_samples_thread_invariance() {
    const index_t n = 4, k = 2;
    const std::vector<index_t> cannot{0, 1, 1, 2, 2, 3};
    Constraints c;
    c.cannot = cannot.data();
    c.n_cannot = 3;
    const ConstrainedProblem cp(n, k, c);
    std::vector<double> S(static_cast<std::size_t>(n * n));
    for (index_t i = 0; i < n * n; ++i) S[static_cast<std::size_t>(i)] = std::sin(static_cast<double>(i) * 2.1);
    const PerturbSpec spec{1.0, 41, 9};
    std::vector<double> A1(S.size()), M1(S.size()), A2(S.size()), M2(S.size()), g1(S.size()), g2(S.size());
    std::vector<index_t> labels(static_cast<std::size_t>(spec.n_samples * n)), edges(static_cast<std::size_t>(spec.n_samples * (n - k) * 2));
    double F1 = 0, F2 = 0;
    index_t r1 = -1, r2 = -1, l1 = -1, l2 = -1;
    perturbed_kforest(S.data(), n, k, spec, &cp, true, 1, PerturbedOut<double>{A1.data(), M1.data(), &F1, &r1}, "S",
                      KeptSamples{edges.data(), labels.data()});
    const double loss1 = partial_fy_loss(S.data(), n, k, spec, cp, true, 1, g1.data(), &l1);
    CHECK(r1 > 0 && r1 < spec.n_samples);
    CHECK(l1 == r1);
    CHECK(loss1 >= 0.0);
    for (index_t s = 0; s < spec.n_samples; ++s) {
        const index_t* lab = labels.data() + s * n;
        CHECK(lab[0] != lab[1] && lab[1] != lab[2] && lab[2] != lab[3]);
        CHECK(*std::max_element(lab, lab + n) == k - 1);
    }
    for (int threads : {2, 3, 7}) {
        perturbed_kforest(S.data(), n, k, spec, &cp, true, threads, PerturbedOut<double>{A2.data(), M2.data(), &F2, &r2});
        CHECK(A1 == A2 && M1 == M2 && F1 == F2 && r1 == r2);
        CHECK(partial_fy_loss(S.data(), n, k, spec, cp, true, threads, g2.data(), &l2) == loss1);
        CHECK(g1 == g2 && l2 == l1);
    }
}

int main() {
    test_vjp_from_kept_samples();
    test_philox_known_answers();
    test_block_normals_equal_scalar();
    test_weighted_noise_sum();
    test_fused_prim_matches_materialised();
    test_perturbed_thread_invariance();
    test_repaired_samples_thread_invariance();
    TEST_MAIN_END();
}
