#include <cmath>
#include <cstdint>
#include <cstring>
#include <gno/test/process.hpp>
#include <gno/test/wav.hpp>
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace {

using gno::test::audio_clip;
using gno::test::parse_wav;
using gno::test::wav_sample_format;

// Builds RIFF files byte by byte, independently of encode_wav, to test the reader.
struct riff_builder {
    std::vector<std::byte> bytes;

    void u8(unsigned v) { bytes.push_back(static_cast<std::byte>(v & 0xFF)); }
    void u16(unsigned v) {
        u8(v);
        u8(v >> 8);
    }
    void u32(std::uint32_t v) {
        u16(v & 0xFFFF);
        u16(v >> 16);
    }
    void tag(const char* t) {
        for (int i = 0; i < 4; ++i)
            u8(static_cast<unsigned char>(t[i]));
    }
    void chunk(const char* t, const std::vector<std::byte>& body) {
        tag(t);
        u32(static_cast<std::uint32_t>(body.size()));
        bytes.insert(bytes.end(), body.begin(), body.end());
        if (body.size() % 2 != 0)
            u8(0); // pad byte
    }
    std::vector<std::byte> finish() {
        riff_builder out;
        out.tag("RIFF");
        out.u32(static_cast<std::uint32_t>(bytes.size() + 4));
        out.tag("WAVE");
        out.bytes.insert(out.bytes.end(), bytes.begin(), bytes.end());
        return out.bytes;
    }
};

std::vector<std::byte> fmt_body(unsigned tag, unsigned channels, unsigned rate, unsigned bits) {
    riff_builder b;
    b.u16(tag);
    b.u16(channels);
    b.u32(rate);
    b.u32(rate * channels * bits / 8);
    b.u16(channels * bits / 8);
    b.u16(bits);
    return b.bytes;
}

TEST(Wav, Float32RoundTripIsExact) {
    audio_clip clip{44100, 2, {0.0f, -1.0f, 0.5f, 0.25f, 1.5f, -0.123456f}};
    const auto r = parse_wav(gno::test::encode_wav(clip, wav_sample_format::float32));
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.clip.sample_rate, 44100);
    EXPECT_EQ(r.clip.channels, 2);
    EXPECT_EQ(r.clip.samples, clip.samples);
    EXPECT_EQ(r.clip.frames(), 3u);
}

TEST(Wav, Pcm16RoundTripThroughAFile) {
    gno::test::temp_dir dir;
    audio_clip clip{48000, 1, {}};
    for (int i = 0; i < 4800; ++i)
        clip.samples.push_back(static_cast<float>(0.9 * std::sin(i * 0.05)));
    clip.samples.push_back(1.7f); // clamps
    clip.samples.push_back(-3.0f);
    const auto path = dir / "x.wav";
    ASSERT_EQ(gno::test::write_wav(path, clip, wav_sample_format::pcm16), "");
    const auto r = gno::test::read_wav(path);
    ASSERT_TRUE(r.ok()) << r.error;
    ASSERT_EQ(r.clip.samples.size(), clip.samples.size());
    for (std::size_t i = 0; i + 2 < clip.samples.size(); ++i)
        ASSERT_NEAR(r.clip.samples[i], clip.samples[i], 0.5 / 32768.0 + 1e-9) << i;
    EXPECT_NEAR(r.clip.samples[4800], 1.0f, 1e-4);
    EXPECT_NEAR(r.clip.samples[4801], -1.0f, 1e-4);
    EXPECT_NEAR(r.clip.duration_s(), 4802.0 / 48000.0, 1e-9);
}

TEST(Wav, WriteRejectsAnInvalidClip) {
    gno::test::temp_dir dir;
    EXPECT_NE(gno::test::write_wav(dir / "a.wav", audio_clip{48000, 2, {0.0f, 1.0f, 2.0f}},
                                   wav_sample_format::pcm16),
              "");
    EXPECT_NE(
        gno::test::write_wav(dir / "b.wav", audio_clip{0, 1, {0.0f}}, wav_sample_format::float32),
        "");
    EXPECT_NE(gno::test::write_wav(dir / "missing" / "c.wav", audio_clip{48000, 1, {0.0f}},
                                   wav_sample_format::float32),
              "");
}

TEST(Wav, Reads24BitWithExtraChunksBeforeAndAfter) {
    riff_builder b;
    b.chunk("LIST", std::vector<std::byte>(7, std::byte{'x'})); // odd size: padded
    b.chunk("fmt ", fmt_body(1, 2, 96000, 24));
    b.chunk("junk", std::vector<std::byte>(3));
    riff_builder data;
    for (std::uint32_t v : {0x7FFFFFu, 0x800000u, 0x400000u, 0xFFFFFFu}) {
        data.u8(v);
        data.u8(v >> 8);
        data.u8(v >> 16);
    }
    b.chunk("data", data.bytes);
    b.chunk("LIST", std::vector<std::byte>(10));
    const auto r = parse_wav(b.finish());
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.clip.sample_rate, 96000);
    ASSERT_EQ(r.clip.samples.size(), 4u);
    EXPECT_NEAR(r.clip.samples[0], 8388607.0 / 8388608.0, 1e-7);
    EXPECT_EQ(r.clip.samples[1], -1.0f);
    EXPECT_EQ(r.clip.samples[2], 0.5f);
    EXPECT_NEAR(r.clip.samples[3], -1.0 / 8388608.0, 1e-9);
}

