// Perturbed maximum-weight k-forests (Stewart et al., 2023, DESIGN §2).
//
// For symmetric Gaussian noise Z_s (one normal per edge, from rng.hpp) and
// scale sigma, sample s solves the k-forest of S + sigma Z_s. Estimates:
//   A_eps = mean_s A_s,  M_eps = mean_s M_s,  F_eps = mean_s <A_s, S + sigma Z_s>.
// Unconstrained samples fuse the noise into Prim: each edge's normal is drawn
// where Prim reads the edge, so memory per thread is O(n) plus the integer
// count accumulators. A and M are accumulated as integer counts (exact, order
// independent) and samples are split in fixed chunks, so the result is
// bit-identical for any thread count.
#pragma once

#include <algorithm>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "diffclust/forest/constrained.hpp"
#include "diffclust/core/cancel.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/core/rng.hpp"
#include "diffclust/forest/spanning_forest.hpp"
#include "diffclust/core/checks.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust {

struct PerturbSpec {
    double sigma;
    index_t n_samples;
    u64 seed;
};

// The symmetric weights W = (S + S^T) / 2 of a dense S: S itself when it is
// symmetric, else a symmetrised copy. Checks finiteness off the diagonal.
template <class T>
struct SymmetricWeights {
    const T* W = nullptr;
    std::vector<T> storage;

    SymmetricWeights(const T* S, index_t n, int n_threads, const std::string& name) {
        const MatrixScan scan = scan_matrix(S, n, n_threads);
        if (!scan.finite) throw std::invalid_argument(name + " contains NaN or infinity off the diagonal");
        if (scan.symmetric) {
            W = S;
        } else {
            storage.resize(static_cast<std::size_t>(n) * static_cast<std::size_t>(n));
            symmetrize(S, n, storage.data(), n_threads);
            W = storage.data();
        }
    }
};

// Reusable per-thread arrays of the fused perturbed Prim. `twin` and the
// pending fields serve pairs of samples solved together: the second sample's
// tree waits in twin->tree until that sample is asked for.
struct PrimWorkspace {
    std::vector<index_t> rem, par;
    std::vector<double> key;
    std::vector<WeightedEdge<double>> tree;
    std::vector<WeightedEdge<double>> pool;  // the constrained greedy's edges
    std::unique_ptr<PrimWorkspace> twin;
    index_t pending = -1;  // the sample whose tree is in twin->tree, or -1
    const void* pending_W = nullptr;
    double pending_sigma = 0.0;
    u64 pending_seed = 0;
};

// Samples are solved two at a time, their Prim steps interleaved, up to this
// many points (measured on Zen 4: 10% faster at n = 64, 6% at 128, none at 256).
constexpr index_t fused_pair_max_n = 192;

// Prim's weight source for W + sigma Z_s with the noise drawn on the fly.
template <class T>
struct PerturbedRowSource {
    const T* W;
    index_t n;
    double sigma;
    u64 seed;
    u32 sample;
    index_t v = 0;
    const T* row;
    std::vector<double> base;

    PerturbedRowSource(const T* W_, index_t n_, double sigma_, u64 seed_, u32 sample_)
        : W(W_), n(n_), sigma(sigma_), seed(seed_), sample(sample_), row(W_) {}
    void weights(const index_t* rem, index_t r0, index_t r1, double* out) {
        const index_t len = r1 - r0;
        if (static_cast<index_t>(base.size()) < len) base.resize(static_cast<std::size_t>(len));
        for (index_t r = 0; r < len; ++r) base[static_cast<std::size_t>(r)] = static_cast<double>(row[rem[r0 + r]]);
        add_edge_normals(seed, sample, static_cast<u32>(v), rem + r0, len, sigma, base.data(), out);
    }
    void take(index_t v_, index_t, index_t) {
        v = v_;
        row = W + v * n;
    }
};


#ifdef DIFFCLUST_HAVE_AVX512_PATH
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // see rng.hpp
#endif
// One sample's maximum spanning tree of W + sigma Z_s, Prim with the noise fused
// into the step: for the remaining vertices u, 8 to a register, gather W[v, u],
// draw Z(v, u) (Philox + ziggurat as in rng.hpp, bit-identical), update the
// keys and track the best candidate, all in registers. Up to four registers
// are drawn together so that their Philox chains overlap. Exact ties (equal
// doubles) are resolved by the strict edge order on a scalar path.
template <class T>
struct FusedPrimStep {
    const T* row;        // W[v, :]
    index_t v, m;        // the vertex just added; the number of remaining vertices
    index_t* rem;
    index_t* par;
    double* key;
    __m512i vv;
    __m512d best_key;
    __m512i best_pos;
    bool best_ties;
};

