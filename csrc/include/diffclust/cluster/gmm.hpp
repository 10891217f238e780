// Gaussian mixtures fitted by EM, as scikit-learn's GaussianMixture does it:
// full, tied, diag and spherical covariances, reg_covar on the diagonal,
// convergence when the mean log-likelihood (scikit-learn's lower bound) changes by
// less than tol.
//
// One EM iteration is one pass over X in fixed row chunks: the E-step of a block of
// 64 rows (metrics/losses.hpp: Mahalanobis distances through the precision Cholesky
// factor, then log-sum-exp) gives the responsibilities r_ij, which are folded at once
// into the chunk's sufficient statistics, taken about a shift s_j (the means of the
// E-step): n_j = sum_i r_ij, m_j = sum_i r_ij (x_i - s_j), S_j = sum_i r_ij (x_i -
// s_j)(x_i - s_j)^T. The chunks' statistics are added in chunk order, so every
// result is bit-identical for any thread count. The M-step then gives
//   mu_j = s_j n_j / N_j + m_j / N_j                 (N_j = n_j + 10 eps, as scikit-learn)
//   Sigma_j = (S_j - m_j D^T - D m_j^T + n_j D D^T) / N_j + reg I,  D = mu_j - s_j,
// the exact centred scatter. When D is large against the spread (the first steps from
// a poor start) the subtraction could cancel: the pass is then repeated about the new
// means (D = 0), so the covariance is always a centred sum.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "diffclust/core/chunked.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/core/simd.hpp"
#include "diffclust/core/tiles.hpp"
#include "diffclust/core/types.hpp"
#include "diffclust/metrics/losses.hpp"

namespace diffclust {

// Number of values in a covariance (or precision Cholesky) array of each type.
inline index_t gmm_covariance_size(CovarianceType type, index_t k, index_t d) {
    switch (type) {
        case CovarianceType::full: return k * d * d;
        case CovarianceType::tied: return d * d;
        case CovarianceType::diag: return k * d;
        default: return k;
    }
}

inline const char* gmm_ill_defined_message() {
    return "Fitting the mixture model failed because some components have ill-defined empirical covariance "
           "(for instance caused by singleton or collapsed samples). Try to decrease the number of components, "
           "increase reg_covar, or scale the input data.";
}

// scikit-learn's precisions_cholesky_ from covariances: full/tied U = (L^-1)^T (upper
// triangular) with L L^T = Sigma; diag/spherical 1 / sqrt(var). Throws
// std::invalid_argument (the message above) if a covariance is not positive definite.
inline void precision_cholesky_from_covariances(const double* cov, double* pc, CovarianceType type, index_t k,
                                                index_t d) {
    const index_t size = gmm_covariance_size(type, k, d);
    std::copy(cov, cov + size, pc);
    if (type == CovarianceType::full || type == CovarianceType::tied) {
        const index_t m = type == CovarianceType::full ? k : 1;
        for (index_t j = 0; j < m; ++j) {
            double* L = pc + j * d * d;
            if (!cholesky_lower(L, d)) throw std::invalid_argument(gmm_ill_defined_message());
            invert_lower_transposed(L, d);
        }
    } else {
        for (index_t i = 0; i < size; ++i) {
            if (!(cov[i] > 0.0) || !std::isfinite(cov[i])) throw std::invalid_argument(gmm_ill_defined_message());
            pc[i] = 1.0 / std::sqrt(cov[i]);
        }
    }
}

// Upper-triangular factors U with U U^T = P from precision matrices P (the
// `precisions_init` of scikit-learn): the Cholesky factor of J P J (J reverses the
// order of the axes), turned back. diag/spherical: sqrt(P). Throws
// std::invalid_argument naming precisions_init[j] if one is not positive definite.
inline void precision_cholesky_from_precisions(const double* P, double* pc, CovarianceType type, index_t k,
                                               index_t d) {
    if (type == CovarianceType::full || type == CovarianceType::tied) {
        const index_t m = type == CovarianceType::full ? k : 1;
        std::vector<double> A(static_cast<std::size_t>(d * d));
        for (index_t j = 0; j < m; ++j) {
            const double* Pj = P + j * d * d;
            for (index_t r = 0; r < d; ++r)
                for (index_t c = 0; c < d; ++c) A[static_cast<std::size_t>(r * d + c)] = Pj[(d - 1 - r) * d + (d - 1 - c)];
            if (!cholesky_lower(A.data(), d))
                throw std::invalid_argument("precisions_init" +
                                            (type == CovarianceType::full ? "[" + std::to_string(j) + "]" : std::string()) +
                                            " is not symmetric positive definite");
            double* U = pc + j * d * d;
            for (index_t r = 0; r < d; ++r)
                for (index_t c = 0; c < d; ++c) U[r * d + c] = A[static_cast<std::size_t>((d - 1 - r) * d + (d - 1 - c))];
        }
    } else {
        const index_t size = gmm_covariance_size(type, k, d);
        for (index_t i = 0; i < size; ++i) {
            if (!(P[i] > 0.0) || !std::isfinite(P[i]))
                throw std::invalid_argument("precisions_init[" + std::to_string(i) + "] must be positive, got " +
                                            std::to_string(P[i]));
            pc[i] = std::sqrt(P[i]);
        }
    }
}

// The parameters of a fitted (or starting) mixture, in scikit-learn's layout.
struct MixtureParams {
    index_t k = 0, d = 0;
    CovarianceType type = CovarianceType::full;
    std::vector<double> weights;      // (k,)
    std::vector<double> means;        // (k, d)
    std::vector<double> covariances;  // gmm_covariance_size
    std::vector<double> prec_chol;    // same size

