#include "gno/render/render_clock.hpp"

#include <cerrno>
#include <cstring>
#include <pthread.h>
#include <sched.h>
#include <string>
#include <time.h>

namespace gno::render {

std::int64_t monotonic_ns() noexcept {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

render_clock::render_clock(int sample_rate, int frame_samples, node_counters& counters)
    : epoch_ns_(monotonic_ns()),
      period_ns_(std::int64_t{frame_samples} * 1'000'000'000 / sample_rate),
      frame_samples_(frame_samples), counters_(counters) {}

std::int64_t render_clock::now_ns() const noexcept {
    return monotonic_ns() - epoch_ns_;
}

void render_clock::sleep_until(std::int64_t server_ns) const noexcept {
    const std::int64_t abs = epoch_ns_ + server_ns;
    timespec ts{static_cast<time_t>(abs / 1'000'000'000), static_cast<long>(abs % 1'000'000'000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
}

bool render_clock::try_realtime_priority(std::string& why) {
    sched_param p{};
    p.sched_priority = 70;
    const int rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &p);
    if (rc != 0) {
        why = std::strerror(rc);
        return false;
    }
    return true;
}

} // namespace gno::render
