// The mixes (DESIGN.md §6) with their real parts: FluidSynth with the GM soundfont renders the
// stems, the engine builds the mixes, libopus encodes them, and the packets are decoded here
// and analysed: an own mix holds everybody but its player; a shared mix is one packet.
#include "egress_decoder.hpp"
#include "gno/render/mixer.hpp"
#include "gno/render/render_engine.hpp"
#include "gno/test/analysis.hpp"
#include "ingress_events.hpp"

#include <algorithm>
#include <cmath>
#include <gtest/gtest.h>
#include <map>
#include <vector>

namespace r = gno::render;
namespace v1 = gno::proto::v1;

namespace {

using gno::render::test::hold;

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
            egress_->drain(*engine_, cfg_.frame_samples,
                           [&](const r::encoded_frame& f, std::span<const float> left) {
                               auto& l = out.left[f.mix_id];
                               l.insert(l.end(), left.begin(), left.end());
                               ++out.packets[f.mix_id];
                               ++out.frames_per_render_sample[f.render_sample];
                           });
        }
    }

    // One-cycle own mixes, cycles of one beat at `tempo_bpm`, clicks off in both mixes: slot 0
    // holds A3 (220 Hz, organ: steady) asking for the solo, slot 1 holds F5 (698.5 Hz) on
    // `other_program`.
    void start_solo_pair(double tempo_bpm, int other_program) {
        cfg_.timing.mode = r::timing_mode::one_cycle;
        cfg_.timing.tempo_bpm = tempo_bpm;
        cfg_.timing.cycle_beats = 1;
        cfg_.master_gain = 0.2f; // in the limiter's linear range
        make_engine(r::mix_mode::own, 2);
        for (int slot : {0, 1}) {
            push(r::ingress_event::kind::join, slot);
            r::mix_profile p = r::mix_profile::uniform();
            p.click_level = 0.0f; // only the instruments in the mixes
            timing_.players[static_cast<std::size_t>(slot)].mix.store(p);
        }
        auto solo = r::test::hold(57, 16);
        solo.flags = v1::k_solo_request;
        push(r::ingress_event::kind::key_state, 0, solo);
        push(r::ingress_event::kind::key_state, 1, r::test::hold(77, other_program));
    }

    r::server_config cfg_;
    r::node_counters counters_;
    r::timing_state timing_{8};
    r::spsc_ring<r::ingress_event> ingress_{64};
    std::unique_ptr<r::render_engine> engine_;
    std::unique_ptr<r::test::egress_decoder> egress_ = std::make_unique<r::test::egress_decoder>();
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

// A performer's own levels (a `mix` message; player_timing.hpp) shape its mix alone, from
// the next frame: three players in three sections; A puts itself in (own 1) and the strings
// out (0). Run twice, with and without A's change: the others' mixes are the same to the bit.
TEST_F(Mixes, APlayersLevelsShapeItsOwnMixAndNoOneElses) {
    const int slots[3] = {0, 3, 6};
    const int programs[3] = {73, 40, 56}; // flute (pipe), violin (strings), trumpet (brass)
    const int keys[3] = {57, 61, 77};     // A3 220 Hz, C#4 277.2 Hz, F5 698.5 Hz
    const double hz[3] = {220.0, 277.18, 698.46};
    auto run = [&](bool change) {
        r_ = 0;
        egress_ = std::make_unique<r::test::egress_decoder>();
        make_engine(r::mix_mode::own, 2);
        for (int i = 0; i < 3; ++i) {
            push(r::ingress_event::kind::join, slots[i]);
            push(r::ingress_event::kind::key_state, slots[i], hold(keys[i], programs[i]));
        }
        decoded_streams d;
        render(0.6, d); // the defaults: mix-minus, every section at 1
        EXPECT_EQ(timing_.players[0].mix.load(), r::mix_profile::uniform(1.0f, 0.0f));
        if (change) {
            r::mix_profile a = r::mix_profile::uniform(1.0f, 1.0f); // own level 1
            a.section_level[5] = 0.0f;                              // strings: B's section
            timing_.players[0].mix.store(a);
        }
        render(0.6, d);
        return d;
    };
    const decoded_streams same = run(false);
    decoded_streams d = run(true);

    // A's mix, in dB at each player's pitch before and after the change.
    auto level = [&](int player, double from) {
        const auto seg = gno::test::slice_seconds(d.left[1], 48000, from, from + 0.25);
        return gno::test::tone_level_db(seg, 48000, hz[player], 4.0);
    };
    constexpr double before = 0.3, after = 0.9;
    EXPECT_LT(level(0, before), -35.0) << "A hears itself before asking";
    EXPECT_GT(level(0, after), -20.0) << "A does not hear itself at own level 1";
    EXPECT_GT(level(1, before), -20.0);
    EXPECT_LT(level(1, after), -35.0) << "A still hears the strings at level 0";
    EXPECT_GT(level(2, after), -20.0) << "A lost the brass";
    EXPECT_EQ(d.left[1].size(), same.left.at(1).size());
    EXPECT_NE(d.left[1], same.left.at(1));
    // B's and C's mixes: not one sample different.
    for (const int slot : {3, 6}) {
        const auto id = static_cast<std::uint32_t>(slot + 1);
        ASSERT_TRUE(d.left.contains(id));
        EXPECT_EQ(d.left[id], same.left.at(id)) << "the mix of slot " << slot << " changed";
    }
}

