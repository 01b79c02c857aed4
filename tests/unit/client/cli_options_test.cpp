#include <gno/client/cli_options.hpp>
#include <gno/client/session.hpp>
#include <gtest/gtest.h>

namespace gno::client {
namespace {

TEST(cli, parses_every_option) {
    std::string err;
    const auto o =
        parse_cli({"--server",   "10.0.0.2:5000", "--session", "1234",         "--program",
                   "40",         "--bank",        "128",       "--play",       "round:1",
                   "--start-at", "1700000000000", "--tempo",   "90",           "--output",
                   "x.wav",      "--jack-name",   "p1",        "--no-connect", "--jitter-frames",
                   "5",          "--duration",    "3.5",       "--summary",    "s.json"},
                  err);
    ASSERT_TRUE(o) << err;
    EXPECT_EQ(o->host, "10.0.0.2");
    EXPECT_EQ(o->port, 5000);
    EXPECT_EQ(o->session_id, 1234u);
    EXPECT_EQ(o->program, 40);
    EXPECT_EQ(o->bank, 128);
    EXPECT_EQ(o->play, "round:1");
    EXPECT_EQ(*o->start_at_unix_ms, 1700000000000);
    EXPECT_DOUBLE_EQ(o->tempo_bpm, 90);
    EXPECT_EQ(o->output_wav, "x.wav");
    EXPECT_EQ(o->jack_name, "p1");
    EXPECT_FALSE(o->jack_connect);
    EXPECT_EQ(o->jitter_frames, 5);
    EXPECT_DOUBLE_EQ(*o->duration_s, 3.5);
    EXPECT_EQ(o->summary_path, "s.json");
}

TEST(cli, bad_options_name_the_fix) {
    std::string err;
    EXPECT_FALSE(parse_cli({"--server", "nohostport"}, err));
    EXPECT_NE(err.find("HOST:PORT"), std::string::npos);
    EXPECT_FALSE(parse_cli({"--program", "128"}, err));
    EXPECT_FALSE(parse_cli({"--session", "0"}, err));
    EXPECT_FALSE(parse_cli({"--jitter-frames"}, err));
    EXPECT_FALSE(parse_cli({"--frobnicate"}, err));
    EXPECT_NE(err.find("--help"), std::string::npos);
}

TEST(summary, line_and_json_carry_the_counters) {
    session_summary s;
    s.session_id = 1234;
    s.program = 40;
    s.key_state_sent = 812;
    s.audio_received = 9400;
    s.audio_lost_estimate = 12;
    s.frames_expected = 9412;
    s.frames_fec = 10;
    s.frames_plc = 2;
    s.frames_total = 9600;
    EXPECT_EQ(summary_line(s), "player 1234 program 40: key-state sent 812, audio received 9400, "
                               "lost 12 (0.1%), late 0, dup 0, fec 10, plc 2, frames 9600");
    const auto j = summary_json(s);
    for (const char* k :
         {"session_id", "program", "key_state_sent", "audio_received", "audio_lost_estimate",
          "packets_late", "packets_duplicate", "packets_bad", "frames_decoded", "frames_fec",
          "frames_plc", "frames_silent", "frames_total", "rtt_us", "notes_on", "notes_off"})
        EXPECT_NE(j.find('"' + std::string(k) + "\":"), std::string::npos) << k;
}

} // namespace
} // namespace gno::client
