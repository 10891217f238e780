// Perturbed mutual-reachability trees for perturbed HDBSCAN: each Monte-Carlo
// sample's maximum spanning tree of W + sigma Z_s with its perturbed edge
// weights (sample s draws exactly the noise of perturbed_kforest's sample s),
// and the score-function sum g = scale * sum_s c_s Z_s that differentiates any
// function of the samples' trees.
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

// Edges per task of the noise regeneration.
constexpr index_t noise_sum_edge_chunk = 256;

// grad_ij = grad_ji = scale * sum_s coef[s] Z_s,ij for i < j (the noise of seed,
// samples 0 .. B - 1), zero diagonal. Each edge's sum runs in sample order on one
// thread, so the result does not depend on n_threads; memory O(chunk) per thread.
template <class T>
void weighted_noise_matrix(index_t n, u64 seed, const double* coef, index_t B, double scale, int n_threads, T* grad) {
    for (index_t i = 0; i < n; ++i) grad[i * n + i] = T(0);
    const index_t n_edges = n * (n - 1) / 2;
    if (n_edges == 0) return;
    const index_t n_chunks = (n_edges + noise_sum_edge_chunk - 1) / noise_sum_edge_chunk;
    const int team = static_cast<int>(std::max<index_t>(1, std::min<index_t>(n_threads, n_chunks)));
    std::vector<std::vector<u32>> los(static_cast<std::size_t>(team)), his(static_cast<std::size_t>(team));
    std::vector<std::vector<double>> sums(static_cast<std::size_t>(team));
    parallel_for_tid(n_chunks, team, [&](index_t chunk, int tid) {
        const std::size_t t = static_cast<std::size_t>(tid);
        const index_t e0 = chunk * noise_sum_edge_chunk, m = std::min(noise_sum_edge_chunk, n_edges - e0);
        auto& lo = los[t];
        auto& hi = his[t];
        auto& sum = sums[t];
        lo.resize(static_cast<std::size_t>(m));
        hi.resize(static_cast<std::size_t>(m));
        sum.resize(static_cast<std::size_t>(m));
        index_t i = 0, before = 0;  // the chunk's first edge (i, j), row-major in the upper triangle
        while (before + (n - 1 - i) <= e0) before += n - 1 - i++;
        index_t j = i + 1 + (e0 - before);
        for (index_t e = 0; e < m; ++e) {
            lo[static_cast<std::size_t>(e)] = static_cast<u32>(i);
            hi[static_cast<std::size_t>(e)] = static_cast<u32>(j);
            if (++j == n) j = ++i + 1;
        }
        weighted_noise_sum(seed, lo.data(), hi.data(), m, coef, B, sum.data());
        for (index_t e = 0; e < m; ++e) {
            const index_t a = lo[static_cast<std::size_t>(e)], b = hi[static_cast<std::size_t>(e)];
            grad[a * n + b] = grad[b * n + a] = static_cast<T>(sum[static_cast<std::size_t>(e)] * scale);
        }
        cancellation_point();
    });
}

}  // namespace diffclust
