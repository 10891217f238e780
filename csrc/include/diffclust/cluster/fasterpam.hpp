// FasterPAM swaps (E. Schubert, P. J. Rousseeuw, "Fast and eager k-medoids clustering:
// O(k) runtime improvement of the PAM, CLARA, and CLARANS algorithms",
// Information Systems 101, 2021).
//
// D is (n, n), row-major; the distance between point o and medoid (or
// candidate) m is read from m's row, D[m, o]. The loss is sum_o D[m_{z_o}, o].
//
// FasterPAM keeps, for every point, its nearest and second-nearest medoid and
// their distances, and for every medoid the removal loss (how much the loss
// grows if that medoid alone is removed). Swapping candidate x_c in for medoid
// i then costs O(n) for all i at once. Swaps are eager: candidates are taken in
// the order 0, 1, ..., n - 1, cyclically, and the best swap for a candidate is
// made as soon as it lowers the loss; the search stops once n candidates in a
// row (or max_iter passes) bring no improvement.
//
// Threads evaluate a batch of upcoming candidates against the current state at
// once; the batch is then scanned in candidate order, and everything after the
// first improving candidate is thrown away and re-evaluated after its swap. So
// every swap is exactly the one the serial algorithm makes, for any number of
// threads.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "diffclust/core/cancel.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/core/simd.hpp"
#include "diffclust/core/tiles.hpp"
#include "diffclust/core/types.hpp"
#include "diffclust/cluster/medoid_assignment.hpp"

