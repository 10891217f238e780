// Losses of a fitted clustering model: the k-means loss (inertia) and the
// negative log-likelihood of a Gaussian mixture (Cholesky + log-sum-exp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "diffclust/core/chunked.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/core/simd.hpp"
#include "diffclust/core/checks.hpp"
#include "diffclust/core/tiles.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust {

namespace detail {

template <class T>
static DIFFCLUST_TARGET_CLONES double sq_dist_to(const T* DIFFCLUST_RESTRICT x, const double* DIFFCLUST_RESTRICT c,
                                                 index_t d) {
    double s = 0.0;
    for (index_t t = 0; t < d; ++t) {
        const double v = static_cast<double>(x[t]) - c[t];
        s += v * v;
    }
    return s;
}

constexpr index_t kmeans_block = 64;  // samples evaluated together, stored transposed (d x block)

// best[s] = min_j ||x_s - c_j||^2 for the `rows` samples of a block given transposed
// (XT is d x kmeans_block). The innermost loop runs over the samples, so it vectorises
// whatever d and k are, while each distance is still summed over t in order.
static DIFFCLUST_TARGET_CLONES void block_nearest(const double* DIFFCLUST_RESTRICT XT, index_t rows, index_t d,
                                                  const double* DIFFCLUST_RESTRICT centers, index_t k,
                                                  double* DIFFCLUST_RESTRICT acc, double* DIFFCLUST_RESTRICT best) {
    constexpr index_t B = kmeans_block;
    for (index_t s = 0; s < rows; ++s) best[s] = std::numeric_limits<double>::infinity();
    for (index_t j = 0; j < k; ++j) {
        const double* DIFFCLUST_RESTRICT c = centers + j * d;
        for (index_t s = 0; s < rows; ++s) acc[s] = 0.0;
        for (index_t t = 0; t < d; ++t) {
            const double ct = c[t];
            const double* DIFFCLUST_RESTRICT xt = XT + t * B;
            for (index_t s = 0; s < rows; ++s) {
                const double v = xt[s] - ct;
                acc[s] += v * v;
            }
        }
        for (index_t s = 0; s < rows; ++s) best[s] = std::min(best[s], acc[s]);
    }
}

}  // namespace detail

// sum_i ||x_i - c_{l_i}||^2 with l_i = labels[i] when labels is given, else the nearest
// center. X (n, d); centers (k, d) row-major.
template <class T>
double kmeans_loss(const T* X, index_t n, index_t d, const double* centers, index_t k, const std::int64_t* labels,
                   int n_threads) {
    check_size(n, "n", 0), check_size(d, "d"), check_size(k, "k");
    if (labels) {
        for (index_t i = 0; i < n; ++i)
            if (labels[i] < 0 || labels[i] >= k)
                throw std::out_of_range("labels[" + std::to_string(i) + "] = " + std::to_string(labels[i]) +
                                        " is outside [0, k) = [0, " + std::to_string(k) + ")");
    }
    const int threads = useful_threads(n_threads, static_cast<double>(n) * static_cast<double>(d) *
                                                      static_cast<double>(labels ? 1 : k));
    if (labels)
        return chunked_sum(n, threads, 2048, [&](index_t i) { return detail::sq_dist_to(X + i * d, centers + labels[i] * d, d); });
    constexpr index_t B = detail::kmeans_block;
    const Chunks ch = make_chunks(n, 32 * B);
    std::vector<double> partial(static_cast<std::size_t>(ch.count), 0.0);
    std::vector<std::vector<double>> scratch(static_cast<std::size_t>(threads));
    parallel_for_tid(ch.count, threads, [&](index_t c, int tid) {
        std::vector<double>& buf = scratch[static_cast<std::size_t>(tid)];
        if (buf.empty()) buf.resize(static_cast<std::size_t>((d + 2) * B));
        double* XT = buf.data();
        double* acc = XT + d * B;
        double* best = acc + B;
        double s = 0.0;
        for (index_t i0 = ch.begin(c); i0 < ch.end(c); i0 += B) {
            const index_t rows = std::min(B, ch.end(c) - i0);
            for (index_t r = 0; r < rows; ++r)
                for (index_t t = 0; t < d; ++t) XT[t * B + r] = static_cast<double>(X[(i0 + r) * d + t]);
            detail::block_nearest(XT, rows, d, centers, k, acc, best);
            for (index_t r = 0; r < rows; ++r) s += best[r];
        }
        partial[static_cast<std::size_t>(c)] = s;
    });
    return pairwise_sum(partial);
}

