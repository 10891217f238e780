// k-medoids on a dissimilarity matrix: PAM BUILD initialisation and FasterPAM
// swaps (E. Schubert, P. J. Rousseeuw, "Fast and eager k-medoids clustering:
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
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "diffclust/core/parallel.hpp"
#include "diffclust/core/simd.hpp"
#include "diffclust/core/tiles.hpp"
#include "diffclust/core/checks.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust {

namespace detail {

// A team of threads kept alive across many small parallel loops (thread start-up
// would cost more than one FasterPAM batch). run(n, fn) calls fn(item, tid) for
// item in [0, n) and returns when all are done; a worker's exception is
// rethrown on the caller.
class WorkerTeam {
public:
    explicit WorkerTeam(int n_threads) {
        const int extra = std::max(0, n_threads - 1);
        try {
            for (int t = 0; t < extra; ++t) workers_.emplace_back([this, t] { worker_loop(t + 1); });
        } catch (...) {
            // Could not start a thread: carry on with the ones we have.
        }
    }
    WorkerTeam(const WorkerTeam&) = delete;
    WorkerTeam& operator=(const WorkerTeam&) = delete;
    ~WorkerTeam() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_ = true;
        }
        wake_.notify_all();
        for (auto& w : workers_) w.join();
    }

    int size() const { return static_cast<int>(workers_.size()) + 1; }

    // Items are claimed one at a time under the lock, and the caller waits only
    // for items a worker has actually claimed: a worker that is slow to wake up
    // (a busy machine) never holds the caller back; the caller does its share.
    void run(index_t n, const std::function<void(index_t, int)>& fn) {
        if (n <= 0) return;
        if (workers_.empty() || n == 1) {
            for (index_t i = 0; i < n; ++i) fn(i, 0);
            return;
        }
        unsigned long gen;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            job_ = &fn;
            n_items_ = n;
            next_ = 0;
            done_ = 0;
            error_ = nullptr;
            gen = ++generation_;
        }
        wake_.notify_all();
        work(0, gen);
        std::unique_lock<std::mutex> lock(mutex_);
        finished_.wait(lock, [this] { return done_ == n_items_; });
        job_ = nullptr;
        if (error_) std::rethrow_exception(error_);
    }

private:
    void work(int tid, unsigned long gen) {
        for (;;) {
            index_t i;
            const std::function<void(index_t, int)>* job;
            {
                std::lock_guard<std::mutex> lock(mutex_);
                if (generation_ != gen || next_ >= n_items_) return;
                i = next_++;
                job = job_;
            }
            std::exception_ptr error;
            try {
                (*job)(i, tid);
            } catch (...) {
                error = std::current_exception();
            }
            bool last;
            {
                std::lock_guard<std::mutex> lock(mutex_);
                if (error && !error_) error_ = error;
                last = ++done_ == n_items_;
            }
            if (last) finished_.notify_all();
        }
    }

    void worker_loop(int tid) {
        unsigned long seen = 0;
        for (;;) {
            {
                std::unique_lock<std::mutex> lock(mutex_);
                wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
                if (stop_) return;
                seen = generation_;
            }
            work(tid, seen);
        }
    }

    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable wake_, finished_;
    const std::function<void(index_t, int)>* job_ = nullptr;
    index_t n_items_ = 0, next_ = 0, done_ = 0;
    unsigned long generation_ = 0;
    bool stop_ = false;
    std::exception_ptr error_;
};

// sum_o max(0, near[o] - row[o]): what adding the point of `row` gains (BUILD).
template <class T>
DIFFCLUST_ALWAYS_INLINE double build_gain_impl(const T* row, const double* near, index_t n) {
    return tiles::lane_sum(n, [row, near](index_t o) {
        const double g = near[o] - static_cast<double>(row[o]);
        return g > 0.0 ? g : 0.0;
    });
}
[[maybe_unused]] static DIFFCLUST_TARGET_CLONES double build_gain(const double* row, const double* near, index_t n) {
    return build_gain_impl(row, near, n);
}
[[maybe_unused]] static DIFFCLUST_TARGET_CLONES double build_gain(const float* row, const double* near, index_t n) {
    return build_gain_impl(row, near, n);
}

template <class T>
DIFFCLUST_ALWAYS_INLINE double row_sum_impl(const T* row, index_t n) {
    return tiles::lane_sum(n, [row](index_t o) { return static_cast<double>(row[o]); });
}
[[maybe_unused]] static DIFFCLUST_TARGET_CLONES double row_sum(const double* row, index_t n) { return row_sum_impl(row, n); }
[[maybe_unused]] static DIFFCLUST_TARGET_CLONES double row_sum(const float* row, index_t n) { return row_sum_impl(row, n); }

