// Core tests for contingency.hpp, metrics.hpp, losses.hpp, ncut.hpp and dec.hpp (no Python).
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "check.hpp"
#include "diffclust/metrics/contingency.hpp"
#include "diffclust/metrics/dec.hpp"
#include "diffclust/metrics/losses.hpp"
#include "diffclust/metrics/metrics.hpp"
#include "diffclust/metrics/ncut.hpp"

using namespace diffclust;

static bool close(double a, double b, double tol = 1e-12) { return std::fabs(a - b) <= tol * (1.0 + std::fabs(b)); }

static void test_encode_labels() {
    // table path and radix-sort path give codes by increasing value
    const std::vector<std::int64_t> small{5, -2, 5, 9, -2, -2};
    const LabelCodes a = encode_labels(small.data(), 6, 1);
    CHECK(a.size() == 3);
    CHECK((a.codes == std::vector<index_t>{1, 0, 1, 2, 0, 0}));
    CHECK((a.counts == std::vector<index_t>{3, 2, 1}));
    const std::int64_t big = std::int64_t(1) << 62;
    const std::vector<std::int64_t> wide{big, -big, 0, big, -big - 1};
    const LabelCodes b = encode_labels(wide.data(), 5, 3);
    CHECK((b.codes == std::vector<index_t>{3, 1, 2, 3, 0}));
    CHECK((b.counts == std::vector<index_t>{1, 1, 1, 2}));
}

static void test_pair_metrics() {
    const std::vector<std::int64_t> t{0, 0, 1, 1}, p{0, 1, 0, 1};
    const Contingency c = contingency(t.data(), p.data(), 4, 2);
    CHECK(c.counts.size() == 4);
    CHECK(adjusted_rand_index(c) == -0.5);
    CHECK(mutual_info(c) == 0.0);
    CHECK(normalized_mutual_info(c, AverageMethod::arithmetic) == 0.0);
    const Contingency same = contingency(t.data(), t.data(), 4, 1);
    CHECK(adjusted_rand_index(same) == 1.0);
    CHECK(close(mutual_info(same), std::log(2.0)));
    CHECK(close(normalized_mutual_info(same, AverageMethod::geometric), 1.0));
    // one labeling constant: MI = 0, NMI = 0; both constant: NMI = 1
    const std::vector<std::int64_t> one{7, 7, 7, 7};
    CHECK(normalized_mutual_info(contingency(one.data(), p.data(), 4, 1), AverageMethod::max) == 0.0);
    CHECK(normalized_mutual_info(contingency(one.data(), one.data(), 4, 1), AverageMethod::min) == 1.0);
}

static void test_davies_bouldin() {
    // two clusters on a line: {0, 2} and {10, 12}: s = 1 each, centroid distance 10
    const std::vector<double> X{0, 2, 10, 12};
    const std::vector<std::int64_t> lab{3, 3, 8, 8};
    const LabelCodes codes = encode_labels(lab.data(), 4, 1);
    CHECK(close(davies_bouldin(X.data(), 4, 1, codes, 2), 0.2));
    const std::vector<std::int64_t> bad{1, 1, 1, 1};
    CHECK_THROWS(davies_bouldin(X.data(), 4, 1, encode_labels(bad.data(), 4, 1), 1), std::invalid_argument);
}

static void test_losses() {
    const std::vector<double> X{0, 0, 1, 0, 10, 10}, C{0, 0, 10, 11};
    CHECK(close(kmeans_loss(X.data(), 3, 2, C.data(), 2, nullptr, 2), 2.0));
    const std::vector<std::int64_t> lab{1, 0, 0};
    CHECK(close(kmeans_loss(X.data(), 3, 2, C.data(), 2, lab.data(), 1), 221.0 + 1.0 + 200.0));
    const std::vector<std::int64_t> out{0, 2, 0};
    CHECK_THROWS(kmeans_loss(X.data(), 3, 2, C.data(), 2, out.data(), 1), std::out_of_range);

    // one standard normal component in 2-d: -log p(0) = log(2 pi)
    const std::vector<double> w{1.0}, mu{0, 0}, cov{1, 0, 0, 1}, x{0, 0};
    const GaussianMixture g = make_gaussian_mixture(w.data(), mu.data(), cov.data(), 1, 2, CovarianceType::full);
    CHECK(close(gmm_nll(g, x.data(), 1, nullptr, 1), std::log(2.0 * 3.14159265358979323846)));
    const std::vector<double> not_pd{1, 2, 2, 1};
    CHECK_THROWS(make_gaussian_mixture(w.data(), mu.data(), not_pd.data(), 1, 2, CovarianceType::full),
                 std::invalid_argument);
}