namespace diffclust {

namespace detail {

// Best swap for candidate c (row = D[c]): the change of loss and the medoid
// position to give up, from the grouped assignment of compute_removal.
//
// For medoid i, delta_i = removal_i + sum over i's points o of
//   d_near - d_second   if d < d_near   (o moves to c anyway; losing i costs it nothing)
//   d - d_second        if d_near <= d < d_second (o goes to c, not to its second, if i leaves)
// and every point with d < d_near gains d - d_near whichever medoid leaves
// (`shared`). With the points grouped by nearest medoid, each delta_i is a plain
// sum over a contiguous run: vector lanes, no scatter.
template <class T>
DIFFCLUST_ALWAYS_INLINE void evaluate_grouped(const T* DIFFCLUST_RESTRICT row, index_t n, index_t k,
                                              const Assignment& a, double* change, index_t* best) {
    const index_t* order = a.order.data();
    const double* gn = a.g_near.data();
    const double* gs = a.g_second.data();
    if (k == 1) {  // everyone moves to c
        *change = tiles::lane_sum(n, [row, order, gn](index_t p) {
            return static_cast<double>(row[order[p]]) - gn[p];
        });
        *best = 0;
        return;
    }
    double shared_tail = 0.0, best_delta = 0.0;
    index_t best_i = -1;
#if DIFFCLUST_VECTOR_EXTENSIONS
    using tiles::vec4;
    const vec4 zero = {0.0, 0.0, 0.0, 0.0};
    vec4 shared = zero;
#else
    double shared = 0.0;
#endif
    for (index_t i = 0; i < k; ++i) {
        index_t p = a.group[static_cast<std::size_t>(i)];
        const index_t end = a.group[static_cast<std::size_t>(i + 1)];
        double tail = 0.0;
#if DIFFCLUST_VECTOR_EXTENSIONS
        vec4 acc = zero;
        for (; p + 4 <= end; p += 4) {
            const vec4 d = {static_cast<double>(row[order[p]]), static_cast<double>(row[order[p + 1]]),
                            static_cast<double>(row[order[p + 2]]), static_cast<double>(row[order[p + 3]])};
            vec4 dn, ds;
            tiles::load4(gn + p, dn);
            tiles::load4(gs + p, ds);
            const auto closer = d < dn, within = d < ds;
            shared += closer ? d - dn : zero;
            acc += within ? (closer ? dn - ds : d - ds) : zero;
        }
        const double lanes = (acc[0] + acc[2]) + (acc[1] + acc[3]);
#else
        const double lanes = 0.0;
#endif
        for (; p < end; ++p) {
            const double d = static_cast<double>(row[order[p]]);
            if (d < gn[p]) {
                shared_tail += d - gn[p];
                tail += gn[p] - gs[p];
            } else if (d < gs[p]) {
                tail += d - gs[p];
            }
        }
        const double delta = a.removal[static_cast<std::size_t>(i)] + (lanes + tail);
        if (best_i < 0 || delta < best_delta) {
            best_i = i;
            best_delta = delta;
        }
    }
#if DIFFCLUST_VECTOR_EXTENSIONS
    const double shared_sum = ((shared[0] + shared[2]) + (shared[1] + shared[3])) + shared_tail;
#else
    const double shared_sum = shared + shared_tail;
#endif
    *change = best_delta + shared_sum;
    *best = best_i;
}
// The same, in point order, for many medoids (small groups): most points are
// farther from c than from their second-nearest medoid and contribute nothing,
// so eight at a time are screened with vector compares; a group of eight with a
// hit is visited point by point, adding to delta[near[o]]. `delta`: k doubles.
template <class T>
DIFFCLUST_ALWAYS_INLINE void evaluate_screened(const T* DIFFCLUST_RESTRICT row, index_t n, index_t k,
                                               const Assignment& a, double* DIFFCLUST_RESTRICT delta, double* change,
                                               index_t* best) {
    const index_t* near = a.near.data();
    const double* dn = a.d_near.data();
    const double* ds = a.d_second.data();
    for (index_t i = 0; i < k; ++i) delta[i] = a.removal[static_cast<std::size_t>(i)];
    double shared = 0.0;
    auto visit = [&](index_t o) {
        const double d = static_cast<double>(row[o]);
        if (d < ds[o]) {
            if (d < dn[o]) {
                shared += d - dn[o];
                delta[near[o]] += dn[o] - ds[o];
            } else {
                delta[near[o]] += d - ds[o];
            }
        }
    };
    index_t o = 0;
#if DIFFCLUST_VECTOR_EXTENSIONS
    for (; o + 8 <= n; o += 8) {
        tiles::vec4 r0, r1, s0, s1;
        tiles::load4(row + o, r0);
        tiles::load4(row + o + 4, r1);
        tiles::load4(ds + o, s0);
        tiles::load4(ds + o + 4, s1);
        const tiles::vec4i hit = (r0 < s0) | (r1 < s1);
        if (!(hit[0] | hit[1] | hit[2] | hit[3])) continue;
        for (index_t l = o; l < o + 8; ++l) visit(l);
    }
#endif
    for (; o < n; ++o) visit(o);
    index_t b = 0;
    for (index_t i = 1; i < k; ++i)
        if (delta[i] < delta[b]) b = i;
    *change = delta[b] + shared;
    *best = b;
}

// Below this many medoids the grouped evaluation is faster, from it on the
// screened one (measured at n = 5000: k = 10 grouped 2x faster, k = 100 screened
// 2x faster). Both are exact up to rounding and depend only on the input and k.
constexpr index_t screened_min_k = 32;

template <class T>
DIFFCLUST_ALWAYS_INLINE void evaluate_swap_impl(const T* row, index_t n, index_t k, const Assignment& a,
                                                double* delta, double* change, index_t* best) {
    if (k >= screened_min_k)
        evaluate_screened(row, n, k, a, delta, change, best);
    else
        evaluate_grouped(row, n, k, a, change, best);
}
[[maybe_unused]] static DIFFCLUST_TARGET_CLONES void evaluate_swap(const double* row, index_t n, index_t k,
                                                                   const Assignment& a, double* delta, double* change,
                                                                   index_t* best) {
    evaluate_swap_impl(row, n, k, a, delta, change, best);
}
[[maybe_unused]] static DIFFCLUST_TARGET_CLONES void evaluate_swap(const float* row, index_t n, index_t k,
                                                                   const Assignment& a, double* delta, double* change,
                                                                   index_t* best) {
    evaluate_swap_impl(row, n, k, a, delta, change, best);
}


}  // namespace detail

struct KMedoidsOut {
    index_t* medoids;  // (k,) in: the initial medoids (distinct); out: the final ones
    index_t* labels;   // (n,) position in `medoids` of each point's nearest medoid (ties: first)
    double loss;
    index_t n_iter;   // passes over the candidates
    index_t n_swaps;
};

// FasterPAM from the medoids in out.medoids.
template <class T>
void fasterpam(const T* D, index_t n, index_t k, index_t max_iter, int n_threads, KMedoidsOut& out) {
    if (k < 1 || k > n) throw std::invalid_argument("k must be in [1, n]");
    index_t* medoids = out.medoids;
    std::vector<char> is_medoid(static_cast<std::size_t>(n), 0);
    for (index_t i = 0; i < k; ++i) {
        if (medoids[i] < 0 || medoids[i] >= n) throw std::out_of_range("medoid index out of range");
        if (is_medoid[static_cast<std::size_t>(medoids[i])]) throw std::invalid_argument("medoids must be distinct");
        is_medoid[static_cast<std::size_t>(medoids[i])] = 1;
    }
    const int threads = static_cast<double>(n) * static_cast<double>(n) < 1.0e6 ? 1 : std::max(1, n_threads);
    // tid < min(threads, the pool's largest team): per-thread scratch for that many
    const int team_size = std::min(threads, ThreadPool::max_workers + 1);

    detail::Assignment a;
    a.near.resize(static_cast<std::size_t>(n));
    a.second.resize(static_cast<std::size_t>(n));
    a.d_near.resize(static_cast<std::size_t>(n));
    a.d_second.resize(static_cast<std::size_t>(n));
    const index_t chunks = tiles::ceil_div(n, detail::point_chunk);
    auto assign_all = [&]() {
        parallel_for_tid(chunks, team_size, [&](index_t t, int) {
            const index_t o1 = std::min(n, (t + 1) * detail::point_chunk);
            for (index_t o = t * detail::point_chunk; o < o1; ++o) detail::assign_point(D, n, medoids, k, o, a);
        });
    };
    assign_all();
    detail::compute_removal(n, k, a);

    // Swap medoid position i for point c, then bring the assignment up to date.
    auto swap_in = [&](index_t i, index_t c) {
        is_medoid[static_cast<std::size_t>(medoids[i])] = 0;
        is_medoid[static_cast<std::size_t>(c)] = 1;
        medoids[i] = c;
        const T* row = D + c * n;
        parallel_for_tid(chunks, team_size, [&](index_t t, int) {
            const index_t o1 = std::min(n, (t + 1) * detail::point_chunk);
            for (index_t o = t * detail::point_chunk; o < o1; ++o) {
                const std::size_t s = static_cast<std::size_t>(o);
                if (a.near[s] == i || a.second[s] == i) {
                    detail::assign_point(D, n, medoids, k, o, a);
                    continue;
                }
                const double v = static_cast<double>(row[o]);
                if (v < a.d_near[s]) {
                    a.second[s] = a.near[s];
                    a.d_second[s] = a.d_near[s];
                    a.near[s] = i;
                    a.d_near[s] = v;
                } else if (v < a.d_second[s]) {
                    a.second[s] = i;
                    a.d_second[s] = v;
                }
            }
        });
        detail::compute_removal(n, k, a);
    };

    // Candidates are evaluated in batches against the current state. A batch
    // doubles after each batch without a swap (swaps get rare as the search
    // converges) and shrinks back after a swap, which discards the rest of it.
    constexpr index_t publish_at_once_n = 1024;  // points: below, an item may be too short to share
    const index_t min_batch = team_size == 1 ? 1 : 2 * static_cast<index_t>(team_size);
    const index_t max_batch = team_size == 1 ? 1 : 64 * static_cast<index_t>(team_size);
    index_t batch = min_batch;
    std::vector<double> change(static_cast<std::size_t>(max_batch));
    std::vector<index_t> best(static_cast<std::size_t>(max_batch));
    std::vector<std::vector<double>> delta(static_cast<std::size_t>(team_size),
                                           std::vector<double>(static_cast<std::size_t>(k)));
    index_t last_swap = -1, n_iter = 0, n_swaps = 0;
    bool converged = false;
    while (!converged && n_iter < max_iter) {
        ++n_iter;
        const index_t swaps_before = n_swaps;
        index_t c = 0;
        while (c < n) {
            if (c == last_swap) {  // n candidates in a row without improvement
                converged = true;
                break;
            }
            // The batch never runs past last_swap, where the search would stop.
            const index_t stop = last_swap > c ? std::min(last_swap, c + batch) : std::min(n, c + batch);
            const index_t len = stop - c;
            const index_t c0 = c;
            // Each item is a pass over the n points (microseconds): the batch is
            // published at once instead of after the pool's adaptive serial head,
            // which would keep the short batches after a swap on one thread.
            parallel_for_tid(len, team_size, [&](index_t b, int tid) {
                const index_t cand = c0 + b;
                const std::size_t s = static_cast<std::size_t>(b);
                if (is_medoid[static_cast<std::size_t>(cand)]) {
                    change[s] = 0.0;
                    return;
                }
                detail::evaluate_swap(D + cand * n, n, k, a, delta[static_cast<std::size_t>(tid)].data(), &change[s],
                                      &best[s]);
            }, n >= publish_at_once_n ? std::chrono::nanoseconds(0) : adaptive_head);
            index_t next = stop;
            bool swapped = false;
            for (index_t b = 0; b < len; ++b) {
                const std::size_t s = static_cast<std::size_t>(b);
                if (change[s] < 0.0 && !is_medoid[static_cast<std::size_t>(c0 + b)]) {
                    swap_in(best[s], c0 + b);
                    ++n_swaps;
                    last_swap = c0 + b;
                    next = c0 + b + 1;
                    swapped = true;
                    break;
                }
            }
            batch = swapped ? min_batch : std::min(max_batch, 2 * batch);
            c = next;
        }
        if (!converged && n_swaps == swaps_before) converged = true;  // a whole pass without a swap
    }

    // Final labels (first nearest medoid) and the loss, summed in point order.
    assign_all();
    double loss = 0.0;
    for (index_t o = 0; o < n; ++o) {
        out.labels[o] = a.near[static_cast<std::size_t>(o)];
        loss += a.d_near[static_cast<std::size_t>(o)];
    }
    out.loss = loss;
    out.n_iter = n_iter;
    out.n_swaps = n_swaps;
}

}  // namespace diffclust