// Nearest and second-nearest medoid of every point.
struct Assignment {
    std::vector<index_t> near, second;  // medoid positions in [0, k); second = -1 when k = 1
    std::vector<double> d_near, d_second;
    std::vector<double> removal;  // (k,) loss increase if only that medoid is removed
    // The points grouped by nearest medoid (stable), for the swap evaluation:
    // group i is positions [group[i], group[i + 1]) of `order`, and g_near /
    // g_second hold d_near / d_second in that order.
    std::vector<index_t> order, group;
    std::vector<double> g_near, g_second;
};

template <class T>
void assign_point(const T* D, index_t n, const index_t* medoids, index_t k, index_t o, Assignment& a) {
    index_t best = -1, second = -1;
    double db = std::numeric_limits<double>::infinity(), ds = db;
    for (index_t i = 0; i < k; ++i) {
        const double v = static_cast<double>(D[medoids[i] * n + o]);
        if (v < db) {
            second = best;
            ds = db;
            best = i;
            db = v;
        } else if (v < ds) {
            second = i;
            ds = v;
        }
    }
    const std::size_t s = static_cast<std::size_t>(o);
    a.near[s] = best;
    a.d_near[s] = db;
    a.second[s] = second;
    a.d_second[s] = ds;
}

// Removal losses and the grouping by nearest medoid, after any change of medoids.
inline void compute_removal(index_t n, index_t k, Assignment& a) {
    a.removal.assign(static_cast<std::size_t>(k), 0.0);
    a.group.assign(static_cast<std::size_t>(k + 1), 0);
    for (index_t o = 0; o < n; ++o) {
        const std::size_t s = static_cast<std::size_t>(o), m = static_cast<std::size_t>(a.near[s]);
        if (k >= 2) a.removal[m] += a.d_second[s] - a.d_near[s];
        ++a.group[m + 1];
    }
    for (index_t i = 0; i < k; ++i) a.group[static_cast<std::size_t>(i + 1)] += a.group[static_cast<std::size_t>(i)];
    std::vector<index_t> next(a.group.begin(), a.group.end() - 1);
    a.order.resize(static_cast<std::size_t>(n));
    a.g_near.resize(static_cast<std::size_t>(n));
    a.g_second.resize(static_cast<std::size_t>(n));
    for (index_t o = 0; o < n; ++o) {
        const std::size_t s = static_cast<std::size_t>(o);
        const std::size_t pos = static_cast<std::size_t>(next[static_cast<std::size_t>(a.near[s])]++);
        a.order[pos] = o;
        a.g_near[pos] = a.d_near[s];
        a.g_second[pos] = a.d_second[s];
    }
}

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


constexpr index_t point_chunk = 2048;  // points per task in the O(n) passes

}  // namespace detail

