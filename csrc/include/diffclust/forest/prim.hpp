// Prim's maximum spanning tree: one algorithm over weight sources.
//
// prim_tree(n, source, n_threads, tree) grows the tree from vertex 0. The
// vertices not yet in the tree are split by the source into regions; each
// step scans every region (in parallel on the pool when the source has more
// than one), picks the best candidate edge with the strict order of types.hpp
// and hands it back to the source. The strict order makes the tree unique:
// it depends neither on the number of regions nor on which thread scans which.
//
// A weight source (the "concept"; forest/prim_sources.hpp has the dense matrix
// and the points, one per metric) provides
//   using weight_type = W;                       the key type (double or float)
//   int regions() const;                         number of regions (fixed for the run)
//   void fill(int r);                            set up region r (vertex 0 is in the tree)
//   PrimCandidate<W> step(int r, index_t v);     fold the edges (v, u), u in region r,
//                                                into the keys; region r's best candidate
//                                                (u < 0: none left)
//   void take(int r, const PrimCandidate<W>& c); c.u (found in region r) joins the tree
// A new distance is a new source: Prim itself stays here.
//
// The team (several regions) posts one pool loop per step. The caller scans
// regions too and never waits for a worker that has not started; if the
// workers keep missing the steps (a busy machine) or keep making the caller
// wait, the caller finishes alone. Prim checks for Ctrl-C (core/cancel.hpp)
// every few hundred microseconds of work.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <vector>

#include "diffclust/core/cancel.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/core/types.hpp"
#include "diffclust/forest/prim_kernels.hpp"

namespace diffclust {

namespace detail {

// A team goes solo after this many steps in a row without help, or after this
// many steps where the caller had to wait for a worker.
constexpr int prim_idle_limit = 256;
constexpr int prim_stall_limit = 8;
constexpr int team_stall_limit = prim_stall_limit;  // the former name

template <class W>
inline WeightedEdge<W> candidate_edge(const PrimCandidate<W>& c) {
    return WeightedEdge<W>{c.key, std::min(c.par, c.u), std::max(c.par, c.u)};
}

inline index_t round_up(index_t a, index_t b) { return (a + b - 1) / b * b; }

}  // namespace detail

// Writes the n - 1 tree edges in the order Prim adds them, and returns how many
// steps it made: n - 1, or fewer if no candidate was left (a source with NaN
// weights) or `stop` was raised. `stall_limit`: see prim_stall_limit (0: the
// caller goes solo after the first step).
template <class Source>
index_t prim_tree(index_t n, Source& source, int n_threads, WeightedEdge<typename Source::weight_type>* tree,
                  const std::atomic<bool>* stop = nullptr, int stall_limit = detail::prim_stall_limit) {
    using W = typename Source::weight_type;
    if (n <= 1) return 0;
    const int regions = std::max(1, source.regions());
    const int team = std::max(1, std::min(n_threads, regions));
    parallel_for(regions, team, [&](index_t r) { source.fill(static_cast<int>(r)); });
    std::vector<PrimCandidate<W>> cand(static_cast<std::size_t>(regions));
    // a cancellation point every `every` steps: about n * every >= 65536 weights
    const index_t every = std::max<index_t>(1, 65536 / n);
    index_t countdown = every;
    bool solo = team == 1;
    int idle = 0, stalls = 0;
    index_t v = 0, step = 0;
    for (; step < n - 1; ++step) {
        if (!solo) {
            const LoopReport report = parallel_for_tid(
                regions, team,
                [&](index_t r, int) { cand[static_cast<std::size_t>(r)] = source.step(static_cast<int>(r), v); },
                std::chrono::nanoseconds(0));
            idle = report.by_others == 0 ? idle + 1 : 0;
            stalls += report.waited ? 1 : 0;
            solo = idle >= detail::prim_idle_limit || stalls >= stall_limit;
        } else {
            for (int r = 0; r < regions; ++r) cand[static_cast<std::size_t>(r)] = source.step(r, v);
            if (--countdown == 0) {
                countdown = every;
                cancellation_point();
            }
        }
        int b = 0;
        for (int r = 1; r < regions; ++r) {
            if (candidate_better(cand[static_cast<std::size_t>(r)], cand[static_cast<std::size_t>(b)])) b = r;
        }
        const PrimCandidate<W>& best = cand[static_cast<std::size_t>(b)];
        if (best.u < 0) break;
        if (stop != nullptr && stop->load(std::memory_order_relaxed)) break;
        tree[step] = detail::candidate_edge(best);
        v = best.u;
        source.take(b, best);
    }
    return step;
}

// ---------------------------------------------------------------------------
// Simple weight sources: one region, weights read a block at a time.
//
// A block source keeps the vertices not yet in the tree compact at positions
// [0, m) and provides
//   weights(rem, r0, r1, out): weight between the current vertex and the
//                              vertices at positions [r0, r1)
//   take(v, pos, last):        vertex v (at pos) becomes the current vertex and
//                              the vertex at `last` moves to pos.
// BlockRegions turns it into a Prim source; prim_max_tree is Prim over it.

template <class T, class Blocks>
class BlockRegions {
public:
    using weight_type = T;

