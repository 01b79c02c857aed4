// The score clock in the three timing modes, in virtual time (DESIGN.md §4).
#include <gno/client/score_clock.hpp>
#include <gtest/gtest.h>

namespace gno::client {
namespace {

namespace v1 = proto::v1;
constexpr std::int64_t k_ms = 1'000'000;
constexpr std::int64_t k_s = 1'000'000'000;

timing_inputs base(v1::timing_mode mode) {
    timing_inputs in;
    in.player.received = true;
    in.player.info.mode = mode;
    in.player.info.cycle_beats = 16;
    in.player.info.tempo_milli_bpm = 100'000; // 0.6 s per beat, 9.6 s per cycle
    in.player.info.cycle_origin = 48'000 * 10;
    in.player.info.piece_start = 48'000 * 10; // server time 10 s
    // Client clock 5 s behind the server: server = local + 5 s.
    in.server_clock = {
        .synchronised = true, .local_ns = 1 * k_s, .server_ns = 6 * k_s, .rate = 1.0};
    return in;
}

TEST(score_clock, render_samples_convert_to_ns_exactly) {
    EXPECT_EQ(render_sample_to_ns(48'000), k_s);
    EXPECT_EQ(render_sample_to_ns(1), 20'833);
    EXPECT_EQ(render_sample_to_ns(3), 62'500);
    EXPECT_EQ(render_sample_to_ns(-1), -20'834); // floor, like the positive side
    EXPECT_EQ(render_sample_to_ns(48'000LL * 86'400 * 365), 86'400LL * 365 * k_s);
}

TEST(score_clock, cycle_is_beats_times_beat_length_in_samples) {
    v1::player_info info;
    info.cycle_beats = 16;
    info.tempo_milli_bpm = 100'000;
    EXPECT_EQ(cycle_samples(info), 460'800); // 9.6 s
    info.cycle_beats = 3;
    info.tempo_milli_bpm = 97'500; // 1.846153... s
    EXPECT_EQ(cycle_samples(info), 88'615);
    EXPECT_DOUBLE_EQ(beat_ns(info), 60e9 / 97.5);
}

TEST(score_clock, live_is_server_now_plus_uplink_budget_minus_piece_start) {
    auto in = base(v1::timing_mode::live);
    in.player.info.advance_ns = 200 * k_ms; // U
    // local 4.8 s -> server 9.8 s; + U = 10.0 s = the piece start.
    auto p = score_at(in, 4'800 * k_ms);
    ASSERT_TRUE(p);
    ASSERT_TRUE(p->has_piece_start);
    EXPECT_EQ(p->score_ns, 0);
    EXPECT_EQ(p->landing_ns, 10 * k_s);
    EXPECT_DOUBLE_EQ(p->beat, 0.0);
    EXPECT_NEAR(p->cycle_beat, 0.0, 1e-9);
    // 0.9 s later: 1.5 beats in.
    p = score_at(in, 5'700 * k_ms);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->score_ns, 900 * k_ms);
    EXPECT_DOUBLE_EQ(p->score_s(), 0.9);
    EXPECT_NEAR(p->beat, 1.5, 1e-9);
    EXPECT_NEAR(p->cycle_beat, 1.5, 1e-9);
}

TEST(score_clock, piece_start_in_the_future_gives_negative_score_time) {
    auto in = base(v1::timing_mode::live);
    in.player.info.advance_ns = 100 * k_ms;
    const auto p = score_at(in, 1 * k_s); // server 6 s + 0.1 s, piece at 10 s
    ASSERT_TRUE(p);
    EXPECT_EQ(p->score_ns, -3'900 * k_ms);
    EXPECT_NEAR(p->beat, -6.5, 1e-9);
    // Cycle position is still defined (the grid runs before the piece): -6.5 mod 16 = 9.5.
    EXPECT_NEAR(p->cycle_beat, 9.5, 1e-9);
}

TEST(score_clock, time_advanced_runs_ahead_by_the_advance_and_follows_its_changes) {
    auto in = base(v1::timing_mode::time_advanced);
    in.player.info.advance_ns = 350 * k_ms; // A_i
    const std::int64_t local = 5 * k_s;     // server 10 s
    auto p = score_at(in, local);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->score_ns, 350 * k_ms);
    in.player.info.advance_ns = 420 * k_ms; // the server measured more uplink delay
    p = score_at(in, local);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->score_ns, 420 * k_ms);
    // The inverse lands exactly where the forward mapping says.
    const auto when = local_time_at_score(in, 2 * k_s);
    ASSERT_TRUE(when);
    EXPECT_EQ(*when, local + 2 * k_s - 420 * k_ms);
    EXPECT_EQ(score_at(in, *when)->score_ns, 2 * k_s);
}

TEST(score_clock, a_drifting_clock_map_inverts_consistently) {
    auto in = base(v1::timing_mode::time_advanced);
    in.player.info.advance_ns = 250 * k_ms;
    in.server_clock.rate = 1.0 + 80e-6; // local clock 80 ppm slow
    for (const std::int64_t score :
         {-5 * k_s, std::int64_t{0}, std::int64_t{1234567891}, 60 * k_s}) {
        const auto when = local_time_at_score(in, score);
        ASSERT_TRUE(when);
        EXPECT_NEAR(static_cast<double>(score_at(in, *when)->score_ns), static_cast<double>(score),
                    2.0);
    }
}

TEST(score_clock, one_cycle_is_heard_sample_plus_one_cycle_minus_piece_start) {
    auto in = base(v1::timing_mode::one_cycle);
    in.server_clock = {}; // the cycle clock needs no clock estimate
    // At local 2 s the speakers play render sample 480000 (server 10 s = the piece start).
    in.heard = {2 * k_s, 480'000};
    auto p = score_at(in, 2 * k_s);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->score_ns, 9'600 * k_ms); // what is played now lands one cycle later
    EXPECT_NEAR(p->beat, 16.0, 1e-9);
    EXPECT_NEAR(p->cycle_beat, 0.0, 1e-9);
    p = score_at(in, 2 * k_s + 300 * k_ms); // extrapolated along the output clock
    ASSERT_TRUE(p);
    EXPECT_EQ(p->score_ns, 9'900 * k_ms);
    EXPECT_NEAR(p->cycle_beat, 0.5, 1e-9);
    // The inverse: score 9.6 s + 1.2 s is reached 1.2 s after local 2 s.
    const auto when = local_time_at_score(in, 10'800 * k_ms);
    ASSERT_TRUE(when);
    EXPECT_EQ(*when, 3'200 * k_ms);
    // A piece starting 1.5 cycles after what is heard: score -0.5 cycle = -4.8 s.
    in.player.info.piece_start = 480'000 + 460'800 + 230'400;
    EXPECT_EQ(score_at(in, 2 * k_s)->score_ns, -4'800 * k_ms);
}

TEST(score_clock, missing_inputs_give_no_score) {
    auto in = base(v1::timing_mode::live);
    in.player.received = false;
    EXPECT_FALSE(score_at(in, 0));
    EXPECT_FALSE(local_time_at_score(in, 0));
    in = base(v1::timing_mode::live);
    in.server_clock.synchronised = false;
    EXPECT_FALSE(score_at(in, 0));
    in = base(v1::timing_mode::one_cycle);
    in.heard = {}; // nothing heard yet
    EXPECT_FALSE(score_at(in, 0));
    // No piece start: a position and a cycle beat, but no score time and no deadline.
    in = base(v1::timing_mode::live);
    in.player.info.piece_start = -1;
    const auto p = score_at(in, 0);
    ASSERT_TRUE(p);
    EXPECT_FALSE(p->has_piece_start);
    EXPECT_FALSE(local_time_at_score(in, 0));
}

TEST(score_clock, implausible_player_info_is_not_usable) {
    v1::player_info ok;
    EXPECT_TRUE(usable(ok));
    auto bad = ok;
    bad.advance_ns = -1;
    EXPECT_FALSE(usable(bad));
    bad = ok;
    bad.advance_ns = 61 * k_s;
    EXPECT_FALSE(usable(bad));
    bad = ok;
    bad.piece_start = -2;
    EXPECT_FALSE(usable(bad));
    bad = ok;
    bad.cycle_origin = std::int64_t{1} << 50;
    EXPECT_FALSE(usable(bad));
    bad = ok;
    bad.solo_start = -5;
    EXPECT_FALSE(usable(bad));
}

TEST(score_clock, mode_names) {
    EXPECT_STREQ(mode_name(v1::timing_mode::live), "live");
    EXPECT_STREQ(mode_name(v1::timing_mode::time_advanced), "time_advanced");
    EXPECT_STREQ(mode_name(v1::timing_mode::one_cycle), "one_cycle");
}

} // namespace
} // namespace gno::client
