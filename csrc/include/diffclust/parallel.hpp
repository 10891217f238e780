// parallel_for on std::thread: a worker's exception stops the loop and is
// rethrown on the calling thread after every worker has joined.
#pragma once

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

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

}  // namespace diffclust
