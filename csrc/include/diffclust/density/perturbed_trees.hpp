// Perturbed mutual-reachability trees for perturbed HDBSCAN: each Monte-Carlo
// sample's maximum spanning tree of W + sigma Z_s with its perturbed edge
// weights (sample s draws exactly the noise of perturbed_kforest's sample s),
// and the score-function sum g = scale * sum_s c_s Z_s (perturb/noise_matrix.hpp)
// that differentiates any function of the samples' trees.
#pragma once

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "diffclust/core/cancel.hpp"
#include "diffclust/core/checks.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/core/rng.hpp"
#include "diffclust/forest/dense_checks.hpp"
#include "diffclust/perturb/noise_matrix.hpp"
#include "diffclust/perturb/sample.hpp"

namespace diffclust {

// For every sample s < spec.n_samples, the maximum spanning tree of W + sigma Z_s
// (W the symmetric weights of S, n x n): edges[s] (n - 1 pairs i < j, in Prim's
// order) and weights[s] (W_ij + sigma Z_s,ij of each edge). The trees are those
// perturbed_kforest(S, 1, ...) solves for its samples (the same solver, chunking
// and noise), so the result does not depend on n_threads.
template <class T>
void perturbed_spanning_trees(const T* S, index_t n, const PerturbSpec& spec, int n_threads, index_t* edges,
                              double* weights) {
    check_perturbation(spec.sigma, spec.n_samples);
    const SymmetricWeights<T> sym(S, n, n_threads, "S");
    const index_t m = n - 1;
    const int team = team_size(spec.n_samples, n_threads);
    std::vector<std::vector<double>> scratch(static_cast<std::size_t>(team));
    std::vector<PrimWorkspace> work(static_cast<std::size_t>(team));
    std::vector<SampleForest> forests(static_cast<std::size_t>(team));
    for_each_sample(spec.n_samples, team, [&](index_t s, int tid) {
        const std::size_t t = static_cast<std::size_t>(tid);
        SampleForest& f = forests[t];
        solve_sample(sym.W, n, 1, spec, static_cast<u32>(s), nullptr, false, scratch[t], work[t], f,
                     pairs_next(s, spec.n_samples));
        if (static_cast<index_t>(f.edges.size()) != m) throw std::logic_error("a sample's tree does not have n - 1 edges");
        index_t* e = edges + s * m * 2;
        double* w = weights + s * m;
        for (const auto& edge : f.edges) {
            *e++ = std::min(edge.i, edge.j);
            *e++ = std::max(edge.i, edge.j);
            *w++ = edge.w;
        }
    });
}

}  // namespace diffclust
