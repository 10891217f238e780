// Bindings for the kernels diffclust.dask splits into tasks: the block kernels
// of the exact k-forest of points (forest/blocks.hpp) and the perturbed
// k-forest over a range of samples (perturb/ranges.hpp). Edge lists travel as
// an int64 (m, 2) array of global indices and a float64 (m,) array of weights.
// Also one Lloyd pass of k-means over a row block (cluster/kmeans.hpp), with the
// per-chunk partial sums that diffclust.dask folds in chunk order.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "constraint_args.hpp"
#include "convert.hpp"
#include "diffclust/cluster/kmeans.hpp"
#include "diffclust/forest/blocks.hpp"
#include "diffclust/metrics/silhouette.hpp"
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

// One k-means pass over a row block X whose first row is a multiple of
// kmeans_detail::chunk_rows: the labels (assigned against C by kmeans_assign, or
// the given ones), then per chunk of chunk_rows rows, exactly as kmeans_lloyd
// sums them (row order, w_i * x_i or x_i without weights): the coordinate sums
// (c, k, d), the weights (c, k), the inertia sum_i w_i D_i (c,), and D_i, the
// squared distance of each point to its labelled centre.
template <class T>
py::tuple kmeans_block_pass_py(const py::array& X_in, const opt_array& w_in, const py::array& C_in,
                               const opt_array& labels_in, bool assign, bool want_sums, bool want_inertia,
                               bool want_distances) {
    auto X = as_real<T>(X_in, "X");
    require_points(X, "X");
    const index_t n = X.shape(0), d = X.shape(1);
    {
        const T* p = X.data();
        released guard;
        require_finite(p, n * d, "X", 1);
    }
    auto C = as_real<T>(C_in, "centers");
    require_shape(C, {-1, d}, "centers");
    const index_t k = C.shape(0);
    require_at_least(k, 1, "the number of centers");
    for (py::ssize_t e = 0; e < C.size(); ++e) {
        if (!std::isfinite(static_cast<double>(C.data()[e]))) value_error("centers contains NaN or infinity");
    }
    auto w = as_real<double>(w_in, "sample_weight");
    if (w) {
        require_shape(*w, {n}, "sample_weight");
        for (index_t i = 0; i < n; ++i) {
            const double v = w->data()[i];
            if (!std::isfinite(v) || v < 0.0) value_error("sample_weight must be finite and non-negative");
        }
    }
    auto given = as_index(labels_in, "labels");
    if (given) {
        require_shape(*given, {n}, "labels");
        require_index_range(*given, 0, k, "labels", "[0, k)");
    } else if (!assign) {
        value_error("labels are required when assign is False");
    }
    const index_t chunk = kmeans_detail::chunk_rows;
    const index_t chunks = (n + chunk - 1) / chunk;
    auto labels = empty<std::int64_t>({n});
    const bool need_dist = want_inertia || want_distances;
    auto dist = empty<double>({need_dist ? n : 0});
    auto sums = empty<double>({want_sums ? chunks : 0, k, d});
    auto weights = empty<double>({want_sums ? chunks : 0, k});
    auto inertia = empty<double>({want_inertia ? chunks : 0});
    index_t changed = 0;
    const T* x = X.data();
    const double* wp = w ? w->data() : nullptr;
    const std::int64_t* gp = given ? given->data() : nullptr;
    const T* cp = C.data();
    std::int64_t* l = labels.mutable_data();
    double* dp = dist.mutable_data();
    double* sp = sums.mutable_data();
    double* wsp = weights.mutable_data();
    double* ip = inertia.mutable_data();
    run_released([&] {
        if (assign && want_sums && !need_dist) {
            // The kernel's own fused pass (labels, then the sums in row order), one
            // chunk at a time: each chunk's totals are its sums (0.0 + the chunk).
            std::vector<double> C64(static_cast<std::size_t>(k * d));
            for (std::size_t e = 0; e < C64.size(); ++e) C64[e] = static_cast<double>(cp[e]);
            kmeans_detail::LloydCenters centres(k);
            centres.pack(C64.data(), k, d);
            if (gp) {
                std::copy(gp, gp + n, l);
            } else {
                std::fill(l, l + n, std::int64_t(-1));  // as the kernel's first iteration
            }
            for (index_t c = 0; c < chunks; ++c) {
                cancellation_point();
                const index_t r0 = c * chunk, m = std::min(n, r0 + chunk) - r0;
                const kmeans_detail::LloydJob<T> job =
                    centres.job(x + r0 * d, wp ? wp + r0 : nullptr, m, d, k, C64.data(), l + r0, true, true, false);
                const kmeans_detail::PassTotals tot = kmeans_detail::lloyd_pass(job, 1);
                std::copy(tot.sums.begin(), tot.sums.end(), sp + c * k * d);
                std::copy(tot.weights.begin(), tot.weights.end(), wsp + c * k);
                changed += tot.changed;
            }
            return;
        }
        if (assign) {
            kmeans_assign(x, n, d, wp, cp, k, l, need_dist ? dp : nullptr, 1);
            if (gp) {
                for (index_t i = 0; i < n; ++i) changed += l[i] != gp[i];
            } else {
                changed = n;  // the kernel's labels start at -1
            }
        } else {
            std::copy(gp, gp + n, l);
            if (need_dist) {
                std::vector<double> C64(static_cast<std::size_t>(k * d));
                for (std::size_t e = 0; e < C64.size(); ++e) C64[e] = static_cast<double>(cp[e]);
                const std::vector<double> D = kmeans_detail::distances_to_labelled(x, n, d, C64.data(), l, 1);
                std::copy(D.begin(), D.end(), dp);
            }
        }
        for (index_t c = 0; c < chunks; ++c) {
            cancellation_point();
            const index_t r0 = c * chunk, r1 = std::min(n, r0 + chunk);
            if (want_sums) {
                double* s = sp + c * k * d;
                double* ws = wsp + c * k;
                std::fill(s, s + k * d, 0.0);
                std::fill(ws, ws + k, 0.0);
                for (index_t i = r0; i < r1; ++i) {
                    const T* xi = x + i * d;
                    double* si = s + l[i] * d;
                    const double wi = wp ? wp[i] : 1.0;
                    if (wp) {
                        for (index_t t = 0; t < d; ++t) si[t] += wi * static_cast<double>(xi[t]);
                    } else {
                        for (index_t t = 0; t < d; ++t) si[t] += static_cast<double>(xi[t]);
                    }
                    ws[l[i]] += wi;
                }
            }
            if (want_inertia) {
                double acc = 0.0;
                for (index_t i = r0; i < r1; ++i) acc += (wp ? wp[i] : 1.0) * dp[i];
                ip[c] = acc;
            }
        }
    });
    py::object d_out = want_distances ? py::object(dist) : py::object(py::none());
    py::object s_out = want_sums ? py::object(sums) : py::object(py::none());
    py::object w_out = want_sums ? py::object(weights) : py::object(py::none());
    py::object i_out = want_inertia ? py::object(inertia) : py::object(py::none());
    return py::make_tuple(labels, changed, s_out, w_out, i_out, d_out);
}

