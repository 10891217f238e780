// Bindings for the counter-based RNG, perturbed and constrained k-forests, the
// partial Fenchel-Young loss and the VJP (rng.hpp, constrained.hpp, perturb.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>

#include "convert.hpp"
#include "diffclust/forest/constrained.hpp"
#include "diffclust/perturb/perturb.hpp"
#include "diffclust/core/rng.hpp"

namespace diffclust::bind {

namespace {

using opt_index = std::optional<index_array>;

// Runs a kernel with the GIL released in a cancellation scope (convert.hpp).
template <class Fn>
void run_released(Fn&& fn) {
    released guard;  // the kernel touches no Python objects
    fn();
}

Constraints make_constraints(const opt_index& labels, const opt_index& must, const opt_index& cannot) {
    Constraints c;
    if (labels) c.labels = labels->data();
    if (must) {
        c.must = must->data();
        c.n_must = must->shape(0);
    }
    if (cannot) {
        c.cannot = cannot->data();
        c.n_cannot = cannot->shape(0);
    }
    return c;
}

py::array_t<double> edge_noise(u64 seed, u32 sample, index_t n) {
    auto Z = empty<double>({n, n});
    double* z = Z.mutable_data();
    {
        released guard;  // the kernel touches no Python objects
        for (index_t i = 0; i < n; ++i) {
            z[i * n + i] = 0.0;
            if (i + 1 < n) row_edge_normals(seed, sample, static_cast<u32>(i), static_cast<u32>(i + 1), n - i - 1, 1.0, z + i * n + i + 1);
            for (index_t j = i + 1; j < n; ++j) z[j * n + i] = z[i * n + j];
        }
    }
    return Z;
}

// Draws the B n (n - 1) / 2 normals of B samples' edges and sums them: the
// floor that a perturbed forest cannot beat (benchmarks only).
double normals_floor(u64 seed, index_t n_samples, index_t n) {
    released guard;  // the kernel touches no Python objects
    std::vector<double> row(static_cast<std::size_t>(n > 1 ? n - 1 : 1));
    double total = 0.0;
    for (index_t s = 0; s < n_samples; ++s) {
        for (index_t i = 0; i + 1 < n; ++i) {
            row_edge_normals(seed, static_cast<u32>(s), static_cast<u32>(i), static_cast<u32>(i + 1), n - i - 1, 1.0, row.data());
            total += row[0];
        }
    }
    return total;
}

py::tuple philox4x32(const carray<u32>& counter, const carray<u32>& key) {
    if (counter.size() != 4 || key.size() != 2) throw py::value_error("counter must have 4 words and key 2");
    const auto out = Philox4x32::block({counter.data()[0], counter.data()[1], counter.data()[2], counter.data()[3]},
                                       key.data()[0], key.data()[1]);
    return py::make_tuple(out[0], out[1], out[2], out[3]);
}

template <class T>
py::tuple kforest_constrained_py(const carray<T>& S, index_t k, const opt_index& labels, const opt_index& must,
                                 const opt_index& cannot, bool refine, int n_threads) {
    const bool batched = S.ndim() == 3;
    const index_t b = batched ? S.shape(0) : 1, n = S.shape(S.ndim() - 1);
    std::vector<py::ssize_t> lshape{n}, eshape{n - k, 2}, wshape{n - k};
    if (batched) {
        lshape.insert(lshape.begin(), b);
        eshape.insert(eshape.begin(), b);
        wshape.insert(wshape.begin(), b);
    }
    auto out_labels = empty<index_t>(lshape);
    auto out_edges = empty<index_t>(eshape);
    auto out_weights = empty<T>(wshape);
    auto values = empty<double>({b});
    const Constraints c = make_constraints(labels, must, cannot);
    index_t* L = out_labels.mutable_data();
    index_t* E = out_edges.mutable_data();
    T* Wout = out_weights.mutable_data();
    double* V = values.mutable_data();
    const T* data = S.data();
    std::vector<char> repaired(static_cast<std::size_t>(b), 0);
    run_released([&] {
        const ConstrainedProblem problem(n, k, c);
        parallel_for(b, batched ? n_threads : 1, [&](index_t t) {
            const std::string name = batched ? "S[" + std::to_string(t) + "]" : "S";
            const T* St = data + t * n * n;
            const SymmetricWeights<T> sym(St, n, batched ? 1 : n_threads, name);
            std::vector<WeightedEdge<T>> edges;
            repaired[static_cast<std::size_t>(t)] = problem.solve(sym.W, refine, edges, L + t * n);
            double value = 0.0;
            for (index_t e = 0; e < n - k; ++e) {
                const auto& edge = edges[static_cast<std::size_t>(e)];
                E[(t * (n - k) + e) * 2] = edge.i;
                E[(t * (n - k) + e) * 2 + 1] = edge.j;
                Wout[t * (n - k) + e] = edge.w;
                value += static_cast<double>(St[edge.i * n + edge.j]) + static_cast<double>(St[edge.j * n + edge.i]);
            }
            V[t] = value;
        });
    });
    const index_t n_repaired = static_cast<index_t>(std::count(repaired.begin(), repaired.end(), char(1)));
    if (batched) return py::make_tuple(out_labels, out_edges, out_weights, values, n_repaired);
    return py::make_tuple(out_labels, out_edges, out_weights, V[0], n_repaired);
}

// Arrays for the forests a forward pass keeps: edges (..., B, n - k, 2) and
// labels (..., B, n), with the leading batch axis when batched.
struct KeptArrays {
    py::object edges = py::none(), labels = py::none();
    index_t* e = nullptr;
    index_t* l = nullptr;

