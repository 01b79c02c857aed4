// The venue's JACK output (issue 7, gno-server --jack) against a real jackd (dummy driver):
// a JACK client in this test records the node's audience and stem ports while a real
// gno-client plays a note, and the audio is checked by analysis. Also the refusals (another
// sample rate, no JACK server, a name in use) and a JACK server that goes away mid-run.
#include "e2e_support.hpp"
#include "gno/test/jackd.hpp"
#include "jack_test_client.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <iostream>
#include <jack/jack.h>
#include <stdexcept>
#include <thread>
#include <unistd.h>

namespace gno::e2e {
namespace {

constexpr int k_rate = 48000;

/// gno-server with `args` and a JACK environment, for the runs that must fail; its stderr
/// goes to dir/name.err.
test::child_process run_server(const test::temp_dir& dir, std::vector<std::string> args,
                               std::vector<std::pair<std::string, std::string>> env,
                               const std::string& name) {
    args.insert(args.begin(), {"--port", "0", "--control-port", "0"});
    test::child_options o;
    o.env = std::move(env);
    o.stdout_file = dir / (name + ".log");
    o.stderr_file = dir / (name + ".err");
    return test::child_process(GNO_SERVER_EXE, args, o);
}

std::int64_t unix_ms_in(std::chrono::milliseconds d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               (std::chrono::system_clock::now() + d).time_since_epoch())
        .count();
}

/// The last status line the client wrote with its clock synchronised to the server's.
std::optional<std::string> last_synchronised_status(const std::filesystem::path& status) {
    const std::string text = test::read_file(status);
    std::optional<std::string> last;
    std::size_t from = 0;
    while (from < text.size()) {
        const auto end = text.find('\n', from);
        const std::string line = text.substr(from, end == std::string::npos ? end : end - from);
        if (line.find("\"offset_ns\": null") == std::string::npos &&
            line.find("\"offset_ns\"") != std::string::npos)
            last = line;
        if (end == std::string::npos)
            break;
        from = end + 1;
    }
    return last;
}

double seconds(std::size_t samples) {
    return static_cast<double>(samples) / k_rate;
}

// Acceptance: with --jack the node's callback renders, and what a venue hears on
// audience_left/right is the performer's note: A4 (440 Hz, GM flute) while held, silence
// before and after. With --jack-stems the flute's section (10: pipes) carries the note and the
// pianos' (1) is silent. The client's clock, synchronised to the node, sits on the JACK clock.
TEST(VenueJack, AudienceMixOnJackPortsCarriesTheNoteAndItsSectionStem) {
    test::temp_dir dir("gno-e2e-venue");
    test::jackd_server jack;
    const std::string venue = "gno_venue";
    auto srv = start_server(dir, {"--jack", "--jack-name", venue, "--no-connect", "--jack-stems"},
                            "server", jack.client_env());
    ASSERT_NE(srv.port, 0);
    const auto epoch = wait_for_line(srv.log, "epoch_monotonic_ns ([0-9]+)");
    ASSERT_TRUE(epoch);

    jack_test_client probe(jack.name(), "gno_venue_probe",
                           {"in_left", "in_right", "in_flutes", "in_pianos"});
    for (const char* p : {":audience_left", ":audience_right"}) {
        ASSERT_TRUE(probe.port_exists(venue + p)) << venue + p;
        EXPECT_EQ(probe.port_flags(venue + p), JackPortIsOutput | JackPortIsTerminal);
        EXPECT_FALSE(probe.connected(venue + p, "system:playback_1")) << "--no-connect";
        EXPECT_FALSE(probe.connected(venue + p, "system:playback_2")) << "--no-connect";
    }
    for (int s = 1; s <= 17; ++s)
        for (const char* side : {"_left", "_right"}) {
            const std::string p = venue + ":section" + std::to_string(s) + side;
            EXPECT_TRUE(probe.port_exists(p)) << p;
        }
    EXPECT_FALSE(probe.port_exists(venue + ":section18_left"));
    ASSERT_TRUE(probe.connect(venue + ":audience_left", probe.port("in_left")));
    ASSERT_TRUE(probe.connect(venue + ":audience_right", probe.port("in_right")));
    ASSERT_TRUE(probe.connect(venue + ":section10_left", probe.port("in_flutes")));
    ASSERT_TRUE(probe.connect(venue + ":section1_left", probe.port("in_pianos")));

    // The downbeat 3 s from now: the client has synchronised its clock by then, so both key
    // movements are stamped on the server timeline and played at their stamp + 50 ms.
    const auto status = dir / "status.jsonl";
    const int held_ms = 1500;
    auto client = start_client(dir, srv.port,
                               {"--program", "73", "--play", "hold:69:" + std::to_string(held_ms),
                                "--start-at", std::to_string(unix_ms_in(3s)), "--output",
                                (dir / "client.wav").string(), "--status", status.string()});
    ASSERT_EQ(client.wait_for_exit(60s), std::optional<int>(0))
        << test::read_file(dir / "client.err");
    std::this_thread::sleep_for(500ms);
    probe.stop();
    ASSERT_TRUE(srv.proc.signal(SIGINT));
    const auto summary = wait_for_line(srv.log, "stopped[^;]*; (\\{.*\\})", 30s);
    ASSERT_TRUE(summary) << test::read_file(dir / "server.err");
    EXPECT_EQ(srv.proc.wait_for_exit(30s), std::optional<int>(0));

    const auto left = probe.recording(0);
    const auto right = probe.recording(1);
    std::vector<float> mono(left.size());
    for (std::size_t i = 0; i < mono.size(); ++i)
        mono[i] = 0.5f * (left[i] + right[i]);
    const auto onset = test::first_sample_above_dbfs(mono, -40.0);
    ASSERT_TRUE(onset) << "nothing on the audience ports in " << seconds(mono.size()) << " s";
    const double t0 = seconds(*onset);
    const double held_s = held_ms / 1000.0;
    ASSERT_GT(t0, 1.2) << "the note came before the downbeat";
    ASSERT_GE(mono.size(), static_cast<std::size_t>((t0 + held_s + 1.6) * k_rate))
        << "recording too short";
    const auto last = test::last_sample_above_dbfs(mono, -40.0);
    const double sounded_s = seconds(*last) - t0;

    const auto held = test::slice_seconds(mono, k_rate, t0 + 0.2, t0 + held_s - 0.1);
    const auto pitch = test::estimate_pitch_hz(held, k_rate, 100.0, 2000.0);
    const double before_dbfs =
        test::rms_dbfs(test::slice_seconds(mono, k_rate, t0 - 1.0, t0 - 0.05));
    const double held_dbfs = test::rms_dbfs(held);
    const double after_dbfs =
        test::rms_dbfs(test::slice_seconds(mono, k_rate, t0 + held_s + 1.0, t0 + held_s + 1.5));
    const auto flutes = probe.recording(2);
    const auto pianos = probe.recording(3);
    const auto flutes_held = test::slice_seconds(flutes, k_rate, t0 + 0.2, t0 + held_s - 0.1);
    const auto flutes_pitch = test::estimate_pitch_hz(flutes_held, k_rate, 100.0, 2000.0);
    const double left_held_dbfs =
        test::rms_dbfs(test::slice_seconds(left, k_rate, t0 + 0.2, t0 + held_s - 0.1));
    std::cout << "audience: pitch " << pitch.value_or(0.0) << " Hz, held " << held_dbfs
              << " dBFS for " << sounded_s << " s, before " << before_dbfs << " dBFS, 1 s after "
              << after_dbfs << " dBFS; flutes stem " << flutes_pitch.value_or(0.0) << " Hz at "
              << test::rms_dbfs(flutes_held) << " dBFS (audience left " << left_held_dbfs
              << "); pianos stem " << test::rms_dbfs(pianos) << " dBFS\n";
    ASSERT_TRUE(pitch) << "no pitch while the key was held";
    EXPECT_NEAR(*pitch, 440.0, 4.0);
    EXPECT_GT(held_dbfs, -40.0);
    EXPECT_LT(before_dbfs, -60.0);
    EXPECT_LT(after_dbfs, -60.0);
    // Both key movements were stamped and played on time: the note lasts as long as it was held
    // (the flute's release adds a little).
    EXPECT_NEAR(sounded_s, held_s, 0.25);

    ASSERT_TRUE(flutes_pitch) << "the flute's section stem does not carry the note";
    EXPECT_NEAR(*flutes_pitch, 440.0, 4.0);
    // One section sounding, below the limiter's knee: its stem is the audience mix.
    EXPECT_NEAR(test::rms_dbfs(flutes_held), left_held_dbfs, 1.0);
    EXPECT_LT(test::rms_dbfs(pianos), -100.0) << "another section's stem is not silent";

    // The client's clock follows the node's timeline, which is JACK's frame clock: on the dummy
    // driver that clock runs on CLOCK_MONOTONIC, so server time = monotonic - epoch, until an
    // xrun: the dummy driver then starts counting afresh from its late wake-up, and its frame
    // clock (and so the timeline) falls behind CLOCK_MONOTONIC by that lateness.
    const auto synchronised = last_synchronised_status(status);
    ASSERT_TRUE(synchronised) << "the client's clock never synchronised";
    const auto offset = json_number(*synchronised, "offset_ns");
    ASSERT_TRUE(offset);
    const double error_ms = (*offset + std::stod(*epoch)) / 1e6;
    std::cout << "client clock offset vs the JACK timeline: " << error_ms << " ms; server "
              << *summary << "\n";
    const double xruns = json_number(*summary, "xruns").value_or(0.0);
    EXPECT_LT(std::abs(error_ms), 5.0 + 20.0 * xruns) << xruns << " xruns";
    EXPECT_EQ(json_number(*summary, "clamped_events"), 0.0);
    EXPECT_EQ(json_number(*summary, "unstamped_events"), 0.0);
    EXPECT_GE(json_number(*summary, "note_ons").value_or(0), 1.0);
}

// By default the audience ports go to the venue's first two playback ports, and there are no
// stem ports. A second node asking for the same JACK name is refused (exit 2) and the first
// plays on; stopping the first takes its ports away.
TEST(VenueJack, AudiencePortsConnectToPlaybackAndANameInUseIsRefused) {
    test::temp_dir dir("gno-e2e-venue-ports");
    test::jackd_server jack;
    auto srv = start_server(dir, {"--jack"}, "server", jack.client_env());
    ASSERT_NE(srv.port, 0);
    jack_test_client probe(jack.name(), "gno_ports_probe", {});
    EXPECT_TRUE(probe.port_exists("gno-server:audience_left"));
    EXPECT_TRUE(probe.port_exists("gno-server:audience_right"));
    EXPECT_FALSE(probe.port_exists("gno-server:section1_left")) << "stems without --jack-stems";
    EXPECT_TRUE(test::wait_for(
        [&] {
            return probe.connected("gno-server:audience_left", "system:playback_1") &&
                   probe.connected("gno-server:audience_right", "system:playback_2");
        },
        10s, 50ms));
    EXPECT_EQ(test::read_file(dir / "server.err").find("could not connect"), std::string::npos)
        << test::read_file(dir / "server.err");

    auto second = run_server(dir, {"--jack"}, jack.client_env(), "second");
    EXPECT_EQ(second.wait_for_exit(60s), std::optional<int>(2));
    const auto err = test::read_file(dir / "second.err");
    EXPECT_NE(err.find("a JACK client named gno-server already exists; pass --jack-name OTHER"),
              std::string::npos)
        << err;
    EXPECT_TRUE(srv.proc.running());

    ASSERT_TRUE(srv.proc.signal(SIGINT));
    EXPECT_EQ(srv.proc.wait_for_exit(30s), std::optional<int>(0))
        << test::read_file(dir / "server.err");
    EXPECT_TRUE(
        test::wait_for([&] { return !probe.port_exists("gno-server:audience_left"); }, 10s, 50ms));
}

// The node renders at 48 kHz; a JACK server at another rate is refused with both rates named.
TEST(VenueJack, AnotherJackSampleRateIsRefusedNamingBothRates) {
    test::temp_dir dir("gno-e2e-venue-rate");
    test::jackd_options o;
    o.sample_rate = 44100;
    test::jackd_server jack(o);
    auto srv = run_server(dir, {"--jack"}, jack.client_env(), "server");
    EXPECT_EQ(srv.wait_for_exit(60s), std::optional<int>(2));
    const auto err = test::read_file(dir / "server.err");
    EXPECT_NE(err.find("runs at 44100 Hz but this node renders at 48000 Hz"), std::string::npos)
        << err;
    EXPECT_NE(err.find("-r 48000"), std::string::npos) << err;
}

// No JACK server: one line saying so, exit 2; no server is started behind the user's back.
TEST(VenueJack, NoJackServerIsRefused) {
    test::temp_dir dir("gno-e2e-venue-nojack");
    const std::string nobody = "gno_test_nobody_" + std::to_string(::getpid());
    auto srv =
        run_server(dir, {"--jack"},
                   {{"JACK_DEFAULT_SERVER", nobody}, {"JACK_NO_START_SERVER", "1"}}, "server");
    EXPECT_EQ(srv.wait_for_exit(60s), std::optional<int>(2));
    const auto err = test::read_file(dir / "server.err");
    EXPECT_NE(err.find("gno-server: --jack: no JACK server is running"), std::string::npos) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

// The JACK server goes away mid-run: the node says so, stops cleanly (its summary printed)
// and exits 1 instead of hanging with a dead render clock.
TEST(VenueJack, NodeStopsCleanlyWhenTheJackServerGoesAway) {
    test::temp_dir dir("gno-e2e-venue-gone");
    test::jackd_server jack;
    auto srv = start_server(dir, {"--jack", "--no-connect"}, "server", jack.client_env());
    ASSERT_NE(srv.port, 0);
    std::this_thread::sleep_for(1s);
    jack.stop();
    EXPECT_EQ(srv.proc.wait_for_exit(60s), std::optional<int>(1))
        << test::read_file(dir / "server.err");
    EXPECT_NE(test::read_file(dir / "server.err").find("the JACK server has gone away"),
              std::string::npos)
        << test::read_file(dir / "server.err");
    EXPECT_TRUE(wait_for_line(srv.log, "stopped[^;]*; (\\{.*\\})", 1s));
}

} // namespace
} // namespace gno::e2e