// Cluster runs of one block of silhouette positions (labels sorted by cluster),
// positions counted from `offset`.
std::vector<detail::Run> silhouette_runs(const std::int64_t* lab, index_t m, index_t offset, const char* name) {
    std::vector<detail::Run> runs;
    for (index_t p = 0; p < m;) {
        index_t q = p + 1;
        while (q < m && lab[q] == lab[p]) ++q;
        if (q < m && lab[q] < lab[p]) value_error(std::string(name) + " must be sorted (positions ordered by cluster)");
        runs.push_back(detail::Run{lab[p], offset + p, offset + q});
        p = q;
    }
    return runs;
}

// The pair (I, J), I <= J, of blocks of silhouette positions, exactly as
// silhouette_samples computes it: XI, XJ the points of the two blocks in position
// order (positions sorted by cluster), labels_i, labels_j their clusters, bs the
// block size of the whole problem (detail::silhouette_block(n)); `same` when I == J
// (then XJ and labels_j are ignored). Returns the partial sums rows(I) x runs(J)
// and, when I < J, rows(J) x runs(I) (None otherwise).
template <class T>
py::tuple silhouette_pair_py(const py::array& XI_in, const py::array& labels_i_in, const py::array& XJ_in,
                             const py::array& labels_j_in, index_t block_size, const std::string& metric, bool same) {
    const Metric parsed = parse_metric(metric);
    const auto XI = as_real<T>(XI_in, "XI");
    const auto XJ = as_real<T>(XJ_in, "XJ");
    require_points(XI, "XI");
    require_points(XJ, "XJ");
    const index_t bi = XI.shape(0), d = XI.shape(1), bj = same ? 0 : XJ.shape(0);
    if (!same) require_shape(XJ, {-1, d}, "XJ");
    const auto li = as_index(labels_i_in, "labels_i");
    const auto lj = as_index(labels_j_in, "labels_j");
    require_shape(li, {bi}, "labels_i");
    if (!same) require_shape(lj, {bj}, "labels_j");
    require_between(bi, 1, block_size, "the rows of XI");
    if (!same && bi != block_size) value_error("XI must hold a whole block (block_size rows) when I < J");
    if (block_size % tiles::mc != 0 || block_size % tiles::nc != 0 || block_size % tiles::nr != 0)
        value_error("block_size must be a multiple of the tile sizes");
    require_between(bj, 0, block_size, "the rows of XJ");
    const index_t n = bi + bj, nb = same ? 1 : 2;
    std::vector<T> Xl(static_cast<std::size_t>(n * d));
    std::copy(XI.data(), XI.data() + bi * d, Xl.begin());
    if (!same) std::copy(XJ.data(), XJ.data() + bj * d, Xl.begin() + bi * d);
    std::vector<std::vector<detail::Run>> runs(static_cast<std::size_t>(nb));
    runs[0] = silhouette_runs(li.data(), bi, 0, "labels_i");
    if (!same) runs[1] = silhouette_runs(lj.data(), bj, block_size, "labels_j");
    const index_t nri = static_cast<index_t>(runs[0].size());
    const index_t nrj = same ? nri : static_cast<index_t>(runs[1].size());
    std::vector<index_t> slot(static_cast<std::size_t>(nb * nb), 0);
    if (!same) slot[2] = bi * nrj;  // pair (J, I) after pair (I, J)
    std::vector<double> partial(static_cast<std::size_t>(bi * nrj + bj * nri), 0.0);
    std::vector<index_t> order(static_cast<std::size_t>(n));
    for (index_t p = 0; p < n; ++p) order[static_cast<std::size_t>(p)] = p;
    run_released([&] {
        const std::vector<double> norms = detail::row_norms_for(Xl.data(), n, d, parsed, 1);
        const std::vector<double> packed = detail::pack_all(Xl.data(), n, d, order.data(),
                                                            parsed == Metric::cosine ? norms.data() : nullptr, 1);
        const detail::SilhouetteJob<T> job{Xl.data(), n, d, block_size, nb, parsed, order.data(), norms.data(),
                                           norms.data(), packed.data(), runs.data(), slot.data(), partial.data()};
        std::vector<double> buf(static_cast<std::size_t>(tiles::mc * d + tiles::mc * tiles::nc + tiles::nc));
        detail::silhouette_tile(job, 0, same ? 0 : 1, buf.data(), buf.data() + tiles::mc * d,
                                buf.data() + tiles::mc * d + tiles::mc * tiles::nc);
    });
    auto rows = empty<double>({bi, nrj});
    std::copy(partial.begin(), partial.begin() + bi * nrj, rows.mutable_data());
    if (same) return py::make_tuple(rows, py::none());
    auto cols = empty<double>({bj, nri});
    std::copy(partial.begin() + bi * nrj, partial.end(), cols.mutable_data());
    return py::make_tuple(rows, cols);
}

}  // namespace

