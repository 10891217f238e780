// Bindings for the metrics kernels (filled in by its issue).
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace diffclust::bind {

void register_metrics(py::module_& /*m*/) {}

}  // namespace diffclust::bind
