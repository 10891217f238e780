// Core tests for cluster/gmm.hpp (no Python): EM steps against a naive reference
// (Gauss-Jordan inverse and determinant, two-pass centred covariances), bit-identical
// results for any thread count, float32 input, precision factors, degenerate input.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "check.hpp"
#include "diffclust/cluster/gmm.hpp"

using namespace diffclust;

static bool close(double a, double b, double tol = 1e-9) { return std::fabs(a - b) <= tol * (1.0 + std::fabs(b)); }

static std::vector<double> blobs(index_t n, index_t d, unsigned seed, double offset = 0.0) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::vector<double> X(static_cast<std::size_t>(n * d));
    for (index_t i = 0; i < n; ++i) {
        const double c = static_cast<double>(i % 3) * 4.0;
        for (index_t t = 0; t < d; ++t) X[static_cast<std::size_t>(i * d + t)] = offset + c + normal(gen) * (1.0 + 0.3 * static_cast<double>(t));
    }
    return X;
}

// Inverse and log-determinant of a small SPD matrix by Gauss-Jordan elimination.
static void invert(std::vector<double> A, index_t d, std::vector<double>& inv, double& logdet) {
    inv.assign(static_cast<std::size_t>(d * d), 0.0);
    for (index_t i = 0; i < d; ++i) inv[static_cast<std::size_t>(i * d + i)] = 1.0;
    logdet = 0.0;
    for (index_t c = 0; c < d; ++c) {
        const double p = A[static_cast<std::size_t>(c * d + c)];
        logdet += std::log(p);
        for (index_t t = 0; t < d; ++t) A[static_cast<std::size_t>(c * d + t)] /= p, inv[static_cast<std::size_t>(c * d + t)] /= p;
        for (index_t r = 0; r < d; ++r) {
            if (r == c) continue;
            const double f = A[static_cast<std::size_t>(r * d + c)];
            for (index_t t = 0; t < d; ++t) {
                A[static_cast<std::size_t>(r * d + t)] -= f * A[static_cast<std::size_t>(c * d + t)];
                inv[static_cast<std::size_t>(r * d + t)] -= f * inv[static_cast<std::size_t>(c * d + t)];
            }
        }
    }
}

// Dense (k, d, d) covariances of any type.
static std::vector<double> dense_cov(const MixtureParams& p) {
    const index_t k = p.k, d = p.d;
    std::vector<double> C(static_cast<std::size_t>(k * d * d), 0.0);
    for (index_t j = 0; j < k; ++j)
        for (index_t t = 0; t < d; ++t)
            for (index_t c = 0; c < d; ++c) {
                double v = 0.0;
                if (p.type == CovarianceType::full) v = p.covariances[static_cast<std::size_t>(j * d * d + t * d + c)];
                else if (p.type == CovarianceType::tied) v = p.covariances[static_cast<std::size_t>(t * d + c)];
                else if (t == c) v = p.type == CovarianceType::diag ? p.covariances[static_cast<std::size_t>(j * d + t)] : p.covariances[static_cast<std::size_t>(j)];
                C[static_cast<std::size_t>(j * d * d + t * d + c)] = v;
            }
    return C;
}

