#pragma once
// A player's uplink delay distribution and the advance A_i derived from it (DESIGN.md §4:
// A_i = a high percentile of the measured uplink delay + margin). The delay of a key state is
// its arrival time minus the server time the client stamped in its header at sending.
// A_i rises at once when the delay grows (late events are audible) and falls only after
// several windows agree (a player's score should not jitter). Thread: the network thread.

#include <algorithm>
#include <array>
#include <cstdint>

namespace gno::render {

class uplink_delay {
public:
    static constexpr std::size_t k_window = 256;
    static constexpr std::size_t k_update_every = 32;

    uplink_delay(std::int64_t default_advance_ns, std::int64_t margin_ns)
        : advance_ns_(default_advance_ns), margin_ns_(margin_ns) {}

    /// Adds one sample; false (ignored) when outside [-50 ms, 2 s]: an unsynchronised client.
    bool add(std::int64_t delay_ns) noexcept {
        if (delay_ns < -50'000'000 || delay_ns > 2'000'000'000)
            return false;
        samples_[next_] = delay_ns;
        next_ = (next_ + 1) % k_window;
        count_ = std::min(count_ + 1, k_window);
        if (++since_update_ >= k_update_every) {
            since_update_ = 0;
            update();
        }
        return true;
    }

    [[nodiscard]] std::int64_t advance_ns() const noexcept { return advance_ns_; }
    [[nodiscard]] std::int64_t p99_ns() const noexcept { return p99_ns_; }
    [[nodiscard]] std::size_t samples() const noexcept { return count_; }

private:
    void update() noexcept {
        std::array<std::int64_t, k_window> sorted;
        std::copy_n(samples_.begin(), count_, sorted.begin());
        const std::size_t idx = (count_ * 99) / 100;
        std::nth_element(sorted.begin(), sorted.begin() + static_cast<long>(idx),
                         sorted.begin() + static_cast<long>(count_));
        p99_ns_ = sorted[idx];
        const std::int64_t want = std::max<std::int64_t>(p99_ns_, 0) + margin_ns_;
        if (want > advance_ns_ || !measured_) {
            advance_ns_ = want;
            lower_votes_ = 0;
            measured_ = true;
        } else if (advance_ns_ - want > 5'000'000 && ++lower_votes_ >= 4) {
            advance_ns_ = want;
            lower_votes_ = 0;
        }
    }

    std::array<std::int64_t, k_window> samples_{};
    std::size_t next_ = 0;
    std::size_t count_ = 0;
    std::size_t since_update_ = 0;
    std::int64_t advance_ns_;
    std::int64_t margin_ns_;
    std::int64_t p99_ns_ = 0;
    int lower_votes_ = 0;
    bool measured_ = false;
};

} // namespace gno::render
