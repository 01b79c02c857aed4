// gno-server's command line (server_options.hpp): a bad option is an error string for main to
// print, never an exit, and every option lands in the configuration.
#include "gno/render/server_options.hpp"

#include <gtest/gtest.h>
#include <string>
#include <string_view>
#include <vector>

namespace r = gno::render;

namespace {

r::server_args parse(std::vector<std::string_view> args) {
    return r::parse_server_args(args);
}

} // namespace

TEST(ServerOptions, BadOptionsAreMessagesNotExits) {
    EXPECT_EQ(parse({"--frame-ms", "7"}).error, "--frame-ms must be 2.5, 5, 10 or 20");
    EXPECT_EQ(parse({"--port", "x"}).error, "--port needs a whole number from 0 to 65535, got 'x'");
    EXPECT_EQ(parse({"--bogus"}).error, "unknown option or missing value: --bogus");
    EXPECT_EQ(parse({"--bogus", "1"}).error, "unknown option --bogus");
    EXPECT_EQ(parse({"--jack-stems"}).error,
              "--jack-name, --jack-stems and --no-connect are for --jack");
    EXPECT_TRUE(parse({"--join-code", "violins"}).error.starts_with("--join-code: "));
    EXPECT_FALSE(parse({"--tempo-change", "4:nan"}).error.empty());
    EXPECT_FALSE(parse({"--udp-secret-file", ""}).error.empty());
    EXPECT_FALSE(parse({"--soundfont", ""}).error.empty());
    // --help wins only where it stands: an error before it is still the answer.
    EXPECT_TRUE(parse({"--click", "--help", "--bogus"}).help);
    EXPECT_FALSE(parse({"--bogus", "--help"}).error.empty());
}

TEST(ServerOptions, OptionsReachTheConfiguration) {
    const auto a = parse({"--port", "0", "--udp-secret-file", "/etc/gno/udp.secret", "--join-code",
                          "performer:violins:40", "--mode", "one-cycle", "--tempo", "120",
                          "--cycle-beats", "4", "--tempo-change", "2:60", "--duration", "30"});
    ASSERT_EQ(a.error, "");
    EXPECT_FALSE(a.help);
    EXPECT_EQ(a.cfg.udp_secret_file, "/etc/gno/udp.secret");
    EXPECT_EQ(a.cfg.port, 0);
    EXPECT_EQ(a.cfg.control.port, 0); // with --port 0, any free control port too
    ASSERT_EQ(a.cfg.control.codes.size(), 1u);
    EXPECT_EQ(a.cfg.control.codes[0].code, "violins");
    EXPECT_EQ(a.cfg.control.codes[0].program, 40);
    EXPECT_EQ(a.cfg.timing.mode, r::timing_mode::one_cycle);
    EXPECT_EQ(a.cfg.timing.change.at, 2 * 96'000); // the second cycle of 4 beats at 120 BPM
    EXPECT_EQ(a.cfg.timing.change.cycle_beats, 4);
    EXPECT_EQ(a.duration_s, 30.0);

    const auto plain = parse({});
    EXPECT_EQ(plain.error, "");
    EXPECT_FALSE(plain.cfg.soundfont.empty());
    EXPECT_TRUE(plain.cfg.udp_secret_file.empty());
    EXPECT_TRUE(plain.cfg.control.codes.empty()); // main makes one per role
    EXPECT_EQ(plain.cfg.control.port, 47080);
    EXPECT_NE(r::server_usage().find("--udp-secret-file FILE"), std::string_view::npos);
}

TEST(ServerOptions, ANodeOfAMeshNamesItsPeersAndItsSecret) {
    const auto a = parse({"--node-id", "2", "--peer", "1@gno-render-0.gno:47100", "--peer",
                          "3@[::1]:47102", "--mesh-secret-file", "/etc/gno/mesh", "--mesh-delay-ms",
                          "12", "--sections", "6,17,6", "--public-host", "node2.example.org"});
    ASSERT_EQ(a.error, "");
    const auto& m = a.cfg.mesh;
    EXPECT_TRUE(m.enabled());
    EXPECT_EQ(m.node_id, 2u);
    ASSERT_EQ(m.peers.size(), 2u);
    EXPECT_EQ(m.peers[0].node_id, 1u);
    EXPECT_EQ(m.peers[0].host, "gno-render-0.gno");
    EXPECT_EQ(m.peers[0].port, 47100);
    EXPECT_EQ(m.peers[1].host, "::1");
    EXPECT_EQ(m.delay_frames, 3); // 12 ms in whole 5 ms frames, rounded up
    EXPECT_EQ(m.sections, (std::vector<int>{5, 16}));
    EXPECT_EQ(m.public_host, "node2.example.org");
    EXPECT_FALSE(parse({}).cfg.mesh.enabled());
    // --port 0 (tests): any free mesh port too.
    EXPECT_EQ(parse({"--port", "0", "--node-id", "1", "--mesh-secret-file", "f"}).cfg.mesh.port, 0);
}

TEST(ServerOptions, AMeshMisconfiguredIsAMessage) {
    EXPECT_EQ(parse({"--peer", "2@h:1"}).error,
              "--peer and --mesh-secret-file are for a node of a mesh; give it --node-id N");
    EXPECT_EQ(parse({"--node-id", "1"}).error,
              "--node-id needs --mesh-secret-file FILE (64 hex digits every node shares)");
    EXPECT_EQ(parse({"--node-id", "1", "--mesh-secret-file", "f", "--peer", "1@h:9"}).error,
              "--peer 1@...: that is this node's own id");
    for (const char* bad : {"h:1", "2@h", "2@:1", "0@h:1", "2@h:0", "x@h:1", "2@h:99999"})
        EXPECT_TRUE(parse({"--peer", bad}).error.starts_with("--peer needs ID@HOST:PORT")) << bad;
    EXPECT_FALSE(parse({"--sections", "0"}).error.empty());
    EXPECT_EQ(parse({"--mesh-codec", "flac"}).error, "--mesh-codec must be pcm or opus");
    EXPECT_EQ(parse({"--max-wrong-codes", "5"}).cfg.control.code_failures, 5);
    EXPECT_EQ(parse({}).cfg.control.code_failures, 20);
    EXPECT_FALSE(parse({"--max-wrong-codes", "-1"}).error.empty());
    EXPECT_TRUE(parse({"--mesh-codec", "opus"}).cfg.mesh.opus);
    EXPECT_FALSE(parse({}).cfg.mesh.opus);
    EXPECT_FALSE(parse({"--sections", "3,,4"}).error.empty());
    EXPECT_FALSE(parse({"--node-id", "65536"}).error.empty());
    EXPECT_FALSE(parse({"--mesh-delay-ms", "0"}).error.empty());
    EXPECT_FALSE(parse({"--node-id", "1", "--mesh-secret-file", "f", "--jack"}).error.empty());
}
