// Bindings for HDBSCAN*'s hierarchy (density/condense.hpp): the single-linkage
// tree of sorted spanning-tree edges and its condensed tree; and the
// mutual-reachability tree over given core distances (HDBSCAN's alpha).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "convert.hpp"
#include "diffclust/density/condense.hpp"
#include "diffclust/density/mr_prim.hpp"

namespace diffclust::bind {

namespace {

// Z (n - 1, 4) of the edges (u, v) sorted by the weights w (non-decreasing, finite, >= 0).
py::array single_linkage_from_edges_py(index_t n, const py::array& u_in, const py::array& v_in, const py::array& w_in) {
    if (n < 1) value_error("n must be at least 1, got " + std::to_string(n));
    const auto u = as_index(u_in, "u");
    const auto v = as_index(v_in, "v");
    const auto w = as_real<double>(w_in, "w");
    const py::ssize_t m = static_cast<py::ssize_t>(n - 1);
    require_shape(u, {m}, "u");
    require_shape(v, {m}, "v");
    require_shape(w, {m}, "w");
    const double* wp = w.data();
    for (py::ssize_t t = 0; t < m; ++t) {
        if (!(wp[t] >= 0.0) || !std::isfinite(wp[t])) value_error("w must be finite and non-negative");
        if (t > 0 && wp[t] < wp[t - 1]) value_error("w must be sorted in non-decreasing order");
    }
    checked_size({n, 8}, "the single-linkage tree");
    auto Z = empty<double>({m, 4});
    run_released([&] { single_linkage_from_sorted(n, u.data(), v.data(), wp, Z.mutable_data()); });
    return Z;
}

// Checks that Z is a linkage matrix of n = len(Z) + 1 points: every row joins two
// distinct nodes created before it, each node is merged once, sizes add up,
// distances are non-negative and non-decreasing.
void require_linkage(const carray<double>& Z, index_t n) {
    const double* z = Z.data();
    std::vector<std::uint8_t> used(static_cast<std::size_t>(2 * n - 1), 0);
    std::vector<index_t> size(static_cast<std::size_t>(2 * n - 1), 1);
    for (index_t t = 0; t < n - 1; ++t) {
        const double* row = z + 4 * t;
        for (int c = 0; c < 2; ++c) {
            const double x = row[c];
            if (!(x >= 0.0) || x >= static_cast<double>(n + t) || x != std::floor(x)) {
                value_error("Z[" + std::to_string(t) + "] must join nodes created before it (integers in [0, n + row))");
            }
            const std::size_t k = static_cast<std::size_t>(x);
            if (used[k]) value_error("Z merges node " + std::to_string(k) + " twice");
            used[k] = 1;
        }
        if (!(row[2] >= 0.0) || !std::isfinite(row[2]) || (t > 0 && row[2] < z[4 * (t - 1) + 2])) {
            value_error("the distances Z[:, 2] must be finite, non-negative and non-decreasing");
        }
        const index_t s = size[static_cast<std::size_t>(row[0])] + size[static_cast<std::size_t>(row[1])];
        if (row[3] != static_cast<double>(s)) value_error("Z[" + std::to_string(t) + ", 3] is not the merged size");
        size[static_cast<std::size_t>(n + t)] = s;
    }
}

// (parent, child, lambda_val, child_size) of the condensed tree of Z.
py::tuple condense_tree_py(const py::array& Z_in, index_t min_cluster_size) {
    const auto Z = as_real<double>(Z_in, "Z");
    require_shape(Z, {-1, 4}, "Z");
    if (min_cluster_size < 2) value_error("min_cluster_size must be at least 2, got " + std::to_string(min_cluster_size));
    const index_t n = static_cast<index_t>(Z.shape(0)) + 1;
    require_linkage(Z, n);
    CondensedTree tree;
    run_released([&] { condense_tree(n, Z.data(), min_cluster_size, tree); });
    const py::ssize_t rows = static_cast<py::ssize_t>(tree.parent.size());
    auto parent = empty<index_t>({rows});
    auto child = empty<index_t>({rows});
    auto lam = empty<double>({rows});
    auto csize = empty<index_t>({rows});
    const std::size_t bytes_i = tree.parent.size() * sizeof(index_t), bytes_d = tree.lambda.size() * sizeof(double);
    if (rows > 0) {
        std::memcpy(parent.mutable_data(), tree.parent.data(), bytes_i);
        std::memcpy(child.mutable_data(), tree.child.data(), bytes_i);
        std::memcpy(lam.mutable_data(), tree.lambda.data(), bytes_d);
        std::memcpy(csize.mutable_data(), tree.child_size.data(), bytes_i);
    }
    return py::make_tuple(parent, child, lam, csize);
}

// (order, parent, distance) of Prim's tree of max(core_i, core_j, d_ij) with the
// given core distances (the caller scales X for HDBSCAN's alpha).
template <class T>
py::tuple mr_tree_from_core_py(const py::array& X_in, const py::array& core_in, const std::string& metric,
                               bool asymmetric, std::int64_t n_threads) {
    const auto X = as_real<T>(X_in, "X");
    const index_t n = require_points(X, "X"), d = X.shape(1);
    const auto core = as_real<double>(core_in, "core");
    require_shape(core, {static_cast<py::ssize_t>(n)}, "core");
    const Metric parsed = parse_metric(metric);
    const int threads = threads_arg(n_threads);
    const T* xp = X.data();
    for (py::ssize_t t = 0; t < X.size(); ++t) {
        if (!std::isfinite(static_cast<double>(xp[t]))) value_error("X contains NaN or infinity");
    }
    const double* cp = core.data();
    for (index_t i = 0; i < n; ++i) {
        if (!(cp[i] >= 0.0) || !std::isfinite(cp[i])) value_error("core must be finite and non-negative");
    }
    checked_size({n, d + 8}, "the working arrays of n points");
    auto order = empty<index_t>({n});
    auto parent = empty<index_t>({n - 1});
    auto dist = empty<double>({n - 1});
    run_released([&] {
        index_t* o = order.mutable_data();
        o[0] = 0;
        mutual_reachability_tree(xp, n, d, parsed, cp, threads, o + 1, parent.mutable_data(), dist.mutable_data(),
                                 asymmetric);
    });
    return py::make_tuple(order, parent, dist);
}

}  // namespace

void register_condense(py::module_& m) {
    m.def("single_linkage_from_edges", &single_linkage_from_edges_py, py::arg("n"), py::arg("u"), py::arg("v"),
          py::arg("w"), "SciPy linkage matrix of n - 1 spanning-tree edges sorted by weight.");
    m.def("condense_tree", &condense_tree_py, py::arg("Z"), py::arg("min_cluster_size"),
          "HDBSCAN*'s condensed tree (parent, child, lambda_val, child_size) of a linkage matrix.");
    m.def("mutual_reachability_tree_from_core_f64", &mr_tree_from_core_py<double>, py::arg("X"), py::arg("core"),
          py::arg("metric"), py::arg("asymmetric"), py::arg("n_threads"),
          "Prim's mutual-reachability tree of float64 points over given core distances.");
    m.def("mutual_reachability_tree_from_core_f32", &mr_tree_from_core_py<float>, py::arg("X"), py::arg("core"),
          py::arg("metric"), py::arg("asymmetric"), py::arg("n_threads"),
          "Prim's mutual-reachability tree of float32 points over given core distances.");
}

}  // namespace diffclust::bind