static void test_cuts() {
    // path 0 - 1 - 2 - 3 with unit weights, split {0, 1} | {2, 3}: cut 1, volumes 3 and 3
    const std::vector<double> W{0, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0};
    const std::vector<std::int64_t> lab{0, 0, 1, 1};
    const LabelCodes codes = encode_labels(lab.data(), 4, 1);
    const CutValues c = graph_cuts(DenseGraph<double>{W.data(), 4}, codes, 3);
    CHECK(close(c.ncut, 2.0 / 3.0));
    CHECK(close(c.ratio_cut, 1.0));
    // the same graph in CSR
    const std::vector<std::int32_t> indptr{0, 1, 3, 5, 6}, indices{1, 0, 2, 1, 3, 2};
    const std::vector<double> data(6, 1.0);
    const CsrGraph<double, std::int32_t> g{indptr.data(), indices.data(), data.data(), 4, 6};
    const CutValues cs = graph_cuts(g, codes, 2);
    CHECK(cs.ncut == c.ncut && cs.ratio_cut == c.ratio_cut);
    // soft Ncut of the one-hot assignment is the Ncut
    const std::vector<double> P{1, 0, 1, 0, 0, 1, 0, 1};
    std::vector<double> grad(8);
    CHECK(soft_ncut(g, P.data(), 2, grad.data(), 2) == cs.ncut);
    CHECK(soft_ncut(DenseGraph<double>{W.data(), 4}, P.data(), 2, grad.data(), 1) == c.ncut);
    std::vector<double> negative = data;
    negative[2] = -1.0;
    const CsrGraph<double, std::int32_t> gn{indptr.data(), indices.data(), negative.data(), 4, 6};
    CHECK_THROWS(graph_cuts(gn, codes, 1), std::invalid_argument);
}

static void test_dec_gradient() {
    const std::vector<double> Z{0.3, -1.0, 2.0, 0.5, -0.7, 1.1}, C{0.0, 0.0, 1.0, 1.0};
    std::vector<double> P(6), gz(6), gc(4), gz2(6), gc2(4);
    // hold the target fixed: take DEC's P from one evaluation, then check d/dZ by differences
    dec_loss(Z.data(), 3, 2, C.data(), 2, 1.5, nullptr, gz.data(), gc.data(), 1);
    const std::vector<double> T{0.2, 0.8, 0.6, 0.4, 0.5, 0.5};
    dec_loss(Z.data(), 3, 2, C.data(), 2, 1.5, T.data(), gz.data(), gc.data(), 1);
    const double h = 1e-6;
    for (std::size_t e = 0; e < Z.size(); ++e) {
        std::vector<double> zp = Z, zm = Z;
        zp[e] += h;
        zm[e] -= h;
        const double fp = dec_loss(zp.data(), 3, 2, C.data(), 2, 1.5, T.data(), gz2.data(), gc2.data(), 1);
        const double fm = dec_loss(zm.data(), 3, 2, C.data(), 2, 1.5, T.data(), gz2.data(), gc2.data(), 1);
        CHECK(std::fabs((fp - fm) / (2 * h) - gz[e]) < 1e-6);
    }
}

int main() {
    test_encode_labels();
    test_pair_metrics();
    test_davies_bouldin();
    test_losses();
    test_cuts();
    test_dec_gradient();
    TEST_MAIN_END();
}
