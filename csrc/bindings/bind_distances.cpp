// Bindings for pairwise distances (distances.hpp) and the silhouette (silhouette.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "convert.hpp"
#include "diffclust/metrics/distances.hpp"
#include "diffclust/metrics/silhouette.hpp"

namespace diffclust::bind {

namespace {

template <class T>
py::array_t<T> pairwise_distances_py(const carray<T>& X, const std::optional<carray<T>>& Y, const std::string& metric,
                                     int n_threads) {
    require_ndim(X, 2, "X");
    const Metric parsed = parse_metric(metric);
    const index_t nx = X.shape(0), d = X.shape(1);
    const T* y = nullptr;
    index_t ny = nx;
    if (Y) {
        require_ndim(*Y, 2, "Y");
        if (Y->shape(1) != d) throw py::value_error("X and Y must have the same number of features");
        y = Y->data();
        ny = Y->shape(0);
    }
    auto out = empty<T>({nx, ny});
    T* o = out.mutable_data();
    {
        released guard;  // the kernel touches no Python objects
        pairwise_distances(X.data(), nx, y, ny, d, parsed, n_threads, o);
    }
    return out;
}

template <class T>
py::array_t<double> silhouette_samples_py(const carray<T>& X, const index_array& labels, index_t k,
                                          const std::string& metric, int n_threads) {
    require_ndim(X, 2, "X");
    require_ndim(labels, 1, "labels");
    const index_t n = X.shape(0), d = X.shape(1);
    if (labels.shape(0) != n) throw py::value_error("labels must have one entry per row of X");
    auto out = empty<double>({n});
    double* o = out.mutable_data();
    if (metric == "precomputed") {
        if (X.shape(1) != n) throw py::value_error("a precomputed X must be square");
        released guard;  // the kernel touches no Python objects
        silhouette_samples_precomputed(X.data(), n, labels.data(), k, n_threads, o);
    } else {
        const Metric parsed = parse_metric(metric);
        released guard;  // the kernel touches no Python objects
        silhouette_samples(X.data(), n, d, labels.data(), k, parsed, n_threads, o);
    }
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
