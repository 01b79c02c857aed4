// The performance archive (issue 7, "Recording") with real processes on 127.0.0.1: gno-server
// records the audience mix (Ogg Opus and its exact PCM) and every player's events (MIDI
// performance logs); `gno-server render` re-renders the logs to the same samples; a server
// killed with SIGKILL leaves recordings that play up to their last page.
#include "e2e_support.hpp"

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#ifndef GNO_LOADGEN_EXE
#error "gno_uses_our_programs (tests/CMakeLists.txt) defines GNO_LOADGEN_EXE"
#endif

namespace gno::e2e {
namespace {

namespace fs = std::filesystem;
constexpr int k_rate = 48000;

/// Runs `gno-server render ARGS…`; its exit status (output in dir/render.log|.err).
std::optional<int> run_render(const test::temp_dir& dir, std::vector<std::string> args) {
    args.insert(args.begin(), "render");
    test::child_options o;
    o.stdout_file = dir / "render.log";
    o.stderr_file = dir / "render.err";
    test::child_process render(GNO_SERVER_EXE, args, o);
    return render.wait_for_exit(300s);
}

/// The last value of `key` in a JSON-lines stats file.
std::optional<double> last_stat(const fs::path& stats, const std::string& key) {
    std::ifstream in(stats);
    std::optional<double> v;
    for (std::string line; std::getline(in, line);)
        if (auto x = json_number(line, key))
            v = x;
    return v;
}

int count_files(const fs::path& dir, const std::string& prefix) {
    int n = 0;
    for (const auto& e : fs::directory_iterator(dir))
        n += e.path().filename().string().starts_with(prefix) ? 1 : 0;
    return n;
}

// Acceptance: re-rendering the MIDI logs of a 30 s load-generator session reproduces the
// recorded audience mix's PCM (before Opus) exactly.
TEST(Archive, ReRenderingTheLogsOfA30sLoadgenSessionReproducesTheRecordedMixExactly) {
    test::temp_dir dir("gno-e2e-archive");
    const auto logs = dir / "logs";
    auto srv = start_server(dir, {"--max-players", "32", "--mode", "time-advanced", "--record-wav",
                                  (dir / "audience.wav").string(), "--perf-log", logs.string()});
    ASSERT_NE(srv.port, 0);
    auto loadgen = start_loadgen(
        dir, srv.port, {"--players", "12", "--seconds", "30", "--seed", "11", "--ramp-s", "2"});
    ASSERT_EQ(loadgen.wait_for_exit(120s), std::optional<int>(0))
        << test::read_file(dir / "loadgen.err");
    ASSERT_TRUE(srv.proc.signal(SIGTERM));
    ASSERT_EQ(srv.proc.wait_for_exit(30s), std::optional<int>(0))
        << test::read_file(dir / "server.err");
    EXPECT_EQ(stopped_stat(srv.log, "record_overflows"), 0.0);
    EXPECT_EQ(stopped_stat(srv.log, "log_overflows"), 0.0);
    EXPECT_GT(stopped_stat(srv.log, "note_ons").value_or(0), 12 * 30); // a busy session

    EXPECT_TRUE(fs::exists(logs / "node.mid"));
    EXPECT_EQ(count_files(logs, "slot-"), 12); // one per player session

    ASSERT_EQ(run_render(dir, {logs.string(), "--out", (dir / "rerender.wav").string()}),
              std::optional<int>(0))
        << test::read_file(dir / "render.err");
    std::cout << test::read_file(dir / "render.log"); // frames, records and the time it took
    const auto recorded = test::read_wav(dir / "audience.wav");
    const auto rendered = test::read_wav(dir / "rerender.wav");
    ASSERT_TRUE(recorded.ok()) << recorded.error;
    ASSERT_TRUE(rendered.ok()) << rendered.error;
    ASSERT_EQ(recorded.clip.channels, 2);
    EXPECT_GT(recorded.clip.duration_s(), 30.0);
    ASSERT_EQ(rendered.clip.frames(), recorded.clip.frames());
    // Sample for sample: the count of differing samples and the first one, if any.
    std::size_t differing = 0;
    std::size_t first = 0;
    const auto& a = recorded.clip.samples;
    const auto& b = rendered.clip.samples;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0 && differing++ == 0)
            first = i;
    }
    EXPECT_EQ(differing, 0u) << "first at sample " << first / 2 << " ("
                             << static_cast<double>(first) / 2.0 / k_rate << " s)";
    EXPECT_GT(test::rms_dbfs(test::to_mono(recorded.clip)), -45.0); // the orchestra is in it
}

