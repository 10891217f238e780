// The single-linkage tree (against components computed naively) and the
// condensed tree (its invariants) of random spanning trees with tied weights.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <vector>

#include "check.hpp"
#include "diffclust/density/condense.hpp"

using namespace diffclust;

namespace {

struct Tree {
    std::vector<index_t> u, v;
    std::vector<double> w;
};

Tree random_tree(index_t n, std::mt19937_64& gen) {
    Tree t;
    std::uniform_int_distribution<int> level(0, 5);  // many ties
    for (index_t x = 1; x < n; ++x) {
        std::uniform_int_distribution<index_t> pick(0, x - 1);
        t.u.push_back(pick(gen));
        t.v.push_back(x);
        t.w.push_back(static_cast<double>(level(gen)));
    }
    std::sort(t.w.begin(), t.w.end());
    std::vector<std::size_t> perm(t.u.size());
    for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = i;
    std::shuffle(perm.begin(), perm.end(), gen);  // edges in random order over the sorted weights
    Tree s;
    for (const std::size_t i : perm) {
        s.u.push_back(t.u[i]);
        s.v.push_back(t.v[i]);
    }
    s.w = t.w;
    return s;
}

// The points under every node of Z, from the merges' children.
std::vector<std::vector<index_t>> members(index_t n, const std::vector<double>& Z) {
    std::vector<std::vector<index_t>> out(static_cast<std::size_t>(2 * n - 1));
    for (index_t i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = {i};
    for (index_t t = 0; t + 1 < n; ++t) {
        auto& m = out[static_cast<std::size_t>(n + t)];
        for (int c = 0; c < 2; ++c) {
            const auto& part = out[static_cast<std::size_t>(Z[static_cast<std::size_t>(4 * t + c)])];
            m.insert(m.end(), part.begin(), part.end());
        }
        std::sort(m.begin(), m.end());
    }
    return out;
}

void test_single_linkage() {
    std::mt19937_64 gen(11);
    for (const index_t n : {1, 2, 3, 10, 57, 300}) {
        for (int rep = 0; rep < 5; ++rep) {
            const Tree t = random_tree(n, gen);
            std::vector<double> Z(static_cast<std::size_t>(4 * std::max<index_t>(n - 1, 0)));
            single_linkage_from_sorted(n, t.u.data(), t.v.data(), t.w.data(), Z.data());
            const auto mem = members(n, Z);
            // naive components after edges 0..e
            std::vector<index_t> comp(static_cast<std::size_t>(n));
            for (index_t i = 0; i < n; ++i) comp[static_cast<std::size_t>(i)] = i;
            bool ok = true;
            for (index_t e = 0; e + 1 < n; ++e) {
                const index_t cu = comp[static_cast<std::size_t>(t.u[static_cast<std::size_t>(e)])];
                const index_t cv = comp[static_cast<std::size_t>(t.v[static_cast<std::size_t>(e)])];
                for (auto& c : comp)
                    if (c == cv) c = cu;
                std::vector<index_t> want;
                for (index_t i = 0; i < n; ++i)
                    if (comp[static_cast<std::size_t>(i)] == cu) want.push_back(i);
                const double* row = Z.data() + 4 * e;
                ok = ok && mem[static_cast<std::size_t>(n + e)] == want && row[0] < row[1] &&
                     row[2] == t.w[static_cast<std::size_t>(e)] && row[3] == static_cast<double>(want.size());
            }
            CHECK(ok);
        }
    }
    const std::vector<index_t> u = {0, 1, 0}, v = {1, 2, 2};
    const std::vector<double> w = {0.0, 1.0, 1.0};
    std::vector<double> Z(12);
    CHECK_THROWS(single_linkage_from_sorted(4, u.data(), v.data(), w.data(), Z.data()), std::invalid_argument);
}

void test_condense() {
    std::mt19937_64 gen(5);
    for (const index_t n : {2, 3, 10, 57, 300}) {
        for (const index_t mcs : {2, 3, 5, 20, 1000}) {
            const Tree t = random_tree(n, gen);
            std::vector<double> Z(static_cast<std::size_t>(4 * (n - 1)));
            single_linkage_from_sorted(n, t.u.data(), t.v.data(), t.w.data(), Z.data());
            CondensedTree ct;
            condense_tree(n, Z.data(), mcs, ct);
            const std::size_t rows = ct.parent.size();
            std::vector<int> seen(static_cast<std::size_t>(n), 0);
            index_t next = n + 1;
            bool ok = true;
            std::vector<index_t> under(rows + static_cast<std::size_t>(n) + 2, 0);  // points under each cluster
            for (std::size_t r = 0; r < rows; ++r) {
                const index_t c = ct.child[r];
                const double lam = ct.lambda[r];
                ok = ok && ct.parent[r] >= n && (c < n || ct.parent[r] < c) && (lam > 0.0);
                if (c < n) {
                    ok = ok && ct.child_size[r] == 1;
                    ++seen[static_cast<std::size_t>(c)];
                } else {
                    ok = ok && c == next++ && ct.child_size[r] >= mcs;  // clusters numbered in order of appearance
                }
            }
            for (const int s : seen) ok = ok && s == 1;  // every point leaves exactly once
            // a cluster's child_size is the number of points that leave it or its descendants
            for (std::size_t r = rows; r-- > 0;) {
                const std::size_t p = static_cast<std::size_t>(ct.parent[r] - n);
                const index_t c = ct.child[r];
                under[p] += c < n ? 1 : under[static_cast<std::size_t>(c - n)];
                if (c >= n) ok = ok && under[static_cast<std::size_t>(c - n)] == ct.child_size[r];
            }
            ok = ok && under[0] == n;
            CHECK(ok);
        }
    }
}

}  // namespace

int main() {
    test_single_linkage();
    test_condense();
    if (diffclust_test_failures()) std::fprintf(stderr, "%d failures\n", diffclust_test_failures());
    return diffclust_test_failures() ? 1 : 0;
}