// The click level scales the click in that performer's mix only; the others keep theirs.
TEST_F(Mixes, TheClickLevelScalesTheClickInThatMixOnly) {
    cfg_.timing.click = true;
    make_engine(r::mix_mode::own, 1);
    const float levels[3] = {0.0f, 0.5f, 1.0f};
    for (int slot = 1; slot <= 3; ++slot) {
        push(r::ingress_event::kind::join, slot);
        push(r::ingress_event::kind::key_state, slot); // silent players: each mix is the click
        r::mix_profile p = r::mix_profile::uniform();
        p.click_level = levels[slot - 1];
        timing_.players[static_cast<std::size_t>(slot)].mix.store(p);
    }
    decoded_streams d;
    render(1.0, d); // beats at 0 and 0.6 s (100 BPM)
    const double full = gno::test::rms_dbfs(d.left[4]);
    EXPECT_GT(full, -40.0) << "no click at level 1";
    // About -6 dB (Opus does not encode a transient at two levels exactly alike).
    EXPECT_NEAR(gno::test::rms_dbfs(d.left[3]), full - 6.02, 2.0) << "level 0.5 is not -6 dB";
    EXPECT_LT(gno::test::rms_dbfs(d.left[2]), -80.0) << "the click at level 0 is heard";
}

// The soloist's own mix leaves its player out during the solo cycle too: the bus holds the
// soloist at its solo gain, and its mix-minus takes that much back out (not the stem at unity,
// which left it in at gain - 1). The other player hears the solo.
TEST_F(Mixes, TheSoloistsOwnMixLeavesItOutDuringTheSolo) {
    start_solo_pair(120, 16); // cycles of 0.5 s; both organs
    decoded_streams d;
    render(2.0, d);
    ASSERT_EQ(counters_.solos.load(), 1u);
    const double start = static_cast<double>(timing_.solo_start.load()) / 48000.0;
    ASSERT_LT(start + 0.5, 2.0);
    // Inside the solo cycle, clear of its edges and the codec's delay.
    const auto own = gno::test::slice_seconds(d.left[1], 48000, start + 0.05, start + 0.45);
    const auto other = gno::test::slice_seconds(d.left[2], 48000, start + 0.05, start + 0.45);
    const double heard = gno::test::tone_amplitude(other, 48000, 220.0);
    EXPECT_GT(heard, 1e-3) << "the other player does not hear the solo";
    EXPECT_LT(gno::test::tone_amplitude(own, 48000, 220.0), heard / 100) // -40 dB
        << "the soloist hears itself in its mix-minus";
    EXPECT_GT(gno::test::tone_amplitude(own, 48000, 698.46), 1e-3)
        << "the soloist does not hear the other player";
}

