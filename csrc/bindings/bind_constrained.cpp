// Bindings for the constrained exact k-forests (constrained.hpp).
#include <algorithm>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "constraint_args.hpp"
#include "convert.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/forest/constrained.hpp"
#include "diffclust/perturb/perturb.hpp"

namespace diffclust::bind {

namespace {

template <class T>
py::tuple kforest_constrained_py(const py::array& S_in, index_t k, const opt_array& labels, const opt_array& must,
                                 const opt_array& cannot, bool refine, std::int64_t n_threads) {
    const auto S = as_real<T>(S_in, "S");
    const index_t n = require_square(S, "S", true);
    require_k(k, n);
    const int threads = threads_arg(n_threads);
    const ConstraintArgs args(labels, must, cannot, n);
    const bool batched = S.ndim() == 3;
    const index_t b = batched ? S.shape(0) : 1;
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
    const Constraints c = args.get();
    index_t* L = out_labels.mutable_data();
    index_t* E = out_edges.mutable_data();
    T* Wout = out_weights.mutable_data();
    double* V = values.mutable_data();
    const T* data = S.data();
    std::vector<char> repaired(static_cast<std::size_t>(b), 0);
    run_released([&] {
        const ConstrainedProblem problem(n, k, c);
        parallel_for(b, batched ? threads : 1, [&](index_t t) {
            const std::string name = batched ? "S[" + std::to_string(t) + "]" : "S";
            const T* St = data + t * n * n;
            const SymmetricWeights<T> sym(St, n, batched ? 1 : threads, name);
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

template <class T>
void register_dtype(py::module_& m, const std::string& suffix) {
    m.def(("kforest_constrained" + suffix).c_str(), &kforest_constrained_py<T>, py::arg("S"), py::arg("k"),
          py::arg("labels"), py::arg("must_link"), py::arg("cannot_link"), py::arg("refine"), py::arg("n_threads"),
          "Greedy constrained k-forest of a dense (n, n) or (b, n, n) similarity.");
}

}  // namespace

void register_constrained(py::module_& m) {
    register_dtype<double>(m, "_f64");
    register_dtype<float>(m, "_f32");
}

}  // namespace diffclust::bind