    GaussianMixture mixture() const {
        return make_gaussian_mixture_from_precision_cholesky(weights.data(), means.data(), prec_chol.data(), k, d, type);
    }
};

namespace detail {

// Sufficient statistics of one chunk about the shifts s_j: n (k), m (k, d), and the
// scatter S: full (k, d, d) upper triangle, tied (d, d) upper triangle summed over j,
// diag and spherical (k, d) diagonals.
struct GmmStatLayout {
    index_t k, d, scatter;
    GmmStatLayout(CovarianceType type, index_t k_, index_t d_) : k(k_), d(d_) {
        scatter = type == CovarianceType::full ? k * d * d : type == CovarianceType::tied ? d * d : k * d;
    }
    index_t size() const { return k + k * d + scatter + 1; }  // + 1: the log-likelihood sum
};

// sum_{i <= 13} r^i / i! by Estrin's scheme: pairs c_2i + c_2i+1 r, then pairs of
// those with r^2, r^4 and r^8 (a chain of 8 operations where Horner's rule had 26:
// the E-step's loop over the exponentials waited on it). V is double or a vector of
// doubles (passed by reference: a 32-byte vector by value changes the ABI without
// AVX); the operations are the same for both, so the same values.
template <class V>
DIFFCLUST_ALWAYS_INLINE void exp_poly(const V& r, V& out) {
    const V r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    const V q0 = r + 1.0, q1 = r * (1.0 / 6.0) + 0.5, q2 = r * (1.0 / 120.0) + 1.0 / 24.0;
    const V q3 = r * (1.0 / 5040.0) + 1.0 / 720.0, q4 = r * (1.0 / 362880.0) + 1.0 / 40320.0;
    const V q5 = r * (1.0 / 39916800.0) + 1.0 / 3628800.0, q6 = r * (1.0 / 6227020800.0) + 1.0 / 479001600.0;
    const V s0 = q1 * r2 + q0, s1 = q3 * r2 + q2, s2 = q5 * r2 + q4;
    const V u0 = s1 * r4 + s0, u1 = q6 * r4 + s2;
    out = u1 * r8 + u0;
}

// exp(x) for x <= 0 or -inf, free of branches so that loops over it vectorise: x = m ln 2
// + r with |r| <= ln(2)/2 (Cody-Waite), exp(r) by its Taylor polynomial of degree 13
// (exp_poly; truncation below 1e-17), times 2^m built in the exponent bits; 0 below
// -708 (where exp(x) < 3.3e-308). Within a few ulp of std::exp, and the same value on
// every instruction set (no fused multiply-adds: the build uses -ffp-contract=off).
static inline double exp_nonpositive(double x) {
    const double xc = x < -708.0 ? -708.0 : x;
    constexpr double magic = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer
    const double kd = xc * 1.4426950408889634 + magic;
    const double m = kd - magic;
    const double r = (xc - m * 6.93147180369123816490e-01) - m * 1.90821492927058770002e-10;
    double p;
    exp_poly(r, p);
    std::uint64_t bits;
    std::memcpy(&bits, &kd, sizeof bits);
    const std::uint64_t e = (bits - 0x4338000000000000ULL + 1023ULL) << 52;  // 2^m, m in [-1022, 0]
    double scale;
    std::memcpy(&scale, &e, sizeof scale);
    return x < -708.0 ? 0.0 : p * scale;
}

#if DIFFCLUST_VECTOR_EXTENSIONS
// exp_nonpositive on four lanes, the same operations lane by lane (so the same values).
// GCC leaves the scalar form's loop scalar: under -ftrapping-math (the default) it does
// not turn its two comparisons into selects; here they are vector selects.
DIFFCLUST_ALWAYS_INLINE void exp_nonpositive4(const tiles::vec4& x, tiles::vec4& out) {
    using tiles::vec4;
    using tiles::vec4i;
    const vec4 lim = {-708.0, -708.0, -708.0, -708.0}, zero = {};
    const vec4i low = x < lim;  // a mask: all bits set where true
    const vec4 xc = low ? lim : x;
    const vec4 kd = xc * 1.4426950408889634 + 6755399441055744.0;
    const vec4 m = kd - 6755399441055744.0;
    const vec4 r = (xc - m * 6.93147180369123816490e-01) - m * 1.90821492927058770002e-10;
    vec4 p;
    exp_poly(r, p);
    vec4i bits;
    std::memcpy(&bits, &kd, sizeof bits);
    const vec4i e = (bits - 0x4338000000000000LL + 1023LL) << 52;
    vec4 scale;
    std::memcpy(&scale, &e, sizeof scale);
    const vec4 y = p * scale;
    out = low ? zero : y;
}
#endif

constexpr index_t lanes = 8;

// sum_s a[s] (64 values) in 8 interleaved partial sums, combined pairwise.
static inline double lane_sum(const double* DIFFCLUST_RESTRICT a) {
    double acc[lanes] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    for (index_t s0 = 0; s0 < gmm_block; s0 += lanes)
        for (index_t l = 0; l < lanes; ++l) acc[l] += a[s0 + l];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// sum_s a[s] b[s] (64 values), the same way.
static inline double lane_dot(const double* DIFFCLUST_RESTRICT a, const double* DIFFCLUST_RESTRICT b) {
    double acc[lanes] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    for (index_t s0 = 0; s0 < gmm_block; s0 += lanes)
        for (index_t l = 0; l < lanes; ++l) acc[l] += a[s0 + l] * b[s0 + l];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// out[q] += sum_s a[s] b_q[s] for the four columns b_q = b + q * 64, each the way of lane_dot.
static inline void lane_dot4(const double* DIFFCLUST_RESTRICT a, const double* DIFFCLUST_RESTRICT b,
                             double* DIFFCLUST_RESTRICT out) {
    constexpr index_t B = gmm_block;
#if DIFFCLUST_VECTOR_EXTENSIONS
    // the eight lanes of each column as two named vectors: held in registers (an array
    // acc[4][8] here was zeroed through memory and two of its rows spilled to the stack,
    // a store-to-load chain per step: about half of the full-covariance scatter's time)
    using tiles::vec4;
    vec4 lo0 = {}, hi0 = {}, lo1 = {}, hi1 = {}, lo2 = {}, hi2 = {}, lo3 = {}, hi3 = {};
    for (index_t s0 = 0; s0 < B; s0 += lanes) {
        vec4 a0, a1, b0, b1;
        tiles::load4(a + s0, a0), tiles::load4(a + s0 + 4, a1);
        tiles::load4(b + s0, b0), tiles::load4(b + s0 + 4, b1);
        lo0 += a0 * b0, hi0 += a1 * b1;
        tiles::load4(b + B + s0, b0), tiles::load4(b + B + s0 + 4, b1);
        lo1 += a0 * b0, hi1 += a1 * b1;
        tiles::load4(b + 2 * B + s0, b0), tiles::load4(b + 2 * B + s0 + 4, b1);
        lo2 += a0 * b0, hi2 += a1 * b1;
        tiles::load4(b + 3 * B + s0, b0), tiles::load4(b + 3 * B + s0 + 4, b1);
        lo3 += a0 * b0, hi3 += a1 * b1;
    }
    // ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7)) of the four columns at once, by
    // shuffles: the same additions of the same values as one column at a time
    const vec4 lo[4] = {lo0, lo1, lo2, lo3}, hi[4] = {hi0, hi1, hi2, hi3};
    for (index_t q = 0; q < 4; ++q)
        out[q] += ((lo[q][0] + lo[q][1]) + (lo[q][2] + lo[q][3])) + ((hi[q][0] + hi[q][1]) + (hi[q][2] + hi[q][3]));
#else
    double acc[4][lanes] = {};
    for (index_t s0 = 0; s0 < B; s0 += lanes)
        for (index_t q = 0; q < 4; ++q)
            for (index_t l = 0; l < lanes; ++l) acc[q][l] += a[s0 + l] * b[q * B + s0 + l];
    for (index_t q = 0; q < 4; ++q) {
        const double* x = acc[q];
        out[q] += ((x[0] + x[1]) + (x[2] + x[3])) + ((x[4] + x[5]) + (x[6] + x[7]));
    }
#endif
}

// Adds a block to the statistics `st` about `shift`: XT (d x 64) the transposed block,
// r (k x 64) its responsibilities (0 in the lanes past its rows); diffT and wdT are
// d x 64 scratch.
static DIFFCLUST_TARGET_CLONES void block_stats(const double* DIFFCLUST_RESTRICT XT, index_t d, index_t k, int type,
                                                const double* DIFFCLUST_RESTRICT r,
                                                const double* DIFFCLUST_RESTRICT shift, bool scatter,
                                                double* DIFFCLUST_RESTRICT st, double* DIFFCLUST_RESTRICT diffT,
                                                double* DIFFCLUST_RESTRICT wdT) {
    constexpr index_t B = gmm_block;
    double* nk = st;
    double* m1 = nk + k;
    double* S = m1 + k * d;
    const bool square = type == static_cast<int>(CovarianceType::full) || type == static_cast<int>(CovarianceType::tied);
    const bool tied = type == static_cast<int>(CovarianceType::tied);
    for (index_t j = 0; j < k; ++j) {
        const double* DIFFCLUST_RESTRICT w = r + j * B;
        nk[j] += lane_sum(w);
        const double* sj = shift + j * d;
        if (!square) {  // in registers: sum_s w (x - s_j) and sum_s w (x - s_j)^2 per coordinate
            double* Sj = S + j * d;
            // four coordinates at a time in vector registers (each coordinate's sums
            // in the same order as one at a time: lane l over s0 ascending)
            index_t t = 0;
#if DIFFCLUST_VECTOR_EXTENSIONS
            using tiles::vec4;
            for (; t + 4 <= d; t += 4) {
                vec4 a1[4][2] = {}, a2[4][2] = {};
                for (index_t s0 = 0; s0 < B; s0 += lanes) {
                    vec4 w0, w1;
                    tiles::load4(w + s0, w0), tiles::load4(w + s0 + 4, w1);
#pragma GCC unroll 4
                    for (index_t q = 0; q < 4; ++q) {
                        const double m = sj[t + q];
                        const double* DIFFCLUST_RESTRICT xt = XT + (t + q) * B + s0;
                        vec4 x0, x1;
                        tiles::load4(xt, x0), tiles::load4(xt + 4, x1);
                        const vec4 v0 = x0 - m, v1 = x1 - m;
                        const vec4 wv0 = w0 * v0, wv1 = w1 * v1;
                        a1[q][0] += wv0, a1[q][1] += wv1;
                        a2[q][0] += wv0 * v0, a2[q][1] += wv1 * v1;
                    }
                }
                for (index_t q = 0; q < 4; ++q) {
                    const vec4 *b1 = a1[q], *b2 = a2[q];
                    m1[j * d + t + q] += ((b1[0][0] + b1[0][1]) + (b1[0][2] + b1[0][3])) +
                                         ((b1[1][0] + b1[1][1]) + (b1[1][2] + b1[1][3]));
                    if (scatter)
                        Sj[t + q] += ((b2[0][0] + b2[0][1]) + (b2[0][2] + b2[0][3])) +
                                     ((b2[1][0] + b2[1][1]) + (b2[1][2] + b2[1][3]));
                }
            }
#endif
            for (; t < d; ++t) {
                const double m = sj[t];
                const double* DIFFCLUST_RESTRICT xt = XT + t * B;
                double a1[lanes] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
                double a2[lanes] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
                for (index_t s0 = 0; s0 < B; s0 += lanes)
                    for (index_t l = 0; l < lanes; ++l) {
                        const double v = xt[s0 + l] - m;
                        const double wv = w[s0 + l] * v;
                        a1[l] += wv;
                        a2[l] += wv * v;
                    }
                m1[j * d + t] += ((a1[0] + a1[1]) + (a1[2] + a1[3])) + ((a1[4] + a1[5]) + (a1[6] + a1[7]));
                if (scatter) Sj[t] += ((a2[0] + a2[1]) + (a2[2] + a2[3])) + ((a2[4] + a2[5]) + (a2[6] + a2[7]));
            }
            continue;
        }
        for (index_t t = 0; t < d; ++t) {
            const double m = sj[t];
            for (index_t s = 0; s < B; ++s) {
                const double v = XT[t * B + s] - m;
                diffT[t * B + s] = v;
                wdT[t * B + s] = w[s] * v;
            }
        }
        for (index_t t = 0; t < d; ++t) m1[j * d + t] += lane_sum(wdT + t * B);
        if (!scatter) continue;
        {
            double* Sj = tied ? S : S + j * d * d;
            for (index_t t = 0; t < d; ++t) {
                index_t c = t;
                for (; c + 4 <= d; c += 4) lane_dot4(wdT + t * B, diffT + c * B, Sj + t * d + c);
                for (; c < d; ++c) Sj[t * d + c] += lane_dot(wdT + t * B, diffT + c * B);
            }
        }
    }
}

// E-step of a block: logp (k x 64) becomes the responsibilities (0 in the lanes past
// `rows`); returns the sum of log p(x_s) over the rows. `work` holds 2 * 64 doubles.
// Throws std::overflow_error if no component has a finite density at a sample (squared
// distances overflowing float64).
static DIFFCLUST_TARGET_CLONES double block_responsibilities(double* DIFFCLUST_RESTRICT logp, index_t rows, index_t k,
                                                             double* DIFFCLUST_RESTRICT work) {
    constexpr index_t B = gmm_block;
    const double neg_inf = -std::numeric_limits<double>::infinity();
    double* top = work;
    double* sum = work + B;
    for (index_t s = 0; s < B; ++s) top[s] = neg_inf, sum[s] = 0.0;
    for (index_t j = 0; j < k; ++j)
        for (index_t s = 0; s < B; ++s) top[s] = logp[j * B + s] > top[s] ? logp[j * B + s] : top[s];
    bool overflow = false;
    for (index_t s = 0; s < rows; ++s) overflow = overflow || top[s] == neg_inf;
    if (overflow)
        throw std::overflow_error("the Mahalanobis distance of a sample to every component overflows float64; "
                                  "scale the input data");
#if DIFFCLUST_VECTOR_EXTENSIONS
    for (index_t j = 0; j < k; ++j)
        for (index_t s = 0; s < B; s += 4) {
            tiles::vec4 x, t, e, acc;
            tiles::load4(logp + j * B + s, x), tiles::load4(top + s, t), tiles::load4(sum + s, acc);
            exp_nonpositive4(x - t, e);
            acc += e;
            std::memcpy(logp + j * B + s, &e, sizeof e);
            std::memcpy(sum + s, &acc, sizeof acc);
        }
#else
    for (index_t j = 0; j < k; ++j)
        for (index_t s = 0; s < B; ++s) {
            const double e = exp_nonpositive(logp[j * B + s] - top[s]);
            logp[j * B + s] = e;
            sum[s] += e;
        }
#endif
    double total = 0.0;
    for (index_t s = 0; s < rows; ++s) total += top[s] + std::log(sum[s]);
    for (index_t s = 0; s < B; ++s) sum[s] = s < rows ? 1.0 / sum[s] : 0.0;
    for (index_t j = 0; j < k; ++j)
        for (index_t s = 0; s < B; ++s) logp[j * B + s] *= sum[s];
    for (index_t j = 0; j < k; ++j)
        for (index_t s = rows; s < B; ++s) logp[j * B + s] = 0.0;  // even where the padding was not finite
    return total;
}

}  // namespace detail

// Where the responsibilities of an accumulation pass come from: the E-step of a
// mixture `g`, or given responsibilities (dense (n, k) `resp`, or hard `labels` with
// -1 for a row that belongs to no component).
struct GmmResponsibilities {
    const GaussianMixture* g = nullptr;
    const double* resp = nullptr;
    const std::int64_t* labels = nullptr;
};

// Statistics of X about `shift` (k, d), summed over fixed chunks in chunk order; the
// last entry is the sum of log p(x_i) (E-step source only).
template <class T>
std::vector<double> gmm_accumulate(const T* X, index_t n, index_t d, index_t k, CovarianceType type,
                                   const GmmResponsibilities& src, const double* shift, bool scatter, int n_threads) {
    constexpr index_t B = detail::gmm_block;
    const detail::GmmStatLayout lay(type, k, d);
    const index_t stat = lay.size();
    const double per_sample = static_cast<double>(k) * static_cast<double>(d) *
                              (type == CovarianceType::full || type == CovarianceType::tied ? 2.0 * static_cast<double>(d) : 3.0);
    const int threads = useful_threads(n_threads, static_cast<double>(n) * per_sample);
    const Chunks ch = make_chunks(n, 16 * B, stat, index_t(1) << 24);
    std::vector<double> partial(static_cast<std::size_t>(ch.count * stat), 0.0);
    // scratch: XT, diffT (d x B each), maha (B) | r (k x B) | wdT (d x B) | work (2 B)
    const std::size_t per_thread = static_cast<std::size_t>((3 * d + k + 3) * B);
    std::vector<std::vector<double>> scratch(static_cast<std::size_t>(std::max(1, threads)));
    parallel_for_tid(ch.count, threads, [&](index_t c, int tid) {
        std::vector<double>& buf = scratch[static_cast<std::size_t>(tid)];
        if (buf.empty()) buf.resize(per_thread);
        double* XT = buf.data();
        double* diffT = XT + d * B;
        double* r = buf.data() + (2 * d + 1) * B;
        double* wdT = r + k * B;
        double* work = wdT + d * B;
        double* st = partial.data() + c * stat;
        double llh = 0.0;
        for (index_t i0 = ch.begin(c); i0 < ch.end(c); i0 += B) {
            const index_t rows = std::min(B, ch.end(c) - i0);
            if (src.g) {
                const index_t next = std::min(B, ch.end(c) - i0 - rows);
                gmm_block_log_prob(*src.g, X + i0 * d, rows, r, buf.data(), X + (i0 + rows) * d, next);
                llh += detail::block_responsibilities(r, rows, k, work);
            } else {
                detail::transpose_block(X + i0 * d, rows, d, XT);
                for (index_t j = 0; j < k; ++j)
                    for (index_t s = 0; s < B; ++s)
                        r[j * B + s] = s >= rows ? 0.0
                                       : src.resp ? src.resp[(i0 + s) * k + j]
                                                  : (src.labels[i0 + s] == j ? 1.0 : 0.0);
            }
            detail::block_stats(XT, d, k, static_cast<int>(type), r, shift, scatter, st, diffT, wdT);
        }
        st[stat - 1] = llh;
    });
    std::vector<double> total(static_cast<std::size_t>(stat), 0.0);
    for (index_t c = 0; c < ch.count; ++c)
        for (index_t e = 0; e < stat; ++e) total[static_cast<std::size_t>(e)] += partial[static_cast<std::size_t>(c * stat + e)];
    return total;
}

namespace detail {

// N_j = n_j + 10 eps (scikit-learn's guard against empty components).
inline double guarded_count(double nk) { return nk + 10.0 * std::numeric_limits<double>::epsilon(); }

// Covariances about `means` from the statistics `st` about `shift` (see the header),
// reg on the diagonal. Returns false if the shift was so far from the means that the
// correction may have cancelled (the caller then accumulates again about the means).
inline bool gmm_covariances(const std::vector<double>& st, const double* shift, const double* means, index_t k,
                            index_t d, CovarianceType type, double reg, double* cov) {
    const double* nk = st.data();
    const double* m1 = nk + k;
    const double* S = m1 + k * d;
    const bool square = type == CovarianceType::full || type == CovarianceType::tied;
    double total = 0.0;
    for (index_t j = 0; j < k; ++j) total += guarded_count(nk[j]);
    std::vector<double> D(static_cast<std::size_t>(k * d));
    for (index_t e = 0; e < k * d; ++e) D[static_cast<std::size_t>(e)] = means[e] - shift[e];
    // exact unless some |D_t|^2 is large against the variance it is subtracted from
    auto far = [&](index_t j, index_t t, double var) {
        const double Dt = D[static_cast<std::size_t>(j * d + t)];
        return Dt * Dt > 1e3 * std::max(var, 1e-300);
    };
    bool exact = true;
    if (type == CovarianceType::tied) std::fill(cov, cov + d * d, 0.0);
    for (index_t j = 0; j < k; ++j) {
        const double N = guarded_count(nk[j]);
        const double* mj = m1 + j * d;
        const double* Dj = D.data() + j * d;
        if (square) {
            const bool tied = type == CovarianceType::tied;
            double* Cj = tied ? cov : cov + j * d * d;
            const double* Sj = tied ? S : S + j * d * d;
            for (index_t t = 0; t < d; ++t)
                for (index_t c = t; c < d; ++c) {
                    const double corr = -mj[t] * Dj[c] - Dj[t] * mj[c] + nk[j] * Dj[t] * Dj[c];
                    if (tied) Cj[t * d + c] += corr;  // S is summed over j already; the corrections are per j
                    else Cj[t * d + c] = (Sj[t * d + c] + corr) / N;
                }
            if (!tied)
                for (index_t t = 0; t < d; ++t) exact = exact && !far(j, t, Cj[t * d + t]);
        } else {
            const double* Sj = S + j * d;
            double sum = 0.0;
            for (index_t t = 0; t < d; ++t) {
                const double v = (Sj[t] - 2.0 * mj[t] * Dj[t] + nk[j] * Dj[t] * Dj[t]) / N;
                exact = exact && !far(j, t, v);
                if (type == CovarianceType::diag) cov[j * d + t] = v + reg;
                else sum += v;
            }
            if (type == CovarianceType::spherical) cov[j] = sum / static_cast<double>(d) + reg;
        }
    }
    if (square) {
        const index_t m = type == CovarianceType::full ? k : 1;
        if (type == CovarianceType::tied) {
            for (index_t t = 0; t < d; ++t)
                for (index_t c = t; c < d; ++c) cov[t * d + c] = (S[t * d + c] + cov[t * d + c]) / total;
            for (index_t j = 0; j < k; ++j)
                for (index_t t = 0; t < d; ++t) exact = exact && !far(j, t, cov[t * d + t]);
        }
        for (index_t j = 0; j < m; ++j) {
            double* Cj = cov + j * d * d;
            for (index_t t = 0; t < d; ++t) {
                Cj[t * d + t] += reg;
                for (index_t c = 0; c < t; ++c) Cj[t * d + c] = Cj[c * d + t];
            }
        }
    }
    return exact;
}

}  // namespace detail

// Weights, means and covariances from the statistics about `shift` (the M-step); a
// second pass about the new means when the shift was far (see the header).
template <class T>
void gmm_m_step(const T* X, index_t n, const std::vector<double>& st, const GmmResponsibilities& src,
                const double* shift, double reg, int n_threads, MixtureParams& p) {
    const index_t k = p.k, d = p.d;
    const double* nk = st.data();
    const double* m1 = nk + k;
    std::vector<double> means(static_cast<std::size_t>(k * d));
    double total = 0.0;
    for (index_t j = 0; j < k; ++j) total += detail::guarded_count(nk[j]);
    for (index_t j = 0; j < k; ++j) {
        const double N = detail::guarded_count(nk[j]);
        p.weights[static_cast<std::size_t>(j)] = N / total;
        for (index_t t = 0; t < d; ++t)
            means[static_cast<std::size_t>(j * d + t)] = shift[j * d + t] * (nk[j] / N) + m1[j * d + t] / N;
    }
    if (!detail::gmm_covariances(st, shift, means.data(), k, d, p.type, reg, p.covariances.data())) {
        const std::vector<double> again = gmm_accumulate(X, n, d, k, p.type, src, means.data(), true, n_threads);
        detail::gmm_covariances(again, means.data(), means.data(), k, d, p.type, reg, p.covariances.data());
    }
    p.means = std::move(means);
    precision_cholesky_from_covariances(p.covariances.data(), p.prec_chol.data(), p.type, k, d);
}

// The parameters whose responsibilities are `src.resp` (n, k) or `src.labels` (n,):
// scikit-learn's initialisation (_initialize: means first, then the centred scatter).
template <class T>
MixtureParams gmm_params_from_responsibilities(const T* X, index_t n, index_t d, index_t k, CovarianceType type,
                                               const GmmResponsibilities& src, double reg, int n_threads) {
    check_size(n, "n"), check_size(d, "d"), check_size(k, "k");
    MixtureParams p;
    p.k = k, p.d = d, p.type = type;
    p.weights.assign(static_cast<std::size_t>(k), 0.0);
    p.covariances.assign(static_cast<std::size_t>(gmm_covariance_size(type, k, d)), 0.0);
    p.prec_chol = p.covariances;
    const std::vector<double> zero(static_cast<std::size_t>(k * d), 0.0);
    const std::vector<double> first = gmm_accumulate(X, n, d, k, type, src, zero.data(), false, n_threads);
    std::vector<double> means(static_cast<std::size_t>(k * d));
    for (index_t j = 0; j < k; ++j)
        for (index_t t = 0; t < d; ++t)
            means[static_cast<std::size_t>(j * d + t)] = first[static_cast<std::size_t>(k + j * d + t)] /
                                                         detail::guarded_count(first[static_cast<std::size_t>(j)]);
    const std::vector<double> st = gmm_accumulate(X, n, d, k, type, src, means.data(), true, n_threads);
    gmm_m_step(X, n, st, src, means.data(), reg, n_threads, p);
    return p;
}

// The E-step alone: labels (argmax_j of log w_j N(x; mu_j, Sigma_j)), log p(x_i)
// (n,) and responsibilities (n, k), each only if its pointer is non-null.
template <class T>
void gmm_predict(const T* X, index_t n, const MixtureParams& p, std::int64_t* labels, double* log_prob, double* resp,
                 int n_threads) {
    constexpr index_t B = detail::gmm_block;
    const index_t d = p.d, k = p.k;
    const GaussianMixture g = p.mixture();
    const double per_sample = static_cast<double>(k) * static_cast<double>(d) *
                              (p.type == CovarianceType::full || p.type == CovarianceType::tied ? static_cast<double>(d) : 1.0);
    const int threads = useful_threads(n_threads, static_cast<double>(n) * per_sample);
    const Chunks ch = make_chunks(n, 16 * B);
    const double neg_inf = -std::numeric_limits<double>::infinity();
    std::vector<std::vector<double>> scratch(static_cast<std::size_t>(std::max(1, threads)));
    parallel_for_tid(ch.count, threads, [&](index_t c, int tid) {
        std::vector<double>& buf = scratch[static_cast<std::size_t>(tid)];
        if (buf.empty()) buf.resize(static_cast<std::size_t>((2 * d + k + 1) * B));
        double* lp = buf.data() + (2 * d + 1) * B;
        for (index_t i0 = ch.begin(c); i0 < ch.end(c); i0 += B) {
            const index_t rows = std::min(B, ch.end(c) - i0);
            const index_t next = std::min(B, ch.end(c) - i0 - rows);
            gmm_block_log_prob(g, X + i0 * d, rows, lp, buf.data(), X + (i0 + rows) * d, next);
            for (index_t s = 0; s < rows; ++s) {
                double top = neg_inf;
                index_t arg = 0;
                for (index_t j = 0; j < k; ++j)
                    if (lp[j * B + s] > top) top = lp[j * B + s], arg = j;
                if (labels) labels[i0 + s] = arg;
                if (!log_prob && !resp) continue;
                double sum = 0.0;
                if (top != neg_inf)
                    for (index_t j = 0; j < k; ++j) sum += std::exp(lp[j * B + s] - top);
                const double lse = top == neg_inf ? neg_inf : top + std::log(sum);
                if (log_prob) log_prob[i0 + s] = lse;
                if (resp)
                    for (index_t j = 0; j < k; ++j)
                        resp[(i0 + s) * k + j] = top == neg_inf ? (j == 0 ? 1.0 : 0.0) : std::exp(lp[j * B + s] - lse);
            }
        }
    });
}

struct MixtureFit {
    MixtureParams params;
    std::vector<std::int64_t> labels;  // (n,): argmax of the final E-step
    double lower_bound = -std::numeric_limits<double>::infinity();  // mean log-likelihood before the last M-step
    index_t n_iter = 0;
    bool converged = false;
    std::vector<double> lower_bounds;  // the mean log-likelihood of every iteration (scikit-learn's lower_bounds_)
    std::vector<double> seconds;       // the wall time of every iteration (verbose output only)
};

// EM from the parameters `p` (weights, means, prec_chol; covariances are replaced by
// the first M-step), at most max_iter iterations; stops once the mean log-likelihood
// changes by less than tol (from `initial_lower_bound` at the first iteration: -inf,
// or the previous fit's bound for a warm start). Then one more E-step gives the labels.
template <class T>
MixtureFit gmm_fit(const T* X, index_t n, MixtureParams p, index_t max_iter, double tol, double reg, int n_threads,
                   double initial_lower_bound = -std::numeric_limits<double>::infinity()) {
    check_size(n, "n");
    MixtureFit fit;
    double lower = initial_lower_bound;
    for (index_t it = 1; it <= max_iter; ++it) {
        const auto start = std::chrono::steady_clock::now();
        const double prev = lower;
        const GaussianMixture g = p.mixture();
        GmmResponsibilities src;
        src.g = &g;
        const std::vector<double> shift = p.means;
        const std::vector<double> st = gmm_accumulate(X, n, p.d, p.k, p.type, src, shift.data(), true, n_threads);
        lower = st.back() / static_cast<double>(n);
        gmm_m_step(X, n, st, src, shift.data(), reg, n_threads, p);
        fit.n_iter = it;
        fit.lower_bounds.push_back(lower);
        fit.seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        if (std::abs(lower - prev) < tol) {
            fit.converged = true;
            break;
        }
    }
    fit.lower_bound = lower;
    fit.labels.assign(static_cast<std::size_t>(n), 0);
    gmm_predict(X, n, p, fit.labels.data(), nullptr, nullptr, n_threads);
    fit.params = std::move(p);
    return fit;
}

}  // namespace diffclust
