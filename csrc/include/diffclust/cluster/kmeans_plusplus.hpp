// Greedy k-means++ seeding (Arthur & Vassilvitskii 2007; the greedy variant of
// scikit-learn: 2 + floor(ln k) candidates per centre, keep the one that lowers
// the potential most), bit-identical for any number of threads.
//
// Potential: phi = sum_i w_i D_i, D_i the squared distance of x_i to its
// nearest centre so far. The first centre is drawn with probability w_i / sum w;
// each next one draws `trials` candidates with probability w_i D_i / phi and
// keeps the candidate whose addition gives the smallest potential (the first
// on ties). A draw is a uniform u (Philox4x32-10 on the counter (trial, step,
// "kmpp", 0) with the 64-bit seed as key, so the stream differs from NumPy's)
// scaled by phi, and the chosen point is the first i whose prefix sum of w_i D_i
// exceeds it: a point with w_i D_i = 0 (an already chosen point or a duplicate
// of one, a zero weight) is never drawn. Prefix sums are taken over fixed
// chunks (kmeans_detail::chunk_rows rows, summed in row order) combined in
// chunk order, like every sum here. When phi is 0 (every point coincides with a
// chosen centre), the next centre is the first point not chosen yet.
//
// Distances use the Gram trick ||x||^2 + ||c||^2 - 2 <x, c> on the register
// tile of tiles.hpp (candidates as A panels, points as B panels; on AVX-512,
// 16 points against 8 candidates, the same sums bit for bit), clamped at 0;
// a value within the rounding margin of 0 (kmeans_kernels.hpp) is recomputed
// directly, so a duplicate of a centre is at distance exactly 0.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "diffclust/cluster/kmeans.hpp"
#include "diffclust/cluster/kmeans_avx512.hpp"
#include "diffclust/cluster/kmeans_kernels.hpp"
#include "diffclust/core/cancel.hpp"
#include "diffclust/core/checks.hpp"
#include "diffclust/core/chunked.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/core/rng.hpp"
#include "diffclust/core/simd.hpp"
#include "diffclust/core/tiles.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust {

