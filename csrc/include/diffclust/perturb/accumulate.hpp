// Accumulation of the samples' forests into the estimates A_eps, M_eps and
// F_eps: integer counts per thread (exact, order independent), values kept per
// sample and summed in sample order, so results do not depend on the threads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

#include "diffclust/core/group_by_label.hpp"
#include "diffclust/core/types.hpp"
#include "diffclust/perturb/sample.hpp"

namespace diffclust {

// Points grouped by cluster (core/group_by_label.hpp): the members of cluster
// c are order[start[c] .. start[c + 1]), ascending. Returns sum_c |c|^2.
inline double group_by_label(const index_t* lab, index_t n, std::vector<index_t>& start, std::vector<index_t>& order) {
    const index_t k = *std::max_element(lab, lab + n) + 1;
    group_by_label(lab, n, k, start, order);
    double pairs = 0.0;
    for (index_t c = 0; c < k; ++c) {
        const double size = static_cast<double>(start[static_cast<std::size_t>(c + 1)] - start[static_cast<std::size_t>(c)]);
        pairs += size * size;
    }
    return pairs;
}

// M[i, j] += (lab[i] == lab[j]) for i < j: one pass over the upper triangle,
// vectorised in every target_clones copy (32-bit labels compare 16 to a register).
static DIFFCLUST_TARGET_CLONES void add_same_label(const std::int32_t* DIFFCLUST_RESTRICT lab, index_t n,
                                                  u32* DIFFCLUST_RESTRICT M) {
    for (index_t i = 0; i < n; ++i) {
        u32* row = M + i * n;
        const std::int32_t li = lab[i];
        for (index_t j = i + 1; j < n; ++j) row[j] += static_cast<u32>(lab[j] == li);
    }
}

// Per-thread integer accumulators of the upper triangles of A and M.
struct Counts {
    index_t n;
    std::vector<u32> A, M;
    std::vector<index_t> start, order;  // points grouped by cluster (scratch)
    std::vector<std::int32_t> lab32;
    Counts(index_t n_, bool want_A, bool want_M)
        : n(n_), A(want_A ? static_cast<std::size_t>(n_ * n_) : 0), M(want_M ? static_cast<std::size_t>(n_ * n_) : 0) {}

    void add(const SampleForest& f) {
        if (!A.empty()) {
            for (const auto& e : f.edges) ++A[static_cast<std::size_t>(e.i * n + e.j)];
        }
        if (!M.empty()) add_connectivity(f.labels.data());
    }

private:
    void add_connectivity(const index_t* lab) {
        // pairs within clusters are sum_c |c|^2 / 2, often far fewer than n^2 / 2
        const double pairs = group_by_label(lab, n, start, order);
        if (pairs > 0.25 * static_cast<double>(n) * static_cast<double>(n)) {  // big clusters: one vectorised pass
            lab32.assign(lab, lab + n);  // labels < n < 2^31
            add_same_label(lab32.data(), n, M.data());
            return;
        }
        for (std::size_t c = 0; c + 1 < start.size(); ++c) {
            const index_t b0 = start[c], b1 = start[c + 1];
            for (index_t a = b0; a < b1; ++a) {
                u32* row = M.data() + order[static_cast<std::size_t>(a)] * n;
                for (index_t b = a + 1; b < b1; ++b) ++row[order[static_cast<std::size_t>(b)]];
            }
        }
    }
};

// out = (sum of the counts' upper triangles) / B, mirrored; `diagonal` on the diagonal.
template <class T>
void counts_to_matrix(const std::vector<std::unique_ptr<Counts>>& counts, bool use_M, index_t n, index_t n_samples,
                      T diagonal, T* out) {
    const double B = static_cast<double>(n_samples);
    for (index_t i = 0; i < n; ++i) {
        out[i * n + i] = diagonal;
        for (index_t j = i + 1; j < n; ++j) {
            u64 total = 0;
            for (const auto& c : counts) {
                if (c) total += (use_M ? c->M : c->A)[static_cast<std::size_t>(i * n + j)];
            }
            const T value = static_cast<T>(static_cast<double>(total) / B);
            out[i * n + j] = value;
            out[j * n + i] = value;
        }
    }
}

template <class T>
struct PerturbedOut {
    T* A;           // (n, n) A_eps, or null
    T* M;           // (n, n) M_eps, or null
    double* value;  // F_eps
    index_t* n_repaired = nullptr;  // samples completed after the greedy got stuck, or null
};

// Each sample's forest, kept by a forward pass so that a VJP need not solve
// again: edges (B x (n - k) x 2, i < j, in the solver's order: deterministic,
// but not sorted) and labels (B x n). Null pointers keep nothing.
struct KeptSamples {
    index_t* edges = nullptr;
    index_t* labels = nullptr;
};

inline void keep_sample(const SampleForest& f, index_t n, index_t k, index_t s, const KeptSamples& keep) {
    if (static_cast<index_t>(f.edges.size()) != n - k) throw std::logic_error("a sample's forest does not have n - k edges");
    if (keep.edges != nullptr) {
        index_t* e = keep.edges + s * (n - k) * 2;
        for (const auto& edge : f.edges) {
            *e++ = edge.i;
            *e++ = edge.j;
        }
    }
    if (keep.labels != nullptr) std::copy(f.labels.begin(), f.labels.end(), keep.labels + s * n);
}

// Runs solve(s, tid, forest) for every sample and writes A_eps, M_eps, F_eps
// (and each sample's forest when `keep` asks for it).
template <class T, class Solve>
void estimate_perturbed(index_t n, index_t k, const PerturbSpec& spec, int n_threads, const PerturbedOut<T>& out,
                        const KeptSamples& keep, Solve&& solve) {
    const int team = team_size(spec.n_samples, n_threads);
    std::vector<std::unique_ptr<Counts>> counts(static_cast<std::size_t>(team));
    std::vector<double> values(static_cast<std::size_t>(spec.n_samples));
    std::vector<char> repaired(static_cast<std::size_t>(spec.n_samples), 0);
    std::vector<SampleForest> forests(static_cast<std::size_t>(team));
    for_each_sample(spec.n_samples, team, [&](index_t s, int tid) {
        auto& c = counts[static_cast<std::size_t>(tid)];
        if (!c) c = std::make_unique<Counts>(n, out.A != nullptr, out.M != nullptr);
        SampleForest& f = forests[static_cast<std::size_t>(tid)];
        solve(s, tid, f);
        c->add(f);
        values[static_cast<std::size_t>(s)] = f.value;
        repaired[static_cast<std::size_t>(s)] = f.repaired;
        if (keep.edges != nullptr || keep.labels != nullptr) keep_sample(f, n, k, s, keep);
    });
    double total = 0.0;
    for (double v : values) total += v;
    *out.value = total / static_cast<double>(spec.n_samples);
    if (out.n_repaired) *out.n_repaired = static_cast<index_t>(std::count(repaired.begin(), repaired.end(), char(1)));
    if (out.A) counts_to_matrix(counts, false, n, spec.n_samples, T(0), out.A);
    if (out.M) counts_to_matrix(counts, true, n, spec.n_samples, T(1), out.M);
}

}  // namespace diffclust
