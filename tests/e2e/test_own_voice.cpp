// The performer's own voice (issue 6), end to end: a real gno-server with join codes and real
// gno-client processes writing WAV files. --own-voice server hears itself in the server's
// stream; --own-voice local hears itself at once from its own FluidSynth and asks the node for
// a mix-minus, so what it writes holds its voice once, earlier.
#include "e2e_support.hpp"

#include <cmath>
#include <iostream>

namespace gno::e2e {
namespace {

constexpr int k_rate = 48000;
const std::vector<std::string> k_codes{"--join-code", "performer:play-code:0"};

struct node {
    server_process srv;
    std::uint16_t control = 0;
};

node start_node(const test::temp_dir& dir, std::vector<std::string> args) {
    args.insert(args.end(), k_codes.begin(), k_codes.end());
    node n{start_server(dir, args), 0};
    if (const auto port = wait_for_line(n.srv.log, "control on tcp [0-9.]+:([0-9]+)"))
        n.control = static_cast<std::uint16_t>(std::stoi(*port));
    return n;
}

/// One client holding A4 (flute) for 1.5 s, its own voice from `own_voice`; its WAV, mono.
struct take {
    std::optional<int> rc;
    std::vector<float> mono;
    double onset_s = -1; // first sample above -40 dBFS, from the WAV's start
    double end_s = -1;   // last sample above -40 dBFS
    double level_db = 0; // RMS over the held note, onset + 0.3 s .. onset + 1.2 s
    double a4_db = 0;    // A4's share of it (tone_level_db)
};

take play_a4(const test::temp_dir& dir, const node& n, const std::string& own_voice,
             const std::string& name) {
    take t;
    std::vector<std::string> args{
        "--join-code", "play-code", "--control-port", std::to_string(n.control),
        "--program",   "73",        "--play",         "hold:69:1500",
        "--duration",  "2.5",       "--no-ui",        "--own-voice",
        own_voice};
    t.rc = run_client(dir, n.srv.port, args, name);
    t.mono = read_mono(dir / (name + ".wav"));
    const auto first = test::first_sample_above_dbfs(t.mono, -40.0);
    const auto last = test::last_sample_above_dbfs(t.mono, -40.0);
    if (!first || !last)
        return t;
    t.onset_s = static_cast<double>(*first) / k_rate;
    t.end_s = static_cast<double>(*last) / k_rate;
    const auto held = test::slice_seconds(t.mono, k_rate, t.onset_s + 0.3, t.onset_s + 1.2);
    t.level_db = test::rms_dbfs(held);
    t.a4_db = test::tone_level_db(held, k_rate, 440.0, 8.8);
    return t;
}

// On an own-mix node whose performers hear themselves at level 1 by default: the local monitor
// sounds at the key time (the pattern's downbeat, 0.5 s into the WAV), the server's copy a
// round trip, the render budget and the jitter buffer later; and the local take holds the
// voice once (the node sent a mix-minus): as loud as the server take, and not drawn out by a
// late second copy.
TEST(OwnVoice, LocalMonitorSoundsAtOnceAndTheNodeSendsAMixMinus) {
    test::temp_dir dir("gno-e2e-own-voice");
    auto n = start_node(dir, {"--mix", "own", "--own-level", "1"});
    ASSERT_NE(n.control, 0);

    const auto server = play_a4(dir, n, "server", "server");
    const auto local = play_a4(dir, n, "local", "local");
    ASSERT_EQ(server.rc, std::optional<int>(0)) << test::read_file(dir / "server.err");
    ASSERT_EQ(local.rc, std::optional<int>(0)) << test::read_file(dir / "local.err");
    ASSERT_GE(server.onset_s, 0) << "the server take is silent";
    ASSERT_GE(local.onset_s, 0) << "the local take is silent";

    const double earlier_ms = (server.onset_s - local.onset_s) * 1e3;
    std::cout << "onset: local " << local.onset_s * 1e3 << " ms, server " << server.onset_s * 1e3
              << " ms into the WAV (key at ~500 ms): local earlier by " << earlier_ms
              << " ms\nlevel during the hold: local " << local.level_db << " dBFS (A4 "
              << local.a4_db << " dB), server " << server.level_db << " dBFS (A4 " << server.a4_db
              << " dB)\nsounding: local " << (local.end_s - local.onset_s) * 1e3 << " ms, server "
              << (server.end_s - server.onset_s) * 1e3 << " ms\n";

    // The local voice: at the downbeat, give or take a 5-ms period and the flute's attack (it
    // takes about 20 ms to reach -40 dBFS).
    EXPECT_GT(local.onset_s, 0.49);
    EXPECT_LT(local.onset_s, 0.56);
    EXPECT_GT(earlier_ms, 20.0) << "the local monitor is not ahead of the server's stream";
    // Both are A4, at the same level: the node left the local player's voice out of its mix
    // (a second copy would add up to +6 dB) and the monitor's gain matches the node's.
    EXPECT_GT(local.a4_db, -3.0);
    EXPECT_GT(server.a4_db, -3.0);
    EXPECT_NEAR(local.level_db, server.level_db, 3.0);
    // A late second copy would also draw the local take out by the server's delay.
    EXPECT_LT(local.end_s - local.onset_s, server.end_s - server.onset_s + earlier_ms / 2e3);

    const auto log = test::read_file(dir / "local.log");
    EXPECT_NE(log.find("gno-client: mix own 0.00"), std::string::npos) << log;
    EXPECT_EQ(test::read_file(dir / "local.err").find("warning"), std::string::npos)
        << test::read_file(dir / "local.err");
}

// A node running one shared mix (gno-server's default) cannot leave anyone out: the local
// player is told, once, that it hears itself twice, and plays on.
TEST(OwnVoice, ASharedMixNodeIsWarnedAboutOnce) {
    test::temp_dir dir("gno-e2e-own-voice-shared");
    auto n = start_node(dir, {});
    ASSERT_NE(n.control, 0);
    const auto t = play_a4(dir, n, "local", "client");
    ASSERT_EQ(t.rc, std::optional<int>(0)) << test::read_file(dir / "client.err");
    const auto err = test::read_file(dir / "client.err");
    EXPECT_EQ(count_of(err, "gno-client: warning: this node sends one shared mix, so you will "
                            "hear your own voice twice (local and from the server); ask for "
                            "--mix own or use --own-voice server\n"),
              1u)
        << err;
    // It plays on (heard twice: the two copies, 60 ms apart, comb-filter the flute's partials,
    // so A4's share of the sound varies; its level does not fall silent).
    EXPECT_GT(t.level_db, -45.0);
}

// Without a join code there is no control plane to ask: one line says so; a soundfont that is
// not there stops the client before it joins, naming --soundfont.
TEST(OwnVoice, WithoutAJoinCodeOrWithABadSoundfontTheClientSaysSo) {
    test::temp_dir dir("gno-e2e-own-voice-misc");
    auto n = start_node(dir, {"--mix", "own"});
    ASSERT_NE(n.control, 0);
    EXPECT_EQ(run_client(dir, n.srv.port,
                         {"--program", "73", "--play", "hold:69:300", "--duration", "1", "--no-ui",
                          "--own-voice", "local"},
                         "nocode"),
              std::optional<int>(0))
        << test::read_file(dir / "nocode.err");
    EXPECT_NE(test::read_file(dir / "nocode.err")
                  .find("the server-side own level cannot be set (the node's default applies)"),
              std::string::npos)
        << test::read_file(dir / "nocode.err");
    EXPECT_GT(test::rms_dbfs(read_mono(dir / "nocode.wav")), -50.0) << "the monitor was silent";

    EXPECT_EQ(run_client(dir, n.srv.port,
                         {"--join-code", "play-code", "--control-port", std::to_string(n.control),
                          "--play", "hold:69:300", "--no-ui", "--own-voice", "local", "--soundfont",
                          (dir / "missing.sf2").string()},
                         "badsf"),
              std::optional<int>(2));
    const auto err = test::read_file(dir / "badsf.err");
    EXPECT_NE(err.find("soundfont not found: " + (dir / "missing.sf2").string()), std::string::npos)
        << err;
    EXPECT_NE(err.find("--soundfont"), std::string::npos) << err;
    EXPECT_EQ(test::read_file(dir / "badsf.log").find("joined"), std::string::npos);
}

} // namespace
} // namespace gno::e2e