enum class CovarianceType : int { full = 0, tied = 1, diag = 2, spherical = 3 };

inline CovarianceType parse_covariance_type(const std::string& name) {
    if (name == "full") return CovarianceType::full;
    if (name == "tied") return CovarianceType::tied;
    if (name == "diag") return CovarianceType::diag;
    if (name == "spherical") return CovarianceType::spherical;
    throw std::invalid_argument("covariance_type must be 'full', 'tied', 'diag' or 'spherical'; got '" + name + "'");
}

// In-place lower Cholesky factor of the symmetric matrix A (d x d, lower triangle read).
// Returns false if A is not positive definite.
inline bool cholesky_lower(double* A, index_t d) {
    for (index_t j = 0; j < d; ++j) {
        double s = A[j * d + j];
        for (index_t t = 0; t < j; ++t) s -= A[j * d + t] * A[j * d + t];
        if (!(s > 0.0) || !std::isfinite(s)) return false;
        const double ljj = std::sqrt(s);
        A[j * d + j] = ljj;
        for (index_t i = j + 1; i < d; ++i) {
            double v = A[i * d + j];
            for (index_t t = 0; t < j; ++t) v -= A[i * d + t] * A[j * d + t];
            A[i * d + j] = v / ljj;
        }
        for (index_t i = 0; i < j; ++i) A[i * d + j] = 0.0;
    }
    return true;
}

// Replaces the lower triangular L (d x d) by U = (L^-1)^T, upper triangular: then
// ||L^-1 (x - mu)||^2 = ||(x - mu)^T U||^2, a product free of the dependency chain of
// forward substitution (scikit-learn's "precision Cholesky" form).
inline void invert_lower_transposed(double* L, index_t d) {
    std::vector<double> inv(static_cast<std::size_t>(d * d), 0.0);  // L^-1, lower triangular
    for (index_t c = 0; c < d; ++c) {  // column c of L^-1 solves L x = e_c
        for (index_t r = c; r < d; ++r) {
            double v = r == c ? 1.0 : 0.0;
            for (index_t t = c; t < r; ++t) v -= L[r * d + t] * inv[static_cast<std::size_t>(t * d + c)];
            inv[static_cast<std::size_t>(r * d + c)] = v / L[r * d + r];
        }
    }
    for (index_t t = 0; t < d; ++t)
        for (index_t c = 0; c < d; ++c) L[t * d + c] = inv[static_cast<std::size_t>(c * d + t)];
}

// A Gaussian mixture ready for evaluation: log weights, means, and per component the
// lower Cholesky factor of its covariance (full/tied) or its diagonal variances.
struct GaussianMixture {
    index_t k = 0, d = 0;
    CovarianceType type = CovarianceType::full;
    std::vector<double> log_weights;  // (k,), -inf for zero weights
    std::vector<double> means;        // (k, d)
    std::vector<double> factors;      // full (k, d, d) / tied (d, d): (L^-1)^T; diag (k, d) / spherical (k,): precisions 1 / var
    std::vector<double> log_norm;     // (k,): log w - (d log(2 pi) + log det) / 2
};

namespace detail {

// log_weights and log_norm = log w - (d log(2 pi) + log det Sigma) / 2 from the weights.
inline void set_log_norms(GaussianMixture& g, const double* weights, const double* log_det) {
    const double log_2pi = std::log(2.0 * 3.14159265358979323846);
    g.log_weights.resize(static_cast<std::size_t>(g.k));
    g.log_norm.resize(static_cast<std::size_t>(g.k));
    for (index_t j = 0; j < g.k; ++j) {
        const double w = weights[j];
        g.log_weights[static_cast<std::size_t>(j)] = w > 0.0 ? std::log(w) : -std::numeric_limits<double>::infinity();
        g.log_norm[static_cast<std::size_t>(j)] =
            g.log_weights[static_cast<std::size_t>(j)] - 0.5 * (static_cast<double>(g.d) * log_2pi + log_det[j]);
    }
}

}  // namespace detail

