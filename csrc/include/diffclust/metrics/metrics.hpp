// External and internal clustering metrics: ARI, MI, NMI from a contingency
// table, and the Davies-Bouldin index. Degenerate cases follow scikit-learn's
// conventions (documented in python/diffclust/metrics.py).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "diffclust/core/chunked.hpp"
#include "diffclust/metrics/contingency.hpp"
#include "diffclust/metrics/losses.hpp"  // detail::sq_dist_to
#include "diffclust/core/parallel.hpp"
#include "diffclust/core/simd.hpp"
#include "diffclust/core/checks.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust {

#if defined(__SIZEOF_INT128__)
__extension__ typedef __int128 wide_int;  // exact pair counts up to n ~ 4e9
#else
typedef long double wide_int;
#endif

// Pair counts: ordered pairs (i, j), i != j, in the same class and/or cluster.
struct PairConfusion {
    wide_int tn, fp, fn, tp;
};

inline PairConfusion pair_confusion(const Contingency& t) {
    const wide_int n = t.n_samples;
    wide_int sum_sq = 0, sum_rows = 0, sum_cols = 0;
    for (const index_t c : t.counts) sum_sq += wide_int(c) * c;
    for (const index_t c : t.row_sums) sum_rows += wide_int(c) * c;
    for (const index_t c : t.col_sums) sum_cols += wide_int(c) * c;
    PairConfusion p;
    p.tp = sum_sq - n;
    p.fp = sum_cols - sum_sq;
    p.fn = sum_rows - sum_sq;
    p.tn = n * n - p.fp - p.fn - sum_sq;
    return p;
}

// Hubert-Arabie adjusted Rand index; 1.0 when the two partitions agree on every pair
// (including n <= 1).
inline double adjusted_rand_index(const Contingency& t) {
    const PairConfusion p = pair_confusion(t);
    if (p.fn == 0 && p.fp == 0) return 1.0;
    const wide_int num = p.tp * p.tn - p.fn * p.fp;
    const wide_int den = (p.tp + p.fn) * (p.fn + p.tn) + (p.tp + p.fp) * (p.fp + p.tn);
    // both integers are rounded once to double, then divided: correctly rounded operands
    return 2.0 * static_cast<double>(num) / static_cast<double>(den);
}

// Mutual information (natural log) of the contingency table. 0 when either labeling
// has a single value. Terms below machine epsilon in magnitude are dropped and the sum
// is clipped at 0, as scikit-learn does.
inline double mutual_info(const Contingency& t) {
    if (t.row_sums.size() <= 1 || t.col_sums.size() <= 1) return 0.0;
    const double total = static_cast<double>(t.n_samples);
    const double log_total = std::log(total);
    const std::size_t nnz = t.counts.size();
    std::vector<double> terms(nnz);
    const double eps = std::numeric_limits<double>::epsilon();
    for (std::size_t e = 0; e < nnz; ++e) {
        const double nij = static_cast<double>(t.counts[e]);
        const double p = nij / total;
        const index_t outer = t.row_sums[static_cast<std::size_t>(t.rows[e])] * t.col_sums[static_cast<std::size_t>(t.cols[e])];
        const double log_outer = -std::log(static_cast<double>(outer)) + log_total + log_total;
        const double term = p * (std::log(nij) - log_total) + p * log_outer;
        terms[e] = std::fabs(term) < eps ? 0.0 : term;
    }
    return std::max(0.0, pairwise_sum(terms));
}

// Entropy (natural log) of a labeling given its value counts; 0 for a single value.
inline double label_entropy(const std::vector<index_t>& counts, index_t n) {
    if (counts.size() <= 1) return 0.0;
    const double total = static_cast<double>(n), log_total = std::log(total);
    std::vector<double> terms(counts.size());
    for (std::size_t i = 0; i < counts.size(); ++i) {
        const double c = static_cast<double>(counts[i]);
        terms[i] = (c / total) * (std::log(c) - log_total);
    }
    return -pairwise_sum(terms);
}

enum class AverageMethod : int { min = 0, geometric = 1, arithmetic = 2, max = 3 };

inline AverageMethod parse_average_method(const std::string& name) {
    if (name == "min") return AverageMethod::min;
    if (name == "geometric") return AverageMethod::geometric;
    if (name == "arithmetic") return AverageMethod::arithmetic;
    if (name == "max") return AverageMethod::max;
    throw std::invalid_argument("average_method must be 'min', 'geometric', 'arithmetic' or 'max'; got '" + name + "'");
}

// NMI = MI / mean(H(true), H(pred)). 1.0 when both labelings have one value (or none);
// 0.0 when the MI is 0 otherwise.
inline double normalized_mutual_info(const Contingency& t, AverageMethod method) {
    const std::size_t R = t.row_sums.size(), C = t.col_sums.size();
    if ((R == 1 && C == 1) || (R == 0 && C == 0)) return 1.0;
    const double mi = mutual_info(t);
    if (mi == 0.0) return 0.0;
    const double h_true = label_entropy(t.row_sums, t.n_samples);
    const double h_pred = label_entropy(t.col_sums, t.n_samples);
    double norm = 0.0;
    switch (method) {
        case AverageMethod::min: norm = std::min(h_true, h_pred); break;
        case AverageMethod::geometric: norm = std::sqrt(h_true * h_pred); break;
        case AverageMethod::arithmetic: norm = (h_true + h_pred) / 2.0; break;
        case AverageMethod::max: norm = std::max(h_true, h_pred); break;
    }
    return mi / norm;
}

