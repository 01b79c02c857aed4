// End to end with real processes: gno-server (FluidSynth + GM soundfont + Opus), gno-client,
// UDP on 127.0.0.1 through gno-impair, jackd with the dummy driver, opusdec. Audio is checked
// by analysis of what the client decoded and what the server recorded.
#include "e2e_support.hpp"
#include "gno/proto/v1/datagram.hpp"
#include "gno/test/jackd.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <cmath>
#include <csignal>
#include <iostream>
#include <random>

namespace gno::e2e {
namespace {

namespace v1 = proto::v1;
constexpr int k_rate = 48000;

// Acceptance 1: a client holding A4 (MIDI 69) for 1 s on GM program 74 "Flute" (0-based 73).
// Its release envelope in FluidR3_GM is short, so the decoded audio must fall below -60 dBFS
// well within 1 s of the release.
TEST(EndToEnd, HeldA4IsHeardAt440HzAndFallsSilentAfterRelease) {
    test::temp_dir dir("gno-e2e-a4");
    auto srv = start_server(dir, {});
    ASSERT_NE(srv.port, 0);
    const auto rc =
        run_client(dir, srv.port, {"--program", "73", "--play", "hold:69:1000", "--duration", "4"});
    ASSERT_EQ(rc, std::optional<int>(0)) << test::read_file(dir / "client.err");
    const auto mono = read_mono(dir / "client.wav");
    const auto onset = test::first_sample_above_dbfs(mono, -40.0);
    ASSERT_TRUE(onset) << "no sound in the client's output";
    const double t0 = static_cast<double>(*onset) / k_rate;
    ASSERT_GE(mono.size(), static_cast<std::size_t>((t0 + 2.5) * k_rate)) << "output too short";

    const auto pitch = test::estimate_pitch_hz(
        test::slice_seconds(mono, k_rate, t0 + 0.2, t0 + 0.9), k_rate, 100.0, 2000.0);
    ASSERT_TRUE(pitch);
    EXPECT_NEAR(*pitch, 440.0, 4.4);
    // Still sounding just before the release, heard 1 s after the onset (same path both ways).
    EXPECT_GT(test::rms_dbfs(test::slice_seconds(mono, k_rate, t0 + 0.8, t0 + 0.95)), -40.0);
    // Below -60 dBFS from 1 s after the release on.
    EXPECT_LT(test::rms_dbfs(test::slice_seconds(mono, k_rate, t0 + 2.0, t0 + 2.5)), -60.0);
    const auto last = test::last_sample_above_dbfs(mono, -60.0);
    ASSERT_TRUE(last);
    EXPECT_LT(static_cast<double>(*last) / k_rate, t0 + 2.0);
}

// Acceptance 2: a 60-note phrase through 30 % loss on both directions.
TEST(EndToEnd, SixtyNotesThroughThirtyPercentLossAllSoundAndNoneSticks) {
    test::temp_dir dir("gno-e2e-loss");
    auto srv = start_server(dir, {"--record", (dir / "audience.opus").string()});
    ASSERT_NE(srv.port, 0);
    auto proxy = start_proxy(dir, srv.port, {"--loss", "0.3", "--seed", "20141121"});
    ASSERT_NE(proxy.port, 0);
    const auto rc = run_client(dir, proxy.port, {"--program", "73", "--play", "phrase:60"});
    ASSERT_EQ(rc, std::optional<int>(0)) << test::read_file(dir / "client.err");
    std::this_thread::sleep_for(500ms);
    ASSERT_TRUE(srv.proc.signal(SIGINT));
    ASSERT_EQ(srv.proc.wait_for_exit(20s), std::optional<int>(0));

    // Every note reached the server and sounded: each of the 60 notes has its pitch in the
    // audience recording at its place in the phrase. (A lost release can run one note into
    // the next, legato, so onsets alone may count one less.)
    const auto rec = decode_opus(dir, dir / "audience.opus");
    test::onset_params p;
    p.rise_db = 15.0;
    p.min_gap_s = 0.1;
    const auto server_onsets = test::detect_onsets(rec, k_rate, p);
    EXPECT_GE(server_onsets.size(), 50u);
    EXPECT_LE(server_onsets.size(), 60u);
    ASSERT_FALSE(server_onsets.empty());
    // One note may be lost outright, when every key state sent while it was down (about six)
    // is lost: ~7e-4 a note at 30 %, ~4 % a run of 60; two would not be the link's doing.
    EXPECT_GE(notes_with_their_pitch(rec, server_onsets.front(), 60, true), 59);
    // No note stuck: the recording ends in silence.
    ASSERT_GT(rec.size(), static_cast<std::size_t>(k_rate));
    EXPECT_LT(test::rms_dbfs(std::span(rec).last(k_rate / 4)), -60.0);

    // The client concealed every missing frame: its output has no gap, and about 30 % of the
    // frames were lost and concealed (FEC or PLC).
    const std::string summary = test::read_file(dir / "client.json");
    const double decoded = json_number(summary, "frames_decoded").value_or(-1);
    const double fec = json_number(summary, "frames_fec").value_or(-1);
    const double plc = json_number(summary, "frames_plc").value_or(-1);
    const double silent = json_number(summary, "frames_silent").value_or(-1);
    const double total = json_number(summary, "frames_total").value_or(-2);
    EXPECT_EQ(decoded + fec + plc + silent, total) << summary;
    const double concealed = (fec + plc) / (decoded + fec + plc);
    EXPECT_GT(concealed, 0.2) << summary;
    EXPECT_LT(concealed, 0.45) << summary;
    const auto mono = read_mono(dir / "client.wav");
    EXPECT_NEAR(static_cast<double>(mono.size()), total * 240, 240 * 2);
    // What the client heard has the phrase's notes too. At 5 ms frames Opus is CELT-only and
    // carries no in-band FEC, so a burst of lost frames is concealed by PLC, which can smear a
    // note's 65 ms analysis window: allow a few.
    const auto client_onsets = test::detect_onsets(mono, k_rate, p);
    ASSERT_FALSE(client_onsets.empty());
    EXPECT_GE(notes_with_their_pitch(mono, client_onsets.front(), 60, false), 55);
    EXPECT_LT(test::rms_dbfs(std::span(mono).last(k_rate / 4)), -60.0);
}

// Acceptance 3: a client killed while holding keys: the server releases them within its
// silence timeout (1 s).
TEST(EndToEnd, KilledClientsNotesStopWithinTheTimeout) {
    test::temp_dir dir("gno-e2e-kill");
    const auto stats = dir / "stats.jsonl";
    auto srv = start_server(dir, {"--stats", stats.string()});
    ASSERT_NE(srv.port, 0);
    auto client = start_client(
        dir, srv.port,
        {"--program", "16", "--play", "hold:60:30000", "--output", (dir / "client.wav").string()});
    auto last_voices = [&] {
        const std::string text = test::read_file(stats);
        const auto pos = text.rfind("{\"render_sample\"");
        return pos == std::string::npos ? std::optional<double>{}
                                        : json_number(text.substr(pos), "voices");
    };
    ASSERT_TRUE(test::wait_for([&] { return last_voices().value_or(0) > 0; }, 10s, 50ms))
        << "the held note never sounded";
    std::this_thread::sleep_for(500ms);
    ASSERT_TRUE(client.signal(SIGKILL));
    const auto killed = std::chrono::steady_clock::now();
    // Silence timeout 1 s + the organ's release + one stats period (250 ms).
    ASSERT_TRUE(test::wait_for([&] { return last_voices().value_or(1) == 0; }, 3s, 20ms));
    const auto took = std::chrono::steady_clock::now() - killed;
    EXPECT_LT(took, 1750ms);
    EXPECT_GT(took, 750ms); // the timeout, not something else, released it
    ASSERT_TRUE(srv.proc.signal(SIGINT));
    ASSERT_EQ(srv.proc.wait_for_exit(20s), std::optional<int>(0));
    EXPECT_EQ(stopped_stat(srv.log, "timeouts"), 1.0);
}

// Acceptance 4: the recording decodes with opusdec to the length the server rendered, +-1
// frame, after SIGTERM.
TEST(EndToEnd, RecordingIsFinalisedOnSigtermWithTheRenderedLength) {
    test::temp_dir dir("gno-e2e-rec");
    auto srv = start_server(dir, {"--record", (dir / "audience.opus").string()});
    ASSERT_NE(srv.port, 0);
    const auto rc =
        run_client(dir, srv.port, {"--program", "0", "--play", "hold:72:500", "--duration", "2"});
    ASSERT_EQ(rc, std::optional<int>(0)) << test::read_file(dir / "client.err");
    ASSERT_TRUE(srv.proc.signal(SIGTERM));
    ASSERT_EQ(srv.proc.wait_for_exit(20s), std::optional<int>(0));
    const auto recorded = stopped_stat(srv.log, "recorded_samples");
    ASSERT_TRUE(recorded);
    EXPECT_GT(*recorded, 2.0 * k_rate);
    const auto pcm = decode_opus(dir, dir / "audience.opus");
    EXPECT_NEAR(static_cast<double>(pcm.size()), *recorded, 240.0);
    EXPECT_GT(test::rms_dbfs(pcm), -50.0); // the note is in it
}

// Bad input: garbage, truncated and invalid datagrams, also under a playing session's id, are
// dropped and counted and change nothing: the held note plays on undisturbed.
TEST(EndToEnd, BadDatagramsAreCountedAndChangeNothing) {
    test::temp_dir dir("gno-e2e-bad");
    auto srv = start_server(dir, {});
    ASSERT_NE(srv.port, 0);
    auto client = start_client(dir, srv.port,
                               {"--session", "4242", "--program", "16", "--play", "hold:60:3000",
                                "--output", (dir / "client.wav").string(), "--duration", "5"});
    std::this_thread::sleep_for(1500ms); // the note is sounding

    boost::asio::io_context io;
    boost::asio::ip::udp::socket sock(
        io, boost::asio::ip::udp::endpoint(boost::asio::ip::udp::v4(), 0));
    const boost::asio::ip::udp::endpoint to(boost::asio::ip::make_address("127.0.0.1"), srv.port);
    std::mt19937 rng(7);
    int sent = 0;
    auto send = [&](std::span<const std::byte> b) {
        sock.send_to(boost::asio::buffer(b.data(), b.size()), to);
        ++sent;
    };
    for (int i = 0; i < 100; ++i) { // random junk of random sizes, some huge
        std::vector<std::byte> junk(rng() % 1500 + 1);
        for (auto& b : junk)
            b = std::byte(rng());
        send(junk);
    }
    v1::key_state s; // a key state for the playing session that releases its note...
    std::array<std::byte, v1::k_max_datagram> buf{};
    v1::header h;
    h.session_id = 4242;
    h.sequence = 0x7FFFFFF0; // ...far ahead in sequence, so only its damage stops it
    std::error_code ec;
    const auto n = v1::encode(h, s, buf, ec);
    ASSERT_GT(n, 0u);
    for (std::size_t cut = 1; cut < n; cut += 3) // truncated
        send(std::span(buf).first(cut));
    auto bad_version = std::vector<std::byte>(buf.begin(), buf.begin() + static_cast<long>(n));
    bad_version[4] = std::byte{9};
    send(bad_version);
    auto miscounted = std::vector<std::byte>(buf.begin(), buf.begin() + static_cast<long>(n));
    miscounted[51] = std::byte{1}; // held count 1, but no key follows
    send(miscounted);

    ASSERT_EQ(client.wait_for_exit(20s), std::optional<int>(0));
    ASSERT_TRUE(srv.proc.signal(SIGINT));
    ASSERT_EQ(srv.proc.wait_for_exit(20s), std::optional<int>(0));
    // Malformed headers are refused as such; a well-formed header without the session's tag
    // (the miscounted one) is refused for its tag before its payload is even read.
    EXPECT_EQ(stopped_stat(srv.log, "bad_tags"), 1.0);
    EXPECT_EQ(stopped_stat(srv.log, "bad_packets"), static_cast<double>(sent - 1));
    EXPECT_EQ(stopped_stat(srv.log, "note_ons"), 1.0);
    EXPECT_EQ(stopped_stat(srv.log, "note_offs"), 1.0);

    const auto mono = read_mono(dir / "client.wav");
    const auto onset = test::first_sample_above_dbfs(mono, -40.0);
    ASSERT_TRUE(onset);
    const double t0 = static_cast<double>(*onset) / k_rate;
    const auto env = test::rms_envelope_dbfs(test::slice_seconds(mono, k_rate, t0 + 0.1, t0 + 2.9),
                                             k_rate, 0.05);
    ASSERT_FALSE(env.empty());
    EXPECT_GT(*std::min_element(env.begin(), env.end()), -40.0) << "the held note was disturbed";
}

// Bad input: a missing soundfont and a busy port give one line naming the fix.
TEST(EndToEnd, ServerStartupErrorsNameTheFix) {
    test::temp_dir dir("gno-e2e-start");
    test::child_options o;
    o.stderr_file = dir / "sf.err";
    test::child_process sf(GNO_SERVER_EXE, {"--port", "0", "--soundfont", "/nonexistent.sf2"}, o);
    EXPECT_EQ(sf.wait_for_exit(20s), std::optional<int>(2)); // a bad option value
    EXPECT_NE(test::read_file(dir / "sf.err").find("soundfont not found: /nonexistent.sf2"),
              std::string::npos);

    auto srv = start_server(dir, {});
    ASSERT_NE(srv.port, 0);
    o.stderr_file = dir / "busy.err";
    test::child_process busy(GNO_SERVER_EXE, {"--port", std::to_string(srv.port)}, o);
    EXPECT_EQ(busy.wait_for_exit(20s), std::optional<int>(1));
    EXPECT_NE(test::read_file(dir / "busy.err").find("--port"), std::string::npos);

    o.stderr_file = dir / "opt.err";
    test::child_process opt(GNO_SERVER_EXE, {"--frame-ms", "7"}, o);
    EXPECT_EQ(opt.wait_for_exit(20s), std::optional<int>(2));
}

// The client's JACK output against a real jackd (dummy driver), and a clear error without one.
TEST(EndToEnd, ClientPlaysToJackAndExplainsAMissingServer) {
    test::temp_dir dir("gno-e2e-jack");
    auto srv = start_server(dir, {});
    ASSERT_NE(srv.port, 0);
    {
        test::jackd_server jack;
        ASSERT_TRUE(jack.accepting_clients());
        auto client = start_client(dir, srv.port,
                                   {"--play", "hold:69:1000", "--duration", "3", "--summary",
                                    (dir / "client.json").string()},
                                   "client", jack.client_env());
        // The client's ports exist while it plays.
        test::child_options lo;
        lo.env = jack.client_env();
        lo.stdout_file = dir / "lsp.txt";
        bool ports = test::wait_for(
            [&] {
                test::child_process lsp("/usr/bin/jack_lsp", {"-s", jack.name()}, lo);
                lsp.wait_for_exit(5s);
                return test::read_file(dir / "lsp.txt").find("out_left") != std::string::npos;
            },
            10s, 200ms);
        EXPECT_TRUE(ports) << test::read_file(dir / "lsp.txt");
        EXPECT_EQ(client.wait_for_exit(30s), std::optional<int>(0))
            << test::read_file(dir / "client.err");
        const std::string summary = test::read_file(dir / "client.json");
        EXPECT_GT(json_number(summary, "frames_decoded").value_or(0), 100) << summary;
    }
    auto client = start_client(
        dir, srv.port, {"--play", "hold:69:100"}, "nojack",
        {{"JACK_DEFAULT_SERVER", "gno_no_such_server"}, {"JACK_NO_START_SERVER", "1"}});
    EXPECT_EQ(client.wait_for_exit(20s), std::optional<int>(2));
    const auto err = test::read_file(dir / "nojack.err");
    EXPECT_NE(err.find("no JACK server"), std::string::npos) << err;
}

} // namespace
} // namespace gno::e2e
