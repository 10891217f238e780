// One-line argument checks for the top of the core's entry points, so that a
// C++ caller gets std::invalid_argument instead of undefined behaviour for a k
// outside [1, n] or a size that is not positive. (The Python bindings check
// everything, with the argument's name, before they call the core.)
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "diffclust/core/simd.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust {

// n >= 1 points and k in [1, n] trees / clusters / medoids.
inline void check_k(index_t n, index_t k, const char* what = "k") {
    if (n < 1) throw std::invalid_argument("n must be at least 1, got " + std::to_string(n));
    if (k < 1 || k > n) {
        throw std::invalid_argument(std::string(what) + " must be in [1, n] = [1, " + std::to_string(n) + "], got " +
                                    std::to_string(k));
    }
}

// A size that must be at least `lo` (1 unless told).
inline void check_size(index_t v, const char* name, index_t lo = 1) {
    if (v < lo) {
        throw std::invalid_argument(std::string(name) + " must be at least " + std::to_string(lo) + ", got " +
                                    std::to_string(v));
    }
}

// A real parameter that must be positive and finite (alpha).
inline void check_positive(double v, const char* name) {
    if (!(v > 0.0) || !std::isfinite(v)) {
        throw std::invalid_argument(std::string(name) + " must be positive and finite, got " + std::to_string(v));
    }
}

// Finite values X[0 .. m) (points), naming `name` otherwise.
template <class T>
void require_finite_points(const T* X, index_t m, const char* name) {
    for (index_t t = 0; t < m; ++t) {
        if (!std::isfinite(static_cast<double>(X[t]))) {
            throw std::invalid_argument(std::string(name) + " contains NaN or infinity");
        }
    }
}

// What X[0 .. m) holds, by a branch-free scan of the bits that vectorises: bit 1 =
// NaN or infinity (exponent bits all ones), bit 2 (only with Negative) = a value
// < 0 (sign bit set on a non-zero magnitude; -0.0 is fine).
// (Always inlined: each instruction-set copy of a caller vectorises it its own way.)
template <bool Negative, class T>
DIFFCLUST_ALWAYS_INLINE unsigned scan_values(const T* X, index_t m) {
    using U = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;
    constexpr U sign = U(1) << (8 * sizeof(T) - 1);
    constexpr U exponent = sizeof(T) == 8 ? U(0x7ff0000000000000ULL) : U(0x7f800000U);
    U bad = 0, negative = 0;
    for (index_t t = 0; t < m; ++t) {
        U bits;
        std::memcpy(&bits, X + t, sizeof bits);
        bad |= static_cast<U>((bits & exponent) == exponent);
        if constexpr (Negative) negative |= static_cast<U>(bits > sign);
    }
    return (bad ? 1U : 0U) | (negative ? 2U : 0U);
}

// Whether X[0 .. m) holds NaN or infinity, for kernels that check the rows they read anyway.
template <class T>
DIFFCLUST_ALWAYS_INLINE bool any_nonfinite(const T* X, index_t m) {
    return scan_values<false>(X, m) != 0;
}

// sigma > 0 and finite; 1 <= n_samples <= 2^32 (samples are numbered by a
// 32-bit counter, core/rng.hpp).
inline void check_perturbation(double sigma, index_t n_samples) {
    check_positive(sigma, "sigma");
    if (n_samples < 1 || n_samples > (index_t(1) << 32)) {
        throw std::invalid_argument("n_samples must be in [1, 2^32], got " + std::to_string(n_samples));
    }
}

}  // namespace diffclust
