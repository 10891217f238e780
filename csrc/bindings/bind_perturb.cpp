// Bindings for the perturbed k-forests: the forward estimates, the partial
// Fenchel-Young loss and the VJP (perturb.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
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
    const index_t n = require_square(S, "S");
    require_k(k, n);
    require_positive(sigma, "sigma");
    require_samples(n_samples);
    const int threads = threads_arg(n_threads);
    const ConstraintArgs args(labels, must, cannot, n);
    const KeptArrays kept(keep_samples, false, 1, n_samples, n, k);
    const EstimateArrays<T> est(want_A, want_M, {n, n});
    double F = 0.0;
    const Constraints c = args.get();
    const PerturbSpec spec{sigma, n_samples, seed};
    const T* data = S.data();
    index_t n_repaired = 0;
    run_released([&] {  // no Python objects are touched
        std::unique_ptr<ConstrainedProblem> problem;
        if (c.any()) problem = std::make_unique<ConstrainedProblem>(n, k, c);
        const PerturbedOut<T> out{est.a, est.m, &F, &n_repaired};
        perturbed_kforest(data, n, k, spec, problem.get(), refine, threads, out, "S", kept.at(0, n_samples, n, k));
    });
    return py::make_tuple(est.A, est.M, F, kept.edges, kept.labels, n_repaired);
}

// ---------------------------------------------------------------------------
// Batches (b, n, n): one seed per element, labels shared (n,) or per element (b, n).

// A batch's S: (b, n, n) with b >= 1; returns (b, n).
inline std::pair<index_t, index_t> require_batch(const py::array& S, const char* name = "S") {
    require_ndim(S, 3, name);
    const index_t n = require_square(S, name, true);
    return {S.shape(0), n};
}

// One uint64 seed per element: shape (b,), dtype uint64 (the Python layer turns
// an int seed into element_seeds(seed, b) and int64 seeds into their uint64 bits).
inline carray<u64> as_seeds(const py::array& seeds, index_t b) {
    if (seeds.dtype().kind() != 'u' || seeds.dtype().itemsize() != 8) {
        type_error("seeds must be a uint64 array (one seed per batch element), got dtype " +
                   std::string(py::str(seeds.dtype())));
    }
    require_shape(seeds, {b}, "seeds");
    return carray<u64>::ensure(seeds);
}

// The constraints of a batch of b problems on n points: labels (n,) shared by
// every element or (b, n) per element, in [-1, n); pair lists shared.
struct BatchConstraintArgs {
    std::optional<index_array> labels, must, cannot;

    BatchConstraintArgs(const opt_array& known_labels, const opt_array& must_link, const opt_array& cannot_link,
                        index_t b, index_t n)
        : labels(as_index(known_labels, "labels")),
          must(pair_list(must_link, n, "must_link")),
          cannot(pair_list(cannot_link, n, "cannot_link")) {
        if (labels) {
            if (labels->ndim() == 2) {
                require_shape(*labels, {b, n}, "labels");
            } else {
                require_shape(*labels, {n}, "labels");
            }
            require_index_range(*labels, -1, n, "labels", "[-1, n)");
        }
    }

    BatchConstraints get() const {
        BatchConstraints c;
        if (labels) (labels->ndim() == 2 ? c.labels : c.shared.labels) = labels->data();
        if (must) {
            c.shared.must = must->data();
            c.shared.n_must = must->shape(0);
        }
        if (cannot) {
            c.shared.cannot = cannot->data();
            c.shared.n_cannot = cannot->shape(0);
        }
        return c;
    }
};

// What every batched perturbed binding checks first, in this order: S (b, n, n),
// k, sigma, n_samples, the seeds (b,), n_threads and the constraints.
template <class T>
struct BatchCall {
    carray<T> S;
    index_t b, n;
    carray<u64> seeds;
    int threads;
    BatchConstraintArgs args;