    KeptArrays(bool keep, bool batched, index_t b, index_t B, index_t n, index_t k) {
        if (!keep) return;
        std::vector<py::ssize_t> eshape{B, n - k, 2}, lshape{B, n};
        if (batched) {
            eshape.insert(eshape.begin(), b);
            lshape.insert(lshape.begin(), b);
        }
        auto ea = empty<index_t>(eshape);
        auto la = empty<index_t>(lshape);
        e = ea.mutable_data();
        l = la.mutable_data();
        edges = ea;
        labels = la;
    }
    KeptSamples at(index_t t, index_t B, index_t n, index_t k) const {
        if (e == nullptr) return {};
        return KeptSamples{e + t * B * (n - k) * 2, l + t * B * n};
    }
};

template <class T>
py::tuple perturbed_kforest_py(const carray<T>& S, index_t k, double sigma, index_t n_samples, u64 seed,
                               const opt_index& labels, const opt_index& must, const opt_index& cannot, bool refine,
                               bool want_A, bool want_M, bool keep_samples, int n_threads) {
    const bool batched = S.ndim() == 3;
    const index_t b = batched ? S.shape(0) : 1, n = S.shape(S.ndim() - 1);
    const KeptArrays kept(keep_samples, batched, b, n_samples, n, k);
    std::vector<py::ssize_t> shape{n, n};
    if (batched) shape.insert(shape.begin(), b);
    py::object A = py::none(), M = py::none();
    T* a = nullptr;
    T* m = nullptr;
    if (want_A) {
        auto arr = empty<T>(shape);
        a = arr.mutable_data();
        A = arr;
    }
    if (want_M) {
        auto arr = empty<T>(shape);
        m = arr.mutable_data();
        M = arr;
    }
    auto values = empty<double>({b});
    double* F = values.mutable_data();
    const Constraints c = make_constraints(labels, must, cannot);
    const PerturbSpec spec{sigma, n_samples, seed};
    const T* data = S.data();
    index_t n_repaired = 0;
    run_released([&] {
        std::unique_ptr<ConstrainedProblem> problem;
        if (c.any()) problem = std::make_unique<ConstrainedProblem>(n, k, c);
        for (index_t t = 0; t < b; ++t) {
            index_t repaired = 0;
            const PerturbedOut<T> out{a ? a + t * n * n : nullptr, m ? m + t * n * n : nullptr, F + t, &repaired};
            perturbed_kforest(data + t * n * n, n, k, spec, problem.get(), refine, n_threads, out,
                              batched ? "S[" + std::to_string(t) + "]" : "S", kept.at(t, n_samples, n, k));
            n_repaired += repaired;
        }
    });
    if (batched) return py::make_tuple(A, M, values, kept.edges, kept.labels, n_repaired);
    return py::make_tuple(A, M, F[0], kept.edges, kept.labels, n_repaired);
}

template <class T>
py::tuple perturbed_kforest_points_py(const carray<T>& X, index_t k, const std::string& metric, double sigma,
                                      index_t n_samples, u64 seed, bool want_A, bool want_M, bool keep_samples,
                                      int n_threads) {
    require_ndim(X, 2, "X");
    const index_t n = X.shape(0), d = X.shape(1);
    const KeptArrays kept(keep_samples, false, 1, n_samples, n, k);
    const Metric parsed = parse_metric(metric);
    py::object A = py::none(), M = py::none();
    double* a = nullptr;
    double* m = nullptr;
    if (want_A) {
        auto arr = empty<double>({n, n});
        a = arr.mutable_data();
        A = arr;
    }
    if (want_M) {
        auto arr = empty<double>({n, n});
        m = arr.mutable_data();
        M = arr;
    }
    double value = 0.0;
    const PerturbSpec spec{sigma, n_samples, seed};
    const T* data = X.data();
    run_released([&] {
        perturbed_kforest_points(data, n, d, k, parsed, spec, n_threads, PerturbedOut<double>{a, m, &value},
                                 kept.at(0, n_samples, n, k));
    });
    return py::make_tuple(A, M, value, kept.edges, kept.labels);
}

template <class T>
py::tuple partial_fy_loss_py(const carray<T>& S, index_t k, double sigma, index_t n_samples, u64 seed,
                             const opt_index& labels, const opt_index& must, const opt_index& cannot, bool refine,
                             int n_threads) {
    require_ndim(S, 2, "S");
    const index_t n = S.shape(0);
    auto grad = empty<T>({n, n});
    T* g = grad.mutable_data();
    double loss = 0.0;
    index_t n_repaired = 0;
    const Constraints c = make_constraints(labels, must, cannot);
    const PerturbSpec spec{sigma, n_samples, seed};
    const T* data = S.data();
    run_released([&] {
        const ConstrainedProblem problem(n, k, c);
        loss = partial_fy_loss(data, n, k, spec, problem, refine, n_threads, g, &n_repaired);
    });
    return py::make_tuple(loss, grad, n_repaired);
}

template <class T>
py::array_t<T> perturbed_kforest_vjp_py(const carray<T>& S, index_t k, const std::optional<carray<T>>& VA,
                                        const std::optional<carray<T>>& VM, double sigma, index_t n_samples, u64 seed,
                                        const opt_index& labels, const opt_index& must, const opt_index& cannot,
                                        bool refine, bool control_variate, const opt_index& kept_edges,
                                        const opt_index& kept_labels, int n_threads) {
    require_ndim(S, 2, "S");
    const index_t n = S.shape(0);
    if (kept_edges.has_value() != kept_labels.has_value()) throw py::value_error("pass both kept edges and labels, or neither");
    const index_t* ke = nullptr;
    const index_t* kl = nullptr;
    if (kept_edges) {  // the Python layer checked these; a second net against reading out of bounds
        if (kept_edges->size() != n_samples * (n - k) * 2 || kept_labels->size() != n_samples * n) {
            throw py::value_error("kept samples do not have the shapes (n_samples, n - k, 2) and (n_samples, n)");
        }
        ke = kept_edges->data();
        kl = kept_labels->data();
        for (py::ssize_t e = 0; e < kept_edges->size(); e += 2) {
            if (ke[e] < 0 || ke[e] >= ke[e + 1] || ke[e + 1] >= n) throw py::value_error("kept edges must be pairs 0 <= i < j < n");
        }
        for (py::ssize_t i = 0; i < kept_labels->size(); ++i) {
            if (kl[i] < 0 || kl[i] >= n) throw py::value_error("kept labels must lie in [0, n)");
        }
    }
    auto grad = empty<T>({n, n});
    T* g = grad.mutable_data();
    const Constraints c = make_constraints(labels, must, cannot);
    const PerturbSpec spec{sigma, n_samples, seed};
    const T* data = S.data();
    const T* va = VA ? VA->data() : nullptr;
    const T* vm = VM ? VM->data() : nullptr;
    run_released([&] {
        std::unique_ptr<ConstrainedProblem> problem;
        if (c.any()) problem = std::make_unique<ConstrainedProblem>(n, k, c);
        perturbed_kforest_vjp(data, n, k, spec, problem.get(), refine, va, vm, control_variate, n_threads, g,
                              ke, kl);
    });
    return grad;
}

template <class T>
void register_dtype(py::module_& m, const std::string& suffix) {
    m.def(("kforest_constrained" + suffix).c_str(), &kforest_constrained_py<T>, py::arg("S"), py::arg("k"),
          py::arg("labels"), py::arg("must_link"), py::arg("cannot_link"), py::arg("refine"), py::arg("n_threads"),
          "Greedy constrained k-forest of a dense (n, n) or (b, n, n) similarity.");
    m.def(("perturbed_kforest" + suffix).c_str(), &perturbed_kforest_py<T>, py::arg("S"), py::arg("k"),
          py::arg("sigma"), py::arg("n_samples"), py::arg("seed"), py::arg("labels"), py::arg("must_link"),
          py::arg("cannot_link"), py::arg("refine"), py::arg("want_adjacency"), py::arg("want_connectivity"),
          py::arg("keep_samples"), py::arg("n_threads"),
          "Perturbed k-forest estimates (A_eps, M_eps, F_eps, each sample's edges and labels if kept, n_repaired).");
    m.def(("perturbed_kforest_from_points" + suffix).c_str(), &perturbed_kforest_points_py<T>, py::arg("X"),
          py::arg("k"), py::arg("metric"), py::arg("sigma"), py::arg("n_samples"), py::arg("seed"),
          py::arg("want_adjacency"), py::arg("want_connectivity"), py::arg("keep_samples"), py::arg("n_threads"),
          "Perturbed k-forest estimates of points with S = -d(x_i, x_j).");
    m.def(("partial_fy_loss" + suffix).c_str(), &partial_fy_loss_py<T>, py::arg("S"), py::arg("k"), py::arg("sigma"),
          py::arg("n_samples"), py::arg("seed"), py::arg("labels"), py::arg("must_link"), py::arg("cannot_link"),
          py::arg("refine"), py::arg("n_threads"), "Partial Fenchel-Young loss, its gradient and n_repaired.");
    m.def(("perturbed_kforest_vjp" + suffix).c_str(), &perturbed_kforest_vjp_py<T>, py::arg("S"), py::arg("k"),
          py::arg("grad_adjacency"), py::arg("grad_connectivity"), py::arg("sigma"), py::arg("n_samples"),
          py::arg("seed"), py::arg("labels"), py::arg("must_link"), py::arg("cannot_link"), py::arg("refine"),
          py::arg("control_variate"), py::arg("kept_edges"), py::arg("kept_labels"), py::arg("n_threads"),
          "Score-function VJP of (A_eps, M_eps), from kept samples when given.");
}

}  // namespace

void register_sampling(py::module_& m) {
    m.def("edge_noise", &edge_noise, py::arg("seed"), py::arg("sample"), py::arg("n"),
          "The symmetric (n, n) standard normal noise of one sample (zero diagonal).");
    m.def("normals_floor", &normals_floor, py::arg("seed"), py::arg("n_samples"), py::arg("n"),
          "Draw the normals of n_samples samples of an n-point graph (benchmark floor).");
    m.def("philox4x32", &philox4x32, py::arg("counter"), py::arg("key"), "One Philox4x32-10 block (for tests).");
    register_dtype<double>(m, "_f64");
    register_dtype<float>(m, "_f32");
}

}  // namespace diffclust::bind
