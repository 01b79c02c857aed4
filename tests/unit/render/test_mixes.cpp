// The mixes (DESIGN.md §6) with their real parts: FluidSynth with the GM soundfont renders the
// stems, the engine builds the mixes, libopus encodes them, and the packets are decoded here
// and analysed: an own mix holds everybody but its player; a shared mix is one packet.
#include "egress_decoder.hpp"
#include "gno/render/mixer.hpp"
#include "gno/render/render_engine.hpp"
#include "gno/test/analysis.hpp"
#include "ingress_events.hpp"

#include <gtest/gtest.h>
#include <map>
#include <vector>

namespace r = gno::render;
namespace v1 = gno::proto::v1;

namespace {

v1::key_state hold(int key, int program) {
    v1::key_state s;
    s.program = static_cast<std::uint8_t>(program);
    s.held_count = 1;
    s.held[0] = {static_cast<std::uint8_t>(key), 100, 1, 0};
    return s;
}

struct decoded_streams {
    std::map<std::uint32_t, std::vector<float>> left; // mix id -> decoded left channel
    std::map<std::uint32_t, int> packets;
    std::map<std::int64_t, int> frames_per_render_sample;
};

class Mixes : public ::testing::Test {
protected:
    void make_engine(r::mix_mode mix, int threads) {
        cfg_.soundfont = GNO_TEST_SOUNDFONT;
        cfg_.max_players = 8;
        cfg_.players_per_bank = 2; // several banks, so the crew shares them out
        cfg_.mix = mix;
        cfg_.render_threads = threads;
        // Never degrade: a busy test machine must not step Opus down under the analysis.
        cfg_.overload_high = 1e9;
        engine_ = std::make_unique<r::render_engine>(cfg_, counters_, timing_, ingress_, nullptr);
    }

    void push(r::ingress_event::kind what, int slot, const v1::key_state& s = {}) {
        r::test::push_event(ingress_, what, slot, s);
    }

    // Renders and decodes every stream the engine hands to egress.
    void render(double seconds, decoded_streams& out) {
        const int frames = static_cast<int>(seconds * 48000 / cfg_.frame_samples);
        for (int i = 0; i < frames; ++i) {
            engine_->render_frame(r_);
            r_ += cfg_.frame_samples;
            egress_.drain(*engine_, cfg_.frame_samples,
                          [&](const r::encoded_frame& f, std::span<const float> left) {
                              auto& l = out.left[f.mix_id];
                              l.insert(l.end(), left.begin(), left.end());
                              ++out.packets[f.mix_id];
                              ++out.frames_per_render_sample[f.render_sample];
                          });
        }
    }

