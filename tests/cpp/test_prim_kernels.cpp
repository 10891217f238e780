// The fast Prim paths (prim_max_tree_dense, prim_max_tree_points, symmetric_and_finite)
// against the generic prim_max_tree, bit for bit, for any thread count.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "check.hpp"
#include "diffclust/forest/spanning_forest.hpp"

using namespace diffclust;

template <class T>
static bool same_tree(const std::vector<WeightedEdge<T>>& a, const std::vector<WeightedEdge<T>>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t e = 0; e < a.size(); ++e) {
        if (a[e].i != b[e].i || a[e].j != b[e].j) return false;
        if (std::memcmp(&a[e].w, &b[e].w, sizeof(T)) != 0) return false;
    }
    return true;
}

// A symmetric matrix: kind 0 = normal, 1 = integers in {0, 1, 2} (ties everywhere),
// 2 = all equal. The diagonal is garbage (NaN) on purpose: it must be ignored.
template <class T>
static std::vector<T> symmetric_matrix(index_t n, int kind, std::mt19937_64& gen) {
    std::normal_distribution<double> normal;
    std::uniform_int_distribution<int> small(0, 2);
    std::vector<T> W(static_cast<std::size_t>(n * n));
    for (index_t i = 0; i < n; ++i) {
        W[static_cast<std::size_t>(i * n + i)] = std::numeric_limits<T>::quiet_NaN();
        for (index_t j = i + 1; j < n; ++j) {
            const T w = kind == 0 ? static_cast<T>(normal(gen)) : kind == 1 ? static_cast<T>(small(gen)) : T(1);
            W[static_cast<std::size_t>(i * n + j)] = w;
            W[static_cast<std::size_t>(j * n + i)] = w;
        }
    }
    return W;
}

template <class T>
static void test_dense_matches_generic() {
    std::mt19937_64 gen(11);
    for (index_t n : {2, 3, 5, 16, 17, 33, 100, 257}) {
        for (int kind = 0; kind < 3; ++kind) {
            const std::vector<T> W = symmetric_matrix<T>(n, kind, gen);
            std::vector<WeightedEdge<T>> ref(static_cast<std::size_t>(n - 1));
            DenseRowSource<T> source(W.data(), n);
            prim_max_tree<T>(n, source, ref.data());
            for (int threads : {1, 2, 3, 7}) {
                for (int stall_limit : {0, threads < 7 ? 1000000 : 8}) {
                    std::vector<WeightedEdge<T>> tree(static_cast<std::size_t>(n - 1));
                    CHECK(prim_max_tree_dense<T>(W.data(), n, threads, tree.data(), 1, stall_limit));
                    CHECK(same_tree(ref, tree));
                }
            }
        }
    }
}

template <class T>
static void test_dense_nonfinite() {
    std::mt19937_64 gen(5);
    for (index_t n : {2, 9, 40}) {
        for (int threads : {1, 3}) {
            for (T bad : {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity(),
                          -std::numeric_limits<T>::infinity()}) {
                for (index_t where = 0; where < n; ++where) {
                    std::vector<T> W = symmetric_matrix<T>(n, 0, gen);
                    const index_t i = where, j = (where + 1) % n;
                    W[static_cast<std::size_t>(i * n + j)] = bad;
                    W[static_cast<std::size_t>(j * n + i)] = bad;
                    std::vector<WeightedEdge<T>> tree(static_cast<std::size_t>(n - 1));
                    CHECK(!prim_max_tree_dense<T>(W.data(), n, threads, tree.data(), 1));
                }
            }
        }
    }
    // dense_max_tree names the argument and says what is wrong
    std::vector<double> S(16, 0.0);
    S[1] = std::numeric_limits<double>::quiet_NaN();  // asymmetric and NaN
    CHECK_THROWS(dense_max_tree(S.data(), 4, 1, "S"), std::invalid_argument);
    S[1] = std::numeric_limits<double>::infinity();
    S[4] = std::numeric_limits<double>::infinity();  // symmetric inf
    CHECK_THROWS(dense_max_tree(S.data(), 4, 2, "S"), std::invalid_argument);
    S[1] = S[4] = 0.0;
    S[5] = std::numeric_limits<double>::infinity();  // diagonal: ignored
    CHECK(dense_max_tree(S.data(), 4, 2, "S").size() == 3);
}

