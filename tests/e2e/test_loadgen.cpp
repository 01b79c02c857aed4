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
    test::child_options o;
    o.stdout_file = dir / "loadgen.out";
    o.stderr_file = dir / "loadgen.err";
    test::child_process loadgen(GNO_LOADGEN_EXE,
                                {"--server", "127.0.0.1:" + std::to_string(srv.port), "--players",
                                 "12", "--seconds", "4", "--seed", "7", "--ramp-s", "0.5",
                                 "--report", (dir / "players.jsonl").string()},
                                o);
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

} // namespace
} // namespace gno::e2e
