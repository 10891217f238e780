// Argument conversion and checks shared by the bind_*.cpp files.
//
// The compiled module checks what it is given on its own, as if the Python layer
// did not exist: every binding converts its arrays with as_real / as_index (a
// TypeError for a dtype that cannot hold the values), checks ndim and shapes
// (require_*), k, sizes and index ranges, and takes n_threads as a 64-bit
// integer checked by threads_arg. Errors are ValueError, IndexError or
// TypeError and name the argument; nothing reachable from Python crashes.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "diffclust/core/cancel.hpp"
#include "diffclust/core/checks.hpp"
#include "diffclust/core/parallel.hpp"
#include "diffclust/core/simd.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust::bind {

namespace py = pybind11;

template <class T>
using carray = py::array_t<T, py::array::c_style | py::array::forcecast>;

using index_array = carray<std::int64_t>;
using opt_array = std::optional<py::array>;

// ---------------------------------------------------------------------------
// Errors

inline std::string shape_of(const py::array& a) {
    std::string s = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) {
        s += std::to_string(a.shape(i));
        if (a.ndim() == 1 || i + 1 < a.ndim()) s += a.ndim() == 1 ? "," : ", ";
    }
    return s + ")";
}

[[noreturn]] inline void value_error(const std::string& msg) { throw py::value_error(msg); }
[[noreturn]] inline void index_error(const std::string& msg) { throw py::index_error(msg); }
[[noreturn]] inline void type_error(const std::string& msg) { throw py::type_error(msg); }

// ---------------------------------------------------------------------------
// Conversion: a dtype check first, then a C-contiguous array of T (no copy when
// `a` already is one; strided and negative-stride views are copied).

// Real numbers (float, int, unsigned, bool) as T; complex, object, strings and
// the like are a TypeError rather than a silent cast.
template <class T>
carray<T> as_real(const py::array& a, const char* name) {
    const char kind = a.dtype().kind();
    if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b') {
        type_error(std::string(name) + " must hold real numbers, got dtype " + std::string(py::str(a.dtype())));
    }
    return carray<T>::ensure(a);
}

// Integers (signed or unsigned) as I; floats, bools and the rest are a TypeError,
// and a value that I cannot hold an IndexError (never a silent wrap-around).
template <class I = std::int64_t>
carray<I> as_index(const py::array& a, const char* name) {
    const char kind = a.dtype().kind();
    if (kind != 'i' && kind != 'u') {
        type_error(std::string(name) + " must hold integers, got dtype " + std::string(py::str(a.dtype())));
    }
    const auto size = static_cast<std::size_t>(a.dtype().itemsize());
    auto too_large = [&](const std::string& v) {
        index_error(std::string(name) + " holds the value " + v + ", outside the range of a " +
                    std::to_string(8 * sizeof(I)) + "-bit integer");
    };
    if (kind == 'u' && size == 8) {
        const auto wide = carray<std::uint64_t>::ensure(a);
        for (py::ssize_t i = 0; i < wide.size(); ++i) {
            if (wide.data()[i] > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                too_large(std::to_string(wide.data()[i]));
            }
        }
    }
    if (size > sizeof(I) || (kind == 'u' && size == sizeof(I))) {
        const auto wide = carray<std::int64_t>::ensure(a);
        for (py::ssize_t i = 0; i < wide.size(); ++i) {
            const std::int64_t v = wide.data()[i];
            if (v < static_cast<std::int64_t>(std::numeric_limits<I>::min()) ||
                v > static_cast<std::int64_t>(std::numeric_limits<I>::max())) {
                too_large(std::to_string(v));
            }
        }
    }
    return carray<I>::ensure(a);
}

template <class T>
std::optional<carray<T>> as_real(const opt_array& a, const char* name) {
    if (!a) return std::nullopt;
    return as_real<T>(*a, name);
}

template <class I = std::int64_t>
std::optional<carray<I>> as_index(const opt_array& a, const char* name) {
    if (!a) return std::nullopt;
    return as_index<I>(*a, name);
}

// ---------------------------------------------------------------------------
// Shapes

inline void require_ndim(const py::array& a, py::ssize_t ndim, const char* name) {
    if (a.ndim() != ndim) {
        value_error(std::string(name) + " must have " + std::to_string(ndim) + " dimension" + (ndim == 1 ? "" : "s") +
                    ", got shape " + shape_of(a));
    }
}

