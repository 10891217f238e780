// Checks and symmetrisation of a dense n x n matrix, shared by every dense
// entry point: one scanner (scan_matrix) says whether the off-diagonal entries
// are finite and symmetric, in one cache-blocked pass, vectorised;
// SymmetricWeights turns a checked S into W = (S + S^T) / 2 without a copy
// when S is already symmetric.
#pragma once

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

#include "diffclust/core/parallel.hpp"
#include "diffclust/core/simd.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust {

// Is the n x n matrix S symmetric and finite off the diagonal (S_ij == S_ji,
// both finite, for all i != j)? Tiles of 64 x 64 against their mirror, with the
// next pair of tiles prefetched row by row. (x - x == 0 is false exactly for
// NaN and infinities; the test vectorises like the comparison.)
template <class T>
DIFFCLUST_ALWAYS_INLINE bool tile_pair_symmetric(const T* S, index_t n, index_t i0, index_t i1, index_t j0,
                                                 index_t j1, index_t next_j0, index_t next_j1) {
    unsigned ok = 1;
    for (index_t i = i0; i < i1; ++i) {
        const T* a = S + i * n;
        if (next_j0 < next_j1) {
            for (index_t c = next_j0; c < next_j1; c += 64 / static_cast<index_t>(sizeof(T))) {
                DIFFCLUST_PREFETCH(a + c);
            }
            if (next_j0 + (i - i0) < next_j1) {
                const T* b = S + (next_j0 + (i - i0)) * n;
                for (index_t c = i0; c < i1; c += 64 / static_cast<index_t>(sizeof(T))) DIFFCLUST_PREFETCH(b + c);
            }
        }
        for (index_t j = std::max(j0, i + 1); j < j1; ++j) {
            ok &= static_cast<unsigned>(a[j] == S[j * n + i]) & static_cast<unsigned>(a[j] - a[j] == T(0));
        }
    }
    return ok != 0;
}

static DIFFCLUST_TARGET_CLONES bool row_block_symmetric_f64(const double* S, index_t n, index_t i0, index_t i1,
                                                            index_t tile) {
    for (index_t j0 = i0; j0 < n; j0 += tile) {
        const index_t j1 = std::min(n, j0 + tile);
        if (!tile_pair_symmetric(S, n, i0, i1, j0, j1, j1, std::min(n, j1 + tile))) return false;
    }
    return true;
}

static DIFFCLUST_TARGET_CLONES bool row_block_symmetric_f32(const float* S, index_t n, index_t i0, index_t i1,
                                                            index_t tile) {
    for (index_t j0 = i0; j0 < n; j0 += tile) {
        const index_t j1 = std::min(n, j0 + tile);
        if (!tile_pair_symmetric(S, n, i0, i1, j0, j1, j1, std::min(n, j1 + tile))) return false;
    }
    return true;
}

// Row block [i0, i1) against its mirror: symmetric and finite?
inline bool row_block_symmetric(const double* S, index_t n, index_t i0, index_t i1, index_t tile) {
    return row_block_symmetric_f64(S, n, i0, i1, tile);
}
inline bool row_block_symmetric(const float* S, index_t n, index_t i0, index_t i1, index_t tile) {
    return row_block_symmetric_f32(S, n, i0, i1, tile);
}

struct MatrixScan {
    bool finite = true;     // every off-diagonal entry is finite
    bool symmetric = true;  // S_ij == S_ji for every i != j
};

namespace detail {

// Rows [i0, i1) against their mirror, entry by entry: which property fails.
template <class T>
MatrixScan scan_row_block_exact(const T* S, index_t n, index_t i0, index_t i1) {
    MatrixScan scan;
    for (index_t i = i0; i < i1; ++i) {
        for (index_t j = i + 1; j < n; ++j) {
            const T a = S[i * n + j], b = S[j * n + i];
            scan.finite = scan.finite && (a - a == T(0)) && (b - b == T(0));
            scan.symmetric = scan.symmetric && a == b;
        }
    }
    return scan;
}

}  // namespace detail

