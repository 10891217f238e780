// Bindings for the exact k-forests (spanning_forest.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>

#include "convert.hpp"
#include "diffclust/density/boruvka.hpp"
#include "diffclust/forest/blocks.hpp"
#include "diffclust/forest/spanning_forest.hpp"

namespace diffclust::bind {

namespace {

template <class T>
py::tuple kforest_dense_py(const py::array& S_in, index_t k, std::int64_t n_threads) {
    const auto S = as_real<T>(S_in, "S");
    const index_t n = require_square(S, "S", true);
    require_k(k, n);
    const int threads = threads_arg(n_threads);
    if (S.ndim() == 2) {
        auto labels = empty<index_t>({n});
        auto edges = empty<index_t>({n - k, 2});
        auto weights = empty<T>({n - k});
        double value = 0.0;
        ForestOut<T> out{labels.mutable_data(), edges.mutable_data(), weights.mutable_data(), &value};
        run_released([&] { kforest_dense(S.data(), n, k, threads, out); });
        return py::make_tuple(labels, edges, weights, value);
    }
    const index_t b = S.shape(0);
    auto labels = empty<index_t>({b, n});
    auto edges = empty<index_t>({b, n - k, 2});
    auto weights = empty<T>({b, n - k});
    auto values = empty<double>({b});
    run_released([&] {
        kforest_dense_batch(S.data(), b, n, k, threads, labels.mutable_data(), edges.mutable_data(),
                            weights.mutable_data(), values.mutable_data());
    });
    return py::make_tuple(labels, edges, weights, values);
}

template <class T>
py::tuple kforest_from_edges_py(const py::array& edges_in, const py::array& weights_in, index_t n, index_t k) {
    const auto edges = as_index(edges_in, "edges");
    const auto weights = as_real<T>(weights_in, "weights");
    require_shape(edges, {-1, 2}, "edges");
    const index_t m = edges.shape(0);
    require_shape(weights, {m}, "weights");
    require_at_least(n, 1, "n");
    require_k(k, n);
    require_index_range(edges, 0, n, "edges", "[0, n)");
    checked_size({n, 3}, "the labels and edges of n points");
    auto labels = empty<index_t>({n});
    auto out_edges = empty<index_t>({n - k, 2});
    auto out_weights = empty<T>({n - k});
    double value = 0.0;
    ForestOut<T> out{labels.mutable_data(), out_edges.mutable_data(), out_weights.mutable_data(), &value};
    run_released([&] { kforest_from_edge_list(edges.data(), weights.data(), m, n, k, out); });
    return py::make_tuple(labels, out_edges, out_weights, value);
}

template <class T>
py::tuple kforest_from_points_py(const py::array& X_in, index_t k, const std::string& metric,
                                 std::int64_t n_threads, std::int64_t method, index_t block) {
    const auto X = as_real<T>(X_in, "X");
    const index_t n = require_points(X, "X"), d = X.shape(1);
    require_k(k, n);
    const Metric parsed = parse_metric(metric);
    const int threads = threads_arg(n_threads);
    auto labels = empty<index_t>({n});
    auto edges = empty<index_t>({n - k, 2});
    auto weights = empty<double>({n - k});
    double value = 0.0;
    ForestOut<double> out{labels.mutable_data(), edges.mutable_data(), weights.mutable_data(), &value};
    if (method < 0 || method > 3) {
        value_error("method must be 0 (automatic), 1 (Boruvka), 2 (Prim) or 3 (row blocks), got " + std::to_string(method));
    }
    if (method == 1 && !boruvka_supports(parsed)) value_error("the Boruvka tree supports the euclidean, sqeuclidean and manhattan metrics");
    const bool boruvka = method == 1 || (method == 0 && prefer_boruvka(n, d, parsed, 1));
    if (block < 0) value_error("block must be >= 0 (0: sized for the cache), got " + std::to_string(block));
    const bool blocks = method == 3 || (method == 0 && !boruvka && prefer_point_blocks(n, d));
    run_released([&] {
        if (boruvka) {
            kforest_points_boruvka(X.data(), n, d, k, parsed, out, threads);
        } else if (blocks) {
            kforest_points_blocked(X.data(), n, d, k, parsed, out, threads, block > 0 ? block : cache_block_points(d));
        } else {
            kforest_points(X.data(), n, d, k, parsed, out, threads);
        }
    });
    return py::make_tuple(labels, edges, weights, value);
}

}  // namespace

void register_graph(py::module_& m) {
    m.def("kforest_f64", &kforest_dense_py<double>, py::arg("S"), py::arg("k"), py::arg("n_threads"),
          "Exact max-weight k-forest of a dense (n, n) or (b, n, n) float64 similarity.");
    m.def("kforest_f32", &kforest_dense_py<float>, py::arg("S"), py::arg("k"), py::arg("n_threads"),
          "Exact max-weight k-forest of a dense (n, n) or (b, n, n) float32 similarity.");
    m.def("cache_block_points", [](index_t d) {
              if (d < 1) value_error("d must be at least 1, got " + std::to_string(d));
              return cache_block_points(d);
          }, py::arg("d"), "Points per row block of kforest_from_points' method 3 (block = 0) for d coordinates.");
    m.def("kforest_from_edges_f64", &kforest_from_edges_py<double>, py::arg("edges"), py::arg("weights"),
          py::arg("n"), py::arg("k"), "Kruskal k-forest of an edge list with float64 weights.");
    m.def("kforest_from_edges_f32", &kforest_from_edges_py<float>, py::arg("edges"), py::arg("weights"),
          py::arg("n"), py::arg("k"), "Kruskal k-forest of an edge list with float32 weights.");
    m.def("kforest_from_points_f64", &kforest_from_points_py<double>, py::arg("X"), py::arg("k"),
          py::arg("metric"), py::arg("n_threads"), py::arg("method") = 0, py::arg("block") = 0,
          "Exact k-forest of float64 points, S = -d(x_i, x_j) (method: 0 automatic, 1 Boruvka, 2 Prim, "
          "3 row blocks of `block` points, 0: sized for the cache).");
    m.def("kforest_from_points_f32", &kforest_from_points_py<float>, py::arg("X"), py::arg("k"),
          py::arg("metric"), py::arg("n_threads"), py::arg("method") = 0, py::arg("block") = 0,
          "Exact k-forest of float32 points, S = -d(x_i, x_j) (method: 0 automatic, 1 Boruvka, 2 Prim, "
          "3 row blocks of `block` points, 0: sized for the cache).");
}

}  // namespace diffclust::bind