namespace kmeans_detail {

constexpr u32 kmpp_tag = 0x6b6d7070u;  // "kmpp"

inline double kmpp_uniform(u64 seed, index_t step, index_t trial) {
    const auto b = Philox4x32::block({static_cast<u32>(trial), static_cast<u32>(step), kmpp_tag, 0u},
                                     static_cast<u32>(seed), static_cast<u32>(seed >> 32));
    return uniform52(static_cast<u64>(b[0]) | (static_cast<u64>(b[1]) << 32));
}

template <class T>
struct PlusPlusJob {
    const T* X;
    const double* w;
    index_t n, d;
    const double* cand;         // trials x d candidate coordinates
    const double* cand_panels;  // packed as A panels
    const double* cand_groups;  // on AVX-512 (else nullptr): groups of wide_cands, d x (group size) each
    const double* cand_sq;      // their squared norms
    index_t trials;
    const double* closest;  // (n) current D_i
    // The points each chunk computes (the others keep D_i for every candidate):
    // chunk c's rows at rows[c * chunk_rows ..], counts[c] of them, and their values
    // min(D_i, d(x_i, cand_t)) at vals[(c * chunk_rows + q) * trials + t].
    index_t* rows;
    index_t* counts;
    double* vals;
    double* pots;  // (chunks x trials) chunk sums of w_i min(D_i, d(x_i, cand_t))
    // The triangle-inequality skip (nullptr nearest: none): a point whose nearest
    // centre a satisfies min_t ||c_a - cand_t||^2 >= 4 (D_i + E_i) keeps D_i.
    const index_t* nearest;  // (n) index of the nearest chosen centre
    const double* min_sep;   // (centres) min over the candidates t of ||c_a - cand_t||^2
    double* sq_norm;         // (n) ||x_i||^2, written by the first step (nearest null)
    char* nonfinite;         // (chunks) set by the first step when the chunk holds NaN or infinity
    double norm_bound;       // max squared norm of the centres and candidates
};

// Distances of the points rows[0 .. count) (count <= 8, or 16 with Wide) to the
// candidates, min'ed with their closest values into out[w * trials + t]. The dot
// products come from tiles::micro_tile (8 points, candidates 6 at a time) or, on
// AVX-512 (Wide), from plusplus_dots16_avx512 (16 points, 8 candidates at a time):
// the same sums in the same order, so the same values.
template <bool Wide, class T>
DIFFCLUST_ALWAYS_INLINE void plusplus_panel(const PlusPlusJob<T>& job, const index_t* rows, index_t count,
                                            double* panel, double* tile, double* DIFFCLUST_RESTRICT out,
                                            const Ahead& ahead) {
    constexpr index_t lanes = Wide ? 2 * pw : pw;
    constexpr index_t group = Wide ? wide_cands : cw;
    const index_t d = job.d, trials = job.trials;
    const double rel2 = 2.0 * margin_factor(d);
    double xn[lanes], v[lanes], cur[lanes];
    if constexpr (Wide) {
        const index_t c0 = std::min(pw, count);
        pack8(job.X, d, rows, 0, c0, panel);
        pack8(job.X, d, rows, c0, count - c0, panel + d * pw);
    } else {
        pack8(job.X, d, rows, 0, count, panel);
    }
    for (int w = 0; w < lanes; ++w) xn[w] = 0.0, cur[w] = 0.0;
    for (index_t w = 0; w < count; ++w) cur[w] = job.closest[rows[w]];
    if (job.nearest) {
        for (index_t w = 0; w < count; ++w) xn[w] = job.sq_norm[rows[w]];
    } else {  // the first step: the squared norms, summed in increasing t, kept for the others
        for (index_t h = 0; h * pw < lanes; ++h) {
            const double* P = panel + h * d * pw;
            for (index_t t = 0; t < d; ++t) {
#pragma GCC unroll 8
                for (int w = 0; w < pw; ++w) xn[h * pw + w] += P[t * pw + w] * P[t * pw + w];
            }
        }
        for (index_t w = 0; w < count; ++w) job.sq_norm[rows[w]] = xn[w];
    }
    const index_t groups = tiles::ceil_div(trials, group);
    for (index_t cp = 0; cp < groups; ++cp) {
        const index_t nrows = std::min(group, trials - cp * group);
        if constexpr (Wide) {
            plusplus_dots16_avx512(panel, d, job.cand_groups + cp * d * group, nrows, tile,
                                   cp == 0 ? ahead : Ahead{});
        } else {
            tiles::micro_tile(tiles::Product::dot, job.cand_panels + cp * d * cw, panel, d, tile, pw);
        }
        for (index_t r = 0; r < nrows; ++r) {
            const index_t t = cp * group + r;
            const double cn = job.cand_sq[t];
            const double* DIFFCLUST_RESTRICT dot = tile + r * lanes;
            int near = 0;  // a vectorised pass; values near 0 are rare
#pragma GCC unroll 16
            for (int w = 0; w < lanes; ++w) {
                const double g = (xn[w] + cn) - 2.0 * dot[w];
                near |= !(g > rel2 * (xn[w] + cn));
                v[w] = g < cur[w] ? g : cur[w];
            }
            if (near) {
                for (index_t w = 0; w < count; ++w) {
                    const double g = (xn[w] + cn) - 2.0 * dot[w];
                    if (!(g > rel2 * (xn[w] + cn))) {
                        const double e = sq_distance(job.X + rows[w] * d, job.cand + t * d, d);
                        v[w] = e < cur[w] ? e : cur[w];
                    }
                }
            }
            for (index_t w = 0; w < count; ++w) out[w * trials + t] = v[w];
        }
    }
}

// The chunk sums of rows [r0, r1) for L candidates (the first `used` of them),
// each in row order: w_i vals[q * stride + t] for the q-th computed point (rows[q]),
// w_i D_i for a skipped one. The L sums are carried side by side in registers.
template <int L, class T>
DIFFCLUST_ALWAYS_INLINE void chunk_sums(const PlusPlusJob<T>& job, index_t r0, index_t r1, const index_t* rows,
                                        index_t m, const double* vals, index_t stride, double* pots,
                                        index_t used = L) {
    double acc[L];
    for (int t = 0; t < L; ++t) acc[t] = 0.0;
    index_t q = 0;
    for (index_t i = r0; i < r1; ++i) {
        double v[L];
        if (q < m && rows[q] == i) {
            const double* src = vals + q * stride;
            for (int t = 0; t < L; ++t) v[t] = t < used ? src[t] : 0.0;
            ++q;
        } else {
            for (int t = 0; t < L; ++t) v[t] = job.closest[i];
        }
        if (job.w) {
            const double wi = job.w[i];
            for (int t = 0; t < L; ++t) acc[t] += wi * v[t];
        } else {
            for (int t = 0; t < L; ++t) acc[t] += v[t];
        }
    }
    for (index_t t = 0; t < used; ++t) pots[t] = acc[t];
}

// Chunk c: the points the skip leaves, their candidate values, and the chunk sums
// of every candidate in row order (a skipped point adds w_i D_i to each).
// (s_x + s_c)^2 <= 2 (||x||^2 + ||c||^2) bounds the margin without square roots.
template <class T>
DIFFCLUST_ALWAYS_INLINE void plusplus_chunk_impl(const PlusPlusJob<T>& job, index_t c, double* panel, double* tile) {
    const index_t n = job.n, trials = job.trials;
    const index_t r0 = c * chunk_rows, r1 = std::min(n, r0 + chunk_rows);
    index_t* rows = job.rows + r0;
    double* vals = job.vals + r0 * trials;
    index_t m = 0;
    if (job.nearest) {
        const double rel2 = 2.0 * margin_factor(job.d);
        for (index_t i = r0; i < r1; ++i) {
            const double reach =
                4.0 * (job.closest[i] + rel2 * (job.sq_norm[i] + job.norm_bound)) * (1.0 + 1e-12);
            rows[m] = i;
            m += !(job.min_sep[job.nearest[i]] >= reach);
        }
    } else {
        job.nonfinite[c] = any_nonfinite(job.X + r0 * job.d, (r1 - r0) * job.d);
        for (index_t i = r0; i < r1; ++i) rows[m++] = i;
    }
    job.counts[c] = m;
    const index_t row_bytes = job.d * static_cast<index_t>(sizeof(T));
    if (job.cand_groups) {
        // the next panel's rows on their way while this one is computed (scattered
        // once the skip starts, which the hardware prefetchers do not follow)
        Ahead ahead;
        ahead.lines = tiles::ceil_div(row_bytes, 64);
        for (index_t p = 0; p < m; p += 2 * pw) {
            ahead.count = std::max<index_t>(0, std::min(2 * pw, m - p - 2 * pw));
            for (index_t q = 0; q < ahead.count; ++q)
                ahead.rows[q] = reinterpret_cast<const char*>(job.X + rows[p + 2 * pw + q] * job.d);
            ahead.per_step = tiles::ceil_div(ahead.count * ahead.lines, job.d);
            plusplus_panel<true>(job, rows + p, std::min(2 * pw, m - p), panel, tile, vals + p * trials, ahead);
        }
    } else {
        for (index_t p = 0; p < m; p += pw) {
            for (index_t q = p + 2 * pw; q < std::min(m, p + 3 * pw); ++q) {
                const char* x = reinterpret_cast<const char*>(job.X + rows[q] * job.d);
                for (index_t b = 0; b < row_bytes; b += 64) DIFFCLUST_PREFETCH(x + b);
            }
            plusplus_panel<false>(job, rows + p, std::min(pw, m - p), panel, tile, vals + p * trials, Ahead{});
        }
    }
    double* pots = job.pots + c * trials;
    switch (trials) {
        case 1: chunk_sums<1>(job, r0, r1, rows, m, vals, 1, pots); break;
        case 2: chunk_sums<2>(job, r0, r1, rows, m, vals, 2, pots); break;
        case 3: chunk_sums<3>(job, r0, r1, rows, m, vals, 3, pots); break;
        case 4: chunk_sums<4>(job, r0, r1, rows, m, vals, 4, pots); break;
        case 5: chunk_sums<5>(job, r0, r1, rows, m, vals, 5, pots); break;
        case 6: chunk_sums<6>(job, r0, r1, rows, m, vals, 6, pots); break;
        case 7: chunk_sums<7>(job, r0, r1, rows, m, vals, 7, pots); break;
        default:
            for (index_t t0 = 0; t0 < trials; t0 += 8) {
                chunk_sums<8>(job, r0, r1, rows, m, vals + t0, trials, pots + t0, std::min<index_t>(8, trials - t0));
            }
    }
}

[[maybe_unused]] static DIFFCLUST_TARGET_CLONES void plusplus_chunk(const PlusPlusJob<double>& job, index_t c,
                                                                    double* panel, double* tile) {
    plusplus_chunk_impl(job, c, panel, tile);
}

[[maybe_unused]] static DIFFCLUST_TARGET_CLONES void plusplus_chunk(const PlusPlusJob<float>& job, index_t c,
                                                                    double* panel, double* tile) {
    plusplus_chunk_impl(job, c, panel, tile);
}

// The first i whose prefix sum of w_i * v_i exceeds r (see the top of the file);
// chunk_sum[c] is the row-order sum of chunk c. Falls back to the last point of
// positive mass if rounding leaves r at or above the total.
inline index_t search_prefix(const double* w, const double* v, index_t n, const std::vector<double>& chunk_sum,
                             double r) {
    double acc = 0.0;
    const index_t chunks = static_cast<index_t>(chunk_sum.size());
    for (index_t c = 0; c < chunks; ++c) {
        const double next = acc + chunk_sum[static_cast<std::size_t>(c)];
        if (next > r) {
            double s = 0.0;
            const index_t r0 = c * chunk_rows, r1 = std::min(n, r0 + chunk_rows);
            for (index_t i = r0; i < r1; ++i) {
                s += w ? w[i] * v[i] : v[i];
                if (acc + s > r) return i;
            }
        }
        acc = next;
    }
    for (index_t i = n - 1; i > 0; --i)
        if ((w ? w[i] * v[i] : v[i]) > 0.0) return i;
    return 0;
}

}  // namespace kmeans_detail

