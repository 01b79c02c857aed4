#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <gno/test/wav.hpp>
#include <iterator>

namespace gno::test {
namespace {

// Little-endian reads from a span; callers check the length first.
std::uint32_t le_u32(std::span<const std::byte> b, std::size_t at) {
    return static_cast<std::uint32_t>(b[at]) | static_cast<std::uint32_t>(b[at + 1]) << 8 |
           static_cast<std::uint32_t>(b[at + 2]) << 16 |
           static_cast<std::uint32_t>(b[at + 3]) << 24;
}

std::uint16_t le_u16(std::span<const std::byte> b, std::size_t at) {
    return static_cast<std::uint16_t>(static_cast<unsigned>(b[at]) |
                                      static_cast<unsigned>(b[at + 1]) << 8);
}

bool tag_is(std::span<const std::byte> b, std::size_t at, const char* tag) {
    return std::memcmp(b.data() + at, tag, 4) == 0;
}

constexpr std::uint16_t k_format_pcm = 1;
constexpr std::uint16_t k_format_float = 3;
constexpr std::uint16_t k_format_extensible = 0xFFFE;
constexpr int k_max_channels = 32;

struct wav_format {
    std::uint16_t tag = 0;
    int channels = 0;
    int sample_rate = 0;
    int bits = 0;
    std::size_t block_align = 0;
};

// Converts one sample; `p` points at bytes_per_sample valid bytes.
float decode_sample(const std::byte* p, const wav_format& f) {
    if (f.tag == k_format_float) {
        if (f.bits == 32) {
            std::uint32_t u = 0;
            for (int i = 0; i < 4; ++i)
                u |= static_cast<std::uint32_t>(p[i]) << (8 * i);
            float v = 0;
            std::memcpy(&v, &u, sizeof v);
            return v;
        }
        std::uint64_t u = 0;
        for (int i = 0; i < 8; ++i)
            u |= static_cast<std::uint64_t>(p[i]) << (8 * i);
        double v = 0;
        std::memcpy(&v, &u, sizeof v);
        return static_cast<float>(v);
    }
    switch (f.bits) {
    case 8: // 8-bit WAV is unsigned with 128 as zero
        return (static_cast<float>(p[0]) - 128.0f) / 128.0f;
    case 16: {
        const auto v = static_cast<std::int16_t>(static_cast<unsigned>(p[0]) |
                                                 static_cast<unsigned>(p[1]) << 8);
        return static_cast<float>(v) / 32768.0f;
    }
    case 24: {
        // Assemble in the top 24 bits of a 32-bit word so the sign comes out right.
        const std::uint32_t u = static_cast<std::uint32_t>(p[0]) << 8 |
                                static_cast<std::uint32_t>(p[1]) << 16 |
                                static_cast<std::uint32_t>(p[2]) << 24;
        return static_cast<float>(static_cast<double>(static_cast<std::int32_t>(u)) / 2147483648.0);
    }
    default: { // 32
        std::uint32_t u = 0;
        for (int i = 0; i < 4; ++i)
            u |= static_cast<std::uint32_t>(p[i]) << (8 * i);
        return static_cast<float>(static_cast<double>(static_cast<std::int32_t>(u)) / 2147483648.0);
    }
    }
}

std::string parse_fmt(std::span<const std::byte> c, wav_format& f) {
    if (c.size() < 16)
        return "fmt chunk too short";
    f.tag = le_u16(c, 0);
    f.channels = le_u16(c, 2);
    const std::uint32_t rate = le_u32(c, 4);
    f.block_align = le_u16(c, 12);
    f.bits = le_u16(c, 14);
    if (f.tag == k_format_extensible) {
        // cbSize(2) validBits(2) channelMask(4) then the sub-format GUID, whose first two
        // bytes are the plain format tag.
        if (c.size() < 40)
            return "EXTENSIBLE fmt chunk too short";
        f.tag = le_u16(c, 24);
    }
    if (f.tag != k_format_pcm && f.tag != k_format_float)
        return "unsupported format tag " + std::to_string(f.tag);
    if (f.channels < 1 || f.channels > k_max_channels)
        return "unsupported channel count " + std::to_string(f.channels);
    if (rate < 1 || rate > 1'000'000)
        return "implausible sample rate " + std::to_string(rate);
    f.sample_rate = static_cast<int>(rate);
    const bool pcm_ok =
        f.tag == k_format_pcm && (f.bits == 8 || f.bits == 16 || f.bits == 24 || f.bits == 32);
    const bool float_ok = f.tag == k_format_float && (f.bits == 32 || f.bits == 64);
    if (!pcm_ok && !float_ok)
        return "unsupported bits per sample " + std::to_string(f.bits);
    const std::size_t expected_align = static_cast<std::size_t>(f.channels) * (f.bits / 8);
    if (f.block_align != expected_align)
        return "block align " + std::to_string(f.block_align) + " does not match " +
               std::to_string(f.channels) + " x " + std::to_string(f.bits) + " bits";
    return {};
}

void put_u16(std::vector<std::byte>& out, std::uint32_t v) {
    out.push_back(static_cast<std::byte>(v & 0xFF));
    out.push_back(static_cast<std::byte>((v >> 8) & 0xFF));
}

void put_u32(std::vector<std::byte>& out, std::uint32_t v) {
    put_u16(out, v & 0xFFFF);
    put_u16(out, v >> 16);
}

void put_tag(std::vector<std::byte>& out, const char* tag) {
    for (int i = 0; i < 4; ++i)
        out.push_back(static_cast<std::byte>(tag[i]));
}

} // namespace

wav_read_result parse_wav(std::span<const std::byte> bytes) {
    wav_read_result result;
    if (bytes.size() < 12 || !tag_is(bytes, 0, "RIFF") || !tag_is(bytes, 8, "WAVE")) {
        result.error = "not a RIFF/WAVE file";
        return result;
    }
    wav_format format;
    bool have_format = false;
    std::size_t pos = 12;
    while (pos + 8 <= bytes.size()) {
        const std::uint32_t declared = le_u32(bytes, pos + 4);
        const std::size_t body = pos + 8;
        const std::size_t available = bytes.size() - body;
        if (tag_is(bytes, pos, "fmt ")) {
            if (declared > available) {
                result.error = "fmt chunk runs past the end of the file";
                return result;
            }
            if (auto err = parse_fmt(bytes.subspan(body, declared), format); !err.empty()) {
                result.error = err;
                return result;
            }
            have_format = true;
        } else if (tag_is(bytes, pos, "data")) {
            if (!have_format) {
                result.error = "data chunk before fmt chunk";
                return result;
            }
            std::size_t size = declared;
            if (declared == 0 || declared == 0xFFFFFFFFu) {
                size = available; // a streaming writer never came back to fill in the size
            } else if (declared > available) {
                result.error = "data chunk declares " + std::to_string(declared) +
                               " bytes but only " + std::to_string(available) + " remain";
                return result;
            }
            size -= size % format.block_align; // a partial last frame is not audio
            const std::size_t bytes_per_sample = static_cast<std::size_t>(format.bits / 8);
            const std::size_t count = size / bytes_per_sample;
            result.clip.sample_rate = format.sample_rate;
            result.clip.channels = format.channels;
            result.clip.samples.resize(count);
            const std::byte* p = bytes.data() + body;
            for (std::size_t i = 0; i < count; ++i)
                result.clip.samples[i] = decode_sample(p + i * bytes_per_sample, format);
            return result;
        }
        // Chunks are padded to an even size; guard the addition against huge declared sizes.
        const std::size_t padded = static_cast<std::size_t>(declared) + (declared & 1u);
        if (padded > available)
            break;
        pos = body + padded;
    }
    result.error = have_format ? "no data chunk" : "no fmt chunk";
    return result;
}

wav_read_result read_wav(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        wav_read_result r;
        r.error = "cannot open " + path.string();
        return r;
    }
    std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) {
        wav_read_result r;
        r.error = "cannot read " + path.string();
        return r;
    }
    auto result = parse_wav(std::as_bytes(std::span<const char>(raw)));
    if (!result.ok())
        result.error = path.string() + ": " + result.error;
    return result;
}