    BlockRegions(index_t n, Blocks& blocks)
        : blocks_(blocks), m_(n - 1), rem_(static_cast<std::size_t>(std::max<index_t>(n - 1, 0))),
          par_(rem_.size(), 0), key_(rem_.size(), -std::numeric_limits<T>::infinity()),
          wbuf_(static_cast<std::size_t>(block)) {
        for (index_t r = 0; r < m_; ++r) rem_[static_cast<std::size_t>(r)] = r + 1;
    }

    int regions() const { return 1; }
    void fill(int) {}

    PrimCandidate<T> step(int, index_t v) {
        index_t best = -1, bp = 0, bu = 0;
        T bk = -std::numeric_limits<T>::infinity();
        for (index_t r0 = 0; r0 < m_; r0 += block) {
            const index_t r1 = std::min(m_, r0 + block);
            blocks_.weights(rem_.data(), r0, r1, wbuf_.data());
            for (index_t r = r0; r < r1; ++r) {
                const std::size_t s = static_cast<std::size_t>(r);
                const T w = wbuf_[static_cast<std::size_t>(r - r0)];
                const index_t u = rem_[s];
                if (w > key_[s] || (w == key_[s] && pair_less(v, u, par_[s], u))) {
                    key_[s] = w;
                    par_[s] = v;
                }
                if (best < 0 || key_[s] > bk || (key_[s] == bk && pair_less(par_[s], u, bp, bu))) {
                    best = r;
                    bk = key_[s];
                    bp = par_[s];
                    bu = u;
                }
            }
        }
        return PrimCandidate<T>{bk, bu, bp, best};
    }

    void take(int, const PrimCandidate<T>& c) {
        const std::size_t b = static_cast<std::size_t>(c.pos), l = static_cast<std::size_t>(m_ - 1);
        blocks_.take(c.u, c.pos, m_ - 1);
        rem_[b] = rem_[l];
        key_[b] = key_[l];
        par_[b] = par_[l];
        --m_;
    }

private:
    static constexpr index_t block = 512;
    Blocks& blocks_;
    index_t m_;
    std::vector<index_t> rem_, par_;
    std::vector<T> key_, wbuf_;
};

// Prim over a block source, on the calling thread.
template <class T, class Blocks>
void prim_max_tree(index_t n, Blocks& blocks, WeightedEdge<T>* tree) {
    if (n <= 1) return;
    BlockRegions<T, Blocks> source(n, blocks);
    prim_tree(n, source, 1, tree);
}

// Rows of a symmetric dense matrix: w(v, u) = W[v, u].
template <class T>
struct DenseRowSource {
    const T* W;
    index_t n;
    const T* row;
    DenseRowSource(const T* W_, index_t n_) : W(W_), n(n_), row(W_) {}
    void weights(const index_t* rem, index_t r0, index_t r1, T* out) const {
        for (index_t r = r0; r < r1; ++r) out[r - r0] = row[rem[r]];
    }
    void take(index_t v, index_t, index_t) { row = W + v * n; }
};

// Points: w(v, u) = -d(x_v, x_u), computed on the fly. Keeps a column-major
// copy of the remaining points (O(n d) memory), compacted like Prim's arrays.
struct PointSource {
    index_t d;
    index_t stride;
    Metric metric;
    std::vector<double> cols;  // d x stride
    std::vector<double> x;     // the current vertex

    template <class T>
    PointSource(const T* X, index_t n, index_t d_, Metric metric_)
        : d(d_), stride(std::max<index_t>(n - 1, 1)), metric(metric_),
          cols(static_cast<std::size_t>(d_ * std::max<index_t>(n - 1, 1))), x(static_cast<std::size_t>(d_)) {
        std::vector<double> row(static_cast<std::size_t>(d));
        for (index_t i = 0; i < n; ++i) {
            double scale = 1.0;
            if (metric == Metric::cosine) {
                double norm2 = 0.0;
                for (index_t k = 0; k < d; ++k) norm2 += static_cast<double>(X[i * d + k]) * static_cast<double>(X[i * d + k]);
                scale = norm2 > 0.0 ? 1.0 / std::sqrt(norm2) : 0.0;
            }
            for (index_t k = 0; k < d; ++k) {
                const double value = static_cast<double>(X[i * d + k]) * scale;
                if (i == 0) {
                    x[static_cast<std::size_t>(k)] = value;
                } else {
                    cols[static_cast<std::size_t>(k * stride + i - 1)] = value;
                }
            }
        }
    }
    void weights(const index_t*, index_t r0, index_t r1, double* out) const {
        column_block_distances(cols.data(), stride, d, x.data(), r0, r1, static_cast<int>(metric), out);
        for (index_t r = 0; r < r1 - r0; ++r) out[r] = -out[r];
    }
    void take(index_t, index_t pos, index_t last) {
        for (index_t k = 0; k < d; ++k) {
            double* col = cols.data() + k * stride;
            x[static_cast<std::size_t>(k)] = col[pos];
            col[pos] = col[last];
        }
    }
};

}  // namespace diffclust
