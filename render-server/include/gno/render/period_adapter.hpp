#pragma once
// From the engine's frames to the sound card's periods (DESIGN.md §7). The engine renders
// frames of frame_samples (120..960) at render samples that are multiples of it; a JACK period
// is whatever the venue set (64..8192) and need not divide a frame or be divided by one. The
// adapter keeps the rendered samples not yet played in a small planar FIFO, renders the next
// frames into it until it holds the period, and hands out exactly the period: every sample
// played is the next render sample, none lost or repeated. What it adds to the venue's
// latency is what it holds after a period: less than one frame.
//
// Thread: construct on a control thread; pull() and the readers on the audio thread only.
// Realtime-safe: pull() (the FIFO is sized in the constructor; moves are memmove).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace gno::render {

class period_adapter {
public:
    /// `channels` planar channels; periods of up to `max_period` samples.
    period_adapter(int frame_samples, int channels, int max_period)
        : frame_(frame_samples), channels_(channels), max_period_(max_period),
          capacity_(static_cast<std::size_t>(max_period + 2 * frame_samples)),
          data_(capacity_ * static_cast<std::size_t>(channels)),
          frame_ptrs_(static_cast<std::size_t>(channels)) {}

    /// Fills out[c][0, n) for every channel with render samples [at, at + n), calling
    /// render(r, channels) for each frame it needs (r = the next multiple of frame_samples,
    /// increasing; each channel pointer has room for frame_samples). The first call starts at
    /// the frame holding `at`. After that `at` is normally where the last period ended; when
    /// it is further on (the card skipped periods: an xrun) the samples in between are dropped
    /// and counted in the return value. An `at` behind the last period is taken as its end.
    /// A period longer than max_period is silence (JACK's own limit is 8192).
    /// Returns the render samples skipped (0 in steady state and on the first call).
    template <typename Render>
    std::int64_t pull(std::span<float* const> out, int n, std::int64_t at,
                      Render&& render) noexcept {
        if (n <= 0)
            return 0;
        if (n > max_period_ || out.size() < static_cast<std::size_t>(channels_)) {
            for (float* o : out)
                std::fill(o, o + n, 0.0f);
            return 0;
        }
        std::int64_t skipped = 0;
        if (!started_) {
            start_ = end_ = frame_start(at);
            started_ = true;
        } else if (at > start_) {
            skipped = at - start_;
            if (at >= end_)
                start_ = end_ = frame_start(at); // nothing held is played: start afresh
        } else {
            at = start_;
        }
        // Here start_ <= at < start_ + frame_samples, and the FIFO holds less than a frame
        // (a pull leaves end_ - (at + n) < frame_samples), so it never holds more than
        // n + 2 frames: within capacity_.
        while (end_ - at < n) {
            const auto offset = static_cast<std::size_t>(end_ - start_);
            for (int c = 0; c < channels_; ++c)
                frame_ptrs_[static_cast<std::size_t>(c)] = channel(c) + offset;
            render(end_, std::span<float* const>(frame_ptrs_));
            end_ += frame_;
        }
        const auto from = static_cast<std::size_t>(at - start_);
        const auto count = static_cast<std::size_t>(n);
        const auto left = static_cast<std::size_t>(end_ - at) - count;
        for (int c = 0; c < channels_; ++c) {
            float* ch = channel(c);
            std::copy(ch + from, ch + from + count, out[static_cast<std::size_t>(c)]);
            std::copy(ch + from + count, ch + from + count + left, ch); // memmove: dst < src
        }
        start_ = at + n;
        return skipped;
    }

    /// The render sample the next period starts at (after the first pull).
    [[nodiscard]] std::int64_t position() const noexcept { return start_; }
    /// Samples rendered and not yet played: the latency the adapter adds, < frame_samples
    /// after a pull.
    [[nodiscard]] int held() const noexcept { return static_cast<int>(end_ - start_); }
    [[nodiscard]] int channels() const noexcept { return channels_; }
    [[nodiscard]] int max_period() const noexcept { return max_period_; }

private:
    [[nodiscard]] std::int64_t frame_start(std::int64_t at) const noexcept {
        const std::int64_t k = at >= 0 ? at / frame_ : -((-at + frame_ - 1) / frame_);
        return k * frame_;
    }
    float* channel(int c) noexcept {
        return data_.data() + static_cast<std::size_t>(c) * capacity_;
    }

    int frame_;
    int channels_;
    int max_period_;
    std::size_t capacity_; // per channel
    std::vector<float> data_;
    std::vector<float*> frame_ptrs_;
    bool started_ = false;
    std::int64_t start_ = 0; // render sample of each channel's first held sample
    std::int64_t end_ = 0;   // render sample after the last held one (a multiple of a frame)
};

} // namespace gno::render