// One naive EM step: responsibilities from p, then the M-step; returns the mean log-likelihood.
static double naive_step(const std::vector<double>& X, index_t n, MixtureParams& p, double reg) {
    const index_t k = p.k, d = p.d;
    const std::vector<double> C = dense_cov(p);
    std::vector<double> resp(static_cast<std::size_t>(n * k));
    double llh = 0.0;
    const double pi = 3.14159265358979323846;
    std::vector<std::vector<double>> invs(static_cast<std::size_t>(k));
    std::vector<double> logdets(static_cast<std::size_t>(k));
    for (index_t j = 0; j < k; ++j)
        invert(std::vector<double>(C.begin() + j * d * d, C.begin() + (j + 1) * d * d), d, invs[static_cast<std::size_t>(j)], logdets[static_cast<std::size_t>(j)]);
    for (index_t i = 0; i < n; ++i) {
        std::vector<double> lp(static_cast<std::size_t>(k));
        double top = -1e300;
        for (index_t j = 0; j < k; ++j) {
            double q = 0.0;
            for (index_t t = 0; t < d; ++t)
                for (index_t c = 0; c < d; ++c)
                    q += (X[static_cast<std::size_t>(i * d + t)] - p.means[static_cast<std::size_t>(j * d + t)]) * invs[static_cast<std::size_t>(j)][static_cast<std::size_t>(t * d + c)] *
                         (X[static_cast<std::size_t>(i * d + c)] - p.means[static_cast<std::size_t>(j * d + c)]);
            lp[static_cast<std::size_t>(j)] = std::log(p.weights[static_cast<std::size_t>(j)]) - 0.5 * (static_cast<double>(d) * std::log(2 * pi) + logdets[static_cast<std::size_t>(j)] + q);
            top = std::max(top, lp[static_cast<std::size_t>(j)]);
        }
        double s = 0.0;
        for (index_t j = 0; j < k; ++j) s += std::exp(lp[static_cast<std::size_t>(j)] - top);
        for (index_t j = 0; j < k; ++j) resp[static_cast<std::size_t>(i * k + j)] = std::exp(lp[static_cast<std::size_t>(j)] - top) / s;
        llh += top + std::log(s);
    }
    // M-step, two passes
    const double eps10 = 10 * std::numeric_limits<double>::epsilon();
    std::vector<double> nk(static_cast<std::size_t>(k), eps10);
    std::vector<double> mu(static_cast<std::size_t>(k * d), 0.0);
    for (index_t i = 0; i < n; ++i)
        for (index_t j = 0; j < k; ++j) {
            nk[static_cast<std::size_t>(j)] += resp[static_cast<std::size_t>(i * k + j)];
            for (index_t t = 0; t < d; ++t) mu[static_cast<std::size_t>(j * d + t)] += resp[static_cast<std::size_t>(i * k + j)] * X[static_cast<std::size_t>(i * d + t)];
        }
    double total = 0.0;
    for (index_t j = 0; j < k; ++j) {
        total += nk[static_cast<std::size_t>(j)];
        for (index_t t = 0; t < d; ++t) mu[static_cast<std::size_t>(j * d + t)] /= nk[static_cast<std::size_t>(j)];
    }
    std::vector<double> S(static_cast<std::size_t>(k * d * d), 0.0);
    for (index_t i = 0; i < n; ++i)
        for (index_t j = 0; j < k; ++j)
            for (index_t t = 0; t < d; ++t)
                for (index_t c = 0; c < d; ++c)
                    S[static_cast<std::size_t>(j * d * d + t * d + c)] += resp[static_cast<std::size_t>(i * k + j)] * (X[static_cast<std::size_t>(i * d + t)] - mu[static_cast<std::size_t>(j * d + t)]) *
                                                                           (X[static_cast<std::size_t>(i * d + c)] - mu[static_cast<std::size_t>(j * d + c)]);
    for (index_t j = 0; j < k; ++j) p.weights[static_cast<std::size_t>(j)] = nk[static_cast<std::size_t>(j)] / total;
    p.means = mu;
    for (index_t j = 0; j < k; ++j)
        for (index_t t = 0; t < d; ++t)
            for (index_t c = 0; c < d; ++c) {
                const double s = S[static_cast<std::size_t>(j * d * d + t * d + c)];
                if (p.type == CovarianceType::full) p.covariances[static_cast<std::size_t>(j * d * d + t * d + c)] = s / nk[static_cast<std::size_t>(j)] + (t == c ? reg : 0.0);
                else if (p.type == CovarianceType::tied) {
                    if (j == 0) p.covariances[static_cast<std::size_t>(t * d + c)] = t == c ? reg : 0.0;
                    p.covariances[static_cast<std::size_t>(t * d + c)] += s / total;
                } else if (t == c && p.type == CovarianceType::diag) p.covariances[static_cast<std::size_t>(j * d + t)] = s / nk[static_cast<std::size_t>(j)] + reg;
                else if (t == c) {
                    if (t == 0) p.covariances[static_cast<std::size_t>(j)] = reg;
                    p.covariances[static_cast<std::size_t>(j)] += s / nk[static_cast<std::size_t>(j)] / static_cast<double>(d);
                }
            }
    precision_cholesky_from_covariances(p.covariances.data(), p.prec_chol.data(), p.type, k, d);
    return llh / static_cast<double>(n);
}

static MixtureParams start(const std::vector<double>& X, index_t n, index_t d, index_t k, CovarianceType type) {
    std::vector<std::int64_t> labels(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) labels[static_cast<std::size_t>(i)] = (i * 7 + i / 5) % k;
    GmmResponsibilities src;
    src.labels = labels.data();
    return gmm_params_from_responsibilities(X.data(), n, d, k, type, src, 1e-6, 1);
}

static bool same_params(const MixtureParams& a, const MixtureParams& b, double tol) {
    bool ok = a.weights.size() == b.weights.size() && a.covariances.size() == b.covariances.size();
    for (std::size_t i = 0; ok && i < a.weights.size(); ++i) ok = close(a.weights[i], b.weights[i], tol);
    for (std::size_t i = 0; ok && i < a.means.size(); ++i) ok = close(a.means[i], b.means[i], tol);
    for (std::size_t i = 0; ok && i < a.covariances.size(); ++i) ok = close(a.covariances[i], b.covariances[i], tol);
    for (std::size_t i = 0; ok && i < a.prec_chol.size(); ++i) ok = close(a.prec_chol[i], b.prec_chol[i], tol);
    return ok;
}

