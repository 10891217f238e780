// A minimal check harness for the C++ core tests (no external framework).
#pragma once

#include <cstdio>
#include <cstdlib>

inline int& diffclust_test_failures() {
    static int failures = 0;
    return failures;
}

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            ++diffclust_test_failures();                                      \
        }                                                                     \
    } while (0)

#define CHECK_THROWS(expr, type)                                              \
    do {                                                                      \
        bool thrown_ = false;                                                 \
        try {                                                                 \
            expr;                                                             \
        } catch (const type&) {                                               \
            thrown_ = true;                                                   \
        }                                                                     \
        if (!thrown_) {                                                       \
            std::fprintf(stderr, "%s:%d: expected %s from %s\n", __FILE__, __LINE__, #type, #expr); \
            ++diffclust_test_failures();                                      \
        }                                                                     \
    } while (0)

#define TEST_MAIN_END()                                                       \
    do {                                                                      \
        if (diffclust_test_failures()) {                                      \
            std::fprintf(stderr, "%d check(s) failed\n", diffclust_test_failures()); \
            return EXIT_FAILURE;                                              \
        }                                                                     \
        std::printf("all checks passed\n");                                   \
        return EXIT_SUCCESS;                                                  \
    } while (0)
