#pragma once
// Opus encoding of one distinct mix (DESIGN.md §6: each distinct mix is encoded once per frame).
// Thread: construct on a control thread; encode on the render thread. Realtime-safe: encode
// (libopus does not allocate after opus_encoder_create).

#include <cstddef>
#include <cstdint>
#include <span>

struct OpusEncoder;

namespace gno::render {

struct opus_stage_config {
    int sample_rate = 48000;
    int channels = 2;
    int frame_samples = 240;
    int bitrate = 64000;
    int complexity = 5;
    int expected_loss_pct = 10; // tunes in-band FEC (effective with SILK frames, >= 10 ms)
};

class opus_stage {
public:
    explicit opus_stage(const opus_stage_config& cfg); // throws on invalid configuration
    ~opus_stage();
    opus_stage(const opus_stage&) = delete;
    opus_stage& operator=(const opus_stage&) = delete;

    /// Encodes one interleaved frame; returns the packet size, or 0 on failure.
    std::size_t encode(std::span<const float> interleaved, std::span<std::byte> out) noexcept;

    void set_complexity(int complexity) noexcept;
    /// Forgets the stream's history (a new listener on this encoder).
    void reset() noexcept;
    [[nodiscard]] int complexity() const noexcept { return complexity_; }

private:
    OpusEncoder* enc_ = nullptr;
    int frame_samples_ = 0;
    int complexity_ = 0;
};

} // namespace gno::render