// covariances as scikit-learn parametrises them: full (k, d, d), tied (d, d), diag (k, d),
// spherical (k,). Throws std::invalid_argument naming the component that is not positive definite.
inline GaussianMixture make_gaussian_mixture(const double* weights, const double* means, const double* covariances,
                                             index_t k, index_t d, CovarianceType type) {
    check_size(k, "k"), check_size(d, "d");
    GaussianMixture g;
    g.k = k;
    g.d = d;
    g.type = type;
    g.means.assign(means, means + k * d);
    std::vector<double> log_det(static_cast<std::size_t>(k), 0.0);
    auto fail = [](const std::string& which) {
        throw std::invalid_argument("covariances" + which + " is not symmetric positive definite");
    };
    if (type == CovarianceType::full || type == CovarianceType::tied) {
        const index_t m = type == CovarianceType::full ? k : 1;
        g.factors.assign(covariances, covariances + m * d * d);
        for (index_t j = 0; j < m; ++j) {
            double* L = g.factors.data() + j * d * d;
            if (!cholesky_lower(L, d)) fail(type == CovarianceType::full ? "[" + std::to_string(j) + "]" : "");
            double ld = 0.0;
            for (index_t t = 0; t < d; ++t) ld += 2.0 * std::log(L[t * d + t]);
            invert_lower_transposed(L, d);
            for (index_t c = 0; c < k; ++c)
                if (type == CovarianceType::tied || c == j) log_det[static_cast<std::size_t>(c)] = ld;
        }
    } else {
        const index_t per = type == CovarianceType::diag ? d : 1;
        g.factors.assign(covariances, covariances + k * per);
        for (index_t j = 0; j < k; ++j) {
            double ld = 0.0;
            for (index_t t = 0; t < per; ++t) {
                const double v = g.factors[static_cast<std::size_t>(j * per + t)];
                if (!(v > 0.0) || !std::isfinite(v))
                    throw std::invalid_argument("covariances[" + std::to_string(j) + "]" +
                                                (per > 1 ? "[" + std::to_string(t) + "]" : "") +
                                                " must be a positive variance, got " + std::to_string(v));
                ld += std::log(v);
                g.factors[static_cast<std::size_t>(j * per + t)] = 1.0 / v;
            }
            log_det[static_cast<std::size_t>(j)] = per == 1 ? static_cast<double>(d) * ld : ld;
        }
    }
    detail::set_log_norms(g, weights, log_det.data());
    return g;
}

// The same mixture from scikit-learn's `precisions_cholesky_` (the factors W with
// W W^T = Sigma^-1): full (k, d, d) / tied (d, d) upper triangular (as the EM
// M-step and precision_cholesky_from_precisions produce them), diag (k, d) /
// spherical (k,) square roots of precisions. No check: the caller made them.
inline GaussianMixture make_gaussian_mixture_from_precision_cholesky(const double* weights, const double* means,
                                                                     const double* prec_chol, index_t k, index_t d,
                                                                     CovarianceType type) {
    check_size(k, "k"), check_size(d, "d");
    GaussianMixture g;
    g.k = k;
    g.d = d;
    g.type = type;
    g.means.assign(means, means + k * d);
    std::vector<double> log_det(static_cast<std::size_t>(k), 0.0);  // log det Sigma = -2 sum log W_tt
    if (type == CovarianceType::full || type == CovarianceType::tied) {
        const index_t m = type == CovarianceType::full ? k : 1;
        g.factors.assign(prec_chol, prec_chol + m * d * d);
        for (index_t j = 0; j < m; ++j) {
            double ld = 0.0;
            for (index_t t = 0; t < d; ++t) ld -= 2.0 * std::log(prec_chol[j * d * d + t * d + t]);
            for (index_t c = 0; c < k; ++c)
                if (type == CovarianceType::tied || c == j) log_det[static_cast<std::size_t>(c)] = ld;
        }
    } else {
        const index_t per = type == CovarianceType::diag ? d : 1;
        g.factors.resize(static_cast<std::size_t>(k * per));
        for (index_t j = 0; j < k; ++j) {
            double ld = 0.0;
            for (index_t t = 0; t < per; ++t) {
                const double pc = prec_chol[j * per + t];
                g.factors[static_cast<std::size_t>(j * per + t)] = pc * pc;
                ld -= 2.0 * std::log(pc);
            }
            log_det[static_cast<std::size_t>(j)] = per == 1 ? static_cast<double>(d) * ld : ld;
        }
    }
    detail::set_log_norms(g, weights, log_det.data());
    return g;
}

