// Bindings for pairwise distances (distances.hpp) and the silhouette (silhouette.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <string>

#include "convert.hpp"
#include "diffclust/metrics/distances.hpp"
#include "diffclust/metrics/silhouette.hpp"

namespace diffclust::bind {

namespace {

template <class T>
py::array_t<T> pairwise_distances_py(const py::array& X_in, const opt_array& Y_in, const std::string& metric,
                                     std::int64_t n_threads) {
    const auto X = as_real<T>(X_in, "X");
    const auto Y = as_real<T>(Y_in, "Y");
    const index_t nx = require_points(X, "X"), d = X.shape(1);
    const Metric parsed = parse_metric(metric);
    const int threads = threads_arg(n_threads);
    const T* y = nullptr;
    index_t ny = nx;
    if (Y) {
        ny = require_points(*Y, "Y");
        if (Y->shape(1) != d) {
            value_error("X and Y must have the same number of features, got " + shape_of(X) + " and " + shape_of(*Y));
        }
        y = Y->data();
    }
    checked_size({nx, ny, 8}, "the (n_X, n_Y) distance matrix");
    auto out = empty<T>({nx, ny});
    T* o = out.mutable_data();
    run_released([&] { pairwise_distances(X.data(), nx, y, ny, d, parsed, threads, o); });
    return out;
}

template <class T>
py::array_t<double> silhouette_samples_py(const py::array& X_in, const py::array& labels_in, index_t k,
                                          const std::string& metric, std::int64_t n_threads) {
    const auto X = as_real<T>(X_in, "X");
    const auto labels = as_index(labels_in, "labels");
    const bool precomputed = metric == "precomputed";
    const index_t n = precomputed ? require_square(X, "X") : require_points(X, "X"), d = X.shape(1);
    const Metric parsed = precomputed ? Metric::euclidean : parse_metric(metric);
    require_shape(labels, {n}, "labels");
    require_k(k, n - 1, "the number of clusters k", 2);
    require_index_range(labels, 0, k, "labels", "[0, k)");
    const int threads = threads_arg(n_threads);
    auto out = empty<double>({n});
    double* o = out.mutable_data();
    run_released([&] {
        if (precomputed) {
            silhouette_samples_precomputed(X.data(), n, labels.data(), k, threads, o);
        } else {
            silhouette_samples(X.data(), n, d, labels.data(), k, parsed, threads, o);
        }
    });
    return out;
}

}  // namespace

void register_distances(py::module_& m) {
    m.def("pairwise_distances_f64", &pairwise_distances_py<double>, py::arg("X"), py::arg("Y"), py::arg("metric"),
          py::arg("n_threads"), "Pairwise distances of float64 rows (Y=None: X against itself).");
    m.def("pairwise_distances_f32", &pairwise_distances_py<float>, py::arg("X"), py::arg("Y"), py::arg("metric"),
          py::arg("n_threads"), "Pairwise distances of float32 rows (Y=None: X against itself).");
    m.def("silhouette_samples_f64", &silhouette_samples_py<double>, py::arg("X"), py::arg("labels"), py::arg("k"),
          py::arg("metric"), py::arg("n_threads"), "Silhouette of each float64 point, labels in [0, k).");
    m.def("silhouette_samples_f32", &silhouette_samples_py<float>, py::arg("X"), py::arg("labels"), py::arg("k"),
          py::arg("metric"), py::arg("n_threads"), "Silhouette of each float32 point, labels in [0, k).");
}

}  // namespace diffclust::bind
