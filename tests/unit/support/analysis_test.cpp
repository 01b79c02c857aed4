#include <cmath>
#include <gno/test/analysis.hpp>
#include <gtest/gtest.h>
#include <numbers>
#include <random>
#include <vector>

namespace {

using gno::test::detect_onsets;
using gno::test::estimate_pitch_hz;
using gno::test::rms_dbfs;

constexpr int k_rate = 48000;

// Sum of harmonics of f0 with the given amplitudes (index 0 = fundamental).
std::vector<float> harmonic_tone(double f0, const std::vector<double>& amplitudes, double seconds,
                                 int rate = k_rate) {
    std::vector<float> out(static_cast<std::size_t>(seconds * rate));
    for (std::size_t i = 0; i < out.size(); ++i) {
        double v = 0.0;
        const double t = static_cast<double>(i) / rate;
        for (std::size_t h = 0; h < amplitudes.size(); ++h)
            v += amplitudes[h] *
                 std::sin(2.0 * std::numbers::pi * f0 * static_cast<double>(h + 1) * t +
                          0.3 * static_cast<double>(h));
        out[i] = static_cast<float>(v);
    }
    return out;
}

std::vector<float> sine(double f, double amplitude, double seconds, int rate = k_rate) {
    return harmonic_tone(f, {amplitude}, seconds, rate);
}

TEST(Rms, FullScaleSineIsMinus3dB) {
    EXPECT_NEAR(rms_dbfs(sine(1000.0, 1.0, 1.0)), -3.0103, 0.01);
    EXPECT_NEAR(rms_dbfs(sine(1000.0, 0.1, 1.0)), -23.0103, 0.01);
}

TEST(Rms, SilenceIsVeryLow) {
    const std::vector<float> zeros(48000, 0.0f);
    EXPECT_LE(rms_dbfs(zeros), -150.0);
    EXPECT_LE(rms_dbfs({}), -150.0);
    // A single LSB of 16-bit noise is still far above digital silence.
    std::vector<float> lsb(48000, 1.0f / 32768.0f);
    EXPECT_NEAR(rms_dbfs(lsb), -90.3, 0.1);
}

TEST(Rms, EnvelopeFollowsTheSignal) {
    auto x = sine(500.0, 0.5, 0.1);
    x.resize(x.size() + 480, 0.0f); // 100 ms of signal, 10 ms of silence
    const auto env = gno::test::rms_envelope_dbfs(x, k_rate, 0.01);
    ASSERT_EQ(env.size(), 11u);
    for (std::size_t i = 0; i < 10; ++i)
        EXPECT_NEAR(env[i], 20.0 * std::log10(0.5 / std::sqrt(2.0)), 0.1) << i;
    EXPECT_LE(env[10], -150.0);
    // A trailing partial window is reported too.
    x.resize(x.size() + 100, 0.0f);
    EXPECT_EQ(gno::test::rms_envelope_dbfs(x, k_rate, 0.01).size(), 12u);
}

TEST(Pitch, Sine440WithinATenthOfAPercent) {
    const auto f = estimate_pitch_hz(sine(440.0, 0.5, 0.5), k_rate, 50.0, 2000.0);
    ASSERT_TRUE(f.has_value());
    EXPECT_NEAR(*f, 440.0, 0.44);
}

TEST(Pitch, SinesAcrossTheKeyboard) {
    for (double f0 : {27.5, 55.0, 110.0, 261.63, 466.16, 880.0, 1567.98, 3520.0, 4186.0}) {
        const auto f = estimate_pitch_hz(sine(f0, 0.3, 0.5), k_rate, 25.0, 4500.0);
        ASSERT_TRUE(f.has_value()) << f0;
        EXPECT_NEAR(*f / f0, 1.0, 0.001) << f0;
    }
}

TEST(Pitch, StrongUpperHarmonicsDoNotCauseOctaveErrors) {
    // Fundamental 20 dB below the 2nd and 3rd harmonics (a flute/oboe-like spectrum).
    const auto weak = harmonic_tone(196.0, {0.05, 0.5, 0.4, 0.2, 0.1}, 0.5);
    auto f = estimate_pitch_hz(weak, k_rate, 50.0, 2000.0);
    ASSERT_TRUE(f.has_value());
    EXPECT_NEAR(*f, 196.0, 0.196);

    // No fundamental at all: the period is still that of 196 Hz.
    const auto missing = harmonic_tone(196.0, {0.0, 0.5, 0.5, 0.3}, 0.5);
    f = estimate_pitch_hz(missing, k_rate, 50.0, 2000.0);
    ASSERT_TRUE(f.has_value());
    EXPECT_NEAR(*f, 196.0, 0.196);

    // Odd harmonics dominant (clarinet-like): no jump to a sub- or super-octave.
    const auto bright = harmonic_tone(523.25, {1.0, 0.05, 0.6, 0.05, 0.4}, 0.5);
    f = estimate_pitch_hz(bright, k_rate, 50.0, 2000.0);
    ASSERT_TRUE(f.has_value());
    EXPECT_NEAR(*f, 523.25, 0.52);
}

TEST(Pitch, NoiseSilenceAndShortInputHaveNoPitch) {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(-0.5f, 0.5f);
    std::vector<float> noise(24000);
    for (auto& v : noise)
        v = u(rng);
    EXPECT_FALSE(estimate_pitch_hz(noise, k_rate, 50.0, 2000.0).has_value());
    EXPECT_FALSE(estimate_pitch_hz(std::vector<float>(24000, 0.0f), k_rate, 50.0, 2000.0));
    // Fewer than two periods of fmin.
    EXPECT_FALSE(estimate_pitch_hz(sine(440.0, 0.5, 0.03), k_rate, 50.0, 2000.0));
}

TEST(ToneLevel, PresentAndAbsentFrequencies) {
    auto a = sine(440.0, 0.4, 0.5);
    const auto b = sine(660.0, 0.4, 0.5);
    for (std::size_t i = 0; i < a.size(); ++i)
        a[i] += b[i];
    EXPECT_NEAR(gno::test::tone_level_db(a, k_rate, 440.0), -3.01, 0.3);
    EXPECT_NEAR(gno::test::tone_level_db(a, k_rate, 660.0), -3.01, 0.3);
    EXPECT_LT(gno::test::tone_level_db(a, k_rate, 550.0), -40.0);
    EXPECT_LT(gno::test::tone_level_db(a, k_rate, 880.0), -40.0);
    // Slightly detuned: found with a search band, much weaker without.
    EXPECT_NEAR(gno::test::tone_level_db(a, k_rate, 444.0, 6.0), -3.01, 0.3);
    EXPECT_LT(gno::test::tone_level_db(a, k_rate, 452.0), -20.0);
    EXPECT_NEAR(gno::test::tone_amplitude(a, k_rate, 440.0), 0.4, 0.01);
    EXPECT_LE(gno::test::tone_level_db(std::vector<float>(1000, 0.0f), k_rate, 440.0), -150.0);
}

struct burst {
    double start_s;
    double freq;
    double amplitude;
    double length_s;
};

std::vector<float> render_bursts(const std::vector<burst>& bursts, double total_s,
                                 double noise_dbfs) {
    std::vector<float> out(static_cast<std::size_t>(total_s * k_rate), 0.0f);
    std::mt19937 rng(3);
    std::normal_distribution<float> n(0.0f, static_cast<float>(std::pow(10.0, noise_dbfs / 20.0)));
    for (auto& v : out)
        v = n(rng);
    for (const auto& b : bursts) {
        const auto first = static_cast<std::size_t>(std::llround(b.start_s * k_rate));
        const auto count = static_cast<std::size_t>(b.length_s * k_rate);
        for (std::size_t i = 0; i < count && first + i < out.size(); ++i) {
            const double t = static_cast<double>(i) / k_rate;
            // 1 ms fade-in and 5 ms fade-out: realistic edges, no clicks.
            const double gain = std::min({1.0, t / 0.001, (b.length_s - t) / 0.005});
            out[first + i] += static_cast<float>(gain * b.amplitude *
                                                 std::sin(2.0 * std::numbers::pi * b.freq * t));
        }
    }
    return out;
}

TEST(Onsets, ToneBurstsFoundWithin5msAndCountedExactly) {
    const std::vector<burst> bursts = {
        {0.100, 220.0, 0.5, 0.15},  {0.350, 440.0, 0.1, 0.12}, {0.520, 880.0, 0.8, 0.30},
        {0.900, 330.0, 0.03, 0.20}, {1.234, 1000.0, 0.3, 0.1}, {1.600, 150.0, 0.6, 0.25},
        {1.930, 2000.0, 0.2, 0.05},
    };
    const auto x = render_bursts(bursts, 2.2, -70.0);
    const auto onsets = detect_onsets(x, k_rate);
    ASSERT_EQ(onsets.size(), bursts.size());
    for (std::size_t i = 0; i < bursts.size(); ++i)
        EXPECT_NEAR(onsets[i], bursts[i].start_s, 0.005) << "burst " << i;
}

TEST(Onsets, DecayingNotesEachGiveOneOnset) {
    // Piano-like: sharp attack, exponential decay (tau 40 ms), next note 250 ms later.
    std::vector<float> x(static_cast<std::size_t>(1.5 * k_rate), 0.0f);
    const std::vector<double> starts = {0.05, 0.30, 0.55, 0.80, 1.05};
    for (double s : starts) {
        const auto first = static_cast<std::size_t>(s * k_rate);
        for (std::size_t i = first; i < x.size(); ++i) {
            const double t = static_cast<double>(i - first) / k_rate;
            x[i] += static_cast<float>(0.5 * std::exp(-t / 0.04) *
                                       std::sin(2.0 * std::numbers::pi * 392.0 * t));
        }
    }
    const auto onsets = detect_onsets(x, k_rate);
    ASSERT_EQ(onsets.size(), starts.size());
    for (std::size_t i = 0; i < starts.size(); ++i)
        EXPECT_NEAR(onsets[i], starts[i], 0.005);
}

TEST(Onsets, SustainedToneWithTremoloIsOneOnset) {
    auto x = sine(440.0, 0.5, 1.0);
    for (std::size_t i = 0; i < x.size(); ++i) // 6 dB of tremolo at 5 Hz
        x[i] *= static_cast<float>(
            0.75 + 0.25 * std::sin(2.0 * std::numbers::pi * 5.0 * static_cast<double>(i) / k_rate));
    std::vector<float> padded(4800, 0.0f);
    padded.insert(padded.end(), x.begin(), x.end());
    const auto onsets = detect_onsets(padded, k_rate);
    ASSERT_EQ(onsets.size(), 1u);
    EXPECT_NEAR(onsets[0], 0.1, 0.005);
}

TEST(Onsets, QuietBurstsBelowTheFloorAreIgnored) {
    const auto x = render_bursts({{0.1, 440.0, 0.0005, 0.1}, {0.4, 440.0, 0.5, 0.1}}, 0.6, -100.0);
    const auto onsets = detect_onsets(x, k_rate); // first burst is at -69 dBFS, floor -60
    ASSERT_EQ(onsets.size(), 1u);
    EXPECT_NEAR(onsets[0], 0.4, 0.005);
}

TEST(SoundEdges, FirstAndLastSampleAbove) {
    std::vector<float> x(1000, 0.0f);
    x[100] = 0.02f; // -34 dBFS peak
    x[500] = 0.5f;
    x[700] = -0.3f;
    x[900] = 0.001f; // -60 dBFS
    EXPECT_EQ(gno::test::first_sample_above_dbfs(x, -40.0), 100u);
    EXPECT_EQ(gno::test::first_sample_above_dbfs(x, -20.0), 500u);
    EXPECT_EQ(gno::test::last_sample_above_dbfs(x, -20.0), 700u);
    EXPECT_EQ(gno::test::last_sample_above_dbfs(x, -70.0), 900u);
    EXPECT_FALSE(gno::test::first_sample_above_dbfs(x, 0.0).has_value());
    EXPECT_FALSE(gno::test::last_sample_above_dbfs({}, -100.0).has_value());
}

TEST(Slice, ClampsToTheSignal) {
    const std::vector<float> x(48000, 0.0f);
    EXPECT_EQ(gno::test::slice_seconds(x, k_rate, 0.5, 0.75).size(), 12000u);
    EXPECT_EQ(gno::test::slice_seconds(x, k_rate, 0.9, 5.0).size(), 4800u);
    EXPECT_EQ(gno::test::slice_seconds(x, k_rate, -1.0, 0.1).size(), 4800u);
    EXPECT_TRUE(gno::test::slice_seconds(x, k_rate, 2.0, 3.0).empty());
    EXPECT_TRUE(gno::test::slice_seconds(x, k_rate, 0.5, 0.2).empty());
}

} // namespace
