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

TEST(cli, jitter_options_set_the_adaptive_range) {
    std::string err;
    const auto d = parse_cli({}, err);
    ASSERT_TRUE(d) << err;
    EXPECT_EQ(d->jitter_frames, 3);
    EXPECT_EQ(d->jitter_max_frames, 40);
    EXPECT_TRUE(d->jitter_adaptive);
    const auto o = parse_cli({"--jitter-frames", "4", "--jitter-max", "60", "--jitter-fixed"}, err);
    ASSERT_TRUE(o) << err;
    EXPECT_EQ(o->jitter_frames, 4);
    EXPECT_EQ(o->jitter_max_frames, 60);
    EXPECT_FALSE(o->jitter_adaptive);
    EXPECT_FALSE(parse_cli({"--jitter-max", "65"}, err));
    EXPECT_NE(err.find("1..64"), std::string::npos) << err;
    EXPECT_FALSE(parse_cli({"--jitter-max"}, err));
    EXPECT_FALSE(parse_cli({"--jitter-frames", "10", "--jitter-max", "8"}, err));
    EXPECT_NE(err.find("--jitter-max"), std::string::npos) << err;
    const std::string usage = cli_usage();
    EXPECT_NE(usage.find("--jitter-max N"), std::string::npos);
    EXPECT_NE(usage.find("--jitter-fixed"), std::string::npos);
}

TEST(cli, parses_the_timing_mode_options) {
    std::string err;
    const auto o =
        parse_cli({"--play", "smf:part.mid:2", "--at-piece-start", "--status", "st.jsonl", "--solo",
                   "--clock-offset-ms", "-1234.5", "--clock-drift-ppm", "80"},
                  err);
    ASSERT_TRUE(o) << err;
    EXPECT_TRUE(o->at_piece_start);
    EXPECT_EQ(o->status_path, "st.jsonl");
    EXPECT_TRUE(o->solo);
    EXPECT_DOUBLE_EQ(o->clock_offset_ms, -1234.5);
    EXPECT_DOUBLE_EQ(o->clock_drift_ppm, 80.0);
    const auto d = parse_cli({}, err);
    ASSERT_TRUE(d);
    EXPECT_FALSE(d->at_piece_start);
    EXPECT_TRUE(d->status_path.empty());
    EXPECT_FALSE(d->solo);
    EXPECT_EQ(d->clock_offset_ms, 0.0);
    EXPECT_EQ(d->clock_drift_ppm, 0.0);
}

TEST(cli, timing_mode_option_errors_name_the_fix) {
    std::string err;
    EXPECT_FALSE(parse_cli({"--clock-drift-ppm", "5000"}, err));
    EXPECT_NE(err.find("-1000..1000"), std::string::npos) << err;
    EXPECT_FALSE(parse_cli({"--clock-drift-ppm", "abc"}, err));
    EXPECT_FALSE(parse_cli({"--clock-offset-ms", "1e12"}, err));
    EXPECT_NE(err.find("--clock-offset-ms"), std::string::npos) << err;
    EXPECT_FALSE(parse_cli({"--clock-offset-ms"}, err));
    EXPECT_FALSE(parse_cli({"--status"}, err));
    EXPECT_NE(err.find("--status"), std::string::npos) << err;
    EXPECT_FALSE(parse_cli({"--status", ""}, err));
    EXPECT_FALSE(parse_cli({"--at-piece-start"}, err));
    EXPECT_NE(err.find("--play"), std::string::npos) << err;
    EXPECT_FALSE(parse_cli({"--play", "keyboard", "--at-piece-start"}, err));
    EXPECT_FALSE(
        parse_cli({"--play", "round:0", "--at-piece-start", "--start-at", "1700000000000"}, err));
    EXPECT_NE(err.find("--start-at"), std::string::npos) << err;
}

