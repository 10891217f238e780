// Array conversion helpers shared by the bind_*.cpp files. The Python layer has
// already validated and converted its inputs; these are the second net.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "diffclust/core/cancel.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust::bind {

namespace py = pybind11;

template <class T>
using carray = py::array_t<T, py::array::c_style | py::array::forcecast>;

using index_array = carray<std::int64_t>;

// Allocates a C-contiguous output array (GIL must be held).
template <class T>
py::array_t<T> empty(std::initializer_list<py::ssize_t> shape) {
    return py::array_t<T>(std::vector<py::ssize_t>(shape));
}

template <class T>
py::array_t<T> empty(const std::vector<py::ssize_t>& shape) {
    return py::array_t<T>(shape);
}

// Polls Python's signal handlers (Ctrl-C) from a kernel running with the GIL
// released; only called on the thread that released it (core/cancel.hpp).
inline bool python_signal_pending() {
    py::gil_scoped_acquire gil;
    return PyErr_CheckSignals() != 0;
}

// Held around every kernel call: opens the cancellation scope, then releases
// the GIL (and takes it back before the scope closes). A Ctrl-C makes the
// kernel throw diffclust::Interrupted, which module.cpp turns back into the
// KeyboardInterrupt that PyErr_CheckSignals has set.
class released {
public:
    released() : scope_(&python_signal_pending) {}

private:
    CancelScope scope_;
    py::gil_scoped_release release_;
};

inline void require_ndim(const py::array& a, py::ssize_t ndim, const char* name) {
    if (a.ndim() != ndim) {
        throw py::value_error(std::string(name) + " must have " + std::to_string(ndim) + " dimensions, got " +
                              std::to_string(a.ndim()));
    }
}

}  // namespace diffclust::bind
