// Core tests without Python: union-find, Kruskal, Prim, parallel_for.
#include <algorithm>
#include <atomic>
#include <random>
#include <stdexcept>
#include <vector>

#include "check.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/forest/spanning_forest.hpp"
#include "diffclust/core/union_find.hpp"

using namespace diffclust;

static void test_union_find() {
    UnionFind uf(6);
    CHECK(uf.components() == 6);
    CHECK(uf.unite(0, 1) >= 0);
    CHECK(uf.unite(2, 3) >= 0);
    CHECK(uf.unite(1, 0) < 0);
    CHECK(uf.unite(1, 3) >= 0);
    CHECK(uf.find(0) == uf.find(2));
    CHECK(uf.find(4) != uf.find(0));
    CHECK(uf.components() == 3);
    std::vector<index_t> labels(6);
    uf.first_appearance_labels(labels.data());
    CHECK((labels == std::vector<index_t>{0, 0, 0, 0, 1, 2}));
}

// Brute force: the best k-forest over all subsets of n - k edges of a small graph.
static double brute_force_best(const std::vector<double>& W, index_t n, index_t k) {
    std::vector<std::pair<index_t, index_t>> pairs;
    for (index_t i = 0; i < n; ++i)
        for (index_t j = i + 1; j < n; ++j) pairs.push_back({i, j});
    const index_t m = static_cast<index_t>(pairs.size());
    double best = -1e300;
    for (unsigned long mask = 0; mask < (1ul << m); ++mask) {
        if (__builtin_popcountl(mask) != n - k) continue;
        UnionFind uf(n);
        bool acyclic = true;
        double total = 0;
        for (index_t e = 0; e < m && acyclic; ++e) {
            if (!(mask >> e & 1ul)) continue;
            acyclic = uf.unite(pairs[static_cast<std::size_t>(e)].first, pairs[static_cast<std::size_t>(e)].second) >= 0;
            total += W[static_cast<std::size_t>(pairs[static_cast<std::size_t>(e)].first * n + pairs[static_cast<std::size_t>(e)].second)];
        }
        if (acyclic) best = std::max(best, total);
    }
    return best;
}

static void test_prim_kruskal_brute_force() {
    std::mt19937_64 gen(7);
    std::normal_distribution<double> normal;
    for (index_t n : {2, 3, 4, 5, 6}) {
        for (int rep = 0; rep < 5; ++rep) {
            std::vector<double> S(static_cast<std::size_t>(n * n));
            for (auto& s : S) s = normal(gen);
            std::vector<double> W(S.size());
            for (index_t i = 0; i < n; ++i)
                for (index_t j = 0; j < n; ++j)
                    W[static_cast<std::size_t>(i * n + j)] = S[static_cast<std::size_t>(i * n + j)] / 2 + S[static_cast<std::size_t>(j * n + i)] / 2;
            std::vector<index_t> edge_list;
            std::vector<double> weights;
            for (index_t i = 0; i < n; ++i)
                for (index_t j = i + 1; j < n; ++j) {
                    edge_list.push_back(j);  // reversed orientation on purpose
                    edge_list.push_back(i);
                    weights.push_back(W[static_cast<std::size_t>(i * n + j)]);
                }
            for (index_t k = 1; k <= n; ++k) {
                const std::size_t kept = static_cast<std::size_t>(n - k);
                std::vector<index_t> l1(static_cast<std::size_t>(n)), l2(static_cast<std::size_t>(n)), e1(2 * kept), e2(2 * kept);
                std::vector<double> w1(kept), w2(kept);
                double v1 = 0, v2 = 0;
                ForestOut<double> o1{l1.data(), e1.data(), w1.data(), &v1};
                ForestOut<double> o2{l2.data(), e2.data(), w2.data(), &v2};
                kforest_dense(S.data(), n, k, 1, o1);
                kforest_from_edge_list(edge_list.data(), weights.data(), static_cast<index_t>(weights.size()), n, k, o2);
                CHECK(l1 == l2);
                CHECK(e1 == e2);
                const double best = brute_force_best(W, n, k);
                CHECK(std::abs(v1 - 2 * best) < 1e-9);
                CHECK(std::abs(v2 - 2 * best) < 1e-9);
            }
        }
    }
}

static void test_kruskal_components_error() {
    std::vector<index_t> edges{0, 1};
    std::vector<double> w{1.0};
    std::vector<index_t> labels(3), out_edges(2);
    std::vector<double> out_w(1);
    double v = 0;
    ForestOut<double> out{labels.data(), out_edges.data(), out_w.data(), &v};
    CHECK_THROWS(kforest_from_edge_list(edges.data(), w.data(), 1, 3, 1, out), std::invalid_argument);
    std::vector<index_t> bad{0, 3};
    CHECK_THROWS(kforest_from_edge_list(bad.data(), w.data(), 1, 3, 2, out), std::out_of_range);
}

static void test_nan_rejected() {
    std::vector<double> S{0, 1, 2, 1, 0, std::nan(""), 2, 3, 0};
    std::vector<index_t> labels(3), edges(4);
    std::vector<double> w(2);
    double v = 0;
    ForestOut<double> out{labels.data(), edges.data(), w.data(), &v};
    CHECK_THROWS(kforest_dense(S.data(), 3, 1, 1, out), std::invalid_argument);
}

static void test_parallel_for_rethrows() {
    for (int threads : {1, 2, 3, 7}) {
        std::atomic<int> count{0};
        parallel_for(100, threads, [&](index_t) { ++count; });
        CHECK(count == 100);
        CHECK_THROWS(parallel_for(100, threads,
                                  [&](index_t i) {
                                      if (i == 42) throw std::invalid_argument("boom");
                                  }),
                     std::invalid_argument);
    }
}

static void test_points_match_dense() {
    std::mt19937_64 gen(3);
    std::normal_distribution<double> normal;
    const index_t n = 40, d = 3, k = 4;
    std::vector<double> X(static_cast<std::size_t>(n * d));
    for (auto& x : X) x = normal(gen);
    std::vector<double> S(static_cast<std::size_t>(n * n));
    for (index_t i = 0; i < n; ++i)
        for (index_t j = 0; j < n; ++j) {
            double s = 0;
            for (index_t t = 0; t < d; ++t) {
                const double diff = X[static_cast<std::size_t>(i * d + t)] - X[static_cast<std::size_t>(j * d + t)];
                s += diff * diff;
            }
            S[static_cast<std::size_t>(i * n + j)] = -s;
        }
    std::vector<index_t> l1(n), l2(n), e1(2 * (n - k)), e2(2 * (n - k));
    std::vector<double> w1(n - k), w2(n - k);
    double v1 = 0, v2 = 0;
    ForestOut<double> o1{l1.data(), e1.data(), w1.data(), &v1};
    ForestOut<double> o2{l2.data(), e2.data(), w2.data(), &v2};
    kforest_dense(S.data(), n, k, 1, o1);
    kforest_points(X.data(), n, d, k, Metric::sqeuclidean, o2);
    CHECK(l1 == l2);
    CHECK(e1 == e2);
    CHECK(std::abs(v1 - v2) < 1e-9);
}

int main() {
    test_union_find();
    test_prim_kruskal_brute_force();
    test_kruskal_components_error();
    test_nan_rejected();
    test_parallel_for_rethrows();
    test_points_match_dense();
    TEST_MAIN_END();
}
