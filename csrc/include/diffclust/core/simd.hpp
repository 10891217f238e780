// Runtime dispatch for hot loops: the wheel targets baseline x86-64, and GCC's
// target_clones adds AVX2 and AVX-512 copies chosen once at load time (ifunc).
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(DIFFCLUST_NO_TARGET_CLONES)
#define DIFFCLUST_TARGET_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DIFFCLUST_TARGET_CLONES
#endif

#if defined(__GNUC__)
#define DIFFCLUST_ALWAYS_INLINE inline __attribute__((always_inline))
#define DIFFCLUST_RESTRICT __restrict__
#define DIFFCLUST_PREFETCH(address) __builtin_prefetch(address)
#else
#define DIFFCLUST_ALWAYS_INLINE inline
#define DIFFCLUST_RESTRICT
#define DIFFCLUST_PREFETCH(address) ((void)(address))
#endif

// Hand-written AVX-512 kernels (intrinsics in functions marked DIFFCLUST_AVX512),
// called only when cpu_has_avx512() says the CPU runs them.
#if defined(__GNUC__) && defined(__x86_64__) && !defined(DIFFCLUST_NO_AVX512)
#include <immintrin.h>
#define DIFFCLUST_HAVE_AVX512_PATH 1
#define DIFFCLUST_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl")))

namespace diffclust {
inline bool cpu_has_avx512() noexcept {
    static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                             __builtin_cpu_supports("avx512vl");
    return has;
}
}  // namespace diffclust
#endif

// Hand-written AVX2 kernels (functions marked DIFFCLUST_AVX2), for CPUs without
// AVX-512 (AMD Zen 2/3, most client CPUs): called only when cpu_has_avx2() says
// the CPU runs them and the AVX-512 path is not taken.
#if defined(__GNUC__) && defined(__x86_64__) && !defined(DIFFCLUST_NO_AVX2)
#include <immintrin.h>
#define DIFFCLUST_HAVE_AVX2_PATH 1
#define DIFFCLUST_AVX2 __attribute__((target("avx2")))

namespace diffclust {
inline bool cpu_has_avx2() noexcept {
    static const bool has = __builtin_cpu_supports("avx2");
    return has;
}
// AVX2 with fused multiply-add (DIFFCLUST_AVX2_FMA functions; every AVX2 CPU but
// a few early VIA ones has it).
#define DIFFCLUST_AVX2_FMA __attribute__((target("avx2,fma")))
inline bool cpu_has_avx2_fma() noexcept {
    static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return has;
}
}  // namespace diffclust
#endif