    r::server_config cfg_;
    r::node_counters counters_;
    r::timing_state timing_{8};
    r::spsc_ring<r::ingress_event> ingress_{64};
    std::unique_ptr<r::render_engine> engine_;
    r::test::egress_decoder egress_;
    std::int64_t r_ = 0;
};

// Three players on three pitches, two render threads: each decoded own mix carries the two
// others and not its own player (mix-minus), and there is one stream per player.
TEST_F(Mixes, EachOwnMixHoldsTheOthersAndNotItsPlayer) {
    make_engine(r::mix_mode::own, 2);
    ASSERT_EQ(engine_->crew_size(), 2);
    const int slots[3] = {0, 3, 6};
    const int keys[3] = {57, 61, 77}; // A3 220 Hz, C#4 277.2 Hz, F5 698.5 Hz: no shared partials
    const double hz[3] = {220.0, 277.18, 698.46};
    for (int i = 0; i < 3; ++i) {
        push(r::ingress_event::kind::join, slots[i]);
        push(r::ingress_event::kind::key_state, slots[i], hold(keys[i], 73)); // flutes
    }
    decoded_streams d;
    render(1.0, d);
    ASSERT_EQ(d.left.size(), 3u);
    for (int i = 0; i < 3; ++i) {
        const auto id = static_cast<std::uint32_t>(slots[i] + 1);
        ASSERT_TRUE(d.left.contains(id)) << "no stream for slot " << slots[i];
        EXPECT_EQ(d.packets[id], 200);
        const auto seg = gno::test::slice_seconds(d.left[id], 48000, 0.3, 0.9);
        for (int j = 0; j < 3; ++j) {
            const double level = gno::test::tone_level_db(seg, 48000, hz[j], 4.0);
            if (i == j)
                EXPECT_LT(level, -45.0) << "player " << i << " hears itself";
            else
                EXPECT_GT(level, -20.0) << "player " << i << " misses player " << j;
        }
    }
    EXPECT_EQ(counters_.distinct_mixes.load(), 3u);
}

// With --own-level 1 a player hears itself too, at the ensemble's level.
TEST_F(Mixes, OwnLevelPutsThePlayerBackInItsMix) {
    cfg_.own_level = 1.0f;
    make_engine(r::mix_mode::own, 2);
    push(r::ingress_event::kind::join, 1);
    push(r::ingress_event::kind::key_state, 1, hold(69, 73));
    decoded_streams d;
    render(0.8, d);
    const auto seg = gno::test::slice_seconds(d.left[2], 48000, 0.3, 0.7);
    EXPECT_GT(gno::test::tone_level_db(seg, 48000, 440.0, 4.0), -20.0);
}

// Shared mode: one encoded packet per frame for everybody, whatever the number of players.
TEST_F(Mixes, SharedModeEncodesOnePacketPerFrame) {
    make_engine(r::mix_mode::shared, 2);
    for (int slot = 0; slot < 5; ++slot) {
        push(r::ingress_event::kind::join, slot);
        push(r::ingress_event::kind::key_state, slot, hold(60 + 2 * slot, 0));
    }
    decoded_streams d;
    render(0.5, d);
    ASSERT_EQ(d.packets.size(), 1u);
    EXPECT_EQ(d.packets.begin()->first, 0u);
    EXPECT_EQ(d.packets[0], 100);
    for (const auto& [sample, n] : d.frames_per_render_sample)
        EXPECT_EQ(n, 1) << "render sample " << sample;
    EXPECT_EQ(counters_.distinct_mixes.load(), 1u);
}

// The same stems give the same audience mix on one thread and on two: the buses are summed
// in one fixed order, whoever rendered the banks.
TEST_F(Mixes, TheMixDoesNotDependOnTheNumberOfThreads) {
    std::vector<float> mixes[2];
    for (int threads = 1; threads <= 2; ++threads) {
        r_ = 0;
        make_engine(r::mix_mode::shared, threads);
        for (int slot = 0; slot < 6; ++slot) {
            push(r::ingress_event::kind::join, slot);
            push(r::ingress_event::kind::key_state, slot, hold(55 + 3 * slot, 8 * slot));
        }
        for (int i = 0; i < 60; ++i) {
            engine_->render_frame(r_);
            r_ += cfg_.frame_samples;
            auto m = engine_->last_mix();
            mixes[threads - 1].insert(mixes[threads - 1].end(), m.begin(), m.end());
            r::encoded_frame f;
            for (auto* ring : engine_->egress())
                while (ring->try_pop(f)) {
                }
        }
    }
    ASSERT_EQ(mixes[0].size(), mixes[1].size());
    EXPECT_GT(gno::test::rms_dbfs(mixes[0]), -40.0);
    EXPECT_EQ(mixes[0], mixes[1]);
}

// The mixer alone: personal section levels scale their section, the own voice moves to its
// own level, and the sum is O(sections).
TEST(Mixer, SectionLevelsAndTheOwnVoice) {
    constexpr int n = 240;
    r::section_buses buses(960);
    buses.clear(n);
    std::vector<float> a(n, 0.1f), b(n, 0.2f), own(n, 0.05f);
    buses.add(0, a.data(), a.data(), 1.0f, n); // section 0: someone else, 0.1
    buses.add(5, b.data(), b.data(), 1.0f, n); // section 5: 0.2 incl. the own voice 0.05
    buses.add(5, own.data(), own.data(), 1.0f, n);
    r::mix_profile p = r::mix_profile::uniform(0.5f, 0.0f);
    p.section_level[5] = 1.0f;
    std::vector<float> out(2 * n);
    r::build_own_mix(buses, p, {5, 1.0f, own.data(), own.data()}, 1.0f, {}, out);
    // 0.5 * 0.1 + 1.0 * (0.2 + 0.05) - 0.05 = 0.25
    EXPECT_NEAR(out[0], 0.25f, 1e-6f);
    EXPECT_NEAR(out[2 * n - 1], 0.25f, 1e-6f);
    std::vector<float> sum_l(n), sum_r(n);
    buses.sum(sum_l.data(), sum_r.data());
    EXPECT_NEAR(sum_l[7], 0.35f, 1e-6f);
    EXPECT_EQ(r::section_of(0, 40), 5);   // violin: strings
    EXPECT_EQ(r::section_of(128, 0), 16); // drums
}

} // namespace