namespace detail {

constexpr index_t gmm_block = 64;  // samples evaluated together, stored transposed (d x block)

// maha[s] = squared Mahalanobis distance of sample s of the block to component (mu, factor),
// for all 64 lanes of XT (d x block), the transposed block (lanes past its rows must hold
// finite values). full/tied: diffT (d x block) = (x_s - mu)^T, then ||(x - mu)^T U||^2
// with U = (L^-1)^T upper triangular, each y_c = sum_{t<=c} U_tc (x_t - mu_t) kept in
// registers for 8 samples at a time; diag/spherical: sum_t (x_t - mu_t)^2 * precision_t,
// in registers (diffT unused). Every sum runs over t (then c) in order, so the value of
// a sample does not depend on the instruction set.
static DIFFCLUST_TARGET_CLONES void block_mahalanobis(const double* DIFFCLUST_RESTRICT XT,
                                                      const double* DIFFCLUST_RESTRICT mu, index_t d, int type,
                                                      const double* DIFFCLUST_RESTRICT factor,
                                                      double* DIFFCLUST_RESTRICT diffT,
                                                      double* DIFFCLUST_RESTRICT maha) {
    constexpr index_t B = gmm_block;
    constexpr index_t L = 32;  // four independent vector chains of AVX-512 (eight of AVX2)
    if (type == static_cast<int>(CovarianceType::full) || type == static_cast<int>(CovarianceType::tied)) {
        for (index_t t = 0; t < d; ++t) {
            const double m = mu[t];
            for (index_t s = 0; s < B; ++s) diffT[t * B + s] = XT[t * B + s] - m;
        }
        for (index_t s0 = 0; s0 < B; s0 += L) {
#if DIFFCLUST_VECTOR_EXTENSIONS
            // the lanes in vector registers, unrolled (arrays of doubles here were zeroed
            // through memory for every c: a quarter of this function's time)
            using tiles::vec4;
            vec4 m[L / 4] = {};
            for (index_t c = 0; c < d; ++c) {
                vec4 acc[L / 4] = {};
                for (index_t t = 0; t <= c; ++t) {
                    const double u = factor[t * d + c];
                    const double* DIFFCLUST_RESTRICT dt = diffT + t * B + s0;
#pragma GCC unroll 8
                    for (index_t q = 0; q < L / 4; ++q) {
                        vec4 x;
                        tiles::load4(dt + 4 * q, x);
                        acc[q] += u * x;
                    }
                }
#pragma GCC unroll 8
                for (index_t q = 0; q < L / 4; ++q) m[q] += acc[q] * acc[q];
            }
            std::memcpy(maha + s0, m, sizeof m);
#else
            double m[L] = {};
            for (index_t c = 0; c < d; ++c) {
                double acc[L] = {};
                for (index_t t = 0; t <= c; ++t) {
                    const double u = factor[t * d + c];
                    const double* DIFFCLUST_RESTRICT dt = diffT + t * B + s0;
                    for (index_t l = 0; l < L; ++l) acc[l] += u * dt[l];
                }
                for (index_t l = 0; l < L; ++l) m[l] += acc[l] * acc[l];
            }
            for (index_t l = 0; l < L; ++l) maha[s0 + l] = m[l];
#endif
        }
    } else {
        const index_t step = type == static_cast<int>(CovarianceType::diag) ? 1 : 0;  // precisions 1 / var
        for (index_t s0 = 0; s0 < B; s0 += L) {  // L lanes: independent chains, at the adder's throughput
#if DIFFCLUST_VECTOR_EXTENSIONS
            using tiles::vec4;
            vec4 m[L / 4] = {};
            for (index_t t = 0; t < d; ++t) {
                const double inv = factor[t * step];
                const double mt = mu[t];
                const double* DIFFCLUST_RESTRICT xt = XT + t * B + s0;
#pragma GCC unroll 8
                for (index_t q = 0; q < L / 4; ++q) {
                    vec4 x;
                    tiles::load4(xt + 4 * q, x);
                    const vec4 v = x - mt;
                    m[q] += v * v * inv;
                }
            }
            std::memcpy(maha + s0, m, sizeof m);
#else
            double m[L] = {};
            for (index_t t = 0; t < d; ++t) {
                const double inv = factor[t * step];
                const double mt = mu[t];
                const double* DIFFCLUST_RESTRICT xt = XT + t * B + s0;
                for (index_t l = 0; l < L; ++l) {
                    const double v = xt[l] - mt;
                    m[l] += v * v * inv;
                }
            }
            for (index_t l = 0; l < L; ++l) maha[s0 + l] = m[l];
#endif
        }
    }
}

// The first rows4 (a multiple of 4) rows of X (double) into XT (d x 64), four rows by
// four features transposed in registers (element by element, the same values: a
// loop of single stores took a tenth of a diagonal EM iteration); the rest of the
// features (d % 4) one by one.
[[maybe_unused]] static DIFFCLUST_TARGET_CLONES void transpose_rows4(const double* DIFFCLUST_RESTRICT X,
                                                                    index_t rows4, index_t d,
                                                                    double* DIFFCLUST_RESTRICT XT) {
    constexpr index_t B = gmm_block;
    const index_t d4 = d / 4 * 4;
    for (index_t s = 0; s < rows4; s += 4) {
        const double* r0 = X + s * d;
#if DIFFCLUST_VECTOR_EXTENSIONS
        using tiles::vec4;
        for (index_t t = 0; t < d4; t += 4) {
            vec4 a, b, c, e, x0, x1, x2, x3;
            tiles::load4(r0 + t, a), tiles::load4(r0 + d + t, b);
            tiles::load4(r0 + 2 * d + t, c), tiles::load4(r0 + 3 * d + t, e);
            tiles::transpose4(a, b, c, e, x0, x1, x2, x3);
            double* o = XT + t * B + s;
            std::memcpy(o, &x0, sizeof x0);
            std::memcpy(o + B, &x1, sizeof x1);
            std::memcpy(o + 2 * B, &x2, sizeof x2);
            std::memcpy(o + 3 * B, &x3, sizeof x3);
        }
#else
        for (index_t w = 0; w < 4; ++w)
            for (index_t t = 0; t < d4; ++t) XT[t * B + s + w] = r0[w * d + t];
#endif
        for (index_t w = 0; w < 4; ++w)
            for (index_t t = d4; t < d; ++t) XT[t * B + s + w] = r0[w * d + t];
    }
}

// XT (d x 64) = the block's `rows` samples of X, transposed and widened to double;
// lanes past `rows` are 0.
template <class T>
void transpose_block(const T* X, index_t rows, index_t d, double* XT) {
    constexpr index_t B = gmm_block;
    index_t s0 = 0;
    if constexpr (std::is_same_v<T, double>) {
        s0 = rows / 4 * 4;
        transpose_rows4(X, s0, d, XT);
    }
    for (index_t s = s0; s < rows; ++s)
        for (index_t t = 0; t < d; ++t) XT[t * B + s] = static_cast<double>(X[s * d + t]);
    for (index_t t = 0; t < d; ++t)
        for (index_t s = rows; s < B; ++s) XT[t * B + s] = 0.0;
}

}  // namespace detail

