// The one cancellation hook of the core (DESIGN §4: Ctrl-C stops any kernel
// within 0.5 s and leaves no worker running).
//
// A caller that can be interrupted (the Python bindings) opens a CancelScope on
// its thread with a poll function; every long kernel calls cancellation_point()
// between pieces of work of a few milliseconds at most. On the thread that
// opened the scope, the point polls (at most every `poll_interval`); once the
// poll says stop, the scope's flag is raised and every thread that reaches a
// cancellation point of the same scope throws `Interrupted`. The thread pool
// (parallel.hpp) carries the caller's scope into its workers, so a worker's
// throw ends the parallel loop and reaches the caller like any other error.
// Without a scope (C++ callers, tests) a cancellation point costs one
// thread-local load.
#pragma once

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <thread>
#include <utility>

namespace diffclust {

// Thrown by cancellation_point() once the scope's poll asked to stop.
struct Interrupted : std::exception {
    const char* what() const noexcept override { return "interrupted"; }
};

struct CancelState {
    std::function<bool()> poll;  // true = stop; called on `owner` only
    std::thread::id owner;
    std::atomic<bool> stop{false};
    std::chrono::steady_clock::time_point last_poll;
};

constexpr std::chrono::milliseconds poll_interval{50};

// The scope that the calling thread works for (nullptr: none).
inline CancelState*& current_cancel_state() noexcept {
    thread_local CancelState* state = nullptr;
    return state;
}

// Installs a poll function for the current thread for the scope's lifetime.
class CancelScope {
public:
    explicit CancelScope(std::function<bool()> poll) : previous_(current_cancel_state()) {
        state_.poll = std::move(poll);
        state_.owner = std::this_thread::get_id();
        state_.last_poll = std::chrono::steady_clock::now();
        current_cancel_state() = &state_;
    }
    ~CancelScope() { current_cancel_state() = previous_; }
    CancelScope(const CancelScope&) = delete;
    CancelScope& operator=(const CancelScope&) = delete;

private:
    CancelState state_;
    CancelState* previous_;
};

// Makes a worker thread work for `state` (the caller's scope) while it lives.
class CancelAdopt {
public:
    explicit CancelAdopt(CancelState* state) noexcept : previous_(current_cancel_state()) {
        current_cancel_state() = state;
    }
    ~CancelAdopt() { current_cancel_state() = previous_; }
    CancelAdopt(const CancelAdopt&) = delete;
    CancelAdopt& operator=(const CancelAdopt&) = delete;

private:
    CancelState* previous_;
};

// Whether the current scope has been asked to stop (no polling, no throw).
inline bool cancel_requested() noexcept {
    const CancelState* s = current_cancel_state();
    return s != nullptr && s->stop.load(std::memory_order_relaxed);
}

// On the scope's own thread: polls (at most every poll_interval) and raises the
// scope's flag if asked to stop, without throwing; elsewhere only reads the
// flag. Returns whether the scope is stopping. A caller that waits for workers
// calls it, so that their cancellation points see the request.
inline bool poll_cancel() noexcept {
    CancelState* s = current_cancel_state();
    if (s == nullptr) return false;
    if (s->stop.load(std::memory_order_relaxed)) return true;
    if (!s->poll || std::this_thread::get_id() != s->owner) return false;
    const auto now = std::chrono::steady_clock::now();
    if (now - s->last_poll < poll_interval) return false;
    s->last_poll = now;
    bool stop = false;
    try {
        stop = s->poll();
    } catch (...) {
        stop = true;
    }
    if (stop) s->stop.store(true, std::memory_order_relaxed);
    return stop;
}

// Throws Interrupted if the current scope was asked to stop; on the scope's own
// thread, polls first when poll_interval has passed since the last poll.
inline void cancellation_point() {
    CancelState* s = current_cancel_state();
    if (s == nullptr) return;
    if (s->stop.load(std::memory_order_relaxed)) throw Interrupted();
    if (poll_cancel()) throw Interrupted();
}

}  // namespace diffclust
