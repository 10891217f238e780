// The core's entry points reject k outside [1, n] and non-positive sizes with
// std::invalid_argument (core/checks.hpp), for C++ callers that skip the bindings.
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "check.hpp"
#include "diffclust/cluster/kmedoids.hpp"
#include "diffclust/forest/constrained.hpp"
#include "diffclust/metrics/dec.hpp"
#include "diffclust/metrics/losses.hpp"
#include "diffclust/metrics/silhouette.hpp"
#include "diffclust/perturb/perturb.hpp"

using namespace diffclust;

int main() {
    const index_t n = 4;
    std::vector<double> S(n * n, 1.0), X(n * 2, 0.5), grad(n * n), out(n * n);
    std::vector<index_t> labels(n), edges(2 * n), medoids(n);
    std::vector<double> weights(n);
    double value = 0.0;
    ForestOut<double> fo{labels.data(), edges.data(), weights.data(), &value};
    for (const index_t k : {index_t(0), index_t(-1), n + 1}) {
        CHECK_THROWS(kforest_dense(S.data(), n, k, 1, fo), std::invalid_argument);
        CHECK_THROWS(kforest_points(X.data(), n, 2, k, Metric::euclidean, fo), std::invalid_argument);
        CHECK_THROWS(kforest_from_edge_list(edges.data(), weights.data(), 0, n, k, fo), std::invalid_argument);
        CHECK_THROWS(ConstrainedProblem(n, k, Constraints{}), std::invalid_argument);
        const PerturbSpec spec{0.5, 2, 0};
        const PerturbedOut<double> po{out.data(), nullptr, &value};
        CHECK_THROWS(perturbed_kforest(S.data(), n, k, spec, nullptr, true, 1, po), std::invalid_argument);
        CHECK_THROWS(perturbed_kforest_vjp(S.data(), n, k, spec, nullptr, true, S.data(), static_cast<double*>(nullptr),
                                           true, 1, grad.data()),
                     std::invalid_argument);
        CHECK_THROWS(pam_build(S.data(), n, k, 1, medoids.data()), std::invalid_argument);
    }
    CHECK_THROWS(kforest_dense(S.data(), 0, 1, 1, fo), std::invalid_argument);
    CHECK_THROWS(kforest_points(X.data(), n, 0, 1, Metric::euclidean, fo), std::invalid_argument);
    for (const double sigma : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
        const PerturbSpec spec{sigma, 2, 0};
        const PerturbedOut<double> po{out.data(), nullptr, &value};
        CHECK_THROWS(perturbed_kforest(S.data(), n, 2, spec, nullptr, true, 1, po), std::invalid_argument);
    }
    for (const index_t B : {index_t(0), index_t(-3), (index_t(1) << 32) + 1}) {
        const PerturbSpec spec{0.5, B, 0};
        const PerturbedOut<double> po{out.data(), nullptr, &value};
        CHECK_THROWS(perturbed_kforest(S.data(), n, 2, spec, nullptr, true, 1, po), std::invalid_argument);
        const ConstrainedProblem cp(n, 2, Constraints{});
        CHECK_THROWS(partial_fy_loss(S.data(), n, 2, spec, cp, true, 1, grad.data()), std::invalid_argument);
    }
    std::vector<double> centers(2 * 2, 0.0), gz(n * 2), gc(2 * 2);
    CHECK_THROWS(dec_loss(X.data(), n, 2, centers.data(), 0, 1.0, nullptr, gz.data(), gc.data(), 1),
                 std::invalid_argument);
    CHECK_THROWS(dec_loss(X.data(), n, 2, centers.data(), 2, 0.0, nullptr, gz.data(), gc.data(), 1),
                 std::invalid_argument);
    CHECK_THROWS(kmeans_loss(X.data(), n, 2, centers.data(), 0, static_cast<const std::int64_t*>(nullptr), 1),
                 std::invalid_argument);
    std::vector<index_t> lab{0, 0, 1, 1};
    std::vector<double> sil(n);
    CHECK_THROWS(silhouette_samples(X.data(), n, 0, lab.data(), 2, Metric::euclidean, 1, sil.data()),
                 std::invalid_argument);
    // still fine: the smallest valid sizes
    kforest_dense(S.data(), 1, 1, 1, fo);
    CHECK(labels[0] == 0);
    TEST_MAIN_END();
}
