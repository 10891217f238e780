// Bindings for the kernels diffclust.dask splits into tasks: the block kernels
// of the exact k-forest of points (forest/blocks.hpp) and the perturbed
// k-forest over a range of samples (perturb/ranges.hpp). Edge lists travel as
// an int64 (m, 2) array of global indices and a float64 (m,) array of weights.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "constraint_args.hpp"
#include "convert.hpp"
#include "diffclust/forest/blocks.hpp"
#include "diffclust/perturb/ranges.hpp"

namespace diffclust::bind {

namespace {

using Edges = std::vector<WeightedEdge<double>>;

// (edges (m, 2), weights (m,)) -> a list of edges, checked (indices >= 0,
// finite weights).
Edges edge_list(const py::array& edges_in, const py::array& weights_in, const char* edges_name,
                const char* weights_name) {
    const auto edges = as_index(edges_in, edges_name);
    const auto weights = as_real<double>(weights_in, weights_name);
    if (!(edges.ndim() == 2 && edges.shape(1) == 2) && !(edges.ndim() == 1 && edges.size() == 0)) {
        require_shape(edges, {-1, 2}, edges_name);
    }
    const index_t m = edges.ndim() == 2 ? static_cast<index_t>(edges.shape(0)) : 0;
    require_shape(weights, {m}, weights_name);
    Edges list(static_cast<std::size_t>(m));
    for (index_t e = 0; e < m; ++e) {
        const index_t i = edges.data()[2 * e], j = edges.data()[2 * e + 1];
        const double w = weights.data()[e];
        if (i < 0 || j < 0) {
            index_error(std::string(edges_name) + "[" + std::to_string(e) + "] = (" + std::to_string(i) + ", " +
                        std::to_string(j) + ") has a negative index");
        }
        if (!std::isfinite(w)) value_error(std::string(weights_name) + "[" + std::to_string(e) + "] is NaN or infinite");
        list[static_cast<std::size_t>(e)] = WeightedEdge<double>{w, i, j};
    }
    return list;
}

// A list of edges -> (edges (m, 2) int64, weights (m,) float64); GIL held.
py::tuple edge_arrays(const Edges& list) {
    const auto m = static_cast<py::ssize_t>(list.size());
    auto edges = empty<index_t>({m, 2});
    auto weights = empty<double>({m});
    index_t* e = edges.mutable_data();
    double* w = weights.mutable_data();
    for (std::size_t t = 0; t < list.size(); ++t) {
        e[2 * t] = list[t].i;
        e[2 * t + 1] = list[t].j;
        w[t] = list[t].w;
    }
    return py::make_tuple(edges, weights);
}

template <class T>
py::tuple block_tree_points_py(const py::array& X_in, index_t offset, const std::string& metric) {
    const auto X = as_real<T>(X_in, "X");
    const index_t b = require_points(X, "X"), d = X.shape(1);
    require_between(offset, 0, (index_t(1) << 62) - b, "offset");
    const Metric parsed = parse_metric(metric);
    Edges tree;
    run_released([&] { tree = block_tree_points(X.data(), b, d, offset, parsed); });
    return edge_arrays(tree);
}

template <class T>
py::tuple pair_cross_edges_py(const py::array& XA_in, index_t offset_a, const py::array& XB_in, index_t offset_b,
                              const std::string& metric, const py::array& edges_a, const py::array& weights_a,
                              const py::array& edges_b, const py::array& weights_b, index_t max_edges) {
    const auto XA = as_real<T>(XA_in, "XA");
    const auto XB = as_real<T>(XB_in, "XB");
    const index_t a = require_points(XA, "XA"), b = require_points(XB, "XB"), d = XA.shape(1);
    if (XB.shape(1) != d) {
        value_error("XA and XB must have the same number of columns, got " + shape_of(XA) + " and " + shape_of(XB));
    }
    require_between(offset_a, 0, (index_t(1) << 62) - a, "offset_a");
    require_between(offset_b, 0, (index_t(1) << 62) - b, "offset_b");
    if (offset_a < offset_b + b && offset_b < offset_a + a) {
        value_error("the rows [offset_a, offset_a + len(XA)) and [offset_b, offset_b + len(XB)) overlap");
    }
    require_at_least(max_edges, 0, "max_edges");
    const Metric parsed = parse_metric(metric);
    const Edges tree_a = edge_list(edges_a, weights_a, "edges_a", "weights_a");
    const Edges tree_b = edge_list(edges_b, weights_b, "edges_b", "weights_b");
    Edges cross;
    try {
        run_released([&] {
            cross = pair_cross_edges(XA.data(), a, offset_a, XB.data(), b, offset_b, d, parsed, tree_a, tree_b,
                                     max_edges);
        });
    } catch (const std::out_of_range& e) {
        index_error(e.what());
    }
    return edge_arrays(cross);
}

py::tuple kruskal_edges_py(const py::array& edges, const py::array& weights, index_t max_edges) {
    require_at_least(max_edges, 0, "max_edges");
    Edges list = edge_list(edges, weights, "edges", "weights");
    Edges kept;
    run_released([&] { kept = kruskal_edges(std::move(list), max_edges); });
    return edge_arrays(kept);
}

template <class T>
py::tuple perturbed_kforest_range_py(const py::array& S_in, index_t k, double sigma, u64 seed, index_t first_sample,
                                     index_t n_samples, const opt_array& labels, const opt_array& must,
                                     const opt_array& cannot, bool refine, bool want_A, bool want_M,
                                     std::int64_t n_threads) {
    const auto S = as_real<T>(S_in, "S");
    const index_t n = require_square(S, "S");
    require_k(k, n);
    require_positive(sigma, "sigma");
    require_samples(n_samples);
    require_between(first_sample, 0, max_samples - n_samples, "first_sample");
    const int threads = threads_arg(n_threads);
    const ConstraintArgs args(labels, must, cannot, n);
    py::object A = py::none(), M = py::none();
    RangeOut out;
    if (want_A) {
        auto a = empty<u64>({n, n});
        out.A = a.mutable_data();
        A = a;
    }
    if (want_M) {
        auto a = empty<u64>({n, n});
        out.M = a.mutable_data();
        M = a;
    }
    auto values = empty<double>({n_samples});
    out.values = values.mutable_data();
    index_t n_repaired = 0;
    out.n_repaired = &n_repaired;
    const Constraints c = args.get();
    const T* data = S.data();
    run_released([&] {  // no Python objects are touched
        std::unique_ptr<ConstrainedProblem> problem;
        if (c.any()) problem = std::make_unique<ConstrainedProblem>(n, k, c);
        perturbed_kforest_range(data, n, k, sigma, seed, first_sample, n_samples, problem.get(), refine, threads,
                                out);
    });
    return py::make_tuple(A, M, values, n_repaired);
}

template <class T>
std::optional<carray<T>> cotangent(const opt_array& V, index_t n, const char* name) {
    auto a = as_real<T>(V, name);
    if (a) require_shape(*a, {n, n}, name);
    return a;
}

template <class T>
py::tuple perturbed_vjp_coefficients_py(const py::array& S_in, index_t k, const opt_array& VA_in,
                                        const opt_array& VM_in, double sigma, u64 seed, index_t first_sample,
                                        index_t n_samples, const opt_array& labels, const opt_array& must,
                                        const opt_array& cannot, bool refine, bool control_variate,
                                        std::int64_t n_threads) {
    const auto S = as_real<T>(S_in, "S");
    const index_t n = require_square(S, "S");
    require_k(k, n);
    require_positive(sigma, "sigma");
    require_samples(n_samples);
    require_between(first_sample, 0, max_samples - n_samples, "first_sample");
    const int threads = threads_arg(n_threads);
    const auto VA = cotangent<T>(VA_in, n, "grad_adjacency");
    const auto VM = cotangent<T>(VM_in, n, "grad_connectivity");
    const ConstraintArgs args(labels, must, cannot, n);
    auto coef = empty<double>({n_samples});
    double* c = coef.mutable_data();
    double reference = 0.0;
    const Constraints cons = args.get();
    const T* data = S.data();
    const T* va = VA ? VA->data() : nullptr;
    const T* vm = VM ? VM->data() : nullptr;
    run_released([&] {  // no Python objects are touched
        std::unique_ptr<ConstrainedProblem> problem;
        if (cons.any()) problem = std::make_unique<ConstrainedProblem>(n, k, cons);
        perturbed_vjp_coefficients_range(data, n, k, sigma, seed, first_sample, n_samples, problem.get(), refine, va,
                                         vm, threads, c);
        if (control_variate) reference = perturbed_vjp_reference(data, n, k, problem.get(), refine, va, vm, threads);
    });
    return py::make_tuple(coef, reference);
}

py::array_t<double> perturbed_vjp_rows_py(u64 seed, index_t n, index_t row0, index_t row1, const py::array& coef_in) {
    const auto coef = as_real<double>(coef_in, "coef");
    require_ndim(coef, 1, "coef");
    require_samples(static_cast<index_t>(coef.shape(0)), "len(coef)");
    require_between(n, 1, max_samples, "n");
    require_between(row1, 0, n, "row1");
    require_between(row0, 0, row1, "row0");
    checked_size({row1 - row0, n}, "the gradient rows");
    auto out = empty<double>({row1 - row0, n});
    double* o = out.mutable_data();
    const double* c = coef.data();
    const index_t B = static_cast<index_t>(coef.shape(0));
    run_released([&] { perturbed_vjp_rows(seed, n, row0, row1, c, B, o); });
    return out;
}

}  // namespace

void register_blocks(py::module_& m) {
    m.def("block_tree_points_f64", &block_tree_points_py<double>, py::arg("X"), py::arg("offset"),
          py::arg("metric"), "Maximum spanning tree of one row block of float64 points (global indices).");
    m.def("block_tree_points_f32", &block_tree_points_py<float>, py::arg("X"), py::arg("offset"),
          py::arg("metric"), "Maximum spanning tree of one row block of float32 points (global indices).");
    m.def("pair_cross_edges_f64", &pair_cross_edges_py<double>, py::arg("XA"), py::arg("offset_a"), py::arg("XB"),
          py::arg("offset_b"), py::arg("metric"), py::arg("edges_a"), py::arg("weights_a"), py::arg("edges_b"),
          py::arg("weights_b"), py::arg("max_edges"), "Spanning-tree edges between two row blocks of float64 points.");
    m.def("pair_cross_edges_f32", &pair_cross_edges_py<float>, py::arg("XA"), py::arg("offset_a"), py::arg("XB"),
          py::arg("offset_b"), py::arg("metric"), py::arg("edges_a"), py::arg("weights_a"), py::arg("edges_b"),
          py::arg("weights_b"), py::arg("max_edges"), "Spanning-tree edges between two row blocks of float32 points.");
    m.def("kruskal_edges", &kruskal_edges_py, py::arg("edges"), py::arg("weights"), py::arg("max_edges"),
          "Kruskal over an edge list with global indices: at most max_edges forest edges, heaviest first.");
    m.def("perturbed_vjp_coefficients_f64", &perturbed_vjp_coefficients_py<double>, py::arg("S"), py::arg("k"),
          py::arg("grad_adjacency"), py::arg("grad_connectivity"), py::arg("sigma"), py::arg("seed"),
          py::arg("first_sample"), py::arg("n_samples"), py::arg("labels"), py::arg("must_link"),
          py::arg("cannot_link"), py::arg("refine"), py::arg("control_variate"), py::arg("n_threads"),
          "VJP coefficients <V_A, A_s> + <V_M, M_s> of samples [first_sample, first_sample + n_samples), reference.");
    m.def("perturbed_vjp_coefficients_f32", &perturbed_vjp_coefficients_py<float>, py::arg("S"), py::arg("k"),
          py::arg("grad_adjacency"), py::arg("grad_connectivity"), py::arg("sigma"), py::arg("seed"),
          py::arg("first_sample"), py::arg("n_samples"), py::arg("labels"), py::arg("must_link"),
          py::arg("cannot_link"), py::arg("refine"), py::arg("control_variate"), py::arg("n_threads"),
          "VJP coefficients <V_A, A_s> + <V_M, M_s> of samples [first_sample, first_sample + n_samples), reference.");
    m.def("perturbed_vjp_rows", &perturbed_vjp_rows_py, py::arg("seed"), py::arg("n"), py::arg("row0"), py::arg("row1"),
          py::arg("coef"), "Rows [row0, row1) of sum_s coef[s] Z_s (sample order), the VJP's unscaled gradient.");
    m.def("perturbed_kforest_range_f64", &perturbed_kforest_range_py<double>, py::arg("S"), py::arg("k"),
          py::arg("sigma"), py::arg("seed"), py::arg("first_sample"), py::arg("n_samples"), py::arg("labels"),
          py::arg("must_link"), py::arg("cannot_link"), py::arg("refine"), py::arg("want_adjacency"),
          py::arg("want_connectivity"), py::arg("n_threads"),
          "Perturbed k-forest of float64 S over samples [first_sample, first_sample + n_samples): counts, values.");
    m.def("perturbed_kforest_range_f32", &perturbed_kforest_range_py<float>, py::arg("S"), py::arg("k"),
          py::arg("sigma"), py::arg("seed"), py::arg("first_sample"), py::arg("n_samples"), py::arg("labels"),
          py::arg("must_link"), py::arg("cannot_link"), py::arg("refine"), py::arg("want_adjacency"),
          py::arg("want_connectivity"), py::arg("n_threads"),
          "Perturbed k-forest of float32 S over samples [first_sample, first_sample + n_samples): counts, values.");
}

}  // namespace diffclust::bind
