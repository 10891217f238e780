// The score-function sum of the perturbed forests' gradients: the symmetric
// matrix scale * sum_s coef[s] Z_s of the edge noise of samples 0 .. B - 1,
// regenerated edge by edge (perturb/vjp.hpp and density/perturbed_trees.hpp).
#pragma once

#include <algorithm>
#include <vector>

#include "diffclust/core/cancel.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/core/rng.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust {

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