// A soloist muted by the conductor in the middle of its solo: its own mix goes on holding the
// other player and nothing of its own (no stale copy of its last sounding frame taken out).
TEST_F(Mixes, ASoloistMutedMidSoloLeavesNothingOfItselfInItsMix) {
    start_solo_pair(60, 73); // cycles of 1 s; the other a flute: no sub-octave
    decoded_streams d;
    render(0.01, d);
    ASSERT_EQ(counters_.solos.load(), 1u);
    const double start = static_cast<double>(timing_.solo_start.load()) / 48000.0;
    render(start + 0.3 - 0.01, d); // into the solo
    timing_.players[0].muted.store(true);
    render(0.5, d); // still inside it
    const auto own = gno::test::slice_seconds(d.left[1], 48000, start + 0.4, start + 0.75);
    const auto other = gno::test::slice_seconds(d.left[2], 48000, start + 0.4, start + 0.75);
    EXPECT_LT(gno::test::rms_dbfs(other), -60.0) << "the muted soloist is still heard";
    const double others_tone = gno::test::tone_amplitude(own, 48000, 698.46);
    EXPECT_GT(others_tone, 1e-3);
    // What is left of the mix once the other player's note is taken away: nothing of the
    // soloist (a stale frame taken out every 5 ms would buzz at 200 Hz and its multiples).
    EXPECT_LT(gno::test::tone_amplitude(own, 48000, 200.0), others_tone / 100);
    EXPECT_LT(gno::test::tone_amplitude(own, 48000, 400.0), others_tone / 100);
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

// A performer in shared mode hears the audience mix with the click, limited once: the same
// bytes as an own mix that keeps its player at full level (the same sum, the same limiter).
// Loud enough that the limiter works on every frame: a second limiter would change them.
TEST_F(Mixes, TheSharedPerformerMixIsLimitedOnceLikeAnOwnMix) {
    cfg_.timing.click = true;
    cfg_.master_gain = 6.0f;
    cfg_.soundfont = GNO_TEST_SOUNDFONT;
    cfg_.max_players = 4;
    cfg_.overload_high = 1e9;
    struct side {
        r::node_counters counters;
        r::timing_state timing{4};
        r::spsc_ring<r::ingress_event> ingress{64};
        std::unique_ptr<r::render_engine> engine;
        std::vector<std::vector<std::byte>> packets;
    };
    side shared, own;
    for (side* s : {&shared, &own}) {
        cfg_.mix = s == &shared ? r::mix_mode::shared : r::mix_mode::own;
        s->engine =
            std::make_unique<r::render_engine>(cfg_, s->counters, s->timing, s->ingress, nullptr);
        for (int slot = 0; slot < 3; ++slot) {
            r::test::push_event(s->ingress, r::ingress_event::kind::join, slot);
            r::test::push_event(s->ingress, r::ingress_event::kind::key_state, slot,
                                hold(48 + 7 * slot, 8 * slot));
        }
    }
    own.timing.players[0].mix.store(r::mix_profile::uniform(1.0f, 1.0f));
    const std::uint32_t own_id = 1; // slot 0
    float peak = 0.0f;
    for (int i = 0; i < 100; ++i, r_ += cfg_.frame_samples) {
        for (side* s : {&shared, &own}) {
            s->engine->render_frame(r_);
            r::encoded_frame f;
            for (auto* ring : s->engine->egress())
                while (ring->try_pop(f))
                    if (f.mix_id == (s == &shared ? 0u : own_id))
                        s->packets.emplace_back(f.bytes.begin(), f.bytes.begin() + f.size);
        }
        for (float x : shared.engine->last_mix())
            peak = std::max(peak, std::fabs(x));
    }
    EXPECT_GT(peak, r::k_limiter_knee) << "too quiet: the limiter never worked";
    ASSERT_EQ(shared.packets.size(), 100u);
    ASSERT_EQ(own.packets.size(), 100u);
    for (std::size_t i = 0; i < shared.packets.size(); ++i)
        ASSERT_TRUE(shared.packets[i] == own.packets[i]) << "frame " << i << " differs";
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
    r::build_own_mix(buses, p, {5, 1.0f, own.data(), own.data()}, 1.0f, {}, {}, out);
    // 0.5 * 0.1 + 1.0 * (0.2 + 0.05) - 0.05 = 0.25
    EXPECT_NEAR(out[0], 0.25f, 1e-6f);
    EXPECT_NEAR(out[2 * n - 1], 0.25f, 1e-6f);
    // The click at its level, the talk-back as it is: 0.25 + 0.5 * 0.2 + 0.1 = 0.45.
    std::vector<float> click(n, 0.2f), talk(n, 0.1f);
    p.click_level = 0.5f;
    r::build_own_mix(buses, p, {5, 1.0f, own.data(), own.data()}, 1.0f, click, talk, out);
    EXPECT_NEAR(out[0], 0.45f, 1e-6f);
    p.click_level = 0.0f; // no click: the conductor is still heard
    r::build_own_mix(buses, p, {5, 1.0f, own.data(), own.data()}, 1.0f, click, talk, out);
    EXPECT_NEAR(out[1], 0.35f, 1e-6f);
    // The own voice at 1 with its section at 0: itself alone of its section.
    p = r::mix_profile::uniform(1.0f, 1.0f);
    p.section_level[5] = 0.0f;
    r::build_own_mix(buses, p, {5, 1.0f, own.data(), own.data()}, 1.0f, {}, {}, out);
    EXPECT_NEAR(out[0], 0.1f + 0.05f, 1e-6f);
    std::vector<float> sum_l(n), sum_r(n);
    buses.sum(sum_l.data(), sum_r.data());
    EXPECT_NEAR(sum_l[7], 0.35f, 1e-6f);
    EXPECT_EQ(r::section_of(0, 40), 5);   // violin: strings
    EXPECT_EQ(r::section_of(128, 0), 16); // drums
}

} // namespace