namespace detail {

// Summary of the entries of a pair of tiles (i, j) and (j, i) of D.
struct TileStats {
    double lo = 0.0, hi = 0.0, asym = 0.0;  // min and max entry, max |D_ij - D_ji|
    double nan = 0.0;                        // NaN iff an entry is NaN or infinite
};

// Rows [i0, i1) x columns [j0, j1) against their transposes, j0 >= i0 (only
// j >= i on a diagonal tile). `tile` holds 64 x 64 doubles of scratch.
template <class T>
DIFFCLUST_ALWAYS_INLINE void tile_stats_impl(const T* D, index_t n, index_t i0, index_t i1, index_t j0, index_t j1,
                                             double* tile, TileStats& st) {
    constexpr index_t w = 64;
    auto fold = [&](double v, double u) {
        st.lo = std::min(st.lo, std::min(v, u));
        st.hi = std::max(st.hi, std::max(v, u));
        st.asym = std::max(st.asym, std::fabs(v - u));
        st.nan += (v - v) + (u - u);
    };
    if (i0 == j0) {  // diagonal tile: plain loop over j >= i
        for (index_t i = i0; i < i1; ++i)
            for (index_t j = i; j < j1; ++j) fold(static_cast<double>(D[i * n + j]), static_cast<double>(D[j * n + i]));
        return;
    }
    // tile[ii * w + jj] = D[j0 + jj, i0 + ii], read row by row
    for (index_t j = j0; j < j1; ++j)
        for (index_t i = i0; i < i1; ++i) tile[(i - i0) * w + (j - j0)] = static_cast<double>(D[j * n + i]);
    const index_t len = j1 - j0;
#if DIFFCLUST_VECTOR_EXTENSIONS
    using tiles::vec4;
    vec4 lo = {st.lo, st.lo, st.lo, st.lo}, hi = {st.hi, st.hi, st.hi, st.hi}, asym = {}, nan = {};
    const tiles::vec4i no_sign = {0x7fffffffffffffffLL, 0x7fffffffffffffffLL, 0x7fffffffffffffffLL,
                                  0x7fffffffffffffffLL};
    const index_t vlen = len / 4 * 4;
    for (index_t i = i0; i < i1; ++i) {
        const T* row = D + i * n + j0;
        const double* col = tile + (i - i0) * w;
        for (index_t jj = 0; jj < vlen; jj += 4) {
            vec4 v, u;
            tiles::load4(row + jj, v);
            tiles::load4(col + jj, u);
            lo = v < lo ? v : lo;
            lo = u < lo ? u : lo;
            hi = v > hi ? v : hi;
            hi = u > hi ? u : hi;
            const vec4 diff = (vec4)((tiles::vec4i)(v - u) & no_sign);
            asym = diff > asym ? diff : asym;
            nan += (v - v) + (u - u);
        }
        for (index_t jj = vlen; jj < len; ++jj) fold(static_cast<double>(row[jj]), col[jj]);
    }
    for (int l = 0; l < 4; ++l) {
        st.lo = std::min(st.lo, lo[l]);
        st.hi = std::max(st.hi, hi[l]);
        st.asym = std::max(st.asym, asym[l]);
        st.nan += nan[l];
    }
#else
    for (index_t i = i0; i < i1; ++i)
        for (index_t jj = 0; jj < len; ++jj) fold(static_cast<double>(D[i * n + j0 + jj]), tile[(i - i0) * w + jj]);
#endif
}
[[maybe_unused]] static DIFFCLUST_TARGET_CLONES void tile_stats(const double* D, index_t n, index_t i0, index_t i1,
                                                                index_t j0, index_t j1, double* tile, TileStats& st) {
    tile_stats_impl(D, n, i0, i1, j0, j1, tile, st);
}
[[maybe_unused]] static DIFFCLUST_TARGET_CLONES void tile_stats(const float* D, index_t n, index_t i0, index_t i1,
                                                                index_t j0, index_t j1, double* tile, TileStats& st) {
    tile_stats_impl(D, n, i0, i1, j0, j1, tile, st);
}

}  // namespace detail

// Checks that D (n, n) is a dissimilarity matrix: finite, non-negative and, if
// `symmetric`, with |D_ij - D_ji| <= sym_rtol * max(D). Throws
// std::invalid_argument naming `name` and the first offending entry (row-major).
// One pass over pairs of 64 x 64 tiles (i, j) and (j, i) reads every entry once.
template <class T>
void check_dissimilarity(const T* D, index_t n, bool symmetric, double sym_rtol, const std::string& name,
                         int n_threads) {
    check_size(n, "n");
    const int threads = static_cast<double>(n) * static_cast<double>(n) < 1.0e6 ? 1 : std::max(1, n_threads);
    constexpr index_t rows = 64;
    const index_t blocks = tiles::ceil_div(n, rows);
    std::vector<detail::TileStats> stats(static_cast<std::size_t>(blocks));
    std::vector<std::vector<double>> scratch(static_cast<std::size_t>(threads));
    parallel_for_tid(blocks, threads, [&](index_t b, int tid) {
        std::vector<double>& tile = scratch[static_cast<std::size_t>(tid)];
        tile.resize(static_cast<std::size_t>(rows * rows));
        const index_t i0 = b * rows, i1 = std::min(n, i0 + rows);
        for (index_t j0 = i0; j0 < n; j0 += rows)
            detail::tile_stats(D, n, i0, i1, j0, std::min(n, j0 + rows), tile.data(), stats[static_cast<std::size_t>(b)]);
    });
    bool bad = false;
    double hi = 0.0, asym = 0.0;
    for (const auto& st : stats) {
        bad |= !(st.nan == 0.0) || st.lo < 0.0;
        hi = std::max(hi, st.hi);
        asym = std::max(asym, st.asym);
    }
    auto entry = [&](index_t i, index_t j) {
        return name + "[" + std::to_string(i) + ", " + std::to_string(j) + "] = " +
               std::to_string(static_cast<double>(D[i * n + j]));
    };
    if (bad) {
        for (index_t f = 0; f < n * n; ++f) {  // error path: find the first bad entry
            const double v = static_cast<double>(D[f]);
            if (std::isnan(v) || std::isinf(v))
                throw std::invalid_argument(name + " contains NaN or infinity (" + entry(f / n, f % n) + ")");
            if (v < 0.0)
                throw std::invalid_argument(name + " must be a dissimilarity matrix without negative entries; " +
                                            entry(f / n, f % n));
        }
    }
    if (!symmetric) return;
    const double tol = sym_rtol * hi;
    if (asym <= tol) return;
    for (index_t i = 0; i < n; ++i)  // error path: find the first asymmetric pair
        for (index_t j = i + 1; j < n; ++j)
            if (std::fabs(static_cast<double>(D[i * n + j]) - static_cast<double>(D[j * n + i])) > tol)
                throw std::invalid_argument(name + " must be symmetric: " + entry(i, j) + " but " + entry(j, i));
}