// Davies-Bouldin index of X (n, d) under the labeling with codes (n,) in [0, k).
// Centroids are cluster means; s_c the mean Euclidean distance of cluster c's points to
// its centroid; DB = mean_c max_{c' != c} (s_c + s_c') / ||mu_c - mu_c'||.
// Returns 0 when every s_c or every centroid distance is within 1e-8 of 0; coinciding
// centroids are skipped in the max (scikit-learn's conventions).
template <class T>
double davies_bouldin(const T* X, index_t n, index_t d, const LabelCodes& codes, int n_threads) {
    check_size(d, "d");
    const index_t k = codes.size();
    if (k < 2 || k > n - 1)
        throw std::invalid_argument("labels has " + std::to_string(k) + " distinct values; Davies-Bouldin needs 2 to n - 1 = " +
                                    std::to_string(n - 1));
    const index_t* lab = codes.codes.data();
    const int threads = useful_threads(n_threads, static_cast<double>(n) * static_cast<double>(d));

    // centroids: per-chunk partial sums, reduced in chunk order
    const Chunks ch = make_chunks(n, 4096, k * d);
    std::vector<double> part(static_cast<std::size_t>(ch.count * k * d), 0.0);
    parallel_for(ch.count, threads, [&](index_t c) {
        double* acc = part.data() + c * k * d;
        for (index_t i = ch.begin(c); i < ch.end(c); ++i) {
            double* row = acc + lab[i] * d;
            const T* x = X + i * d;
            for (index_t t = 0; t < d; ++t) row[t] += static_cast<double>(x[t]);
        }
    });
    std::vector<double> centroids(static_cast<std::size_t>(k * d), 0.0);
    for (index_t c = 0; c < ch.count; ++c)
        for (index_t e = 0; e < k * d; ++e) centroids[static_cast<std::size_t>(e)] += part[static_cast<std::size_t>(c * k * d + e)];
    for (index_t j = 0; j < k; ++j)
        for (index_t t = 0; t < d; ++t)
            centroids[static_cast<std::size_t>(j * d + t)] /= static_cast<double>(codes.counts[static_cast<std::size_t>(j)]);

    // mean distance to the centroid
    const Chunks ch2 = make_chunks(n, 4096, k);
    std::vector<double> part2(static_cast<std::size_t>(ch2.count * k), 0.0);
    parallel_for(ch2.count, threads, [&](index_t c) {
        double* acc = part2.data() + c * k;
        for (index_t i = ch2.begin(c); i < ch2.end(c); ++i)
            acc[lab[i]] += std::sqrt(detail::sq_dist_to(X + i * d, centroids.data() + lab[i] * d, d));
    });
    std::vector<double> intra(static_cast<std::size_t>(k), 0.0);
    for (index_t c = 0; c < ch2.count; ++c)
        for (index_t j = 0; j < k; ++j) intra[static_cast<std::size_t>(j)] += part2[static_cast<std::size_t>(c * k + j)];
    for (index_t j = 0; j < k; ++j) intra[static_cast<std::size_t>(j)] /= static_cast<double>(codes.counts[static_cast<std::size_t>(j)]);

    const double tiny = 1e-8;
    bool all_intra_zero = true;
    for (const double s : intra) all_intra_zero = all_intra_zero && std::fabs(s) <= tiny;
    if (all_intra_zero) return 0.0;

    // per cluster, the worst ratio over the others; centroid distances are computed on the
    // fly (O(k) memory, not k x k), one cluster per task
    std::vector<double> scores(static_cast<std::size_t>(k), 0.0), farthest(static_cast<std::size_t>(k), 0.0);
    const int threads_k = useful_threads(n_threads, static_cast<double>(k) * static_cast<double>(k) * static_cast<double>(d));
    parallel_for(k, threads_k, [&](index_t a) {
        double best = 0.0, far = 0.0;
        for (index_t b = 0; b < k; ++b) {
            if (b == a) continue;
            const double dist = std::sqrt(detail::sq_dist_to(centroids.data() + a * d, centroids.data() + b * d, d));
            far = std::max(far, dist);
            if (dist == 0.0) continue;  // coinciding centroids
            best = std::max(best, (intra[static_cast<std::size_t>(a)] + intra[static_cast<std::size_t>(b)]) / dist);
        }
        scores[static_cast<std::size_t>(a)] = best;
        farthest[static_cast<std::size_t>(a)] = far;
    });
    if (*std::max_element(farthest.begin(), farthest.end()) <= tiny) return 0.0;  // all centroids within 1e-8
    return pairwise_sum(scores) / static_cast<double>(k);
}

}  // namespace diffclust
