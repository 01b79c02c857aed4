#include "gno/render/key_reconciler.hpp"
#include "gno/render/player_directory.hpp"

#include <gtest/gtest.h>
#include <vector>

using gno::render::key_reconciler;
using gno::render::note_event;
namespace v1 = gno::proto::v1;

namespace {

struct recorder {
    std::array<note_event, gno::render::k_max_reconcile_events> buf{};
    std::vector<note_event> apply(key_reconciler& r, const v1::key_state& s) {
        const auto n = r.apply(s, buf);
        return {buf.begin(), buf.begin() + static_cast<long>(n)};
    }
};

v1::key_state with_keys(std::initializer_list<std::pair<int, std::int64_t>> keys) {
    v1::key_state s;
    for (auto [key, onset] : keys)
        s.held[s.held_count++] = {static_cast<std::uint8_t>(key), 100, onset, 0};
    return s;
}

int count(const std::vector<note_event>& ev, note_event::kind k) {
    int n = 0;
    for (const auto& e : ev)
        n += e.what == k;
    return n;
}

} // namespace

TEST(KeyReconciler, NewKeysSoundMissingKeysStop) {
    key_reconciler r;
    recorder rec;
    auto ev = rec.apply(r, with_keys({{60, 1}, {64, 1}}));
    EXPECT_EQ(count(ev, note_event::kind::note_on), 2);
    EXPECT_EQ(count(ev, note_event::kind::program), 1); // first state selects the instrument
    EXPECT_EQ(r.sounding(), 2u);

    ev = rec.apply(r, with_keys({{64, 1}, {67, 2}}));
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_EQ(ev[0].what, note_event::kind::note_off);
    EXPECT_EQ(ev[0].key, 60);
    EXPECT_EQ(ev[1].what, note_event::kind::note_on);
    EXPECT_EQ(ev[1].key, 67);
    EXPECT_EQ(ev[1].value, 100);
}

TEST(KeyReconciler, RepeatedStateChangesNothing) {
    key_reconciler r;
    recorder rec;
    auto s = with_keys({{60, 1}});
    rec.apply(r, s);
    for (int i = 0; i < 5; ++i)
        EXPECT_TRUE(rec.apply(r, s).empty());
}

TEST(KeyReconciler, LostPacketsAreRepairedByTheNext) {
    key_reconciler r;
    recorder rec;
    rec.apply(r, with_keys({{60, 1}}));
    // States {60,62} and {62} were lost; {62,64} arrives: 60 stops, 62 and 64 start.
    auto ev = rec.apply(r, with_keys({{62, 2}, {64, 3}}));
    EXPECT_EQ(count(ev, note_event::kind::note_off), 1);
    EXPECT_EQ(count(ev, note_event::kind::note_on), 2);
    EXPECT_TRUE(r.is_sounding(62));
    EXPECT_FALSE(r.is_sounding(60));
}

TEST(KeyReconciler, RestrikeBetweenStatesRetriggers) {
    key_reconciler r;
    recorder rec;
    rec.apply(r, with_keys({{60, 1}}));
    auto ev = rec.apply(r, with_keys({{60, 5}})); // released and struck again in between
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_EQ(ev[0].what, note_event::kind::note_off);
    EXPECT_EQ(ev[1].what, note_event::kind::note_on);
    EXPECT_EQ(r.sounding(), 1u);
}

TEST(KeyReconciler, ReleaseAllSilencesEverythingIncludingPedal) {
    key_reconciler r;
    recorder rec;
    auto s = with_keys({{60, 1}, {61, 1}, {62, 1}});
    s.sustain = 127;
    rec.apply(r, s);
    std::array<note_event, gno::render::k_max_reconcile_events> buf{};
    const auto n = r.release_all(buf);
    EXPECT_EQ(n, 4u); // three note-offs and the pedal up
    EXPECT_EQ(buf[3].what, note_event::kind::control);
    EXPECT_EQ(buf[3].key, 64);
    EXPECT_EQ(buf[3].value, 0);
    EXPECT_EQ(r.sounding(), 0u);
    // The same state again after the timeout sounds the keys again.
    EXPECT_EQ(count(rec.apply(r, s), note_event::kind::note_on), 3);
}

TEST(KeyReconciler, ProgramAndControllersOnlyOnChange) {
    key_reconciler r;
    recorder rec;
    v1::key_state s;
    s.program = 40;
    s.expression = 90;
    auto ev = rec.apply(r, s);
    EXPECT_EQ(count(ev, note_event::kind::program), 1);
    EXPECT_EQ(count(ev, note_event::kind::control), 1);
    EXPECT_TRUE(rec.apply(r, s).empty());
    s.bank = 128;
    ev = rec.apply(r, s);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].bank, 128);
}

TEST(PlayerDirectory, JoinsFiltersStaleFollowsNewerAddressesAndRemembersRetired) {
    using gno::render::player_directory;
    const boost::asio::ip::udp::endpoint a(boost::asio::ip::make_address("127.0.0.1"), 1000);
    const boost::asio::ip::udp::endpoint b(boost::asio::ip::make_address("127.0.0.1"), 2000);
    const gno::proto::v1::session_key k{};
    player_directory d(2);
    auto r = d.on_key_state(7, 10, a, 0, k);
    EXPECT_EQ(r.what, player_directory::verdict::joined);
    EXPECT_EQ(d.on_key_state(7, 11, a, 1, k).what, player_directory::verdict::accepted);
    EXPECT_EQ(d.on_key_state(7, 11, a, 2, k).what, player_directory::verdict::stale); // duplicate
    EXPECT_EQ(d.on_key_state(7, 9, a, 3, k).what, player_directory::verdict::stale);  // reordered
    // A replayed (old) datagram from another address moves nothing, even after a silence.
    EXPECT_EQ(d.on_key_state(7, 11, b, 5'000'000'000, k).what, player_directory::verdict::stale);
    EXPECT_EQ(d.entries()[0].address, a);
    // Sequence wraps around.
    EXPECT_EQ(d.on_key_state(8, 0xFFFFFFFEu, b, 4, k).what, player_directory::verdict::joined);
    EXPECT_EQ(d.on_key_state(8, 1, b, 5, k).what, player_directory::verdict::accepted);
    // Full.
    EXPECT_EQ(d.on_key_state(9, 1, b, 6, k).what, player_directory::verdict::full);
    // A newer key state from a new address (a NAT re-binding, or a restarted client, whose
    // sequences start from the clock) is taken and the stream follows it.
    r = d.on_key_state(7, 5000, b, 2'000'000'000, k);
    EXPECT_EQ(r.what, player_directory::verdict::accepted);
    EXPECT_TRUE(r.rebound);
    EXPECT_EQ(d.entries()[0].address, b);
    // Expiry frees the slot for somebody else.
    std::vector<int> freed;
    d.expire(10'000'000'000, 5'000'000'000, [&](int slot) { freed.push_back(slot); });
    EXPECT_EQ(freed.size(), 2u);
    EXPECT_EQ(d.on_key_state(9, 1, b, 10'000'000'001, k).what, player_directory::verdict::joined);
    // A freed session's old datagrams cannot bring it back; newer ones can.
    EXPECT_EQ(d.on_key_state(7, 5000, a, 10'000'000'002, k).what, player_directory::verdict::stale);
    EXPECT_EQ(d.on_key_state(7, 5001, a, 10'000'000'003, k).what,
              player_directory::verdict::joined);
}