TEST(Wav, ReadsExtensible32BitIntAndFloat) {
    for (unsigned sub : {1u, 3u}) {
        riff_builder fmt;
        fmt.bytes = fmt_body(0xFFFE, 1, 48000, 32);
        fmt.u16(22); // cbSize
        fmt.u16(32); // valid bits
        fmt.u32(4);  // channel mask
        fmt.u16(sub);
        for (int i = 0; i < 14; ++i)
            fmt.u8(0); // rest of the GUID, not checked
        riff_builder b;
        b.chunk("fmt ", fmt.bytes);
        riff_builder data;
        if (sub == 1) {
            data.u32(0x40000000u); // 0.5
            data.u32(0xC0000000u); // -0.5
        } else {
            for (float f : {0.5f, -0.5f}) {
                std::uint32_t u = 0;
                std::memcpy(&u, &f, 4);
                data.u32(u);
            }
        }
        b.chunk("data", data.bytes);
        const auto r = parse_wav(b.finish());
        ASSERT_TRUE(r.ok()) << r.error;
        EXPECT_EQ(r.clip.samples, (std::vector<float>{0.5f, -0.5f})) << sub;
    }
}

TEST(Wav, StreamingSizeMeansToTheEnd) {
    riff_builder b;
    b.chunk("fmt ", fmt_body(1, 1, 8000, 16));
    b.tag("data");
    b.u32(0xFFFFFFFFu);
    b.u16(0x4000);
    b.u16(0xC000);
    b.u8(0x12); // half a sample: ignored
    const auto r = parse_wav(b.finish());
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.clip.samples, (std::vector<float>{0.5f, -0.5f}));
}

TEST(Wav, BadFilesAreErrorsNotCrashes) {
    const auto valid = gno::test::encode_wav(audio_clip{48000, 2, std::vector<float>(200, 0.25f)},
                                             wav_sample_format::pcm16);
    ASSERT_TRUE(parse_wav(valid).ok());
    // Every truncation is reported; none reads past the end (ASan builds check that).
    for (std::size_t n = 0; n < valid.size(); ++n)
        EXPECT_FALSE(parse_wav(std::span(valid).first(n)).ok()) << "length " << n;

    auto lying = valid; // data size claims 1000 bytes more than the file has
    const std::uint32_t declared = 400 + 1000;
    for (int i = 0; i < 4; ++i)
        lying[40 + static_cast<std::size_t>(i)] = static_cast<std::byte>(declared >> (8 * i));
    auto r = parse_wav(lying);
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error.find("data chunk declares"), std::string::npos) << r.error;

    auto wrong_align = valid;
    wrong_align[32] = std::byte{3};
    EXPECT_FALSE(parse_wav(wrong_align).ok());

    auto zero_channels = valid;
    zero_channels[22] = std::byte{0};
    EXPECT_FALSE(parse_wav(zero_channels).ok());

    auto huge_chunk = valid; // fmt chunk claims 4 GiB
    for (int i = 16; i < 20; ++i)
        huge_chunk[static_cast<std::size_t>(i)] = std::byte{0xFF};
    EXPECT_FALSE(parse_wav(huge_chunk).ok());

    riff_builder no_fmt;
    no_fmt.chunk("data", std::vector<std::byte>(8));
    EXPECT_FALSE(parse_wav(no_fmt.finish()).ok());

    riff_builder adpcm;
    adpcm.chunk("fmt ", fmt_body(2, 1, 8000, 4));
    adpcm.chunk("data", std::vector<std::byte>(8));
    r = parse_wav(adpcm.finish());
    EXPECT_NE(r.error.find("format tag"), std::string::npos) << r.error;

    const std::string text = "RIFX....WAVEfmt ";
    EXPECT_FALSE(parse_wav(std::as_bytes(std::span(text))).ok());
    EXPECT_FALSE(gno::test::read_wav("/nonexistent/file.wav").ok());
}

TEST(Wav, MonoMixdownAndChannels) {
    const audio_clip clip{48000, 2, {1.0f, 0.0f, 0.5f, -0.5f, -1.0f, -0.5f}};
    EXPECT_EQ(gno::test::to_mono(clip), (std::vector<float>{0.5f, 0.0f, -0.75f}));
    EXPECT_EQ(gno::test::channel(clip, 1), (std::vector<float>{0.0f, -0.5f, -0.5f}));
    EXPECT_TRUE(gno::test::channel(clip, 2).empty());
}

} // namespace