void register_blocks(py::module_& m) {
    m.def("silhouette_pair_f64", &silhouette_pair_py<double>, py::arg("XI"), py::arg("labels_i"), py::arg("XJ"),
          py::arg("labels_j"), py::arg("block_size"), py::arg("metric"), py::arg("same"),
          "Partial silhouette sums of a pair of position blocks of float64 points (as silhouette_samples).");
    m.def("silhouette_pair_f32", &silhouette_pair_py<float>, py::arg("XI"), py::arg("labels_i"), py::arg("XJ"),
          py::arg("labels_j"), py::arg("block_size"), py::arg("metric"), py::arg("same"),
          "Partial silhouette sums of a pair of position blocks of float32 points (as silhouette_samples).");
    m.def("kmeans_block_pass_f64", &kmeans_block_pass_py<double>, py::arg("X"), py::arg("sample_weight"),
          py::arg("centers"), py::arg("labels"), py::arg("assign"), py::arg("want_sums"), py::arg("want_inertia"),
          py::arg("want_distances"),
          "One k-means pass over a float64 row block: labels, changed, per-chunk sums, weights, inertia; distances.");
    m.def("kmeans_block_pass_f32", &kmeans_block_pass_py<float>, py::arg("X"), py::arg("sample_weight"),
          py::arg("centers"), py::arg("labels"), py::arg("assign"), py::arg("want_sums"), py::arg("want_inertia"),
          py::arg("want_distances"),
          "One k-means pass over a float32 row block: labels, changed, per-chunk sums, weights, inertia; distances.");
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