std::vector<std::byte> encode_wav(const audio_clip& clip, wav_sample_format format) {
    if (clip.channels < 1 || clip.channels > k_max_channels || clip.sample_rate < 1 ||
        clip.samples.size() % static_cast<std::size_t>(clip.channels) != 0)
        return {};
    const bool is_float = format == wav_sample_format::float32;
    const std::uint32_t bytes_per_sample = is_float ? 4 : 2;
    const auto channels = static_cast<std::uint32_t>(clip.channels);
    const std::uint64_t data_size = clip.samples.size() * bytes_per_sample;
    if (data_size > 0xFFFFFFFFull - 64)
        return {};

    std::vector<std::byte> out;
    out.reserve(44 + static_cast<std::size_t>(data_size));
    put_tag(out, "RIFF");
    put_u32(out, static_cast<std::uint32_t>(36 + data_size));
    put_tag(out, "WAVE");
    put_tag(out, "fmt ");
    put_u32(out, 16);
    put_u16(out, is_float ? k_format_float : k_format_pcm);
    put_u16(out, channels);
    put_u32(out, static_cast<std::uint32_t>(clip.sample_rate));
    put_u32(out, static_cast<std::uint32_t>(clip.sample_rate) * channels * bytes_per_sample);
    put_u16(out, channels * bytes_per_sample);
    put_u16(out, bytes_per_sample * 8);
    put_tag(out, "data");
    put_u32(out, static_cast<std::uint32_t>(data_size));
    for (float s : clip.samples) {
        if (is_float) {
            std::uint32_t u = 0;
            std::memcpy(&u, &s, sizeof u);
            put_u32(out, u);
        } else {
            // The same 32768 scale the reader uses, so a round trip is off by at most half a
            // step; +1.0 itself becomes the largest code, 32767.
            const float finite = std::isnan(s) ? 0.0f : s;
            const long code = std::lround(static_cast<double>(finite) * 32768.0);
            const auto v = static_cast<std::int16_t>(std::clamp(code, -32768L, 32767L));
            put_u16(out, static_cast<std::uint16_t>(v));
        }
    }
    return out;
}

