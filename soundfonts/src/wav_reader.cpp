#include "gno/soundfonts/wav_reader.hpp"

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>

namespace gno::soundfonts {
namespace {

constexpr std::uint16_t k_pcm = 1;
constexpr std::uint16_t k_float = 3;
constexpr std::uint16_t k_extensible = 0xFFFE;

std::uint16_t le16(const std::byte* p) {
    return static_cast<std::uint16_t>(std::to_integer<unsigned>(p[0]) |
                                      (std::to_integer<unsigned>(p[1]) << 8));
}
std::uint32_t le32(const std::byte* p) {
    return static_cast<std::uint32_t>(le16(p)) | (static_cast<std::uint32_t>(le16(p + 2)) << 16);
}
bool id_is(const std::byte* p, const char (&id)[5]) {
    return std::memcmp(p, id, 4) == 0;
}
std::string id_text(const std::byte* p) {
    std::string s;
    for (int i = 0; i < 4; ++i) {
        const auto c = std::to_integer<unsigned char>(p[i]);
        s.push_back(c >= 32 && c < 127 ? static_cast<char>(c) : '?');
    }
    return s;
}

wav_audio failure(std::string why) {
    wav_audio a;
    a.error = std::move(why);
    return a;
}

struct format {
    std::uint16_t tag = 0;
    int channels = 0;
    int rate = 0;
    int bits = 0;
    int block_align = 0;
};

// The fmt chunk, or why not.
std::optional<format> read_format(std::span<const std::byte> c, std::string& error) {
    if (c.size() < 16) {
        error = "fmt chunk is " + std::to_string(c.size()) + " bytes, shorter than 16";
        return std::nullopt;
    }
    format f;
    f.tag = le16(c.data());
    f.channels = le16(c.data() + 2);
    f.rate = static_cast<int>(std::min<std::uint32_t>(le32(c.data() + 4), 1u << 30));
    const std::uint32_t byte_rate = le32(c.data() + 8);
    f.block_align = le16(c.data() + 12);
    f.bits = le16(c.data() + 14);
    if (f.tag == k_extensible) {
        // cbSize(2) validBits(2) channelMask(4) then the sub-format GUID whose first two bytes
        // are the plain format tag.
        if (c.size() < 40 || le16(c.data() + 16) < 22) {
            error = "WAVE_FORMAT_EXTENSIBLE fmt chunk is too short";
            return std::nullopt;
        }
        f.tag = le16(c.data() + 24);
    }
    if (f.tag != k_pcm && f.tag != k_float) {
        error = "format " + std::to_string(f.tag) + " is not PCM (1) or IEEE float (3)";
        return std::nullopt;
    }
    if (f.tag == k_pcm && f.bits != 16 && f.bits != 24) {
        error = "PCM must be 16 or 24 bits, not " + std::to_string(f.bits);
        return std::nullopt;
    }
    if (f.tag == k_float && f.bits != 32) {
        error = "float samples must be 32 bits, not " + std::to_string(f.bits);
        return std::nullopt;
    }
    if (f.channels != 1 && f.channels != 2) {
        error = std::to_string(f.channels) + " channels; mono or stereo only";
        return std::nullopt;
    }
    if (f.block_align != f.channels * f.bits / 8) {
        error = "block align " + std::to_string(f.block_align) + " does not match " +
                std::to_string(f.channels) + " channels of " + std::to_string(f.bits) + " bits";
        return std::nullopt;
    }
    if (byte_rate !=
        static_cast<std::uint32_t>(f.rate) * static_cast<std::uint32_t>(f.block_align)) {
        error = "byte rate " + std::to_string(byte_rate) + " does not match " +
                std::to_string(f.rate) + " Hz x " + std::to_string(f.block_align) + " bytes";
        return std::nullopt;
    }
    return f;
}

float sample_at(const std::byte* p, const format& f) {
    if (f.tag == k_float) {
        float v;
        const std::uint32_t u = le32(p);
        std::memcpy(&v, &u, sizeof v);
        return v;
    }
    if (f.bits == 16)
        return static_cast<float>(static_cast<std::int16_t>(le16(p))) / 32768.0f;
    const std::uint32_t u = std::to_integer<std::uint32_t>(p[0]) |
                            (std::to_integer<std::uint32_t>(p[1]) << 8) |
                            (std::to_integer<std::uint32_t>(p[2]) << 16);
    const auto s = static_cast<std::int32_t>(u << 8) >> 8; // sign-extend 24 bits
    return static_cast<float>(s) / 8388608.0f;
}

} // namespace

wav_audio read_wav(std::span<const std::byte> bytes, const wav_limits& limits) {
    if (bytes.size() < 12 || !id_is(bytes.data(), "RIFF") || !id_is(bytes.data() + 8, "WAVE"))
        return failure("not a RIFF/WAVE file");
    const std::uint64_t riff_size = le32(bytes.data() + 4);
    if (riff_size + 8 > bytes.size())
        return failure("RIFF header says " + std::to_string(riff_size + 8) +
                       " bytes but the file has " + std::to_string(bytes.size()));
    if (riff_size < 4)
        return failure("RIFF size " + std::to_string(riff_size) + " is too small");
    // Trailing bytes after the RIFF chunk are ignored; everything inside it must fit.
    const auto body = bytes.subspan(12, static_cast<std::size_t>(riff_size - 4));

    std::optional<format> fmt;
    std::span<const std::byte> data;
    bool have_data = false;
    std::size_t at = 0;
    while (at < body.size()) {
        if (body.size() - at < 8)
            return failure("a chunk header is cut short at byte " + std::to_string(12 + at));
        const std::byte* h = body.data() + at;
        const std::uint64_t size = le32(h + 4);
        const std::uint64_t left = body.size() - at - 8;
        if (size > left)
            return failure("chunk '" + id_text(h) + "' says " + std::to_string(size) +
                           " bytes but only " + std::to_string(left) + " remain in the file");
        const auto content = body.subspan(at + 8, static_cast<std::size_t>(size));
        if (id_is(h, "fmt ")) {
            if (fmt)
                return failure("two fmt chunks");
            std::string why;
            fmt = read_format(content, why);
            if (!fmt)
                return failure(why);
        } else if (id_is(h, "data")) {
            if (have_data)
                return failure("two data chunks");
            if (!fmt)
                return failure("the data chunk comes before the fmt chunk");
            data = content;
            have_data = true;
        }
        at += 8 + static_cast<std::size_t>(size) + static_cast<std::size_t>(size % 2);
    }
    if (!fmt)
        return failure("no fmt chunk");
    if (!have_data)
        return failure("no data chunk");
    if (fmt->rate < limits.min_rate || fmt->rate > limits.max_rate)
        return failure("sample rate " + std::to_string(fmt->rate) + " Hz is outside " +
                       std::to_string(limits.min_rate) + ".." + std::to_string(limits.max_rate));
    if (data.size() % static_cast<std::size_t>(fmt->block_align) != 0)
        return failure("data chunk of " + std::to_string(data.size()) +
                       " bytes is not a whole number of " + std::to_string(fmt->block_align) +
                       "-byte frames");
    const std::size_t frames = data.size() / static_cast<std::size_t>(fmt->block_align);
    if (frames == 0)
        return failure("no audio in the data chunk");
    if (static_cast<double>(frames) > limits.max_seconds * fmt->rate)
        return failure("longer than " + std::to_string(static_cast<int>(limits.max_seconds)) +
                       " s");

    wav_audio a;
    a.sample_rate = fmt->rate;
    a.channels = fmt->channels;
    a.bits = fmt->bits;
    a.samples.resize(frames);
    const std::size_t width = static_cast<std::size_t>(fmt->bits / 8);
    for (std::size_t i = 0; i < frames; ++i) {
        const std::byte* p = data.data() + i * static_cast<std::size_t>(fmt->block_align);
        float v = sample_at(p, *fmt);
        if (fmt->channels == 2)
            v = 0.5f * (v + sample_at(p + width, *fmt));
        if (!std::isfinite(v))
            return failure("sample " + std::to_string(i) + " is not a finite number");
        a.samples[i] = v;
    }
    return a;
}

} // namespace gno::soundfonts
