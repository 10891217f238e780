// Core tests without Python: pairwise distances, silhouette and k-medoids against
// plain loops, thread-count invariance, and errors.
#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include "check.hpp"
#include "diffclust/metrics/distances.hpp"
#include "diffclust/cluster/kmedoids.hpp"
#include "diffclust/metrics/silhouette.hpp"

using namespace diffclust;

static std::vector<double> random_points(index_t n, index_t d, unsigned seed) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> normal;
    std::vector<double> x(static_cast<std::size_t>(n * d));
    for (double& v : x) v = normal(gen);
    return x;
}

static double naive(const double* x, const double* y, index_t d, Metric m) {
    double s = 0, xx = 0, yy = 0, xy = 0;
    for (index_t k = 0; k < d; ++k) {
        s += m == Metric::manhattan ? std::fabs(x[k] - y[k]) : (x[k] - y[k]) * (x[k] - y[k]);
        xx += x[k] * x[k];
        yy += y[k] * y[k];
        xy += x[k] * y[k];
    }
    if (m == Metric::euclidean) return std::sqrt(s);
    if (m == Metric::cosine) return 1.0 - xy / std::sqrt(xx * yy);
    return s;
}

static void test_pairwise() {
    const index_t nx = 61, ny = 263, d = 13;  // not multiples of the tiles
    const auto X = random_points(nx, d, 1), Y = random_points(ny, d, 2);
    for (Metric m : {Metric::sqeuclidean, Metric::euclidean, Metric::manhattan, Metric::cosine}) {
        std::vector<double> out(static_cast<std::size_t>(nx * ny)), out3(out.size());
        pairwise_distances(X.data(), nx, Y.data(), ny, d, m, 1, out.data());
        pairwise_distances(X.data(), nx, Y.data(), ny, d, m, 3, out3.data());
        CHECK(out == out3);
        double err = 0;
        for (index_t i = 0; i < nx; ++i)
            for (index_t j = 0; j < ny; ++j)
                err = std::max(err, std::fabs(out[static_cast<std::size_t>(i * ny + j)] -
                                              naive(&X[static_cast<std::size_t>(i * d)],
                                                    &Y[static_cast<std::size_t>(j * d)], d, m)));
        CHECK(err < 1e-12);
        std::vector<float> Xf(X.begin(), X.end()), outf(static_cast<std::size_t>(nx * nx));
        pairwise_distances<float>(Xf.data(), nx, nullptr, nx, d, m, 2, outf.data());
        for (index_t i = 0; i < nx; ++i) CHECK(outf[static_cast<std::size_t>(i * nx + i)] == 0.0f);
    }
}

// Block rows equal the full matrix bit for bit: a row of X repeated in Y (any
// position) is at distance exactly 0 from it, for every metric, cosine included.
static void test_identical_rows_exact_zero() {
    for (index_t d : {3, 17, 40}) {
        const index_t n = 70;
        auto X = random_points(n, d, 7);
        for (double& v : X) v *= 13.0;
        std::vector<double> Y;  // rows 5, 0, 69 of X, then row 33 again
        for (index_t r : {5, 0, 69, 33}) Y.insert(Y.end(), X.begin() + r * d, X.begin() + (r + 1) * d);
        for (Metric m : {Metric::sqeuclidean, Metric::euclidean, Metric::manhattan, Metric::cosine}) {
            std::vector<double> full(static_cast<std::size_t>(n * n)), block(static_cast<std::size_t>(n * 4));
            pairwise_distances(X.data(), n, static_cast<const double*>(nullptr), n, d, m, 2, full.data());
            pairwise_distances(X.data(), n, Y.data(), 4, d, m, 1, block.data());
            const index_t cols[4] = {5, 0, 69, 33};
            for (index_t i = 0; i < n; ++i)
                for (index_t c = 0; c < 4; ++c)
                    CHECK(block[static_cast<std::size_t>(i * 4 + c)] == full[static_cast<std::size_t>(i * n + cols[c])]);
        }
    }
}

