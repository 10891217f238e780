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
//
// The VJP (vjp.hpp) splits the same way: each sample's coefficient
// <V_A, A_s> + <V_M, M_s> (perturbed_vjp_coefficients_range; minus the
// control-variate reference perturbed_vjp_reference), then the gradient's
// rows from the regenerated noise weighted by all B coefficients in sample
// order (perturbed_vjp_rows).
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
#include "diffclust/perturb/vjp.hpp"

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

namespace detail {

// <V_A, A> + <V_M, M> of one forest, as perturbed_kforest_vjp computes it.
inline double vjp_dot(const EdgeCotangent& ca, const EdgeCotangent& cm, const SampleForest& f, index_t n, index_t k,
                      std::vector<index_t>& flat, std::vector<index_t>& start, std::vector<index_t>& order) {
    flat.resize(2 * f.edges.size());
    for (std::size_t e = 0; e < f.edges.size(); ++e) {
        flat[2 * e] = f.edges[e].i;
        flat[2 * e + 1] = f.edges[e].j;
    }
    double c = 0.0;
    if (!ca.empty()) c += ca.dot_adjacency(flat.data(), n - k);
    if (!cm.empty()) c += cm.dot_connectivity(f.labels.data(), start, order);
    return c;
}

}  // namespace detail

// coef[t] = <V_A, A_s> + <V_M, M_s> of sample s = first + t, t in [0, count).
template <class T>
void perturbed_vjp_coefficients_range(const T* S, index_t n, index_t k, double sigma, u64 seed, index_t first,
                                      index_t count, const ConstrainedProblem* cp, bool refine, const T* VA,
                                      const T* VM, int n_threads, double* coef) {
    check_k(n, k);
    check_perturbation(sigma, count);
    if (first < 0 || first > (index_t(1) << 32) - count) {
        throw std::invalid_argument("first_sample must be in [0, 2**32 - n_samples], got " + std::to_string(first));
    }
    const SymmetricWeights<T> sym(S, n, n_threads, "S");
    const EdgeCotangent ca(VA, n), cm(VM, n);
    const PerturbSpec spec{sigma, count, seed};
    const int team = team_size(count, n_threads);
    const std::size_t tm = static_cast<std::size_t>(team);
    std::vector<std::vector<index_t>> flat(tm), starts(tm), orders(tm);
    std::vector<std::vector<double>> scratch(tm);
    std::vector<PrimWorkspace> work(tm);
    std::vector<SampleForest> forests(tm);
    for_each_sample(count, team, [&](index_t t, int tid) {
        const std::size_t id = static_cast<std::size_t>(tid);
        solve_sample(sym.W, n, k, spec, static_cast<u32>(first + t), cp, refine, scratch[id], work[id], forests[id],
                     pairs_next(t, count));
        coef[t] = detail::vjp_dot(ca, cm, forests[id], n, k, flat[id], starts[id], orders[id]);
    });
}

// The control variate's reference: the coefficient of the unperturbed solution.
template <class T>
double perturbed_vjp_reference(const T* S, index_t n, index_t k, const ConstrainedProblem* cp, bool refine,
                               const T* VA, const T* VM, int n_threads) {
    check_k(n, k);
    const SymmetricWeights<T> sym(S, n, n_threads, "S");
    const EdgeCotangent ca(VA, n), cm(VM, n);
    SampleForest f;
    solve_exact(sym.W, n, k, cp, refine, f);
    std::vector<index_t> flat, start, order;
    return detail::vjp_dot(ca, cm, f, n, k, flat, start, order);
}

// out[(i - row0) n + j] = sum_s coef[s] Z(seed, s, {i, j}) (sample order) for
// rows i in [row0, row1) and every j != i; 0 on the diagonal. Times
// 1 / (2 B sigma), these are perturbed_kforest_vjp's gradient rows.
inline void perturbed_vjp_rows(u64 seed, index_t n, index_t row0, index_t row1, const double* coef,
                               index_t n_samples, double* out) {
    if (row0 < 0 || row1 > n || row0 > row1) throw std::invalid_argument("rows must satisfy 0 <= row0 <= row1 <= n");
    if (n > (index_t(1) << 32)) throw std::invalid_argument("n must be below 2^32");
    std::vector<u32> lo(static_cast<std::size_t>(n)), hi(static_cast<std::size_t>(n));
    std::vector<double> sum(static_cast<std::size_t>(n));
    for (index_t i = row0; i < row1; ++i) {
        index_t m = 0;
        for (index_t j = 0; j < n; ++j) {
            if (j == i) continue;
            lo[static_cast<std::size_t>(m)] = static_cast<u32>(std::min(i, j));
            hi[static_cast<std::size_t>(m)] = static_cast<u32>(std::max(i, j));
            ++m;
        }
        weighted_noise_sum(seed, lo.data(), hi.data(), m, coef, n_samples, sum.data());
        double* row = out + (i - row0) * n;
        for (index_t j = 0, e = 0; j < n; ++j) row[j] = j == i ? 0.0 : sum[static_cast<std::size_t>(e++)];
        cancellation_point();
    }
}

}  // namespace diffclust
