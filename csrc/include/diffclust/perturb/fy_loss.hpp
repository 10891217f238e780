// The partial Fenchel-Young loss of Stewart et al. (2023) and its gradient.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "diffclust/perturb/accumulate.hpp"
#include "diffclust/perturb/fy_sample.hpp"
#include "diffclust/perturb/sample.hpp"
#include "diffclust/core/checks.hpp"

namespace diffclust {

// One thread's working memory for the loss's samples (reused sample after sample).
struct FYSampleWork {
    PrimWorkspace prim;            // the fused Prim's arrays (and its twin for paired samples)
    FYScratch scratch;             // fy_sample.hpp's buffers
    SampleForest free_f, con_f;    // the sample's free and constrained forests
};

// One sample of the loss: the free and the constrained k-forests of the same
// perturbed weights W + sigma Z_s (common random numbers; fy_sample.hpp).
// Leaves both forests in `work` (for the counts) and returns whether the
// constrained greedy was repaired; the sample's gap is work.free_f.value -
// work.con_f.value (>= 0).
template <class T>
bool fy_loss_sample(const T* W, index_t n, index_t k, const PerturbSpec& spec, u32 s, const ConstrainedProblem& cp,
                    bool refine, FYSampleWork& work) {
    fy_sample(W, n, k, spec, s, cp, refine, work.prim, work.scratch, work.free_f, work.con_f,
              pairs_next(static_cast<index_t>(s), spec.n_samples));
    return work.con_f.repaired;
}

// The partial Fenchel-Young loss L = F_eps(S) - F_eps(S; y) and its gradient
// A_eps(S) - A_eps(S; y), both problems sharing each sample's noise.
template <class T>
double partial_fy_loss(const T* S, index_t n, index_t k, const PerturbSpec& spec, const ConstrainedProblem& cp,
                       bool refine, int n_threads, T* grad, index_t* n_repaired = nullptr,
                       const std::string& name = "S") {
    check_k(n, k);
    check_perturbation(spec.sigma, spec.n_samples);
    const SymmetricWeights<T> sym(S, n, n_threads, name);
    const int team = team_size(spec.n_samples, n_threads);
    std::vector<std::unique_ptr<Counts>> free_counts(static_cast<std::size_t>(team)), con_counts(static_cast<std::size_t>(team));
    std::vector<double> gaps(static_cast<std::size_t>(spec.n_samples));
    std::vector<char> repaired(static_cast<std::size_t>(spec.n_samples), 0);
    std::vector<FYSampleWork> work(static_cast<std::size_t>(team));
    for_each_sample(spec.n_samples, team, [&](index_t s, int tid) {
        const std::size_t t = static_cast<std::size_t>(tid);
        if (!free_counts[t]) {
            free_counts[t] = std::make_unique<Counts>(n, true, false);
            con_counts[t] = std::make_unique<Counts>(n, true, false);
        }
        FYSampleWork& w = work[t];
        repaired[static_cast<std::size_t>(s)] = fy_loss_sample(sym.W, n, k, spec, static_cast<u32>(s), cp, refine, w);
        free_counts[t]->add(w.free_f);
        con_counts[t]->add(w.con_f);
        gaps[static_cast<std::size_t>(s)] = w.free_f.value - w.con_f.value;
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

// The batched loss: element t of S (b x n x n) with seed seeds[t] and its
// constraints bc.at(t) (labels shared or per element); losses (b), grad
// (b x n x n). Element t's loss and gradient are bit-identical to the 2-D call
// on S[t] with seed seeds[t], for any n_threads (for_each_element).
template <class T>
void partial_fy_loss_batch(const T* S, index_t b, index_t n, index_t k, double sigma, index_t n_samples,
                           const u64* seeds, const BatchConstraints& bc, bool refine, int n_threads, double* losses,
                           T* grad, index_t* n_repaired = nullptr) {
    check_k(n, k);
    check_perturbation(sigma, n_samples);
    check_batch(S, b, n, k, bc, n_threads);
    std::unique_ptr<ConstrainedProblem> shared;
    if (!bc.per_element()) shared = std::make_unique<ConstrainedProblem>(n, k, bc.shared);
    std::vector<index_t> repaired(static_cast<std::size_t>(b), 0);
    const index_t nn = n * n;
    for_each_element(b, n_threads, [&](index_t t, int threads) {
        std::unique_ptr<ConstrainedProblem> own;
        const ConstrainedProblem* cp = element_problem(bc, shared.get(), t, n, k, own);
        losses[t] = partial_fy_loss(S + t * nn, n, k, PerturbSpec{sigma, n_samples, seeds[t]}, *cp, refine, threads,
                                    grad + t * nn, &repaired[static_cast<std::size_t>(t)], element_name("S", t));
    });
    if (n_repaired != nullptr) {
        *n_repaired = 0;
        for (index_t r : repaired) *n_repaired += r;
    }
}

}  // namespace diffclust
