// Label encoding and sparse contingency tables for labels of any int64 values.
//
// encode_labels maps the distinct values of a label vector to codes 0..m-1 in
// increasing value order: through a lookup table when the values span a range
// of at most a few times n, otherwise by a radix sort of the values. The
// contingency table of two labelings keeps only its nonzero cells (row-major):
// the cluster codes are bucketed by class (a counting sort), then each class row
// is counted in one C-long array per thread. O(n + nnz + C * threads) work and
// memory; nothing is ever n x C or classes x clusters.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

#include "diffclust/core/chunked.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/core/types.hpp"

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

// The map from label values to codes 0..m-1 (increasing value order), with the count of
// each value. code(i) is a table lookup when the values span at most max(2^16, 2n); else
// the distinct values are found by a radix sort and every code by a binary search, once.
class LabelEncoder {
  public:
    LabelEncoder(const std::int64_t* labels, index_t n, int n_threads) : labels_(labels) {
        if (n == 0) return;
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
        // v - min as an unsigned number keeps the order and cannot overflow
        umin_ = static_cast<std::uint64_t>(*std::min_element(lo.begin(), lo.end()));
        const std::uint64_t span = static_cast<std::uint64_t>(*std::max_element(hi.begin(), hi.end())) - umin_;
        const std::uint64_t table_limit =
            std::max<std::uint64_t>(std::uint64_t(1) << 16, 2 * static_cast<std::uint64_t>(n));
        if (span < table_limit) {
            table_.assign(static_cast<std::size_t>(span + 1), 0);
            for (index_t i = 0; i < n; ++i) ++table_[offset(i)];
            index_t next = 0;
            for (auto& t : table_) {
                if (t > 0) {
                    counts_.push_back(t);
                    t = next++;
                }
            }
            return;
        }
        std::vector<std::uint64_t> sorted(static_cast<std::size_t>(n));
        for (index_t i = 0; i < n; ++i) sorted[static_cast<std::size_t>(i)] = offset(i);
        radix_sort(sorted, bit_width(span));
        for (std::size_t i = 0; i < sorted.size();) {
            std::size_t j = i;
            while (j < sorted.size() && sorted[j] == sorted[i]) ++j;
            values_.push_back(sorted[i]);
            counts_.push_back(static_cast<index_t>(j - i));
            i = j;
        }
        // binary searches are slow enough to do once, in parallel
        codes_.resize(static_cast<std::size_t>(n));
        parallel_for(ch.count, threads, [&](index_t c) {
            for (index_t i = ch.begin(c); i < ch.end(c); ++i) {
                const auto it = std::lower_bound(values_.begin(), values_.end(), offset(i));
                codes_[static_cast<std::size_t>(i)] = static_cast<index_t>(it - values_.begin());
            }
        });
    }

    index_t size() const noexcept { return static_cast<index_t>(counts_.size()); }
    const std::vector<index_t>& counts() const noexcept { return counts_; }

    // the code of sample i
    index_t code(index_t i) const {
        if (!table_.empty()) return table_[static_cast<std::size_t>(offset(i))];
        return codes_[static_cast<std::size_t>(i)];
    }

  private:
    std::uint64_t offset(index_t i) const noexcept { return static_cast<std::uint64_t>(labels_[i]) - umin_; }

    const std::int64_t* labels_;
    std::uint64_t umin_ = 0;
    std::vector<index_t> table_;         // value - min -> code (dense values)
    std::vector<std::uint64_t> values_;  // sorted distinct values - min (spread values)
    std::vector<index_t> codes_;         // code of each sample (spread values)
    std::vector<index_t> counts_;
};

