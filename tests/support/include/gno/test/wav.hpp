#pragma once
// WAV files for end-to-end tests: read what the servers and clients record, write fixtures.
// Thread: any (no shared state). Untrusted bytes never throw and never crash: a bad file comes
// back as an error string.

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace gno::test {

/// Decoded audio, samples interleaved and scaled to [-1, 1].
struct audio_clip {
    int sample_rate = 0;
    int channels = 0;
    std::vector<float> samples;

    [[nodiscard]] std::size_t frames() const noexcept {
        return channels > 0 ? samples.size() / static_cast<std::size_t>(channels) : 0;
    }
    [[nodiscard]] double duration_s() const noexcept {
        return sample_rate > 0 ? static_cast<double>(frames()) / sample_rate : 0.0;
    }
};

/// Either a clip or, when `error` is non-empty, why the bytes were not a WAV we understand.
struct wav_read_result {
    audio_clip clip;
    std::string error;

    [[nodiscard]] bool ok() const noexcept { return error.empty(); }
    explicit operator bool() const noexcept { return ok(); }
};

/// Parses RIFF/WAVE bytes: PCM 8/16/24/32-bit, IEEE float 32/64-bit, plain or EXTENSIBLE,
/// 1..32 channels, unknown chunks skipped. A data chunk shorter than its header says is an
/// error (a truncated or lying file), except for the 0 / 0xFFFFFFFF sizes streaming writers
/// leave behind, which mean "up to the end of the file".
[[nodiscard]] wav_read_result parse_wav(std::span<const std::byte> bytes);

/// Reads and parses a file; a missing or unreadable file is an error, not an exception.
[[nodiscard]] wav_read_result read_wav(const std::filesystem::path& path);

enum class wav_sample_format { pcm16, float32 };

/// Encodes a clip (pcm16 clamps to [-1, 1] and rounds); empty result if the clip is invalid
/// (channels < 1, sample_rate < 1, or samples not a whole number of frames).
[[nodiscard]] std::vector<std::byte> encode_wav(const audio_clip& clip, wav_sample_format format);

/// Writes a clip to a file. Returns an empty string on success, otherwise the reason.
[[nodiscard]] std::string write_wav(const std::filesystem::path& path, const audio_clip& clip,
                                    wav_sample_format format);

/// Mono mix-down: the mean of the channels of each frame.
[[nodiscard]] std::vector<float> to_mono(const audio_clip& clip);

/// One channel (0-based) of an interleaved clip; empty if `index` is out of range.
[[nodiscard]] std::vector<float> channel(const audio_clip& clip, int index);

} // namespace gno::test
