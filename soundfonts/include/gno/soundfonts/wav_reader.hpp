#pragma once
// A strict WAV reader for samples a performer uploads: RIFF/WAVE with one fmt and one data chunk,
// PCM 16/24-bit or IEEE float 32-bit (plain or WAVE_FORMAT_EXTENSIBLE), mono or stereo (mixed
// down to mono), 8000..96000 Hz. Every size must fit the bytes there are: a header that claims
// more than the file holds is an error naming the chunk, never a read past the end.
//
// Pure: bytes in memory. Untrusted input never throws and never crashes. Thread: any.

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace gno::soundfonts {

struct wav_limits {
    int min_rate = 8000;
    int max_rate = 96000;
    double max_seconds = 120.0; // per file
};

/// Mono samples in [-1, 1] at `sample_rate`, or `error` (then samples is empty).
struct wav_audio {
    std::vector<float> samples;
    int sample_rate = 0;
    int channels = 0; // in the file (1 or 2); samples are mono either way
    int bits = 0;     // 16, 24 or 32 (float)
    std::string error;

    [[nodiscard]] bool ok() const noexcept { return error.empty(); }
};

[[nodiscard]] wav_audio read_wav(std::span<const std::byte> bytes, const wav_limits& limits = {});

} // namespace gno::soundfonts
