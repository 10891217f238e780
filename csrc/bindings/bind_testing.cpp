// The private submodule _core._testing: entry points only the tests and the
// benchmarks use (the counter-based RNG of rng.hpp, seen from Python).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <vector>

#include "convert.hpp"
#include "diffclust/cluster/kmeans_avx2.hpp"
#include "diffclust/core/rng.hpp"

namespace diffclust::bind {

namespace {

// Rows of the noise are numbered by a 32-bit counter (core/rng.hpp).
constexpr index_t max_points = index_t(1) << 32;

py::array_t<double> edge_noise(u64 seed, u32 sample, index_t n) {
    require_between(n, 1, max_points - 1, "n");
    checked_size({n, n, 8}, "the (n, n) noise");
    auto Z = empty<double>({n, n});
    double* z = Z.mutable_data();
    run_released([&] {
        for (index_t i = 0; i < n; ++i) {
            z[i * n + i] = 0.0;
            if (i + 1 < n) {
                row_edge_normals(seed, sample, static_cast<u32>(i), static_cast<u32>(i + 1), n - i - 1, 1.0,
                                 z + i * n + i + 1);
            }
            for (index_t j = i + 1; j < n; ++j) z[j * n + i] = z[i * n + j];
            cancellation_point();
        }
    });
    return Z;
}

// Draws the B n (n - 1) / 2 normals of B samples' edges and sums them: the
// floor that a perturbed forest cannot beat (benchmarks only).
double normals_floor(u64 seed, index_t n_samples, index_t n) {
    require_samples(n_samples);
    require_between(n, 1, max_points - 1, "n");
    std::vector<double> row(static_cast<std::size_t>(n > 1 ? n - 1 : 1));
    double total = 0.0;
    run_released([&] {
        for (index_t s = 0; s < n_samples; ++s) {
            for (index_t i = 0; i + 1 < n; ++i) {
                row_edge_normals(seed, static_cast<u32>(s), static_cast<u32>(i), static_cast<u32>(i + 1), n - i - 1,
                                 1.0, row.data());
                total += row[0];
            }
            cancellation_point();
        }
    });
    return total;
}

py::tuple philox4x32(const py::array& counter_in, const py::array& key_in) {
    const auto counter = as_index<u32>(counter_in, "counter");
    const auto key = as_index<u32>(key_in, "key");
    require_shape(counter, {4}, "counter");
    require_shape(key, {2}, "key");
    const u32* c = counter.data();
    const auto out = Philox4x32::block({c[0], c[1], c[2], c[3]}, key.data()[0], key.data()[1]);
    return py::make_tuple(out[0], out[1], out[2], out[3]);
}

}  // namespace

void register_testing(py::module_& m) {
    py::module_ t = m.def_submodule("_testing", "Entry points for the tests and benchmarks only (private).");
    t.def("edge_noise", &edge_noise, py::arg("seed"), py::arg("sample"), py::arg("n"),
          "The symmetric (n, n) standard normal noise of one sample (zero diagonal).");
    t.def("normals_floor", &normals_floor, py::arg("seed"), py::arg("n_samples"), py::arg("n"),
          "Draw the normals of n_samples samples of an n-point graph (benchmark floor).");
    t.def(
        "kmeans_portable_kernels", [](bool on) { kmeans_detail::wide_kernel_disabled().store(on); }, py::arg("on"),
        "Tests only: run the k-means passes on the portable kernels instead of the AVX-512 or AVX2 ones.");
    t.def(
        "kmeans_avx2_kernels", [](bool on) { kmeans_detail::avx512_kernel_disabled().store(on); }, py::arg("on"),
        "Tests only: run the k-means passes on the AVX2 kernels on a CPU that has AVX-512 too.");
    t.def("philox4x32", &philox4x32, py::arg("counter"), py::arg("key"), "One Philox4x32-10 block (for tests).");
}

}  // namespace diffclust::bind
