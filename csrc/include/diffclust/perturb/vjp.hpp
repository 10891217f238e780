// The score-function vector-Jacobian product of the perturbed estimates.
#pragma once

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <vector>

#include "diffclust/core/cancel.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/core/rng.hpp"
#include "diffclust/perturb/accumulate.hpp"
#include "diffclust/perturb/noise_matrix.hpp"
#include "diffclust/perturb/sample.hpp"
#include "diffclust/core/checks.hpp"

namespace diffclust {

// Upstream matrices folded onto edges: U_ij = V_ij + V_ji (i < j), and the trace.
struct EdgeCotangent {
    index_t n = 0;
    std::vector<double> U;  // n x n, upper triangle used; empty when absent
    double trace = 0.0;

    template <class T>
    EdgeCotangent(const T* V, index_t n_) : n(n_) {
        if (V == nullptr) return;
        U.assign(static_cast<std::size_t>(n * n), 0.0);
        for (index_t i = 0; i < n; ++i) {
            trace += static_cast<double>(V[i * n + i]);
            for (index_t j = i + 1; j < n; ++j) {
                U[static_cast<std::size_t>(i * n + j)] = static_cast<double>(V[i * n + j]) + static_cast<double>(V[j * n + i]);
            }
        }
    }
    bool empty() const noexcept { return U.empty(); }

