// Bindings for the perturbed k-forests: the forward estimates, the partial
// Fenchel-Young loss and the VJP (perturb.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "constraint_args.hpp"
#include "convert.hpp"
#include "diffclust/core/rng.hpp"
#include "diffclust/perturb/perturb.hpp"

namespace diffclust::bind {

namespace {

// Arrays for the forests a forward pass keeps: edges (..., B, n - k, 2) and
// labels (..., B, n), with the leading batch axis when batched.
struct KeptArrays {
    py::object edges = py::none(), labels = py::none();
    index_t* e = nullptr;
    index_t* l = nullptr;

    KeptArrays(bool keep, bool batched, index_t b, index_t B, index_t n, index_t k) {
        if (!keep) return;
        checked_size({b, B, n, 3}, "the kept samples (keep_samples=True)");
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

// A_eps and M_eps outputs of `shape` when asked for.
template <class T>
struct EstimateArrays {
    py::object A = py::none(), M = py::none();
    T* a = nullptr;
    T* m = nullptr;

    EstimateArrays(bool want_A, bool want_M, const std::vector<py::ssize_t>& shape) {
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
    }
};

template <class T>
py::tuple perturbed_kforest_py(const py::array& S_in, index_t k, double sigma, index_t n_samples, u64 seed,
                               const opt_array& labels, const opt_array& must, const opt_array& cannot, bool refine,
                               bool want_A, bool want_M, bool keep_samples, std::int64_t n_threads) {
    const auto S = as_real<T>(S_in, "S");
    const index_t n = require_square(S, "S", true);
    require_k(k, n);
    require_positive(sigma, "sigma");
    require_samples(n_samples);
    const int threads = threads_arg(n_threads);
    const ConstraintArgs args(labels, must, cannot, n);
    const bool batched = S.ndim() == 3;
    const index_t b = batched ? S.shape(0) : 1;
    const KeptArrays kept(keep_samples, batched, b, n_samples, n, k);
    std::vector<py::ssize_t> shape{n, n};
    if (batched) shape.insert(shape.begin(), b);
    const EstimateArrays<T> est(want_A, want_M, shape);
    auto values = empty<double>({b});
    double* F = values.mutable_data();
    const Constraints c = args.get();
    const PerturbSpec spec{sigma, n_samples, seed};
    const T* data = S.data();
    index_t n_repaired = 0;
    run_released([&] {
        std::unique_ptr<ConstrainedProblem> problem;
        if (c.any()) problem = std::make_unique<ConstrainedProblem>(n, k, c);
        for (index_t t = 0; t < b; ++t) {
            index_t repaired = 0;
            const PerturbedOut<T> out{est.a ? est.a + t * n * n : nullptr, est.m ? est.m + t * n * n : nullptr, F + t,
                                      &repaired};
            perturbed_kforest(data + t * n * n, n, k, spec, problem.get(), refine, threads, out,
                              batched ? "S[" + std::to_string(t) + "]" : "S", kept.at(t, n_samples, n, k));
            n_repaired += repaired;
        }
    });
    if (batched) return py::make_tuple(est.A, est.M, values, kept.edges, kept.labels, n_repaired);
    return py::make_tuple(est.A, est.M, F[0], kept.edges, kept.labels, n_repaired);
}

template <class T>
py::tuple perturbed_kforest_points_py(const py::array& X_in, index_t k, const std::string& metric, double sigma,
                                      index_t n_samples, u64 seed, bool want_A, bool want_M, bool keep_samples,
                                      std::int64_t n_threads) {
    const auto X = as_real<T>(X_in, "X");
    const index_t n = require_points(X, "X"), d = X.shape(1);
    require_k(k, n);
    const Metric parsed = parse_metric(metric);
    require_positive(sigma, "sigma");
    require_samples(n_samples);
    const int threads = threads_arg(n_threads);
    if (want_A || want_M) checked_size({n, n, 8}, "the (n, n) estimates of n points");
    const KeptArrays kept(keep_samples, false, 1, n_samples, n, k);
    const EstimateArrays<double> est(want_A, want_M, {n, n});
    double value = 0.0;
    const PerturbSpec spec{sigma, n_samples, seed};
    const T* data = X.data();
    run_released([&] {
        perturbed_kforest_points(data, n, d, k, parsed, spec, threads, PerturbedOut<double>{est.a, est.m, &value},
                                 kept.at(0, n_samples, n, k));
    });
    return py::make_tuple(est.A, est.M, value, kept.edges, kept.labels);
}

template <class T>
py::tuple partial_fy_loss_py(const py::array& S_in, index_t k, double sigma, index_t n_samples, u64 seed,
                             const opt_array& labels, const opt_array& must, const opt_array& cannot, bool refine,
                             std::int64_t n_threads) {
    const auto S = as_real<T>(S_in, "S");
    const index_t n = require_square(S, "S");
    require_k(k, n);
    require_positive(sigma, "sigma");
    require_samples(n_samples);
    const int threads = threads_arg(n_threads);
    const ConstraintArgs args(labels, must, cannot, n);
    auto grad = empty<T>({n, n});
    T* g = grad.mutable_data();
    double loss = 0.0;
    index_t n_repaired = 0;
    const Constraints c = args.get();
    const PerturbSpec spec{sigma, n_samples, seed};
    const T* data = S.data();
    run_released([&] {
        const ConstrainedProblem problem(n, k, c);
        loss = partial_fy_loss(data, n, k, spec, problem, refine, threads, g, &n_repaired);
    });
    return py::make_tuple(loss, grad, n_repaired);
}

// The kept samples of a forward pass, checked against (B, n - k, 2) and (B, n):
// edges are pairs 0 <= i < j < n, labels lie in [0, n) (else a ValueError).
struct KeptArgs {
    std::optional<index_array> edges, labels;

    KeptArgs(const opt_array& kept_edges, const opt_array& kept_labels, index_t B, index_t n, index_t k)
        : edges(as_index(kept_edges, "kept_edges")), labels(as_index(kept_labels, "kept_labels")) {
        if (edges.has_value() != labels.has_value()) value_error("pass both kept_edges and kept_labels, or neither");
        if (!edges) return;
        require_shape(*edges, {B, n - k, 2}, "kept_edges");
        require_shape(*labels, {B, n}, "kept_labels");
        // a ValueError (not an IndexError): such samples do not come from a forward pass
        const index_t* kl = labels->data();
        for (py::ssize_t i = 0; i < labels->size(); ++i) {
            if (kl[i] < 0 || kl[i] >= n) {
                value_error("kept_labels holds " + std::to_string(kl[i]) + ", outside [0, n) = [0, " +
                            std::to_string(n) + ")");
            }
        }
        const index_t* ke = edges->data();
        for (py::ssize_t e = 0; e < edges->size(); e += 2) {
            if (ke[e] < 0 || ke[e] >= ke[e + 1] || ke[e + 1] >= n) {
                value_error("kept_edges[" + std::to_string(e / 2) + "] = (" + std::to_string(ke[e]) + ", " +
                            std::to_string(ke[e + 1]) + ") is not a pair 0 <= i < j < n = " + std::to_string(n));
            }
        }
    }
};

template <class T>
py::array_t<T> perturbed_kforest_vjp_py(const py::array& S_in, index_t k, const opt_array& VA_in,
                                        const opt_array& VM_in, double sigma, index_t n_samples, u64 seed,
                                        const opt_array& labels, const opt_array& must, const opt_array& cannot,
                                        bool refine, bool control_variate, const opt_array& kept_edges,
                                        const opt_array& kept_labels, std::int64_t n_threads) {
    const auto S = as_real<T>(S_in, "S");
    const index_t n = require_square(S, "S");
    require_k(k, n);
    const auto VA = as_real<T>(VA_in, "grad_adjacency");
    const auto VM = as_real<T>(VM_in, "grad_connectivity");
    if (VA) require_shape(*VA, {n, n}, "grad_adjacency");
    if (VM) require_shape(*VM, {n, n}, "grad_connectivity");
    require_positive(sigma, "sigma");
    require_samples(n_samples);
    const int threads = threads_arg(n_threads);
    const ConstraintArgs args(labels, must, cannot, n);
    const KeptArgs kept(kept_edges, kept_labels, n_samples, n, k);
    auto grad = empty<T>({n, n});
    T* g = grad.mutable_data();
    const Constraints c = args.get();
    const PerturbSpec spec{sigma, n_samples, seed};
    const T* data = S.data();
    const T* va = VA ? VA->data() : nullptr;
    const T* vm = VM ? VM->data() : nullptr;
    const index_t* ke = kept.edges ? kept.edges->data() : nullptr;
    const index_t* kl = kept.labels ? kept.labels->data() : nullptr;
    run_released([&] {
        std::unique_ptr<ConstrainedProblem> problem;
        if (c.any()) problem = std::make_unique<ConstrainedProblem>(n, k, c);
        perturbed_kforest_vjp(data, n, k, spec, problem.get(), refine, va, vm, control_variate, threads, g, ke, kl);
    });
    return grad;
}

template <class T>
void register_dtype(py::module_& m, const std::string& suffix) {
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

void register_perturb(py::module_& m) {
    register_dtype<double>(m, "_f64");
    register_dtype<float>(m, "_f32");
}

}  // namespace diffclust::bind
