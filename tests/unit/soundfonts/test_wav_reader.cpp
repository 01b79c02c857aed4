// The strict WAV reader: every format a performer may upload decodes to the same mono signal,
// and every header that lies or is out of range is an error naming what is wrong.
#include "gno/soundfonts/wav_reader.hpp"
#include "wav_bytes.hpp"

#include <gtest/gtest.h>

namespace gno::soundfonts {
namespace {

using test::sine;
using test::wav_bytes;
using test::wav_spec;

TEST(WavReader, ReadsEveryAcceptedFormatToTheSameMono) {
    const auto x = sine(440.0, 0.1);
    std::vector<float> stereo;
    for (const float v : x) {
        stereo.push_back(v);
        stereo.push_back(v);
    }
    const std::vector<std::pair<wav_spec, const std::vector<float>*>> cases = {
        {{1, 48000, 16, false, false}, &x},    {{1, 48000, 24, false, false}, &x},
        {{1, 48000, 32, true, false}, &x},     {{2, 48000, 16, false, false}, &stereo},
        {{2, 48000, 32, true, true}, &stereo}, {{1, 48000, 24, false, true}, &x}};
    for (const auto& [spec, samples] : cases) {
        const auto a = read_wav(wav_bytes(spec, *samples));
        ASSERT_TRUE(a.ok()) << a.error << " (" << spec.channels << " ch, " << spec.bits << " bits)";
        EXPECT_EQ(a.sample_rate, 48000);
        EXPECT_EQ(a.channels, spec.channels);
        ASSERT_EQ(a.samples.size(), x.size());
        for (std::size_t i = 0; i < x.size(); i += 97)
            EXPECT_NEAR(a.samples[i], x[i], 1e-4) << "sample " << i;
    }
}

TEST(WavReader, ALyingDataSizeIsAnErrorNamingTheChunk) {
    auto w = wav_bytes({}, sine(440.0, 0.1));
    test::set_chunk_size(w, "data", 1'000'000);
    const auto a = read_wav(w);
    EXPECT_FALSE(a.ok());
    EXPECT_TRUE(a.samples.empty());
    EXPECT_NE(a.error.find("'data' says 1000000 bytes"), std::string::npos) << a.error;
}

TEST(WavReader, RefusesWhatIsNotASampleWeCanUse) {
    const auto x = sine(440.0, 0.05);
    auto error_of = [](std::vector<std::byte> w) {
        return read_wav(w).error;
    };
    EXPECT_NE(error_of(wav_bytes({1, 4000, 16}, sine(440.0, 0.1, 4000))).find("4000 Hz"),
              std::string::npos);
    EXPECT_NE(error_of(wav_bytes({1, 192000, 16}, x)).find("192000"), std::string::npos);
    EXPECT_NE(error_of(wav_bytes({1, 48000, 8}, x)).find("16 or 24"), std::string::npos);
    std::vector<float> three(x.size() * 3);
    EXPECT_NE(error_of(wav_bytes({3, 48000, 16}, three)).find("channels"), std::string::npos);
    // The RIFF size longer than the file (a truncated upload).
    auto w = wav_bytes({}, x);
    w.resize(w.size() - 10);
    EXPECT_NE(error_of(w).find("RIFF header says"), std::string::npos) << error_of(w);
    // Not a WAV at all, or nothing in it.
    EXPECT_NE(error_of({}).find("RIFF/WAVE"), std::string::npos);
    EXPECT_NE(error_of(wav_bytes({}, {})).find("no audio"), std::string::npos);
    // A float sample that is not a number.
    EXPECT_NE(
        error_of(wav_bytes({1, 48000, 32, true}, {0.1f, std::nanf(""), 0.2f})).find("not a finite"),
        std::string::npos);
    // A data chunk not a whole number of frames.
    auto odd = wav_bytes({}, x);
    test::set_chunk_size(odd, "data", static_cast<std::uint32_t>(x.size() * 2 - 1));
    odd.push_back(std::byte{0}); // RIFF's pad byte keeps the chunk inside the file
    EXPECT_NE(error_of(odd).find("whole number"), std::string::npos) << error_of(odd);
    // Too long.
    wav_limits short_limit;
    short_limit.max_seconds = 0.01;
    EXPECT_NE(read_wav(wav_bytes({}, x), short_limit).error.find("longer than"), std::string::npos);
}

// Arbitrary bytes never crash the reader (a cheap stand-in for the fuzzer).
TEST(WavReader, SurvivesEveryTruncationAndCorruption) {
    const auto w = wav_bytes({2, 44100, 24}, std::vector<float>(200, 0.25f));
    for (std::size_t n = 0; n < w.size(); ++n) {
        const auto part = std::span(w).first(n);
        (void)read_wav(part);
        auto bent = w;
        bent[n] = static_cast<std::byte>(~std::to_integer<unsigned>(bent[n]));
        (void)read_wav(bent);
    }
    SUCCEED();
}

} // namespace
} // namespace gno::soundfonts