template <int L, class T>
DIFFCLUST_AVX512 DIFFCLUST_ALWAYS_INLINE void fused_prim_block(const Avx512Normals& normals, __m512d vsigma, index_t r0,
                                                               FusedPrimStep<T>& st) {
    const __m512i lane = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    __m512i uv[L], lo[L], hi[L];
    __m512d z[L], base[L];
    __mmask8 valid[L];
    index_t len[L];
    for (int l = 0; l < L; ++l) {
        const index_t left = st.m - r0 - 8 * l;
        len[l] = left < 8 ? left : 8;
        valid[l] = static_cast<__mmask8>((1u << len[l]) - 1u);
        uv[l] = _mm512_maskz_loadu_epi64(valid[l], st.rem + r0 + 8 * l);
        lo[l] = _mm512_min_epu64(st.vv, uv[l]);
        hi[l] = _mm512_max_epu64(st.vv, uv[l]);
        // W[v, u], gathered before the draw so that its latency overlaps Philox
        if constexpr (sizeof(T) == 8) {
            base[l] = _mm512_mask_i64gather_pd(_mm512_setzero_pd(), valid[l], uv[l], reinterpret_cast<const double*>(st.row), 8);
        } else {
            base[l] = _mm512_cvtps_pd(_mm512_mask_i64gather_ps(_mm256_setzero_ps(), valid[l], uv[l], reinterpret_cast<const float*>(st.row), 4));
        }
    }
    normals.draw<L>(lo, hi, valid, z);
    for (int l = 0; l < L; ++l) {
        const index_t r = r0 + 8 * l;
        const __m512d w = _mm512_add_pd(base[l], _mm512_mul_pd(vsigma, z[l]));
        __m512d kv = _mm512_maskz_loadu_pd(valid[l], st.key + r);
        __m512i pv = _mm512_maskz_loadu_epi64(valid[l], st.par + r);
        __mmask8 upd = _mm512_mask_cmp_pd_mask(valid[l], w, kv, _CMP_GT_OQ);
        const __mmask8 eq = _mm512_mask_cmp_pd_mask(valid[l], w, kv, _CMP_EQ_OQ);
        if (eq) {
            alignas(64) long long pl[8];
            _mm512_store_si512(reinterpret_cast<__m512i*>(pl), pv);
            for (index_t q = 0; q < len[l]; ++q) {
                const index_t uu = st.rem[r + q];
                if (((eq >> q) & 1u) && pair_less(st.v, uu, pl[q], uu)) upd = static_cast<__mmask8>(upd | (1u << q));
            }
        }
        kv = _mm512_mask_mov_pd(kv, upd, w);
        pv = _mm512_mask_mov_epi64(pv, upd, st.vv);
        _mm512_mask_storeu_pd(st.key + r, valid[l], kv);
        _mm512_mask_storeu_epi64(st.par + r, valid[l], pv);
        const __m512i pos = _mm512_add_epi64(_mm512_set1_epi64(r), lane);
        const __mmask8 better = _mm512_mask_cmp_pd_mask(valid[l], kv, st.best_key, _CMP_GT_OQ);
        st.best_ties |= _mm512_mask_cmp_pd_mask(valid[l], kv, st.best_key, _CMP_EQ_OQ) != 0;
        st.best_key = _mm512_mask_mov_pd(st.best_key, better, kv);
        st.best_pos = _mm512_mask_mov_epi64(st.best_pos, better, pos);
    }
}

// Resets ws and st for a new sample (Prim starts from vertex 0).
template <class T>
void fused_prim_init(const T* W, index_t n, PrimWorkspace& ws, FusedPrimStep<T>& st) {
    const index_t m0 = n - 1;
    ws.rem.resize(static_cast<std::size_t>(m0));
    ws.par.assign(static_cast<std::size_t>(m0), 0);
    ws.key.assign(static_cast<std::size_t>(m0), -std::numeric_limits<double>::infinity());
    ws.tree.resize(static_cast<std::size_t>(m0));
    for (index_t r = 0; r < m0; ++r) ws.rem[static_cast<std::size_t>(r)] = r + 1;
    st.row = W;
    st.v = 0;
    st.m = m0;
    st.rem = ws.rem.data();
    st.par = ws.par.data();
    st.key = ws.key.data();
}

// One Prim step's reads: the row of the vertex just added, for every remaining vertex.
template <class T>
DIFFCLUST_AVX512 DIFFCLUST_ALWAYS_INLINE void fused_prim_scan(const Avx512Normals& normals, __m512d vsigma, const T* W,
                                                              index_t n, FusedPrimStep<T>& st) {
    st.row = W + st.v * n;
    st.vv = _mm512_set1_epi64(st.v);
    st.best_key = _mm512_set1_pd(-std::numeric_limits<double>::infinity());
    st.best_pos = _mm512_set1_epi64(-1);
    st.best_ties = false;
    index_t r0 = 0;
    for (; st.m - r0 > 24; r0 += 32) fused_prim_block<4>(normals, vsigma, r0, st);
    if (st.m - r0 > 16) {
        fused_prim_block<3>(normals, vsigma, r0, st);
    } else if (st.m - r0 > 8) {
        fused_prim_block<2>(normals, vsigma, r0, st);
    } else if (st.m - r0 > 0) {
        fused_prim_block<1>(normals, vsigma, r0, st);
    }
}