// The one scanner: are the off-diagonal entries of S finite, and is S
// symmetric? Row blocks of 64 are checked against their mirror (fast, both
// properties at once); a block that fails is rescanned entry by entry to tell
// which. `stop_early`: stop at the first failing block (the answer is then
// only "not both"). Below n = 2048 the scan takes well under a millisecond:
// one thread.
template <class T>
MatrixScan scan_matrix(const T* S, index_t n, int n_threads, bool stop_early = false) {
    constexpr index_t tile = 64;
    const index_t nb = (n + tile - 1) / tile;
    std::vector<unsigned char> finite(static_cast<std::size_t>(nb), 1), symmetric(static_cast<std::size_t>(nb), 1);
    std::atomic<bool> failed{false};
    // Blocks are handed out from the top, whose rows have the longest mirrors.
    parallel_for(nb, n_threads < 2 || n < 2048 ? 1 : n_threads, [&](index_t b) {
        if (stop_early && failed.load(std::memory_order_relaxed)) return;
        const index_t i0 = b * tile, i1 = std::min(n, i0 + tile);
        if (row_block_symmetric(S, n, i0, i1, tile)) return;
        failed.store(true, std::memory_order_relaxed);
        const MatrixScan block = stop_early ? MatrixScan{false, false} : detail::scan_row_block_exact(S, n, i0, i1);
        finite[static_cast<std::size_t>(b)] = block.finite;
        symmetric[static_cast<std::size_t>(b)] = block.symmetric;
    });
    MatrixScan scan;
    for (index_t b = 0; b < nb; ++b) {
        scan.finite = scan.finite && finite[static_cast<std::size_t>(b)];
        scan.symmetric = scan.symmetric && symmetric[static_cast<std::size_t>(b)];
    }
    return scan;
}

// Is S symmetric and finite off the diagonal? (NaN and infinities answer false.)
template <class T>
bool symmetric_and_finite(const T* S, index_t n, int n_threads) {
    const MatrixScan scan = scan_matrix(S, n, n_threads, true);
    return scan.finite && scan.symmetric;
}

// W = (S + S^T) / 2 off the diagonal (computed as S/2 + S^T/2: never overflows).
template <class T>
void symmetrize(const T* S, index_t n, T* W, int n_threads) {
    constexpr index_t tile = 32;
    const index_t nb = (n + tile - 1) / tile;
    parallel_for(nb, n_threads, [&](index_t bi) {
        const index_t i0 = bi * tile, i1 = std::min(n, i0 + tile);
        for (index_t bj = bi; bj < nb; ++bj) {
            const index_t j0 = bj * tile, j1 = std::min(n, j0 + tile);
            for (index_t i = i0; i < i1; ++i) {
                for (index_t j = std::max(j0, i + 1); j < j1; ++j) {
                    const T w = S[i * n + j] / T(2) + S[j * n + i] / T(2);
                    W[i * n + j] = w;
                    W[j * n + i] = w;
                }
            }
        }
        for (index_t i = i0; i < i1; ++i) W[i * n + i] = T(0);
    });
}

// The symmetric weights W = (S + S^T) / 2 of a dense S: S itself when it is
// symmetric, else a symmetrised copy. Checks finiteness off the diagonal.
template <class T>
struct SymmetricWeights {
    const T* W = nullptr;
    std::vector<T> storage;

    SymmetricWeights(const T* S, index_t n, int n_threads, const std::string& name) {
        const MatrixScan scan = scan_matrix(S, n, n_threads);
        if (!scan.finite) throw std::invalid_argument(name + " contains NaN or infinity off the diagonal");
        if (scan.symmetric) {
            W = S;
        } else {
            storage.resize(static_cast<std::size_t>(n) * static_cast<std::size_t>(n));
            symmetrize(S, n, storage.data(), n_threads);
            W = storage.data();
        }
    }
};

}  // namespace diffclust
