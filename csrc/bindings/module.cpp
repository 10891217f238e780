// The one extension module: each register_* adds one concern's functions.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace diffclust::bind {
void register_graph(py::module_& m);
}  // namespace diffclust::bind

PYBIND11_MODULE(_core, m, py::mod_gil_not_used()) {
    m.doc() = "diffclust compiled kernels (private; use the diffclust package)";
    diffclust::bind::register_graph(m);
}
