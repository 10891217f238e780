// Fixed chunking and ordered reductions: the partition of [0, n) into chunks
// depends only on the problem size, never on the thread count, and partial
// results are combined in chunk order. Floating-point sums are therefore
// bit-identical for any n_threads.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "diffclust/core/parallel.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust {

struct Chunks {
    index_t n = 0;      // items in total
    index_t size = 1;   // items per chunk (the last one may be shorter)
    index_t count = 0;  // number of chunks

    index_t begin(index_t c) const noexcept { return c * size; }
    index_t end(index_t c) const noexcept { return std::min(n, (c + 1) * size); }
};

// Chunks of at least `min_size` items; when every chunk needs
// `scratch_per_chunk` numbers of scratch, their count is capped so that the
// total stays under `scratch_budget` numbers.
inline Chunks make_chunks(index_t n, index_t min_size, index_t scratch_per_chunk = 0,
                          index_t scratch_budget = index_t(1) << 22) {
    Chunks ch;
    ch.n = n;
    if (n <= 0) return ch;
    min_size = std::max<index_t>(1, min_size);
    index_t count = (n + min_size - 1) / min_size;
    if (scratch_per_chunk > 0) count = std::min(count, std::max<index_t>(1, scratch_budget / scratch_per_chunk));
    ch.size = (n + count - 1) / count;
    ch.count = (n + ch.size - 1) / ch.size;
    return ch;
}

// Threads worth starting for `work` elementary operations: tiny inputs run serially.
inline int useful_threads(int n_threads, double work, double per_thread = 1 << 15) {
    if (n_threads <= 1) return 1;
    const double t = std::floor(work / per_thread);
    return t < 1.0 ? 1 : static_cast<int>(std::min<double>(n_threads, t));
}

// Pairwise (cascade) summation: error O(log n * eps) instead of O(n * eps).
inline double pairwise_sum(const double* a, index_t n) {
    if (n < 8) {
        double s = 0.0;
        for (index_t i = 0; i < n; ++i) s += a[i];
        return s;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; ++j) r[j] = a[j];
        index_t i = 8;
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; ++j) r[j] += a[i + j];
        double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; ++i) s += a[i];
        return s;
    }
    index_t half = n / 2;
    half -= half % 8;
    return pairwise_sum(a, half) + pairwise_sum(a + half, n - half);
}

inline double pairwise_sum(const std::vector<double>& a) {
    return pairwise_sum(a.data(), static_cast<index_t>(a.size()));
}

// Sum of fn(i) over [0, n): each fixed chunk is summed in index order, then the
// chunk sums are added pairwise in chunk order.
template <class Fn>
double chunked_sum(index_t n, int n_threads, index_t min_chunk, Fn&& fn) {
    const Chunks ch = make_chunks(n, min_chunk);
    std::vector<double> partial(static_cast<std::size_t>(ch.count), 0.0);
    parallel_for(ch.count, n_threads, [&](index_t c) {
        double s = 0.0;
        for (index_t i = ch.begin(c); i < ch.end(c); ++i) s += fn(i);
        partial[static_cast<std::size_t>(c)] = s;
    });
    return pairwise_sum(partial);
}

}  // namespace diffclust