// One Prim step's choice: the best remaining vertex under the strict order
// joins the tree as edge `step`.
template <class T>
DIFFCLUST_AVX512 DIFFCLUST_ALWAYS_INLINE void fused_prim_take(FusedPrimStep<T>& st, index_t step, PrimWorkspace& ws) {
    index_t* rem = st.rem;
    index_t* par = st.par;
    double* key = st.key;
    const index_t m = st.m;
    index_t best = -1;
    if (!st.best_ties) {
        alignas(64) long long pl[8];
        const double top = _mm512_reduce_max_pd(st.best_key);
        const __mmask8 at_top = _mm512_cmp_pd_mask(st.best_key, _mm512_set1_pd(top), _CMP_EQ_OQ);
        _mm512_store_si512(reinterpret_cast<__m512i*>(pl), st.best_pos);
        for (int l = 0; l < 8; ++l) {
            if (!((at_top >> l) & 1u)) continue;
            const index_t p = pl[l];
            if (best < 0 || pair_less(par[p], rem[p], par[best], rem[best])) best = p;
        }
    } else {  // equal keys somewhere: a scalar scan with the full order
        for (index_t r = 0; r < m; ++r) {
            if (best < 0 || key[r] > key[best] || (key[r] == key[best] && pair_less(par[r], rem[r], par[best], rem[best]))) best = r;
        }
    }
    const index_t bu = rem[best], bp = par[best];
    ws.tree[static_cast<std::size_t>(step)] = WeightedEdge<double>{key[best], std::min(bp, bu), std::max(bp, bu)};
    st.v = bu;
    rem[best] = rem[m - 1];
    key[best] = key[m - 1];
    par[best] = par[m - 1];
    --st.m;
}

template <class T>
DIFFCLUST_AVX512 void perturbed_prim_avx512(const T* W, index_t n, double sigma, u64 seed, u32 sample,
                                            PrimWorkspace& ws) {
    const Avx512Normals normals(seed, sample);
    const __m512d vsigma = _mm512_set1_pd(sigma);
    FusedPrimStep<T> st{};
    fused_prim_init(W, n, ws, st);
    for (index_t step = 0; step < n - 1; ++step) {
        fused_prim_scan(normals, vsigma, W, n, st);
        fused_prim_take(st, step, ws);
    }
}