// PAM BUILD: the first medoid minimises the total distance; each next one is the
// point that lowers the loss most. Ties go to the smallest index.
template <class T>
void pam_build(const T* D, index_t n, index_t k, int n_threads, index_t* medoids) {
    if (k < 1 || k > n) throw std::invalid_argument("k must be in [1, n]");
    const int threads = static_cast<double>(n) * static_cast<double>(n) < 1.0e6 ? 1 : std::max(1, n_threads);
    detail::WorkerTeam team(threads);
    std::vector<double> score(static_cast<std::size_t>(n));
    std::vector<double> nearest(static_cast<std::size_t>(n));
    std::vector<char> taken(static_cast<std::size_t>(n), 0);
    const index_t chunk = 64;
    const index_t tasks = tiles::ceil_div(n, chunk);
    team.run(tasks, [&](index_t t, int) {
        for (index_t c = t * chunk; c < std::min(n, (t + 1) * chunk); ++c)
            score[static_cast<std::size_t>(c)] = detail::row_sum(D + c * n, n);
    });
    index_t first = 0;
    for (index_t c = 1; c < n; ++c)
        if (score[static_cast<std::size_t>(c)] < score[static_cast<std::size_t>(first)]) first = c;
    medoids[0] = first;
    taken[static_cast<std::size_t>(first)] = 1;
    for (index_t o = 0; o < n; ++o) nearest[static_cast<std::size_t>(o)] = static_cast<double>(D[first * n + o]);
    for (index_t m = 1; m < k; ++m) {
        team.run(tasks, [&](index_t t, int) {
            for (index_t c = t * chunk; c < std::min(n, (t + 1) * chunk); ++c)
                score[static_cast<std::size_t>(c)] =
                    taken[static_cast<std::size_t>(c)] ? -1.0 : detail::build_gain(D + c * n, nearest.data(), n);
        });
        index_t best = -1;
        for (index_t c = 0; c < n; ++c) {
            if (taken[static_cast<std::size_t>(c)]) continue;
            if (best < 0 || score[static_cast<std::size_t>(c)] > score[static_cast<std::size_t>(best)]) best = c;
        }
        medoids[m] = best;
        taken[static_cast<std::size_t>(best)] = 1;
        const T* row = D + best * n;
        for (index_t o = 0; o < n; ++o) {
            const double v = static_cast<double>(row[o]);
            double& cur = nearest[static_cast<std::size_t>(o)];
            cur = v < cur ? v : cur;
        }
    }
}

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
    detail::WorkerTeam team(threads);
    const int team_size = team.size();

    detail::Assignment a;
    a.near.resize(static_cast<std::size_t>(n));
    a.second.resize(static_cast<std::size_t>(n));
    a.d_near.resize(static_cast<std::size_t>(n));
    a.d_second.resize(static_cast<std::size_t>(n));
    const index_t chunks = tiles::ceil_div(n, detail::point_chunk);
    auto assign_all = [&]() {
        team.run(chunks, [&](index_t t, int) {
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
        team.run(chunks, [&](index_t t, int) {
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
            team.run(len, [&](index_t b, int tid) {
                const index_t cand = c0 + b;
                const std::size_t s = static_cast<std::size_t>(b);
                if (is_medoid[static_cast<std::size_t>(cand)]) {
                    change[s] = 0.0;
                    return;
                }
                detail::evaluate_swap(D + cand * n, n, k, a, delta[static_cast<std::size_t>(tid)].data(), &change[s],
                                      &best[s]);
            });
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