static void test_silhouette() {
    const index_t n = 300, d = 4, k = 3;
    const auto X = random_points(n, d, 3);
    std::vector<index_t> labels(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) labels[static_cast<std::size_t>(i)] = (i * 7) % k;
    std::vector<double> D(static_cast<std::size_t>(n * n));
    pairwise_distances(X.data(), n, static_cast<const double*>(nullptr), n, d, Metric::euclidean, 1, D.data());
    std::vector<double> s1(static_cast<std::size_t>(n)), s2(s1.size()), sp(s1.size());
    silhouette_samples(X.data(), n, d, labels.data(), k, Metric::euclidean, 1, s1.data());
    silhouette_samples(X.data(), n, d, labels.data(), k, Metric::euclidean, 7, s2.data());
    silhouette_samples_precomputed(D.data(), n, labels.data(), k, 2, sp.data());
    CHECK(s1 == s2);
    double err = 0;
    for (std::size_t i = 0; i < s1.size(); ++i) err = std::max(err, std::fabs(s1[i] - sp[i]));
    CHECK(err < 1e-12);
    CHECK_THROWS(silhouette_samples(X.data(), n, d, labels.data(), 1, Metric::euclidean, 1, s1.data()),
                 std::invalid_argument);
}

// n > 24576: blocks of 1536 positions (at most 32 blocks), against a plain loop.
static void test_silhouette_large_blocks() {
    const index_t n = 25000, k = 3;
    const auto X = random_points(n, 1, 5);
    std::vector<index_t> labels(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) labels[static_cast<std::size_t>(i)] = (i * 13 + i / 7) % k;
    std::vector<double> s(static_cast<std::size_t>(n));
    silhouette_samples(X.data(), n, 1, labels.data(), k, Metric::manhattan, 2, s.data());
    std::vector<index_t> size(static_cast<std::size_t>(k), 0);
    for (index_t l : labels) ++size[static_cast<std::size_t>(l)];
    double err = 0;
    std::vector<double> sums(static_cast<std::size_t>(k));
    for (index_t i = 0; i < n; i += 97) {
        std::fill(sums.begin(), sums.end(), 0.0);
        for (index_t j = 0; j < n; ++j)
            sums[static_cast<std::size_t>(labels[static_cast<std::size_t>(j)])] +=
                std::fabs(X[static_cast<std::size_t>(i)] - X[static_cast<std::size_t>(j)]);
        const double ref = detail::silhouette_from_sums(sums.data(), k, labels[static_cast<std::size_t>(i)], size.data());
        err = std::max(err, std::fabs(ref - s[static_cast<std::size_t>(i)]));
    }
    CHECK(err < 1e-10);
}

static void test_kmedoids() {
    const index_t n = 400, d = 2, k = 6;
    const auto X = random_points(n, d, 4);
    std::vector<double> D(static_cast<std::size_t>(n * n));
    pairwise_distances(X.data(), n, static_cast<const double*>(nullptr), n, d, Metric::euclidean, 2, D.data());
    check_dissimilarity(D.data(), n, true, 1e-8, "D", 2);
    std::vector<index_t> med(static_cast<std::size_t>(k)), labels(static_cast<std::size_t>(n));
    pam_build(D.data(), n, k, 1, med.data());
    KMedoidsOut out{med.data(), labels.data(), 0.0, 0, 0};
    fasterpam(D.data(), n, k, 100, 3, out);
    // no single swap improves the loss
    auto loss_of = [&](const std::vector<index_t>& m) {
        double s = 0;
        for (index_t o = 0; o < n; ++o) {
            double b = 1e300;
            for (index_t x : m) b = std::min(b, D[static_cast<std::size_t>(x * n + o)]);
            s += b;
        }
        return s;
    };
    CHECK(std::fabs(loss_of(med) - out.loss) < 1e-9);
    bool improvable = false;
    for (index_t i = 0; i < k; ++i)
        for (index_t c = 0; c < n; ++c) {
            if (std::find(med.begin(), med.end(), c) != med.end()) continue;
            auto trial = med;
            trial[static_cast<std::size_t>(i)] = c;
            if (loss_of(trial) < out.loss - 1e-9) improvable = true;
        }
    CHECK(!improvable);
    D[5] = -1.0;
    CHECK_THROWS(check_dissimilarity(D.data(), n, true, 1e-8, "D", 1), std::invalid_argument);
    std::vector<index_t> dup{1, 1};
    KMedoidsOut bad{dup.data(), labels.data(), 0.0, 0, 0};
    CHECK_THROWS(fasterpam(D.data(), n, 2, 10, 1, bad), std::invalid_argument);
}

int main() {
    test_pairwise();
    test_identical_rows_exact_zero();
    test_silhouette();
    test_silhouette_large_blocks();
    test_kmedoids();
    TEST_MAIN_END();
}
