// Per-player link statistics (link_stats.hpp) and the network statistics log that folds them
// into 10-s windows and a session summary (network_stats_log.hpp): sequence gaps with reorder,
// duplicates and wrap, jitter, the disconnection rule, and the summary's arithmetic.
#include "gno/render/link_stats.hpp"
#include "gno/render/network_stats_log.hpp"
#include "gno/test/text.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace gno::render {
namespace {

constexpr std::int64_t k_ms = 1'000'000;
constexpr std::int64_t k_s = 1'000'000'000;

// A player whose key states all take `transit` from the sender's stamp to arrival.
struct fake_player {
    link_accumulator link;
    std::int64_t transit = 20 * k_ms;

    explicit fake_player(std::int64_t join_ns = 0) { link.start(3, 1001, join_ns, 0); }
    void send(std::uint32_t sequence, std::int64_t arrival, std::uint32_t rtt_us = 0,
              std::uint16_t loss = 0) {
        link.on_key_state(sequence, arrival - transit, arrival, rtt_us, loss);
    }
};

TEST(LinkAccumulator, GapsInTheSequenceAreUplinkLoss) {
    fake_player p;
    for (std::uint32_t s = 0; s < 10; ++s)
        if (s != 3 && s != 4)
            p.send(s, s * 50 * k_ms);
    const auto w = p.link.take(1 * k_s, 0);
    EXPECT_EQ(w.slot, 3);
    EXPECT_EQ(w.session_id, 1001u);
    EXPECT_TRUE(w.joined);
    EXPECT_EQ(w.key_states, 8u);
    EXPECT_EQ(w.expected, 10);
    EXPECT_EQ(w.received, 8);
    EXPECT_EQ(w.lost(), 2);
    EXPECT_EQ(w.duplicates, 0u);
}

TEST(LinkAccumulator, AReorderedKeyStateRepairsTheLossCountedBefore) {
    fake_player p;
    p.send(0, 0);
    p.send(1, 50 * k_ms);
    p.send(3, 100 * k_ms); // 2 is late
    const auto first = p.link.take(1 * k_s, 0);
    EXPECT_EQ(first.expected, 4);
    EXPECT_EQ(first.lost(), 1);
    p.send(2, 1100 * k_ms); // arrives in the next interval
    p.send(4, 1150 * k_ms);
    const auto second = p.link.take(2 * k_s, 0);
    EXPECT_EQ(second.expected, 1);
    EXPECT_EQ(second.received, 2);
    EXPECT_EQ(second.lost(), -1); // per interval it may be negative ...
    EXPECT_EQ(second.reordered, 1u);
    EXPECT_EQ(first.lost() + second.lost(), 0); // ... the sum is exact
    EXPECT_FALSE(second.joined);
}

TEST(LinkAccumulator, DuplicatesAreNeitherReceivedNorLost) {
    fake_player p;
    p.send(0, 0);
    p.send(1, 10 * k_ms);
    p.send(1, 11 * k_ms); // the same datagram twice (a duplicating network)
    p.send(2, 20 * k_ms);
    p.send(0, 21 * k_ms); // an old one again, within the remembered window
    p.send(5, 30 * k_ms);
    p.send(3, 31 * k_ms); // late, fills its gap
    p.send(3, 32 * k_ms); // and its copy
    const auto w = p.link.take(1 * k_s, 0);
    EXPECT_EQ(w.key_states, 8u);
    EXPECT_EQ(w.duplicates, 3u);
    EXPECT_EQ(w.expected, 6);
    EXPECT_EQ(w.received, 5);
    EXPECT_EQ(w.lost(), 1); // only 4
    EXPECT_EQ(w.reordered, 1u);
}

TEST(LinkAccumulator, SequenceNumbersWrap) {
    link_accumulator link;
    link.start(0, 7, 0, 0);
    const std::uint32_t first = 0xFFFFFFFEu;
    for (std::uint32_t i = 0; i < 6; ++i)
        if (i != 3)
            link.on_key_state(first + i, i * 10 * k_ms, i * 10 * k_ms + k_ms, 0, 0);
    const auto w = link.take(1 * k_s, 0);
    EXPECT_EQ(w.expected, 6);
    EXPECT_EQ(w.received, 5);
    EXPECT_EQ(w.duplicates, 0u);
}

TEST(LinkAccumulator, AClientRestartingItsNumbersAfterASilenceIsNotLoss) {
    fake_player p;
    for (std::uint32_t s = 0; s < 20; ++s)
        p.send(5000 + s, s * 50 * k_ms);
    // Silent for two seconds, then numbering from 0 again.
    const std::int64_t back = 19 * 50 * k_ms + 2 * k_s;
    for (std::uint32_t s = 0; s < 10; ++s)
        p.send(s, back + s * 50 * k_ms);
    const auto w = p.link.take(back + 500 * k_ms, 0);
    EXPECT_EQ(w.expected, 30);
    EXPECT_EQ(w.received, 30);
    EXPECT_EQ(w.disconnected_ns, 2 * k_s);
}

TEST(LinkAccumulator, JitterFollowsRfc3550) {
    fake_player p;
    // A constant transit time: no jitter, whatever the sending pattern.
    for (std::uint32_t s = 0; s < 50; ++s)
        p.send(s, s * 7 * k_ms);
    EXPECT_DOUBLE_EQ(p.link.jitter_us(), 0.0);
    // Transit alternating between 20 and 22 ms: |D| = 2 ms every time, J -> 2 ms.
    for (std::uint32_t s = 50; s < 400; ++s) {
        p.transit = s % 2 ? 22 * k_ms : 20 * k_ms;
        p.send(s, s * 7 * k_ms);
    }
    EXPECT_NEAR(p.link.jitter_us(), 2000.0, 1.0);
    const auto w = p.link.take(3 * k_s, 0);
    EXPECT_NEAR(w.jitter_us, 2000.0, 1.0);
    // A step of 2 s is the client's clock estimate jumping, not jitter: ignored.
    p.transit += 2 * k_s;
    p.send(400, 3 * k_s + 10 * k_ms);
    EXPECT_NEAR(p.link.jitter_us(), 2000.0, 1.0);
}

TEST(LinkAccumulator, OnlySilencesLongerThanTheGapAreDisconnections) {
    fake_player p;
    std::int64_t t = 0;
    std::uint32_t s = 0;
    p.send(s++, t);
    // Gaps up to the threshold: ordinary loss, not a disconnection.
    t += 400 * k_ms;
    p.send(s++, t);
    t += link_accumulator::k_disconnect_gap_ns;
    p.send(s++, t);
    EXPECT_EQ(p.link.take(t, 0).disconnected_ns, 0);
    // A gap of 600 ms counts whole.
    t += 600 * k_ms;
    p.send(s++, t);
    EXPECT_EQ(p.link.take(t + 1, 0).disconnected_ns, 600 * k_ms);
}

TEST(LinkAccumulator, ASilenceOverAReportIsSplitBetweenIntervals) {
    fake_player p;
    p.send(0, 200 * k_ms);
    // Silent at the report: 0.8 s so far.
    const auto first = p.link.take(1 * k_s, 0);
    EXPECT_EQ(first.disconnected_ns, 800 * k_ms);
    // Back at 1.5 s: this interval gets the rest.
    p.send(1, 1500 * k_ms);
    const auto second = p.link.take(2 * k_s, 0);
    EXPECT_EQ(second.disconnected_ns, 500 * k_ms);
    EXPECT_EQ(first.disconnected_ns + second.disconnected_ns, 1300 * k_ms);
    // Only 0.5 s silent at that report: nothing yet; the gap, once over, counts whole later.
    p.send(2, 2100 * k_ms);
    EXPECT_EQ(p.link.take(2500 * k_ms, 0).disconnected_ns, 600 * k_ms);
}

TEST(LinkAccumulator, TheClientsRoundTripAndLossReportsAreAveraged) {
    fake_player p;
    p.send(0, 0, 0, 0); // no round trip measured yet: not an RTT report
    p.send(1, 10 * k_ms, 30'000, 40);
    p.send(2, 20 * k_ms, 20'000, 60);
    p.send(3, 30 * k_ms, 40'000, 50);
    p.send(3, 31 * k_ms, 1, 999); // a duplicate says nothing new
    const auto w = p.link.take(1 * k_s, 0);
    EXPECT_EQ(w.rtt_reports, 3u);
    EXPECT_DOUBLE_EQ(w.rtt_sum_us, 90'000.0);
    EXPECT_EQ(w.rtt_min_us, 20'000u);
    EXPECT_EQ(w.loss_reports, 4u);
    EXPECT_EQ(w.loss_permille_sum, 150u);
    const auto empty = p.link.take(2 * k_s, 0);
    EXPECT_EQ(empty.rtt_reports, 0u);
    EXPECT_EQ(empty.rtt_min_us, 0u);
}

TEST(LinkAccumulator, LateEventsAreCountedPerIntervalAcrossTheRenderSidesReset) {
    link_accumulator link;
    link.start(2, 9, 0, 17); // the previous player's 17 are still there
    link.on_key_state(0, 0, 0, 0, 0);
    EXPECT_EQ(link.take(1 * k_s, 3).late_events, 3u); // zeroed at the join, then 3
    EXPECT_EQ(link.take(2 * k_s, 5).late_events, 2u);
    const auto last = link.take(3 * k_s, 5, true);
    EXPECT_EQ(last.late_events, 0u);
    EXPECT_TRUE(last.left);
    EXPECT_FALSE(link.active());
}

// --- 10-s windows and the summary ---

player_link_window interval(int slot, std::uint32_t session, std::int64_t end_ns) {
    player_link_window w;
    w.slot = slot;
    w.session_id = session;
    w.start_ns = end_ns - k_s;
    w.end_ns = end_ns;
    w.key_states = 40;
    w.expected = 40;
    w.received = 38;
    w.rtt_reports = 4;
    w.rtt_sum_us = 4 * 30'000.0;
    w.rtt_min_us = 25'000;
    w.loss_reports = 40;
    w.loss_permille_sum = 40 * 50;
    w.jitter_us = 1000.0;
    return w;
}

link_report report_at(std::int64_t end_ns, std::vector<player_link_window> players) {
    return {end_ns, std::move(players)};
}

TEST(LinkAggregator, TenSecondWindowsCloseWhenTheNextBegins) {
    link_aggregator agg;
    std::vector<player_window_stats> done;
    for (int k = 1; k <= 25; ++k) {
        auto a = interval(0, 100, k * k_s);
        auto b = interval(1, 200, k * k_s);
        if (k == 14)
            b.disconnected_ns = 700 * k_ms;
        if (k == 15)
            a.rtt_min_us = 10'000; // player 100's second window has a lower minimum
        auto out = agg.add(report_at(k * k_s, {a, b}));
        if (k == 11 || k == 21) {
            ASSERT_EQ(out.size(), 2u) << "at report " << k;
        } else {
            EXPECT_TRUE(out.empty()) << "at report " << k;
        }
        done.insert(done.end(), out.begin(), out.end());
    }
    ASSERT_EQ(done.size(), 4u);
    EXPECT_EQ(done[0].session_id, 100u);
    EXPECT_EQ(done[0].intervals, 10);
    EXPECT_EQ(done[0].window_start_ns, 0);
    EXPECT_EQ(done[0].window_end_ns, 10 * k_s);
    EXPECT_EQ(done[0].expected, 400);
    EXPECT_EQ(done[0].lost(), 20);
    EXPECT_DOUBLE_EQ(done[0].uplink_loss_pct(), 5.0);
    EXPECT_DOUBLE_EQ(done[0].downlink_loss_pct(), 5.0);
    EXPECT_DOUBLE_EQ(done[0].rtt_mean_us(), 30'000.0);
    EXPECT_EQ(done[0].rtt_min_us, 25'000u);
    EXPECT_EQ(done[2].window_start_ns, 10 * k_s);
    EXPECT_EQ(done[2].rtt_min_us, 10'000u);
    EXPECT_EQ(done[3].disconnected_ns, 700 * k_ms);

    const auto tail = agg.close(); // reports 21..25: a half window
    ASSERT_EQ(tail.size(), 2u);
    EXPECT_EQ(tail[0].intervals, 5);
    EXPECT_EQ(tail[1].window_start_ns, 20 * k_s);

    const auto& s = agg.summary();
    EXPECT_EQ(s.players, 2);
    EXPECT_EQ(s.player_windows, 6u);
    EXPECT_EQ(s.windows_disconnected, 1u);
    EXPECT_DOUBLE_EQ(s.disconnect_probability(), 1.0 / 6.0);
    EXPECT_DOUBLE_EQ(s.rtt_mean_us(), 30'000.0);
    // Six windows' minima: five of 25 ms, one of 10 ms.
    EXPECT_DOUBLE_EQ(s.rtt_min_mean_us(), (5 * 25'000.0 + 10'000.0) / 6.0);
    EXPECT_DOUBLE_EQ(s.uplink_loss_pct(), 5.0);
    EXPECT_DOUBLE_EQ(s.downlink_loss_pct(), 5.0);
    EXPECT_DOUBLE_EQ(s.jitter_mean_us(), 1000.0);
    EXPECT_EQ(s.expected, 2 * 25 * 40);
    EXPECT_EQ(s.disconnected_ns, 700 * k_ms);
    EXPECT_EQ(s.server_ns, 25 * k_s);
}

TEST(LinkAggregator, LossRatesWeighByWhatWasSentNotByWindow) {
    link_aggregator agg(2 * k_s);
    auto busy = interval(0, 1, 1 * k_s);
    busy.expected = 900;
    busy.received = 810; // 10 %
    auto quiet = interval(1, 2, 1 * k_s);
    quiet.expected = 100;
    quiet.received = 100; // 0 %
    quiet.rtt_reports = 0;
    quiet.rtt_sum_us = 0;
    quiet.rtt_min_us = 0;
    quiet.loss_reports = 10;
    quiet.loss_permille_sum = 10 * 200;
    agg.add(report_at(1 * k_s, {busy, quiet}));
    agg.close();
    const auto& s = agg.summary();
    EXPECT_DOUBLE_EQ(s.uplink_loss_pct(), 9.0);
    // Downlink: every report counts once: (40 x 50 + 10 x 200) / 50 = 80 permille.
    EXPECT_DOUBLE_EQ(s.downlink_loss_pct(), 8.0);
    // Only the window with RTT reports has a minimum to average.
    EXPECT_EQ(s.windows_with_rtt, 1u);
    EXPECT_DOUBLE_EQ(s.rtt_min_mean_us(), 25'000.0);
}

TEST(LinkAggregator, ASlotThatChangesHandsGivesTwoLines) {
    link_aggregator agg;
    auto leaving = interval(4, 10, 3 * k_s);
    leaving.left = true;
    leaving.end_ns = 2500 * k_ms;
    auto joining = interval(4, 11, 3 * k_s);
    joining.joined = true;
    joining.start_ns = 2700 * k_ms;
    agg.add(report_at(3 * k_s, {leaving, joining}));
    const auto out = agg.close();
    ASSERT_EQ(out.size(), 2u);
    EXPECT_TRUE(out[0].left);
    EXPECT_TRUE(out[1].joined);
    EXPECT_EQ(agg.summary().players, 2);
}

TEST(NetworkStatsJson, LinesCarryTheirTypeTimeSessionAndSlot) {
    player_window_stats w;
    w.add(interval(5, 1234, 12 * k_s));
    w.window_start_ns = 10 * k_s;
    const std::string line = player_window_json(w, 1'700'000'000'000);
    EXPECT_NE(line.find("\"type\":\"player_window\""), std::string::npos) << line;
    EXPECT_EQ(test::json_number(line, "session"), 1234.0) << line;
    EXPECT_EQ(test::json_number(line, "slot"), 5.0) << line;
    EXPECT_EQ(test::json_number(line, "server_s"), 12.0) << line;
    EXPECT_EQ(test::json_number(line, "window_start_s"), 10.0) << line;
    EXPECT_EQ(test::json_number(line, "unix_ms"), 1'700'000'000'000.0) << line;
    EXPECT_EQ(test::json_number(line, "uplink_loss_pct"), 5.0) << line;
    EXPECT_EQ(test::json_number(line, "rtt_mean_ms"), 30.0) << line;
    EXPECT_EQ(test::json_number(line, "rtt_min_ms"), 25.0) << line;
    EXPECT_EQ(test::json_number(line, "jitter_ms"), 1.0) << line;
    EXPECT_EQ(line.front(), '{');
    EXPECT_EQ(line.back(), '}');

    player_window_stats silent;
    silent.add(player_link_window{});
    const std::string unknown = player_window_json(silent, 0);
    EXPECT_NE(unknown.find("\"rtt_mean_ms\":null"), std::string::npos) << unknown;

    session_summary s;
    s.add(w);
    const std::string sum = summary_json(s, 0);
    EXPECT_NE(sum.find("\"type\":\"summary\""), std::string::npos) << sum;
    EXPECT_EQ(test::json_number(sum, "player_windows"), 1.0) << sum;
    EXPECT_EQ(test::json_number(sum, "disconnect_probability"), 0.0) << sum;
    EXPECT_EQ(test::json_number(sum, "rtt_min_mean_ms"), 25.0) << sum;
}

std::vector<std::string> lines_of(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);)
        out.push_back(line);
    return out;
}

TEST(NetworkStatsLog, WritesWindowsAsTheyCloseAndTheSummaryAtTheEnd) {
    const auto path = std::filesystem::temp_directory_path() /
                      ("gno-net-stats-" + std::to_string(::getpid()) + ".jsonl");
    std::filesystem::remove(path);
    {
        network_stats_log log(path, 2 * k_s);
        EXPECT_EQ(log.latest().server_ns, 0);
        for (int k = 1; k <= 5; ++k)
            log.submit(report_at(k * k_s, {interval(0, 1, k * k_s), interval(1, 2, k * k_s)}));
        EXPECT_EQ(log.latest().server_ns, 5 * k_s);
        EXPECT_EQ(log.latest().players.size(), 2u);
        log.finish();
        log.finish(); // idempotent
        // Windows [0,2) and [2,4) as they closed, then [4,6) at the end, then the summary.
        const auto lines = lines_of(path);
        ASSERT_EQ(lines.size(), 7u);
        for (std::size_t i = 0; i < 6; ++i)
            EXPECT_NE(lines[i].find("\"type\":\"player_window\""), std::string::npos) << lines[i];
        EXPECT_NE(lines[6].find("\"type\":\"summary\""), std::string::npos) << lines[6];
        EXPECT_EQ(test::json_number(lines[6], "players"), 2.0);
        EXPECT_EQ(test::json_number(lines[6], "player_windows"), 6.0);
        EXPECT_EQ(test::json_number(lines[6], "uplink_loss_pct"), 5.0);
        EXPECT_EQ(log.dropped_reports(), 0u);
        // After finish: still the live view, no more lines.
        log.submit(report_at(6 * k_s, {interval(0, 1, 6 * k_s)}));
        EXPECT_EQ(log.latest().server_ns, 6 * k_s);
    }
    EXPECT_EQ(lines_of(path).size(), 7u);
    std::filesystem::remove(path);
}

TEST(NetworkStatsLog, WithoutAFileItKeepsOnlyTheLatestReport) {
    network_stats_log log("");
    log.submit(report_at(k_s, {interval(0, 1, k_s)}));
    EXPECT_EQ(log.latest().players.size(), 1u);
    log.finish();
}

TEST(NetworkStatsLog, AnUnwritablePathIsAnErrorNamingTheFix) {
    try {
        network_stats_log log("/nonexistent-dir/net.jsonl");
        FAIL() << "opened a file in a directory that does not exist";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("--net-stats"), std::string::npos) << e.what();
    }
}

} // namespace
} // namespace gno::render
