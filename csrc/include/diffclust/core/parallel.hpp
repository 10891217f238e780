// The one thread pool of the core, and parallel_for on it.
//
// parallel_for_tid(n, n_threads, fn) calls fn(i, tid) for i in [0, n). Items
// are claimed one at a time from a shared atomic counter, by the caller (tid 0)
// and by whichever pool workers are awake; the caller waits only for the items
// a worker has actually claimed, so a worker that the OS has not scheduled yet
// never holds the caller back: it finds no item left. Tiny jobs never wake a
// worker: the caller runs the first items itself and publishes the rest only
// once `serial_head` has passed (the work-size rule, adapted to how much the
// team actually helps on this machine: see detail::HeadTuner).
//
// Guarantees, on every path:
// - an exception thrown by fn (on any thread) stops the loop (no new item
//   starts) and is rethrown on the caller once every claimed item has ended;
// - a worker works for the caller's cancellation scope (core/cancel.hpp): its
//   cancellation points stop too, and every item is followed by one;
// - a nested call (fn calling parallel_for) runs serially on its thread, and so
//   does a call that finds the pool busy with another thread's loop;
// - tid < min(n_threads, n), and no two threads run with the same tid at once.
// Results must never depend on the schedule: fn writes only to places owned by
// item i or by tid.
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
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

#include "diffclust/core/cancel.hpp"
#include "diffclust/core/types.hpp"

namespace diffclust {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(_M_X64)
    _mm_pause();
#endif
}

// How long the caller runs a loop alone before it asks the pool for help:
// `adaptive_head` (the default) lets the pool choose (see detail::HeadTuner).
constexpr std::chrono::nanoseconds adaptive_head{-1};
constexpr std::chrono::microseconds min_serial_head{30};
constexpr std::chrono::microseconds max_serial_head{4000};
constexpr std::chrono::nanoseconds default_serial_head = adaptive_head;

namespace detail {

// True while the thread runs items of a parallel loop: a nested loop then runs
// serially on that thread.
inline bool& in_parallel_loop() noexcept {
    thread_local bool flag = false;
    return flag;
}

class LoopMark {
public:
    LoopMark() noexcept : previous_(in_parallel_loop()) { in_parallel_loop() = true; }
    ~LoopMark() { in_parallel_loop() = previous_; }
    LoopMark(const LoopMark&) = delete;
    LoopMark& operator=(const LoopMark&) = delete;

private:
    bool previous_;
};

// The work-size rule. The caller runs a loop alone for `head`, then asks the
// pool for help with the rest; it compares its rate alone (items per second)
// with the team's. When the team is not clearly faster (other processes hold
// the cores, workers wake late or get preempted while the caller waits for
// them), the head doubles, up to max_serial_head: loops shorter than that then
// run on the caller alone. When the team is faster, the head goes back to
// min_serial_head at once. One call in 64 probes with the shortest head, so
// that a machine that has become quiet is noticed within 64 calls (a loop that
// runs wholly inside a long head reports nothing, so only the probes can bring
// the head back; shrinking it step by step took thousands of calls after a
// busy spell). (Results never depend on it.)
// There is one tuner per call site (per loop body type), so that a loop that
// does not scale (Prim's short steps) does not make every other kernel serial.
class HeadTuner {
public:
    std::chrono::nanoseconds head() noexcept {
        if ((calls_.fetch_add(1, std::memory_order_relaxed) & (probe_every - 1)) == 0) return min_serial_head;
        return std::chrono::nanoseconds(head_ns_.load(std::memory_order_relaxed));
    }
    void report(double alone_rate, double team_rate) noexcept {
        const std::int64_t h = head_ns_.load(std::memory_order_relaxed);
        const std::int64_t lo = std::chrono::nanoseconds(min_serial_head).count();
        const std::int64_t hi = std::chrono::nanoseconds(max_serial_head).count();
        head_ns_.store(team_rate < 1.2 * alone_rate ? std::min(hi, 2 * h) : lo, std::memory_order_relaxed);
    }
    static constexpr unsigned probe_every = 64;  // a power of two

private:
    std::atomic<std::int64_t> head_ns_{std::chrono::nanoseconds(min_serial_head).count()};
    std::atomic<unsigned> calls_{0};
};

// One parallel loop: the items' function and what its participants share. It
// lives on the caller's stack; a worker touches it only while it holds a
// claimed item (the caller waits for those).
struct PoolJob {
    void (*call)(void* ctx, index_t item, int tid) = nullptr;
    void* ctx = nullptr;
    CancelState* cancel = nullptr;
    std::atomic<index_t> done{0};  // claimed items that have ended
    std::atomic<bool> failed{false};
    std::mutex error_mutex;
    std::exception_ptr error;

    // Runs one item (skipped once the loop failed), then a cancellation point.
    void run(index_t item, int tid) noexcept {
        if (failed.load(std::memory_order_relaxed)) return;
        try {
            call(ctx, item, tid);
            cancellation_point();
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
            failed.store(true, std::memory_order_relaxed);
        }
    }
};

}  // namespace detail