    BatchCall(const py::array& S_in, index_t k, double sigma, index_t n_samples, const py::array& seeds_in,
              const opt_array& labels, const opt_array& must, const opt_array& cannot, std::int64_t n_threads)
        : S(as_real<T>(S_in, "S")),
          b(require_batch(S).first),
          n(S.shape(2)),
          seeds(checked_seeds(k, n, sigma, n_samples, seeds_in, b)),
          threads(threads_arg(n_threads)),
          args(labels, must, cannot, b, n) {}

private:
    static carray<u64> checked_seeds(index_t k, index_t n, double sigma, index_t n_samples, const py::array& seeds_in,
                                     index_t b) {
        require_k(k, n);
        require_positive(sigma, "sigma");
        require_samples(n_samples);
        return as_seeds(seeds_in, b);
    }
};

py::array_t<u64> element_seeds_py(u64 seed, index_t b) {
    if (b < 0) value_error("b must be non-negative, got " + std::to_string(b));
    checked_size({b, 8}, "the element seeds");
    auto out = empty<u64>({b});
    u64* p = out.mutable_data();
    for (index_t t = 0; t < b; ++t) p[t] = derive_seed(seed, static_cast<u64>(t));
    return out;
}

template <class T>
py::tuple perturbed_kforest_batch_py(const py::array& S_in, index_t k, double sigma, index_t n_samples,
                                     const py::array& seeds_in, const opt_array& labels, const opt_array& must,
                                     const opt_array& cannot, bool refine, bool want_A, bool want_M,
                                     bool keep_samples, std::int64_t n_threads) {
    const BatchCall<T> call(S_in, k, sigma, n_samples, seeds_in, labels, must, cannot, n_threads);
    const index_t b = call.b, n = call.n;
    const int threads = call.threads;
    const KeptArrays kept(keep_samples, true, b, n_samples, n, k);
    const EstimateArrays<T> est(want_A, want_M, {b, n, n});
    auto values = empty<double>({b});
    double* F = values.mutable_data();
    const BatchConstraints c = call.args.get();
    const T* data = call.S.data();
    const u64* sd = call.seeds.data();
    index_t n_repaired = 0;
    run_released([&] {  // no Python objects are touched
        perturbed_kforest_batch(data, b, n, k, sigma, n_samples, sd, c, refine, threads, est.a, est.m, F,
                                &n_repaired, kept.at(0, n_samples, n, k));
    });
    return py::make_tuple(est.A, est.M, values, kept.edges, kept.labels, n_repaired);
}