static void test_against_naive(CovarianceType type, double offset) {
    const index_t n = 700, d = 3, k = 3;
    const std::vector<double> X = blobs(n, d, 11, offset);
    MixtureParams ref = start(X, n, d, k, type);
    for (int it = 0; it < 5; ++it) {
        const MixtureParams before = ref;
        const double llh = naive_step(X, n, ref, 1e-6);
        const MixtureFit one = gmm_fit(X.data(), n, before, 1, 0.0, 1e-6, 1);
        CHECK(close(one.lower_bound, llh, 1e-10));
        CHECK(same_params(one.params, ref, 1e-8));
        CHECK(one.n_iter == 1 && !one.converged);
    }
}

static void test_far_start(CovarianceType type) {
    // means far from the data: the shifted statistics are recomputed about the new means
    const index_t n = 600, d = 2, k = 2;
    const std::vector<double> X = blobs(n, d, 5, 1e6);
    MixtureParams p = start(X, n, d, k, type);
    // both components 1e6 away from the data (which lies around 1e6), on either side
    for (index_t e = 0; e < k * d; ++e) p.means[static_cast<std::size_t>(e)] = e < d ? 0.0 : 2e6;
    MixtureParams ref = p;
    naive_step(X, n, ref, 1e-6);
    const MixtureFit one = gmm_fit(X.data(), n, p, 1, 0.0, 1e-6, 1);
    CHECK(same_params(one.params, ref, 1e-7));
}

static void test_threads_bit_identical(CovarianceType type) {
    const index_t n = 20000, d = 5, k = 4;
    const std::vector<double> X = blobs(n, d, 3);
    const MixtureParams p = start(X, n, d, k, type);
    const MixtureFit a = gmm_fit(X.data(), n, p, 20, 1e-12, 1e-6, 1);
    for (int threads : {2, 3, 7}) {
        const MixtureFit b = gmm_fit(X.data(), n, p, 20, 1e-12, 1e-6, threads);
        CHECK(a.params.means == b.params.means && a.params.covariances == b.params.covariances);
        CHECK(a.params.weights == b.params.weights && a.params.prec_chol == b.params.prec_chol);
        CHECK(a.lower_bound == b.lower_bound && a.n_iter == b.n_iter && a.labels == b.labels);
    }
}

static void test_float32_input() {
    const index_t n = 900, d = 4, k = 3;
    const std::vector<double> X = blobs(n, d, 9);
    std::vector<float> Xf(X.size());
    for (std::size_t i = 0; i < X.size(); ++i) Xf[i] = static_cast<float>(X[i]);
    std::vector<double> Xr(Xf.begin(), Xf.end());  // the float32 values, widened
    const MixtureParams p = start(Xr, n, d, k, CovarianceType::full);
    const MixtureFit a = gmm_fit(Xf.data(), n, p, 10, 0.0, 1e-6, 2);
    const MixtureFit b = gmm_fit(Xr.data(), n, p, 10, 0.0, 1e-6, 2);
    CHECK(a.params.means == b.params.means && a.lower_bound == b.lower_bound && a.labels == b.labels);
}

static void test_precision_factors() {
    const index_t d = 4;
    const double P[d * d] = {4, 1, 0.5, 0.2, 1, 3, 0.3, 0.1, 0.5, 0.3, 2, 0.4, 0.2, 0.1, 0.4, 1.5};
    double U[d * d];
    precision_cholesky_from_precisions(P, U, CovarianceType::tied, 1, d);
    for (index_t r = 0; r < d; ++r)
        for (index_t c = 0; c < d; ++c) {
            double v = 0.0;
            for (index_t t = 0; t < d; ++t) v += U[r * d + t] * U[c * d + t];
            CHECK(close(v, P[r * d + c], 1e-12));
            if (c < r) CHECK(U[r * d + c] == 0.0);
        }
    const double bad[4] = {1, 2, 2, 1};
    double out[4];
    CHECK_THROWS(precision_cholesky_from_precisions(bad, out, CovarianceType::full, 1, 2), std::invalid_argument);
    const double neg[2] = {1.0, -1.0};
    CHECK_THROWS(precision_cholesky_from_precisions(neg, out, CovarianceType::diag, 1, 2), std::invalid_argument);
}

