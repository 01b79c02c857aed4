// Playing a pattern against the piece start, in virtual time: every press instant's score-clock
// time must equal the event's pattern time (within 100 µs), while the clock estimate, the
// advance and the heard-audio anchor keep moving underneath.
#include <cmath>
#include <functional>
#include <gno/client/key_source.hpp>
#include <gno/client/score_player.hpp>
#include <gtest/gtest.h>
#include <random>
#include <vector>

namespace gno::client {
namespace {

namespace v1 = proto::v1;
constexpr std::int64_t k_us = 1'000;
constexpr std::int64_t k_ms = 1'000'000;
constexpr std::int64_t k_s = 1'000'000'000;

/// Virtual local time; `world(t)` says what the client would read at local time t. Sleeps
/// overshoot by up to `oversleep_ns` (OS timers do), never undershoot.
class virtual_timeline final : public score_timeline {
public:
    std::function<timing_inputs(std::int64_t)> world;
    std::int64_t now = 0;
    std::int64_t oversleep_ns = 30 * k_us;
    std::mt19937_64 rng{7};
    std::size_t sleeps = 0;

    std::int64_t now_ns() override { return now; }
    timing_inputs inputs() override { return world(now); }
    void sleep_until(std::int64_t deadline_ns, std::int64_t max_ns) override {
        ++sleeps;
        const std::int64_t target = std::max(now + 1, std::min(deadline_ns, now + max_ns));
        std::uniform_int_distribution<std::int64_t> over(0, oversleep_ns);
        now = target + over(rng);
    }
};

struct press {
    std::uint8_t key;
    bool on;
    std::int64_t local_ns;
};

class recording_sink final : public key_sink {
public:
    std::vector<press> presses;
    void key_down(std::uint8_t key, std::uint8_t, std::int64_t local_ns) override {
        presses.push_back({key, true, local_ns});
    }
    void key_up(std::uint8_t key, std::int64_t local_ns) override {
        presses.push_back({key, false, local_ns});
    }
};

player_timing info(v1::timing_mode mode, std::int64_t advance_ns, std::int64_t piece_start) {
    player_timing p;
    p.received = true;
    p.info.mode = mode;
    p.info.advance_ns = advance_ns;
    p.info.cycle_beats = 16;
    p.info.tempo_milli_bpm = 100'000;
    p.info.cycle_origin = 0;
    p.info.piece_start = piece_start;
    return p;
}

/// A clock estimate re-anchored every 250 ms with ±20 µs of estimation noise, at a rate 60 ppm
/// off, server = local + 3.2 s. (The real estimator slews continuously; steps are harsher.)
server_clock_map noisy_clock(std::int64_t local) {
    const std::int64_t anchor = local / (250 * k_ms) * (250 * k_ms);
    const auto n = static_cast<std::uint64_t>(anchor / (250 * k_ms));
    const std::int64_t noise = static_cast<std::int64_t>((n * 2654435761u) % 41) - 20;
    return {.synchronised = true,
            .settled = true,
            .local_ns = anchor,
            .server_ns = anchor + 3'200 * k_ms + noise * k_us,
            .rate = 1.0 + 60e-6};
}

/// Checks every press against the score clock as the client saw it at that instant.
void expect_on_score(const note_pattern& pattern, const recording_sink& sink, virtual_timeline& tl,
                     std::int64_t tolerance_ns) {
    ASSERT_EQ(sink.presses.size(), pattern.events.size());
    for (std::size_t i = 0; i < pattern.events.size(); ++i) {
        const auto& e = pattern.events[i];
        const auto& p = sink.presses[i];
        EXPECT_EQ(p.key, e.key);
        EXPECT_EQ(p.on, e.on);
        const auto pos = score_at(tl.world(p.local_ns), p.local_ns);
        ASSERT_TRUE(pos);
        EXPECT_NEAR(static_cast<double>(pos->score_ns), static_cast<double>(e.offset_ns),
                    static_cast<double>(tolerance_ns))
            << "event " << i << " at pattern time " << e.offset_ns;
    }
}

TEST(score_player, live_presses_land_on_the_score_with_a_moving_clock_estimate) {
    virtual_timeline tl;
    tl.now = 1 * k_s;
    // Piece start at server 6 s: local ~2.8 s - U.
    tl.world = [](std::int64_t t) {
        return timing_inputs{
            info(v1::timing_mode::live, 150 * k_ms, 6 * 48'000), noisy_clock(t), {}};
    };
    const std::atomic<bool> stop{false};
    ASSERT_EQ(wait_for_piece_start(tl, k_piece_start_timeout_ns, stop), "");
    recording_sink sink;
    const auto pattern = make_phrase(24, 150, 100);
    const auto r = play_pattern_on_score(pattern, tl, sink, stop);
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.pressed, pattern.events.size());
    EXPECT_EQ(r.skipped, 0u);
    EXPECT_EQ(r.late, 0u);
    expect_on_score(pattern, sink, tl, 100 * k_us);
    // The first press is at the piece start minus U on the server clock.
    EXPECT_NEAR(static_cast<double>(
                    noisy_clock(sink.presses[0].local_ns).server_at(sink.presses[0].local_ns)),
                static_cast<double>(6 * k_s - 150 * k_ms), 100e3);
}

TEST(score_player, time_advanced_follows_advance_changes) {
    virtual_timeline tl;
    tl.now = 0;
    // The advance drops from 400 to 330 ms at local 3 s and rises to 360 ms at local 5 s
    // (a rise skips score time: an event in the skipped 30 ms would be late; none is there).
    tl.world = [](std::int64_t t) {
        const std::int64_t a = t < 3 * k_s ? 400 * k_ms : (t < 5 * k_s ? 330 * k_ms : 360 * k_ms);
        return timing_inputs{
            info(v1::timing_mode::time_advanced, a, 5 * 48'000), noisy_clock(t), {}};
    };
    const std::atomic<bool> stop{false};
    ASSERT_EQ(wait_for_piece_start(tl, k_piece_start_timeout_ns, stop), "");
    recording_sink sink;
    auto pattern = make_hold(60, 40, 90); // two events: 0 and 40 ms
    for (std::int64_t at = 500 * k_ms; at < 6 * k_s; at += 500 * k_ms) {
        pattern.events.push_back({at, 64, 90, true});
        pattern.events.push_back({at + 200 * k_ms, 64, 0, false});
    }
    const auto r = play_pattern_on_score(pattern, tl, sink, stop);
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.late, 0u);
    expect_on_score(pattern, sink, tl, 100 * k_us);
}

TEST(score_player, one_cycle_follows_the_heard_audio_anchor) {
    virtual_timeline tl;
    tl.now = 0;
    // The output plays 240-sample periods every 5 ms of local time; each period's stamp is up
    // to 40 µs late (the audio thread's wake-up). R = 100000 at local 0.
    tl.world = [](std::int64_t t) {
        const std::int64_t k = t / (5 * k_ms);
        auto stamp = [](std::int64_t i) {
            return i * 5 * k_ms + static_cast<std::int64_t>((i * 7919) % 41) * k_us;
        };
        const std::int64_t i = stamp(k) <= t ? k : k - 1;
        timing_inputs in{info(v1::timing_mode::one_cycle, 0, 100'000 + 460'800 + 48'000), {}, {}};
        if (i >= 0)
            in.heard = {stamp(i), 100'000 + i * 240};
        return in;
    };
    const std::atomic<bool> stop{false};
    ASSERT_EQ(wait_for_piece_start(tl, k_piece_start_timeout_ns, stop), "");
    recording_sink sink;
    const auto pattern = make_round(1, 1, 150.0);
    const auto r = play_pattern_on_score(pattern, tl, sink, stop);
    EXPECT_TRUE(r.complete);
    expect_on_score(pattern, sink, tl, 100 * k_us);
    // One cycle + 1 s after the R=100000 anchor, minus the pattern's first offset: the first
    // press is heard-time based, ~1 s + first offset after local 0.
    EXPECT_NEAR(static_cast<double>(sink.presses[0].local_ns),
                static_cast<double>(1 * k_s + pattern.events[0].offset_ns), 100e3);
}

TEST(score_player, joining_late_skips_what_is_past_and_plays_the_rest_on_time) {
    virtual_timeline tl;
    tl.now = 10 * k_s; // server 13.2 s; piece started at 12 s: score ~1.35 s
    tl.world = [](std::int64_t t) {
        return timing_inputs{
            info(v1::timing_mode::live, 150 * k_ms, 12 * 48'000), noisy_clock(t), {}};
    };
    const std::atomic<bool> stop{false};
    recording_sink sink;
    const auto pattern = make_phrase(16, 150, 100); // a note every 250 ms
    const auto r = play_pattern_on_score(pattern, tl, sink, stop);
    EXPECT_EQ(r.skipped, 12u); // 6 notes (down + up) before 1.3 s
    EXPECT_EQ(r.pressed, pattern.events.size() - 12);
    ASSERT_FALSE(sink.presses.empty());
    EXPECT_TRUE(sink.presses.front().on); // no stray key-up of a skipped note
    const auto pos = score_at(tl.world(sink.presses[0].local_ns), sink.presses[0].local_ns);
    EXPECT_NEAR(static_cast<double>(pos->score_ns), 1.5e9, 100e3);
}

TEST(score_player, a_jump_of_the_score_clock_presses_at_once_and_counts_late) {
    virtual_timeline tl;
    tl.now = 0;
    // The advance rises by 300 ms at local 2.1 s: the event at score 0.6 s (due at 2.2 s) is
    // overtaken and pressed when the change is seen (within one re-check interval).
    tl.world = [](std::int64_t t) {
        const std::int64_t a = t < 2'100 * k_ms ? 200 * k_ms : 500 * k_ms;
        return timing_inputs{
            info(v1::timing_mode::time_advanced, a, 5 * 48'000), noisy_clock(t), {}};
    };
    const std::atomic<bool> stop{false};
    recording_sink sink;
    note_pattern pattern;
    pattern.events = {{600 * k_ms, 60, 90, true}, {900 * k_ms, 60, 0, false}};
    const auto r = play_pattern_on_score(pattern, tl, sink, stop);
    EXPECT_EQ(r.pressed, 2u);
    EXPECT_EQ(r.late, 1u);
    ASSERT_EQ(sink.presses.size(), 2u);
    EXPECT_GE(sink.presses[0].local_ns, 2'100 * k_ms);
    EXPECT_LE(sink.presses[0].local_ns, 2'100 * k_ms + k_recheck_ns + 100 * k_us);
    // The key-up is on time under the new advance: score 0.9 s at local 2.2 s.
    EXPECT_NEAR(static_cast<double>(sink.presses[1].local_ns), 2'200e6, 100e3);
}

TEST(score_player, waiting_for_a_piece_start_gives_up_after_the_timeout_saying_why) {
    virtual_timeline tl;
    const std::atomic<bool> stop{false};
    tl.world = [](std::int64_t) {
        return timing_inputs{};
    };
    auto err = wait_for_piece_start(tl, k_piece_start_timeout_ns, stop);
    EXPECT_NE(err.find("no player_info"), std::string::npos) << err;
    EXPECT_GE(tl.now, k_piece_start_timeout_ns);
    EXPECT_LT(tl.now, k_piece_start_timeout_ns + 20 * k_ms);

    tl.now = 0;
    tl.world = [](std::int64_t t) {
        return timing_inputs{info(v1::timing_mode::live, 0, -1), noisy_clock(t), {}};
    };
    err = wait_for_piece_start(tl, k_piece_start_timeout_ns, stop);
    EXPECT_NE(err.find("no piece start"), std::string::npos) << err;

    tl.now = 0;
    tl.world = [](std::int64_t) {
        return timing_inputs{info(v1::timing_mode::one_cycle, 0, 48'000), {}, {}};
    };
    err = wait_for_piece_start(tl, k_piece_start_timeout_ns, stop);
    EXPECT_NE(err.find("no audio heard"), std::string::npos) << err;

    // Announced after 3 s: ready then, no error.
    tl.now = 0;
    tl.world = [](std::int64_t t) {
        return timing_inputs{
            info(v1::timing_mode::live, 0, t < 3 * k_s ? -1 : 48'000 * 20), noisy_clock(t), {}};
    };
    EXPECT_EQ(wait_for_piece_start(tl, k_piece_start_timeout_ns, stop), "");
    EXPECT_GE(tl.now, 3 * k_s);
    EXPECT_LT(tl.now, 3 * k_s + 20 * k_ms);
}

TEST(score_player, stop_ends_playing_and_releases_held_keys) {
    virtual_timeline tl;
    tl.world = [](std::int64_t t) {
        return timing_inputs{info(v1::timing_mode::live, 0, 0), noisy_clock(t), {}};
    };
    std::atomic<bool> stop{false};
    struct stopping_sink final : key_sink {
        std::atomic<bool>* stop = nullptr;
        int downs = 0;
        int ups = 0;
        void key_down(std::uint8_t, std::uint8_t, std::int64_t) override {
            ++downs;
            stop->store(true);
        }
        void key_up(std::uint8_t, std::int64_t) override { ++ups; }
    } sink;
    sink.stop = &stop;
    note_pattern pattern;
    tl.now = 0; // server 3.2 s: score 3.2 s
    pattern.events = {{4 * k_s, 60, 90, true}, {5 * k_s, 60, 0, false}};
    const auto r = play_pattern_on_score(pattern, tl, sink, stop);
    EXPECT_FALSE(r.complete);
    EXPECT_EQ(sink.downs, 1);
    EXPECT_EQ(sink.ups, 1); // released on the way out
}

} // namespace
} // namespace gno::client
