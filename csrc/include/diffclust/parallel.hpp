// parallel_for on std::thread: a worker's exception stops the loop and is
// rethrown on the calling thread after every worker has joined.
#pragma once

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

#include "types.hpp"

namespace diffclust {

// Calls fn(i, thread_id) for i in [0, n), thread_id in [0, n_threads). Items are
// handed out dynamically, so fn must write only to places owned by item i or by
// thread_id; the schedule must never change what is computed.
template <class Fn>
void parallel_for_tid(index_t n, int n_threads, Fn&& fn) {
    if (n <= 0) return;
    const int team = static_cast<int>(std::max<index_t>(1, std::min<index_t>(n_threads, n)));
    if (team == 1) {
        for (index_t i = 0; i < n; ++i) fn(i, 0);
        return;
    }
    std::atomic<index_t> next{0};
    std::atomic<bool> failed{false};
    std::exception_ptr error;
    std::mutex error_mutex;
    auto work = [&](int tid) {
        try {
            while (!failed.load(std::memory_order_relaxed)) {
                const index_t i = next.fetch_add(1, std::memory_order_relaxed);
                if (i >= n) break;
                fn(i, tid);
            }
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
            failed.store(true);
        }
    };
    std::vector<std::thread> workers;
    workers.reserve(static_cast<std::size_t>(team - 1));
    try {
        for (int t = 1; t < team; ++t) workers.emplace_back(work, t);
    } catch (...) {
        // Could not start a thread: finish with the ones we have.
    }
    work(0);
    for (auto& w : workers) w.join();
    if (error) std::rethrow_exception(error);
}

// Calls fn(i) for i in [0, n) on up to n_threads threads.
template <class Fn>
void parallel_for(index_t n, int n_threads, Fn&& fn) {
    parallel_for_tid(n, n_threads, [&](index_t i, int) { fn(i); });
}

// ---------------------------------------------------------------------------
// A persistent team for algorithms with many short phases (Prim's steps).

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(_M_X64)
    _mm_pause();
#endif
}

// A reusable barrier for a fixed team: spins briefly (phases are microseconds
// long), then yields, so an oversubscribed machine is not starved.
class SpinBarrier {
public:
    explicit SpinBarrier(int count) : count_(count) {}
    void set_count(int count) noexcept { count_ = count; }  // only while nobody waits
    // Returns true if this thread had to yield while waiting (a peer was late:
    // descheduled, or the machine is oversubscribed).
    bool arrive_and_wait() noexcept {
        const unsigned gen = generation_.load(std::memory_order_acquire);
        if (arrived_.fetch_add(1, std::memory_order_acq_rel) == count_ - 1) {
            arrived_.store(0, std::memory_order_relaxed);
            generation_.store(gen + 1, std::memory_order_release);
            return false;
        }
        bool yielded = false;
        for (int spin = 0; generation_.load(std::memory_order_acquire) == gen; ++spin) {
            if (spin < 2048) {
                cpu_relax();
            } else {
                std::this_thread::yield();
                yielded = true;
            }
        }
        return yielded;
    }

private:
    alignas(64) std::atomic<int> arrived_{0};
    alignas(64) std::atomic<unsigned> generation_{0};
    int count_;
};

// Runs fn(tid, team, barrier) on a team of up to n_threads threads (the caller
// is tid 0) and returns the team size used; `barrier` is a SpinBarrier for the
// whole team. The size is fixed before any fn starts: if a thread cannot be
// started, the team is smaller. fn must not throw while others may wait at the
// barrier (allocate before calling run_team); an exception from the caller's
// own fn is rethrown after the workers have joined.
template <class Fn>
int run_team(int n_threads, Fn&& fn) {
    const int wanted = std::max(1, n_threads);
    SpinBarrier barrier(1);
    if (wanted == 1) {
        fn(0, 1, barrier);
        return 1;
    }
    std::atomic<int> team{0};
    std::vector<std::thread> workers;
    workers.reserve(static_cast<std::size_t>(wanted - 1));
    for (int t = 1; t < wanted; ++t) {
        try {
            workers.emplace_back([&team, &fn, &barrier, t] {
                int size;
                while ((size = team.load(std::memory_order_acquire)) == 0) std::this_thread::yield();
                if (t < size) fn(t, size, barrier);
            });
        } catch (...) {
            break;  // could not start a thread: run with the ones we have
        }
    }
    const int size = static_cast<int>(workers.size()) + 1;
    barrier.set_count(size);
    team.store(size, std::memory_order_release);
    std::exception_ptr error;
    try {
        fn(0, size, barrier);
    } catch (...) {
        error = std::current_exception();
    }
    for (auto& w : workers) w.join();
    if (error) std::rethrow_exception(error);
    return size;
}

}  // namespace diffclust
