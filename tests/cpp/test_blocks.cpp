// The block kernels (forest/blocks.hpp) rebuild kforest_points bit for bit:
// block trees + pairs' cross edges + Kruskal merges in any grouping give the
// same edges and weights as the in-memory k-forest, for every metric, uneven
// blocks, blocks of one row and duplicate points (ties). The bipartite tree is
// checked against Kruskal over every cross edge, and kruskal_edges against
// kforest_from_edge_list.
#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "check.hpp"
#include "diffclust/forest/blocks.hpp"
#include "diffclust/forest/kforest.hpp"

using namespace diffclust;

namespace {

template <class W>
bool same_edges(const std::vector<WeightedEdge<W>>& a, const std::vector<WeightedEdge<W>>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t e = 0; e < a.size(); ++e) {
        if (std::memcmp(&a[e].w, &b[e].w, sizeof(W)) != 0 || a[e].i != b[e].i || a[e].j != b[e].j) return false;
    }
    return true;
}

// The first n - k edges of the k-forest by the block decomposition, merged in
// groups of `fan_in` after shuffling the pieces with `gen`.
template <class T>
std::vector<WeightedEdge<double>> blocked(const std::vector<T>& X, index_t n, index_t d, index_t k, Metric metric,
                                          const std::vector<index_t>& cuts, index_t fan_in, std::mt19937_64& gen) {
    const std::size_t p = cuts.size() - 1;
    std::vector<std::vector<WeightedEdge<double>>> trees(p), pieces;
    for (std::size_t i = 0; i < p; ++i) {
        trees[i] = block_tree_points(X.data() + cuts[i] * d, cuts[i + 1] - cuts[i], d, cuts[i], metric);
        pieces.push_back(trees[i]);
    }
    for (std::size_t i = 0; i < p; ++i) {
        for (std::size_t j = i + 1; j < p; ++j) {
            pieces.push_back(pair_cross_edges(X.data() + cuts[i] * d, cuts[i + 1] - cuts[i], cuts[i],
                                              X.data() + cuts[j] * d, cuts[j + 1] - cuts[j], cuts[j], d, metric,
                                              trees[i], trees[j], n - k));
        }
    }
    std::shuffle(pieces.begin(), pieces.end(), gen);
    while (pieces.size() > 1) {
        std::vector<std::vector<WeightedEdge<double>>> next;
        for (std::size_t g = 0; g < pieces.size(); g += static_cast<std::size_t>(fan_in)) {
            std::vector<WeightedEdge<double>> all;
            for (std::size_t t = g; t < std::min(pieces.size(), g + static_cast<std::size_t>(fan_in)); ++t)
                all.insert(all.end(), pieces[t].begin(), pieces[t].end());
            next.push_back(kruskal_edges(std::move(all), n - k));
        }
        pieces.swap(next);
    }
    if (pieces.empty()) return {};
    return kruskal_edges(pieces[0], n - k);
}

template <class T>
std::vector<WeightedEdge<double>> in_memory(const std::vector<T>& X, index_t n, index_t d, index_t k, Metric metric) {
    std::vector<index_t> labels(static_cast<std::size_t>(n)), edges(static_cast<std::size_t>(2 * (n - k)));
    std::vector<double> weights(static_cast<std::size_t>(n - k));
    double value = 0.0;
    ForestOut<double> out{labels.data(), edges.data(), weights.data(), &value};
    kforest_points(X.data(), n, d, k, metric, out, 1);
    std::vector<WeightedEdge<double>> list;
    for (index_t e = 0; e < n - k; ++e) {
        list.push_back(WeightedEdge<double>{weights[static_cast<std::size_t>(e)], edges[static_cast<std::size_t>(2 * e)],
                                            edges[static_cast<std::size_t>(2 * e + 1)]});
    }
    return list;
}

std::vector<index_t> random_cuts(index_t n, std::mt19937_64& gen, index_t parts) {
    std::vector<index_t> cuts{0, n};
    std::uniform_int_distribution<index_t> at(1, std::max<index_t>(1, n - 1));
    for (index_t t = 1; t < parts && n > 1; ++t) cuts.push_back(at(gen));
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    return cuts;
}

}  // namespace

