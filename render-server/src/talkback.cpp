#include "gno/render/talkback.hpp"

#include <algorithm>
#include <cmath>

namespace gno::render {

talkback_feed::talkback_feed(spsc_ring<talkback_block>& ring, node_counters& counters,
                             int sample_rate, int frame_samples) noexcept
    : ring_(ring), counters_(counters), frame_samples_(std::max(1, frame_samples)),
      preroll_samples_(std::int64_t{sample_rate} * k_preroll_ms / 1000),
      max_samples_(std::int64_t{sample_rate} * k_max_seconds) {}

std::int64_t talkback_feed::start_at_once(std::int64_t now_sample) const noexcept {
    const std::int64_t at = std::max<std::int64_t>(0, now_sample) + preroll_samples_;
    return (at + frame_samples_ - 1) / frame_samples_ * frame_samples_;
}

void talkback_feed::begin(std::int64_t start_sample) noexcept {
    if (active_)
        end();
    block_.start_sample = start_sample;
    filled_ = 0;
    taken_ = 0;
    active_ = true;
}

template <typename Sample, typename Convert>
std::size_t talkback_feed::append(std::span<const Sample> pcm, Convert convert) noexcept {
    if (!active_)
        return 0;
    const auto room = static_cast<std::size_t>(max_samples_ - taken_);
    const std::size_t n = std::min(pcm.size(), room);
    if (n < pcm.size())
        counters_.talkback_truncated.fetch_add(pcm.size() - n, std::memory_order_relaxed);
    for (std::size_t i = 0; i < n;) {
        const std::size_t take =
            std::min(n - i, static_cast<std::size_t>(k_max_frame_samples - filled_));
        for (std::size_t k = 0; k < take; ++k)
            block_.samples[static_cast<std::size_t>(filled_) + k] = convert(pcm[i + k]);
        filled_ += static_cast<int>(take);
        i += take;
        if (filled_ == k_max_frame_samples)
            flush();
    }
    taken_ += static_cast<std::int64_t>(n);
    return n;
}

std::size_t talkback_feed::push(std::span<const std::int16_t> pcm) noexcept {
    return append(pcm, [](std::int16_t s) noexcept { return static_cast<float>(s) / 32768.0f; });
}

std::size_t talkback_feed::push(std::span<const float> pcm) noexcept {
    // The samples come from a browser: nothing that could upset the mix or the encoder.
    return append(
        pcm, [](float s) noexcept { return std::isfinite(s) ? std::clamp(s, -1.0f, 1.0f) : 0.0f; });
}

void talkback_feed::flush() noexcept {
    if (filled_ == 0)
        return;
    // A partial last block carries its own length; its tail is zeroed all the same, so no
    // earlier audio can leak from the reused block.
    std::fill(block_.samples.begin() + filled_, block_.samples.end(), 0.0f);
    block_.sample_count = static_cast<std::uint16_t>(filled_);
    if (!ring_.try_push(block_))
        counters_.talkback_overflows.fetch_add(1, std::memory_order_relaxed);
    // The next block follows on, whether this one went or not: a dropped block leaves a gap of
    // its own length, the rest keeps its time.
    block_.start_sample += filled_;
    filled_ = 0;
}

void talkback_feed::end() noexcept {
    if (!active_)
        return;
    flush();
    active_ = false;
}

} // namespace gno::render
