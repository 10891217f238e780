// Per-sample perturbed Prim solvers: the maximum spanning tree of W + sigma Z_s
// with each edge's normal drawn where Prim reads the edge (no n x n noise
// matrix). An AVX-512 path fuses Philox, the ziggurat and the key update in
// registers and may solve two samples at once; an AVX2 path does the same one
// sample at a time; the portable path draws a row of normals per step. Also the
// dense perturbed matrix for the constrained greedy.
#pragma once

#include <algorithm>
#include <limits>
#include <memory>
#include <vector>

#include "diffclust/core/rng.hpp"
#include "diffclust/core/types.hpp"
#include "diffclust/forest/spanning_forest.hpp"

namespace diffclust {

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

#ifdef DIFFCLUST_HAVE_AVX2_PATH
// The fused perturbed Prim in AVX2 registers (4 lanes), one sample at a time:
// the steps of the AVX-512 path (gather W[v, u], draw Z(v, u), update the keys,
// track the best candidate; exact ties on the scalar path), same trees. The
// workspace arrays carry 4 padding entries past the last vertex so that the
// last register loads without a mask; padding lanes never reach a key or the
// best candidate that a valid lane can.
template <class T>
struct FusedPrimStep2 {
    const T* row;
    index_t v, m;
    index_t* rem;
    index_t* par;
    double* key;
    __m256i vv;
    __m256d best_key;
    __m256i best_pos;
    bool best_ties;
};

template <int L, class T>
DIFFCLUST_AVX2 DIFFCLUST_ALWAYS_INLINE void fused_prim_block_avx2(const Avx2Normals& normals, __m256d vsigma, index_t r0,
                                                                   FusedPrimStep2<T>& st) {
    const __m256i lane = _mm256_set_epi64x(3, 2, 1, 0);
    __m256i uv[L], lo[L], hi[L], valid[L];
    __m256d z[L], base[L];
    for (int l = 0; l < L; ++l) {
        const index_t r = r0 + 4 * l;
        valid[l] = _mm256_cmpgt_epi64(_mm256_set1_epi64x(st.m - r), lane);
        uv[l] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(st.rem + r));
        const __m256i u_gt_v = _mm256_cmpgt_epi64(uv[l], st.vv);
        lo[l] = _mm256_blendv_epi8(uv[l], st.vv, u_gt_v);
        hi[l] = _mm256_blendv_epi8(st.vv, uv[l], u_gt_v);
        // W[v, u], gathered before the draw so that its latency overlaps Philox
        if constexpr (sizeof(T) == 8) {
            base[l] = _mm256_i64gather_pd(reinterpret_cast<const double*>(st.row), uv[l], 8);
        } else {
            base[l] = _mm256_cvtps_pd(_mm256_i64gather_ps(reinterpret_cast<const float*>(st.row), uv[l], 4));
        }
    }
    normals.draw<L>(lo, hi, z);
    for (int l = 0; l < L; ++l) {
        const index_t r = r0 + 4 * l;
        const __m256d w = _mm256_add_pd(base[l], _mm256_mul_pd(vsigma, z[l]));
        __m256d kv = _mm256_loadu_pd(st.key + r);
        __m256i pv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(st.par + r));
        const __m256d vmask = _mm256_castsi256_pd(valid[l]);
        __m256d upd = _mm256_and_pd(_mm256_cmp_pd(w, kv, _CMP_GT_OQ), vmask);
        const unsigned eq = static_cast<unsigned>(_mm256_movemask_pd(_mm256_and_pd(_mm256_cmp_pd(w, kv, _CMP_EQ_OQ), vmask)));
        if (eq) {
            alignas(32) long long pl[4], up[4];
            _mm256_store_si256(reinterpret_cast<__m256i*>(pl), pv);
            _mm256_store_si256(reinterpret_cast<__m256i*>(up), _mm256_castpd_si256(upd));
            for (int q = 0; q < 4; ++q) {
                const index_t uu = st.rem[r + q];
                if (((eq >> q) & 1u) && pair_less(st.v, uu, pl[q], uu)) up[q] = -1;
            }
            upd = _mm256_castsi256_pd(_mm256_load_si256(reinterpret_cast<const __m256i*>(up)));
        }
        kv = _mm256_blendv_pd(kv, w, upd);
        pv = _mm256_castpd_si256(_mm256_blendv_pd(_mm256_castsi256_pd(pv), _mm256_castsi256_pd(st.vv), upd));
        _mm256_storeu_pd(st.key + r, kv);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(st.par + r), pv);
        const __m256i pos = _mm256_add_epi64(_mm256_set1_epi64x(r), lane);
        const __m256d better = _mm256_and_pd(_mm256_cmp_pd(kv, st.best_key, _CMP_GT_OQ), vmask);
        st.best_ties |= _mm256_movemask_pd(_mm256_and_pd(_mm256_cmp_pd(kv, st.best_key, _CMP_EQ_OQ), vmask)) != 0;
        st.best_key = _mm256_blendv_pd(st.best_key, kv, better);
        st.best_pos = _mm256_castpd_si256(_mm256_blendv_pd(_mm256_castsi256_pd(st.best_pos), _mm256_castsi256_pd(pos), better));
    }
}

