// The partial Fenchel-Young loss of Stewart et al. (2023) and its gradient.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "diffclust/perturb/accumulate.hpp"
#include "diffclust/perturb/fy_sample.hpp"
#include "diffclust/perturb/sample.hpp"
#include "diffclust/core/checks.hpp"

namespace diffclust {

// The partial Fenchel-Young loss L = F_eps(S) - F_eps(S; y) and its gradient
// A_eps(S) - A_eps(S; y), both problems sharing each sample's noise.
template <class T>
double partial_fy_loss(const T* S, index_t n, index_t k, const PerturbSpec& spec, const ConstrainedProblem& cp,
                       bool refine, int n_threads, T* grad, index_t* n_repaired = nullptr) {
    check_k(n, k);
    check_perturbation(spec.sigma, spec.n_samples);
    const SymmetricWeights<T> sym(S, n, n_threads, "S");
    const int team = team_size(spec.n_samples, n_threads);
    std::vector<std::unique_ptr<Counts>> free_counts(static_cast<std::size_t>(team)), con_counts(static_cast<std::size_t>(team));
    std::vector<double> gaps(static_cast<std::size_t>(spec.n_samples));
    std::vector<char> repaired(static_cast<std::size_t>(spec.n_samples), 0);
    std::vector<FYScratch> scratch(static_cast<std::size_t>(team));
    std::vector<PrimWorkspace> work(static_cast<std::size_t>(team));
    std::vector<SampleForest> free_f(static_cast<std::size_t>(team)), con_f(static_cast<std::size_t>(team));
    for_each_sample(spec.n_samples, team, [&](index_t s, int tid) {
        const std::size_t t = static_cast<std::size_t>(tid);
        if (!free_counts[t]) {
            free_counts[t] = std::make_unique<Counts>(n, true, false);
            con_counts[t] = std::make_unique<Counts>(n, true, false);
        }
        // the same noise in both problems (common random numbers)
        fy_sample(sym.W, n, k, spec, static_cast<u32>(s), cp, refine, work[t], scratch[t], free_f[t], con_f[t],
                  pairs_next(s, spec.n_samples));
        repaired[static_cast<std::size_t>(s)] = con_f[t].repaired;
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
    if (n_repaired) *n_repaired = static_cast<index_t>(std::count(repaired.begin(), repaired.end(), char(1)));
    double loss = 0.0;
    for (double g : gaps) loss += g;
    return loss / B;
}

}  // namespace diffclust
