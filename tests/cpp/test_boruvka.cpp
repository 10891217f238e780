// kd-tree Borůvka (density/boruvka.hpp) against Prim (density/mr_prim.hpp,
// forest/prim_sources.hpp): the same tree, bit for bit, for every thread count,
// on random data, integer grids with ties, duplicates and all-equal points.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "check.hpp"
#include "diffclust/density/boruvka.hpp"
#include "diffclust/density/mr_prim.hpp"
#include "diffclust/forest/kforest.hpp"

using namespace diffclust;

namespace {

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof(double)) == 0; }

std::vector<density::MrEdge> prim_edges(const std::vector<double>& X, index_t n, index_t d, Metric m,
                                        const std::vector<double>& core) {
    std::vector<index_t> order(static_cast<std::size_t>(n)), parent(static_cast<std::size_t>(n));
    std::vector<double> w(static_cast<std::size_t>(n));
    mutual_reachability_tree(X.data(), n, d, m, core.data(), 1, order.data(), parent.data(), w.data());
    std::vector<density::MrEdge> e(static_cast<std::size_t>(std::max<index_t>(n - 1, 0)));
    for (std::size_t t = 0; t < e.size(); ++t) e[t] = density::MrEdge{w[t], std::min(order[t], parent[t]), std::max(order[t], parent[t])};
    std::sort(e.begin(), e.end(), density::mr_lighter);
    return e;
}

std::vector<double> make_points(std::mt19937_64& gen, index_t n, index_t d, int kind) {
    std::vector<double> X(static_cast<std::size_t>(n * d));
    std::normal_distribution<double> normal(0.0, 1.0);
    std::uniform_int_distribution<int> coarse(0, 4);
    for (std::size_t t = 0; t < X.size(); ++t) {
        if (kind == 0) X[t] = normal(gen);
        else if (kind == 1) X[t] = coarse(gen);          // integer grid: many ties, duplicates
        else X[t] = 3.0;                                 // all equal
    }
    return X;
}

void test_trees() {
    std::mt19937_64 gen(11);
    for (const Metric m : {Metric::euclidean, Metric::sqeuclidean, Metric::manhattan}) {
        for (const index_t n : {1, 2, 3, 17, 300, 1500}) {
            for (const index_t d : {1, 2, 3, 5}) {
                for (int kind = 0; kind < 3; ++kind) {
                    if (kind == 2 && n > 300) continue;
                    const std::vector<double> X = make_points(gen, n, d, kind);
                    for (const index_t ms : {index_t(1), index_t(2), index_t(5)}) {
                        if (ms > n) continue;
                        std::vector<double> core(static_cast<std::size_t>(n)), core2(static_cast<std::size_t>(n));
                        core_distances(X.data(), n, d, m, ms, 1, core.data());
                        const std::vector<density::MrEdge> ref = prim_edges(X, n, d, m, core);
                        for (const int threads : {1, 2, 3, 7}) {
                            const std::vector<density::MrEdge> got =
                                mutual_reachability_boruvka(X.data(), n, d, m, ms, threads, core2.data());
                            CHECK(got.size() == ref.size());
                            bool ok = got.size() == ref.size();
                            for (std::size_t e = 0; ok && e < got.size(); ++e) {
                                ok = got[e].i == ref[e].i && got[e].j == ref[e].j && same_bits(got[e].d, ref[e].d);
                            }
                            for (index_t i = 0; ok && i < n; ++i) ok = same_bits(core[static_cast<std::size_t>(i)], core2[static_cast<std::size_t>(i)]);
                            if (!ok) {
                                std::fprintf(stderr, "tree mismatch: metric %d n %lld d %lld kind %d ms %lld threads %d\n",
                                             static_cast<int>(m), static_cast<long long>(n), static_cast<long long>(d), kind,
                                             static_cast<long long>(ms), threads);
                            }
                            CHECK(ok);
                        }
                    }
                }
            }
        }
    }
}

void test_kforest() {
    std::mt19937_64 gen(5);
    for (const index_t n : {1, 2, 40, 900}) {
        for (int kind = 0; kind < 3; ++kind) {
            const index_t d = 2;
            const std::vector<double> X = make_points(gen, n, d, kind);
            for (const index_t k : {index_t(1), index_t(2), n}) {
                if (k > n) continue;
                std::vector<index_t> l1(static_cast<std::size_t>(n)), l2(l1), e1(static_cast<std::size_t>(2 * (n - k))), e2(e1);
                std::vector<double> w1(static_cast<std::size_t>(n - k)), w2(w1);
                double v1 = 0.0, v2 = 0.0;
                ForestOut<double> o1{l1.data(), e1.data(), w1.data(), &v1}, o2{l2.data(), e2.data(), w2.data(), &v2};
                kforest_points(X.data(), n, d, k, Metric::euclidean, o1, 1);
                for (const int threads : {1, 2, 3, 7}) {
                    kforest_points_boruvka(X.data(), n, d, k, Metric::euclidean, o2, threads);
                    CHECK(l1 == l2);
                    CHECK(e1 == e2);
                    bool ok = same_bits(v1, v2);
                    for (std::size_t e = 0; e < w1.size(); ++e) ok = ok && same_bits(w1[e], w2[e]);
                    CHECK(ok);
                }
            }
        }
    }
}

void test_errors() {
    const std::vector<double> X(10, 0.0);
    std::vector<double> core(5);
    CHECK_THROWS(mutual_reachability_boruvka(X.data(), 5, 2, Metric::euclidean, 0, 1, core.data()), std::invalid_argument);
    CHECK_THROWS(mutual_reachability_boruvka(X.data(), 5, 2, Metric::euclidean, 6, 1, core.data()), std::invalid_argument);
    CHECK_THROWS(mutual_reachability_boruvka(X.data(), 5, 2, Metric::cosine, 2, 1, core.data()), std::invalid_argument);
}

}  // namespace

int main() {
    test_trees();
    test_kforest();
    test_errors();
    if (diffclust_test_failures() != 0) {
        std::fprintf(stderr, "%d failure(s)\n", diffclust_test_failures());
        return 1;
    }
    std::puts("test_boruvka: ok");
    return 0;
}
