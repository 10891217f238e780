// Vectorised Prim steps for the exact forests: dense rows and points.
//
// The generic prim_max_tree (spanning_forest.hpp) calls a Source per block and
// branches per vertex; these kernels fuse "read the weights, update the keys,
// find the best candidate" into one branch-light pass over 64-byte vectors (GCC
// vector extensions, so every target_clones copy vectorises it its own way).
// They follow the same strict order as everything else (heavier first, then the
// lexicographically smaller pair): the fast pass only handles the tie-free
// case and flags any equality, which sends the step to an exact scalar pass.
// Each kernel works on one thread's share of the vertices and returns that
// share's best candidate; combining the shares with the strict order gives the
// same answer for any split, so results never depend on the thread count.
//
// Keys of vertices already in the tree (and of padding) are NaN: NaN compares
// false with everything, so those lanes never update and never win.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "diffclust/core/point_metrics.hpp"
#include "diffclust/core/simd.hpp"
#include "diffclust/core/types.hpp"

#if defined(__GNUC__) && !defined(DIFFCLUST_NO_VECTOR_EXTENSIONS)
#define DIFFCLUST_VECTOR_EXTENSIONS 1
#else
#define DIFFCLUST_VECTOR_EXTENSIONS 0
#endif

namespace diffclust {

// A candidate tree edge (par, u): u joins the tree through par. u < 0: none.
template <class T>
struct PrimCandidate {
    T key;
    index_t u;
    index_t par;
    index_t pos;  // where u sits in the kernel's arrays
};

// Strict order: is a a better (heavier, then smaller pair) candidate than b?
template <class T>
inline bool candidate_better(const PrimCandidate<T>& a, const PrimCandidate<T>& b) noexcept {
    if (a.u < 0) return false;
    if (b.u < 0) return true;
    if (a.key != b.key) return a.key > b.key;
    return pair_less(a.par, a.u, b.par, b.u);
}

// Index type stored beside a key: as wide as the key, so vector lanes match.
template <class T>
struct PrimLanes;
template <>
struct PrimLanes<double> {
    using I = std::int64_t;
    static constexpr int L = 8;
#if DIFFCLUST_VECTOR_EXTENSIONS
    typedef double V __attribute__((vector_size(64)));
    typedef std::int64_t VI __attribute__((vector_size(64)));
#endif
};
template <>
struct PrimLanes<float> {
    using I = std::int32_t;
    static constexpr int L = 16;
#if DIFFCLUST_VECTOR_EXTENSIONS
    typedef float V __attribute__((vector_size(64)));
    typedef std::int32_t VI __attribute__((vector_size(64)));
#endif
};

namespace detail {

// Exact update of one slot: the edge (v, id) of weight w against the slot's
// current key. Used by scalar tails and the tie pass.
template <class T, class I>
DIFFCLUST_ALWAYS_INLINE void exact_update(T w, T& key, I& par, I v, I id) {
    if (w > key || (w == key && pair_less(v, id, par, id))) {
        key = w;
        par = v;
    }
}

// Exact best over slots [lo, hi) (ids[s], or s itself when ids is null).
template <class T, class I>
DIFFCLUST_ALWAYS_INLINE PrimCandidate<T> exact_best(const T* key, const I* par, const I* ids, index_t lo,
                                                    index_t hi) {
    PrimCandidate<T> best{-std::numeric_limits<T>::infinity(), -1, -1, -1};
    for (index_t s = lo; s < hi; ++s) {
        if (!(key[s] == key[s])) continue;  // NaN: in the tree or padding
        const PrimCandidate<T> c{key[s], ids ? static_cast<index_t>(ids[s]) : s, static_cast<index_t>(par[s]), s};
        if (candidate_better(c, best)) best = c;
    }
    return best;
}

#if DIFFCLUST_VECTOR_EXTENSIONS
// After the vector pass: the lanes' maxima (bmax, at slot bidx, with a flag
// for an equal key seen in the lane) give the best slot if it is unique.
// Returns false when the exact pass must decide.
template <class T, class V, class VI>
DIFFCLUST_ALWAYS_INLINE bool lanes_unique_best(const V& bmax, const VI& bidx, const VI& tie, index_t& slot, T& value) {
    constexpr int L = PrimLanes<T>::L;
    T m = -std::numeric_limits<T>::infinity();
    for (int l = 0; l < L; ++l) m = bmax[l] > m ? bmax[l] : m;
    int count = 0, lane = -1;
    bool tied = false;
    for (int l = 0; l < L; ++l) {
        if (bmax[l] == m) {
            ++count;
            lane = l;
            tied = tied || tie[l] != 0;
        }
    }
    if (m == -std::numeric_limits<T>::infinity()) {  // nothing left in these slots
        slot = -1;
        return true;
    }
    if (count != 1 || tied) return false;
    slot = static_cast<index_t>(bidx[lane]);
    value = m;
    return true;
}
#endif

// One Prim step over dense row `row` (the new tree vertex v) for vertices
// [lo, hi); key/par are indexed by vertex. lo is a multiple of the lane count.
//
// `check` accumulates 0 * row[u] over the off-diagonal entries of the range: it
// stays 0 exactly when they are all finite (inf * 0 and NaN * 0 are NaN).
// Without CheckFinite (the caller has checked the matrix) `check` is untouched.
template <class T, bool CheckFinite>
DIFFCLUST_ALWAYS_INLINE PrimCandidate<T> dense_step_impl(const T* DIFFCLUST_RESTRICT row, T* DIFFCLUST_RESTRICT key,
                                                         typename PrimLanes<T>::I* DIFFCLUST_RESTRICT par,
                                                         index_t v_, index_t lo, index_t hi, T& check) {
    using I = typename PrimLanes<T>::I;
    const I v = static_cast<I>(v_);
    index_t vend = lo;
    bool exact = false;
    PrimCandidate<T> best{-std::numeric_limits<T>::infinity(), -1, -1, -1};
#if DIFFCLUST_VECTOR_EXTENSIONS
    using V = typename PrimLanes<T>::V;
    using VI = typename PrimLanes<T>::VI;
    constexpr int L = PrimLanes<T>::L;
    vend = lo + (hi - lo) / L * L;
    if (vend > lo) {
        const V vzero = {};
        const VI izero = {};
        V bmax = vzero - std::numeric_limits<T>::infinity();
        [[maybe_unused]] V fin = vzero;
        VI bidx = izero, tie = izero, eqs = izero;
        const VI vv = izero + v;
        VI uu = izero;
        for (int l = 0; l < L; ++l) uu[l] = static_cast<I>(lo + l);
#ifndef DIFFCLUST_PRIM_PREFETCH
#define DIFFCLUST_PRIM_PREFETCH 512
#endif
        for (index_t u = lo; u < vend; u += L) {
            V w, k;
            VI p;
            DIFFCLUST_PREFETCH(row + u + DIFFCLUST_PRIM_PREFETCH);
            std::memcpy(&w, row + u, sizeof(V));
            std::memcpy(&k, key + u, sizeof(V));
            std::memcpy(&p, par + u, sizeof(VI));
            if constexpr (CheckFinite) fin += uu == vv ? vzero : w * T(0);
            const VI gt = w > k;
            eqs |= w == k;
            k = gt ? w : k;
            p = gt ? vv : p;
            std::memcpy(key + u, &k, sizeof(V));
            std::memcpy(par + u, &p, sizeof(VI));
            const VI up = k > bmax;
            tie = up ? izero : (tie | (k == bmax));
            bmax = up ? k : bmax;
            bidx = up ? uu : bidx;
            uu += static_cast<I>(L);
        }
        if constexpr (CheckFinite) {
            for (int l = 0; l < L; ++l) check += fin[l];
        }
        bool any_eq = false;
        for (int l = 0; l < L; ++l) any_eq = any_eq || eqs[l] != 0;
        index_t slot = -1;
        T value = T(0);
        if (any_eq || !lanes_unique_best<T>(bmax, bidx, tie, slot, value)) {
            exact = true;
        } else if (slot >= 0) {
            best = PrimCandidate<T>{value, slot, static_cast<index_t>(par[slot]), slot};
        }
        if (any_eq) {
            // Equal weights: the pair order decides (the fast pass left these slots alone;
            // slots it updated have par == v and stay).
            for (index_t u = lo; u < vend; ++u) {
                if (row[u] == key[u] && pair_less(v, static_cast<I>(u), par[u], static_cast<I>(u))) par[u] = v;
            }
        }
    }
#endif
    for (index_t u = vend; u < hi; ++u) {
        if (CheckFinite && u != v_) check += row[u] * T(0);
        if (key[u] == key[u]) exact_update(row[u], key[u], par[u], v, static_cast<I>(u));
    }
    if (exact) return exact_best<T, I>(key, par, nullptr, lo, hi);
    const PrimCandidate<T> tail = exact_best<T, I>(key, par, nullptr, vend, hi);
    return candidate_better(tail, best) ? tail : best;
}

#if DIFFCLUST_VECTOR_EXTENSIONS
// The running state of a point step's vector pass.
struct PointLanes {
    PrimLanes<double>::V bmax;
    PrimLanes<double>::VI bidx, tie, eqs, ss;
};

// Distances from x to slots [s, s + U L), then the key update and the running
// best for each of the U vectors.
template <int U>
DIFFCLUST_ALWAYS_INLINE void point_block(const double* DIFFCLUST_RESTRICT cols, index_t stride, index_t d,
                                         const double* DIFFCLUST_RESTRICT x, Metric mt, double* DIFFCLUST_RESTRICT key,
                                         std::int64_t* DIFFCLUST_RESTRICT par, double* DIFFCLUST_RESTRICT wbuf,
                                         const PrimLanes<double>::VI& vv, index_t s, PointLanes& st) {
    using V = PrimLanes<double>::V;
    using VI = PrimLanes<double>::VI;
    constexpr int L = PrimLanes<double>::L;
    const V vzero = {};
    const VI izero = {};
    V acc[U];
    for (int u = 0; u < U; ++u) acc[u] = vzero;
    for (index_t c = 0; c < d; ++c) {
        const double xc = x[c];
        const double* col = cols + c * stride + s;
        for (int u = 0; u < U; ++u) {
            V cv;
            std::memcpy(&cv, col + u * L, sizeof(V));
            if (mt == Metric::manhattan) {
                const V t = cv - xc;
                acc[u] += t < vzero ? -t : t;
            } else if (mt == Metric::cosine) {
                acc[u] += cv * xc;
            } else {
                const V t = cv - xc;
                acc[u] += t * t;
            }
        }
    }
    for (int u = 0; u < U; ++u) {
        const index_t at = s + u * L;
        V w;
        if (mt == Metric::euclidean) {
            for (int l = 0; l < L; ++l) w[l] = -std::sqrt(acc[u][l]);
        } else if (mt == Metric::cosine) {
            V dist = (vzero + 1.0) - acc[u];
            dist = dist < vzero ? vzero : dist;
            dist = dist > (vzero + 2.0) ? (vzero + 2.0) : dist;
            w = -dist;
        } else {
            w = -acc[u];
        }
        std::memcpy(wbuf + at, &w, sizeof(V));
        V k;
        VI p;
        std::memcpy(&k, key + at, sizeof(V));
        std::memcpy(&p, par + at, sizeof(VI));
        const VI gt = w > k;
        st.eqs |= w == k;
        k = gt ? w : k;
        p = gt ? vv : p;
        std::memcpy(key + at, &k, sizeof(V));
        std::memcpy(par + at, &p, sizeof(VI));
        const VI up = k > st.bmax;
        st.tie = up ? izero : (st.tie | (k == st.bmax));
        st.bmax = up ? k : st.bmax;
        st.bidx = up ? st.ss : st.bidx;
        st.ss += static_cast<std::int64_t>(L);
    }
}
#endif

// One Prim step over a compact set of points: slots [0, m_pad) of column-major
// coordinates `cols` (d rows of `stride`), vertex ids `ids`; x = the new tree
// vertex v. Weights -d(x, col) are written to wbuf. m_pad is a multiple of
// the lane count and slots past the live ones have NaN keys.
DIFFCLUST_ALWAYS_INLINE PrimCandidate<double> point_step_impl(const double* DIFFCLUST_RESTRICT cols, index_t stride,
                                                              index_t d, const double* DIFFCLUST_RESTRICT x,
                                                              int metric, double* DIFFCLUST_RESTRICT key,
                                                              std::int64_t* DIFFCLUST_RESTRICT par,
                                                              const std::int64_t* DIFFCLUST_RESTRICT ids,
                                                              double* DIFFCLUST_RESTRICT wbuf, index_t v_,
                                                              index_t m_pad) {
    using I = std::int64_t;
    const I v = static_cast<I>(v_);
    bool exact = false, any_eq = false;
    PrimCandidate<double> best{-std::numeric_limits<double>::infinity(), -1, -1, -1};
#if DIFFCLUST_VECTOR_EXTENSIONS
    const Metric mt = static_cast<Metric>(metric);
    using V = PrimLanes<double>::V;
    using VI = PrimLanes<double>::VI;
    constexpr int L = PrimLanes<double>::L;
    const V vzero = {};
    const VI izero = {};
    V bmax = vzero - std::numeric_limits<double>::infinity();
    VI bidx = izero, tie = izero, eqs = izero;
    const VI vv = izero + v;
    VI ss = izero;
    for (int l = 0; l < L; ++l) ss[l] = l;
    PointLanes st{bmax, bidx, tie, eqs, ss};
    index_t s = 0;
    // Four vectors at a time: four independent sums hide the add latency (each
    // distance is still summed over the coordinates in order, so the bits do
    // not depend on the blocking).
    for (; s + 4 * L <= m_pad; s += 4 * L) point_block<4>(cols, stride, d, x, mt, key, par, wbuf, vv, s, st);
    for (; s < m_pad; s += L) point_block<1>(cols, stride, d, x, mt, key, par, wbuf, vv, s, st);
    bmax = st.bmax;
    bidx = st.bidx;
    tie = st.tie;
    eqs = st.eqs;
    for (int l = 0; l < L; ++l) any_eq = any_eq || eqs[l] != 0;
    index_t slot = -1;
    double value = 0.0;
    if (any_eq || !lanes_unique_best<double>(bmax, bidx, tie, slot, value)) {
        exact = true;
    } else if (slot >= 0) {
        best = PrimCandidate<double>{value, static_cast<index_t>(ids[slot]), static_cast<index_t>(par[slot]), slot};
    }
#else
    column_block_distances(cols, stride, d, x, 0, m_pad, metric, wbuf);
    for (index_t s = 0; s < m_pad; ++s) {
        wbuf[s] = -wbuf[s];
        if (key[s] == key[s] && wbuf[s] > key[s]) {
            key[s] = wbuf[s];
            par[s] = v;
        }
        any_eq = any_eq || wbuf[s] == key[s];
    }
    exact = true;
#endif
    if (any_eq) {
        for (index_t s = 0; s < m_pad; ++s) {
            if (wbuf[s] == key[s] && pair_less(v, ids[s], par[s], ids[s])) par[s] = v;
        }
    }
    if (exact) return exact_best<double, I>(key, par, ids, 0, m_pad);
    return best;
}

}  // namespace detail

// Runtime-dispatched entry points (non-template, so target_clones applies).
[[maybe_unused]] static DIFFCLUST_TARGET_CLONES PrimCandidate<double> prim_dense_step_f64(const double* row, double* key,
                                                                         std::int64_t* par, index_t v, index_t lo,
                                                                         index_t hi, double* check) {
    return detail::dense_step_impl<double, true>(row, key, par, v, lo, hi, *check);
}

[[maybe_unused]] static DIFFCLUST_TARGET_CLONES PrimCandidate<float> prim_dense_step_f32(const float* row, float* key,
                                                                        std::int32_t* par, index_t v, index_t lo,
                                                                        index_t hi, float* check) {
    return detail::dense_step_impl<float, true>(row, key, par, v, lo, hi, *check);
}

[[maybe_unused]] static DIFFCLUST_TARGET_CLONES PrimCandidate<double> prim_dense_step_checked_f64(const double* row, double* key,
                                                                                 std::int64_t* par, index_t v,
                                                                                 index_t lo, index_t hi) {
    double unused = 0.0;
    return detail::dense_step_impl<double, false>(row, key, par, v, lo, hi, unused);
}

[[maybe_unused]] static DIFFCLUST_TARGET_CLONES PrimCandidate<float> prim_dense_step_checked_f32(const float* row, float* key,
                                                                                std::int32_t* par, index_t v,
                                                                                index_t lo, index_t hi) {
    float unused = 0.0f;
    return detail::dense_step_impl<float, false>(row, key, par, v, lo, hi, unused);
}

// check == nullptr: the matrix is known to be finite (no finiteness work).
inline PrimCandidate<double> prim_dense_step(const double* row, double* key, std::int64_t* par, index_t v,
                                             index_t lo, index_t hi, double* check) {
    return check ? prim_dense_step_f64(row, key, par, v, lo, hi, check)
                 : prim_dense_step_checked_f64(row, key, par, v, lo, hi);
}
inline PrimCandidate<float> prim_dense_step(const float* row, float* key, std::int32_t* par, index_t v, index_t lo,
                                            index_t hi, float* check) {
    return check ? prim_dense_step_f32(row, key, par, v, lo, hi, check)
                 : prim_dense_step_checked_f32(row, key, par, v, lo, hi);
}

[[maybe_unused]] static DIFFCLUST_TARGET_CLONES PrimCandidate<double> prim_point_step(const double* cols, index_t stride, index_t d,
                                                                     const double* x, int metric, double* key,
                                                                     std::int64_t* par, const std::int64_t* ids,
                                                                     double* wbuf, index_t v, index_t m_pad) {
    return detail::point_step_impl(cols, stride, d, x, metric, key, par, ids, wbuf, v, m_pad);
}

}  // namespace diffclust