static void test_degenerate() {
    // duplicate points, k = 1: the covariance is reg_covar itself; reg_covar = 0 fails cleanly
    const index_t n = 50, d = 2;
    std::vector<double> X(static_cast<std::size_t>(n * d), 3.0);
    std::vector<std::int64_t> labels(static_cast<std::size_t>(n), 0);
    GmmResponsibilities src;
    src.labels = labels.data();
    const MixtureParams p = gmm_params_from_responsibilities(X.data(), n, d, 1, CovarianceType::full, src, 1e-3, 1);
    CHECK(close(p.means[0], 3.0, 1e-14) && close(p.covariances[0], 1e-3, 1e-9) && p.covariances[1] == 0.0);
    const MixtureFit f = gmm_fit(X.data(), n, p, 10, 1e-3, 1e-3, 2);
    CHECK(f.converged && f.n_iter == 2 && close(f.params.weights[0], 1.0, 1e-14));
    CHECK_THROWS(gmm_params_from_responsibilities(X.data(), n, d, 1, CovarianceType::full, src, 0.0, 1), std::invalid_argument);
    CHECK_THROWS(gmm_params_from_responsibilities(X.data(), n, d, 1, CovarianceType::diag, src, 0.0, 1), std::invalid_argument);
}

// The E-step's exp: the four-lane form equals the scalar form bit for bit (both are
// the same operations), and both are within a few ulp of std::exp on [-708, 0]; 0 below
// -708 and at -inf, NaN stays NaN.
static void test_exp_nonpositive() {
    std::mt19937_64 gen(7);
    std::uniform_real_distribution<double> u(-760.0, 0.0);
    std::vector<double> xs = {0.0, -0.0, -1e-300, -1e-17, -0.5, -std::log(2.0) / 2, -1.0, -707.9999999, -708.0,
                              -708.0000001, -745.2, -1e300, -std::numeric_limits<double>::infinity(),
                              std::numeric_limits<double>::quiet_NaN()};
    for (int i = 0; i < 20000; ++i) xs.push_back(i % 2 ? u(gen) : -std::ldexp(u(gen) / 760.0, -(i % 60)));
    while (xs.size() % 4) xs.push_back(-3.0);
    double worst = 0.0;
    for (std::size_t i = 0; i < xs.size(); i += 4) {
#if DIFFCLUST_VECTOR_EXTENSIONS
        tiles::vec4 x, e;
        tiles::load4(xs.data() + i, x);
        detail::exp_nonpositive4(x, e);
#endif
        for (std::size_t q = 0; q < 4; ++q) {
            const double xq = xs[i + q], s = detail::exp_nonpositive(xq);
#if DIFFCLUST_VECTOR_EXTENSIONS
            CHECK(std::memcmp(&s, &e[q], sizeof s) == 0);
#endif
            if (std::isnan(xq)) {
                CHECK(std::isnan(s));
            } else if (xq < -708.0) {
                CHECK(s == 0.0);
            } else {
                const double ref = std::exp(xq);
                worst = std::max(worst, std::fabs(s - ref) / ref);
            }
        }
    }
    CHECK(worst < 8 * std::numeric_limits<double>::epsilon());
}

// The block transpose (four by four in registers for double rows) against its
// definition, XT[t * 64 + s] = x_s[t] and 0 past the rows, for d = 1..9 and 1..64 rows.
static void test_transpose_block() {
    constexpr index_t B = detail::gmm_block;
    std::mt19937_64 g(11);
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    for (index_t d = 1; d <= 9; ++d) {
        std::vector<double> X(static_cast<std::size_t>(B * d));
        for (auto& v : X) v = u(g);
        std::vector<float> Xf(X.begin(), X.end());
        for (index_t rows = 1; rows <= B; ++rows) {
            std::vector<double> XT(static_cast<std::size_t>(d * B), 7.0), XTf(XT);
            detail::transpose_block(X.data(), rows, d, XT.data());
            detail::transpose_block(Xf.data(), rows, d, XTf.data());
            bool ok = true, okf = true;
            for (index_t t = 0; t < d; ++t)
                for (index_t s = 0; s < B; ++s) {
                    const std::size_t e = static_cast<std::size_t>(t * B + s);
                    ok = ok && XT[e] == (s < rows ? X[static_cast<std::size_t>(s * d + t)] : 0.0);
                    okf = okf && XTf[e] == (s < rows ? double(Xf[static_cast<std::size_t>(s * d + t)]) : 0.0);
                }
            CHECK(ok);
            CHECK(okf);
        }
    }
}

int main() {
    test_exp_nonpositive();
    test_transpose_block();
    for (CovarianceType type : {CovarianceType::full, CovarianceType::tied, CovarianceType::diag, CovarianceType::spherical}) {
        test_against_naive(type, 0.0);
        test_against_naive(type, 50.0);
        test_far_start(type);
        test_threads_bit_identical(type);
    }
    test_float32_input();
    test_precision_factors();
    test_degenerate();
    TEST_MAIN_END();
}
