// Bindings for density-based clustering: core distances and the
// mutual-reachability spanning tree (density/core_distances.hpp, mr_prim.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "convert.hpp"
#include "diffclust/density/boruvka.hpp"
#include "diffclust/density/mr_blocks.hpp"
#include "diffclust/density/core_distances.hpp"
#include "diffclust/density/mr_prim.hpp"

namespace diffclust::bind {

namespace {

template <class T>
void require_finite_points(const carray<T>& X) {
    const T* p = X.data();
    for (py::ssize_t t = 0; t < X.size(); ++t) {
        if (!std::isfinite(static_cast<double>(p[t]))) value_error("X contains NaN or infinity");
    }
}

enum class TreeMethod : int { automatic = 0, boruvka = 1, prim = 2, blocks = 3 };

CoreMethod method_arg(std::int64_t method) {
    if (method < 0 || method > 2) value_error("method must be 0 (automatic), 1 (kd-tree) or 2 (brute force), got " + std::to_string(method));
    return static_cast<CoreMethod>(method);
}

template <class T>
py::array core_distances_py(const py::array& X_in, index_t min_samples, const std::string& metric, std::int64_t method,
                            std::int64_t n_threads) {
    const auto X = as_real<T>(X_in, "X");
    const index_t n = require_points(X, "X"), d = X.shape(1);
    require_between(min_samples, 1, n, "min_samples");
    const Metric parsed = parse_metric(metric);
    const CoreMethod how = method_arg(method);
    const int threads = threads_arg(n_threads);
    require_finite_points(X);
    auto core = empty<double>({n});
    run_released([&] { core_distances(X.data(), n, d, parsed, min_samples, threads, core.mutable_data(), how); });
    return core;
}

// Weighted core distances (n,) by the kd-tree: the smallest distance at which the
// points around x_i (x_i included) weigh min_samples (box metrics).
template <class T>
py::array weighted_core_distances_py(const py::array& X_in, const py::array& w_in, index_t min_samples,
                                     const std::string& metric, std::int64_t n_threads) {
    const auto X = as_real<T>(X_in, "X");
    const index_t n = require_points(X, "X"), d = X.shape(1);
    const auto w = as_real<double>(w_in, "weights");
    require_shape(w, {static_cast<py::ssize_t>(n)}, "weights");
    if (min_samples < 1) value_error("min_samples must be >= 1, got " + std::to_string(min_samples));
    const Metric parsed = parse_metric(metric);
    if (parsed == Metric::cosine) value_error("weighted core distances by kd-tree need a box metric, got cosine");
    const int threads = threads_arg(n_threads);
    require_finite_points(X);
    const double* wp = w.data();
    double total = 0.0;
    for (index_t i = 0; i < n; ++i) {
        if (!(wp[i] >= 0.0) || !std::isfinite(wp[i])) value_error("weights must be finite and non-negative");
        total += wp[i];
    }
    if (!(total >= static_cast<double>(min_samples) * (1.0 - 1e-12))) {
        value_error("weights must sum to at least min_samples = " + std::to_string(min_samples));
    }
    checked_size({n, d + 8}, "the working arrays of n points");
    auto core = empty<double>({n});
    run_released([&] {
        weighted_core_distances(X.data(), n, d, parsed, static_cast<double>(min_samples), wp, threads,
                                core.mutable_data());
    });
    return core;
}

// (core (n,), order (n,), parent (n - 1,), distance (n - 1,)): Prim's visit
// order from vertex 0; step e joins order[e + 1] through parent[e] at
// distance[e] = d_mr (symmetric: max(core_p, core_u, d); asymmetric, OPTICS's
// reachability: max(core_p, d)).
template <class T>
py::tuple mutual_reachability_tree_py(const py::array& X_in, index_t min_samples, const std::string& metric,
                                      bool asymmetric, std::int64_t method, std::int64_t n_threads) {
    const auto X = as_real<T>(X_in, "X");
    const index_t n = require_points(X, "X"), d = X.shape(1);
    require_between(min_samples, 1, n, "min_samples");
    const Metric parsed = parse_metric(metric);
    const CoreMethod how = method_arg(method);
    const int threads = threads_arg(n_threads);
    require_finite_points(X);
    checked_size({n, d + 8}, "the working arrays of n points");
    auto core = empty<double>({n});
    auto order = empty<index_t>({n});
    auto parent = empty<index_t>({n - 1});
    auto dist = empty<double>({n - 1});
    run_released([&] {
        double* c = core.mutable_data();
        core_distances(X.data(), n, d, parsed, min_samples, threads, c, how);
        index_t* o = order.mutable_data();
        o[0] = 0;
        mutual_reachability_tree(X.data(), n, d, parsed, c, threads, o + 1, parent.mutable_data(), dist.mutable_data(),
                                 asymmetric);
    });
    return py::make_tuple(core, order, parent, dist);
}

TreeMethod tree_method_arg(std::int64_t method, Metric metric) {
    if (method < 0 || method > 3) {
        value_error("tree method must be 0 (automatic), 1 (Boruvka), 2 (Prim) or 3 (row blocks), got " + std::to_string(method));
    }
    if (method == 1 && !boruvka_supports(metric)) value_error("the Boruvka tree supports the euclidean, sqeuclidean and manhattan metrics");
    return static_cast<TreeMethod>(method);
}

// (core (n,), i (n - 1,), j (n - 1,), distance (n - 1,)): the edges of the
// mutual-reachability spanning tree, i < j, lightest first (ties by the pair),
// by kd-tree Borůvka or Prim (the same tree, bit for bit).
template <class T>
py::tuple mutual_reachability_edges_py(const py::array& X_in, index_t min_samples, const std::string& metric,
                                       std::int64_t method, std::int64_t n_threads, index_t block) {
    const auto X = as_real<T>(X_in, "X");
    const index_t n = require_points(X, "X"), d = X.shape(1);
    require_between(min_samples, 1, n, "min_samples");
    const Metric parsed = parse_metric(metric);
    TreeMethod how = tree_method_arg(method, parsed);
    const int threads = threads_arg(n_threads);
    if (block < 0) value_error("block must be >= 0 (0: sized for the cache), got " + std::to_string(block));
    require_finite_points(X);
    checked_size({n, d + 8}, "the working arrays of n points");
    if (how == TreeMethod::automatic) {
        how = prefer_boruvka(n, d, parsed, min_samples) ? TreeMethod::boruvka
              : prefer_point_blocks(n, d)              ? TreeMethod::blocks
                                                       : TreeMethod::prim;
    }
    auto core = empty<double>({n});
    auto ei = empty<index_t>({n - 1});
    auto ej = empty<index_t>({n - 1});
    auto dist = empty<double>({n - 1});
    run_released([&] {
        double* c = core.mutable_data();
        std::vector<density::MrEdge> edges;
        if (how == TreeMethod::boruvka) {
            edges = mutual_reachability_boruvka(X.data(), n, d, parsed, min_samples, threads, c);
        } else if (how == TreeMethod::blocks) {
            core_distances(X.data(), n, d, parsed, min_samples, threads, c);
            edges = mutual_reachability_blocked(X.data(), n, d, parsed, c, threads, block > 0 ? block : cache_block_points(d));
        } else {
            core_distances(X.data(), n, d, parsed, min_samples, threads, c);
            edges = mutual_reachability_prim_edges(X.data(), n, d, parsed, c, threads);
        }
        for (std::size_t e = 0; e < edges.size(); ++e) {
            ei.mutable_data()[e] = edges[e].i;
            ej.mutable_data()[e] = edges[e].j;
            dist.mutable_data()[e] = edges[e].d;
        }
    });
    return py::make_tuple(core, ei, ej, dist);
}

}  // namespace

void register_density(py::module_& m) {
    m.def("core_distances_f64", &core_distances_py<double>, py::arg("X"), py::arg("min_samples"), py::arg("metric"),
          py::arg("method"), py::arg("n_threads"), "Exact core distances of float64 points (min_samples counts the point).");
    m.def("core_distances_f32", &core_distances_py<float>, py::arg("X"), py::arg("min_samples"), py::arg("metric"),
          py::arg("method"), py::arg("n_threads"), "Exact core distances of float32 points (min_samples counts the point).");
    m.def("weighted_core_distances_f64", &weighted_core_distances_py<double>, py::arg("X"), py::arg("weights"),
          py::arg("min_samples"), py::arg("metric"), py::arg("n_threads"),
          "Weighted core distances of float64 points by kd-tree (the point itself included).");
    m.def("weighted_core_distances_f32", &weighted_core_distances_py<float>, py::arg("X"), py::arg("weights"),
          py::arg("min_samples"), py::arg("metric"), py::arg("n_threads"),
          "Weighted core distances of float32 points by kd-tree (the point itself included).");
    m.def("mutual_reachability_tree_f64", &mutual_reachability_tree_py<double>, py::arg("X"), py::arg("min_samples"),
          py::arg("metric"), py::arg("asymmetric"), py::arg("method"), py::arg("n_threads"),
          "Core distances and Prim's mutual-reachability spanning tree of float64 points.");
    m.def("mutual_reachability_tree_f32", &mutual_reachability_tree_py<float>, py::arg("X"), py::arg("min_samples"),
          py::arg("metric"), py::arg("asymmetric"), py::arg("method"), py::arg("n_threads"),
          "Core distances and Prim's mutual-reachability spanning tree of float32 points.");
    m.def("mutual_reachability_edges_f64", &mutual_reachability_edges_py<double>, py::arg("X"), py::arg("min_samples"),
          py::arg("metric"), py::arg("method"), py::arg("n_threads"), py::arg("block") = 0,
          "Core distances and the mutual-reachability spanning tree's edges (lightest first) of float64 points.");
    m.def("mutual_reachability_edges_f32", &mutual_reachability_edges_py<float>, py::arg("X"), py::arg("min_samples"),
          py::arg("metric"), py::arg("method"), py::arg("n_threads"), py::arg("block") = 0,
          "Core distances and the mutual-reachability spanning tree's edges (lightest first) of float32 points.");
}

}  // namespace diffclust::bind