std::string write_wav(const std::filesystem::path& path, const audio_clip& clip,
                      wav_sample_format format) {
    const auto bytes = encode_wav(clip, format);
    if (bytes.empty())
        return "invalid clip (channels " + std::to_string(clip.channels) + ", rate " +
               std::to_string(clip.sample_rate) + ", " + std::to_string(clip.samples.size()) +
               " samples)";
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out)
        return "cannot create " + path.string();
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out)
        return "cannot write " + path.string();
    return {};
}

std::vector<float> to_mono(const audio_clip& clip) {
    if (clip.channels < 1)
        return {};
    const auto ch = static_cast<std::size_t>(clip.channels);
    std::vector<float> mono(clip.frames());
    for (std::size_t f = 0; f < mono.size(); ++f) {
        double sum = 0.0;
        for (std::size_t c = 0; c < ch; ++c)
            sum += clip.samples[f * ch + c];
        mono[f] = static_cast<float>(sum / static_cast<double>(ch));
    }
    return mono;
}

std::vector<float> channel(const audio_clip& clip, int index) {
    if (index < 0 || index >= clip.channels)
        return {};
    const auto ch = static_cast<std::size_t>(clip.channels);
    std::vector<float> out(clip.frames());
    for (std::size_t f = 0; f < out.size(); ++f)
        out[f] = clip.samples[f * ch + static_cast<std::size_t>(index)];
    return out;
}

} // namespace gno::test
