// The thread pool (core/parallel.hpp) and the cancellation hook (core/cancel.hpp):
// every item runs once, tids stay in range and are never shared at once,
// exceptions reach the caller on every path, nested and concurrent loops run,
// and a cancelled loop stops on every thread.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>
#include <vector>

#include "check.hpp"
#include "diffclust/core/cancel.hpp"
#include "diffclust/core/parallel.hpp"

using namespace diffclust;
using namespace std::chrono_literals;

static void busy_for(std::chrono::microseconds t) {
    const auto end = std::chrono::steady_clock::now() + t;
    while (std::chrono::steady_clock::now() < end) cpu_relax();
}

// Every item exactly once; tid < team; no tid used by two threads at once.
static void test_items_and_tids() {
    for (int threads : {1, 2, 3, 7}) {
        for (index_t n : {1, 2, 5, 100, 3000}) {
            for (auto head : {std::chrono::nanoseconds(0), std::chrono::nanoseconds(min_serial_head), adaptive_head}) {
                std::vector<std::atomic<int>> seen(static_cast<std::size_t>(n));
                std::vector<std::atomic<int>> inside(8);
                std::atomic<bool> bad{false};
                parallel_for_tid(
                    n, threads,
                    [&](index_t i, int tid) {
                        if (tid < 0 || tid >= std::min<index_t>(threads, n)) bad = true;
                        if (inside[static_cast<std::size_t>(tid)].fetch_add(1) != 0) bad = true;
                        seen[static_cast<std::size_t>(i)].fetch_add(1);
                        if (i % 7 == 0) busy_for(std::chrono::microseconds(20));
                        inside[static_cast<std::size_t>(tid)].fetch_sub(1);
                    },
                    head);
                CHECK(!bad);
                for (auto& s : seen) CHECK(s.load() == 1);
            }
        }
    }
}

// An exception from any item (the caller's or a worker's) reaches the caller,
// and the pool keeps working afterwards.
static void test_exceptions() {
    for (int threads : {1, 2, 4}) {
        for (index_t where : {0, 1, 57, 199}) {
            CHECK_THROWS(parallel_for(
                             200, threads,
                             [&](index_t i) {
                                 busy_for(std::chrono::microseconds(5));
                                 if (i == where) throw std::runtime_error("item");
                             },
                             std::chrono::nanoseconds(0)),
                         std::runtime_error);
        }
        std::atomic<index_t> sum{0};
        parallel_for(1000, threads, [&](index_t i) { sum += i; });
        CHECK(sum.load() == 999 * 1000 / 2);
    }
}

// A loop inside an item runs serially on that thread (no deadlock), with its
// own tids starting at 0; exceptions from it reach the outer caller.
static void test_nested() {
    std::vector<std::atomic<index_t>> sums(64);
    parallel_for(
        64, 4,
        [&](index_t i) {
            parallel_for_tid(100, 4, [&](index_t j, int tid) {
                if (tid != 0) sums[static_cast<std::size_t>(i)] += 1000000;
                sums[static_cast<std::size_t>(i)] += j;
            });
        },
        std::chrono::nanoseconds(0));
    for (auto& s : sums) CHECK(s.load() == 4950);
    CHECK_THROWS(parallel_for(
                     8, 4,
                     [&](index_t) {
                         parallel_for(10, 4, [&](index_t j) {
                             if (j == 9) throw std::logic_error("inner");
                         });
                     },
                     std::chrono::nanoseconds(0)),
                 std::logic_error);
}

// Several threads call at once: one gets the pool, the others run serially;
// every result is complete.
static void test_concurrent_callers() {
    std::vector<std::thread> callers;
    std::atomic<int> wrong{0};
    for (int c = 0; c < 4; ++c) {
        callers.emplace_back([&, c] {
            for (int round = 0; round < 50; ++round) {
                std::vector<int> out(500, 0);
                parallel_for(
                    500, 3, [&](index_t i) { out[static_cast<std::size_t>(i)] = static_cast<int>(i) + c; },
                    std::chrono::nanoseconds(0));
                for (int i = 0; i < 500; ++i)
                    if (out[static_cast<std::size_t>(i)] != i + c) ++wrong;
            }
        });
    }
    for (auto& t : callers) t.join();
    CHECK(wrong.load() == 0);
}

// A scope whose poll says stop: the loop throws Interrupted on the caller,
// workers stop at their cancellation points, no item runs after the call returns.
static void test_cancellation() {
    for (int threads : {1, 2, 4}) {
        std::atomic<int> running{0};
        std::atomic<index_t> started{0};
        const auto t0 = std::chrono::steady_clock::now();
        bool interrupted = false;
        try {
            CancelScope scope([t0] { return std::chrono::steady_clock::now() - t0 > 100ms; });
            parallel_for(
                1000000, threads,
                [&](index_t) {
                    running.fetch_add(1);
                    started.fetch_add(1);
                    busy_for(std::chrono::microseconds(200));
                    running.fetch_sub(1);
                    cancellation_point();
                },
                std::chrono::nanoseconds(0));
        } catch (const Interrupted&) {
            interrupted = true;
        }
        const double latency =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() - 0.1;
        CHECK(interrupted);
        CHECK(latency < 0.2);
        CHECK(started.load() < 1000000);
        const index_t after = started.load();
        std::this_thread::sleep_for(20ms);
        CHECK(started.load() == after);  // nothing runs once the call is over
        CHECK(running.load() == 0);
        std::printf("threads %d: interrupted after %.1f ms past the request\n", threads, latency * 1e3);
    }
    // no scope: cancellation points are no-ops
    CHECK(!cancel_requested());
    cancellation_point();
}

// The work-size rule's head: doubles while the team is not clearly faster, up
// to the maximum; one fast report brings it back to the minimum at once; one
// call in probe_every asks for the minimum whatever the head is.
static void test_head_tuner() {
    detail::HeadTuner tuner;
    const auto lo = std::chrono::nanoseconds(min_serial_head), hi = std::chrono::nanoseconds(max_serial_head);
    CHECK(tuner.head() == lo);  // call 0 is a probe
    for (int r = 0; r < 20; ++r) tuner.report(1.0, 1.1);  // the team no faster: a busy machine
    unsigned calls = 1;
    CHECK(tuner.head() == hi);
    ++calls;
    for (; calls % detail::HeadTuner::probe_every != 0; ++calls) CHECK(tuner.head() == hi);
    CHECK(tuner.head() == lo);  // the probe
    tuner.report(1.0, 1.9);  // the probe found the team faster: a quiet machine again
    CHECK(tuner.head() == lo);
}

int main() {
    test_head_tuner();
    test_items_and_tids();
    test_exceptions();
    test_nested();
    test_concurrent_callers();
    test_cancellation();
    TEST_MAIN_END();
}