template <class T>
DIFFCLUST_AVX2 void perturbed_prim_avx2(const T* W, index_t n, double sigma, u64 seed, u32 sample, PrimWorkspace& ws) {
    const Avx2Normals normals(seed, sample);
    const __m256d vsigma = _mm256_set1_pd(sigma);
    const index_t m0 = n - 1;
    constexpr index_t pad = 4;
    ws.rem.resize(static_cast<std::size_t>(m0 + pad));
    ws.par.assign(static_cast<std::size_t>(m0 + pad), 0);
    ws.key.assign(static_cast<std::size_t>(m0 + pad), -std::numeric_limits<double>::infinity());
    ws.tree.resize(static_cast<std::size_t>(m0));
    for (index_t r = 0; r < m0 + pad; ++r) ws.rem[static_cast<std::size_t>(r)] = r < m0 ? r + 1 : 0;
    FusedPrimStep2<T> st{};
    st.v = 0;
    st.m = m0;
    st.rem = ws.rem.data();
    st.par = ws.par.data();
    st.key = ws.key.data();
    for (index_t step = 0; step < m0; ++step) {
        // the scan: every remaining vertex, three registers at a time
        st.row = W + st.v * n;
        st.vv = _mm256_set1_epi64x(st.v);
        st.best_key = _mm256_set1_pd(-std::numeric_limits<double>::infinity());
        st.best_pos = _mm256_set1_epi64x(-1);
        st.best_ties = false;
        index_t r0 = 0;
        for (; st.m - r0 > 8; r0 += 12) fused_prim_block_avx2<3>(normals, vsigma, r0, st);
        if (st.m - r0 > 4) {
            fused_prim_block_avx2<2>(normals, vsigma, r0, st);
        } else if (st.m - r0 > 0) {
            fused_prim_block_avx2<1>(normals, vsigma, r0, st);
        }
        // the choice: the best remaining vertex under the strict order
        index_t* rem = st.rem;
        index_t* par = st.par;
        double* key = st.key;
        const index_t m = st.m;
        index_t best = -1;
        if (!st.best_ties) {
            alignas(32) double bk[4];
            alignas(32) long long pl[4];
            _mm256_store_pd(bk, st.best_key);
            _mm256_store_si256(reinterpret_cast<__m256i*>(pl), st.best_pos);
            const double top = std::max(std::max(bk[0], bk[1]), std::max(bk[2], bk[3]));
            for (int l = 0; l < 4; ++l) {
                if (bk[l] != top || pl[l] < 0) continue;
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
        // the last remaining vertex moves into the chosen one's place; the
        // vacated entry becomes padding (vertex 0, key -inf)
        rem[best] = rem[m - 1];
        key[best] = key[m - 1];
        par[best] = par[m - 1];
        rem[m - 1] = 0;
        key[m - 1] = -std::numeric_limits<double>::infinity();
        par[m - 1] = 0;
        --st.m;
    }
}
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
#ifdef DIFFCLUST_HAVE_AVX2_PATH
    if (cpu_has_avx2()) {
        perturbed_prim_avx2(W, n, sigma, seed, sample, ws);
        return;
    }
#endif
    (void)pair_next;  // the AVX2 and portable paths solve one sample at a time
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

}  // namespace diffclust