// The shape of `a` must be `shape`, where -1 stands for any length.
inline void require_shape(const py::array& a, std::initializer_list<py::ssize_t> shape, const char* name) {
    bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
    std::string want = "(";
    py::ssize_t i = 0;
    for (const py::ssize_t s : shape) {
        if (ok && s >= 0 && a.shape(i) != s) ok = false;
        want += s >= 0 ? std::to_string(s) : std::string("any");
        want += shape.size() == 1 ? "," : (i + 1 < static_cast<py::ssize_t>(shape.size()) ? ", " : "");
        ++i;
    }
    if (!ok) value_error(std::string(name) + " must have shape " + want + "), got " + shape_of(a));
}

// No axis of `a` may be empty.
inline void require_nonempty(const py::array& a, const char* name) {
    if (a.size() == 0) value_error(std::string(name) + " is empty (shape " + shape_of(a) + ")");
}

// A non-empty matrix (ndim 2) or stack of matrices (ndim 3 when `batched`),
// square in its last two axes; returns n.
inline index_t require_square(const py::array& a, const char* name, bool batched = false) {
    if (a.ndim() != 2 && !(batched && a.ndim() == 3)) {
        value_error(std::string(name) + " must have 2" + (batched ? " or 3" : "") + " dimensions, got shape " +
                    shape_of(a));
    }
    const py::ssize_t r = a.ndim();
    if (a.shape(r - 1) != a.shape(r - 2)) {
        value_error(std::string(name) + " must be square" + (r == 3 ? " in its last two axes" : "") + ", got shape " +
                    shape_of(a));
    }
    require_nonempty(a, name);
    return static_cast<index_t>(a.shape(r - 1));
}

// A non-empty (n, d) matrix of points; returns n.
inline index_t require_points(const py::array& a, const char* name) {
    require_ndim(a, 2, name);
    require_nonempty(a, name);
    return static_cast<index_t>(a.shape(0));
}

// ---------------------------------------------------------------------------
// Scalars

// The number of clusters/trees k in [lo, n].
inline index_t require_k(index_t k, index_t n, const char* name = "k", index_t lo = 1) {
    if (k < lo || k > n) {
        value_error(std::string(name) + " must be in [" + std::to_string(lo) + ", n] = [" + std::to_string(lo) + ", " +
                    std::to_string(n) + "], got " + std::to_string(k));
    }
    return k;
}

inline index_t require_at_least(index_t v, index_t lo, const char* name) {
    if (v < lo) value_error(std::string(name) + " must be at least " + std::to_string(lo) + ", got " + std::to_string(v));
    return v;
}

inline index_t require_between(index_t v, index_t lo, index_t hi, const char* name) {
    if (v < lo || v > hi) {
        value_error(std::string(name) + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                    std::to_string(v));
    }
    return v;
}

// A finite value > 0 (sigma, alpha).
inline double require_positive(double v, const char* name) {
    if (!(v > 0.0) || !std::isfinite(v)) {
        value_error(std::string(name) + " must be positive and finite, got " + std::to_string(v));
    }
    return v;
}

// A finite value >= 0 (tolerances).
inline double require_nonnegative(double v, const char* name) {
    if (!(v >= 0.0) || !std::isfinite(v)) {
        value_error(std::string(name) + " must be non-negative and finite, got " + std::to_string(v));
    }
    return v;
}

// Monte-Carlo samples are numbered by a 32-bit counter (core/rng.hpp).
constexpr index_t max_samples = index_t(1) << 32;

inline index_t require_samples(index_t n_samples, const char* name = "n_samples") {
    return require_between(n_samples, 1, max_samples, name);
}

constexpr std::int64_t max_threads = 4096;

// n_threads arrives as a 64-bit integer, so that 2**40 is a ValueError naming
// it rather than pybind11's "incompatible function arguments".
inline int threads_arg(std::int64_t n_threads) {
    if (n_threads < 1 || n_threads > max_threads) {
        value_error("n_threads must be in [1, " + std::to_string(max_threads) + "], got " + std::to_string(n_threads));
    }
    return static_cast<int>(n_threads);
}

// The product of sizes (elements of an output), or a ValueError naming `what`
// when it overflows or exceeds what an array may hold.
inline index_t checked_size(std::initializer_list<index_t> dims, const char* what) {
    constexpr index_t limit = std::numeric_limits<index_t>::max() / 16;  // bytes of 8-byte items, with slack
    index_t total = 1;
    for (const index_t d : dims) {
        if (d < 0) value_error(std::string(what) + " would have a negative size");
        if (d != 0 && total > limit / d) value_error(std::string(what) + " would be too large to allocate");
        total *= d;
    }
    return total;
}

