// The interruptible edge sort gives exactly std::sort's order (heaviest first,
// ties by pair), on lists long enough to be merged, with many equal weights.
#include <random>
#include <vector>

#include "check.hpp"
#include "diffclust/forest/kruskal.hpp"

using namespace diffclust;

int main() {
    std::mt19937_64 gen(3);
    for (std::size_t m : {std::size_t(10), std::size_t(32768), std::size_t(32769), std::size_t(200001)}) {
        std::uniform_int_distribution<index_t> vertex(0, 999);
        std::uniform_int_distribution<int> weight(0, 50);  // many ties
        std::vector<WeightedEdge<double>> edges;
        for (std::size_t e = 0; e < m; ++e) {
            index_t a = vertex(gen), b = vertex(gen);
            if (a > b) std::swap(a, b);
            edges.push_back(WeightedEdge<double>{static_cast<double>(weight(gen)), a, b});
        }
        std::vector<WeightedEdge<double>> expected = edges;
        sort_edges_heaviest_first(expected);
        sort_edges_interruptible(edges);
        bool same = true;
        for (std::size_t e = 0; e < m; ++e)
            same = same && edges[e].w == expected[e].w && edges[e].i == expected[e].i && edges[e].j == expected[e].j;
        CHECK(same);
    }
    TEST_MAIN_END();
}
