// perturbed_kforest_range (perturb/ranges.hpp): the counts of ranges of
// samples covering [0, B), added as integers and divided by B, and the values
// summed in sample order, give perturbed_kforest's estimates bit for bit,
// constrained or not, for any split and thread count.
#include <cstring>
#include <random>
#include <vector>

#include "check.hpp"
#include "diffclust/perturb/perturb.hpp"
#include "diffclust/perturb/ranges.hpp"

using namespace diffclust;

namespace {

bool check_split(const std::vector<double>& S, index_t n, index_t k, index_t B, const std::vector<index_t>& cuts,
                 const ConstrainedProblem* cp, int threads) {
    std::vector<double> A(static_cast<std::size_t>(n * n)), M(A.size());
    double F = 0.0;
    index_t repaired = 0;
    const PerturbedOut<double> out{A.data(), M.data(), &F, &repaired};
    perturbed_kforest(S.data(), n, k, PerturbSpec{0.7, B, 99}, cp, true, 2, out);
    std::vector<u64> tA(A.size(), 0), tM(A.size(), 0);
    double total = 0.0;
    index_t rep = 0;
    for (std::size_t c = 0; c + 1 < cuts.size(); ++c) {
        const index_t count = cuts[c + 1] - cuts[c];
        std::vector<u64> a(A.size()), m(A.size());
        std::vector<double> values(static_cast<std::size_t>(count));
        index_t r = 0;
        perturbed_kforest_range(S.data(), n, k, 0.7, 99, cuts[c], count, cp, true, threads,
                                RangeOut{a.data(), m.data(), values.data(), &r});
        for (std::size_t t = 0; t < a.size(); ++t) {
            tA[t] += a[t];
            tM[t] += m[t];
        }
        for (double v : values) total += v;
        rep += r;
    }
    bool same = std::memcmp(&F, &(total /= static_cast<double>(B)), sizeof F) == 0 && rep == repaired;
    for (index_t i = 0; i < n; ++i) {
        for (index_t j = i + 1; j < n; ++j) {
            const std::size_t t = static_cast<std::size_t>(i * n + j);
            same = same && static_cast<double>(tA[t]) / static_cast<double>(B) == A[t] &&
                   static_cast<double>(tM[t]) / static_cast<double>(B) == M[t];
        }
    }
    return same;
}

}  // namespace

int main() {
    std::mt19937_64 gen(5);
    std::normal_distribution<double> normal;
    const index_t n = 17, B = 11;
    std::vector<double> S(static_cast<std::size_t>(n * n));
    for (auto& s : S) s = normal(gen);
    for (const auto& cuts : {std::vector<index_t>{0, 11}, std::vector<index_t>{0, 3, 4, 11},
                             std::vector<index_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}}) {
        for (const int threads : {1, 3}) {
            CHECK(check_split(S, n, 3, B, cuts, nullptr, threads));
        }
        std::vector<index_t> labels(static_cast<std::size_t>(n), -1);
        labels[0] = 0;
        labels[5] = 1;
        labels[9] = 1;
        Constraints c;
        c.labels = labels.data();
        const ConstrainedProblem cp(n, 3, c);
        CHECK(check_split(S, n, 3, B, cuts, &cp, 2));
    }
    // The VJP: coefficients over ranges, the reference, then rows of the gradient.
    for (const bool cv : {true, false}) {
        std::vector<double> VA(S.size()), VM(S.size()), grad(S.size());
        for (auto& v : VA) v = normal(gen);
        for (auto& v : VM) v = normal(gen);
        perturbed_kforest_vjp(S.data(), n, 3, PerturbSpec{0.7, B, 99}, nullptr, true, VA.data(), VM.data(), cv, 2,
                              grad.data());
        std::vector<double> coef(static_cast<std::size_t>(B));
        perturbed_vjp_coefficients_range(S.data(), n, 3, 0.7, 99, 0, 4, nullptr, true, VA.data(), VM.data(), 1,
                                         coef.data());
        perturbed_vjp_coefficients_range(S.data(), n, 3, 0.7, 99, 4, B - 4, nullptr, true, VA.data(), VM.data(), 2,
                                         coef.data() + 4);
        const double ref = cv ? perturbed_vjp_reference(S.data(), n, 3, nullptr, true, VA.data(), VM.data(), 1) : 0.0;
        for (auto& c : coef) c -= ref;
        std::vector<double> rows(static_cast<std::size_t>(n * n));
        perturbed_vjp_rows(99, n, 0, 6, coef.data(), B, rows.data());
        perturbed_vjp_rows(99, n, 6, n, coef.data(), B, rows.data() + 6 * n);
        const double scale = 1.0 / (2.0 * static_cast<double>(B) * 0.7);
        bool same = true;
        for (std::size_t t = 0; t < rows.size(); ++t) same = same && rows[t] * scale == grad[t];
        CHECK(same);
    }
    std::vector<double> values(2);
    CHECK_THROWS(perturbed_kforest_range(S.data(), n, 3, 0.7, 1, -1, 2, nullptr, true, 1, RangeOut{nullptr, nullptr, values.data(), nullptr}),
                 std::invalid_argument);
    TEST_MAIN_END();
}
