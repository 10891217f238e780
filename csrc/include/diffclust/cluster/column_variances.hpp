// Column variances as NumPy computes them (k-means' tolerance is scaled by their
// mean, as scikit-learn's).
#pragma once

#include <cmath>
#include <vector>

#include "diffclust/core/cancel.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust {

// The population variance of every column of X (n x d) into var (d), as NumPy's
// np.var(X, axis=0, dtype=float64) computes it: the column sums over the rows in
// row order, the means (sum / n), then the squared deviations summed in row order,
// divided by n. Two sequential passes (memory-bound; no threads, so the order is
// NumPy's). Returns false, var unset, if a column sum is not finite (X holds NaN or
// infinity, or its sums overflow).
template <class T>
bool column_variances(const T* X, index_t n, index_t d, double* var) {
    std::vector<double> sum(static_cast<std::size_t>(d), 0.0), sq(static_cast<std::size_t>(d), 0.0);
    double* s = sum.data();
    for (index_t i = 0; i < n; ++i) {
        const T* x = X + i * d;
        for (index_t t = 0; t < d; ++t) s[t] += static_cast<double>(x[t]);
        if ((i & 0xffff) == 0xffff) cancellation_point();
    }
    for (index_t t = 0; t < d; ++t) {
        if (!std::isfinite(s[t])) return false;
        s[t] /= static_cast<double>(n);
    }
    double* q = sq.data();
    for (index_t i = 0; i < n; ++i) {
        const T* x = X + i * d;
        for (index_t t = 0; t < d; ++t) {
            const double v = static_cast<double>(x[t]) - s[t];
            q[t] += v * v;
        }
        if ((i & 0xffff) == 0xffff) cancellation_point();
    }
    for (index_t t = 0; t < d; ++t) var[t] = q[t] / static_cast<double>(n);
    return true;
}

}  // namespace diffclust