// logp (k x 64) = log(w_j N(x_s; mu_j, Sigma_j)) for the `rows` (<= 64) samples starting
// at X (lanes past `rows` hold values of no meaning); -inf for a component of weight 0.
// `scratch` holds (2 d + 1) * 64 doubles and keeps the transposed block XT (d x 64) in
// its first d * 64. The `next_rows` rows at `next` (the caller's next block) are
// prefetched meanwhile, a share per component (the hardware prefetchers stop at page
// boundaries: without it a diagonal EM iteration waited 4% longer on its rows).
template <class T>
void gmm_block_log_prob(const GaussianMixture& g, const T* X, index_t rows, double* logp, double* scratch,
                        const T* next = nullptr, index_t next_rows = 0) {
    constexpr index_t B = detail::gmm_block;
    const index_t d = g.d, k = g.k;
    const double neg_inf = -std::numeric_limits<double>::infinity();
    double* XT = scratch;
    double* diffT = XT + d * B;
    double* maha = diffT + d * B;
    detail::transpose_block(X, rows, d, XT);
    const char* ahead = reinterpret_cast<const char*>(next);
    const index_t lines = next ? (next_rows * d * static_cast<index_t>(sizeof(T)) + 63) / 64 : 0;
    const index_t per = (lines + k - 1) / k;
    for (index_t j = 0; j < k; ++j) {
        for (index_t q = j * per; q < std::min(lines, (j + 1) * per); ++q) __builtin_prefetch(ahead + 64 * q, 0, 2);
        double* lp = logp + j * B;
        if (g.log_weights[static_cast<std::size_t>(j)] == neg_inf) {  // a component of weight 0
            for (index_t s = 0; s < B; ++s) lp[s] = neg_inf;
            continue;
        }
        const double* factor = g.factors.data() + (g.type == CovarianceType::full   ? j * d * d
                                                   : g.type == CovarianceType::tied ? 0
                                                   : g.type == CovarianceType::diag ? j * d
                                                                                     : j);
        detail::block_mahalanobis(XT, g.means.data() + j * d, d, static_cast<int>(g.type), factor, diffT, maha);
        const double norm = g.log_norm[static_cast<std::size_t>(j)];
        for (index_t s = 0; s < B; ++s) lp[s] = norm - 0.5 * maha[s];
    }
}

