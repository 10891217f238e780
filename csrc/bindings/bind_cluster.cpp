// Bindings for k-medoids (kmedoids.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "convert.hpp"
#include "diffclust/cluster/kmedoids.hpp"

namespace diffclust::bind {

namespace {

template <class T>
void check_dissimilarity_py(const py::array& D_in, bool symmetric, double sym_rtol, const std::string& name,
                            std::int64_t n_threads) {
    const auto D = as_real<T>(D_in, name.c_str());
    const index_t n = require_square(D, name.c_str());
    require_nonnegative(sym_rtol, "sym_rtol");
    const int threads = threads_arg(n_threads);
    run_released([&] { check_dissimilarity(D.data(), n, symmetric, sym_rtol, name, threads); });
}

template <class T>
py::array_t<index_t> pam_build_py(const py::array& D_in, index_t k, std::int64_t n_threads) {
    const auto D = as_real<T>(D_in, "D");
    const index_t n = require_square(D, "D");
    require_k(k, n);
    const int threads = threads_arg(n_threads);
    auto medoids = empty<index_t>({k});
    index_t* m = medoids.mutable_data();
    run_released([&] {
        pam_build(D.data(), n, k, threads, m);
    });
    return medoids;
}

template <class T>
py::tuple fasterpam_py(const py::array& D_in, const py::array& init_in, index_t max_iter, std::int64_t n_threads) {
    const auto D = as_real<T>(D_in, "D");
    const index_t n = require_square(D, "D");
    const auto init = as_index(init_in, "medoids");
    require_ndim(init, 1, "medoids");
    const index_t k = init.shape(0);
    require_k(k, n, "the number of medoids");
    require_index_range(init, 0, n, "medoids", "[0, n)");
    std::vector<char> seen(static_cast<std::size_t>(n), 0);
    for (index_t i = 0; i < k; ++i) {
        char& s = seen[static_cast<std::size_t>(init.data()[i])];
        if (s) value_error("medoids must be distinct, but " + std::to_string(init.data()[i]) + " repeats");
        s = 1;
    }
    require_at_least(max_iter, 0, "max_iter");
    const int threads = threads_arg(n_threads);
    auto medoids = empty<index_t>({k});
    auto labels = empty<index_t>({n});
    std::copy(init.data(), init.data() + k, medoids.mutable_data());
    KMedoidsOut out{medoids.mutable_data(), labels.mutable_data(), 0.0, 0, 0};
    run_released([&] {
        fasterpam(D.data(), n, k, max_iter, threads, out);
    });
    return py::make_tuple(medoids, labels, out.loss, out.n_iter, out.n_swaps);
}

}  // namespace

void register_cluster(py::module_& m) {
    m.def("check_dissimilarity_f64", &check_dissimilarity_py<double>, py::arg("D"), py::arg("symmetric"),
          py::arg("sym_rtol"), py::arg("name"), py::arg("n_threads"),
          "Raise ValueError unless D is finite, non-negative (and symmetric).");
    m.def("check_dissimilarity_f32", &check_dissimilarity_py<float>, py::arg("D"), py::arg("symmetric"),
          py::arg("sym_rtol"), py::arg("name"), py::arg("n_threads"),
          "Raise ValueError unless D is finite, non-negative (and symmetric).");
    m.def("pam_build_f64", &pam_build_py<double>, py::arg("D"), py::arg("k"), py::arg("n_threads"),
          "PAM BUILD medoids of a float64 dissimilarity matrix.");
    m.def("pam_build_f32", &pam_build_py<float>, py::arg("D"), py::arg("k"), py::arg("n_threads"),
          "PAM BUILD medoids of a float32 dissimilarity matrix.");
    m.def("fasterpam_f64", &fasterpam_py<double>, py::arg("D"), py::arg("medoids"), py::arg("max_iter"),
          py::arg("n_threads"), "FasterPAM swaps on a float64 dissimilarity matrix from the given medoids.");
    m.def("fasterpam_f32", &fasterpam_py<float>, py::arg("D"), py::arg("medoids"), py::arg("max_iter"),
          py::arg("n_threads"), "FasterPAM swaps on a float32 dissimilarity matrix from the given medoids.");
}

}  // namespace diffclust::bind
