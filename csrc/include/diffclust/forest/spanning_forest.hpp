// Maximum-weight k-forests (single-linkage clustering).
//
// Dense input goes Prim (O(n^2), optimal on a complete graph) -> extraction of
// the k-forest from the n - 1 tree edges by a second, tiny Kruskal. An explicit
// edge list goes sort -> Kruskal. Both follow the strict edge order of
// types.hpp, so the forest is unique and every path gives the same answer.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "diffclust/core/parallel.hpp"
#include "diffclust/core/point_metrics.hpp"
#include "diffclust/forest/prim_kernels.hpp"
#include "diffclust/core/sort.hpp"
#include "diffclust/core/checks.hpp"
#include "diffclust/core/types.hpp"
#include "diffclust/core/union_find.hpp"

namespace diffclust {

// ---------------------------------------------------------------------------
// Prim's maximum spanning tree over a weight source.
//
// The vertices not yet in the tree are kept compact at positions [0, m). A
// Source provides
//   weights(rem, r0, r1, out): weight between the current vertex and the
//                              vertices at positions [r0, r1)
//   take(v, pos, last):        vertex v (at pos) becomes the current vertex and
//                              the vertex at `last` moves to pos.
// Writes the n - 1 tree edges in the order Prim adds them.
template <class T, class Source>
void prim_max_tree(index_t n, Source& source, WeightedEdge<T>* tree) {
    if (n <= 1) return;
    const index_t m0 = n - 1;
    std::vector<index_t> rem(static_cast<std::size_t>(m0));
    std::vector<index_t> par(static_cast<std::size_t>(m0), 0);
    std::vector<T> key(static_cast<std::size_t>(m0), -std::numeric_limits<T>::infinity());
    for (index_t r = 0; r < m0; ++r) rem[static_cast<std::size_t>(r)] = r + 1;

    constexpr index_t block = 512;
    std::vector<T> wbuf(static_cast<std::size_t>(block));
    index_t m = m0;
    index_t v = 0;
    for (index_t step = 0; step < m0; ++step) {
        index_t best = -1, bp = 0, bu = 0;
        T bk = -std::numeric_limits<T>::infinity();
        for (index_t r0 = 0; r0 < m; r0 += block) {
            const index_t r1 = std::min(m, r0 + block);
            source.weights(rem.data(), r0, r1, wbuf.data());
            for (index_t r = r0; r < r1; ++r) {
                const std::size_t s = static_cast<std::size_t>(r);
                const T w = wbuf[static_cast<std::size_t>(r - r0)];
                const index_t u = rem[s];
                if (w > key[s] || (w == key[s] && pair_less(v, u, par[s], u))) {
                    key[s] = w;
                    par[s] = v;
                }
                if (best < 0 || key[s] > bk || (key[s] == bk && pair_less(par[s], u, bp, bu))) {
                    best = r;
                    bk = key[s];
                    bp = par[s];
                    bu = u;
                }
            }
        }
        tree[step] = WeightedEdge<T>{bk, std::min(bp, bu), std::max(bp, bu)};
        v = bu;
        const std::size_t b = static_cast<std::size_t>(best), l = static_cast<std::size_t>(m - 1);
        source.take(bu, best, m - 1);
        rem[b] = rem[l];
        key[b] = key[l];
        par[b] = par[l];
        --m;
    }
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

// ---------------------------------------------------------------------------
// Fast Prim paths for the exact forests (same tree as prim_max_tree with the
// matching Source, bit for bit, for any thread count).

namespace detail {

template <class T>
struct alignas(64) TeamSlot {
    PrimCandidate<T> cand;
    int tid;
    bool solo;  // tid 0's decision: from the next step on, tid 0 works alone
};

// A team stalls when the machine has fewer free cores than threads: every step
// then waits for a descheduled or slowed-down peer. TeamWatch decides when
// thread 0 should finish alone (the answer does not depend on the split): after
// `stall_limit` waits that had to yield, or when, past a warm-up, some member
// has spent more than half as long waiting at the barrier as working, so the
// team is no faster than one thread.
constexpr int team_stall_limit = 8;

class TeamWatch {
public:
    explicit TeamWatch(int stall_limit) : stall_limit_(stall_limit) {}

    // Per member: times one step's work and barrier wait.
    class Member {
    public:
        explicit Member(TeamWatch& watch) : watch_(watch) {}
        void start() { t0_ = std::chrono::steady_clock::now(); }
        // Call right after computing, `wait` runs the barrier (returns "had to yield").
        template <class Wait>
        void wait(Wait&& barrier_wait) {
            const auto t1 = std::chrono::steady_clock::now();
            const bool yielded = barrier_wait();
            const auto t2 = std::chrono::steady_clock::now();
            work_ += std::chrono::duration<double>(t1 - t0_).count();
            waited_ += std::chrono::duration<double>(t2 - t1).count();
            if (yielded) watch_.stalls_.fetch_add(1, std::memory_order_relaxed);
            if (++steps_ >= 64 && waited_ > 0.5 * work_) watch_.slow_.store(true, std::memory_order_relaxed);
        }

    private:
        TeamWatch& watch_;
        std::chrono::steady_clock::time_point t0_{};
        double work_ = 0.0, waited_ = 0.0;
        index_t steps_ = 0;
    };

    // Thread 0's decision, published in its slot before the barrier.
    bool go_solo() const {
        return stalls_.load(std::memory_order_relaxed) >= stall_limit_ || slow_.load(std::memory_order_relaxed);
    }

private:
    std::atomic<int> stalls_{0};
    std::atomic<bool> slow_{false};
    int stall_limit_;
};

template <class T>
inline const TeamSlot<T>& team_best(const TeamSlot<T>* slots, int size) {
    int b = 0;
    for (int t = 1; t < size; ++t) {
        if (candidate_better(slots[t].cand, slots[b].cand)) b = t;
    }
    return slots[b];
}

template <class T>
inline WeightedEdge<T> candidate_edge(const PrimCandidate<T>& c) {
    return WeightedEdge<T>{c.key, std::min(c.par, c.u), std::max(c.par, c.u)};
}

inline index_t round_up(index_t a, index_t b) { return (a + b - 1) / b * b; }

}  // namespace detail

// Maximum spanning tree of a symmetric dense matrix W (n x n, diagonal
// ignored), the tree prim_max_tree builds with DenseRowSource. Keys live in
// full-length arrays (NaN = in the tree), so every step reads row v
// sequentially; a team of threads splits the columns, with one barrier per
// step. Threads are used only when each gets at least `min_share` columns; a
// team that keeps stalling (see team_stall_limit) finishes on thread 0.
//
// Returns false (and leaves `tree` unspecified) if an off-diagonal entry is NaN
// or infinite: every row but the last vertex's is read in full, which covers
// every entry of a symmetric W.
//
// `cancel`, if given, stops a single-threaded run early (the tree is then
// unspecified); a team ignores it.
//
// check_finite = false: the caller has already checked every entry.
template <class T>
bool prim_max_tree_dense(const T* W, index_t n, int n_threads, WeightedEdge<T>* tree, index_t min_share = 2048,
                         int stall_limit = detail::team_stall_limit, const std::atomic<bool>* cancel = nullptr,
                         bool check_finite = true) {
    if (n <= 1) return true;
    using I = typename PrimLanes<T>::I;
    constexpr index_t L = PrimLanes<T>::L;
    if (n > static_cast<index_t>(std::numeric_limits<I>::max())) {
        for (index_t t = 0; t < n * n; ++t) {
            if (t % (n + 1) != 0 && !std::isfinite(static_cast<double>(W[t]))) return false;
        }
        DenseRowSource<T> source(W, n);
        prim_max_tree<T>(n, source, tree);
        return true;
    }
    std::vector<T> key(static_cast<std::size_t>(n), -std::numeric_limits<T>::infinity());
    std::vector<I> par(static_cast<std::size_t>(n), 0);
    key[0] = std::numeric_limits<T>::quiet_NaN();
    const index_t most = std::max<index_t>(1, n / std::max<index_t>(min_share, 1));
    const int wanted = static_cast<int>(std::min<index_t>(std::max(n_threads, 1), most));
    std::vector<detail::TeamSlot<T>> slots(static_cast<std::size_t>(2 * wanted));
    std::vector<T> checks(static_cast<std::size_t>(wanted) * 8, T(0));  // a cache line per thread
    detail::TeamWatch watch(stall_limit);
    run_team(wanted, [&](int tid, int size, SpinBarrier& barrier) {
        detail::TeamWatch::Member member(watch);
        const index_t share = detail::round_up((n + size - 1) / size, L);
        index_t lo = std::min(n, tid * share), hi = std::min(n, lo + share);
        bool team = size > 1;
        T check = T(0);
        index_t v = 0;
        for (index_t step = 0; step < n - 1; ++step) {
            if (team) member.start();
            const PrimCandidate<T> c =
                prim_dense_step(W + v * n, key.data(), par.data(), v, lo, hi, check_finite ? &check : nullptr);
            PrimCandidate<T> best = c;
            if (team) {
                detail::TeamSlot<T>* round = slots.data() + (step & 1) * size;
                round[tid] = detail::TeamSlot<T>{c, tid, tid == 0 && watch.go_solo()};
                member.wait([&] { return barrier.arrive_and_wait(); });
                best = detail::team_best(round, size).cand;
                if (round[0].solo) {
                    if (tid != 0) break;  // tid 0 takes over every column
                    team = false;
                    lo = 0;
                    hi = n;
                }
            }
            if (best.u < 0) break;  // only with NaN in W (every thread sees the same)
            if (size == 1 && cancel != nullptr && cancel->load(std::memory_order_relaxed)) break;
            if (tid == 0) tree[step] = detail::candidate_edge(best);
            v = best.u;
            if (v >= lo && v < hi) key[static_cast<std::size_t>(v)] = std::numeric_limits<T>::quiet_NaN();
        }
        checks[static_cast<std::size_t>(tid) * 8] = check;
    });
    for (std::size_t t = 0; t < checks.size(); t += 8) {
        if (!(checks[t] == T(0))) return false;
    }
    return true;
}

// Maximum spanning tree of points with w(u, v) = -d(x_u, x_v) (double), the
// tree prim_max_tree builds with PointSource. Vertices are dealt to the team in
// chunks of `chunk` (round robin, so any order of removal stays balanced);
// each thread keeps its vertices' coordinates column-major and compact, and
// removes its own vertex when Prim takes it. Memory O(n d).
template <class T>
void prim_max_tree_points(const T* X, index_t n, index_t d, Metric metric, int n_threads, WeightedEdge<double>* tree,
                          index_t min_share = 2048, index_t chunk = 256, int stall_limit = detail::team_stall_limit) {
    if (n <= 1) return;
    constexpr index_t L = PrimLanes<double>::L;
    // Row-major double copy (normalised for cosine), read by every thread for x_v.
    std::vector<double> rows(static_cast<std::size_t>(n * d));
    for (index_t i = 0; i < n; ++i) {
        double scale = 1.0;
        if (metric == Metric::cosine) {
            double norm2 = 0.0;
            for (index_t c = 0; c < d; ++c) norm2 += static_cast<double>(X[i * d + c]) * static_cast<double>(X[i * d + c]);
            scale = norm2 > 0.0 ? 1.0 / std::sqrt(norm2) : 0.0;
        }
        for (index_t c = 0; c < d; ++c) rows[static_cast<std::size_t>(i * d + c)] = static_cast<double>(X[i * d + c]) * scale;
    }
    const index_t most = std::max<index_t>(1, n / std::max<index_t>(min_share, 1));
    const int wanted = static_cast<int>(std::min<index_t>(std::max(n_threads, 1), most));
    chunk = std::max<index_t>(chunk, 1);
    // Every thread's slots, padded to the lane count: at most n + wanted * L.
    const index_t total = n + static_cast<index_t>(wanted) * L;
    std::vector<double> cols(static_cast<std::size_t>(total * std::max<index_t>(d, 1)));
    std::vector<double> key(static_cast<std::size_t>(total)), wbuf(static_cast<std::size_t>(total));
    std::vector<std::int64_t> par(static_cast<std::size_t>(total)), ids(static_cast<std::size_t>(total));
    std::vector<detail::TeamSlot<double>> slots(static_cast<std::size_t>(2 * wanted));
    std::vector<index_t> live(static_cast<std::size_t>(wanted) * 8, 0);  // live slots per region, a line each
    std::vector<index_t> offs(static_cast<std::size_t>(wanted) + 1, 0), caps(static_cast<std::size_t>(wanted), 0);
    detail::TeamWatch watch(stall_limit);
    run_team(wanted, [&](int tid, int size, SpinBarrier& barrier) {
        detail::TeamWatch::Member member(watch);
        // Region t holds the vertices of chunks c with c % size == t (vertex 0 excluded),
        // compact at slots [0, live) of its arrays, padded with NaN keys to `cap`.
        const index_t nchunks = (n + chunk - 1) / chunk;
        auto count_of = [&](int t) {
            index_t c = 0;
            for (index_t ch = t; ch < nchunks; ch += size) c += std::min(n, (ch + 1) * chunk) - ch * chunk;
            return t == 0 ? c - 1 : c;
        };
        auto cap_of = [&](int t) { return std::max<index_t>(detail::round_up(count_of(t), L), L); };
        if (tid == 0) {
            for (int t = 0; t < size; ++t) {
                caps[static_cast<std::size_t>(t)] = cap_of(t);
                offs[static_cast<std::size_t>(t) + 1] = offs[static_cast<std::size_t>(t)] + caps[static_cast<std::size_t>(t)];
            }
        }
        if (size > 1) barrier.arrive_and_wait();
        auto fill = [&](int t) {
            const index_t off = offs[static_cast<std::size_t>(t)], cap = caps[static_cast<std::size_t>(t)];
            double* tcols = cols.data() + off * d;
            index_t slot = 0;
            for (index_t ch = t; ch < nchunks; ch += size) {
                for (index_t u = std::max<index_t>(ch * chunk, 1); u < std::min(n, (ch + 1) * chunk); ++u, ++slot) {
                    for (index_t c = 0; c < d; ++c) tcols[c * cap + slot] = rows[static_cast<std::size_t>(u * d + c)];
                    key[static_cast<std::size_t>(off + slot)] = -std::numeric_limits<double>::infinity();
                    par[static_cast<std::size_t>(off + slot)] = 0;
                    ids[static_cast<std::size_t>(off + slot)] = u;
                }
            }
            live[static_cast<std::size_t>(t) * 8] = slot;
            for (; slot < cap; ++slot) {
                for (index_t c = 0; c < d; ++c) tcols[c * cap + slot] = 0.0;
                key[static_cast<std::size_t>(off + slot)] = std::numeric_limits<double>::quiet_NaN();
                par[static_cast<std::size_t>(off + slot)] = 0;
                ids[static_cast<std::size_t>(off + slot)] = 0;
            }
        };
        auto step_region = [&](int t, index_t v) {
            const index_t off = offs[static_cast<std::size_t>(t)];
            PrimCandidate<double> c = prim_point_step(
                cols.data() + off * d, caps[static_cast<std::size_t>(t)], d, rows.data() + v * d,
                static_cast<int>(metric), key.data() + off, par.data() + off, ids.data() + off, wbuf.data() + off, v,
                detail::round_up(live[static_cast<std::size_t>(t) * 8], L));
            return detail::TeamSlot<double>{c, t, false};
        };
        auto remove = [&](int t, index_t pos) {  // move region t's last live slot into pos
            const index_t off = offs[static_cast<std::size_t>(t)], cap = caps[static_cast<std::size_t>(t)];
            double* tcols = cols.data() + off * d;
            const index_t last = --live[static_cast<std::size_t>(t) * 8];
            for (index_t c = 0; c < d; ++c) tcols[c * cap + pos] = tcols[c * cap + last];
            const std::size_t p = static_cast<std::size_t>(off + pos), l = static_cast<std::size_t>(off + last);
            key[p] = key[l];
            par[p] = par[l];
            ids[p] = ids[l];
            key[l] = std::numeric_limits<double>::quiet_NaN();
        };
        fill(tid);
        bool team = size > 1;
        index_t v = 0;
        for (index_t step = 0; step < n - 1; ++step) {
            detail::TeamSlot<double> best;
            if (team) {
                detail::TeamSlot<double>* round = slots.data() + (step & 1) * size;
                member.start();
                round[tid] = step_region(tid, v);
                round[tid].solo = tid == 0 && watch.go_solo();
                member.wait([&] { return barrier.arrive_and_wait(); });
                best = detail::team_best(round, size);
                if (round[0].solo) {
                    if (tid != 0) break;  // tid 0 takes over every region
                    team = false;
                }
            } else {
                best = step_region(0, v);
                for (int t = 1; t < size; ++t) {
                    const detail::TeamSlot<double> c = step_region(t, v);
                    if (candidate_better(c.cand, best.cand)) best = c;
                }
            }
            if (tid == 0) tree[step] = detail::candidate_edge(best.cand);
            v = best.cand.u;
            if (best.tid == tid || !team) remove(best.tid, best.cand.pos);
        }
    });
}

// ---------------------------------------------------------------------------
// Kruskal on edges already sorted heaviest first: keeps the first n - k edges
// that join two trees. Returns how many it kept (fewer than n - k when the
// graph has more than k connected components).
template <class T>
index_t kruskal_sorted(index_t n, index_t k, const WeightedEdge<T>* sorted, index_t m, UnionFind& uf,
                       WeightedEdge<T>* kept) {
    const index_t target = n - k;
    index_t count = 0;
    for (index_t e = 0; e < m && count < target; ++e) {
        if (uf.unite(sorted[e].i, sorted[e].j) >= 0) kept[count++] = sorted[e];
    }
    return count;
}

template <class T>
void write_forest_edges(const WeightedEdge<T>* kept, index_t count, ForestOut<T>& out) {
    for (index_t e = 0; e < count; ++e) {
        out.edges[2 * e] = kept[e].i;
        out.edges[2 * e + 1] = kept[e].j;
        out.weights[e] = kept[e].w;
    }
}

// The k-forest from the n - 1 edges of a maximum spanning tree: drop the k - 1
// lightest (in the strict order). Value is left to the caller.
template <class T>
void kforest_from_tree(index_t n, index_t k, std::vector<WeightedEdge<T>>& tree, ForestOut<T>& out) {
    sort_edges_heaviest_first(tree);
    UnionFind uf(n);
    const index_t kept = n - k;
    for (index_t e = 0; e < kept; ++e) uf.unite(tree[static_cast<std::size_t>(e)].i, tree[static_cast<std::size_t>(e)].j);
    write_forest_edges(tree.data(), kept, out);
    uf.first_appearance_labels(out.labels);
}

// Kruskal on an explicit edge list (sparse graph). Edges may be in any order
// and orientation; self-loops are skipped; for repeated pairs the heaviest
// counts. value = 2 * sum of the kept weights (<A, S> for the symmetric S the
// edge list describes).
template <class T>
void kforest_from_edge_list(const index_t* edges, const T* weights, index_t m, index_t n, index_t k,
                            ForestOut<T>& out) {
    check_k(n, k);
    check_size(m, "m", 0);
    std::vector<WeightedEdge<T>> list;
    list.reserve(static_cast<std::size_t>(m));
    for (index_t e = 0; e < m; ++e) {
        const index_t a = edges[2 * e], b = edges[2 * e + 1];
        if (a < 0 || a >= n || b < 0 || b >= n) {
            throw std::out_of_range("edges[" + std::to_string(e) + "] = (" + std::to_string(a) + ", " +
                                    std::to_string(b) + ") is out of range for n = " + std::to_string(n));
        }
        if (!std::isfinite(static_cast<double>(weights[e]))) {
            throw std::invalid_argument("weights[" + std::to_string(e) + "] is NaN or infinite");
        }
        if (a == b) continue;
        list.push_back(WeightedEdge<T>{weights[e], std::min(a, b), std::max(a, b)});
    }
    sort_edges_heaviest_first(list);
    UnionFind uf(n);
    std::vector<WeightedEdge<T>> kept(static_cast<std::size_t>(n - k));
    const index_t count = kruskal_sorted(n, k, list.data(), static_cast<index_t>(list.size()), uf, kept.data());
    if (count < n - k) {
        throw std::invalid_argument("the graph has " + std::to_string(uf.components()) +
                                    " connected components, so it has no forest with k = " + std::to_string(k) +
                                    " trees; k must be at least " + std::to_string(uf.components()));
    }
    write_forest_edges(kept.data(), count, out);
    uf.first_appearance_labels(out.labels);
    double total = 0.0;
    for (index_t e = 0; e < count; ++e) total += static_cast<double>(kept[static_cast<std::size_t>(e)].w);
    *out.value = 2.0 * total;
}

// ---------------------------------------------------------------------------
// Dense similarity matrices.

struct MatrixScan {
    bool finite = true;     // every off-diagonal entry is finite
    bool symmetric = true;  // S_ij == S_ji for every i != j
};

// One cache-blocked pass over the off-diagonal entries.
template <class T>
MatrixScan scan_matrix(const T* S, index_t n, int n_threads) {
    constexpr index_t tile = 32;
    const index_t nb = (n + tile - 1) / tile;
    std::vector<unsigned char> finite(static_cast<std::size_t>(nb), 1), symmetric(static_cast<std::size_t>(nb), 1);
    parallel_for(nb, n_threads, [&](index_t bi) {
        unsigned fin = 1, sym = 1;
        const index_t i0 = bi * tile, i1 = std::min(n, i0 + tile);
        for (index_t bj = bi; bj < nb; ++bj) {
            const index_t j0 = bj * tile, j1 = std::min(n, j0 + tile);
            for (index_t i = i0; i < i1; ++i) {
                for (index_t j = std::max(j0, i + 1); j < j1; ++j) {
                    const T a = S[i * n + j], b = S[j * n + i];
                    fin &= static_cast<unsigned>((a - a == T(0)) & (b - b == T(0)));
                    sym &= static_cast<unsigned>(a == b);
                }
            }
        }
        finite[static_cast<std::size_t>(bi)] = static_cast<unsigned char>(fin);
        symmetric[static_cast<std::size_t>(bi)] = static_cast<unsigned char>(sym);
    });
    MatrixScan scan;
    for (index_t b = 0; b < nb; ++b) {
        scan.finite = scan.finite && finite[static_cast<std::size_t>(b)];
        scan.symmetric = scan.symmetric && symmetric[static_cast<std::size_t>(b)];
    }
    return scan;
}

// W = (S + S^T) / 2 off the diagonal (computed as S/2 + S^T/2: never overflows).
template <class T>
void symmetrize(const T* S, index_t n, T* W, int n_threads) {
    constexpr index_t tile = 32;
    const index_t nb = (n + tile - 1) / tile;
    parallel_for(nb, n_threads, [&](index_t bi) {
        const index_t i0 = bi * tile, i1 = std::min(n, i0 + tile);
        for (index_t bj = bi; bj < nb; ++bj) {
            const index_t j0 = bj * tile, j1 = std::min(n, j0 + tile);
            for (index_t i = i0; i < i1; ++i) {
                for (index_t j = std::max(j0, i + 1); j < j1; ++j) {
                    const T w = S[i * n + j] / T(2) + S[j * n + i] / T(2);
                    W[i * n + j] = w;
                    W[j * n + i] = w;
                }
            }
        }
        for (index_t i = i0; i < i1; ++i) W[i * n + i] = T(0);
    });
}

// One pass over S: is it symmetric and finite off the diagonal? (NaN and
// infinities answer false; the caller then goes the symmetrising path, whose
// Prim pass names the problem.) Row blocks of 64 are checked against their
// mirror in parallel; stops at the first failing block.
template <class T>
bool symmetric_and_finite(const T* S, index_t n, int n_threads) {
    constexpr index_t tile = 64;
    const index_t nb = (n + tile - 1) / tile;
    std::atomic<bool> ok{true};
    // Blocks are handed out from the top, whose rows have the longest mirrors.
    // Below 2048 the whole check takes well under a millisecond: one thread.
    parallel_for(nb, n_threads < 2 || n < 2048 ? 1 : n_threads, [&](index_t b) {
        if (!ok.load(std::memory_order_relaxed)) return;
        const index_t i0 = b * tile;
        if (!row_block_symmetric(S, n, i0, std::min(n, i0 + tile), tile)) ok.store(false);
    });
    return ok.load();
}

// Maximum spanning tree of the dense similarity S (n x n). `name` names the
// argument in error messages.
//
// Both passes over S (the symmetry check and Prim) are bound by memory latency,
// not by compute. With two or more threads they run at the same time: Prim on
// S (as if symmetric) on the calling thread, the check on the others (and on
// the Prim thread once it is done); no per-step synchronisation, so a busy
// machine makes it at worst about as slow as the serial order. If S turns out
// not to be symmetric, Prim is cancelled and rerun on the symmetrised copy.
template <class T>
std::vector<WeightedEdge<T>> dense_max_tree(const T* S, index_t n, int n_threads, const std::string& name,
                                            index_t min_overlap = 1024) {
    std::vector<WeightedEdge<T>> tree(static_cast<std::size_t>(n > 0 ? n - 1 : 0));
    bool finite = true, symmetric = true;
    if (n_threads >= 2 && n >= min_overlap) {
        // Row blocks of the check are handed out in order from a shared counter:
        // the other threads take them from the start, and the Prim thread joins
        // in when it is done, so a slow (busy) core never leaves work waiting.
        constexpr index_t tile = 64;
        const index_t nb = (n + tile - 1) / tile;
        std::atomic<index_t> next{0};
        std::atomic<bool> cancel{false};  // S is not symmetric and finite: stop Prim
        auto check_blocks = [&] {
            for (index_t b = next.fetch_add(1); b < nb && !cancel.load(std::memory_order_relaxed);
                 b = next.fetch_add(1)) {
                const index_t i0 = b * tile;
                if (!row_block_symmetric(S, n, i0, std::min(n, i0 + tile), tile)) cancel.store(true);
            }
        };
        run_team(n_threads, [&](int tid, int, SpinBarrier&) {
            if (tid == 0) prim_max_tree_dense<T>(S, n, 1, tree.data(), n, detail::team_stall_limit, &cancel, false);
            check_blocks();
        });
        symmetric = !cancel.load();
    } else {
        symmetric = symmetric_and_finite(S, n, n_threads);
        // The check covered every entry of a symmetric S: Prim need not.
        if (symmetric) {
            prim_max_tree_dense<T>(S, n, n_threads, tree.data(), 2048, detail::team_stall_limit, nullptr, false);
        }
    }
    if (!symmetric) {  // (or not finite)
        std::vector<T> W(static_cast<std::size_t>(n) * static_cast<std::size_t>(n));
        symmetrize(S, n, W.data(), n_threads);  // NaN and inf survive into W
        finite = prim_max_tree_dense<T>(W.data(), n, n_threads, tree.data());
    }
    if (!finite) throw std::invalid_argument(name + " contains NaN or infinity off the diagonal");
    return tree;
}

// Exact maximum-weight k-forest of a dense similarity matrix.
template <class T>
void kforest_dense(const T* S, index_t n, index_t k, int n_threads, ForestOut<T>& out,
                   const std::string& name = "S") {
    check_k(n, k);
    std::vector<WeightedEdge<T>> tree = dense_max_tree(S, n, n_threads, name);
    kforest_from_tree(n, k, tree, out);
    double value = 0.0;
    for (index_t e = 0; e < n - k; ++e) {
        const index_t i = out.edges[2 * e], j = out.edges[2 * e + 1];
        value += static_cast<double>(S[i * n + j]) + static_cast<double>(S[j * n + i]);
    }
    *out.value = value;
}

// A batch of b dense matrices (b, n, n); threads across the batch.
template <class T>
void kforest_dense_batch(const T* S, index_t b, index_t n, index_t k, int n_threads, index_t* labels,
                         index_t* edges, T* weights, double* values) {
    check_k(n, k);
    check_size(b, "b", 0);
    const index_t kept = n - k;
    parallel_for(b, n_threads, [&](index_t t) {
        ForestOut<T> out{labels + t * n, edges + t * kept * 2, weights + t * kept, values + t};
        kforest_dense(S + t * n * n, n, k, 1, out, "S[" + std::to_string(t) + "]");
    });
}

// Exact k-forest of points X (n x d) with S_ij = -d(x_i, x_j), in O(n d) memory.
// Weights are -d(x_i, x_j) in double precision; value = -2 * sum of distances.
template <class T>
void kforest_points(const T* X, index_t n, index_t d, index_t k, Metric metric, ForestOut<double>& out,
                    int n_threads = 1) {
    check_k(n, k);
    check_size(d, "d");
    for (index_t t = 0; t < n * d; ++t) {
        if (!std::isfinite(static_cast<double>(X[t]))) throw std::invalid_argument("X contains NaN or infinity");
    }
    std::vector<WeightedEdge<double>> tree(static_cast<std::size_t>(n > 0 ? n - 1 : 0));
    prim_max_tree_points(X, n, d, metric, n_threads, tree.data());
    kforest_from_tree(n, k, tree, out);
    double value = 0.0;
    for (index_t e = 0; e < n - k; ++e) value += 2.0 * out.weights[e];
    *out.value = value;
}

}  // namespace diffclust
