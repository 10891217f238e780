// Bindings for k-means (cluster/kmeans.hpp) and greedy k-means++
// (cluster/kmeans_plusplus.hpp). Each converts and checks its arguments
// (convert.hpp), allocates its outputs, releases the GIL and calls the core.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "convert.hpp"
#include "diffclust/cluster/kmeans.hpp"
#include "diffclust/cluster/kmeans_plusplus.hpp"

namespace diffclust::bind {

namespace {

// Finite points X (n, d) of dtype T. scan = false: the core checks finiteness
// itself during its first pass over X (kmeans_lloyd, kmeans_plusplus), which
// spares a pass over memory.
template <class T>
carray<T> points_arg(const py::array& X_in, int threads, bool scan = true) {
    auto X = as_real<T>(X_in, "X");
    require_points(X, "X");
    if (scan) {
        const T* p = X.data();
        const index_t m = static_cast<index_t>(X.size());
        released guard;  // the scan touches no Python objects
        require_finite(p, m, "X", threads);
    }
    return X;
}

// sample_weight (n,), finite, >= 0, with a positive sum; or None.
inline std::optional<carray<double>> weights_arg(const opt_array& w_in, index_t n) {
    auto w = as_real<double>(w_in, "sample_weight");
    if (!w) return w;
    require_shape(*w, {n}, "sample_weight");
    double total = 0.0;
    for (index_t i = 0; i < n; ++i) {
        const double v = w->data()[i];
        if (!std::isfinite(v) || v < 0.0) {
            value_error("sample_weight must be finite and non-negative, got sample_weight[" + std::to_string(i) +
                        "] = " + std::to_string(v));
        }
        total += v;
    }
    if (!(total > 0.0)) value_error("sample_weight must not be all zero (its sum must be positive)");
    return w;
}

// Centres (k, d) of dtype T, finite, 1 <= k <= n (when n > 0).
template <class T>
carray<T> centers_arg(const py::array& C_in, index_t d, index_t n, const char* name) {
    auto C = as_real<T>(C_in, name);
    require_shape(C, {-1, d}, name);
    const index_t k = C.shape(0);
    if (n > 0) require_k(k, n, "the number of centers");
    else require_at_least(k, 1, "the number of centers");
    for (py::ssize_t e = 0; e < C.size(); ++e) {
        if (!std::isfinite(static_cast<double>(C.data()[e]))) value_error(std::string(name) + " contains NaN or infinity");
    }
    return C;
}

template <class T>
py::tuple kmeans_lloyd_py(const py::array& X_in, const opt_array& w_in, const py::array& C_in, index_t max_iter,
                          double tol, std::int64_t n_threads) {
    const int threads = threads_arg(n_threads);
    const auto X = points_arg<T>(X_in, threads, false);
    const index_t n = X.shape(0), d = X.shape(1);
    const auto w = weights_arg(w_in, n);
    const auto C0 = centers_arg<T>(C_in, d, n, "init");
    const index_t k = C0.shape(0);
    require_at_least(max_iter, 1, "max_iter");
    require_nonnegative(tol, "tol");
    auto centers = empty<T>({k, d});
    auto labels = empty<std::int64_t>({n});
    std::copy(C0.data(), C0.data() + k * d, centers.mutable_data());
    T* c = centers.mutable_data();
    std::int64_t* l = labels.mutable_data();
    const double* wp = w ? w->data() : nullptr;
    KMeansStats stats;
    run_released([&] { stats = kmeans_lloyd(X.data(), n, d, wp, k, c, l, max_iter, tol, threads); });
    return py::make_tuple(centers, labels, stats.inertia, stats.n_iter, stats.converged);
}

template <class T>
py::tuple kmeans_plusplus_py(const py::array& X_in, const opt_array& w_in, index_t k, index_t n_local_trials,
                             u64 seed, std::int64_t n_threads) {
    const int threads = threads_arg(n_threads);
    const auto X = points_arg<T>(X_in, threads, false);
    const index_t n = X.shape(0), d = X.shape(1);
    const auto w = weights_arg(w_in, n);
    require_k(k, n);
    require_between(n_local_trials, 1, 1 << 16, "n_local_trials");
    checked_size({n_local_trials, n}, "the candidates' distance buffer");
    auto indices = empty<std::int64_t>({k});
    std::int64_t* idx = indices.mutable_data();
    const double* wp = w ? w->data() : nullptr;
    double potential = 0.0;
    run_released([&] { potential = kmeans_plusplus(X.data(), n, d, wp, k, n_local_trials, seed, idx, threads); });
    return py::make_tuple(indices, potential);
}

template <class T>
py::tuple kmeans_assign_py(const py::array& X_in, const py::array& C_in, const opt_array& w_in,
                           std::int64_t n_threads) {
    const int threads = threads_arg(n_threads);
    const auto X = points_arg<T>(X_in, threads);
    const index_t n = X.shape(0), d = X.shape(1);
    const auto C = centers_arg<T>(C_in, d, 0, "centers");
    const index_t k = C.shape(0);
    const auto w = weights_arg(w_in, n);
    auto labels = empty<std::int64_t>({n});
    auto distances = empty<double>({n});
    std::int64_t* l = labels.mutable_data();
    double* dist = distances.mutable_data();
    const double* wp = w ? w->data() : nullptr;
    double inertia = 0.0;
    run_released([&] { inertia = kmeans_assign(X.data(), n, d, wp, C.data(), k, l, dist, threads); });
    return py::make_tuple(labels, distances, inertia);
}

// np.var(X, axis=0) of finite points X: one pass for the sums, which also serve as the
// finiteness check (a finite sum means finite values); only when a sum is not finite
// does the exact scan run, to tell NaN or infinity (an error) from an overflow.
template <class T>
py::array_t<double> column_variances_py(const py::array& X_in, std::int64_t n_threads) {
    const int threads = threads_arg(n_threads);
    auto X = as_real<T>(X_in, "X");
    require_points(X, "X");
    const index_t n = X.shape(0), d = X.shape(1);
    auto var = empty<double>({d});
    double* v = var.mutable_data();
    bool finite = true;
    run_released([&] { finite = column_variances(X.data(), n, d, v); });
    if (!finite) {
        {
            released guard;
            require_finite(X.data(), static_cast<index_t>(X.size()), "X", threads);
        }
        std::fill(v, v + d, std::numeric_limits<double>::infinity());  // finite values whose sums overflow
    }
    return var;
}

template <class T>
void def_typed(py::module_& m, const std::string& suffix) {
    m.def(("column_variances_" + suffix).c_str(), &column_variances_py<T>, py::arg("X"), py::arg("n_threads"),
          "np.var(X, axis=0) of finite points X (the same sums in the same order); ValueError on NaN or infinity.");
    m.def(("kmeans_lloyd_" + suffix).c_str(), &kmeans_lloyd_py<T>, py::arg("X"), py::arg("sample_weight"),
          py::arg("init"), py::arg("max_iter"), py::arg("tol"), py::arg("n_threads"),
          "(centers, labels, inertia, n_iter, converged) of Lloyd's k-means from the given centers.");
    m.def(("kmeans_plusplus_" + suffix).c_str(), &kmeans_plusplus_py<T>, py::arg("X"), py::arg("sample_weight"),
          py::arg("k"), py::arg("n_local_trials"), py::arg("seed"), py::arg("n_threads"),
          "(indices, potential) of greedy k-means++ seeding.");
    m.def(("kmeans_assign_" + suffix).c_str(), &kmeans_assign_py<T>, py::arg("X"), py::arg("centers"),
          py::arg("sample_weight"), py::arg("n_threads"),
          "(labels, squared distances, inertia) of the nearest-center assignment.");
}

}  // namespace

void register_kmeans(py::module_& m) {
    def_typed<double>(m, "f64");
    def_typed<float>(m, "f32");
}

}  // namespace diffclust::bind