// Acceptance: kill -9 the server mid-recording: the recording up to the last flushed page plays.
// The PCM recording and the performance logs survive too.
TEST(Archive, AServerKilledMidRecordingLeavesRecordingsThatPlayToTheirLastPage) {
    test::temp_dir dir("gno-e2e-kill");
    const auto logs = dir / "logs";
    const auto stats = dir / "stats.jsonl";
    auto srv = start_server(dir, {"--record", (dir / "audience.opus").string(), "--record-wav",
                                  (dir / "audience.wav").string(), "--perf-log", logs.string(),
                                  "--stats", stats.string()});
    ASSERT_NE(srv.port, 0);
    auto client = start_client(dir, srv.port,
                               {"--program", "0", "--play", "phrase:200:200:50", "--duration", "30",
                                "--output", (dir / "client.wav").string()});
    // About 4 s recorded, then the process dies with no chance to finish anything.
    ASSERT_TRUE(test::wait_for(
        [&] { return last_stat(stats, "recorded_samples").value_or(0) >= 4.0 * k_rate; }, 60s));
    const double recorded_s = *last_stat(stats, "recorded_samples") / k_rate;
    ASSERT_TRUE(srv.proc.signal(SIGKILL));
    srv.proc.wait_for_exit(10s);
    client.signal(SIGINT);
    client.wait_for_exit(20s);

    // Ogg Opus: pages reach the disk at most a second apart; what was recorded a second (and a
    // writer's pass) before the last stats line is there, and it plays.
    const auto pcm = decode_opus(dir, dir / "audience.opus");
    std::cout << "recorded " << recorded_s << " s before the kill; the Ogg Opus file plays "
              << static_cast<double>(pcm.size()) / k_rate << " s\n";
    EXPECT_GT(static_cast<double>(pcm.size()) / k_rate, recorded_s - 1.5);
    EXPECT_GT(test::rms_dbfs(pcm), -50.0);
    // The float WAV: its header is rewritten every second.
    const auto wav = test::read_wav(dir / "audience.wav");
    ASSERT_TRUE(wav.ok()) << wav.error;
    EXPECT_GT(wav.clip.duration_s(), recorded_s - 1.5);
    EXPECT_GT(test::rms_dbfs(test::to_mono(wav.clip)), -50.0);
    // The logs: valid files up to their last second; the re-render says the end is missing.
    ASSERT_EQ(
        run_render(dir, {logs.string(), "--out", (dir / "rerender.wav").string(), "--tail-s", "1"}),
        std::optional<int>(0))
        << test::read_file(dir / "render.err");
    EXPECT_NE(test::read_file(dir / "render.err").find("has no end"), std::string::npos);
    const auto again = test::read_wav(dir / "rerender.wav");
    ASSERT_TRUE(again.ok()) << again.error;
    EXPECT_GT(test::rms_dbfs(test::to_mono(again.clip)), -50.0);
}

// Bad input: a log that is not one, or is missing, is a clear error; nothing is written.
TEST(Archive, RenderRefusesWhatIsNotAPerformanceLog) {
    test::temp_dir dir("gno-e2e-badlog");
    EXPECT_EQ(run_render(dir, {(dir / "missing").string(), "--out", (dir / "x.wav").string()}),
              std::optional<int>(2));
    EXPECT_NE(test::read_file(dir / "render.err").find("no such performance log"),
              std::string::npos);
    {
        std::ofstream junk(dir / "junk.mid", std::ios::binary);
        junk << "MThd this is not a MIDI file at all";
    }
    EXPECT_EQ(run_render(dir, {(dir / "junk.mid").string(), "--out", (dir / "x.wav").string()}),
              std::optional<int>(2));
    EXPECT_NE(test::read_file(dir / "render.err").find("junk.mid"), std::string::npos)
        << test::read_file(dir / "render.err");
    EXPECT_FALSE(fs::exists(dir / "x.wav"));
    EXPECT_EQ(run_render(dir, {"--out", (dir / "x.wav").string()}), std::optional<int>(2));
}

} // namespace
} // namespace gno::e2e