TEST(cli, midi_from_names_a_jack_port_and_needs_jack) {
    std::string err;
    const auto o = parse_cli(
        {"--play", "midi", "--midi-from", "a2j:Keystation [20] (capture): Keystation"}, err);
    ASSERT_TRUE(o) << err;
    EXPECT_EQ(o->midi_from, "a2j:Keystation [20] (capture): Keystation");
    EXPECT_EQ(o->play, "midi");
    const auto d = parse_cli({}, err);
    ASSERT_TRUE(d);
    EXPECT_TRUE(d->midi_from.empty());
    EXPECT_FALSE(parse_cli({"--midi-from"}, err));
    EXPECT_NE(err.find("--midi-from"), std::string::npos) << err;
    EXPECT_FALSE(parse_cli({"--midi-from", ""}, err));
    EXPECT_FALSE(parse_cli({"--midi-from", "system:midi_capture_1", "--output", "x.wav"}, err));
    EXPECT_NE(err.find("--output"), std::string::npos) << err;
    EXPECT_FALSE(parse_cli({"--play", "midi", "--at-piece-start"}, err));
    EXPECT_NE(err.find("--play"), std::string::npos) << err;
    EXPECT_NE(std::string(cli_usage()).find("--midi-from PORT"), std::string::npos);
}

TEST(cli, own_voice_and_soundfont) {
    std::string err;
    const auto d = parse_cli({}, err);
    ASSERT_TRUE(d) << err;
    EXPECT_EQ(d->own_voice, own_voice_source::server);
    EXPECT_EQ(d->soundfont, GNO_TEST_SOUNDFONT); // the build's default, as gno-server's
    const auto l = parse_cli({"--own-voice", "local"}, err);
    ASSERT_TRUE(l) << err;
    EXPECT_EQ(l->own_voice, own_voice_source::local);
    EXPECT_EQ(l->soundfont, GNO_TEST_SOUNDFONT);
    const auto s = parse_cli({"--own-voice", "server"}, err);
    ASSERT_TRUE(s) << err;
    EXPECT_EQ(s->own_voice, own_voice_source::server);
    const auto f = parse_cli({"--soundfont", "/x/y.sf2", "--own-voice", "local"}, err);
    ASSERT_TRUE(f) << err;
    EXPECT_EQ(f->soundfont, "/x/y.sf2");

    EXPECT_FALSE(parse_cli({"--own-voice", "both"}, err));
    EXPECT_NE(err.find("server"), std::string::npos) << err;
    EXPECT_NE(err.find("local"), std::string::npos) << err;
    EXPECT_FALSE(parse_cli({"--own-voice"}, err));
    EXPECT_FALSE(parse_cli({"--own-voice", "local", "--soundfont"}, err));
    EXPECT_FALSE(parse_cli({"--own-voice", "local", "--soundfont", ""}, err));
    EXPECT_FALSE(parse_cli({"--soundfont", "/x/y.sf2"}, err)); // used only by the monitor
    EXPECT_NE(err.find("--own-voice local"), std::string::npos) << err;

    const std::string usage = cli_usage();
    EXPECT_NE(usage.find("--own-voice server|local"), std::string::npos);
    EXPECT_NE(usage.find("--soundfont PATH"), std::string::npos);
    EXPECT_NE(usage.find(GNO_TEST_SOUNDFONT), std::string::npos);
}

TEST(cli, articulation_is_sustained_or_short) {
    std::string err;
    const auto d = parse_cli({}, err);
    ASSERT_TRUE(d) << err;
    EXPECT_EQ(d->style, articulation::sustained);
    const auto s = parse_cli({"--articulation", "short", "--bank", "128", "--program", "0"}, err);
    ASSERT_TRUE(s) << err;
    EXPECT_EQ(s->style, articulation::short_notes);
    EXPECT_EQ(s->bank, k_percussion_bank);
    const auto l = parse_cli({"--articulation", "sustained"}, err);
    ASSERT_TRUE(l) << err;
    EXPECT_EQ(l->style, articulation::sustained);
    for (const auto& bad : std::vector<std::vector<std::string>>{{"--articulation", "staccato"},
                                                                 {"--articulation"},
                                                                 {"--articulation", ""},
                                                                 {"--articulation", "Short"}}) {
        EXPECT_FALSE(parse_cli(bad, err));
        EXPECT_NE(err.find("sustained"), std::string::npos) << err;
        EXPECT_NE(err.find("short"), std::string::npos) << err;
    }
    const std::string usage = cli_usage();
    EXPECT_NE(usage.find("--articulation sustained|short"), std::string::npos);
    EXPECT_NE(usage.find("CC 80"), std::string::npos);
}