// 2 + floor(ln k), scikit-learn's number of candidates per centre.
inline index_t default_plusplus_trials(index_t k) {
    return 2 + static_cast<index_t>(std::floor(std::log(static_cast<double>(k))));
}

// Greedy k-means++: writes the k chosen row indices to `indices` and returns
// the final potential. w: weights (nullptr: all 1). trials >= 1. X holding NaN
// or infinity throws std::invalid_argument (checked during the first step, which
// reads every row anyway, and computes the squared norms on the way).
template <class T>
double kmeans_plusplus(const T* X, index_t n, index_t d, const double* w, index_t k, index_t trials, u64 seed,
                       index_t* indices, int n_threads) {
    using namespace kmeans_detail;
    check_kmeans_args<T>(n, d, k, w);
    if (trials < 1) throw std::invalid_argument("n_local_trials must be at least 1");
    const int threads = useful_threads(n_threads, static_cast<double>(n) * static_cast<double>(d) *
                                                      static_cast<double>(trials),
                                       double(1 << 17));
    const index_t chunks = tiles::ceil_div(n, chunk_rows);
    std::vector<double> closest(static_cast<std::size_t>(n), 1.0);  // step 0 draws by weight alone
    std::vector<double> chunk_sum(static_cast<std::size_t>(chunks));
    for (index_t c = 0; c < chunks; ++c) {
        double s = 0.0;
        for (index_t i = c * chunk_rows; i < std::min(n, (c + 1) * chunk_rows); ++i) s += w ? w[i] : 1.0;
        chunk_sum[static_cast<std::size_t>(c)] = s;
    }
    // (rows and vals: written before they are read, so left uninitialised)
    const std::unique_ptr<index_t[]> rows(new index_t[static_cast<std::size_t>(n)]);
    const std::unique_ptr<double[]> vals(new double[static_cast<std::size_t>(n * trials)]);
    std::vector<index_t> counts(static_cast<std::size_t>(chunks));
    std::vector<double> pots(static_cast<std::size_t>(chunks * trials));
    std::vector<double> cand(static_cast<std::size_t>(trials * d)), cand_sq(static_cast<std::size_t>(trials));
    std::vector<double> cand_panels, cand_groups;
    const bool wide = use_wide_kernel();
    std::vector<index_t> ids(static_cast<std::size_t>(trials));
    std::vector<char> chosen(static_cast<std::size_t>(n), 0);
    std::vector<std::vector<double>> scratch(static_cast<std::size_t>(threads));
    // For the triangle-inequality skip: each point's nearest centre, the centres,
    // their least separation from the candidates, the points' squared norms.
    std::vector<index_t> nearest(static_cast<std::size_t>(n), 0);
    std::vector<double> centres(static_cast<std::size_t>(k * d)), min_sep(static_cast<std::size_t>(k));
    std::vector<double> sq_norm(static_cast<std::size_t>(n));
    std::vector<char> nonfinite(static_cast<std::size_t>(chunks), 0);
    double norm_bound = 0.0;
    double phi = 0.0;
    for (index_t step = 0; step < k; ++step) {
        cancellation_point();
        phi = 0.0;
        for (const double s : chunk_sum) phi += s;
        const index_t m = step == 0 ? 1 : trials;
        if (step > 0 && !(phi > 0.0)) {  // every point is a centre already
            index_t i = 0;
            while (chosen[static_cast<std::size_t>(i)]) ++i;
            ids[0] = i;
        } else {
            for (index_t t = 0; t < m; ++t)
                ids[static_cast<std::size_t>(t)] =
                    search_prefix(w, closest.data(), n, chunk_sum, kmpp_uniform(seed, step, t) * phi);
        }
        const index_t used = step > 0 && !(phi > 0.0) ? 1 : m;
        if (step == 0) std::fill(closest.begin(), closest.end(), inf);
        for (index_t t = 0; t < used; ++t) {
            const T* x = X + ids[static_cast<std::size_t>(t)] * d;
            double s = 0.0;
            for (index_t j = 0; j < d; ++j) {
                const double v = static_cast<double>(x[j]);
                cand[static_cast<std::size_t>(t * d + j)] = v;
                s += v * v;
            }
            cand_sq[static_cast<std::size_t>(t)] = s;
            norm_bound = std::max(norm_bound, s);
        }
        for (index_t a = 0; a < step; ++a) {
            double low = inf;
            for (index_t t = 0; t < used; ++t) low = std::min(low, sq_distance(centres.data() + a * d, cand.data() + t * d, d));
            min_sep[static_cast<std::size_t>(a)] = low;
        }
        if (wide) {
            cand_groups.assign(static_cast<std::size_t>(used * d), 0.0);
            for (index_t g = 0; g * wide_cands < used; ++g) {
                const index_t r0 = g * wide_cands, nr = std::min(wide_cands, used - r0);
                double* A = cand_groups.data() + r0 * d;
                for (index_t t = 0; t < d; ++t)
                    for (index_t r = 0; r < nr; ++r) A[t * nr + r] = cand[static_cast<std::size_t>((r0 + r) * d + t)];
            }
        } else {
            cand_panels.assign(static_cast<std::size_t>(tiles::ceil_div(used, cw) * cw * d), 0.0);
            tiles::pack_panels(cand.data(), d, nullptr, 0, used, cw, nullptr, cand_panels.data());
        }
        const PlusPlusJob<T> job{X,           w,          n,          d,
                                 cand.data(), cand_panels.data(), wide ? cand_groups.data() : nullptr,
                                 cand_sq.data(), used,
                                 closest.data(), rows.get(), counts.data(), vals.get(), pots.data(),
                                 step > 0 ? nearest.data() : nullptr, min_sep.data(), sq_norm.data(),
                                 nonfinite.data(), norm_bound};
        parallel_for_tid(chunks, threads, [&](index_t c, int tid) {
            std::vector<double>& buf = scratch[static_cast<std::size_t>(tid)];
            if (buf.empty()) buf.resize(static_cast<std::size_t>(2 * pw * d + wide_cands * 2 * pw));
            plusplus_chunk(job, c, buf.data(), buf.data() + 2 * pw * d);
        });
        if (step == 0 && std::find(nonfinite.begin(), nonfinite.end(), 1) != nonfinite.end())
            throw std::invalid_argument("X contains NaN or infinity");
        // The candidate with the smallest potential (fold of chunk sums in order).
        index_t best = 0;
        double best_pot = inf;
        for (index_t t = 0; t < used; ++t) {
            double p = 0.0;
            for (index_t c = 0; c < chunks; ++c) p += pots[static_cast<std::size_t>(c * used + t)];
            if (p < best_pot) best_pot = p, best = t;
        }
        const index_t id = ids[static_cast<std::size_t>(best)];
        indices[step] = id;
        chosen[static_cast<std::size_t>(id)] = 1;
        std::copy(cand.begin() + best * d, cand.begin() + (best + 1) * d, centres.begin() + step * d);
        parallel_for(chunks, threads, [&](index_t c) {  // the computed points' new D_i (the others keep theirs)
            const index_t* r = rows.get() + c * chunk_rows;
            const double* v = vals.get() + c * chunk_rows * used + best;
            for (index_t q = 0; q < counts[static_cast<std::size_t>(c)]; ++q) {
                const auto i = static_cast<std::size_t>(r[q]);
                const double fresh = v[q * used];
                nearest[i] = fresh < closest[i] ? step : nearest[i];  // now nearest to the new centre
                closest[i] = fresh;
            }
        });
        for (index_t c = 0; c < chunks; ++c) chunk_sum[static_cast<std::size_t>(c)] = pots[static_cast<std::size_t>(c * used + best)];
        phi = best_pot;
    }
    return phi;
}

}  // namespace diffclust