    // <A, V> for the forest with edges (i_e, j_e) = (edges[2e], edges[2e + 1]), i_e < j_e.
    double dot_adjacency(const index_t* edges, index_t m) const {
        double total = 0.0;
        for (index_t e = 0; e < m; ++e) total += U[static_cast<std::size_t>(edges[2 * e] * n + edges[2 * e + 1])];
        return total;
    }
    // <M, V> with M the connectivity of the labelling (ones on the diagonal).
    double dot_connectivity(const index_t* labels, std::vector<index_t>& start, std::vector<index_t>& order) const {
        group_by_label(labels, n, start, order);
        double total = trace;
        for (std::size_t c = 0; c + 1 < start.size(); ++c) {
            for (index_t a = start[c]; a < start[c + 1]; ++a) {
                const double* row = U.data() + order[static_cast<std::size_t>(a)] * n;
                for (index_t b = a + 1; b < start[c + 1]; ++b) total += row[order[static_cast<std::size_t>(b)]];
            }
        }
        return total;
    }
};

// Vector-Jacobian product of (A_eps, M_eps) by the Gaussian score estimator:
//   g_ij = 1 / (2 B sigma) sum_s (<A_s - A_ref, VA> + <M_s - M_ref, VM>) Z_s,ij  (i != j)
// with the unperturbed solution as control variate (A_ref, M_ref) when asked.
//
// Two phases. First every sample's scalar c_s = <A_s - A_ref, VA> + <M_s -
// M_ref, VM>: from the forests a forward pass kept (`kept`, whose sample 0 is
// solved again as a check that they belong to this S and seed), else by
// solving each sample. Then the noise is regenerated edge by edge: g_ij sums
// c_s Z_s,ij over s in sample order, so the result does not depend on the
// thread count, and memory is O(B + n) per thread whatever B.
template <class T>
void perturbed_kforest_vjp(const T* S, index_t n, index_t k, const PerturbSpec& spec, const ConstrainedProblem* cp,
                           bool refine, const T* VA, const T* VM, bool control_variate, int n_threads, T* grad, const index_t* kept_edges = nullptr,
                           const index_t* kept_labels = nullptr) {
    check_k(n, k);
    check_perturbation(spec.sigma, spec.n_samples);
    const SymmetricWeights<T> sym(S, n, n_threads, "S");
    const EdgeCotangent ca(VA, n), cm(VM, n);
    const index_t B = spec.n_samples;
    const int team = team_size(B, n_threads);
    std::vector<std::vector<index_t>> starts(static_cast<std::size_t>(team)), orders(static_cast<std::size_t>(team));
    auto dot = [&](const index_t* edges, const index_t* labels, int tid) {
        double c = 0.0;
        if (!ca.empty()) c += ca.dot_adjacency(edges, n - k);
        if (!cm.empty()) c += cm.dot_connectivity(labels, starts[static_cast<std::size_t>(tid)], orders[static_cast<std::size_t>(tid)]);
        return c;
    };
    std::vector<std::vector<index_t>> flat(static_cast<std::size_t>(team));  // per thread: a forest's edges as pairs
    // edges in the solver's order, as the forward pass keeps them: the same summation order either way
    auto flat_edges = [&](const SampleForest& f, std::vector<index_t>& out) {
        out.resize(2 * f.edges.size());
        for (std::size_t e = 0; e < f.edges.size(); ++e) {
            out[2 * e] = f.edges[e].i;
            out[2 * e + 1] = f.edges[e].j;
        }
        return out.data();
    };
    double reference = 0.0;
    if (control_variate) {
        SampleForest f;
        solve_exact(sym.W, n, k, cp, refine, f);
        reference = dot(flat_edges(f, flat[0]), f.labels.data(), 0);
    }

    std::vector<double> coef(static_cast<std::size_t>(B));
    std::vector<std::vector<double>> scratch(static_cast<std::size_t>(team));
    std::vector<PrimWorkspace> work(static_cast<std::size_t>(team));
    std::vector<SampleForest> forests(static_cast<std::size_t>(team));
    const bool have_kept = kept_edges != nullptr && kept_labels != nullptr;
    if (have_kept) {
        SampleForest& f = forests[0];
        solve_sample(sym.W, n, k, spec, 0, cp, refine, scratch[0], work[0], f);
        const index_t* e0 = flat_edges(f, flat[0]);
        if (!std::equal(e0, e0 + 2 * (n - k), kept_edges) || !std::equal(f.labels.begin(), f.labels.end(), kept_labels)) {
            throw std::invalid_argument(
                "samples do not belong to this problem: sample 0 solved again differs from the kept one "
                "(use the S, k, sigma, seed and constraints of the forward call)");
        }
        parallel_for_tid(B, team, [&](index_t s, int tid) {
            coef[static_cast<std::size_t>(s)] = dot(kept_edges + s * (n - k) * 2, kept_labels + s * n, tid) - reference;
        });
    } else {
        for_each_sample(B, team, [&](index_t s, int tid) {
            const std::size_t t = static_cast<std::size_t>(tid);
            solve_sample(sym.W, n, k, spec, static_cast<u32>(s), cp, refine, scratch[t], work[t], forests[t],
                         pairs_next(s, B));
            coef[static_cast<std::size_t>(s)] = dot(flat_edges(forests[t], flat[t]), forests[t].labels.data(), tid) - reference;
        });
    }

    // Phase 2: g_ij = scale * sum_s c_s Z_s,ij, edge-major in fixed chunks of the
    // upper triangle (each edge's sum runs in sample order on one thread).
    weighted_noise_matrix(n, spec.seed, coef.data(), B, 1.0 / (2.0 * static_cast<double>(B) * spec.sigma), n_threads,
                          grad);
}

// The batched VJP: element t of S (b x n x n) with seed seeds[t], constraints
// bc.at(t) and cotangents VA + t n^2, VM + t n^2 (each null for zero), into
// grad + t n^2; kept forests (b x B x (n - k) x 2 and b x B x n) when given.
// Element t's result is bit-identical to the 2-D call on it, for any n_threads.
template <class T>
void perturbed_kforest_vjp_batch(const T* S, index_t b, index_t n, index_t k, double sigma, index_t n_samples,
                                 const u64* seeds, const BatchConstraints& bc, bool refine, const T* VA, const T* VM,
                                 bool control_variate, int n_threads, T* grad, const index_t* kept_edges = nullptr,
                                 const index_t* kept_labels = nullptr) {
    check_k(n, k);
    check_perturbation(sigma, n_samples);
    check_batch(S, b, n, k, bc, n_threads);
    std::unique_ptr<ConstrainedProblem> shared;
    if (bc.any() && !bc.per_element()) shared = std::make_unique<ConstrainedProblem>(n, k, bc.shared);
    const index_t nn = n * n;
    const bool kept = kept_edges != nullptr && kept_labels != nullptr;
    for_each_element(b, n_threads, [&](index_t t, int threads) {
        std::unique_ptr<ConstrainedProblem> own;
        const ConstrainedProblem* cp = element_problem(bc, shared.get(), t, n, k, own);
        perturbed_kforest_vjp(S + t * nn, n, k, PerturbSpec{sigma, n_samples, seeds[t]}, cp, refine,
                              VA ? VA + t * nn : nullptr, VM ? VM + t * nn : nullptr, control_variate, threads,
                              grad + t * nn, kept ? kept_edges + t * n_samples * (n - k) * 2 : nullptr,
                              kept ? kept_labels + t * n_samples * n : nullptr);
    });
}

}  // namespace diffclust
