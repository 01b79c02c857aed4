#pragma once
// WAV files built byte by byte for tests of the strict reader and of uploads: any format, and
// headers that lie.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace gno::soundfonts::test {

struct wav_spec {
    int channels = 1;
    int rate = 48000;
    int bits = 16;
    bool is_float = false;
    bool extensible = false;
};

inline void put16(std::vector<std::byte>& b, std::uint32_t v) {
    b.push_back(static_cast<std::byte>(v & 0xFF));
    b.push_back(static_cast<std::byte>((v >> 8) & 0xFF));
}
inline void put32(std::vector<std::byte>& b, std::uint32_t v) {
    put16(b, v & 0xFFFF);
    put16(b, v >> 16);
}
inline void put_id(std::vector<std::byte>& b, const char* id) {
    for (int i = 0; i < 4; ++i)
        b.push_back(static_cast<std::byte>(id[i]));
}

/// A WAV of `frames` (interleaved when stereo, in [-1, 1]).
inline std::vector<std::byte> wav_bytes(const wav_spec& s, const std::vector<float>& samples) {
    std::vector<std::byte> data;
    for (const float x : samples) {
        if (s.is_float) {
            std::uint32_t u;
            std::memcpy(&u, &x, 4);
            put32(data, u);
        } else if (s.bits == 16) {
            put16(data,
                  static_cast<std::uint16_t>(static_cast<std::int16_t>(std::lround(x * 32767))));
        } else {
            const auto v =
                static_cast<std::uint32_t>(static_cast<std::int32_t>(std::lround(x * 8388607)));
            data.push_back(static_cast<std::byte>(v & 0xFF));
            data.push_back(static_cast<std::byte>((v >> 8) & 0xFF));
            data.push_back(static_cast<std::byte>((v >> 16) & 0xFF));
        }
    }
    std::vector<std::byte> fmt;
    const int align = s.channels * s.bits / 8;
    const std::uint16_t tag = s.extensible ? 0xFFFE : (s.is_float ? 3 : 1);
    put16(fmt, tag);
    put16(fmt, static_cast<std::uint32_t>(s.channels));
    put32(fmt, static_cast<std::uint32_t>(s.rate));
    put32(fmt, static_cast<std::uint32_t>(s.rate * align));
    put16(fmt, static_cast<std::uint32_t>(align));
    put16(fmt, static_cast<std::uint32_t>(s.bits));
    if (s.extensible) {
        put16(fmt, 22);
        put16(fmt, static_cast<std::uint32_t>(s.bits));
        put32(fmt, s.channels == 1 ? 4u : 3u);
        put16(fmt, s.is_float ? 3u : 1u); // the GUID's first two bytes: the plain tag
        static const std::uint8_t rest[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                              0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};
        for (const auto v : rest)
            fmt.push_back(static_cast<std::byte>(v));
    }
    std::vector<std::byte> out;
    put_id(out, "RIFF");
    put32(out, static_cast<std::uint32_t>(4 + 8 + fmt.size() + 8 + data.size()));
    put_id(out, "WAVE");
    put_id(out, "fmt ");
    put32(out, static_cast<std::uint32_t>(fmt.size()));
    out.insert(out.end(), fmt.begin(), fmt.end());
    put_id(out, "data");
    put32(out, static_cast<std::uint32_t>(data.size()));
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

/// A mono sine of `hz`, `seconds` long, at `amplitude`.
inline std::vector<float> sine(double hz, double seconds, int rate = 48000,
                               float amplitude = 0.5f) {
    std::vector<float> x(static_cast<std::size_t>(seconds * rate));
    for (std::size_t n = 0; n < x.size(); ++n)
        x[n] = amplitude * static_cast<float>(std::sin(2.0 * 3.14159265358979323846 * hz *
                                                       static_cast<double>(n) / rate));
    return x;
}

/// Overwrites the 32-bit size of the first chunk `id` (a lying header).
inline void set_chunk_size(std::vector<std::byte>& wav, const char* id, std::uint32_t size) {
    for (std::size_t at = 12; at + 8 <= wav.size();) {
        std::uint32_t n = 0;
        for (int i = 3; i >= 0; --i)
            n = (n << 8) |
                std::to_integer<std::uint32_t>(wav[at + 4 + static_cast<std::size_t>(i)]);
        if (std::memcmp(wav.data() + at, id, 4) == 0) {
            for (int i = 0; i < 4; ++i)
                wav[at + 4 + static_cast<std::size_t>(i)] = static_cast<std::byte>(size >> (8 * i));
            return;
        }
        at += 8 + n + n % 2;
    }
}

} // namespace gno::soundfonts::test
