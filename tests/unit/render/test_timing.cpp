// Timing policy (DESIGN.md §4): cycles, beats and one-cycle targets across a tempo/cycle
// change, which takes effect on a cycle boundary announced a cycle ahead.
#include "gno/render/timing.hpp"

#include <gtest/gtest.h>
#include <vector>

namespace r = gno::render;

namespace {

r::timing_config with_change() {
    r::timing_config c;
    c.mode = r::timing_mode::one_cycle;
    c.tempo_bpm = 120; // beat 24000, cycle of 4 beats = 96000
    c.cycle_beats = 4;
    c.change = {192'000, 60, 4}; // from the third cycle: beat 48000, cycle 192000
    return c;
}

} // namespace

TEST(Timing, CyclesAcrossAChange) {
    const auto c = with_change();
    EXPECT_EQ(r::cycle_start_of(c, 191'999), 96'000);
    EXPECT_EQ(r::next_cycle_start(c, 191'999), 192'000);
    EXPECT_EQ(r::next_cycle_start(c, 192'000), 192'000);
    EXPECT_EQ(r::cycle_start_of(c, 192'000), 192'000);
    EXPECT_EQ(r::cycle_samples_at(c, 191'999), 96'000);
    EXPECT_EQ(r::cycle_samples_at(c, 192'000), 192'000);
    EXPECT_EQ(r::next_cycle_start(c, 192'001), 384'000);
    EXPECT_EQ(r::cycle_start_of(c, -1), -96'000); // before the piece, cycles run backwards
}

TEST(Timing, OneCycleTargetKeepsThePlaceInTheCycleAcrossAChange) {
    const auto c = with_change();
    // In an unchanged cycle: exactly r + C.
    auto e = r::schedule_event(c, 1, 10, 0, 0);
    EXPECT_EQ(e.at, 96'010);
    EXPECT_EQ(e.what, r::event_time::verdict::on_time);
    // Heard a quarter into the last cycle before the change: a quarter into the first after.
    e = r::schedule_event(c, 1, 96'000 + 24'000, 0, 100'000);
    EXPECT_EQ(e.at, 192'000 + 48'000);
    // After the change, C is the new cycle.
    e = r::schedule_event(c, 1, 200'000, 0, 200'000);
    EXPECT_EQ(e.at, 392'000);
}

TEST(Timing, ChangeIsPlannedOnABoundaryAtLeastOneCycleAhead) {
    r::timing_config c;
    c.tempo_bpm = 120;
    c.cycle_beats = 4;
    auto ch = r::plan_tempo_change(c, 100'000, 90, 3);
    EXPECT_EQ(ch.at, 288'000); // 192000 is only 92000 away: less than a cycle of notice
    EXPECT_EQ(ch.tempo_bpm, 90);
    EXPECT_EQ(ch.cycle_beats, 3);
    ch = r::plan_tempo_change(c, 96'000, 90, 3);
    EXPECT_EQ(ch.at, 192'000); // exactly a cycle ahead
    for (std::int64_t now : {0LL, 1LL, 50'000LL, 95'999LL, 1'000'000LL}) {
        const auto p = r::plan_tempo_change(c, now, 100, 4);
        EXPECT_EQ(r::cycle_start_of(c, p.at), p.at) << "not on a boundary, now " << now;
        EXPECT_GE(p.at - now, r::cycle_samples(c)) << "less than a cycle of notice, now " << now;
    }
}

TEST(Timing, BeatsFollowTheNewTempoFromTheBoundary) {
    const auto c = with_change();
    std::vector<std::pair<std::int64_t, bool>> beats;
    r::for_each_beat(c, 150'000, 300'000, [&](std::int64_t b, bool down) {
        beats.push_back({b, down});
    });
    const std::vector<std::pair<std::int64_t, bool>> want = {
        {168'000, false}, {192'000, true}, {240'000, false}, {288'000, false}};
    EXPECT_EQ(beats, want);
}

// A mesh's nodes keep the newest conductor's timing: a higher version, or on a tie (two
// conductors at once) the higher origin, so every node ends with the same one.
TEST(Timing, SharedTimingNewestWinsAndANodeKeepsItsOwnSettings) {
    r::shared_timing s;
    s.version = 3;
    s.origin = 2;
    EXPECT_TRUE(s.newer_than(0, 0));
    EXPECT_TRUE(s.newer_than(2, 9));
    EXPECT_TRUE(s.newer_than(3, 1));
    EXPECT_FALSE(s.newer_than(3, 2)); // the same state again
    EXPECT_FALSE(s.newer_than(3, 3));
    EXPECT_FALSE(s.newer_than(4, 1));

    r::timing_config mine;
    mine.uplink_budget = std::chrono::milliseconds(80);
    mine.default_advance = std::chrono::milliseconds(300);
    mine.click = true;
    mine.solo_gain = 1.5f;
    auto theirs = with_change();
    theirs.piece_start = 96'000;
    const auto got = r::adopt_shared(mine, theirs);
    EXPECT_EQ(got.mode, theirs.mode);
    EXPECT_EQ(got.tempo_bpm, theirs.tempo_bpm);
    EXPECT_EQ(got.cycle_beats, theirs.cycle_beats);
    EXPECT_EQ(got.cycle_origin, theirs.cycle_origin);
    EXPECT_EQ(got.piece_start, theirs.piece_start);
    EXPECT_EQ(got.change.at, theirs.change.at);
    EXPECT_EQ(got.change.tempo_bpm, theirs.change.tempo_bpm);
    EXPECT_EQ(got.change.cycle_beats, theirs.change.cycle_beats);
    EXPECT_EQ(got.uplink_budget, mine.uplink_budget);
    EXPECT_EQ(got.default_advance, mine.default_advance);
    EXPECT_TRUE(got.click);
    EXPECT_EQ(got.solo_gain, 1.5f);
}

// A peer's timing on this node's timeline: every beat and downbeat on the same instant, also
// when its planned change, or its cycle origin, falls before this node's sample 0.
TEST(Timing, APeersTimingMovesOntoThisTimelineWithItsBeatsOnTheSameInstants) {
    r::shared_timing s;
    s.version = 5;
    s.config = with_change(); // 120 BPM, 4-beat cycles from 0; 60 BPM from 192000
    s.config.piece_start = 96'000;
    auto beats = [](const r::timing_config& c, std::int64_t from, std::int64_t to,
                    std::int64_t shift) {
        std::vector<std::pair<std::int64_t, bool>> out;
        r::for_each_beat(c, from, to, [&](std::int64_t b, bool down) {
            out.push_back({b - shift, down});
        });
        return out;
    };
    for (const std::int64_t offset :
         {std::int64_t{1000}, std::int64_t{-5000}, std::int64_t{200'000}, std::int64_t{250'000}}) {
        const auto got = r::on_own_timeline(s, offset);
        const auto& c = got.config;
        EXPECT_EQ(got.version, 5u);
        EXPECT_GE(c.cycle_origin, 0) << offset;
        EXPECT_EQ(c.piece_start, std::max<std::int64_t>(0, 96'000 - offset)) << offset;
        if (offset < 192'000) {
            EXPECT_EQ(c.change.at, 192'000 - offset);
            EXPECT_EQ(c.tempo_bpm, 120.0);
        } else { // the change is in force from before this node's sample 0
            EXPECT_LT(c.change.at, 0);
            EXPECT_EQ(c.tempo_bpm, 60.0);
        }
        const std::int64_t from = std::max<std::int64_t>(0, -offset);
        EXPECT_EQ(beats(c, from, from + 600'000, 0),
                  beats(s.config, from + offset, from + offset + 600'000, offset))
            << "offset " << offset;
    }
}

TEST(Timing, AbsurdStampsAreNeverScheduledFarAway) {
    r::timing_config c;
    c.mode = r::timing_mode::time_advanced;
    const std::int64_t now = 48'000 * 100;
    auto e = r::schedule_event(c, 3600LL * 1'000'000'000 * 24, 0, 0, now); // a day ahead
    EXPECT_EQ(e.what, r::event_time::verdict::too_far);
    EXPECT_EQ(e.at, now);
    e = r::schedule_event(c, 1'000, 0, 0, now); // 100 s ago
    EXPECT_EQ(e.what, r::event_time::verdict::clamped);
    e = r::schedule_event(c, 0, 0, 0, now); // no stamp
    EXPECT_EQ(e.what, r::event_time::verdict::unstamped);
    c.mode = r::timing_mode::one_cycle;
    e = r::schedule_event(c, 1, -5, 0, now); // a negative heard sample
    EXPECT_EQ(e.what, r::event_time::verdict::unstamped);
}