// Timing of one loop as the caller saw it (for callers that adapt, like Prim's team).
struct LoopReport {
    index_t by_others = 0;  // items run by pool workers
    bool waited = false;    // the caller had to yield while a worker finished its item
};

// A persistent pool of worker threads, one loop at a time. The loop state is
// one 64-bit word: generation (32 bits) | next item (32 bits); items are
// claimed with compare-and-swap on the word, so a claim can never leak into
// another loop. Worker w (w = 1, 2, ...) is tid w of every loop whose team is
// larger than w, and ignores the others. A worker spins for the next loop
// while it has worked in the last millisecond (spin_window_us), then sleeps;
// the caller wakes only the sleeping members of its team. After fork() the
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

    static constexpr index_t max_items = (index_t(1) << 32) - 2;
    static constexpr int max_workers = 255;

    // Runs job items [0, n) (n <= max_items) on a team of up to `team` threads,
    // the caller being tid 0. Returns false, running nothing, if the pool is busy.
    bool try_run(detail::PoolJob& job, index_t n, int team, LoopReport& report) {
        if (busy_.exchange(true, std::memory_order_acquire)) return false;
        struct Release {
            std::atomic<bool>& flag;
            ~Release() { flag.store(false, std::memory_order_release); }
        } release{busy_};
        grow(team - 1);
        const int size = std::min(team, static_cast<int>(workers_.size()) + 1);
        if (size <= 1) {
            detail::LoopMark mark;
            for (index_t i = 0; i < n && !job.failed.load(std::memory_order_relaxed); ++i) job.run(i, 0);
            return true;
        }
        job_.store(&job, std::memory_order_release);
        n_.store(n, std::memory_order_release);
        team_.store(size, std::memory_order_release);
        const std::uint64_t gen = (word_.load(std::memory_order_relaxed) >> gen_shift) + 1;
        word_.store(gen << gen_shift, std::memory_order_seq_cst);
        for (int w = 1; w < size; ++w) {
            Worker& worker = *workers_[static_cast<std::size_t>(w - 1)];
            if (worker.sleeping.load(std::memory_order_seq_cst)) {
                { std::lock_guard<std::mutex> lock(worker.mutex); }  // it is asleep, or will see the new word
                worker.wake.notify_one();
            }
        }
        index_t mine = 0;
        {
            detail::LoopMark mark;
            std::uint64_t w = word_.load(std::memory_order_acquire);
            while (static_cast<index_t>(w & next_mask) < n && !job.failed.load(std::memory_order_relaxed)) {
                if (word_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
                    job.run(static_cast<index_t>(w & next_mask), 0);
                    ++mine;
                    w = word_.load(std::memory_order_acquire);
                }
            }
        }
        // Close the loop: from now on no claim succeeds; wait for the claimed items.
        std::uint64_t w = word_.load(std::memory_order_acquire);
        while (!word_.compare_exchange_weak(w, (w & ~next_mask) | next_mask, std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
        }
        const index_t claimed = std::min(static_cast<index_t>(w & next_mask), n);
        const index_t others = claimed - mine;
        report.by_others = others;
        if (others > 0) {
            for (int spin = 0; job.done.load(std::memory_order_acquire) != others; ++spin) {
                if (spin < 4096) {
                    cpu_relax();
                } else {
                    report.waited = true;
                    poll_cancel();  // the workers' cancellation points see the flag
                    std::this_thread::yield();
                }
            }
        }
        job_.store(nullptr, std::memory_order_relaxed);
        return true;
    }

    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

private:
    ThreadPool() = default;

    // How long an idle worker spins for the next loop before it sleeps: a sleeping
    // worker takes 20-60 us to wake here, and the torch and JAX operators come back
    // after 100-300 us of Python between kernel calls (measured: torch loss +
    // backward over the NumPy call at n = 64, 1.33 with 100 us, 1.28 with 1 ms).
    static constexpr int spin_window_us = 1000;
    static constexpr int gen_shift = 32;
    static constexpr std::uint64_t next_mask = (std::uint64_t(1) << 32) - 1;

    struct Worker {
        std::mutex mutex;
        std::condition_variable wake;
        alignas(64) std::atomic<bool> sleeping{false};
    };

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
            // the generation before the next loop: a worker that starts late must not miss it
            const std::uint64_t before = word_.load(std::memory_order_acquire) >> gen_shift;
            try {
                workers_.push_back(std::make_unique<Worker>());
                Worker* self = workers_.back().get();
                std::thread([this, self, id, before] { loop(*self, id, before); }).detach();  // lives until exit
            } catch (...) {
                if (!workers_.empty() && static_cast<int>(workers_.size()) == id) workers_.pop_back();
                return;  // could not start a thread: run with the ones we have
            }
        }
    }

    void loop(Worker& self, int id, std::uint64_t seen) {
        auto last_work = std::chrono::steady_clock::now();
        for (;;) {
            // the next loop whose team includes this worker
            std::uint64_t w;
            for (int spin = 0;; ++spin) {
                w = word_.load(std::memory_order_acquire);
                if ((w >> gen_shift) != seen) {
                    seen = w >> gen_shift;
                    if (id < team_.load(std::memory_order_acquire)) break;
                }
                cpu_relax();
                if ((spin & 255) == 255 &&
                    std::chrono::steady_clock::now() - last_work > std::chrono::microseconds(spin_window_us)) {
                    std::unique_lock<std::mutex> lock(self.mutex);
                    self.sleeping.store(true, std::memory_order_seq_cst);
                    self.wake.wait(lock, [&] { return (word_.load(std::memory_order_seq_cst) >> gen_shift) != seen; });
                    self.sleeping.store(false, std::memory_order_relaxed);
                }
            }
            detail::LoopMark mark;
            bool worked = false;
            for (;; w = word_.load(std::memory_order_acquire)) {
                if ((w >> gen_shift) != seen) break;
                if (static_cast<index_t>(w & next_mask) >= n_.load(std::memory_order_acquire)) break;
                if (!word_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel, std::memory_order_acquire))
                    continue;
                // The claim holds the caller in its loop: the job is alive until `done` counts it.
                detail::PoolJob* job = job_.load(std::memory_order_acquire);
                {
                    CancelAdopt adopt(job->cancel);
                    job->run(static_cast<index_t>(w & next_mask), id);
                }
                job->done.fetch_add(1, std::memory_order_acq_rel);
                worked = true;
            }
            if (worked) last_work = std::chrono::steady_clock::now();
        }
    }

    std::atomic<bool> busy_{false};
    std::vector<std::unique_ptr<Worker>> workers_;
    alignas(64) std::atomic<std::uint64_t> word_{0};
    alignas(64) std::atomic<detail::PoolJob*> job_{nullptr};
    std::atomic<index_t> n_{0};
    std::atomic<int> team_{0};
};