TEST(status, json_line_carries_every_key) {
    status_sample s;
    s.local_ns = 5;
    s.true_local_ns = 4;
    s.synchronised = true;
    s.server_ns = 1005;
    s.has_info = true;
    s.info.mode = proto::v1::timing_mode::one_cycle;
    s.info.flags = 1;
    s.info.late_events = 3;
    s.info.piece_start = 48'000;
    s.has_score = true;
    s.score.has_piece_start = true;
    s.score.score_ns = 1'500'000'000;
    s.score.beat = 2.5;
    s.score.cycle_beat = 2.5;
    s.in_force = {0, k_percussion_bank, articulation::short_notes};
    const auto j = status_json(s);
    ASSERT_FALSE(j.empty());
    EXPECT_EQ(j.back(), '\n');
    for (const char* k :
         {"\"local_ns\": 5", "\"true_local_ns\": 4", "\"server_ns\": 1005", "\"heard_r\": 0",
          "\"mode\": \"one_cycle\"", "\"advance_ns\": 0", "\"score_s\": 1.500000",
          "\"beat\": 2.5000", "\"cycle_beat\": 2.5000", "\"solo\": true", "\"soloist_session\": 0",
          "\"solo_start\": -1", "\"late_events\": 3", "\"offset_ns\": 1000", "\"rtt_us\": 0",
          "\"jitter_frames\": 0", "\"program\": 0", "\"bank\": 128", "\"articulation\": \"short\""})
        EXPECT_NE(j.find(k), std::string::npos) << k << " in " << j;
    // Before anything is known: nulls, not made-up numbers.
    const auto e = status_json(status_sample{});
    for (const char* k :
         {"\"server_ns\": null", "\"mode\": null", "\"score_s\": null", "\"offset_ns\": null",
          "\"solo\": false", "\"articulation\": \"sustained\""})
        EXPECT_NE(e.find(k), std::string::npos) << k << " in " << e;
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
                               "lost 12 (0.1%), late 0, dup 0, fec 10, plc 2, frames 9600, "
                               "late events 0, mode none");
    const auto j = summary_json(s);
    for (const char* k : {"session_id", "program", "key_state_sent", "audio_received",
                          "audio_lost_estimate", "packets_late", "packets_duplicate", "packets_bad",
                          "frames_decoded", "frames_fec", "frames_plc", "frames_silent",
                          "frames_total", "rtt_us", "notes_on", "notes_off", "late_events", "mode"})
        EXPECT_NE(j.find('"' + std::string(k) + "\":"), std::string::npos) << k;
    EXPECT_NE(j.find("\"mode\": \"none\"}"), std::string::npos) << j;
}

TEST(cli, directory_takes_a_control_plane_and_needs_a_code_but_no_server) {
    std::string err;
    auto o = parse_cli({"--directory", "http://10.0.0.1:47080/", "--join-code", "violins"}, err);
    ASSERT_TRUE(o) << err;
    EXPECT_EQ(o->directory_host, "10.0.0.1");
    EXPECT_EQ(o->directory_port, 47080);
    EXPECT_FALSE(parse_cli({"--directory", "10.0.0.1:47080"}, err));
    EXPECT_NE(err.find("--join-code"), std::string::npos);
    EXPECT_FALSE(parse_cli(
        {"--directory", "10.0.0.1:47080", "--join-code", "v1234", "--server", "10.0.0.2:47000"},
        err));
    EXPECT_NE(err.find("exclude"), std::string::npos);
    EXPECT_FALSE(parse_cli({"--directory", "10.0.0.1", "--join-code", "v1234"}, err));
    EXPECT_FALSE(parse_cli({"--directory", "10.0.0.1:0", "--join-code", "v1234"}, err));
}

} // namespace
} // namespace gno::client
