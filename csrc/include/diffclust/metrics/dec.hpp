// Deep Embedded Clustering (Xie, Girshick, Farhadi, ICML 2016): the Student-t soft
// assignment Q, the sharpened target P, the loss KL(P || Q) (summed over samples) and
// its closed-form gradients with respect to the embeddings Z and the centers mu.
//
//   q_ij = u_ij^(-(a+1)/2) / sum_j' u_ij'^(-(a+1)/2),   u_ij = 1 + ||z_i - mu_j||^2 / a
//   p_ij = (q_ij^2 / f_j) / sum_j' (q_ij'^2 / f_j'),     f_j = sum_i q_ij   (held fixed)
//   L = sum_ij p_ij log(p_ij / q_ij)
//   dL/dz_i  =  (a+1)/a sum_j (p_ij - s_i q_ij) (z_i - mu_j) / u_ij,   s_i = sum_j p_ij
//   dL/dmu_j = -(a+1)/a sum_i (p_ij - s_i q_ij) (z_i - mu_j) / u_ij
// (s_i = 1 for the DEC target; a given target may have other row sums). Everything is
// computed from log q, so far-away points neither underflow nor produce NaN.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "diffclust/core/chunked.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/core/checks.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust {

// Z (n, d), centers (k, d), target (n, k) or nullptr; grad_z (n, d), grad_centers (k, d).
inline double dec_loss(const double* Z, index_t n, index_t d, const double* centers, index_t k, double alpha,
                       const double* target, double* grad_z, double* grad_centers, int n_threads) {
    check_size(n, "n"), check_size(d, "d"), check_size(k, "k"), check_positive(alpha, "alpha");
    const std::size_t nk = static_cast<std::size_t>(n * k);
    std::vector<double> log_q(nk), u(nk);
    const double expo = (alpha + 1.0) / 2.0, scale = (alpha + 1.0) / alpha;
    const double neg_inf = -std::numeric_limits<double>::infinity();
    const Chunks ch = make_chunks(n, 256, k * d);
    const int threads = useful_threads(n_threads, static_cast<double>(n) * static_cast<double>(k) * static_cast<double>(d + 8));

    // Q in log space; per-chunk (max, sum exp) of log q_ij over i for the DEC target
    std::vector<double> col_max(static_cast<std::size_t>(ch.count * k), neg_inf), col_sum(col_max.size(), 0.0);
    parallel_for(ch.count, threads, [&](index_t c) {
        for (index_t i = ch.begin(c); i < ch.end(c); ++i) {
            if (((i - ch.begin(c)) & 63) == 63) cancellation_point();  // chunks can be long when k d is large
            const double* z = Z + i * d;
            double* lq = log_q.data() + i * k;
            double* ui = u.data() + i * k;
            double top = neg_inf;
            for (index_t j = 0; j < k; ++j) {
                const double* mu = centers + j * d;
                double s = 0.0;
                for (index_t t = 0; t < d; ++t) {
                    const double v = z[t] - mu[t];
                    s += v * v;
                }
                if (!std::isfinite(s / alpha))
                    throw std::overflow_error("the squared distance between Z[" + std::to_string(i) + "] and centers[" +
                                              std::to_string(j) + "] overflows; rescale Z and centers");
                ui[j] = 1.0 + s / alpha;
                lq[j] = -expo * std::log1p(s / alpha);
                top = std::max(top, lq[j]);
            }
            double sum = 0.0;
            for (index_t j = 0; j < k; ++j) sum += std::exp(lq[j] - top);
            const double lse = top + std::log(sum);
            for (index_t j = 0; j < k; ++j) lq[j] -= lse;
        }
        if (target) return;
        double* mx = col_max.data() + c * k;
        double* sm = col_sum.data() + c * k;
        for (index_t i = ch.begin(c); i < ch.end(c); ++i)
            for (index_t j = 0; j < k; ++j) mx[j] = std::max(mx[j], log_q[static_cast<std::size_t>(i * k + j)]);
        for (index_t i = ch.begin(c); i < ch.end(c); ++i)
            for (index_t j = 0; j < k; ++j) sm[j] += std::exp(log_q[static_cast<std::size_t>(i * k + j)] - mx[j]);
    });

    // log f_j by merging the chunks' log-sum-exps in chunk order
    std::vector<double> log_f(static_cast<std::size_t>(k), 0.0);
    if (!target) {
        for (index_t j = 0; j < k; ++j) {
            double m = neg_inf;
            for (index_t c = 0; c < ch.count; ++c) m = std::max(m, col_max[static_cast<std::size_t>(c * k + j)]);
            double s = 0.0;
            for (index_t c = 0; c < ch.count; ++c)
                s += col_sum[static_cast<std::size_t>(c * k + j)] * std::exp(col_max[static_cast<std::size_t>(c * k + j)] - m);
            log_f[static_cast<std::size_t>(j)] = m + std::log(s);
        }
    }

    std::vector<double> loss_part(static_cast<std::size_t>(ch.count), 0.0);
    std::vector<double> grad_part(static_cast<std::size_t>(ch.count * k * d), 0.0);
    parallel_for(ch.count, threads, [&](index_t c) {
        std::vector<double> log_p(static_cast<std::size_t>(k)), p(static_cast<std::size_t>(k));
        double* gm = grad_part.data() + c * k * d;
        double loss = 0.0;
        for (index_t i = ch.begin(c); i < ch.end(c); ++i) {
            if (((i - ch.begin(c)) & 63) == 63) cancellation_point();  // chunks can be long when k d is large
            const double* lq = log_q.data() + i * k;
            const double* ui = u.data() + i * k;
            const double* z = Z + i * d;
            if (target) {
                for (index_t j = 0; j < k; ++j) {
                    p[static_cast<std::size_t>(j)] = target[i * k + j];
                    log_p[static_cast<std::size_t>(j)] = std::log(target[i * k + j]);
                }
            } else {
                double top = neg_inf;
                for (index_t j = 0; j < k; ++j) {
                    log_p[static_cast<std::size_t>(j)] = 2.0 * lq[j] - log_f[static_cast<std::size_t>(j)];
                    top = std::max(top, log_p[static_cast<std::size_t>(j)]);
                }
                double sum = 0.0;
                for (index_t j = 0; j < k; ++j) sum += std::exp(log_p[static_cast<std::size_t>(j)] - top);
                const double lse = top + std::log(sum);
                for (index_t j = 0; j < k; ++j) {
                    log_p[static_cast<std::size_t>(j)] -= lse;
                    p[static_cast<std::size_t>(j)] = std::exp(log_p[static_cast<std::size_t>(j)]);
                }
            }
            double s_i = 0.0;
            for (index_t j = 0; j < k; ++j) {
                const double pj = p[static_cast<std::size_t>(j)];
                s_i += pj;
                if (pj > 0.0) loss += pj * (log_p[static_cast<std::size_t>(j)] - lq[j]);
            }
            double* gz = grad_z + i * d;
            std::fill(gz, gz + d, 0.0);
            for (index_t j = 0; j < k; ++j) {
                const double coef = scale * (p[static_cast<std::size_t>(j)] - s_i * std::exp(lq[j])) / ui[j];
                if (coef == 0.0) continue;
                const double* mu = centers + j * d;
                double* g = gm + j * d;
                for (index_t t = 0; t < d; ++t) {
                    const double v = coef * (z[t] - mu[t]);
                    gz[t] += v;
                    g[t] -= v;
                }
            }
        }
        loss_part[static_cast<std::size_t>(c)] = loss;
    });
    std::fill(grad_centers, grad_centers + k * d, 0.0);
    for (index_t c = 0; c < ch.count; ++c)
        for (index_t e = 0; e < k * d; ++e) grad_centers[e] += grad_part[static_cast<std::size_t>(c * k * d + e)];
    return pairwise_sum(loss_part);
}

}  // namespace diffclust
