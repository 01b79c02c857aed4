#include <gno/client/key_state_sender.hpp>
#include <gtest/gtest.h>
#include <vector>

namespace gno::client {
namespace {

/// Polls every 1 ms of virtual time in [from, to) and returns the send times (ms).
std::vector<std::int64_t> run(key_state_sender& s, std::int64_t from_ms, std::int64_t to_ms) {
    std::vector<std::int64_t> sent;
    for (std::int64_t t = from_ms; t < to_ms; ++t)
        if (s.poll(t * k_ms))
            sent.push_back(t);
    return sent;
}

TEST(key_state_sender, first_poll_sends_at_once) {
    key_state_sender s;
    EXPECT_TRUE(s.poll(123 * k_ms).has_value());
    EXPECT_FALSE(s.poll(124 * k_ms).has_value());
    EXPECT_EQ(s.sent_count(), 1u);
}

TEST(key_state_sender, change_sends_now_then_5_10_20_ms_then_20_hz) {
    key_state_sender s;
    run(s, 0, 1000); // settle into idle
    ASSERT_TRUE(s.note_on(60, 100, {111, 222}, 1000 * k_ms));
    const auto sent = run(s, 1000, 1200);
    const std::vector<std::int64_t> expected = {1000, 1005, 1010, 1020, 1070, 1120, 1170};
    EXPECT_EQ(sent, expected);
}

TEST(key_state_sender, idle_rate_is_20_hz) {
    key_state_sender s;
    // The first state is news too: it gets the redundant burst.
    EXPECT_EQ(run(s, 0, 21), (std::vector<std::int64_t>{0, 5, 10, 20}));
    const auto sent = run(s, 21, 10'021);
    EXPECT_EQ(sent.size(), 200u); // 70, 120, ..., 10020
    for (std::size_t i = 1; i < sent.size(); ++i)
        EXPECT_EQ(sent[i] - sent[i - 1], 50);
}

TEST(key_state_sender, late_poll_sends_once_not_a_flurry) {
    key_state_sender s;
    s.poll(0);
    s.note_on(60, 100, {}, 10 * k_ms);
    EXPECT_TRUE(s.poll(40 * k_ms)); // all burst points passed: one send
    EXPECT_FALSE(s.poll(41 * k_ms));
    EXPECT_EQ(s.next_deadline_ns(), 90 * k_ms);
}

TEST(key_state_sender, state_carries_keys_stamps_and_controls) {
    key_state_sender s;
    s.set_program(40, 0, 0);
    s.note_on(60, 90, {1000, 48}, 0);
    s.note_on(64, 80, {2000, 96}, 0);
    s.note_off(60, {3000, 144}, 1 * k_ms);
    s.set_link(1500, 12);
    const auto st = s.poll(1 * k_ms);
    ASSERT_TRUE(st);
    EXPECT_EQ(st->program, 40);
    EXPECT_EQ(st->rtt_us, 1500u);
    EXPECT_EQ(st->loss_permille, 12);
    ASSERT_EQ(st->held_count, 1);
    EXPECT_EQ(st->held[0].key, 64);
    EXPECT_EQ(st->held[0].velocity, 80);
    EXPECT_EQ(st->held[0].t_sync_ns, 2000);
    EXPECT_EQ(st->held[0].r_heard, 96);
    ASSERT_EQ(st->released_count, 1);
    EXPECT_EQ(st->released[0].key, 60);
    EXPECT_EQ(st->released[0].t_sync_ns, 3000);
    EXPECT_EQ(st->released[0].r_heard, 144);
    EXPECT_FALSE(proto::v1::validate(*st));
}

// Issue 7: the instrument travels in every state; a change is news (sent at once and repeated).
TEST(key_state_sender, program_bank_and_articulation_travel_in_every_state) {
    key_state_sender s;
    run(s, 0, 1000);
    s.set_short_articulation(true, 1000 * k_ms);
    EXPECT_TRUE(s.short_articulation());
    EXPECT_EQ(run(s, 1000, 1021), (std::vector<std::int64_t>{1000, 1005, 1010, 1020}));
    auto st = s.snapshot(1021 * k_ms);
    EXPECT_EQ(st.flags, proto::v1::k_short_articulation);
    s.set_solo_request(true, 1021 * k_ms); // the two flags are independent
    s.set_program(0, 128, 1021 * k_ms);
    st = s.snapshot(1022 * k_ms);
    EXPECT_EQ(st.flags, proto::v1::k_short_articulation | proto::v1::k_solo_request);
    EXPECT_EQ(st.bank, 128);
    EXPECT_EQ(st.program, 0);
    EXPECT_EQ(s.bank(), 128);
    run(s, 1021, 2000);
    const auto idle_next = s.next_deadline_ns();
    s.set_short_articulation(true, 2000 * k_ms); // no change: no burst
    EXPECT_EQ(s.next_deadline_ns(), idle_next);
    run(s, 2000, 2030);
    s.set_short_articulation(false, 2030 * k_ms);
    EXPECT_EQ(run(s, 2030, 2031), (std::vector<std::int64_t>{2030}));
    EXPECT_EQ(s.snapshot(2031 * k_ms).flags, proto::v1::k_solo_request);
    EXPECT_FALSE(proto::v1::validate(s.snapshot(2031 * k_ms)));
}

TEST(key_state_sender, releases_are_kept_500_ms) {
    key_state_sender s;
    s.note_on(62, 100, {}, 0);
    s.note_off(62, {}, 100 * k_ms);
    EXPECT_EQ(s.snapshot(599 * k_ms).released_count, 1);
    EXPECT_EQ(s.snapshot(600 * k_ms).released_count, 0);
}

TEST(key_state_sender, restrike_and_release_twice_keep_keys_unique) {
    key_state_sender s;
    s.note_on(60, 100, {}, 0);
    s.note_off(60, {}, 10 * k_ms);
    s.note_on(60, 100, {}, 20 * k_ms);
    s.note_on(60, 50, {}, 25 * k_ms); // re-strike while held
    s.note_off(60, {}, 30 * k_ms);
    const auto st = s.snapshot(31 * k_ms);
    EXPECT_EQ(st.held_count, 0);
    EXPECT_EQ(st.released_count, 1);
    EXPECT_FALSE(proto::v1::validate(st));
}

TEST(key_state_sender, all_notes_off_releases_everything_and_bounds_hold) {
    key_state_sender s;
    for (int k = 0; k < 40; ++k)
        s.note_on(static_cast<std::uint8_t>(40 + k), 100, {}, 0);
    EXPECT_EQ(s.held_count(), proto::v1::k_max_held);
    s.all_notes_off({}, 1 * k_ms);
    const auto st = s.snapshot(1 * k_ms);
    EXPECT_EQ(st.held_count, 0);
    EXPECT_EQ(st.released_count, proto::v1::k_max_released);
    EXPECT_FALSE(proto::v1::validate(st));
}

} // namespace
} // namespace gno::client
