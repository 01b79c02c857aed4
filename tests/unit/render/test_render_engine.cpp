// The render path with its real parts: FluidSynth with the GM soundfont, real Opus.
// Audio is checked by analysis of the rendered audience mix.
#include "gno/render/render_engine.hpp"
#include "gno/test/analysis.hpp"

#include <gtest/gtest.h>
#include <vector>

namespace r = gno::render;
namespace v1 = gno::proto::v1;

namespace {

class RenderEngine : public ::testing::Test {
protected:
    RenderEngine() {
        cfg_.soundfont = GNO_TEST_SOUNDFONT;
        cfg_.max_players = 4;
        cfg_.players_per_bank = 4;
        engine_ = std::make_unique<r::render_engine>(cfg_, counters_, ingress_, egress_, &record_);
    }

    void push(r::ingress_event::kind what, int slot, const v1::key_state& s = {}) {
        r::ingress_event ev;
        ev.what = what;
        ev.slot = static_cast<std::uint16_t>(slot);
        ev.state = s;
        ASSERT_TRUE(ingress_.try_push(ev));
    }

    // Renders `seconds` of audio on a virtual timeline and returns the left channel.
    std::vector<float> render(double seconds) {
        std::vector<float> mono;
        const int frames = static_cast<int>(seconds * 48000 / cfg_.frame_samples);
        for (int i = 0; i < frames; ++i) {
            engine_->render_frame(r_, now_ns_);
            r_ += cfg_.frame_samples;
            now_ns_ += 5'000'000;
            auto mix = engine_->last_mix();
            for (std::size_t s = 0; s < mix.size(); s += 2)
                mono.push_back(mix[s]);
            r::encoded_frame f;
            while (egress_.try_pop(f))
                ++encoded_;
            r::pcm_frame p;
            while (record_.try_pop(p))
                recorded_ += p.frame_samples;
        }
        return mono;
    }

    static v1::key_state hold(int key, int program) {
        v1::key_state s;
        s.program = static_cast<std::uint8_t>(program);
        s.held_count = 1;
        s.held[0] = {static_cast<std::uint8_t>(key), 100, 1, 0};
        return s;
    }

    r::server_config cfg_;
    r::node_counters counters_;
    r::spsc_ring<r::ingress_event> ingress_{64};
    r::spsc_ring<r::encoded_frame> egress_{64};
    r::spsc_ring<r::pcm_frame> record_{64};
    std::unique_ptr<r::render_engine> engine_;
    std::int64_t r_ = 0;
    std::int64_t now_ns_ = 0;
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
