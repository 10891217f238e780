// Core distances (kd-tree against brute force) and the mutual-reachability
// tree (against Prim on the dense d_mr matrix), for several thread counts.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "check.hpp"
#include "diffclust/density/core_distances.hpp"
#include "diffclust/density/mr_prim.hpp"
#include "diffclust/forest/prim_sources.hpp"

using namespace diffclust;

namespace {

// Dense d_mr similarity (-d_mr) with distances computed as the kernels do.
std::vector<double> dense_mr(const std::vector<double>& X, index_t n, index_t d, Metric m, const std::vector<double>& core,
                             bool asymmetric) {
    const std::vector<double> rows = density::metric_rows(X.data(), n, d, m);
    std::vector<double> W(static_cast<std::size_t>(n * n), 0.0);
    for (index_t i = 0; i < n; ++i)
        for (index_t j = 0; j < n; ++j) {
            if (i == j) continue;
            const double dist = density::finish_distance(density::raw_distance(rows.data() + j * d, rows.data() + i * d, d, m), m);
            const double ci = core[static_cast<std::size_t>(i)], cj = asymmetric ? 0.0 : core[static_cast<std::size_t>(j)];
            W[static_cast<std::size_t>(i * n + j)] = -std::max(std::max(ci, cj), dist);
        }
    return W;
}

void test_core_and_tree() {
    std::mt19937_64 gen(7);
    for (const Metric m_ : {Metric::euclidean, Metric::manhattan, Metric::sqeuclidean, Metric::cosine}) {
        const Metric m = m_;
        for (const index_t n : {1, 2, 5, 37, 150, 2500}) {
            for (const index_t d : {1, 2, 3, 9}) {
                std::vector<double> X(static_cast<std::size_t>(n * d));
                std::uniform_int_distribution<int> coarse(0, 6);  // ties and duplicates
                for (auto& x : X) x = (n % 2 == 0) ? static_cast<double>(coarse(gen)) : std::normal_distribution<double>()(gen);
                for (const index_t ms : {index_t(1), index_t(2), index_t(5)}) {
                    if (ms > n) continue;
                    std::vector<double> brute(static_cast<std::size_t>(n)), kd(static_cast<std::size_t>(n));
                    core_distances(X.data(), n, d, m, ms, 1, brute.data(), CoreMethod::brute);
                    for (int threads : {1, 2, 3}) {
                        core_distances(X.data(), n, d, m, ms, threads, kd.data(), CoreMethod::kdtree);
                        CHECK(kd == brute);
                    }
                    if (n > 400) continue;
                    for (const bool asym : {false, true}) {
                        const std::vector<double> W = dense_mr(X, n, d, m, brute, asym);
                        std::vector<WeightedEdge<double>> ref(static_cast<std::size_t>(std::max<index_t>(n - 1, 0)));
                        if (!asym) prim_max_tree_dense<double>(W.data(), n, 1, ref.data());
                        double ref_total = 0.0;
                        for (const auto& e : ref) ref_total += e.w;
                        for (int threads : {1, 2, 3, 7}) {
                            for (const index_t share : {index_t(1), index_t(64), index_t(2048)}) {
                                const std::size_t m = ref.size();
                                std::vector<index_t> order(m), parent(m);
                                std::vector<double> dist(m);
                                mutual_reachability_tree(X.data(), n, d, m_, brute.data(), threads, order.data(),
                                                         parent.data(), dist.data(), asym, share, 16);
                                if (!asym) {
                                    std::vector<WeightedEdge<double>> tree(m);
                                    for (std::size_t e = 0; e < m; ++e)
                                        tree[e] = {-dist[e], std::min(order[e], parent[e]), std::max(order[e], parent[e])};
                                    std::vector<WeightedEdge<double>> a = tree, b = ref;
                                    auto ord = [](const WeightedEdge<double>& x, const WeightedEdge<double>& y) { return heavier(x, y); };
                                    std::sort(a.begin(), a.end(), ord);
                                    std::sort(b.begin(), b.end(), ord);
                                    bool same = true;
                                    for (std::size_t e = 0; e < a.size(); ++e)
                                        same = same && a[e].i == b[e].i && a[e].j == b[e].j && a[e].w == b[e].w;
                                    CHECK(same);
                                } else {
                                    // OPTICS: each step takes the smallest reachability from the visited
                                    // set, the smallest point among ties, through its first best parent
                                    std::vector<char> in(static_cast<std::size_t>(n), 0);
                                    in[0] = 1;
                                    bool ok = true;
                                    for (std::size_t e = 0; e < m; ++e) {
                                        double best = -INFINITY;
                                        index_t bu = -1;
                                        for (index_t w = 0; w < n; ++w) {
                                            if (in[static_cast<std::size_t>(w)]) continue;
                                            double key = -INFINITY;
                                            for (index_t v = 0; v < n; ++v)
                                                if (in[static_cast<std::size_t>(v)]) key = std::max(key, W[static_cast<std::size_t>(v * n + w)]);
                                            if (key > best) {
                                                best = key;
                                                bu = w;
                                            }
                                        }
                                        ok = ok && order[e] == bu && -dist[e] == best && in[static_cast<std::size_t>(parent[e])] &&
                                             W[static_cast<std::size_t>(parent[e] * n + bu)] == best;
                                        in[static_cast<std::size_t>(bu)] = 1;
                                    }
                                    CHECK(ok);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

}  // namespace

int main() {
    test_core_and_tree();
    if (diffclust_test_failures()) std::fprintf(stderr, "%d failures\n", diffclust_test_failures());
    return diffclust_test_failures() ? 1 : 0;
}
