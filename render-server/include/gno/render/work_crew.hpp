#pragma once
// Fork-join over a fixed crew of threads for the render path (DESIGN.md §7): the render thread
// hands one job to every member, does its own share, and waits until all have finished — a
// per-frame barrier. Work is shared by the job itself (members take items from an atomic
// counter), so a slow or pre-empted member only delays the items it holds.
//
// Thread: construct and destroy on a control thread; run() on the render thread only.
// Realtime-safe: run() does not allocate, lock or log. Members wait for work by spinning
// briefly and then on a futex (std::atomic::wait); the render thread waits the same way for
// the last member, which is the barrier any parallel frame needs.

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace gno::render {

class work_crew {
public:
    /// `threads` members in all, the caller of run() included (so 1 = no extra thread).
    /// `realtime`: members ask for the render thread's real-time priority (best effort).
    explicit work_crew(int threads, bool realtime = false);
    ~work_crew();
    work_crew(const work_crew&) = delete;
    work_crew& operator=(const work_crew&) = delete;

    [[nodiscard]] int size() const noexcept { return static_cast<int>(members_.size()) + 1; }

    /// Runs job(member) on every member (the caller is member 0) and returns when all have
    /// returned. The job must not throw.
    template <typename Job>
    void run(Job& job) noexcept {
        run_erased(&job, [](void* j, int member) noexcept { (*static_cast<Job*>(j))(member); });
    }

    /// How many members asked for real-time priority and did not get it.
    [[nodiscard]] int realtime_refused() const noexcept { return refused_.load(); }

private:
    using entry = void (*)(void*, int) noexcept;
    void run_erased(void* job, entry fn) noexcept;
    void member_loop(int index, bool realtime, std::uint32_t seen);

    static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
    std::atomic<std::uint32_t> generation_{0}; // bumped once per job
    std::atomic<std::uint32_t> pending_{0};    // members still working on the current job
    std::atomic<bool> stopping_{false};
    std::atomic<int> refused_{0};
    void* job_ = nullptr; // published by the release of generation_
    entry fn_ = nullptr;
    std::vector<std::thread> members_;
};

/// A counter members take work items from: next() returns each index in [0, count) once.
class work_items {
public:
    explicit work_items(int count) noexcept : count_(count) {}
    /// Any member. -1 when all items are taken.
    int next() noexcept {
        const int i = next_.fetch_add(1, std::memory_order_relaxed);
        return i < count_ ? i : -1;
    }

private:
    std::atomic<int> next_{0};
    int count_;
};

} // namespace gno::render
