// The player_info / clock snapshots published by the network thread and read concurrently
// (seqlock). Every field of a written value derives from one counter, so a torn read shows.
// Meant to be run under ThreadSanitizer too (the tsan preset): all shared accesses are atomics.
#include <atomic>
#include <gno/client/score_clock.hpp>
#include <gno/client/seqlock.hpp>
#include <gtest/gtest.h>
#include <thread>
#include <vector>

namespace gno::client {
namespace {

player_timing make(std::uint32_t k) {
    player_timing t;
    t.received = true;
    t.count = k;
    t.received_local_ns = 1'000 * static_cast<std::int64_t>(k);
    t.info.mode = static_cast<proto::v1::timing_mode>(k % 3);
    t.info.advance_ns = 7 * static_cast<std::int64_t>(k);
    t.info.cycle_beats = static_cast<std::uint16_t>(1 + k % 60'000);
    t.info.tempo_milli_bpm = 1'000 + k;
    t.info.cycle_origin = 3 * static_cast<std::int64_t>(k);
    t.info.piece_start = 5 * static_cast<std::int64_t>(k);
    t.info.soloist_session = k ^ 0x5A5A5A5Au;
    t.info.solo_start = 11 * static_cast<std::int64_t>(k);
    t.info.late_events = ~k;
    return t;
}

bool consistent(const player_timing& t) {
    const std::uint32_t k = t.count;
    const auto e = make(k);
    return t.received && t.received_local_ns == e.received_local_ns && t.info.mode == e.info.mode &&
           t.info.advance_ns == e.info.advance_ns && t.info.cycle_beats == e.info.cycle_beats &&
           t.info.tempo_milli_bpm == e.info.tempo_milli_bpm &&
           t.info.cycle_origin == e.info.cycle_origin && t.info.piece_start == e.info.piece_start &&
           t.info.soloist_session == e.info.soloist_session &&
           t.info.solo_start == e.info.solo_start && t.info.late_events == e.info.late_events;
}

TEST(player_info_snapshot, starts_empty_and_returns_the_latest_store) {
    seqlock<player_timing> s;
    EXPECT_FALSE(s.load().received);
    s.store(make(41));
    s.store(make(42));
    const auto t = s.load();
    EXPECT_EQ(t.count, 42u);
    EXPECT_TRUE(consistent(t));
    player_timing rt;
    ASSERT_TRUE(s.try_load(rt, 1)); // no writer: the first try succeeds
    EXPECT_EQ(rt.count, 42u);
    EXPECT_EQ(s.version(), 3u); // initial + 2
}

TEST(player_info_snapshot, readers_never_see_a_torn_value_under_concurrent_writes) {
    seqlock<player_timing> snap;
    seqlock<server_clock_map> clock;
    std::atomic<bool> done{false};
    std::atomic<int> started{0};
    constexpr std::uint32_t k_min_writes = 100'000;
    constexpr std::uint64_t k_min_reads = 20'000;
    std::atomic<std::uint64_t> torn{0};
    std::atomic<std::uint64_t> backwards{0};
    std::atomic<std::uint64_t> reads{0};
    std::uint32_t writes = 0;

    // Writes overlap reads: the writer starts with the readers and goes on until both enough
    // writes and enough reads have happened.
    std::thread writer([&] {
        while (started.load() < 2)
            std::this_thread::yield();
        for (std::uint32_t k = 1; k <= k_min_writes || reads.load() < k_min_reads; ++k) {
            snap.store(make(k));
            const auto x = static_cast<std::int64_t>(k);
            clock.store({.synchronised = true,
                         .settled = (k & 1u) != 0,
                         .local_ns = x,
                         .server_ns = 2 * x,
                         .rate = 1.0 + static_cast<double>(k) * 1e-12});
            writes = k;
        }
        done.store(true);
    });
    auto reader = [&](bool realtime) {
        started.fetch_add(1);
        std::uint32_t last = 0;
        while (!done.load()) {
            player_timing t;
            if (realtime) {
                if (!snap.try_load(t, 8))
                    continue; // an RT reader keeps its previous copy
            } else {
                t = snap.load();
            }
            if (t.count != 0 && !consistent(t))
                torn.fetch_add(1);
            if (t.count < last)
                backwards.fetch_add(1);
            last = t.count;
            const auto c = clock.load();
            if (c.synchronised && c.server_ns != 2 * c.local_ns)
                torn.fetch_add(1);
            reads.fetch_add(1);
        }
    };
    std::thread r1(reader, false);
    std::thread r2(reader, true);
    writer.join();
    r1.join();
    r2.join();
    EXPECT_EQ(torn.load(), 0u);
    EXPECT_EQ(backwards.load(), 0u);
    EXPECT_GE(reads.load(), k_min_reads);
    EXPECT_EQ(snap.load().count, writes);
}

} // namespace
} // namespace gno::client
