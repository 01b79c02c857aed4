#pragma once
// The node's one render clock on a headless node (DESIGN.md §7): a steady-clock timer with
// absolute deadlines, one tick per frame. It owns the server timeline: t = R / sample_rate
// seconds after the epoch, so a render sample and a server time are the same thing.

#include "gno/render/counters.hpp"
#include "gno/render/server_timeline.hpp"

#include <chrono>
#include <cstdint>
#include <stop_token>
#include <string>

namespace gno::render {

/// CLOCK_MONOTONIC in ns (any thread, realtime-safe: a vDSO read).
[[nodiscard]] std::int64_t monotonic_ns() noexcept;

class render_clock final : public server_timeline {
public:
    render_clock(int sample_rate, int frame_samples, node_counters& counters);

    /// Server timeline in ns (any thread, realtime-safe).
    [[nodiscard]] std::int64_t now_ns() const noexcept override;
    [[nodiscard]] std::int64_t epoch_ns() const noexcept override { return epoch_ns_; }
    /// Takes another node's timeline (its CLOCK_MONOTONIC ns at sample 0 as this host sees
    /// it, stem_exchange::find_timeline). Thread: control thread, before anything reads it.
    void adopt_epoch(std::int64_t epoch_ns) noexcept { epoch_ns_ = epoch_ns; }

    /// Render thread: calls frame(R, now_ns) once per frame period until stop is requested.
    /// A frame that finishes after its period ends is counted late (and a late start as well
    /// when it began more than a quarter period after it was due); after a stall of more
    /// than 100 ms the clock skips ahead (counted) instead of rendering a burst.
    template <typename Frame>
    void run(std::stop_token stop, Frame&& frame) {
        // Start at the next frame boundary of the timeline: R stays = time * rate.
        std::int64_t k = now_ns() / period_ns_ + 1;
        while (!stop.stop_requested()) {
            const std::int64_t due = k * period_ns_;
            sleep_until(due);
            const std::int64_t start = now_ns();
            if (start - due > k_stall_ns) {
                const std::int64_t skip = (start - due) / period_ns_;
                counters_.skipped_frames.fetch_add(static_cast<std::uint64_t>(skip),
                                                   std::memory_order_relaxed);
                k += skip;
                continue;
            }
            frame(k * frame_samples_, start);
            const std::int64_t end = now_ns();
            const auto took_us = static_cast<std::uint64_t>((end - start) / 1000);
            if (took_us > counters_.block_time_max_us.load(std::memory_order_relaxed))
                counters_.block_time_max_us.store(took_us, std::memory_order_relaxed);
            if (end > due + period_ns_) {
                counters_.late_frames.fetch_add(1, std::memory_order_relaxed);
                if (start - due > period_ns_ / 4)
                    counters_.late_starts.fetch_add(1, std::memory_order_relaxed);
            }
            ++k;
        }
    }

    /// Asks the OS for real-time priority for the calling thread; false (with the reason in
    /// `why`) where it is not allowed. Thread: the render thread, before run().
    static bool try_realtime_priority(std::string& why);

private:
    static constexpr std::int64_t k_stall_ns = 100'000'000;
    void sleep_until(std::int64_t server_ns) const noexcept;

    std::int64_t epoch_ns_;
    std::int64_t period_ns_;
    std::int64_t frame_samples_;
    node_counters& counters_;
};

} // namespace gno::render
