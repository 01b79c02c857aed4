#include "gno/proto/wav_file.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace gno::proto {
namespace {

void put_le(unsigned char*& p, std::uint32_t v, int bytes) {
    for (int i = 0; i < bytes; ++i)
        *p++ = static_cast<unsigned char>(v >> (8 * i));
}

} // namespace

wav_file::wav_file(const std::string& path, wav_format format, std::uint32_t sample_rate)
    : format_(format), rate_(sample_rate) {
    file_ = std::fopen(path.c_str(), "w+b");
    if (file_ == nullptr)
        throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
    write_header();
}

wav_file::~wav_file() {
    close();
}

void wav_file::write_header() {
    const std::uint32_t channels = 2;
    const std::uint32_t rate = rate_;
    const std::uint32_t bytes_per_sample = format_ == wav_format::s16 ? 2 : 4;
    const std::uint32_t block = channels * bytes_per_sample;
    const std::uint64_t data64 = samples_ * block;
    const auto data = static_cast<std::uint32_t>(std::min<std::uint64_t>(data64, 0xFFFFFFFFu - 64));
    // Float WAV needs WAVE_FORMAT_IEEE_FLOAT (3) and a fact chunk is optional; keep 44 bytes.
    std::array<unsigned char, 44> h{};
    unsigned char* p = h.data();
    std::memcpy(p, "RIFF", 4);
    p += 4;
    put_le(p, 36 + data, 4);
    std::memcpy(p, "WAVEfmt ", 8);
    p += 8;
    put_le(p, 16, 4);
    put_le(p, format_ == wav_format::s16 ? 1 : 3, 2);
    put_le(p, channels, 2);
    put_le(p, rate, 4);
    put_le(p, rate * block, 4);
    put_le(p, block, 2);
    put_le(p, bytes_per_sample * 8, 2);
    std::memcpy(p, "data", 4);
    p += 4;
    put_le(p, data, 4);
    std::fseek(file_, 0, SEEK_SET);
    std::fwrite(h.data(), 1, h.size(), file_);
    std::fseek(file_, 0, SEEK_END);
}

void wav_file::write(const float* left, const float* right, std::size_t n) {
    if (file_ == nullptr)
        return;
    std::array<unsigned char, 8 * 512> buf{};
    std::size_t done = 0;
    while (done < n) {
        const std::size_t chunk = std::min<std::size_t>(n - done, 512);
        unsigned char* p = buf.data();
        for (std::size_t i = 0; i < chunk; ++i) {
            for (float v : {left[done + i], right[done + i]}) {
                if (format_ == wav_format::s16) {
                    const float c = std::clamp(v, -1.0f, 1.0f);
                    const auto s = static_cast<std::int16_t>(std::lrint(c * 32767.0f));
                    put_le(p, static_cast<std::uint16_t>(s), 2);
                } else {
                    std::uint32_t bits = 0;
                    std::memcpy(&bits, &v, 4);
                    put_le(p, bits, 4);
                }
            }
        }
        std::fwrite(buf.data(), 1, static_cast<std::size_t>(p - buf.data()), file_);
        done += chunk;
    }
    samples_ += n;
}

void wav_file::update_header() {
    if (file_ == nullptr)
        return;
    write_header();
    std::fflush(file_);
}

void wav_file::close() {
    if (file_ == nullptr)
        return;
    write_header();
    std::fclose(file_);
    file_ = nullptr;
}

} // namespace gno::proto
