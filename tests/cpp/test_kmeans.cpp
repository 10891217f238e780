// Core tests for cluster/kmeans.hpp and cluster/kmeans_plusplus.hpp (no Python):
// Lloyd against a plain reference implementation, thread-count bit-identity,
// empty-cluster relocation, k-means++ properties.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

#include "check.hpp"
#include "diffclust/cluster/kmeans.hpp"
#include "diffclust/cluster/kmeans_plusplus.hpp"

using namespace diffclust;

static std::vector<double> blobs(index_t n, index_t d, index_t centres, unsigned seed) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> z(0.0, 1.0);
    std::vector<double> C(static_cast<std::size_t>(centres * d)), X(static_cast<std::size_t>(n * d));
    for (auto& c : C) c = 8.0 * z(gen);
    for (index_t i = 0; i < n; ++i)
        for (index_t t = 0; t < d; ++t)
            X[static_cast<std::size_t>(i * d + t)] = C[static_cast<std::size_t>((i % centres) * d + t)] + z(gen);
    return X;
}

// A plain Lloyd: direct distances, first-index ties, the same stopping rules.
static KMeansStats reference_lloyd(const std::vector<double>& X, index_t n, index_t d, index_t k,
                                   std::vector<double>& C, std::vector<index_t>& labels, index_t max_iter,
                                   double tol) {
    labels.assign(static_cast<std::size_t>(n), -1);
    KMeansStats s;
    auto assign = [&](index_t& changed) {
        changed = 0;
        for (index_t i = 0; i < n; ++i) {
            index_t best = 0;
            double bd = INFINITY;
            for (index_t j = 0; j < k; ++j) {
                double v = 0.0;
                for (index_t t = 0; t < d; ++t) {
                    const double e = X[static_cast<std::size_t>(i * d + t)] - C[static_cast<std::size_t>(j * d + t)];
                    v += e * e;
                }
                if (v < bd) bd = v, best = j;
            }
            changed += labels[static_cast<std::size_t>(i)] != best;
            labels[static_cast<std::size_t>(i)] = best;
        }
    };
    index_t it = 0;
    bool strict = false;
    for (; it < max_iter; ++it) {
        index_t changed;
        assign(changed);
        std::vector<double> S(C.size(), 0.0), W(static_cast<std::size_t>(k), 0.0);
        for (index_t i = 0; i < n; ++i) {
            const index_t l = labels[static_cast<std::size_t>(i)];
            for (index_t t = 0; t < d; ++t) S[static_cast<std::size_t>(l * d + t)] += X[static_cast<std::size_t>(i * d + t)];
            W[static_cast<std::size_t>(l)] += 1.0;
        }
        double shift = 0.0;
        for (index_t j = 0; j < k; ++j)
            for (index_t t = 0; t < d; ++t) {
                const std::size_t e = static_cast<std::size_t>(j * d + t);
                const double v = W[static_cast<std::size_t>(j)] > 0 ? S[e] / W[static_cast<std::size_t>(j)] : C[e];
                shift += (v - C[e]) * (v - C[e]);
                C[e] = v;
            }
        if (changed == 0) {
            strict = true;
            break;
        }
        if (shift <= tol) break;
    }
    s.n_iter = std::min(it + 1, max_iter);
    if (!strict) {
        index_t changed;
        assign(changed);
    }
    for (index_t i = 0; i < n; ++i) {
        double v = 0.0;
        for (index_t t = 0; t < d; ++t) {
            const double e = X[static_cast<std::size_t>(i * d + t)] -
                             C[static_cast<std::size_t>(labels[static_cast<std::size_t>(i)] * d + t)];
            v += e * e;
        }
        s.inertia += v;
    }
    return s;
}

