#pragma once
// Decodes one sampled player's stream with libopus and asks: does it carry sound?
//
// RMS per 100 ms window of decoded audio (both channels); a stream "has sound" when, after its
// first second (joining, the first notes' attack), at least half of the windows are above
// -50 dBFS. Frames are decoded as they arrive, in order; a lost one is skipped, not concealed,
// so the verdict is about what the server sent.
// Thread: the load generator's thread; not thread-safe.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

struct OpusDecoder;

namespace gno::loadgen {

inline constexpr int k_sample_rate = 48'000;
inline constexpr int k_channels = 2;
/// The largest Opus frame (120 ms) per channel: the decode scratch buffer's size.
inline constexpr int k_max_frame_samples = 5'760;

class sound_check {
public:
    static constexpr int k_window_samples = k_sample_rate / 10;
    static constexpr int k_skip_samples = k_sample_rate; // the first second
    static constexpr double k_sound_dbfs = -50.0;

    /// Start-up: creates the decoder (stereo, 48 kHz). Throws std::runtime_error.
    sound_check();
    ~sound_check();
    sound_check(sound_check&&) noexcept;
    sound_check& operator=(sound_check&&) noexcept;

    /// Decodes one frame into `scratch` (k_max_frame_samples * k_channels floats) and updates
    /// the windows. A frame libopus refuses is counted, not fatal.
    void on_frame(std::span<const std::byte> opus, std::span<float> scratch) noexcept;

    [[nodiscard]] int windows() const noexcept { return windows_; }
    [[nodiscard]] int loud_windows() const noexcept { return loud_windows_; }
    [[nodiscard]] std::uint64_t decode_errors() const noexcept { return decode_errors_; }
    [[nodiscard]] bool has_sound() const noexcept {
        return windows_ > 0 && 2 * loud_windows_ >= windows_;
    }

private:
    struct decoder_delete {
        void operator()(OpusDecoder* d) const noexcept;
    };
    std::unique_ptr<OpusDecoder, decoder_delete> decoder_;
    std::int64_t decoded_samples_ = 0; // per channel, since the first frame
    double window_sum_squares_ = 0.0;
    int window_fill_ = 0; // samples per channel in the open window
    int windows_ = 0;
    int loud_windows_ = 0;
    std::uint64_t decode_errors_ = 0;
};

} // namespace gno::loadgen
