#pragma once
// Playout: turns decoded frames (fixed size, e.g. 240) into output periods of any size (JACK's
// 256, the WAV writer's block) through a one-frame PCM fifo, and publishes which render sample
// is at the speakers, for the `r_heard` stamp (DESIGN.md §4).
// Thread: `render` on the audio thread (RT-safe); `heard_render_sample` and `buffer().push`
// from others as documented.

#include "gno/client/jitter_buffer.hpp"
#include "gno/client/score_clock.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace gno::client {

class playout {
public:
    explicit playout(jitter_buffer::config cfg) : buffer_(cfg) {}

    /// The jitter buffer: the network thread pushes into it; counters are readable anywhere.
    jitter_buffer& buffer() noexcept { return buffer_; }
    const jitter_buffer& buffer() const noexcept { return buffer_; }

    /// Audio thread, RT-safe: writes `n` samples to `left` and `right`. `now_ns` is the local
    /// steady-clock time of this call; `output_latency_samples` is how long the first written
    /// sample takes to reach the speakers (JACK playback latency; 0 for a file).
    void render(float* left, float* right, std::size_t n, std::int64_t now_ns,
                std::int64_t output_latency_samples) noexcept;

    /// Any thread: the render sample coming out of the speakers at local time `local_ns`
    /// (extrapolated from the last period), or 0 when nothing from the server is playing.
    [[nodiscard]] std::int64_t heard_render_sample(std::int64_t local_ns) const noexcept;

    /// Any thread, RT-safe: the last period's (local time, render sample at the speakers) pair
    /// that `heard_render_sample` extrapolates from; render_sample 0 when nothing is playing.
    [[nodiscard]] heard_map heard_anchor() const noexcept;

private:
    jitter_buffer buffer_;
    std::array<float, k_max_frame_samples * k_channels> fifo_{};
    std::size_t fifo_size_ = 0; // samples per channel left in the fifo
    std::size_t fifo_pos_ = 0;  // read position, samples per channel
    std::int64_t fifo_r_ = -1;  // R of the fifo's next sample, -1 during silence

    // Seqlock over (r, t): the audio thread writes, others read; a torn read retries.
    std::atomic<std::uint32_t> seq_{0};
    std::atomic<std::int64_t> heard_r_{0};
    std::atomic<std::int64_t> heard_t_ns_{0};
    static_assert(std::atomic<std::int64_t>::is_always_lock_free);
};

} // namespace gno::client
