#pragma once
// Estimate of the render server's clock from ping/pong exchanges (DESIGN.md §4).
//
// NTP-style: a ping leaves at local t0, the server stamps t1 (receipt) and t2 (answer) on its
// render timeline (R / 48000 s), the pong arrives at local t3. Each exchange gives an offset
// ((t1 - t0) + (t2 - t3)) / 2 and a round-trip delay (t3 - t0) - (t2 - t1). Queueing only ever
// adds delay, and asymmetric queueing biases the offset, so of the last k_window exchanges the
// one with the smallest delay is trusted (min-filter).
//
// Pure, driven by time arguments; drift tracking will come later behind the same interface
// (`server_time_ns` is the only conversion callers use).
// Thread: one owner (the network thread); readers elsewhere use the atomics it publishes.

#include <array>
#include <cstddef>
#include <cstdint>

namespace gno::client {

class clock_estimator {
public:
    static constexpr std::size_t k_window = 32;
    static constexpr std::int64_t k_fast_interval_ns = 250'000'000;   // 4 Hz while converging
    static constexpr std::int64_t k_slow_interval_ns = 1'000'000'000; // then 1 Hz
    static constexpr std::int64_t k_fast_phase_ns = 5'000'000'000;    // first 5 s

    /// Adds one exchange. Local t0/t3, server t1/t2, all ns. Returns false if implausible
    /// (t3 < t0 or t2 < t1) and ignores it.
    bool add_sample(std::int64_t t0, std::int64_t t1, std::int64_t t2, std::int64_t t3) noexcept;

    /// True once at least one exchange was accepted.
    [[nodiscard]] bool synchronised() const noexcept { return count_ > 0; }
    /// Server (render timeline) time, ns, at local time `local_ns`. Before any sample: 0 offset.
    [[nodiscard]] std::int64_t server_time_ns(std::int64_t local_ns) const noexcept;
    /// Current offset estimate (server - local), ns.
    [[nodiscard]] std::int64_t offset_ns() const noexcept { return offset_ns_; }
    /// Round-trip delay of the trusted (min-delay) exchange, µs; 0 before any.
    [[nodiscard]] std::uint32_t rtt_us() const noexcept;
    /// Round-trip delay of the latest exchange, µs.
    [[nodiscard]] std::uint32_t last_rtt_us() const noexcept;
    /// Clock rate difference, parts per million (0 until drift tracking exists).
    [[nodiscard]] double drift_ppm() const noexcept { return 0.0; }

    /// Ping schedule: 4 Hz for the first 5 s after the first ping, then 1 Hz.
    [[nodiscard]] bool ping_due(std::int64_t now_ns) const noexcept;
    void ping_sent(std::int64_t now_ns) noexcept;

private:
    struct sample {
        std::int64_t offset_ns = 0;
        std::int64_t delay_ns = 0;
    };
    void reselect() noexcept;

    std::array<sample, k_window> window_{};
    std::size_t count_ = 0; // samples in the window (<= k_window)
    std::size_t next_ = 0;  // ring write index
    std::int64_t offset_ns_ = 0;
    std::int64_t best_delay_ns_ = 0;
    std::int64_t last_delay_ns_ = 0;
    std::int64_t first_ping_ns_ = 0;
    std::int64_t last_ping_ns_ = 0;
    bool pinged_ = false;
};

} // namespace gno::client