// Two samples' trees at once, their steps interleaved: one sample's choice
// (a short dependent chain) overlaps the other's scan. The same trees as two
// calls of perturbed_prim_avx512.
template <class T>
DIFFCLUST_AVX512 void perturbed_prim_avx512_pair(const T* W, index_t n, double sigma, u64 seed, u32 sample,
                                                 PrimWorkspace& ws0, PrimWorkspace& ws1) {
    const Avx512Normals normals0(seed, sample), normals1(seed, sample + 1);
    const __m512d vsigma = _mm512_set1_pd(sigma);
    FusedPrimStep<T> st0{}, st1{};
    fused_prim_init(W, n, ws0, st0);
    fused_prim_init(W, n, ws1, st1);
    for (index_t step = 0; step < n - 1; ++step) {
        fused_prim_scan(normals0, vsigma, W, n, st0);
        fused_prim_scan(normals1, vsigma, W, n, st1);
        fused_prim_take(st0, step, ws0);
        fused_prim_take(st1, step, ws1);
    }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

// One sample's maximum spanning tree of W + sigma Z_s into ws.tree.
template <class T>
void perturbed_prim(const T* W, index_t n, double sigma, u64 seed, u32 sample, PrimWorkspace& ws, bool pair_next = false);

// Prim's weight source for points: -d(x_v, x_u) + sigma Z_s(v, u).
struct PerturbedPointSource {
    PointSource points;
    double sigma;
    u64 seed;
    u32 sample;
    index_t v = 0;
    std::vector<double> base;

    PerturbedPointSource(const PointSource& p, double sigma_, u64 seed_, u32 sample_)
        : points(p), sigma(sigma_), seed(seed_), sample(sample_) {}
    void weights(const index_t* rem, index_t r0, index_t r1, double* out) {
        const index_t len = r1 - r0;
        if (static_cast<index_t>(base.size()) < len) base.resize(static_cast<std::size_t>(len));
        points.weights(rem, r0, r1, base.data());
        add_edge_normals(seed, sample, static_cast<u32>(v), rem + r0, len, sigma, base.data(), out);
    }
    void take(index_t v_, index_t pos, index_t last) {
        v = v_;
        points.take(v_, pos, last);
    }
};

// With pair_next set, the caller promises to ask for sample + 1 next on this
// workspace: both trees may then be computed at once.
template <class T>
void perturbed_prim(const T* W, index_t n, double sigma, u64 seed, u32 sample, PrimWorkspace& ws, bool pair_next) {
    if (n <= 1) {
        ws.tree.clear();
        return;
    }
#ifdef DIFFCLUST_HAVE_AVX512_PATH
    if (cpu_has_avx512()) {
        if (ws.pending == static_cast<index_t>(sample) && ws.pending_W == W && ws.pending_seed == seed &&
            ws.pending_sigma == sigma && static_cast<index_t>(ws.twin->tree.size()) == n - 1) {
            std::swap(ws.tree, ws.twin->tree);
            ws.pending = -1;
            return;
        }
        ws.pending = -1;
        if (pair_next && n <= fused_pair_max_n) {
            if (!ws.twin) ws.twin = std::make_unique<PrimWorkspace>();
            perturbed_prim_avx512_pair(W, n, sigma, seed, sample, ws, *ws.twin);
            ws.pending = static_cast<index_t>(sample) + 1;
            ws.pending_W = W;
            ws.pending_seed = seed;
            ws.pending_sigma = sigma;
            return;
        }
        perturbed_prim_avx512(W, n, sigma, seed, sample, ws);
        return;
    }
#endif
    (void)pair_next;  // the portable path solves one sample at a time
    ws.tree.resize(static_cast<std::size_t>(n - 1));
    PerturbedRowSource<T> source(W, n, sigma, seed, sample);
    prim_max_tree<double>(n, source, ws.tree.data());
}

// Wt = W + sigma Z_s as a dense symmetric matrix (for the constrained greedy).
template <class T>
void perturbed_matrix(const T* W, index_t n, double sigma, u64 seed, u32 sample, double* Wt) {
    for (index_t i = 0; i < n; ++i) {
        double* row = Wt + i * n;
        row[i] = 0.0;
        const index_t len = n - i - 1;
        if (len <= 0) continue;
        const T* wrow = W + i * n;
        row_edge_normals(seed, sample, static_cast<u32>(i), static_cast<u32>(i + 1), len, sigma, row + i + 1);
        for (index_t j = i + 1; j < n; ++j) row[j] += static_cast<double>(wrow[j]);
        for (index_t j = i + 1; j < n; ++j) Wt[j * n + i] = row[j];
    }
}

// One solved sample: the forest's edges (heaviest first) and labels.
struct SampleForest {
    std::vector<WeightedEdge<double>> edges;
    std::vector<index_t> labels;
    double value = 0.0;  // <A, S + sigma Z> = 2 * sum of the perturbed edge weights

    void finish_value() {
        double total = 0.0;
        for (const auto& e : edges) total += e.w;
        value = 2.0 * total;
    }
};

// Cuts the k - 1 lightest edges (strict order) of a spanning tree into `f`;
// the kept edges come in no particular order (counts do not need one).
inline void forest_from_tree(index_t n, index_t k, std::vector<WeightedEdge<double>>& tree, SampleForest& f) {
    if (k > 1 && n - k > 0) {
        std::nth_element(tree.begin(), tree.begin() + (n - k), tree.end(),
                         [](const WeightedEdge<double>& a, const WeightedEdge<double>& b) { return heavier(a, b); });
    }
    f.edges.assign(tree.begin(), tree.begin() + (n - k));
    UnionFind uf(n);
    for (const auto& e : f.edges) uf.unite(e.i, e.j);
    f.labels.resize(static_cast<std::size_t>(n));
    uf.first_appearance_labels(f.labels.data());
    f.finish_value();
}

// Solves one sample: fused Prim when unconstrained, else the constrained greedy
// on the materialised perturbed matrix (`scratch` holds n x n doubles).
template <class T>
void solve_sample(const T* W, index_t n, index_t k, const PerturbSpec& spec, u32 s, const ConstrainedProblem* cp,
                  bool refine, std::vector<double>& scratch, PrimWorkspace& ws, SampleForest& f, bool pair_next = false) {
    if (cp == nullptr) {
        perturbed_prim(W, n, spec.sigma, spec.seed, s, ws, pair_next);
        forest_from_tree(n, k, ws.tree, f);
        return;
    }
    scratch.resize(static_cast<std::size_t>(n) * static_cast<std::size_t>(n));
    perturbed_matrix(W, n, spec.sigma, spec.seed, s, scratch.data());
    f.labels.resize(static_cast<std::size_t>(n));
    cp->solve(scratch.data(), refine, f.edges, f.labels.data(), &ws.pool);
    f.finish_value();
}

// The k-forest of a dense symmetric double matrix whose entries are known to be
// finite (the perturbed matrix of a sample, or W itself), by one thread.
inline void dense_forest(const double* W, index_t n, index_t k, std::vector<WeightedEdge<double>>& tree,
                         SampleForest& f) {
    tree.resize(static_cast<std::size_t>(n > 0 ? n - 1 : 0));
    prim_max_tree_dense<double>(W, n, 1, tree.data(), n, detail::team_stall_limit, nullptr, false);
    forest_from_tree(n, k, tree, f);
}

// The unperturbed solution on the same footing (for control variates).
template <class T>
void solve_exact(const T* W, index_t n, index_t k, const ConstrainedProblem* cp, bool refine, SampleForest& f) {
    std::vector<double> copy;  // the solvers work in double
    const double* Wd;
    if constexpr (std::is_same_v<T, double>) {
        Wd = W;
    } else {
        copy.assign(W, W + static_cast<std::size_t>(n) * static_cast<std::size_t>(n));
        Wd = copy.data();
    }
    if (cp == nullptr) {
        std::vector<WeightedEdge<double>> tree;
        dense_forest(Wd, n, k, tree, f);
        return;
    }
    f.labels.resize(static_cast<std::size_t>(n));
    cp->solve(Wd, refine, f.edges, f.labels.data());
    f.finish_value();
}

// Samples are handed to threads in chunks of this many (results do not depend
// on it: counts are integers and values are kept per sample).
constexpr index_t sample_chunk = 2;

// Runs fn(s, tid) for every sample in fixed chunks; checks for interrupts
// between chunks (core/cancel.hpp).
template <class Fn>
void for_each_sample(index_t n_samples, int n_threads, Fn&& fn) {
    constexpr index_t chunk = sample_chunk;
    const index_t n_chunks = (n_samples + chunk - 1) / chunk;
    parallel_for_tid(n_chunks, n_threads, [&](index_t c, int tid) {
        const index_t s1 = std::min(n_samples, (c + 1) * chunk);
        for (index_t s = c * chunk; s < s1; ++s) fn(s, tid);
        cancellation_point();
    });
}

// Whether for_each_sample asks for sample s + 1 right after s on the same thread.
inline bool pairs_next(index_t s, index_t n_samples) { return s % sample_chunk == 0 && s + 1 < n_samples && sample_chunk >= 2; }

inline int team_size(index_t n_samples, int n_threads) {
    return static_cast<int>(std::max<index_t>(1, std::min<index_t>(n_threads, (n_samples + sample_chunk - 1) / sample_chunk)));
}

// Points grouped by cluster (counting sort): the members of cluster c are
// order[start[c] .. start[c + 1]), ascending. Returns sum_c |c|^2.
inline double group_by_label(const index_t* lab, index_t n, std::vector<index_t>& start, std::vector<index_t>& order) {
    const index_t k = *std::max_element(lab, lab + n) + 1;
    start.assign(static_cast<std::size_t>(k + 1), 0);
    for (index_t i = 0; i < n; ++i) ++start[static_cast<std::size_t>(lab[i] + 1)];
    double pairs = 0.0;
    for (index_t c = 0; c < k; ++c) {
        const double size = static_cast<double>(start[static_cast<std::size_t>(c + 1)]);
        pairs += size * size;
        start[static_cast<std::size_t>(c + 1)] += start[static_cast<std::size_t>(c)];
    }
    order.resize(static_cast<std::size_t>(n));
    std::vector<index_t> fill(start.begin(), start.end() - 1);
    for (index_t i = 0; i < n; ++i) order[static_cast<std::size_t>(fill[static_cast<std::size_t>(lab[i])]++)] = i;
    return pairs;
}

// M[i, j] += (lab[i] == lab[j]) for i < j: one pass over the upper triangle,
// vectorised in every target_clones copy (32-bit labels compare 16 to a register).
static DIFFCLUST_TARGET_CLONES void add_same_label(const std::int32_t* DIFFCLUST_RESTRICT lab, index_t n,
                                                  u32* DIFFCLUST_RESTRICT M) {
    for (index_t i = 0; i < n; ++i) {
        u32* row = M + i * n;
        const std::int32_t li = lab[i];
        for (index_t j = i + 1; j < n; ++j) row[j] += static_cast<u32>(lab[j] == li);
    }
}

// Per-thread integer accumulators of the upper triangles of A and M.
struct Counts {
    index_t n;
    std::vector<u32> A, M;
    std::vector<index_t> start, order;  // points grouped by cluster (scratch)
    std::vector<std::int32_t> lab32;
    Counts(index_t n_, bool want_A, bool want_M)
        : n(n_), A(want_A ? static_cast<std::size_t>(n_ * n_) : 0), M(want_M ? static_cast<std::size_t>(n_ * n_) : 0) {}

    void add(const SampleForest& f) {
        if (!A.empty()) {
            for (const auto& e : f.edges) ++A[static_cast<std::size_t>(e.i * n + e.j)];
        }
        if (!M.empty()) add_connectivity(f.labels.data());
    }

private:
    void add_connectivity(const index_t* lab) {
        // pairs within clusters are sum_c |c|^2 / 2, often far fewer than n^2 / 2
        const double pairs = group_by_label(lab, n, start, order);
        if (pairs > 0.25 * static_cast<double>(n) * static_cast<double>(n)) {  // big clusters: one vectorised pass
            lab32.assign(lab, lab + n);  // labels < n < 2^31
            add_same_label(lab32.data(), n, M.data());
            return;
        }
        for (std::size_t c = 0; c + 1 < start.size(); ++c) {
            const index_t b0 = start[c], b1 = start[c + 1];
            for (index_t a = b0; a < b1; ++a) {
                u32* row = M.data() + order[static_cast<std::size_t>(a)] * n;
                for (index_t b = a + 1; b < b1; ++b) ++row[order[static_cast<std::size_t>(b)]];
            }
        }
    }
};

// out = (sum of the counts' upper triangles) / B, mirrored; `diagonal` on the diagonal.
template <class T>
void counts_to_matrix(const std::vector<std::unique_ptr<Counts>>& counts, bool use_M, index_t n, index_t n_samples,
                      T diagonal, T* out) {
    const double B = static_cast<double>(n_samples);
    for (index_t i = 0; i < n; ++i) {
        out[i * n + i] = diagonal;
        for (index_t j = i + 1; j < n; ++j) {
            u64 total = 0;
            for (const auto& c : counts) {
                if (c) total += (use_M ? c->M : c->A)[static_cast<std::size_t>(i * n + j)];
            }
            const T value = static_cast<T>(static_cast<double>(total) / B);
            out[i * n + j] = value;
            out[j * n + i] = value;
        }
    }
}

template <class T>
struct PerturbedOut {
    T* A;           // (n, n) A_eps, or null
    T* M;           // (n, n) M_eps, or null
    double* value;  // F_eps
};

// Each sample's forest, kept by a forward pass so that a VJP need not solve
// again: edges (B x (n - k) x 2, i < j, in the solver's order: deterministic,
// but not sorted) and labels (B x n). Null pointers keep nothing.
struct KeptSamples {
    index_t* edges = nullptr;
    index_t* labels = nullptr;
};

inline void keep_sample(const SampleForest& f, index_t n, index_t k, index_t s, const KeptSamples& keep) {
    if (static_cast<index_t>(f.edges.size()) != n - k) throw std::logic_error("a sample's forest does not have n - k edges");
    if (keep.edges != nullptr) {
        index_t* e = keep.edges + s * (n - k) * 2;
        for (const auto& edge : f.edges) {
            *e++ = edge.i;
            *e++ = edge.j;
        }
    }
    if (keep.labels != nullptr) std::copy(f.labels.begin(), f.labels.end(), keep.labels + s * n);
}

// Runs solve(s, tid, forest) for every sample and writes A_eps, M_eps, F_eps
// (and each sample's forest when `keep` asks for it).
template <class T, class Solve>
void estimate_perturbed(index_t n, index_t k, const PerturbSpec& spec, int n_threads, const PerturbedOut<T>& out,
                        const KeptSamples& keep, Solve&& solve) {
    const int team = team_size(spec.n_samples, n_threads);
    std::vector<std::unique_ptr<Counts>> counts(static_cast<std::size_t>(team));
    std::vector<double> values(static_cast<std::size_t>(spec.n_samples));
    std::vector<SampleForest> forests(static_cast<std::size_t>(team));
    for_each_sample(spec.n_samples, team, [&](index_t s, int tid) {
        auto& c = counts[static_cast<std::size_t>(tid)];
        if (!c) c = std::make_unique<Counts>(n, out.A != nullptr, out.M != nullptr);
        SampleForest& f = forests[static_cast<std::size_t>(tid)];
        solve(s, tid, f);
        c->add(f);
        values[static_cast<std::size_t>(s)] = f.value;
        if (keep.edges != nullptr || keep.labels != nullptr) keep_sample(f, n, k, s, keep);
    });
    double total = 0.0;
    for (double v : values) total += v;
    *out.value = total / static_cast<double>(spec.n_samples);
    if (out.A) counts_to_matrix(counts, false, n, spec.n_samples, T(0), out.A);
    if (out.M) counts_to_matrix(counts, true, n, spec.n_samples, T(1), out.M);
}

// A_eps, M_eps and F_eps of a dense S (n x n), constrained when cp != null.
template <class T>
void perturbed_kforest(const T* S, index_t n, index_t k, const PerturbSpec& spec, const ConstrainedProblem* cp,
                       bool refine, int n_threads, const PerturbedOut<T>& out,
                       const std::string& name = "S", const KeptSamples& keep = {}) {
    check_k(n, k);
    check_perturbation(spec.sigma, spec.n_samples);
    const SymmetricWeights<T> sym(S, n, n_threads, name);
    const int team = team_size(spec.n_samples, n_threads);
    std::vector<std::vector<double>> scratch(static_cast<std::size_t>(team));
    std::vector<PrimWorkspace> work(static_cast<std::size_t>(team));
    estimate_perturbed(n, k, spec, n_threads, out, keep, [&](index_t s, int tid, SampleForest& f) {
        const std::size_t t = static_cast<std::size_t>(tid);
        solve_sample(sym.W, n, k, spec, static_cast<u32>(s), cp, refine, scratch[t], work[t], f, pairs_next(s, spec.n_samples));
    });
}

// The same from points X (n x d), S_ij = -d(x_i, x_j) computed inside Prim.
template <class T>
void perturbed_kforest_points(const T* X, index_t n, index_t d, index_t k, Metric metric, const PerturbSpec& spec,
                              int n_threads, const PerturbedOut<double>& out,
                              const KeptSamples& keep = {}) {
    check_k(n, k);
    check_perturbation(spec.sigma, spec.n_samples);
    check_size(d, "d");
    for (index_t t = 0; t < n * d; ++t) {
        if (!std::isfinite(static_cast<double>(X[t]))) throw std::invalid_argument("X contains NaN or infinity");
    }
    const PointSource points(X, n, d, metric);
    std::vector<std::vector<WeightedEdge<double>>> trees(static_cast<std::size_t>(team_size(spec.n_samples, n_threads)));
    estimate_perturbed(n, k, spec, n_threads, out, keep, [&](index_t s, int tid, SampleForest& f) {
        auto& tree = trees[static_cast<std::size_t>(tid)];
        tree.resize(static_cast<std::size_t>(n > 0 ? n - 1 : 0));
        PerturbedPointSource source(points, spec.sigma, spec.seed, static_cast<u32>(s));
        prim_max_tree<double>(n, source, tree.data());
        forest_from_tree(n, k, tree, f);
    });
}

// The partial Fenchel-Young loss L = F_eps(S) - F_eps(S; y) and its gradient
// A_eps(S) - A_eps(S; y), both problems sharing each sample's noise.
template <class T>
double partial_fy_loss(const T* S, index_t n, index_t k, const PerturbSpec& spec, const ConstrainedProblem& cp,
                       bool refine, int n_threads, T* grad) {
    check_k(n, k);
    check_perturbation(spec.sigma, spec.n_samples);
    const SymmetricWeights<T> sym(S, n, n_threads, "S");
    const int team = team_size(spec.n_samples, n_threads);
    std::vector<std::unique_ptr<Counts>> free_counts(static_cast<std::size_t>(team)), con_counts(static_cast<std::size_t>(team));
    std::vector<double> gaps(static_cast<std::size_t>(spec.n_samples));
    std::vector<std::vector<double>> scratch(static_cast<std::size_t>(team));
    std::vector<SampleForest> free_f(static_cast<std::size_t>(team)), con_f(static_cast<std::size_t>(team));
    std::vector<std::vector<WeightedEdge<double>>> trees(static_cast<std::size_t>(team)), pools(static_cast<std::size_t>(team));
    for_each_sample(spec.n_samples, team, [&](index_t s, int tid) {
        const std::size_t t = static_cast<std::size_t>(tid);
        if (!free_counts[t]) {
            free_counts[t] = std::make_unique<Counts>(n, true, false);
            con_counts[t] = std::make_unique<Counts>(n, true, false);
        }
        // the same noise in both problems: the sample's perturbed matrix is drawn
        // once (the same weights W_ij + sigma Z_s,ij as the fused Prim draws)
        std::vector<double>& Wt = scratch[t];
        Wt.resize(static_cast<std::size_t>(n) * static_cast<std::size_t>(n));
        perturbed_matrix(sym.W, n, spec.sigma, spec.seed, static_cast<u32>(s), Wt.data());
        dense_forest(Wt.data(), n, k, trees[t], free_f[t]);
        con_f[t].labels.resize(static_cast<std::size_t>(n));
        cp.solve(Wt.data(), refine, con_f[t].edges, con_f[t].labels.data(), &pools[t]);
        con_f[t].finish_value();
        free_counts[t]->add(free_f[t]);
        con_counts[t]->add(con_f[t]);
        gaps[static_cast<std::size_t>(s)] = free_f[t].value - con_f[t].value;
    });
    const double B = static_cast<double>(spec.n_samples);
    for (index_t i = 0; i < n; ++i) {
        grad[i * n + i] = T(0);
        for (index_t j = i + 1; j < n; ++j) {
            std::int64_t total = 0;
            for (std::size_t t = 0; t < free_counts.size(); ++t) {
                if (!free_counts[t]) continue;
                total += static_cast<std::int64_t>(free_counts[t]->A[static_cast<std::size_t>(i * n + j)]) -
                         static_cast<std::int64_t>(con_counts[t]->A[static_cast<std::size_t>(i * n + j)]);
            }
            grad[i * n + j] = grad[j * n + i] = static_cast<T>(static_cast<double>(total) / B);
        }
    }
    double loss = 0.0;
    for (double g : gaps) loss += g;
    return loss / B;
}

// Upstream matrices folded onto edges: U_ij = V_ij + V_ji (i < j), and the trace.
struct EdgeCotangent {
    index_t n = 0;
    std::vector<double> U;  // n x n, upper triangle used; empty when absent
    double trace = 0.0;

    template <class T>
    EdgeCotangent(const T* V, index_t n_) : n(n_) {
        if (V == nullptr) return;
        U.assign(static_cast<std::size_t>(n * n), 0.0);
        for (index_t i = 0; i < n; ++i) {
            trace += static_cast<double>(V[i * n + i]);
            for (index_t j = i + 1; j < n; ++j) {
                U[static_cast<std::size_t>(i * n + j)] = static_cast<double>(V[i * n + j]) + static_cast<double>(V[j * n + i]);
            }
        }
    }
    bool empty() const noexcept { return U.empty(); }

    // <A, V> for the forest with edges (i_e, j_e) = (edges[2e], edges[2e + 1]), i_e < j_e.
    double dot_adjacency(const index_t* edges, index_t m) const {
        double total = 0.0;
        for (index_t e = 0; e < m; ++e) total += U[static_cast<std::size_t>(edges[2 * e] * n + edges[2 * e + 1])];
        return total;
    }
    // <M, V> with M the connectivity of the labelling (ones on the diagonal).
    double dot_connectivity(const index_t* labels, std::vector<index_t>& start, std::vector<index_t>& order) const {
        group_by_label(labels, n, start, order);
        double total = trace;
        for (std::size_t c = 0; c + 1 < start.size(); ++c) {
            for (index_t a = start[c]; a < start[c + 1]; ++a) {
                const double* row = U.data() + order[static_cast<std::size_t>(a)] * n;
                for (index_t b = a + 1; b < start[c + 1]; ++b) total += row[order[static_cast<std::size_t>(b)]];
            }
        }
        return total;
    }
};

// Edges per task of the VJP's noise regeneration.
constexpr index_t vjp_edge_chunk = 256;

// Vector-Jacobian product of (A_eps, M_eps) by the Gaussian score estimator:
//   g_ij = 1 / (2 B sigma) sum_s (<A_s - A_ref, VA> + <M_s - M_ref, VM>) Z_s,ij  (i != j)
// with the unperturbed solution as control variate (A_ref, M_ref) when asked.
//
// Two phases. First every sample's scalar c_s = <A_s - A_ref, VA> + <M_s -
// M_ref, VM>: from the forests a forward pass kept (`kept`, whose sample 0 is
// solved again as a check that they belong to this S and seed), else by
// solving each sample. Then the noise is regenerated edge by edge: g_ij sums
// c_s Z_s,ij over s in sample order, so the result does not depend on the
// thread count, and memory is O(B + n) per thread whatever B.
template <class T>
void perturbed_kforest_vjp(const T* S, index_t n, index_t k, const PerturbSpec& spec, const ConstrainedProblem* cp,
                           bool refine, const T* VA, const T* VM, bool control_variate, int n_threads, T* grad, const index_t* kept_edges = nullptr,
                           const index_t* kept_labels = nullptr) {
    check_k(n, k);
    check_perturbation(spec.sigma, spec.n_samples);
    const SymmetricWeights<T> sym(S, n, n_threads, "S");
    const EdgeCotangent ca(VA, n), cm(VM, n);
    const index_t B = spec.n_samples;
    const int team = team_size(B, n_threads);
    std::vector<std::vector<index_t>> starts(static_cast<std::size_t>(team)), orders(static_cast<std::size_t>(team));
    auto dot = [&](const index_t* edges, const index_t* labels, int tid) {
        double c = 0.0;
        if (!ca.empty()) c += ca.dot_adjacency(edges, n - k);
        if (!cm.empty()) c += cm.dot_connectivity(labels, starts[static_cast<std::size_t>(tid)], orders[static_cast<std::size_t>(tid)]);
        return c;
    };
    std::vector<std::vector<index_t>> flat(static_cast<std::size_t>(team));  // per thread: a forest's edges as pairs
    // edges in the solver's order, as the forward pass keeps them: the same summation order either way
    auto flat_edges = [&](const SampleForest& f, std::vector<index_t>& out) {
        out.resize(2 * f.edges.size());
        for (std::size_t e = 0; e < f.edges.size(); ++e) {
            out[2 * e] = f.edges[e].i;
            out[2 * e + 1] = f.edges[e].j;
        }
        return out.data();
    };
    double reference = 0.0;
    if (control_variate) {
        SampleForest f;
        solve_exact(sym.W, n, k, cp, refine, f);
        reference = dot(flat_edges(f, flat[0]), f.labels.data(), 0);
    }

    std::vector<double> coef(static_cast<std::size_t>(B));
    std::vector<std::vector<double>> scratch(static_cast<std::size_t>(team));
    std::vector<PrimWorkspace> work(static_cast<std::size_t>(team));
    std::vector<SampleForest> forests(static_cast<std::size_t>(team));
    const bool have_kept = kept_edges != nullptr && kept_labels != nullptr;
    if (have_kept) {
        SampleForest& f = forests[0];
        solve_sample(sym.W, n, k, spec, 0, cp, refine, scratch[0], work[0], f);
        const index_t* e0 = flat_edges(f, flat[0]);
        if (!std::equal(e0, e0 + 2 * (n - k), kept_edges) || !std::equal(f.labels.begin(), f.labels.end(), kept_labels)) {
            throw std::invalid_argument(
                "samples do not belong to this problem: sample 0 solved again differs from the kept one "
                "(use the S, k, sigma, seed and constraints of the forward call)");
        }
        parallel_for_tid(B, team, [&](index_t s, int tid) {
            coef[static_cast<std::size_t>(s)] = dot(kept_edges + s * (n - k) * 2, kept_labels + s * n, tid) - reference;
        });
    } else {
        for_each_sample(B, team, [&](index_t s, int tid) {
            const std::size_t t = static_cast<std::size_t>(tid);
            solve_sample(sym.W, n, k, spec, static_cast<u32>(s), cp, refine, scratch[t], work[t], forests[t],
                         pairs_next(s, B));
            coef[static_cast<std::size_t>(s)] = dot(flat_edges(forests[t], flat[t]), forests[t].labels.data(), tid) - reference;
        });
    }

    // Phase 2: g_ij = scale * sum_s c_s Z_s,ij, edge-major in fixed chunks of the
    // upper triangle (each edge's sum runs in sample order on one thread).
    const double scale = 1.0 / (2.0 * static_cast<double>(B) * spec.sigma);
    for (index_t i = 0; i < n; ++i) grad[i * n + i] = T(0);
    const index_t n_edges = n * (n - 1) / 2;
    const index_t n_chunks = (n_edges + vjp_edge_chunk - 1) / vjp_edge_chunk;
    const int edge_team = static_cast<int>(std::max<index_t>(1, std::min<index_t>(n_threads, n_chunks)));
    std::vector<std::vector<u32>> los(static_cast<std::size_t>(edge_team)), his(static_cast<std::size_t>(edge_team));
    std::vector<std::vector<double>> sums(static_cast<std::size_t>(edge_team));
    parallel_for_tid(n_chunks, edge_team, [&](index_t chunk, int tid) {
        const std::size_t t = static_cast<std::size_t>(tid);
        const index_t e0 = chunk * vjp_edge_chunk, m = std::min(vjp_edge_chunk, n_edges - e0);
        auto& lo = los[t];
        auto& hi = his[t];
        auto& sum = sums[t];
        lo.resize(static_cast<std::size_t>(m));
        hi.resize(static_cast<std::size_t>(m));
        sum.resize(static_cast<std::size_t>(m));
        // the first edge (i, j) of the chunk in row-major order of the upper triangle
        index_t i = 0, before = 0;
        while (before + (n - 1 - i) <= e0) before += n - 1 - i++;
        index_t j = i + 1 + (e0 - before);
        for (index_t e = 0; e < m; ++e) {
            lo[static_cast<std::size_t>(e)] = static_cast<u32>(i);
            hi[static_cast<std::size_t>(e)] = static_cast<u32>(j);
            if (++j == n) j = ++i + 1;
        }
        weighted_noise_sum(spec.seed, lo.data(), hi.data(), m, coef.data(), B, sum.data());
        for (index_t e = 0; e < m; ++e) {
            const index_t a = lo[static_cast<std::size_t>(e)], b = hi[static_cast<std::size_t>(e)];
            grad[a * n + b] = grad[b * n + a] = static_cast<T>(sum[static_cast<std::size_t>(e)] * scale);
        }
        cancellation_point();
    });
}

}  // namespace diffclust
