// gno-loadgen against a real gno-server (FluidSynth, GM soundfont, Opus) on 127.0.0.1: every
// simulated player joins and hears the mix without loss, and the sampled ones decode sound.
// Bounds are loose on purpose: the test must hold on a loaded 2-core machine.
#include "e2e_support.hpp"

#include <atomic>
#include <iostream>
#include <pthread.h>
#include <sched.h>
#include <sstream>
#include <thread>
#include <vector>

#ifndef GNO_LOADGEN_EXE
#error "gno_uses_our_programs (tests/CMakeLists.txt) defines GNO_LOADGEN_EXE"
#endif

namespace gno::e2e {
namespace {

TEST(LoadGen, TwelvePlayersAllJoinHearSoundAndLoseNothing) {
    test::temp_dir dir("gno-e2e-loadgen");
    auto srv = start_server(dir, {"--max-players", "32"});
    ASSERT_NE(srv.port, 0);

    // Without --epoch-ns: the server clock comes from the load generator's own ping/pong.
    auto loadgen = start_loadgen(dir, srv.port,
                                 {"--players", "12", "--seconds", "4", "--seed", "7", "--ramp-s",
                                  "0.5", "--report", (dir / "players.jsonl").string()});
    ASSERT_EQ(loadgen.wait_for_exit(60s), std::optional<int>(0))
        << test::read_file(dir / "loadgen.err");

    const std::string line = test::read_file(dir / "loadgen.out");
    const auto number = [&](const char* key) {
        const auto v = json_number(line, key);
        EXPECT_TRUE(v) << key << " missing from: " << line;
        return v.value_or(-1);
    };
    EXPECT_EQ(number("players"), 12) << line;
    EXPECT_EQ(number("joined"), 12) << line;
    EXPECT_GT(number("frames_received"), 12 * 200) << line; // 200 frames/s; most of 4 s
    EXPECT_LT(number("loss_pct"), 1.0) << line;
    EXPECT_GE(number("decoded"), 2) << line;
    EXPECT_EQ(number("decoded_with_sound"), number("decoded")) << line;
    // Frames come every 5 ms; a scheduling hiccup of the loaded machine is fine, a stall not.
    EXPECT_GT(number("gap_p50_us"), 0) << line;
    EXPECT_LT(number("gap_p99_us"), 50'000) << line;
    // At least the 20 Hz idle rate of every player for most of the run.
    EXPECT_GT(number("packets_sent"), 12 * 20 * 3) << line;
    EXPECT_EQ(number("flood_packets"), 0) << line;

    // One report line per player, each one joined.
    std::istringstream report(test::read_file(dir / "players.jsonl"));
    int lines = 0;
    for (std::string player; std::getline(report, player); ++lines)
        EXPECT_NE(player.find("\"joined\":true"), std::string::npos) << player;
    EXPECT_EQ(lines, 12);
}

// Faults (issue: scale): one player sending 100x the normal rate and everyone joining at
// once. The node drops and counts the flood; every other player's stream stays whole.
TEST(LoadGen, AFloodingPlayerDisturbsNoOneElse) {
    test::temp_dir dir("gno-e2e-flood");
    auto srv = start_server(dir, {"--max-players", "32", "--mode", "time-advanced"});
    ASSERT_NE(srv.port, 0);
    auto loadgen =
        start_loadgen(dir, srv.port,
                      {"--players", "12", "--seconds", "5", "--ramp-s", "0", "--flood-players", "1",
                       "--flood-factor", "100", "--decode", "4"});
    ASSERT_EQ(loadgen.wait_for_exit(60s), std::optional<int>(0))
        << test::read_file(dir / "loadgen.err");
    const auto line = test::wait_for_match(dir / "loadgen.out", "(\\{.*\\})", 5s);
    ASSERT_TRUE(line);
    EXPECT_EQ(test::json_number(*line, "joined"), 12.0);
    EXPECT_LT(test::json_number(*line, "loss_pct").value_or(100), 1.0);
    EXPECT_EQ(test::json_number(*line, "decoded_with_sound"), test::json_number(*line, "decoded"));
    EXPECT_GT(test::json_number(*line, "flood_packets").value_or(0), 5000.0);
    srv.proc.signal(SIGINT);
    const auto summary = test::wait_for_match(dir / "server.log", "stopped[^;]*; (\\{.*\\})", 20s);
    ASSERT_TRUE(summary);
    // The flood was seen and dropped at the door; nothing overflowed inside.
    EXPECT_GT(test::json_number(*summary, "rate_limited").value_or(0), 1000.0);
    EXPECT_EQ(test::json_number(*summary, "ingress_overflows"), 0.0);
    EXPECT_EQ(test::json_number(*summary, "queue_overflows"), 0.0);
}

/// Threads that take every core away in bursts at a real-time priority above the node's render
/// threads (what a busy hypervisor or a runaway real-time program does to a render node).
class cpu_hog {
public:
    /// False (and no thread left running) where real-time priority is not allowed.
    bool start(int cores, std::chrono::milliseconds busy, std::chrono::milliseconds idle) {
        for (int c = 0; c < cores; ++c)
            threads_.emplace_back([this, c, busy, idle] {
                sched_param p{};
                p.sched_priority = 80; // the render threads ask for 70
                if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &p) != 0) {
                    refused_.store(true);
                    return;
                }
                cpu_set_t set;
                CPU_ZERO(&set);
                CPU_SET(c, &set);
                pthread_setaffinity_np(pthread_self(), sizeof set, &set);
                while (!stop_.load()) {
                    const auto until = std::chrono::steady_clock::now() + busy;
                    while (std::chrono::steady_clock::now() < until) {
                    }
                    std::this_thread::sleep_for(idle);
                }
            });
        std::this_thread::sleep_for(50ms);
        if (refused_.load())
            stop();
        return !refused_.load();
    }
    void stop() {
        stop_.store(true);
        for (auto& t : threads_)
            t.join();
        threads_.clear();
    }
    ~cpu_hog() { stop(); }

private:
    std::vector<std::thread> threads_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> refused_{false};
};

/// The server's latest --stats line.
std::string last_stats(const std::filesystem::path& file) {
    std::istringstream in(test::read_file(file));
    std::string line, last;
    while (std::getline(in, line))
        if (!line.empty())
            last = line;
    return last;
}

// Faults (issue: scale): a sudden CPU hog. The node steps down (Opus complexity first), counts
// what it could not keep on time, keeps every player's stream going, and climbs back to full
// quality once the hog is gone.
TEST(LoadGen, ACpuHogMakesTheNodeDegradeKeepStreamingAndRecover) {
    test::temp_dir dir("gno-e2e-cpu-hog");
    const auto stats = dir / "stats.jsonl";
    auto srv = start_server(dir, {"--max-players", "32", "--mode", "time-advanced", "--complexity",
                                  "5", "--stats", stats.string()});
    ASSERT_NE(srv.port, 0);
    auto loadgen = start_loadgen(
        dir, srv.port, {"--players", "12", "--seconds", "30", "--ramp-s", "0", "--decode", "4"});

    // Steady at full quality first (everyone joining at once may have cost a step for a moment).
    const auto full_quality = [&] {
        const auto now = last_stats(stats);
        return json_number(now, "players") == 12.0 && json_number(now, "opus_complexity") == 5.0 &&
               json_number(now, "synth_degrade") == 0.0;
    };
    ASSERT_TRUE(test::wait_for(full_quality, 10s)) << last_stats(stats);

    // 3 s of bursts: 6 ms of every 10 ms gone on every core.
    const int cores = std::max(1u, std::thread::hardware_concurrency()) > 1 ? 2 : 1;
    cpu_hog hog;
    if (!hog.start(cores, 6ms, 4ms))
        GTEST_SKIP() << "real-time priority not allowed here: cannot take the CPU from the node";
    std::this_thread::sleep_for(3s);
    hog.stop();
    const auto during = last_stats(stats);
    EXPECT_LT(json_number(during, "opus_complexity").value_or(99), 5.0)
        << "the node did not step down: " << during;
    EXPECT_GT(json_number(during, "degrade_steps").value_or(0), 0.0) << during;

    // Back to full quality once the hog is gone (a calm second per step back up: 3 synth steps
    // and 3 of complexity, 0 -> 2 -> 4 -> 5), with room for a busy machine's slow frames.
    EXPECT_TRUE(test::wait_for(full_quality, 15s)) << last_stats(stats);
    EXPECT_GT(json_number(last_stats(stats), "recover_steps").value_or(0), 0.0);

    // Every player's stream went on: nothing lost, the sampled ones heard sound throughout.
    ASSERT_EQ(loadgen.wait_for_exit(60s), std::optional<int>(0))
        << test::read_file(dir / "loadgen.err");
    const auto line = test::wait_for_match(dir / "loadgen.out", "(\\{.*\\})", 5s);
    ASSERT_TRUE(line);
    EXPECT_EQ(test::json_number(*line, "joined"), 12.0);
    EXPECT_LT(test::json_number(*line, "loss_pct").value_or(100), 1.0) << *line;
    EXPECT_EQ(test::json_number(*line, "decoded_with_sound"), test::json_number(*line, "decoded"));
    // No stall: the longest gap between two frames stays far under the clients' buffers.
    EXPECT_LT(test::json_number(*line, "gap_max_us").value_or(1e9), 100'000.0) << *line;
    srv.proc.signal(SIGINT);
    const auto summary = test::wait_for_match(dir / "server.log", "stopped[^;]*; (\\{.*\\})", 20s);
    ASSERT_TRUE(summary);
    EXPECT_TRUE(json_number(*summary, "late_frames")) << "late frames are counted";
    std::cout << "cpu hog: " << *summary << "\n";
}

} // namespace
} // namespace gno::e2e