inline LabelCodes encode_labels(const std::int64_t* labels, index_t n, int n_threads) {
    const LabelEncoder enc(labels, n, n_threads);
    LabelCodes out;
    out.counts = enc.counts();
    out.codes.resize(static_cast<std::size_t>(n));
    const Chunks ch = make_chunks(n, 1 << 16);
    parallel_for(ch.count, useful_threads(n_threads, static_cast<double>(n), 1 << 16), [&](index_t c) {
        for (index_t i = ch.begin(c); i < ch.end(c); ++i) out.codes[static_cast<std::size_t>(i)] = enc.code(i);
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
    const LabelEncoder ea(a, n, n_threads), eb(b, n, n_threads);
    const index_t R = ea.size(), C = eb.size();
    out.row_sums = ea.counts();
    out.col_sums = eb.counts();
    if (n == 0) return out;

    // counting sort of the cluster codes by class, keeping sample order: the class
    // sizes are known (row_sums), so one pass places every sample (group_by_label's
    // counting pass would look every code up twice); codes are looked up on the fly
    std::vector<index_t> start(static_cast<std::size_t>(R + 1), 0);
    for (index_t r = 0; r < R; ++r)
        start[static_cast<std::size_t>(r + 1)] = start[static_cast<std::size_t>(r)] + out.row_sums[static_cast<std::size_t>(r)];
    std::unique_ptr<index_t[]> bucket(new index_t[static_cast<std::size_t>(n)]);
    {
        std::vector<index_t> next(start.begin(), start.end() - 1);
        for (index_t i = 0; i < n; ++i) bucket[static_cast<std::size_t>(next[static_cast<std::size_t>(ea.code(i))]++)] = eb.code(i);
    }

    // each class row is counted in a C-long counter array (one per thread, reset after use);
    // rows are grouped into blocks of about equal sample counts, emitted in row order
    const int threads = useful_threads(n_threads, static_cast<double>(n), 1 << 16);
    const index_t target = std::max<index_t>(4096, n / (8 * static_cast<index_t>(threads)));
    std::vector<index_t> block_rows{0};
    for (index_t r = 0, acc = 0; r < R; ++r) {
        acc += out.row_sums[static_cast<std::size_t>(r)];
        if (acc >= target || r == R - 1) {
            block_rows.push_back(r + 1);
            acc = 0;
        }
    }
    const index_t n_blocks = static_cast<index_t>(block_rows.size()) - 1;
    struct Block {
        std::vector<index_t> rows, cols, counts;
    };
    std::vector<Block> blocks(static_cast<std::size_t>(n_blocks));
    std::vector<std::vector<index_t>> counters(static_cast<std::size_t>(threads));
    parallel_for_tid(n_blocks, threads, [&](index_t blk, int tid) {
        std::vector<index_t>& cnt = counters[static_cast<std::size_t>(tid)];
        if (cnt.empty()) cnt.assign(static_cast<std::size_t>(C), 0);
        Block& out_blk = blocks[static_cast<std::size_t>(blk)];
        std::vector<index_t> touched;
        for (index_t r = block_rows[static_cast<std::size_t>(blk)]; r < block_rows[static_cast<std::size_t>(blk + 1)]; ++r) {
            touched.clear();
            for (index_t e = start[static_cast<std::size_t>(r)]; e < start[static_cast<std::size_t>(r + 1)]; ++e) {
                const index_t col = bucket[static_cast<std::size_t>(e)];
                if (cnt[static_cast<std::size_t>(col)]++ == 0) touched.push_back(col);
            }
            auto emit = [&](index_t col) {
                out_blk.rows.push_back(r);
                out_blk.cols.push_back(col);
                out_blk.counts.push_back(cnt[static_cast<std::size_t>(col)]);
                cnt[static_cast<std::size_t>(col)] = 0;
            };
            if (static_cast<index_t>(touched.size()) * 16 >= C) {
                for (index_t col = 0; col < C; ++col)
                    if (cnt[static_cast<std::size_t>(col)]) emit(col);
            } else {
                std::sort(touched.begin(), touched.end());
                for (const index_t col : touched) emit(col);
            }
        }
    });
    std::size_t nnz = 0;
    for (const Block& blk : blocks) nnz += blk.counts.size();
    out.rows.reserve(nnz);
    out.cols.reserve(nnz);
    out.counts.reserve(nnz);
    for (const Block& blk : blocks) {
        out.rows.insert(out.rows.end(), blk.rows.begin(), blk.rows.end());
        out.cols.insert(out.cols.end(), blk.cols.begin(), blk.cols.end());
        out.counts.insert(out.counts.end(), blk.counts.begin(), blk.counts.end());
    }
    return out;
}

}  // namespace diffclust
