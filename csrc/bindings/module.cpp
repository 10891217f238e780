// The one extension module: each register_* (one bind_*.cpp each) adds one concern's functions.
#include <pybind11/pybind11.h>

#include <exception>
#include <stdexcept>

#include "diffclust/core/cancel.hpp"

namespace py = pybind11;

namespace diffclust::bind {
void register_graph(py::module_& m);        // bind_graph.cpp: exact k-forests
void register_constrained(py::module_& m);  // bind_constrained.cpp: constrained exact k-forests
void register_perturb(py::module_& m);      // bind_perturb.cpp: perturbed forests, Fenchel-Young loss, VJP
void register_testing(py::module_& m);      // bind_testing.cpp: the private _testing submodule (RNG)
void register_distances(py::module_& m);    // bind_distances.cpp: pairwise distances, silhouette
void register_cluster(py::module_& m);      // bind_cluster.cpp: k-medoids
void register_metrics(py::module_& m);      // bind_metrics.cpp: ARI/NMI/MI, Davies-Bouldin, losses, cuts, DEC
void register_blocks(py::module_& m);       // bind_blocks.cpp: block kernels of the k-forest of points (Dask)
void register_density(py::module_& m);      // bind_density.cpp: core distances, mutual-reachability trees
void register_condense(py::module_& m);     // bind_condense.cpp: HDBSCAN* single-linkage and condensed trees
void register_mixture(py::module_& m);      // bind_mixture.cpp: Gaussian mixtures fitted by EM
void register_kmeans(py::module_& m);       // bind_kmeans.cpp: k-means (Lloyd), k-means++, assignment
void register_density_perturb(py::module_& m);  // bind_density_perturb.cpp: perturbed HDBSCAN trees, noise sums
}  // namespace diffclust::bind

// An exported C symbol by which threadpoolctl recognises this library among the
// loaded ones (diffclust/_threadpool.py registers the controller).
extern "C" __attribute__((visibility("default"))) const char* diffclust_threadpool_api() { return "diffclust"; }

PYBIND11_MODULE(_core, m, py::mod_gil_not_used()) {
    m.doc() = "diffclust compiled kernels (private; use the diffclust package)";
    // A kernel stopped by Ctrl-C (core/cancel.hpp) throws Interrupted after
    // PyErr_CheckSignals has set KeyboardInterrupt: let that error through.
    // A numeric overflow caused by the input (a squared distance or a degree too
    // large for float64) is bad input: ValueOverflowError is both an
    // OverflowError and a ValueError.
    const py::tuple bases = py::make_tuple(py::handle(PyExc_OverflowError), py::handle(PyExc_ValueError));
    static py::handle overflow_type = PyErr_NewExceptionWithDoc(
        "diffclust._core.ValueOverflowError",
        "A value computed from the input overflows float64 (an OverflowError and a ValueError).", bases.ptr(),
        nullptr);
    if (!overflow_type) throw py::error_already_set();
    m.attr("ValueOverflowError") = overflow_type;
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const diffclust::Interrupted&) {
            if (PyErr_Occurred() == nullptr) PyErr_SetNone(PyExc_KeyboardInterrupt);
        } catch (const std::overflow_error& e) {
            PyErr_SetString(overflow_type.ptr(), e.what());
        }
    });
    diffclust::bind::register_graph(m);
    diffclust::bind::register_constrained(m);
    diffclust::bind::register_perturb(m);
    diffclust::bind::register_distances(m);
    diffclust::bind::register_cluster(m);
    diffclust::bind::register_metrics(m);
    diffclust::bind::register_blocks(m);
    diffclust::bind::register_mixture(m);
    diffclust::bind::register_kmeans(m);
    diffclust::bind::register_testing(m);
    diffclust::bind::register_density(m);
    diffclust::bind::register_density_perturb(m);
    diffclust::bind::register_condense(m);
}
