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