int main() {
    std::mt19937_64 gen(13);
    const Metric metrics[] = {Metric::sqeuclidean, Metric::euclidean, Metric::manhattan, Metric::cosine};
    // Continuous points and an integer grid with duplicates (many equal weights).
    for (int grid = 0; grid < 2; ++grid) {
        for (const Metric metric : metrics) {
            const index_t n = 61, d = 3;
            std::vector<double> X(static_cast<std::size_t>(n * d));
            std::normal_distribution<double> normal;
            std::uniform_int_distribution<int> small(-2, 2);
            for (auto& x : X) x = grid ? static_cast<double>(small(gen)) : normal(gen);
            for (const index_t k : {index_t(1), index_t(7), n}) {
                const auto expected = in_memory(X, n, d, k, metric);
                for (const index_t parts : {index_t(1), index_t(2), index_t(5), n}) {
                    const std::vector<index_t> cuts = random_cuts(n, gen, parts);
                    for (const index_t fan_in : {index_t(2), index_t(8)}) {
                        CHECK(same_edges(blocked(X, n, d, k, metric, cuts, fan_in, gen), expected));
                    }
                }
                // Blocks of one row each.
                std::vector<index_t> ones(static_cast<std::size_t>(n + 1));
                for (index_t i = 0; i <= n; ++i) ones[static_cast<std::size_t>(i)] = i;
                CHECK(same_edges(blocked(X, n, d, k, metric, ones, 3, gen), expected));
            }
        }
    }
    // float32 points, and all points equal.
    {
        const index_t n = 40, d = 5;
        std::vector<float> X(static_cast<std::size_t>(n * d));
        std::normal_distribution<float> normal;
        for (auto& x : X) x = normal(gen);
        const std::vector<index_t> cuts{0, 7, 8, 30, 40};
        CHECK(same_edges(blocked(X, n, d, 3, Metric::euclidean, cuts, 2, gen), in_memory(X, n, d, 3, Metric::euclidean)));
        std::vector<double> same(static_cast<std::size_t>(n * d), 1.5);
        CHECK(same_edges(blocked(same, n, d, 4, Metric::sqeuclidean, cuts, 2, gen),
                         in_memory(same, n, d, 4, Metric::sqeuclidean)));
    }
    // The bipartite tree is the MST (strict order) of all a * b cross edges.
    {
        const index_t a = 9, b = 14, d = 2, oa = 20, ob = 3;
        std::vector<double> XA(static_cast<std::size_t>(a * d)), XB(static_cast<std::size_t>(b * d));
        std::uniform_int_distribution<int> small(0, 3);
        for (auto& x : XA) x = small(gen);
        for (auto& x : XB) x = small(gen);
        std::vector<WeightedEdge<double>> all;
        for (index_t i = 0; i < a; ++i) {
            for (index_t j = 0; j < b; ++j) {
                double s = 0.0;
                for (index_t c = 0; c < d; ++c) {
                    const double t = XA[static_cast<std::size_t>(i * d + c)] - XB[static_cast<std::size_t>(j * d + c)];
                    s += t * t;
                }
                all.push_back(WeightedEdge<double>{-s, std::min(oa + i, ob + j), std::max(oa + i, ob + j)});
            }
        }
        const auto tree = bipartite_forest_points(XA.data(), a, oa, XB.data(), b, ob, d, Metric::sqeuclidean);
        CHECK(tree.size() == static_cast<std::size_t>(a + b - 1));
        CHECK(same_edges(tree, kruskal_edges(all, a + b)));
        CHECK_THROWS(bipartite_forest_points(XA.data(), a, 0, XB.data(), b, 5, d, Metric::sqeuclidean),
                     std::invalid_argument);
    }
    // kruskal_edges: any number of components, the limit, self-loops, and the
    // same forest as kforest_from_edge_list on a connected graph.
    {
        std::vector<WeightedEdge<double>> two{{1.0, 5, 9}, {2.0, 100, 7}, {2.0, 3, 3}, {0.5, 9, 5}};
        const auto kept = kruskal_edges(two, 10);
        CHECK(kept.size() == 2 && kept[0].i == 7 && kept[0].j == 100 && kept[1].i == 5 && kept[1].j == 9);
        CHECK(kruskal_edges(two, 1).size() == 1);
        CHECK(kruskal_edges(two, 0).empty());
        CHECK_THROWS(kruskal_edges(two, -1), std::invalid_argument);
        const index_t n = 30;
        std::vector<WeightedEdge<double>> list;
        std::vector<index_t> flat;
        std::vector<double> w;
        std::uniform_int_distribution<int> weight(0, 4);
        for (index_t i = 0; i < n; ++i) {
            for (index_t j = i + 1; j < n; ++j) {
                list.push_back(WeightedEdge<double>{static_cast<double>(weight(gen)), j, i});
                flat.push_back(j);
                flat.push_back(i);
                w.push_back(list.back().w);
            }
        }
        std::vector<index_t> labels(n), edges(2 * (n - 4));
        std::vector<double> weights(n - 4);
        double value = 0.0;
        ForestOut<double> out{labels.data(), edges.data(), weights.data(), &value};
        kforest_from_edge_list(flat.data(), w.data(), static_cast<index_t>(w.size()), n, 4, out);
        const auto mine = kruskal_edges(list, n - 4);
        bool same = mine.size() == static_cast<std::size_t>(n - 4);
        for (std::size_t e = 0; same && e < mine.size(); ++e)
            same = mine[e].w == weights[e] && mine[e].i == edges[2 * e] && mine[e].j == edges[2 * e + 1];
        CHECK(same);
    }
    // Non-finite points are refused; a distance that overflows too.
    {
        std::vector<double> bad{0.0, 1.0, std::numeric_limits<double>::quiet_NaN(), 2.0};
        CHECK_THROWS(block_tree_points(bad.data(), 2, 2, 0, Metric::sqeuclidean), std::invalid_argument);
        std::vector<double> huge{-1e300, 1e300};
        CHECK_THROWS(block_tree_points(huge.data(), 2, 1, 0, Metric::sqeuclidean), std::overflow_error);
        CHECK_THROWS(bipartite_forest_points(huge.data(), 1, 0, huge.data() + 1, 1, 1, 1, Metric::sqeuclidean),
                     std::overflow_error);
    }
    TEST_MAIN_END();
}