// dense_max_tree with the symmetry check overlapped with Prim (min_overlap = 1):
// symmetric input, non-symmetric input (Prim cancelled and rerun), bad input.
static void test_dense_overlap() {
    std::mt19937_64 gen(23);
    std::normal_distribution<double> normal;
    for (index_t n : {2, 3, 50, 301}) {
        for (int asym = 0; asym < 3; ++asym) {
            std::vector<double> S = symmetric_matrix<double>(n, asym == 2 ? 1 : 0, gen);
            if (asym == 1) {
                for (auto& x : S) x += 0.01 * normal(gen);
            }
            std::vector<double> W(S.size());
            symmetrize(S.data(), n, W.data(), 1);
            std::vector<WeightedEdge<double>> ref(static_cast<std::size_t>(n - 1));
            DenseRowSource<double> source(W.data(), n);
            prim_max_tree<double>(n, source, ref.data());
            for (int threads : {1, 2, 3}) CHECK(same_tree(ref, dense_max_tree(S.data(), n, threads, "S", 1)));
            if (n > 2) {
                S[static_cast<std::size_t>(n + 2)] = std::numeric_limits<double>::infinity();
                for (int threads : {1, 2, 3}) CHECK_THROWS(dense_max_tree(S.data(), n, threads, "S", 1), std::invalid_argument);
                std::vector<double> T = symmetric_matrix<double>(n, 0, gen);  // symmetric with an infinity
                T[static_cast<std::size_t>(n + 2)] = T[static_cast<std::size_t>(2 * n + 1)] = -std::numeric_limits<double>::infinity();
                for (int threads : {1, 2, 3}) CHECK_THROWS(dense_max_tree(T.data(), n, threads, "S", 1), std::invalid_argument);
                CHECK(!symmetric_and_finite(T.data(), n, 2));
            }
        }
    }
}

static void test_symmetric_and_finite() {
    std::mt19937_64 gen(3);
    for (index_t n : {1, 2, 63, 64, 65, 130, 600}) {
        std::vector<double> W = symmetric_matrix<double>(n, 0, gen);
        for (int threads : {1, 2, 3}) CHECK(symmetric_and_finite(W.data(), n, threads));
        if (n < 2) continue;
        for (index_t i : {index_t{0}, n / 2, n - 2}) {
            if (i == n - 1) continue;  // the diagonal is ignored
            std::vector<double> A = W;
            A[static_cast<std::size_t>(i * n + n - 1)] += 1.0;
            for (int threads : {1, 2, 3}) CHECK(!symmetric_and_finite(A.data(), n, threads));
            A = W;
            A[static_cast<std::size_t>((n - 1) * n + i)] = std::numeric_limits<double>::quiet_NaN();
            A[static_cast<std::size_t>(i * n + n - 1)] = std::numeric_limits<double>::quiet_NaN();
            CHECK(!symmetric_and_finite(A.data(), n, 2));
        }
    }
    {  // large enough for the threaded check
        const index_t n = 2100;
        std::vector<double> W = symmetric_matrix<double>(n, 0, gen);
        for (int threads : {1, 2, 3}) CHECK(symmetric_and_finite(W.data(), n, threads));
        W[static_cast<std::size_t>(1500 * n + 2099)] = 0.5;
        for (int threads : {1, 2, 3}) CHECK(!symmetric_and_finite(W.data(), n, threads));
    }
    std::vector<float> F = symmetric_matrix<float>(100, 1, gen);
    CHECK(symmetric_and_finite(F.data(), 100, 2));
    F[3 * 100 + 70] = 7.0f;
    CHECK(!symmetric_and_finite(F.data(), 100, 2));
}

static void test_points_match_generic() {
    std::mt19937_64 gen(17);
    std::normal_distribution<double> normal;
    std::uniform_int_distribution<int> small(0, 2);
    for (index_t n : {1, 2, 5, 50, 203}) {
        for (index_t d : {1, 16}) {
            for (int integer = 0; integer < 2; ++integer) {
                std::vector<double> X(static_cast<std::size_t>(n * d));
                for (auto& x : X) x = integer ? static_cast<double>(small(gen)) : normal(gen);
                std::vector<float> Xf(X.begin(), X.end());
                for (Metric metric : {Metric::sqeuclidean, Metric::euclidean, Metric::manhattan, Metric::cosine}) {
                    const std::size_t m = static_cast<std::size_t>(n > 0 ? n - 1 : 0);
                    std::vector<WeightedEdge<double>> ref(m), reff(m);
                    PointSource source(X.data(), n, d, metric);
                    prim_max_tree<double>(n, source, ref.data());
                    PointSource sourcef(Xf.data(), n, d, metric);
                    prim_max_tree<double>(n, sourcef, reff.data());
                    struct Config {
                        int threads;
                        index_t chunk;
                        int stall_limit;
                    };
                    for (const Config& cfg : {Config{1, 256, 1000000}, Config{2, 3, 1000000}, Config{2, 256, 0},
                                              Config{3, 1, 1000000}, Config{7, 3, 8}, Config{7, 256, 2}}) {
                        std::vector<WeightedEdge<double>> tree(m), treef(m);
                        prim_max_tree_points(X.data(), n, d, metric, cfg.threads, tree.data(), 1, cfg.chunk,
                                             cfg.stall_limit);
                        prim_max_tree_points(Xf.data(), n, d, metric, cfg.threads, treef.data(), 1, cfg.chunk,
                                             cfg.stall_limit);
                        CHECK(same_tree(ref, tree));
                        CHECK(same_tree(reff, treef));
                    }
                }
            }
        }
    }
}

int main() {
    test_dense_matches_generic<double>();
    test_dense_matches_generic<float>();
    test_dense_nonfinite<double>();
    test_dense_nonfinite<float>();
    test_symmetric_and_finite();
    test_dense_overlap();
    test_points_match_generic();
    TEST_MAIN_END();
}
