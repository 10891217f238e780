// One Monte-Carlo sample of a perturbed k-forest: the problem's specification,
// the symmetric weights every sample reads, each sample's solve (fused Prim when
// unconstrained, else the constrained greedy on the perturbed matrix) and the
// fixed chunking of samples over threads.
#pragma once

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "diffclust/core/cancel.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/core/types.hpp"
#include "diffclust/forest/constrained.hpp"
#include "diffclust/forest/dense_checks.hpp"
#include "diffclust/forest/spanning_forest.hpp"
#include "diffclust/perturb/fused_prim.hpp"

namespace diffclust {

struct PerturbSpec {
    double sigma;
    index_t n_samples;
    u64 seed;
};

// One solved sample: the forest's edges (heaviest first) and labels.
struct SampleForest {
    std::vector<WeightedEdge<double>> edges;
    std::vector<index_t> labels;
    double value = 0.0;  // <A, S + sigma Z> = 2 * sum of the perturbed edge weights
    bool repaired = false;  // the constrained greedy got stuck and was completed (constrained.hpp)

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
    f.repaired = false;
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
    f.repaired = cp->solve(scratch.data(), refine, f.edges, f.labels.data(), &ws.pool);
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
    f.repaired = cp->solve(Wd, refine, f.edges, f.labels.data());
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

// ---------------------------------------------------------------------------
// Batches: b problems (b, n, n), element t with its own seed seeds[t] (see
// derive_seed in core/rng.hpp for the default ones) and its own labels.

// The constraints of a batch: must-link / cannot-link pairs (and labels) shared
// by every element, or labels (b, n) per element.
struct BatchConstraints {
    Constraints shared;                     // pairs, and labels shared by all elements (or null)
    const index_t* labels = nullptr;        // (b, n) per-element labels, or null
    bool any() const noexcept { return shared.any() || labels != nullptr; }
    bool per_element() const noexcept { return labels != nullptr; }
    Constraints at(index_t t, index_t n) const noexcept {
        Constraints c = shared;
        if (labels != nullptr) c.labels = labels + t * n;
        return c;
    }
};

// The name of element t of the batch argument `name`, for error messages.
inline std::string element_name(const std::string& name, index_t t) { return name + "[" + std::to_string(t) + "]"; }

// Checks a batch before any element runs, element by element in order, so that
// a bad batch raises the same error for any thread count: every element finite
// off its diagonal, every element's constraints feasible.
template <class T>
void check_batch(const T* S, index_t b, index_t n, index_t k, const BatchConstraints& bc, int n_threads,
                 const std::string& name = "S") {
    for (index_t t = 0; t < b; ++t) {
        if (!scan_matrix(S + t * n * n, n, n_threads).finite) {
            throw std::invalid_argument(element_name(name, t) + " contains NaN or infinity off the diagonal");
        }
    }
    if (!bc.per_element()) {
        if (bc.any()) {
            const ConstrainedProblem check(n, k, bc.shared);  // throws if infeasible
        }
        return;
    }
    for (index_t t = 0; t < b; ++t) {
        try {
            const ConstrainedProblem check(n, k, bc.at(t, n));
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument("batch element " + std::to_string(t) + ": " + e.what());
        }
    }
}

// The constrained problem of element t: the shared one, or element t's own
// (built in `own`); null when unconstrained.
inline const ConstrainedProblem* element_problem(const BatchConstraints& bc, const ConstrainedProblem* shared,
                                                 index_t t, index_t n, index_t k,
                                                 std::unique_ptr<ConstrainedProblem>& own) {
    if (!bc.per_element()) return shared;
    own = std::make_unique<ConstrainedProblem>(n, k, bc.at(t, n));
    return own.get();
}

// Runs fn(t, threads) for every element t of a batch of b. Whole elements go
// to threads (fn gets 1 thread) while at least n_threads elements remain; the
// last b mod n_threads elements run one after the other, each splitting its
// samples over all n_threads threads. Working memory is thus that of at most
// n_threads single-threaded elements, or of one element on n_threads threads:
// O(n_threads n^2), whatever b. An element's result never depends on its thread
// count, so neither does the batch's.
template <class Fn>
void for_each_element(index_t b, int n_threads, Fn&& fn) {
    const index_t whole = n_threads > 1 ? (b / n_threads) * n_threads : 0;
    if (whole > 0) parallel_for(whole, n_threads, [&](index_t t) { fn(t, 1); });
    for (index_t t = whole; t < b; ++t) {
        fn(t, n_threads);
        cancellation_point();
    }
}

}  // namespace diffclust
