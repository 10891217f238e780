// The perturbed forward pass: A_eps, M_eps and F_eps of a dense S or of points.
#pragma once

#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "diffclust/perturb/accumulate.hpp"
#include "diffclust/perturb/fused_prim.hpp"
#include "diffclust/perturb/sample.hpp"
#include "diffclust/core/checks.hpp"

namespace diffclust {

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

// The batched forward: element t of S (b x n x n) with seed seeds[t] and its
// constraints (bc.at(t)); out_A / out_M (b x n x n, or null), values (b),
// keep (b x B x ... when kept). Element t's outputs are bit-identical to the
// 2-D call on S[t] with seed seeds[t], for any n_threads (for_each_element).
template <class T>
void perturbed_kforest_batch(const T* S, index_t b, index_t n, index_t k, double sigma, index_t n_samples,
                             const u64* seeds, const BatchConstraints& bc, bool refine, int n_threads, T* out_A,
                             T* out_M, double* values, index_t* n_repaired, const KeptSamples& keep = {}) {
    check_k(n, k);
    check_perturbation(sigma, n_samples);
    check_batch(S, b, n, k, bc, n_threads);
    std::unique_ptr<ConstrainedProblem> shared;
    if (bc.any() && !bc.per_element()) shared = std::make_unique<ConstrainedProblem>(n, k, bc.shared);
    std::vector<index_t> repaired(static_cast<std::size_t>(b), 0);
    const index_t nn = n * n;
    for_each_element(b, n_threads, [&](index_t t, int threads) {
        std::unique_ptr<ConstrainedProblem> own;
        const ConstrainedProblem* cp = element_problem(bc, shared.get(), t, n, k, own);
        const PerturbedOut<T> out{out_A ? out_A + t * nn : nullptr, out_M ? out_M + t * nn : nullptr, values + t,
                                  &repaired[static_cast<std::size_t>(t)]};
        KeptSamples kept;
        if (keep.edges != nullptr) kept.edges = keep.edges + t * n_samples * (n - k) * 2;
        if (keep.labels != nullptr) kept.labels = keep.labels + t * n_samples * n;
        perturbed_kforest(S + t * nn, n, k, PerturbSpec{sigma, n_samples, seeds[t]}, cp, refine, threads, out,
                          element_name("S", t), kept);
    });
    if (n_repaired != nullptr) {
        *n_repaired = 0;
        for (index_t r : repaired) *n_repaired += r;
    }
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

}  // namespace diffclust
