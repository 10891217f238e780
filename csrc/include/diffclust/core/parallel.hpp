// parallel_for on std::thread: a worker's exception stops the loop and is
// rethrown on the calling thread after every worker has joined.
#pragma once

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define DIFFCLUST_HAVE_ATFORK 1
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

#include "diffclust/core/types.hpp"

namespace diffclust {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(_M_X64)
    _mm_pause();
#endif
}

// A persistent pool of worker threads, so that short parallel calls do not pay
// for starting threads (tens of microseconds each). One job at a time: a
// caller that finds the pool busy (another thread's job, or a nested call from
// a worker) gets `false` from try_run and starts threads of its own instead.
// Idle workers spin briefly for the next job, then sleep. After fork() the
// child, which has no workers, builds a fresh pool.
class ThreadPool {
public:
    static ThreadPool& instance() {
        static ThreadPool* pool = nullptr;
        // fork() holds `guard` so that the child never inherits it locked by a thread it does not have
#ifdef DIFFCLUST_HAVE_ATFORK
        static std::once_flag at_fork;
        std::call_once(at_fork, [] {
            pthread_atfork([] { guard().lock(); }, [] { guard().unlock(); },
                           [] {
                               forked().store(true);
                               guard().unlock();
                           });
        });
#endif
        std::lock_guard<std::mutex> lock(guard());
        if (pool == nullptr || forked().exchange(false)) pool = new ThreadPool();  // the forked child's is leaked
        return *pool;
    }

    // Runs work(tid) for tid in [0, team) with tid 0 on the caller; returns the
    // team size used (up to `team`), or 0 if the pool is busy. on_size(size)
    // runs first, before any work starts. work must not throw.
    template <class Work, class OnSize>
    int try_run(int team, Work&& work, OnSize&& on_size) {
        std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
        if (!busy.owns_lock()) return 0;
        grow(team - 1);
        const int size = std::min(team, static_cast<int>(workers_.size()) + 1);
        on_size(size);
        if (size <= 1) {
            work(0);
            return 1;
        }
        auto call = [&work](int tid) { work(tid); };
        job_ = std::function<void(int)>(call);
        pending_.store(size - 1, std::memory_order_relaxed);
        {
            // generation and team size in one word: a worker reads both at once
            std::lock_guard<std::mutex> lock(sleep_mutex_);
            const std::uint64_t next = (word_.load(std::memory_order_relaxed) >> 16) + 1;
            word_.store((next << 16) | static_cast<std::uint64_t>(size), std::memory_order_release);
        }
        if (sleepers_.load(std::memory_order_acquire) > 0) wake_.notify_all();
        work(0);
        for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
            if (spin < 4096) {
                cpu_relax();
            } else {
                std::this_thread::yield();
            }
        }
        job_ = nullptr;  // every participant is done with it
        return size;
    }

    template <class Work>
    int try_run(int team, Work&& work) {
        return try_run(team, std::forward<Work>(work), [](int) {});
    }

    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

private:
    ThreadPool() = default;

    static std::mutex& guard() {
        static std::mutex m;
        return m;
    }

    static std::atomic<bool>& forked() {
        static std::atomic<bool> flag{false};
        return flag;
    }

    void grow(int wanted) {
        wanted = std::min(wanted, max_workers);
        while (static_cast<int>(workers_.size()) < wanted) {
            const int id = static_cast<int>(workers_.size()) + 1;
            // the word before the next job: a worker that starts late must not miss that job
            const std::uint64_t before = word_.load(std::memory_order_acquire);
            try {
                workers_.emplace_back([this, id, before] { loop(id, before); });
                workers_.back().detach();  // the pool lives until the process ends
            } catch (...) {
                return;  // could not start a thread: run with the ones we have
            }
        }
    }

    // A worker runs every job whose team includes it: the caller waits for all
    // participants before it posts the next job, so none is missed or run twice.
    void loop(int id, std::uint64_t seen) {
        for (;;) {
            // spin for about 100 microseconds, then sleep until the next job
            const auto start = std::chrono::steady_clock::now();
            std::uint64_t word;
            for (int spin = 0; (word = word_.load(std::memory_order_acquire)) == seen; ++spin) {
                cpu_relax();
                if ((spin & 255) == 255 && std::chrono::steady_clock::now() - start > std::chrono::microseconds(100)) {
                    std::unique_lock<std::mutex> lock(sleep_mutex_);
                    sleepers_.fetch_add(1, std::memory_order_acq_rel);
                    wake_.wait(lock, [&] { return word_.load(std::memory_order_acquire) != seen; });
                    sleepers_.fetch_sub(1, std::memory_order_acq_rel);
                }
            }
            seen = word;
            if (id < static_cast<int>(word & 0xFFFFu)) {
                job_(id);
                pending_.fetch_sub(1, std::memory_order_acq_rel);
            }
        }
    }

    static constexpr int max_workers = 255;
    std::mutex busy_;
    std::vector<std::thread> workers_;
    std::function<void(int)> job_;
    alignas(64) std::atomic<std::uint64_t> word_{0};
    alignas(64) std::atomic<int> pending_{0};
    std::atomic<int> sleepers_{0};
    std::mutex sleep_mutex_;
    std::condition_variable wake_;
};

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
    if (ThreadPool::instance().try_run(team, work) == 0) {  // pool busy: threads of our own
        std::vector<std::thread> workers;
        workers.reserve(static_cast<std::size_t>(team - 1));
        try {
            for (int t = 1; t < team; ++t) workers.emplace_back(work, t);
        } catch (...) {
            // Could not start a thread: finish with the ones we have.
        }
        work(0);
        for (auto& w : workers) w.join();
    }
    if (error) std::rethrow_exception(error);
}

// Calls fn(i) for i in [0, n) on up to n_threads threads.
template <class Fn>
void parallel_for(index_t n, int n_threads, Fn&& fn) {
    parallel_for_tid(n, n_threads, [&](index_t i, int) { fn(i); });
}

// ---------------------------------------------------------------------------
// A persistent team for algorithms with many short phases (Prim's steps).

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
    int size = 0;
    std::exception_ptr error;
    std::mutex error_mutex;
    auto member = [&](int tid) {  // fn may throw only before the first barrier (see above)
        try {
            fn(tid, size, barrier);
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
        }
    };
    if (ThreadPool::instance().try_run(wanted, member, [&](int s) {
            size = s;
            barrier.set_count(s);
        }) != 0) {
        if (error) std::rethrow_exception(error);
        return size;
    }
    // pool busy: threads of our own
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
    size = static_cast<int>(workers.size()) + 1;
    barrier.set_count(size);
    team.store(size, std::memory_order_release);
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
