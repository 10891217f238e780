// Label encoding and sparse contingency tables for labels of any int64 values.
//
// encode_labels maps the distinct values of a label vector to codes 0..m-1 in
// increasing value order: through a lookup table when the values span a range
// of at most a few times n, otherwise by a radix sort of the values. The
// contingency table of two labelings keeps only its nonzero cells; it is
// counted in a dense (classes x clusters) table when that is small, else by
// radix-sorting the pair codes. Nothing is ever n x C.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "chunked.hpp"
#include "parallel.hpp"
#include "types.hpp"

namespace diffclust {

struct LabelCodes {
    std::vector<index_t> codes;   // (n,) code of each sample, 0..m-1 by increasing value
    std::vector<index_t> counts;  // (m,) samples per distinct value
    index_t size() const noexcept { return static_cast<index_t>(counts.size()); }
};

// LSD radix sort of unsigned keys below 2^bits, 11 bits per pass.
inline void radix_sort(std::vector<std::uint64_t>& keys, int bits) {
    constexpr int digit = 11;
    constexpr std::size_t buckets = std::size_t(1) << digit;
    std::vector<std::uint64_t> tmp(keys.size());
    std::vector<std::size_t> count(buckets);
    for (int shift = 0; shift < bits; shift += digit) {
        std::fill(count.begin(), count.end(), std::size_t(0));
        for (const std::uint64_t k : keys) ++count[(k >> shift) & (buckets - 1)];
        std::size_t total = 0;
        for (auto& c : count) {
            const std::size_t t = c;
            c = total;
            total += t;
        }
        for (const std::uint64_t k : keys) tmp[count[(k >> shift) & (buckets - 1)]++] = k;
        keys.swap(tmp);
    }
}

inline int bit_width(std::uint64_t x) noexcept {
    int b = 0;
    while (x) {
        ++b;
        x >>= 1;
    }
    return b;
}

inline LabelCodes encode_labels(const std::int64_t* labels, index_t n, int n_threads) {
    LabelCodes out;
    out.codes.resize(static_cast<std::size_t>(n));
    if (n == 0) return out;
    const int threads = useful_threads(n_threads, static_cast<double>(n), 1 << 16);

    // min and max by fixed chunks (order does not matter for min/max)
    const Chunks ch = make_chunks(n, 1 << 16);
    std::vector<std::int64_t> lo(static_cast<std::size_t>(ch.count)), hi(static_cast<std::size_t>(ch.count));
    parallel_for(ch.count, threads, [&](index_t c) {
        std::int64_t a = labels[ch.begin(c)], b = a;
        for (index_t i = ch.begin(c); i < ch.end(c); ++i) {
            a = std::min(a, labels[i]);
            b = std::max(b, labels[i]);
        }
        lo[static_cast<std::size_t>(c)] = a;
        hi[static_cast<std::size_t>(c)] = b;
    });
    const std::int64_t vmin = *std::min_element(lo.begin(), lo.end());
    const std::int64_t vmax = *std::max_element(hi.begin(), hi.end());
    // v - vmin as an unsigned number keeps the order and cannot overflow
    const std::uint64_t umin = static_cast<std::uint64_t>(vmin);
    const std::uint64_t span = static_cast<std::uint64_t>(vmax) - umin;
    auto offset = [&](index_t i) { return static_cast<std::uint64_t>(labels[i]) - umin; };

    const std::uint64_t table_limit = std::max<std::uint64_t>(std::uint64_t(1) << 16, 2 * static_cast<std::uint64_t>(n));
    if (span < table_limit) {
        std::vector<index_t> table(static_cast<std::size_t>(span + 1), 0);
        for (index_t i = 0; i < n; ++i) ++table[offset(i)];
        index_t next = 0;
        for (auto& t : table) {
            if (t > 0) {
                out.counts.push_back(t);
                t = next++;
            } else {
                t = -1;
            }
        }
        parallel_for(ch.count, threads, [&](index_t c) {
            for (index_t i = ch.begin(c); i < ch.end(c); ++i)
                out.codes[static_cast<std::size_t>(i)] = table[offset(i)];
        });
        return out;
    }

    std::vector<std::uint64_t> sorted(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) sorted[static_cast<std::size_t>(i)] = offset(i);
    radix_sort(sorted, bit_width(span));
    std::vector<std::uint64_t> values;
    for (std::size_t i = 0; i < sorted.size();) {
        std::size_t j = i;
        while (j < sorted.size() && sorted[j] == sorted[i]) ++j;
        values.push_back(sorted[i]);
        out.counts.push_back(static_cast<index_t>(j - i));
        i = j;
    }
    parallel_for(ch.count, threads, [&](index_t c) {
        for (index_t i = ch.begin(c); i < ch.end(c); ++i) {
            const auto it = std::lower_bound(values.begin(), values.end(), offset(i));
            out.codes[static_cast<std::size_t>(i)] = static_cast<index_t>(it - values.begin());
        }
    });
    return out;
}

// The nonzero cells of the contingency table, row-major (by class, then cluster).
struct Contingency {
    index_t n_samples = 0;
    std::vector<index_t> row_sums;  // samples per class (labels_true), by increasing value
    std::vector<index_t> col_sums;  // samples per cluster (labels_pred), by increasing value
    std::vector<index_t> rows, cols, counts;
};

inline Contingency contingency(const std::int64_t* a, const std::int64_t* b, index_t n, int n_threads) {
    Contingency out;
    out.n_samples = n;
    LabelCodes ca = encode_labels(a, n, n_threads);
    LabelCodes cb = encode_labels(b, n, n_threads);
    const index_t R = ca.size(), C = cb.size();
    out.row_sums = std::move(ca.counts);
    out.col_sums = std::move(cb.counts);
    if (n == 0) return out;
    const index_t cells = R * C;  // R, C <= n, and n * n < 2^63 for any array that fits in memory
    auto emit = [&](index_t cell, index_t count) {
        out.rows.push_back(cell / C);
        out.cols.push_back(cell % C);
        out.counts.push_back(count);
    };

    constexpr index_t dense_limit = index_t(1) << 22;
    if (cells <= dense_limit) {
        // one dense table per part of the samples (integer counts: any split gives the same sums)
        const index_t budget = index_t(1) << 24;
        const int parts = std::max(1, std::min(useful_threads(n_threads, static_cast<double>(n), 1 << 17),
                                               static_cast<int>(std::max<index_t>(1, budget / cells))));
        std::vector<std::vector<index_t>> tables(static_cast<std::size_t>(parts));
        parallel_for(parts, parts, [&](index_t p) {
            auto& t = tables[static_cast<std::size_t>(p)];
            t.assign(static_cast<std::size_t>(cells), 0);
            const index_t lo = n * p / parts, hi = n * (p + 1) / parts;
            const index_t* ra = ca.codes.data();
            const index_t* rb = cb.codes.data();
            for (index_t i = lo; i < hi; ++i) ++t[static_cast<std::size_t>(ra[i] * C + rb[i])];
        });
        auto& total = tables[0];
        for (int p = 1; p < parts; ++p) {
            const auto& t = tables[static_cast<std::size_t>(p)];
            for (std::size_t c = 0; c < total.size(); ++c) total[c] += t[c];
        }
        for (index_t c = 0; c < cells; ++c)
            if (total[static_cast<std::size_t>(c)] > 0) emit(c, total[static_cast<std::size_t>(c)]);
        return out;
    }

    std::vector<std::uint64_t> keys(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i)
        keys[static_cast<std::size_t>(i)] = static_cast<std::uint64_t>(
            ca.codes[static_cast<std::size_t>(i)] * C + cb.codes[static_cast<std::size_t>(i)]);
    radix_sort(keys, bit_width(static_cast<std::uint64_t>(cells - 1)));
    for (std::size_t i = 0; i < keys.size();) {
        std::size_t j = i;
        while (j < keys.size() && keys[j] == keys[i]) ++j;
        emit(static_cast<index_t>(keys[i]), static_cast<index_t>(j - i));
        i = j;
    }
    return out;
}

}  // namespace diffclust