// Calls fn(i, thread_id) for i in [0, n), thread_id in [0, min(n_threads, n)),
// as described at the top of this file. `serial_head`: how long the caller
// works alone before publishing the remaining items (0: publish at once, for
// loops whose every item is worth a thread, like the steps of Prim's team).
template <class Fn>
LoopReport parallel_for_tid(index_t n, int n_threads, Fn&& fn,
                            std::chrono::nanoseconds serial_head = default_serial_head) {
    LoopReport report;
    if (n <= 0) return report;
    const int team = static_cast<int>(std::max<index_t>(1, std::min<index_t>(n_threads, n)));
    index_t i = 0;
    if (team == 1 || detail::in_parallel_loop()) {  // (a loop inside a serial loop may still use the pool)
        for (; i < n; ++i) {
            fn(i, 0);
            cancellation_point();
        }
        return report;
    }
    static detail::HeadTuner tuner;  // this call site's (see HeadTuner)
    const bool adaptive = serial_head.count() < 0;
    // A loop of a few items (at most two per thread) is published at once: a head
    // would make the caller run a whole item alone while the team waits.
    if (n <= 2 * static_cast<index_t>(team)) serial_head = std::chrono::nanoseconds(0);
    else if (adaptive) serial_head = tuner.head();
    auto start = std::chrono::steady_clock::now();
    if (serial_head.count() > 0) {
        while (i < n) {
            fn(i++, 0);
            cancellation_point();
            if (std::chrono::steady_clock::now() - start >= serial_head) break;
        }
        if (i == n) return report;
    }
    const auto published = std::chrono::steady_clock::now();
    // Items [i, n) in blocks of `per` (one block each unless n is huge).
    const index_t first = i, rest = n - i;
    const index_t per = (rest + ThreadPool::max_items - 1) / ThreadPool::max_items;
    const index_t blocks = (rest + per - 1) / per;
    auto block = [&](index_t b, int tid) {
        const index_t b0 = first + b * per, b1 = std::min(n, b0 + per);
        for (index_t j = b0; j < b1; ++j) fn(j, tid);
    };
    using Block = decltype(block);
    detail::PoolJob job;
    job.call = [](void* ctx, index_t b, int tid) { (*static_cast<Block*>(ctx))(b, tid); };
    job.ctx = &block;
    job.cancel = current_cancel_state();
    const int blocks_team = static_cast<int>(std::min<index_t>(team, blocks));
    if (!ThreadPool::instance().try_run(job, blocks, blocks_team, report)) {
        // the pool runs another thread's loop: this one runs serially
        for (index_t b = 0; b < blocks; ++b) {
            block(b, 0);
            cancellation_point();
        }
        return report;
    }
    if (job.error) std::rethrow_exception(job.error);
    if (adaptive && i > 0) {
        const auto end = std::chrono::steady_clock::now();
        const double alone = static_cast<double>(i) / std::chrono::duration<double>(published - start).count();
        const double team_rate = static_cast<double>(n - i) / std::chrono::duration<double>(end - published).count();
        tuner.report(alone, team_rate);
    }
    return report;
}

// Calls fn(i) for i in [0, n) on up to n_threads threads.
template <class Fn>
void parallel_for(index_t n, int n_threads, Fn&& fn, std::chrono::nanoseconds serial_head = default_serial_head) {
    parallel_for_tid(n, n_threads, [&](index_t i, int) { fn(i); }, serial_head);
}

}  // namespace diffclust
