// Perturbed k-forests over a range of samples, for front ends that split the
// Monte-Carlo samples into tasks (diffclust.dask).
//
// Sample s of the range [first, first + count) solves exactly the problem
// sample s of perturbed_kforest (forward.hpp) solves: the noise depends only
// on (seed, s). Instead of the estimates the range returns what adds exactly
// across ranges: the integer counts of A and M (upper triangles, i < j) and
// the value of each sample. Summing the counts of disjoint ranges covering
// [0, B) and dividing by B, and summing the values in sample order and
// dividing by B, gives perturbed_kforest's A_eps, M_eps and F_eps bit for bit.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "diffclust/core/checks.hpp"
#include "diffclust/forest/dense_checks.hpp"
#include "diffclust/perturb/accumulate.hpp"
#include "diffclust/perturb/sample.hpp"

namespace diffclust {

// Where a range writes: counts (n x n, upper triangle, the rest zero) or null,
// values (count), and how many samples the constrained greedy completed.
struct RangeOut {
    u64* A = nullptr;
    u64* M = nullptr;
    double* values = nullptr;
    index_t* n_repaired = nullptr;
};

// The samples [first, first + count) of the perturbed k-forest of a dense S,
// constrained when cp != null. first + count must stay below 2^32 (the
// samples' stream index is 32 bits, as in perturbed_kforest).
template <class T>
void perturbed_kforest_range(const T* S, index_t n, index_t k, double sigma, u64 seed, index_t first, index_t count,
                             const ConstrainedProblem* cp, bool refine, int n_threads, const RangeOut& out,
                             const std::string& name = "S") {
    check_k(n, k);
    check_perturbation(sigma, count);
    if (first < 0 || first > (index_t(1) << 32) - count) {
        throw std::invalid_argument("first_sample must be in [0, 2**32 - n_samples], got " + std::to_string(first));
    }
    const SymmetricWeights<T> sym(S, n, n_threads, name);
    const PerturbSpec spec{sigma, count, seed};
    const int team = team_size(count, n_threads);
    std::vector<std::vector<double>> scratch(static_cast<std::size_t>(team));
    std::vector<PrimWorkspace> work(static_cast<std::size_t>(team));
    std::vector<std::unique_ptr<Counts>> counts(static_cast<std::size_t>(team));
    std::vector<SampleForest> forests(static_cast<std::size_t>(team));
    std::vector<char> repaired(static_cast<std::size_t>(count), 0);
    // Local sample t is global sample first + t; pairs_next is an optimisation
    // of the solver only (the same trees either way), asked for within the range.
    for_each_sample(count, team, [&](index_t t, int tid) {
        const std::size_t id = static_cast<std::size_t>(tid);
        auto& c = counts[id];
        if (!c) c = std::make_unique<Counts>(n, out.A != nullptr, out.M != nullptr);
        SampleForest& f = forests[id];
        solve_sample(sym.W, n, k, spec, static_cast<u32>(first + t), cp, refine, scratch[id], work[id], f,
                     pairs_next(t, count));
        c->add(f);
        out.values[t] = f.value;
        repaired[static_cast<std::size_t>(t)] = f.repaired;
    });
    for (const bool use_M : {false, true}) {
        u64* dst = use_M ? out.M : out.A;
        if (dst == nullptr) continue;
        for (index_t i = 0; i < n * n; ++i) dst[i] = 0;
        for (const auto& c : counts) {
            if (!c) continue;
            const std::vector<u32>& src = use_M ? c->M : c->A;
            for (index_t i = 0; i < n; ++i) {
                for (index_t j = i + 1; j < n; ++j) dst[i * n + j] += src[static_cast<std::size_t>(i * n + j)];
            }
        }
    }
    if (out.n_repaired != nullptr) {
        index_t total = 0;
        for (const char r : repaired) total += r;
        *out.n_repaired = total;
    }
}

}  // namespace diffclust