// -log p(x_s) for the `rows` (<= 64) samples starting at X into out; `scratch` holds
// (2 d + k + 1) * 64 doubles.
template <class T>
void gmm_block_nll(const GaussianMixture& g, const T* X, index_t rows, double* out, double* scratch) {
    constexpr index_t B = detail::gmm_block;
    const index_t d = g.d, k = g.k;
    const double neg_inf = -std::numeric_limits<double>::infinity();
    double* logp = scratch + (2 * d + 1) * B;  // (k, B)
    gmm_block_log_prob(g, X, rows, logp, scratch);
    for (index_t s = 0; s < rows; ++s) {
        double top = neg_inf;
        for (index_t j = 0; j < k; ++j) top = std::max(top, logp[j * B + s]);
        if (top == neg_inf) {  // the squared distances overflowed: zero density everywhere
            out[s] = std::numeric_limits<double>::infinity();
            continue;
        }
        double sum = 0.0;
        for (index_t j = 0; j < k; ++j) sum += std::exp(logp[j * B + s] - top);
        out[s] = -(top + std::log(sum));
    }
}

// Mean of -log p(x_i) over the rows of X (n, d); per-sample values into `samples` if non-null.
template <class T>
double gmm_nll(const GaussianMixture& g, const T* X, index_t n, double* samples, int n_threads) {
    constexpr index_t B = detail::gmm_block;
    const index_t d = g.d, k = g.k;
    const double per_sample = static_cast<double>(k) * static_cast<double>(d) *
                              (g.type == CovarianceType::full || g.type == CovarianceType::tied ? static_cast<double>(d) : 1.0);
    const int threads = useful_threads(n_threads, static_cast<double>(n) * per_sample);
    const Chunks ch = make_chunks(n, 16 * B);
    std::vector<double> partial(static_cast<std::size_t>(ch.count), 0.0);
    const std::size_t per_thread = static_cast<std::size_t>((2 * d + k + 2) * B);
    std::vector<std::vector<double>> scratch(static_cast<std::size_t>(std::max(1, threads)));
    parallel_for_tid(ch.count, threads, [&](index_t c, int tid) {
        std::vector<double>& buf = scratch[static_cast<std::size_t>(tid)];
        if (buf.empty()) buf.resize(per_thread);
        double* out = buf.data() + (2 * d + k + 1) * B;
        double s = 0.0;
        for (index_t i0 = ch.begin(c); i0 < ch.end(c); i0 += B) {
            const index_t rows = std::min(B, ch.end(c) - i0);
            gmm_block_nll(g, X + i0 * d, rows, out, buf.data());
            for (index_t r = 0; r < rows; ++r) {
                if (samples) samples[i0 + r] = out[r];
                s += out[r];
            }
        }
        partial[static_cast<std::size_t>(c)] = s;
    });
    return pairwise_sum(partial) / static_cast<double>(n);
}

}  // namespace diffclust
