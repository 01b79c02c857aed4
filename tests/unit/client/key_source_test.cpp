#include <gno/client/key_source.hpp>
#include <gno/client/terminal_keyboard.hpp>
#include <gtest/gtest.h>
#include <vector>

namespace gno::client {
namespace {

std::vector<int> onsets_keys(const note_pattern& p) {
    std::vector<int> keys;
    for (const auto& e : p.events)
        if (e.on)
            keys.push_back(e.key);
    return keys;
}

TEST(patterns, hold_is_one_key_for_ms) {
    std::string err;
    const auto s = parse_play_spec("hold:69:1000", 120, err);
    ASSERT_TRUE(s) << err;
    ASSERT_EQ(s->pattern.events.size(), 2u);
    EXPECT_EQ(s->pattern.events[0].key, 69);
    EXPECT_EQ(s->pattern.events[0].velocity, k_default_velocity);
    EXPECT_TRUE(s->pattern.events[0].on);
    EXPECT_EQ(s->pattern.events[1].offset_ns, 1'000'000'000);
    EXPECT_FALSE(s->pattern.events[1].on);
    EXPECT_EQ(s->pattern.length_ns, 1'000'000'000);
}

TEST(patterns, phrase_walks_the_scale_up_and_back) {
    const auto p = make_phrase(17, 150, 100);
    const std::vector<int> want = {60, 62, 64, 65, 67, 69, 71, 72, 74,
                                   76, 77, 79, 81, 83, 84, 83, 81};
    EXPECT_EQ(onsets_keys(p), want);
    EXPECT_EQ(p.length_ns, 17 * 250'000'000LL);
    EXPECT_EQ(p.events[1].offset_ns, 150'000'000); // first key-up after ON_MS
}

TEST(patterns, round_voices_enter_two_bars_apart_and_transpose) {
    const auto v0 = make_round(0, 2, 120);
    const auto v1 = make_round(1, 2, 120);
    const auto v4 = make_round(4, 1, 120);
    ASSERT_FALSE(v0.events.empty());
    EXPECT_EQ(v0.events.front().offset_ns, 0);
    EXPECT_EQ(v1.events.front().offset_ns, 4'000'000'000); // 2 bars of 4/4 at 120 BPM
    EXPECT_EQ(v0.length_ns, 32'000'000'000);               // 2 x 8 bars
    const auto keys = onsets_keys(v0);
    ASSERT_EQ(keys.size(), 64u);
    const std::vector<int> bar1 = {72, 74, 76, 72};
    EXPECT_EQ(std::vector<int>(keys.begin(), keys.begin() + 4), bar1);
    EXPECT_EQ(onsets_keys(v4).front(), 60); // an octave lower
}

TEST(patterns, bad_specs_are_rejected_with_a_hint) {
    std::string err;
    EXPECT_FALSE(parse_play_spec("hold:200:1000", 120, err));
    EXPECT_NE(err.find("hold:KEY:MS"), std::string::npos);
    EXPECT_FALSE(parse_play_spec("phrase:x", 120, err));
    EXPECT_FALSE(parse_play_spec("round:", 120, err));
    EXPECT_FALSE(parse_play_spec("smf:/nonexistent.mid", 120, err));
    EXPECT_FALSE(parse_play_spec("drums", 120, err));
    EXPECT_FALSE(parse_play_spec("midi:1", 120, err));
    EXPECT_NE(err.find("keyboard or midi"), std::string::npos) << err;
}

TEST(patterns, midi_is_live_input_only) {
    std::string err;
    const auto s = parse_play_spec("midi", 120, err);
    ASSERT_TRUE(s) << err;
    EXPECT_TRUE(s->live_only);
    EXPECT_FALSE(s->keyboard);
    EXPECT_TRUE(s->pattern.events.empty());
    const auto k = parse_play_spec("keyboard", 120, err);
    ASSERT_TRUE(k);
    EXPECT_FALSE(k->live_only);
    const auto h = parse_play_spec("hold:60:10", 120, err);
    ASSERT_TRUE(h);
    EXPECT_FALSE(h->live_only);
}

TEST(keyboard, rows_map_to_keys_from_middle_c) {
    EXPECT_EQ(keyboard_key_for('a', 0), 60);
    EXPECT_EQ(keyboard_key_for('w', 0), 61);
    EXPECT_EQ(keyboard_key_for('k', 0), 72);
    EXPECT_EQ(keyboard_key_for('a', -1), 48);
    EXPECT_FALSE(keyboard_key_for('q', 0));
}

} // namespace
} // namespace gno::client
