// The render path with its real parts: FluidSynth with the GM soundfont, real Opus.
// Audio is checked by analysis of the rendered audience mix.
#include "gno/render/render_engine.hpp"
#include "gno/test/analysis.hpp"
#include "ingress_events.hpp"

#include <gtest/gtest.h>
#include <optional>
#include <vector>

namespace r = gno::render;
namespace v1 = gno::proto::v1;
using gno::render::test::hold;

namespace {

class RenderEngine : public ::testing::Test {
protected:
    RenderEngine() {
        cfg_.soundfont = GNO_TEST_SOUNDFONT;
        cfg_.max_players = 4;
        cfg_.players_per_bank = 4;
        make_engine();
    }

    void make_engine() {
        engine_ =
            std::make_unique<r::render_engine>(cfg_, counters_, timing_, ingress_, &record_, r_);
    }

    void push(r::ingress_event::kind what, int slot, const v1::key_state& s = {}) {
        r::test::push_event(ingress_, what, slot, s);
    }

    // Renders `seconds` of audio on a virtual timeline and returns the left channel.
    std::vector<float> render(double seconds) {
        std::vector<float> mono;
        const int frames = static_cast<int>(seconds * 48000 / cfg_.frame_samples);
        for (int i = 0; i < frames; ++i) {
            engine_->render_frame(r_);
            for (int slot = 0; slot < cfg_.max_players; ++slot) {
                auto stem = engine_->last_stem(slot);
                for (std::size_t s = 0; s < stem.size(); ++s)
                    if (stem[s] != 0.0f && !onset_[static_cast<std::size_t>(slot)])
                        onset_[static_cast<std::size_t>(slot)] = r_ + static_cast<std::int64_t>(s);
            }
            r_ += cfg_.frame_samples;
            auto mix = engine_->last_mix();
            for (std::size_t s = 0; s < mix.size(); s += 2)
                mono.push_back(mix[s]);
            r::encoded_frame f;
            for (auto* ring : engine_->egress())
                while (ring->try_pop(f))
                    ++encoded_;
            r::pcm_frame p;
            while (record_.try_pop(p))
                recorded_ += p.frame_samples;
        }
        return mono;
    }

    r::server_config cfg_;
    r::node_counters counters_;
    r::timing_state timing_{4};
    std::array<std::optional<std::int64_t>, 4> onset_{}; // first non-zero stem sample per slot
    r::spsc_ring<r::ingress_event> ingress_{64};
    r::spsc_ring<r::pcm_frame> record_{64};
    std::unique_ptr<r::render_engine> engine_;
    std::int64_t r_ = 0;
    int encoded_ = 0;
    int recorded_ = 0;
};

} // namespace

TEST_F(RenderEngine, HeldA4SoundsAt440AndStopsAfterRelease) {
    push(r::ingress_event::kind::join, 2);
    push(r::ingress_event::kind::key_state, 2, hold(69, 73)); // GM 74 Flute
    auto held = render(1.0);
    auto pitch = gno::test::estimate_pitch_hz(gno::test::slice_seconds(held, 48000, 0.3, 0.9),
                                              48000, 100, 2000);
    ASSERT_TRUE(pitch);
    EXPECT_NEAR(*pitch, 440.0, 4.4);
    EXPECT_GT(gno::test::rms_dbfs(held), -40.0);
    EXPECT_EQ(counters_.note_ons.load(), 1u);

    push(r::ingress_event::kind::key_state, 2, v1::key_state{.program = 73});
    auto after = render(1.5);
    EXPECT_LT(gno::test::rms_dbfs(gno::test::slice_seconds(after, 48000, 1.0, 1.5)), -60.0);
    EXPECT_EQ(counters_.note_offs.load(), 1u);
    EXPECT_EQ(encoded_, 500); // every frame with a player in it is encoded
    EXPECT_EQ(recorded_, 500 * 240);
}

TEST_F(RenderEngine, SilentPlayerIsReleasedAfterTheTimeout) {
    push(r::ingress_event::kind::join, 0);
    push(r::ingress_event::kind::key_state, 0, hold(60, 16)); // organ: no decay
    auto before = render(0.9); // within the 1 s timeout: still sounding
    EXPECT_GT(gno::test::rms_dbfs(gno::test::slice_seconds(before, 48000, 0.7, 0.9)), -40.0);
    EXPECT_EQ(counters_.timeouts.load(), 0u);
    auto after = render(2.5);
    EXPECT_EQ(counters_.timeouts.load(), 1u);
    EXPECT_LT(gno::test::rms_dbfs(gno::test::slice_seconds(after, 48000, 2.0, 2.5)), -60.0);
    EXPECT_EQ(counters_.voices.load(), 0u);
}

