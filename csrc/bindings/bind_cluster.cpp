// Bindings for k-medoids (kmedoids.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "convert.hpp"
#include "diffclust/cluster/kmedoids.hpp"

namespace diffclust::bind {

namespace {

template <class T>
void check_dissimilarity_py(const carray<T>& D, bool symmetric, double sym_rtol, const std::string& name,
                            int n_threads) {
    require_ndim(D, 2, name.c_str());
    const index_t n = D.shape(0);
    if (D.shape(1) != n) throw py::value_error(name + " must be square");
    released guard;  // the kernel touches no Python objects
    check_dissimilarity(D.data(), n, symmetric, sym_rtol, name, n_threads);
}

template <class T>
py::array_t<index_t> pam_build_py(const carray<T>& D, index_t k, int n_threads) {
    require_ndim(D, 2, "X");
    const index_t n = D.shape(0);
    auto medoids = empty<index_t>({k});
    index_t* m = medoids.mutable_data();
    {
        released guard;  // the kernel touches no Python objects
        pam_build(D.data(), n, k, n_threads, m);
    }
    return medoids;
}

template <class T>
py::tuple fasterpam_py(const carray<T>& D, const index_array& init, index_t max_iter, int n_threads) {
    require_ndim(D, 2, "X");
    require_ndim(init, 1, "init");
    const index_t n = D.shape(0), k = init.shape(0);
    auto medoids = empty<index_t>({k});
    auto labels = empty<index_t>({n});
    std::copy(init.data(), init.data() + k, medoids.mutable_data());
    KMedoidsOut out{medoids.mutable_data(), labels.mutable_data(), 0.0, 0, 0};
    {
        released guard;  // the kernel touches no Python objects
        fasterpam(D.data(), n, k, max_iter, n_threads, out);
    }
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
