// gno-loadgen against a real gno-server (FluidSynth, GM soundfont, Opus) on 127.0.0.1: every
// simulated player joins and hears the mix without loss, and the sampled ones decode sound.
// Bounds are loose on purpose: the test must hold on a loaded 2-core machine.
#include "e2e_support.hpp"

#include <sstream>

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

} // namespace
} // namespace gno::e2e