template <class T>
py::tuple partial_fy_loss_batch_py(const py::array& S_in, index_t k, double sigma, index_t n_samples,
                                   const py::array& seeds_in, const opt_array& labels, const opt_array& must,
                                   const opt_array& cannot, bool refine, std::int64_t n_threads) {
    const BatchCall<T> call(S_in, k, sigma, n_samples, seeds_in, labels, must, cannot, n_threads);
    const index_t b = call.b, n = call.n;
    const int threads = call.threads;
    auto grad = empty<T>({b, n, n});
    auto losses = empty<double>({b});
    T* g = grad.mutable_data();
    double* L = losses.mutable_data();
    const BatchConstraints c = call.args.get();
    const T* data = call.S.data();
    const u64* sd = call.seeds.data();
    index_t n_repaired = 0;
    run_released([&] {  // no Python objects are touched
        partial_fy_loss_batch(data, b, n, k, sigma, n_samples, sd, c, refine, threads, L, g, &n_repaired);
    });
    return py::make_tuple(losses, grad, n_repaired);
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

    // b < 0: one problem, (B, n - k, 2) and (B, n); else a batch, (b, B, n - k, 2) and (b, B, n)
    KeptArgs(const opt_array& kept_edges, const opt_array& kept_labels, index_t B, index_t n, index_t k,
             index_t b = -1)
        : edges(as_index(kept_edges, "kept_edges")), labels(as_index(kept_labels, "kept_labels")) {
        if (edges.has_value() != labels.has_value()) value_error("pass both kept_edges and kept_labels, or neither");
        if (!edges) return;
        if (b < 0) {
            require_shape(*edges, {B, n - k, 2}, "kept_edges");
            require_shape(*labels, {B, n}, "kept_labels");
        } else {
            require_shape(*edges, {b, B, n - k, 2}, "kept_edges");
            require_shape(*labels, {b, B, n}, "kept_labels");
        }
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
py::array_t<T> perturbed_kforest_vjp_batch_py(const py::array& S_in, index_t k, const opt_array& VA_in,
                                              const opt_array& VM_in, double sigma, index_t n_samples,
                                              const py::array& seeds_in, const opt_array& labels,
                                              const opt_array& must, const opt_array& cannot, bool refine,
                                              bool control_variate, const opt_array& kept_edges,
                                              const opt_array& kept_labels, std::int64_t n_threads) {
    const BatchCall<T> call(S_in, k, sigma, n_samples, seeds_in, labels, must, cannot, n_threads);
    const index_t b = call.b, n = call.n;
    const int threads = call.threads;
    const auto VA = as_real<T>(VA_in, "grad_adjacency");
    const auto VM = as_real<T>(VM_in, "grad_connectivity");
    if (VA) require_shape(*VA, {b, n, n}, "grad_adjacency");
    if (VM) require_shape(*VM, {b, n, n}, "grad_connectivity");
    const KeptArgs kept(kept_edges, kept_labels, n_samples, n, k, b);
    auto grad = empty<T>({b, n, n});
    T* g = grad.mutable_data();
    const BatchConstraints c = call.args.get();
    const T* data = call.S.data();
    const u64* sd = call.seeds.data();
    const T* va = VA ? VA->data() : nullptr;
    const T* vm = VM ? VM->data() : nullptr;
    const index_t* ke = kept.edges ? kept.edges->data() : nullptr;
    const index_t* kl = kept.labels ? kept.labels->data() : nullptr;
    run_released([&] {  // no Python objects are touched
        perturbed_kforest_vjp_batch(data, b, n, k, sigma, n_samples, sd, c, refine, va, vm, control_variate, threads,
                                    g, ke, kl);
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
    m.def(("perturbed_kforest_batch" + suffix).c_str(), &perturbed_kforest_batch_py<T>, py::arg("S"), py::arg("k"),
          py::arg("sigma"), py::arg("n_samples"), py::arg("seeds"), py::arg("labels"), py::arg("must_link"),
          py::arg("cannot_link"), py::arg("refine"), py::arg("want_adjacency"), py::arg("want_connectivity"),
          py::arg("keep_samples"), py::arg("n_threads"),
          "Perturbed k-forest estimates of a batch (b, n, n), element t with seed seeds[t].");
    m.def(("partial_fy_loss_batch" + suffix).c_str(), &partial_fy_loss_batch_py<T>, py::arg("S"), py::arg("k"),
          py::arg("sigma"), py::arg("n_samples"), py::arg("seeds"), py::arg("labels"), py::arg("must_link"),
          py::arg("cannot_link"), py::arg("refine"), py::arg("n_threads"),
          "Partial Fenchel-Young losses (b,), gradients (b, n, n) and n_repaired of a batch.");
    m.def(("perturbed_kforest_vjp_batch" + suffix).c_str(), &perturbed_kforest_vjp_batch_py<T>, py::arg("S"),
          py::arg("k"), py::arg("grad_adjacency"), py::arg("grad_connectivity"), py::arg("sigma"),
          py::arg("n_samples"), py::arg("seeds"), py::arg("labels"), py::arg("must_link"), py::arg("cannot_link"),
          py::arg("refine"), py::arg("control_variate"), py::arg("kept_edges"), py::arg("kept_labels"),
          py::arg("n_threads"), "Score-function VJP of a batch (b, n, n), element t with seed seeds[t].");
}

}  // namespace

void register_perturb(py::module_& m) {
    m.def("element_seeds", &element_seeds_py, py::arg("seed"), py::arg("b"),
          "The seeds derive_seed(seed, t) of the elements t < b of a batch (uint64).");
    register_dtype<double>(m, "_f64");
    register_dtype<float>(m, "_f32");
}

}  // namespace diffclust::bind
