// Bindings for the distances kernels (filled in by its issue).
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace diffclust::bind {

void register_distances(py::module_& /*m*/) {}

}  // namespace diffclust::bind