TEST_F(RenderEngine, KeyStateForAnUnjoinedSlotChangesNothing) {
    push(r::ingress_event::kind::key_state, 1, hold(60, 0));
    auto out = render(0.5);
    EXPECT_LT(gno::test::rms_dbfs(out), -90.0);
    EXPECT_EQ(counters_.note_ons.load(), 0u);
    EXPECT_EQ(encoded_, 0);
}

TEST_F(RenderEngine, TwoPlayersBothInTheMix) {
    push(r::ingress_event::kind::join, 0);
    push(r::ingress_event::kind::join, 3);
    push(r::ingress_event::kind::key_state, 0, hold(57, 73)); // A3 220 Hz
    push(r::ingress_event::kind::key_state, 3, hold(76, 73)); // E5 659 Hz
    auto out = render(1.0);
    auto seg = gno::test::slice_seconds(out, 48000, 0.3, 0.9);
    EXPECT_GT(gno::test::tone_level_db(seg, 48000, 220.0, 3.0), -15.0);
    EXPECT_GT(gno::test::tone_level_db(seg, 48000, 659.26, 5.0), -15.0);
    EXPECT_EQ(counters_.players.load(), 2u);
}

namespace {

v1::key_state stamped(int key, int program, std::int64_t t_sync_ns, std::int64_t r_heard) {
    v1::key_state s;
    s.program = static_cast<std::uint8_t>(program);
    s.held_count = 1;
    s.held[0] = {static_cast<std::uint8_t>(key), 100, t_sync_ns, r_heard};
    return s;
}

} // namespace

// DESIGN.md §4, one-cycle: an event heard-stamped at sample r renders at exactly r + C, for
// every phase of FluidSynth's 64-sample grid, with several players at once.
TEST_F(RenderEngine, OneCycleEventRendersAtExactlyHeardPlusCycle) {
    cfg_.timing.mode = r::timing_mode::one_cycle;
    cfg_.timing.tempo_bpm = 120;
    cfg_.timing.cycle_beats = 2;                     // C = 48000 samples
    cfg_.silence_timeout = std::chrono::seconds(10); // this test sends each state once
    make_engine();
    const std::int64_t c = r::cycle_samples(cfg_.timing);
    ASSERT_EQ(c, 48000);
    const std::array<std::int64_t, 4> heard = {1000, 1001, 1031, 1063}; // four grid phases
    for (int slot = 0; slot < 4; ++slot) {
        push(r::ingress_event::kind::join, slot);
        push(r::ingress_event::kind::key_state, slot,
             stamped(60, 115 /* woodblock */, 1, heard[static_cast<std::size_t>(slot)]));
    }
    render(1.2);
    for (int slot = 0; slot < 4; ++slot) {
        ASSERT_TRUE(onset_[static_cast<std::size_t>(slot)])
            << "slot " << slot << " note_ons " << counters_.note_ons << " late "
            << counters_.late_events << " unstamped " << counters_.unstamped_events << " clamped "
            << counters_.clamped_events;
        // The same note at four grid phases: the same offset from its target, every time...
        EXPECT_EQ(*onset_[static_cast<std::size_t>(slot)] - heard[static_cast<std::size_t>(slot)],
                  *onset_[0] - heard[0])
            << "slot " << slot;
    }
    // ...and that offset is the sample's own leading zero(s), not the synthesiser's grid.
    EXPECT_GE(*onset_[0] - heard[0] - c, 0);
    EXPECT_LE(*onset_[0] - heard[0] - c, 2);
    EXPECT_EQ(counters_.late_events.load(), 0u);
    EXPECT_EQ(counters_.imprecise_onsets.load(), 0u);
}

