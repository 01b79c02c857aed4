#include "gno/render/work_crew.hpp"

#include <pthread.h>
#include <sched.h>

namespace gno::render {
namespace {

constexpr int k_spins = 1000; // some µs of polling before sleeping on the futex

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

} // namespace

work_crew::work_crew(int threads, bool realtime) {
    // A member starts from the generation of construction: a job posted before its thread
    // first runs is still new to it.
    const std::uint32_t start = generation_.load();
    for (int i = 1; i < threads; ++i)
        members_.emplace_back([this, i, realtime, start] { member_loop(i, realtime, start); });
}

work_crew::~work_crew() {
    stopping_.store(true);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    for (auto& t : members_)
        t.join();
}

void work_crew::member_loop(int index, bool realtime, std::uint32_t seen) {
    if (realtime) {
        sched_param p{};
        p.sched_priority = 70;
        if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &p) != 0)
            refused_.fetch_add(1);
    }
    for (;;) {
        std::uint32_t now = seen;
        for (int spin = 0; spin < k_spins && now == seen; ++spin) {
            cpu_relax();
            now = generation_.load(std::memory_order_acquire);
        }
        while (now == seen) {
            generation_.wait(seen, std::memory_order_acquire);
            now = generation_.load(std::memory_order_acquire);
        }
        seen = now;
        if (stopping_.load())
            return;
        fn_(job_, index);
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1)
            pending_.notify_one();
    }
}

void work_crew::run_erased(void* job, entry fn) noexcept {
    if (members_.empty()) {
        fn(job, 0);
        return;
    }
    job_ = job;
    fn_ = fn;
    pending_.store(static_cast<std::uint32_t>(members_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    fn(job, 0);
    std::uint32_t left = pending_.load(std::memory_order_acquire);
    for (int spin = 0; spin < k_spins && left != 0; ++spin) {
        cpu_relax();
        left = pending_.load(std::memory_order_acquire);
    }
    while (left != 0) {
        pending_.wait(left, std::memory_order_acquire);
        left = pending_.load(std::memory_order_acquire);
    }
}

} // namespace gno::render