// ---------------------------------------------------------------------------
// Index ranges

// "name[i, j]" for the flat position `flat` of an array of a's shape.
inline std::string element_of(const py::array& a, const char* name, py::ssize_t flat) {
    std::vector<py::ssize_t> idx(static_cast<std::size_t>(a.ndim()));
    for (py::ssize_t d = a.ndim() - 1; d >= 0; --d) {
        idx[static_cast<std::size_t>(d)] = flat % a.shape(d);
        flat /= a.shape(d);
    }
    std::string s = std::string(name) + "[";
    for (std::size_t d = 0; d < idx.size(); ++d) s += (d ? ", " : "") + std::to_string(idx[d]);
    return s + "]";
}

// Every entry of `a` in [lo, hi); otherwise an IndexError such as
// "labels[4] = 3 is outside [0, k) = [0, 3)" (`range` names the interval).
inline void require_index_range(const index_array& a, index_t lo, index_t hi, const char* name,
                                const char* range = nullptr) {
    const std::int64_t* p = a.data();
    for (py::ssize_t i = 0; i < a.size(); ++i) {
        if (p[i] < lo || p[i] >= hi) {
            index_error(element_of(a, name, i) + " = " + std::to_string(p[i]) + " is outside " +
                        (range ? std::string(range) + " = " : std::string()) + "[" + std::to_string(lo) + ", " +
                        std::to_string(hi) + ")");
        }
    }
}

// An (m, 2) integer array of pairs of points in [0, n), or None.
inline std::optional<index_array> pair_list(const opt_array& a, index_t n, const char* name) {
    auto out = as_index(a, name);
    if (out) {
        require_shape(*out, {-1, 2}, name);
        require_index_range(*out, 0, n, name, "[0, n)");
    }
    return out;
}

// ---------------------------------------------------------------------------
// Values (run with the GIL released: these throw std:: exceptions)

// Scans p[0..m) by its bits (core/checks.hpp's scan_values, an integer OR the
// compiler vectorises: memory-bound with the AVX2 or AVX-512 copy, the baseline
// copy is twice as slow): bit 1 = a NaN or infinity, bit 2 = a value < 0.
[[maybe_unused]] static DIFFCLUST_TARGET_CLONES unsigned scan_block(const double* p, index_t m) {
    return scan_values<true>(p, m);
}

[[maybe_unused]] static DIFFCLUST_TARGET_CLONES unsigned scan_block(const float* p, index_t m) {
    return scan_values<true>(p, m);
}

// std::invalid_argument unless p[0..m) is finite (and, if `nonnegative`, >= 0),
// naming `name`. Runs with the GIL released.
template <class T>
void require_finite(const T* p, index_t m, const std::string& name, int n_threads, bool nonnegative = false) {
    constexpr index_t chunk = index_t(1) << 18;
    const index_t chunks = (m + chunk - 1) / chunk;
    std::atomic<unsigned> found{0};
    parallel_for(chunks, chunks < 8 ? 1 : n_threads, [&](index_t c) {
        found.fetch_or(scan_block(p + c * chunk, std::min(chunk, m - c * chunk)), std::memory_order_relaxed);
    });
    const unsigned f = found.load();
    if (f & 1U) throw std::invalid_argument(name + " contains NaN or infinity");
    if (nonnegative && (f & 2U)) {
        throw std::invalid_argument(name + " must be a dissimilarity matrix without negative entries");
    }
}

// ---------------------------------------------------------------------------
// Outputs

// Allocates a C-contiguous output array (GIL must be held).
template <class T>
py::array_t<T> empty(std::initializer_list<py::ssize_t> shape) {
    return py::array_t<T>(std::vector<py::ssize_t>(shape));
}

template <class T>
py::array_t<T> empty(const std::vector<py::ssize_t>& shape) {
    return py::array_t<T>(shape);
}

// ---------------------------------------------------------------------------
// Running a kernel

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

// Runs a kernel with the GIL released in a cancellation scope.
template <class Fn>
void run_released(Fn&& fn) {
    released guard;  // the kernel touches no Python objects
    fn();
}

}  // namespace diffclust::bind