static void test_against_reference() {
    for (const index_t d : {1, 3, 16, 37}) {
      for (const index_t k : {1, 4, 7, 10, 12, 13, 40}) {  // small-k kernel (k <= 12); plain panels; Hamerly (k >= 24)
        const index_t n = 5000 + d;
        const std::vector<double> X = blobs(n, d, 9, static_cast<unsigned>(d));
        std::vector<double> C(X.begin(), X.begin() + k * d);  // the first k points
        std::vector<double> Cref = C;
        std::vector<index_t> labels(static_cast<std::size_t>(n)), ref;
        const KMeansStats s = kmeans_lloyd(X.data(), n, d, nullptr, k, C.data(), labels.data(), 100, 1e-9, 2);
        const KMeansStats r = reference_lloyd(X, n, d, k, Cref, ref, 100, 1e-9);
        CHECK(labels == ref);
        CHECK(s.n_iter == r.n_iter);
        CHECK(std::fabs(s.inertia - r.inertia) <= 1e-9 * r.inertia);
        double err = 0.0;
        for (std::size_t e = 0; e < C.size(); ++e) err = std::max(err, std::fabs(C[e] - Cref[e]));
        CHECK(err < 1e-9);
      }
    }
}

// The small-k kernel on float32 data (d not a multiple of 4, row counts not a
// multiple of 4) against brute-force labels on the widened values, any threads.
static void test_small_k_float32() {
    const index_t n = 9003, d = 6;
    const std::vector<double> Xd = blobs(n, d, 7, 3);
    const std::vector<float> X(Xd.begin(), Xd.end());
    for (const index_t k : {3, 9, 11}) {
        const std::vector<float> C(X.begin() + 5 * d, X.begin() + (5 + k) * d);
        std::vector<index_t> ref(static_cast<std::size_t>(n));
        double ref_inertia = 0.0;
        for (index_t i = 0; i < n; ++i) {
            double bd = INFINITY;
            for (index_t j = 0; j < k; ++j) {
                double v = 0.0;
                for (index_t t = 0; t < d; ++t) {
                    const double e = static_cast<double>(X[static_cast<std::size_t>(i * d + t)]) -
                                     static_cast<double>(C[static_cast<std::size_t>(j * d + t)]);
                    v += e * e;
                }
                if (v < bd) bd = v, ref[static_cast<std::size_t>(i)] = j;
            }
            ref_inertia += bd;
        }
        for (const int threads : {1, 3}) {
            std::vector<index_t> labels(static_cast<std::size_t>(n));
            const double inertia =
                kmeans_assign(X.data(), n, d, nullptr, C.data(), k, labels.data(), nullptr, threads);
            CHECK(labels == ref);
            CHECK(std::fabs(inertia - ref_inertia) <= 1e-10 * ref_inertia);
        }
    }
}

static void test_threads_identical() {
    const index_t n = 20000, d = 7, k = 25;
    const std::vector<double> Xd = blobs(n, d, 30, 7);
    std::vector<float> X(Xd.begin(), Xd.end());
    std::vector<double> w(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) w[static_cast<std::size_t>(i)] = 0.5 + static_cast<double>(i % 7);
    std::vector<float> C0(X.begin(), X.begin() + k * d);
    std::vector<float> first;
    std::vector<index_t> first_labels;
    double first_inertia = 0.0;
    for (const int threads : {1, 2, 3, 7}) {
        std::vector<float> C = C0;
        std::vector<index_t> labels(static_cast<std::size_t>(n));
        const KMeansStats s = kmeans_lloyd(X.data(), n, d, w.data(), k, C.data(), labels.data(), 50, 0.0, threads);
        if (threads == 1) {
            first = C, first_labels = labels, first_inertia = s.inertia;
        } else {
            CHECK(std::memcmp(C.data(), first.data(), C.size() * sizeof(float)) == 0);
            CHECK(labels == first_labels);
            CHECK(s.inertia == first_inertia);
        }
        std::vector<index_t> idx(static_cast<std::size_t>(k)), idx1(static_cast<std::size_t>(k));
        const double p = kmeans_plusplus(X.data(), n, d, w.data(), k, 4, 42, idx.data(), threads);
        const double p1 = kmeans_plusplus(X.data(), n, d, w.data(), k, 4, 42, idx1.data(), 1);
        CHECK(idx == idx1);
        CHECK(p == p1);
    }
}

