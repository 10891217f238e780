// Bindings for perturbed HDBSCAN (density/perturbed_trees.hpp): each sample's
// perturbed spanning tree with its weights, and the score-function noise sum.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>

#include "convert.hpp"
#include "diffclust/density/perturbed_trees.hpp"

namespace diffclust::bind {

namespace {

// Rows of the noise are numbered by a 32-bit counter (core/rng.hpp).
constexpr index_t max_points = index_t(1) << 32;

// (edges (B, n - 1, 2) int64, weights (B, n - 1) float64): sample s's maximum
// spanning tree of W + sigma Z_s, the tree perturbed_kforest(S, 1, ...) solves.
template <class T>
py::tuple perturbed_spanning_trees_py(const py::array& S_in, double sigma, index_t n_samples, u64 seed,
                                      std::int64_t n_threads) {
    const auto S = as_real<T>(S_in, "S");
    const index_t n = require_square(S, "S");
    require_positive(sigma, "sigma");
    require_samples(n_samples);
    const int threads = threads_arg(n_threads);
    checked_size({n_samples, n, 3, 8}, "the samples' trees");
    auto edges = empty<index_t>({n_samples, n - 1, 2});
    auto weights = empty<double>({n_samples, n - 1});
    const T* data = S.data();
    index_t* e = edges.mutable_data();
    double* w = weights.mutable_data();
    run_released([&] {  // no Python objects are touched
        perturbed_spanning_trees(data, n, PerturbSpec{sigma, n_samples, seed}, threads, e, w);
    });
    return py::make_tuple(edges, weights);
}

// g (n, n) float64: g_ij = scale * sum_s coef[s] Z_s,ij (i != j), zero diagonal.
py::array weighted_noise_matrix_py(index_t n, u64 seed, const py::array& coef_in, double scale,
                                   std::int64_t n_threads) {
    require_between(n, 1, max_points - 1, "n");
    const auto coef = as_real<double>(coef_in, "coef");
    require_ndim(coef, 1, "coef");
    const index_t B = coef.shape(0);
    require_samples(B, "coef's length (n_samples)");
    if (!std::isfinite(scale)) value_error("scale must be finite");
    require_finite(coef.data(), B, "coef", 1);
    const int threads = threads_arg(n_threads);
    checked_size({n, n, 8}, "the (n, n) gradient");
    auto grad = empty<double>({n, n});
    double* g = grad.mutable_data();
    const double* c = coef.data();
    run_released([&] { weighted_noise_matrix(n, seed, c, B, scale, threads, g); });  // no Python objects are touched
    return grad;
}

}  // namespace

void register_density_perturb(py::module_& m) {
    m.def("perturbed_spanning_trees_f64", &perturbed_spanning_trees_py<double>, py::arg("S"), py::arg("sigma"),
          py::arg("n_samples"), py::arg("seed"), py::arg("n_threads"),
          "Each sample's maximum spanning tree of S + sigma Z_s (float64 S) with its perturbed weights.");
    m.def("perturbed_spanning_trees_f32", &perturbed_spanning_trees_py<float>, py::arg("S"), py::arg("sigma"),
          py::arg("n_samples"), py::arg("seed"), py::arg("n_threads"),
          "Each sample's maximum spanning tree of S + sigma Z_s (float32 S) with its perturbed weights.");
    m.def("weighted_noise_matrix", &weighted_noise_matrix_py, py::arg("n"), py::arg("seed"), py::arg("coef"),
          py::arg("scale"), py::arg("n_threads"), "scale * sum_s coef[s] Z_s: the score-function sum of the noise.");
}

}  // namespace diffclust::bind
