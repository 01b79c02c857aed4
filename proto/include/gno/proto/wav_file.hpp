#pragma once
// Stereo WAV writer (16-bit PCM or 32-bit float). The header is rewritten by
// `update_header` (the writer calls it every second) and `close`, so a killed process still
// leaves a readable file covering all but the last second.
// Thread: one owner (the WAV writer thread). Does file I/O: never on the real-time path.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

namespace gno::proto {

enum class wav_format : std::uint8_t { s16, f32 };

class wav_file {
public:
    /// Start-up: creates/truncates `path`. Throws std::runtime_error naming the path and why.
    wav_file(const std::string& path, wav_format format, std::uint32_t sample_rate = 48'000);
    ~wav_file();
    wav_file(const wav_file&) = delete;
    wav_file& operator=(const wav_file&) = delete;

    /// Appends `n` stereo samples.
    void write(const float* left, const float* right, std::size_t n);
    /// Rewrites the RIFF/data sizes for what is written so far and flushes.
    void update_header();
    /// Final header and close; idempotent.
    void close();

    [[nodiscard]] std::uint64_t samples_written() const noexcept { return samples_; }

private:
    void write_header();

    std::FILE* file_ = nullptr;
    wav_format format_;
    std::uint32_t rate_;
    std::uint64_t samples_ = 0;
};

} // namespace gno::proto
