// The local monitor (--own-voice local) with the real FluidSynth and the build's GM soundfont:
// what it renders is checked by analysis, as the audio thread would call it (256-frame periods).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <gno/client/local_monitor.hpp>
#include <gno/test/analysis.hpp>
#include <gtest/gtest.h>
#include <string>
#include <unistd.h>
#include <vector>

namespace gno::client {
namespace {

constexpr int k_rate = 48000;
constexpr std::size_t k_period = 256; // a JACK period

local_monitor_config flute() {
    return {GNO_TEST_SOUNDFONT, 0, 73};
}

struct stereo {
    std::vector<float> left, right;
    [[nodiscard]] std::vector<float> mono() const {
        std::vector<float> m(left.size());
        for (std::size_t i = 0; i < m.size(); ++i)
            m[i] = 0.5f * (left[i] + right[i]);
        return m;
    }
};

/// `seconds` of output in periods of k_period, each period's buffers holding `bed` first.
stereo render(local_monitor& m, double seconds, float bed = 0.0f) {
    const auto n = static_cast<std::size_t>(seconds * k_rate) / k_period * k_period;
    stereo out{std::vector<float>(n, bed), std::vector<float>(n, bed)};
    for (std::size_t at = 0; at < n; at += k_period)
        m.render_add(out.left.data() + at, out.right.data() + at, k_period);
    return out;
}

TEST(local_monitor, a_key_sounds_at_its_pitch_at_once) {
    local_monitor m(flute());
    EXPECT_EQ(test::rms_dbfs(render(m, 0.1).mono()), test::k_silence_dbfs);
    m.key_down(69, 100);
    const auto mono = render(m, 0.5).mono();
    // Sounding from the first period: the key is applied before the period is rendered.
    EXPECT_GT(test::rms_dbfs(test::slice_seconds(mono, k_rate, 0.0, 256.0 / k_rate)), -70.0);
    const auto held = test::slice_seconds(mono, k_rate, 0.1, 0.5);
    const auto pitch = test::estimate_pitch_hz(held, k_rate, 100.0, 2000.0);
    ASSERT_TRUE(pitch);
    EXPECT_NEAR(*pitch, 440.0, 4.0);
    EXPECT_GT(test::rms_dbfs(held), -40.0); // about -31 dBFS: gain 0.5 x 0.7
    EXPECT_GT(test::tone_level_db(held, k_rate, 440.0, 8.8), -3.0);
    EXPECT_EQ(m.counters().events_applied.load(), 1u);
}

TEST(local_monitor, a_released_key_is_silent_a_second_later) {
    local_monitor m(flute());
    m.key_down(69, 100);
    static_cast<void>(render(m, 0.5));
    m.key_up(69);
    const auto after = render(m, 1.2).mono();
    EXPECT_LT(test::rms_dbfs(test::slice_seconds(after, k_rate, 1.0, 1.2)), -80.0);
}

TEST(local_monitor, render_adds_to_what_the_buffers_hold) {
    local_monitor alone(flute());
    local_monitor on_bed(flute());
    // Silence adds nothing: the bed comes back exactly.
    const auto quiet = render(on_bed, 0.05, 0.25f);
    EXPECT_TRUE(
        std::all_of(quiet.left.begin(), quiet.left.end(), [](float v) { return v == 0.25f; }));
    static_cast<void>(render(alone, 0.05));
    alone.key_down(69, 100);
    on_bed.key_down(69, 100);
    const auto a = render(alone, 0.3);
    const auto b = render(on_bed, 0.3, 0.25f);
    ASSERT_EQ(a.left.size(), b.left.size());
    double max_diff = 0;
    for (std::size_t i = 0; i < a.left.size(); ++i) {
        max_diff = std::max<double>(max_diff, std::abs(b.left[i] - 0.25f - a.left[i]));
        max_diff = std::max<double>(max_diff, std::abs(b.right[i] - 0.25f - a.right[i]));
    }
    EXPECT_LT(max_diff, 1e-6);
    EXPECT_GT(test::rms_dbfs(a.mono()), -40.0);
}

TEST(local_monitor, periods_longer_than_a_block_render_whole) {
    local_monitor m(flute());
    m.key_down(69, 100);
    stereo out{std::vector<float>(4096), std::vector<float>(4096)};
    m.render_add(out.left.data(), out.right.data(), out.left.size()); // 16 blocks in one call
    const auto mono = out.mono();
    EXPECT_GT(
        test::rms_dbfs(test::slice_seconds(mono, k_rate, 4096.0 / k_rate - 0.02, 4096.0 / k_rate)),
        -40.0);
}

TEST(local_monitor, a_full_ring_drops_and_counts_but_never_loses_all_notes_off) {
    local_monitor m(flute());
    const std::size_t extra = 10;
    for (std::size_t i = 0; i < local_monitor::k_ring_events + extra; ++i)
        m.key_down(static_cast<std::uint8_t>(60 + i % 12), 100);
    EXPECT_EQ(m.counters().events_dropped.load(), extra);
    m.all_notes_off(); // finds the ring full
    EXPECT_EQ(m.counters().events_dropped.load(), extra + 1);
    const auto out = render(m, 1.5).mono();
    EXPECT_GT(test::rms_dbfs(test::slice_seconds(out, k_rate, 0.0, 0.02)), -40.0);
    EXPECT_LT(test::rms_dbfs(test::slice_seconds(out, k_rate, 1.3, 1.5)), -80.0)
        << "a note is left sounding";
}

TEST(local_monitor, drum_kit_on_bank_128) {
    local_monitor m({GNO_TEST_SOUNDFONT, 128, 0});
    m.key_down(38, 120); // acoustic snare
    const auto out = render(m, 0.3).mono();
    EXPECT_GT(test::rms_dbfs(test::slice_seconds(out, k_rate, 0.0, 0.1)), -40.0);
}

TEST(local_monitor, a_bad_soundfont_is_a_clear_start_up_error) {
    try {
        local_monitor m({"/nonexistent/missing.sf2", 0, 0});
        FAIL() << "no error for a missing soundfont";
    } catch (const local_monitor_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("/nonexistent/missing.sf2"), std::string::npos) << what;
        EXPECT_NE(what.find("--soundfont"), std::string::npos) << what;
    }
    const auto corrupt = std::filesystem::temp_directory_path() /
                         ("gno-monitor-corrupt-" + std::to_string(::getpid()) + ".sf2");
    std::ofstream(corrupt) << "this is not a RIFF file, let alone an SF2 one";
    try {
        local_monitor m({corrupt.string(), 0, 0});
        FAIL() << "no error for a corrupt soundfont";
    } catch (const local_monitor_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("corrupt or not SF2"), std::string::npos) << what;
        EXPECT_NE(what.find("--soundfont"), std::string::npos) << what;
    }
    std::filesystem::remove(corrupt);
}

} // namespace
} // namespace gno::client