// Time-advanced: two players with different advances (as with 20 ms and 250 ms uplinks) whose
// stamps + advances name the same sample start on that very sample.
TEST_F(RenderEngine, TimeAdvancedUnisonLandsOnTheSameSample) {
    cfg_.timing.mode = r::timing_mode::time_advanced;
    make_engine();
    timing_.players[0].advance_ns = 30'000'000;  // A_0 = 30 ms
    timing_.players[1].advance_ns = 262'000'000; // A_1 = 262 ms
    const std::int64_t target = 24'000 + 37;     // 0.5 s + 37 samples
    push(r::ingress_event::kind::join, 0);
    push(r::ingress_event::kind::join, 1);
    push(r::ingress_event::kind::key_state, 0,
         stamped(60, 115, r::samples_to_ns(target, 48000) - 30'000'000, 0));
    push(r::ingress_event::kind::key_state, 1,
         stamped(72, 115, r::samples_to_ns(target, 48000) - 262'000'000, 0));
    render(1.0);
    ASSERT_TRUE(onset_[0]);
    ASSERT_TRUE(onset_[1]);
    EXPECT_NEAR(static_cast<double>(*onset_[0]), static_cast<double>(target), 2.0);
    EXPECT_EQ(*onset_[0], *onset_[1]);
}