static void test_empty_cluster() {
    // Two far centres on points 0..9 of a line; the centre at 1000 gets no point:
    // it takes the point farthest from its centre (x = 9, from the centre at 0).
    std::vector<double> X;
    for (int i = 0; i < 10; ++i) X.push_back(i);
    std::vector<double> C{0.0, 1000.0};
    std::vector<index_t> labels(10);
    kmeans_lloyd(X.data(), 10, 1, nullptr, 2, C.data(), labels.data(), 1, 0.0, 1);
    CHECK(C[1] == 9.0);
    CHECK(C[0] == 4.0);  // (0 + ... + 8) / 9
}

static void test_plusplus_properties() {
    const index_t n = 3000, d = 4, k = 40;
    const std::vector<double> X = blobs(n, d, 50, 3);
    std::vector<index_t> idx(static_cast<std::size_t>(k));
    kmeans_plusplus(X.data(), n, d, nullptr, k, 5, 1, idx.data(), 2);
    CHECK(std::set<index_t>(idx.begin(), idx.end()).size() == static_cast<std::size_t>(k));
    // Only point 17 has weight: it must be the first centre.
    std::vector<double> w(static_cast<std::size_t>(n), 0.0);
    w[17] = 2.0;
    kmeans_plusplus(X.data(), n, d, w.data(), 3, 3, 5, idx.data(), 1);
    CHECK(idx[0] == 17);
    // k = n on 4 distinct points with duplicates: all distinct indices, then fallback.
    const std::vector<double> D{0, 0, 1, 1, 0, 0, 1, 1};
    std::vector<index_t> all(8);
    kmeans_plusplus(D.data(), 8, 1, nullptr, 8, 3, 9, all.data(), 1);
    CHECK(std::set<index_t>(all.begin(), all.end()).size() == 8);
    CHECK_THROWS(kmeans_plusplus(D.data(), 8, 1, nullptr, 9, 3, 9, all.data(), 1), std::invalid_argument);
}

// The final pass's AVX2 distances (sq_distances_rows16_avx2) equal sq_distance, the
// definition, bit for bit: every feature tail (d = 1 .. 19), every row count (1 ..
// 16, padding rows past it), float64 and float32 rows, values spread over many
// magnitudes so that a change in the order of the sums shows.
template <class T>
static void check_rows16(std::mt19937_64& gen) {
#ifdef DIFFCLUST_HAVE_AVX2_PATH
    std::normal_distribution<double> z(0.0, 1.0);
    std::uniform_int_distribution<int> e(-20, 20);
    for (index_t d = 1; d < 20; ++d) {
        const index_t n = 40, k = 3;
        std::vector<T> X(static_cast<std::size_t>(n * d));
        std::vector<double> C(static_cast<std::size_t>(k * d));
        std::vector<index_t> labels(static_cast<std::size_t>(n));
        for (auto& x : X) x = static_cast<T>(std::ldexp(z(gen), e(gen)));
        for (auto& c : C) c = std::ldexp(z(gen), e(gen));
        for (index_t i = 0; i < n; ++i) labels[static_cast<std::size_t>(i)] = (i * 7) % k;
        for (index_t count = 1; count <= 16; ++count) {
            for (index_t i0 = 0; i0 + count <= n; i0 += 11) {
                double out[16];
                kmeans_detail::sq_distances_rows16_avx2(X.data(), d, i0, count, C.data(), labels.data(), out);
                for (index_t w = 0; w < count; ++w) {
                    const index_t i = i0 + w;
                    const double ref = kmeans_detail::sq_distance(X.data() + i * d,
                                                                  C.data() + labels[static_cast<std::size_t>(i)] * d, d);
                    CHECK(std::memcmp(&out[w], &ref, sizeof ref) == 0);
                }
            }
        }
    }
#else
    (void)gen;
#endif
}

static void test_final_pass_distances_avx2() {
    if (!cpu_has_avx2_fma()) return;
    std::mt19937_64 gen(5);
    check_rows16<double>(gen);
    check_rows16<float>(gen);
}

int main() {
    test_against_reference();
    test_threads_identical();
    test_small_k_float32();
    test_empty_cluster();
    test_plusplus_properties();
    test_final_pass_distances_avx2();
    TEST_MAIN_END();
}
