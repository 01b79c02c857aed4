#include "gno/client/playout.hpp"

#include <algorithm>

namespace gno::client {

void playout::render(float* left, float* right, std::size_t n, std::int64_t now_ns,
                     std::int64_t output_latency_samples) noexcept {
    // The sample written first now reaches the speakers `output_latency_samples` later, so
    // what is audible at `now_ns` is that many samples earlier on the render timeline.
    std::int64_t heard = 0;
    bool heard_set = false;
    std::size_t done = 0;
    while (done < n) {
        if (fifo_pos_ >= fifo_size_) {
            const auto f = buffer_.next_frame(fifo_);
            fifo_size_ = f.samples;
            fifo_pos_ = 0;
            fifo_r_ = f.render_sample;
            if (fifo_size_ == 0)
                break; // cannot happen (a frame is never empty); keeps the loop bounded
        }
        if (!heard_set) {
            heard = fifo_r_ >= 0
                        ? std::max<std::int64_t>(1, fifo_r_ + static_cast<std::int64_t>(fifo_pos_) -
                                                        output_latency_samples)
                        : 0;
            heard_set = true;
        }
        const std::size_t take = std::min(n - done, fifo_size_ - fifo_pos_);
        for (std::size_t i = 0; i < take; ++i) {
            left[done + i] = fifo_[(fifo_pos_ + i) * 2];
            right[done + i] = fifo_[(fifo_pos_ + i) * 2 + 1];
        }
        done += take;
        fifo_pos_ += take;
    }
    if (done < n) {
        std::fill(left + done, left + n, 0.0f);
        std::fill(right + done, right + n, 0.0f);
    }
    const std::uint32_t s = seq_.load(std::memory_order_relaxed);
    seq_.store(s + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    heard_r_.store(heard, std::memory_order_relaxed);
    heard_t_ns_.store(now_ns, std::memory_order_relaxed);
    seq_.store(s + 2, std::memory_order_release);
}

heard_map playout::heard_anchor() const noexcept {
    heard_map m;
    for (int attempt = 0; attempt < 100; ++attempt) {
        const std::uint32_t s0 = seq_.load(std::memory_order_acquire);
        if (s0 & 1u)
            continue;
        m.render_sample = heard_r_.load(std::memory_order_relaxed);
        m.local_ns = heard_t_ns_.load(std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (seq_.load(std::memory_order_relaxed) == s0)
            break;
    }
    return m;
}

std::int64_t playout::heard_render_sample(std::int64_t local_ns) const noexcept {
    const heard_map m = heard_anchor();
    if (m.render_sample <= 0)
        return 0;
    // Extrapolate along the output clock from the last period start.
    return m.render_sample + (local_ns - m.local_ns) * k_sample_rate / 1'000'000'000LL;
}

} // namespace gno::client