// Live: t_sync + U; an event whose time has passed plays at once and is counted late.
TEST_F(RenderEngine, LiveModeSchedulesAtStampPlusBudgetAndCountsLate) {
    cfg_.timing.mode = r::timing_mode::live;
    cfg_.timing.uplink_budget = std::chrono::milliseconds(50);
    r_ = 48'000; // the timeline is 1 s in
    make_engine();
    push(r::ingress_event::kind::join, 0);
    push(r::ingress_event::kind::join, 1);
    push(r::ingress_event::kind::key_state, 0, stamped(60, 115, 1'100'000'000, 0)); // 1.15 s
    push(r::ingress_event::kind::key_state, 1, stamped(64, 115, 500'000'000, 0));   // long past
    render(0.5);
    ASSERT_TRUE(onset_[0]);
    EXPECT_NEAR(static_cast<double>(*onset_[0]), 1'150.0 * 48, 2.0); // the sample's lead-in
    ASSERT_TRUE(onset_[1]);
    EXPECT_LT(*onset_[1], 48'000 + 240 + 64 + 64); // at once
    EXPECT_EQ(counters_.late_events.load(), 1u);
    EXPECT_EQ(timing_.players[1].late_events.load(), 1u);
}

// Bad stamps: one from hours ahead is never scheduled, one from the absurd past is clamped.
TEST_F(RenderEngine, AbsurdStampsAreDroppedOrClampedAndCounted) {
    cfg_.timing.mode = r::timing_mode::live;
    r_ = 60 * 48'000; // a minute in: a stamp of 1 ns is absurdly old
    make_engine();
    push(r::ingress_event::kind::join, 0);
    push(r::ingress_event::kind::join, 1);
    push(r::ingress_event::kind::key_state, 0, stamped(60, 115, 3600LL * 1'000'000'000, 0));
    push(r::ingress_event::kind::key_state, 1, stamped(64, 115, 1, 0));
    render(0.5);
    EXPECT_FALSE(onset_[0]) << "a note scheduled an hour away must not sound";
    EXPECT_TRUE(onset_[1]);
    EXPECT_EQ(counters_.clamped_events.load(), 2u);
    EXPECT_EQ(counters_.note_ons.load(), 1u); // only the clamped one was played
}

// One-cycle solo: the soloist's gain rises exactly at the first sample of the next cycle.
TEST_F(RenderEngine, SoloBoostStartsAtTheCycleBoundaryToTheSample) {
    cfg_.timing.mode = r::timing_mode::one_cycle;
    cfg_.timing.tempo_bpm = 120;
    cfg_.timing.cycle_beats = 1; // C = 24000
    cfg_.timing.cycle_origin = 1000;
    cfg_.master_gain = 0.1f; // stay in the limiter's linear range
    make_engine();
    push(r::ingress_event::kind::join, 0);
    auto s = stamped(60, 16 /* organ */, 1, 100);
    render(0.01);
    push(r::ingress_event::kind::key_state, 0, s); // sounds at 100 + C = 24100
    render(0.6);                                   // to 0.61 s
    s.flags = v1::k_solo_request;
    push(r::ingress_event::kind::key_state, 0, s); // granted at the next boundary: 49000
    const std::int64_t boundary = 49'000;
    // Render up to the frame holding the boundary, then compare mix / stem sample by sample.
    while (r_ + cfg_.frame_samples <= boundary)
        render(0.005);
    const std::int64_t frame_start = r_;
    render(0.005);
    const auto mix = engine_->last_mix();
    const auto stem = engine_->last_stem(0);
    int checked = 0;
    for (std::size_t i = 0; i < stem.size(); ++i) {
        if (std::abs(stem[i]) < 1e-4f)
            continue;
        const double ratio = mix[2 * i] / (0.1 * stem[i]);
        const double want = frame_start + static_cast<std::int64_t>(i) < boundary ? 1.0 : 2.0;
        EXPECT_NEAR(ratio, want, 1e-3) << "sample " << frame_start + static_cast<std::int64_t>(i);
        ++checked;
    }
    EXPECT_GT(checked, 100);
    EXPECT_EQ(counters_.solos.load(), 1u);
    EXPECT_EQ(timing_.solo_slot.load(), 0);
    EXPECT_EQ(timing_.solo_start.load(), boundary);
}

// The click: on every beat in the performers' mix, never in the audience mix, following a
// tempo change from its cycle boundary on.
TEST_F(RenderEngine, ClickOnEveryBeatForPerformersOnlyAcrossATempoChange) {
    cfg_.timing.mode = r::timing_mode::one_cycle;
    cfg_.timing.tempo_bpm = 120; // beats every 24000 samples, cycles of 96000
    cfg_.timing.cycle_beats = 4;
    cfg_.timing.change = {192'000, 60, 4}; // then beats every 48000
    make_engine();
    push(r::ingress_event::kind::join, 0); // someone to stream to
    std::vector<std::int64_t> clicks;
    int quiet = 1000;
    double audience_peak = 0;
    for (int f = 0; f < 1300; ++f) {
        engine_->render_frame(r_);
        const auto perf = engine_->last_performer_mix();
        const auto aud = engine_->last_mix();
        for (std::size_t i = 0; i < aud.size() / 2; ++i) {
            audience_peak = std::max(audience_peak, double(std::abs(aud[2 * i])));
            if (perf[2 * i] == 0.0f) {
                ++quiet;
                continue;
            }
            if (quiet >= 1000)
                clicks.push_back(r_ + static_cast<std::int64_t>(i));
            quiet = 0;
        }
        r_ += cfg_.frame_samples;
    }
    // The first sample of a click is sin(0) = 0: its onset shows one sample later.
    const std::vector<std::int64_t> want = {1,       24'001,  48'001,  72'001,  96'001, 120'001,
                                            144'001, 168'001, 192'001, 240'001, 288'001};
    EXPECT_EQ(clicks, want);
    EXPECT_EQ(audience_peak, 0.0);
}

// ------------------------------------------------------------------ articulation (issue 7) ---

namespace {

v1::key_state short_notes(v1::key_state s) {
    s.flags |= v1::k_short_articulation;
    return s;
}

/// A key state in live mode that sounds `key` on render sample `at` (its stamp + the 50 ms
/// uplink budget), and optionally the release of a previous strike of it, `released_at`.
v1::key_state struck_at(int key, int program, std::int64_t at, std::int64_t released_at = -1) {
    auto s = stamped(key, program, r::samples_to_ns(at - 2400, 48000), 0);
    if (released_at >= 0) {
        s.released_count = 1;
        s.released[0] = {static_cast<std::uint8_t>(key),
                         r::samples_to_ns(released_at - 2400, 48000), 0};
    }
    return s;
}

/// Seconds from the start of `x` to the end of its last 10 ms window above `dbfs` (RMS).
double end_above_s(const std::vector<float>& x, double dbfs) {
    const auto env = gno::test::rms_envelope_dbfs(x, 48000, 0.01);
    std::size_t end = 0;
    for (std::size_t i = 0; i < env.size(); ++i)
        if (env[i] > dbfs)
            end = i + 1;
    return static_cast<double>(end) * 0.01;
}

} // namespace

// DESIGN.md §5: the short articulation. The same note held on two players of a sustained
// instrument: the short one ends by itself while the key is still down and fades below
// -50 dBFS within 0.6 s of its onset (its own 150 ms, then the instrument's release); the
// sustained one still sounds. (GM 19, the church organ, has a long release of its own: 0.66 s
// to -50 dBFS, so it is not one of these.)
TEST_F(RenderEngine, ShortArticulationEndsAHeldNoteWhileTheKeyIsDown) {
    for (const int program : {16 /* drawbar organ */, 48 /* string ensemble */}) {
        cfg_.silence_timeout = std::chrono::seconds(10); // the keys stay down throughout
        r_ = 0;
        counters_.note_offs = 0;
        onset_ = {};
        make_engine();
        push(r::ingress_event::kind::join, 0);
        push(r::ingress_event::kind::join, 1);
        push(r::ingress_event::kind::key_state, 0, hold(60, program));
        push(r::ingress_event::kind::key_state, 1, short_notes(hold(60, program)));
        std::array<std::vector<float>, 2> stems;
        for (int f = 0; f < 1.5 * 48000 / cfg_.frame_samples; ++f) {
            render(0.005);
            for (int slot = 0; slot < 2; ++slot) {
                const auto st = engine_->last_stem(slot);
                stems[static_cast<std::size_t>(slot)].insert(
                    stems[static_cast<std::size_t>(slot)].end(), st.begin(), st.end());
            }
        }
        ASSERT_TRUE(onset_[0] && onset_[1]) << "program " << program;
        EXPECT_EQ(*onset_[0], *onset_[1]); // struck together
        EXPECT_EQ(counters_.note_offs.load(), 1u) << "the short note's own end, keys still down";
        const double onset_s = static_cast<double>(*onset_[1]) / 48000;
        const double below_50_s = end_above_s(stems[1], -50.0) - onset_s;
        RecordProperty("below_-50dBFS_ms_program_" + std::to_string(program),
                       static_cast<int>(below_50_s * 1000));
        std::printf("program %d: the short note is below -50 dBFS %.0f ms after its onset\n",
                    program, below_50_s * 1000);
        EXPECT_LT(below_50_s, 0.6) << "program " << program;
        EXPECT_GT(below_50_s, 0.15) << "program " << program << ": it sounded its 150 ms";
        // The sustained note, in the same window: still there, as loud as a held note is.
        const auto window = [&](const std::vector<float>& x) {
            return gno::test::rms_dbfs(
                gno::test::slice_seconds(x, 48000, onset_s + 0.6, onset_s + 0.9));
        };
        EXPECT_GT(window(stems[0]), -35.0) << "program " << program;
        EXPECT_LT(window(stems[1]), -55.0) << "program " << program;
    }
}

// A key released and struck again within the short length: the first strike's own note-off
// (due 150 ms after it, in the middle of the second strike) must not cut the second. Slot 1
// strikes at 0.1 s, releases and re-strikes at 0.2 s; slot 0 strikes only at 0.2 s. Both
// second notes must end (fall below -60 dBFS) together.
TEST_F(RenderEngine, ReStrikeWithinTheShortLengthIsNotCutByTheFirstStrikesEnd) {
    cfg_.silence_timeout = std::chrono::seconds(10);
    make_engine();
    constexpr std::int64_t first = 4800;   // 0.1 s
    constexpr std::int64_t second = 9600;  // 0.2 s: 100 ms later, within the 150 ms
    constexpr std::int64_t release = 9360; // the first strike released 5 ms before
    push(r::ingress_event::kind::join, 0);
    push(r::ingress_event::kind::join, 1);
    push(r::ingress_event::kind::key_state, 1,
         short_notes(struck_at(60, 16 /* drawbar organ */, first)));
    std::array<std::vector<float>, 2> stems;
    const auto run = [&](double seconds) {
        for (int f = 0; f < seconds * 48000 / cfg_.frame_samples; ++f) {
            render(0.005);
            for (int slot = 0; slot < 2; ++slot) {
                const auto st = engine_->last_stem(slot);
                stems[static_cast<std::size_t>(slot)].insert(
                    stems[static_cast<std::size_t>(slot)].end(), st.begin(), st.end());
            }
        }
    };
    run(0.1);
    push(r::ingress_event::kind::key_state, 0,
         short_notes(struck_at(60, 16 /* drawbar organ */, second)));
    push(r::ingress_event::kind::key_state, 1,
         short_notes(struck_at(60, 16 /* drawbar organ */, second, release)));
    run(1.2);
    EXPECT_EQ(counters_.note_ons.load(), 3u);
    const auto end0 = gno::test::last_sample_above_dbfs(stems[0], -60.0);
    const auto end1 = gno::test::last_sample_above_dbfs(stems[1], -60.0);
    ASSERT_TRUE(end0 && end1);
    std::printf("single strike ends %.1f ms after 0.2 s, re-strike %.1f ms after\n",
                static_cast<double>(*end0 - second) / 48, static_cast<double>(*end1 - second) / 48);
    // Cut by the first strike's end, the re-strike would end 100 ms earlier.
    EXPECT_NEAR(static_cast<double>(*end1), static_cast<double>(*end0), 48.0 * 5);
    EXPECT_GT(static_cast<double>(*end1), second + 7200.0); // its own 150 ms, and its tail
    // Played: slot 1's release of its first strike and both second strikes' own ends; the
    // first strike's own end found its key struck again and was dropped.
    EXPECT_EQ(counters_.note_offs.load(), 3u);
}
