#include "gno/client/clock_estimator.hpp"

#include <algorithm>
#include <limits>

namespace gno::client {

bool clock_estimator::add_sample(std::int64_t t0, std::int64_t t1, std::int64_t t2,
                                 std::int64_t t3) noexcept {
    if (t3 < t0 || t2 < t1)
        return false;
    sample s;
    // Halve each difference before adding: the sum of two ns-scale timestamps can overflow.
    s.offset_ns = (t1 - t0) / 2 + (t2 - t3) / 2;
    s.delay_ns = std::max<std::int64_t>(0, (t3 - t0) - (t2 - t1));
    window_[next_] = s;
    next_ = (next_ + 1) % k_window;
    count_ = std::min(count_ + 1, k_window);
    last_delay_ns_ = s.delay_ns;
    reselect();
    return true;
}

void clock_estimator::reselect() noexcept {
    std::int64_t best = std::numeric_limits<std::int64_t>::max();
    for (std::size_t i = 0; i < count_; ++i) {
        if (window_[i].delay_ns < best) {
            best = window_[i].delay_ns;
            offset_ns_ = window_[i].offset_ns;
        }
    }
    best_delay_ns_ = best;
}

std::int64_t clock_estimator::server_time_ns(std::int64_t local_ns) const noexcept {
    return local_ns + offset_ns_;
}

std::uint32_t clock_estimator::rtt_us() const noexcept {
    if (count_ == 0)
        return 0;
    return static_cast<std::uint32_t>(std::min<std::int64_t>(best_delay_ns_ / 1000, UINT32_MAX));
}

std::uint32_t clock_estimator::last_rtt_us() const noexcept {
    return static_cast<std::uint32_t>(std::min<std::int64_t>(last_delay_ns_ / 1000, UINT32_MAX));
}

bool clock_estimator::ping_due(std::int64_t now_ns) const noexcept {
    if (!pinged_)
        return true;
    const bool fast = now_ns - first_ping_ns_ < k_fast_phase_ns;
    return now_ns - last_ping_ns_ >= (fast ? k_fast_interval_ns : k_slow_interval_ns);
}

void clock_estimator::ping_sent(std::int64_t now_ns) noexcept {
    if (!pinged_)
        first_ping_ns_ = now_ns;
    pinged_ = true;
    last_ping_ns_ = now_ns;
}

} // namespace gno::client
