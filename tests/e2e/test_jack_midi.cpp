// JACK MIDI input (issue 6) against a real jackd (dummy driver): a JACK client in this test
// sends notes into gno-client's midi_in and records its out_left/out_right; gno-server renders
// them; program changes and CC 80 pick the instrument and articulation (issue 7). Also the bad
// inputs: a JACK client name in use, a --midi-from port that does not exist.
#include "e2e_support.hpp"
#include "gno/test/jackd.hpp"
#include "jack_test_client.hpp"

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <iostream>
#include <jack/jack.h>
#include <jack/midiport.h>
#include <stdexcept>

namespace gno::e2e {
namespace {

constexpr int k_rate = 48000;

/// This test's own JACK client: one MIDI output into gno-client and its two outputs recorded.
class jack_probe : public jack_test_client {
public:
    jack_probe(const std::string& server, const std::string& name)
        : jack_test_client(server, name, {"in_left", "in_right"}, true) {}

    /// What it heard, mono (the average of both inputs); complete after stop().
    [[nodiscard]] std::vector<float> recording() const {
        auto mono = jack_test_client::recording(0);
        const auto right = jack_test_client::recording(1);
        mono.resize(std::min(mono.size(), right.size()));
        for (std::size_t i = 0; i < mono.size(); ++i)
            mono[i] = 0.5f * (mono[i] + right[i]);
        return mono;
    }
};

/// The client's JACK ports, or the first one missing within `timeout`.
bool wait_for_ports(const jack_probe& probe, const std::string& client,
                    std::chrono::milliseconds timeout = 20s) {
    return test::wait_for(
        [&] {
            for (const char* p : {":midi_in", ":out_left", ":out_right"})
                if (!probe.port_exists(client + p))
                    return false;
            return true;
        },
        timeout, 50ms);
}

double seconds(std::size_t frames) {
    return static_cast<double>(frames) / k_rate;
}

// Acceptance: a note sent into the client's JACK MIDI port is played by the server and heard
// back on the client's JACK outputs: A4 (440 Hz) on the flute (GM 74) while held, silence
// after its release.
TEST(JackMidi, NoteIntoMidiPortIsPlayedAndHeardBack) {
    test::temp_dir dir("gno-e2e-midi");
    test::jackd_server jack;
    auto srv = start_server(dir, {});
    ASSERT_NE(srv.port, 0);
    const std::string name = "gno_midi_player";
    auto client = start_client(dir, srv.port,
                               {"--program", "73", "--play", "midi", "--jack-name", name,
                                "--no-connect", "--status", (dir / "status.jsonl").string()},
                               "client", jack.client_env());
    jack_probe probe(jack.name(), "gno_midi_probe");
    ASSERT_TRUE(wait_for_ports(probe, name)) << test::read_file(dir / "client.err");
    ASSERT_TRUE(probe.connect(probe.port("midi_out"), name + ":midi_in"));
    ASSERT_TRUE(probe.connect(name + ":out_left", probe.port("in_left")));
    ASSERT_TRUE(probe.connect(name + ":out_right", probe.port("in_right")));
    // The client hears the server and has a clock estimate before the key goes down.
    ASSERT_TRUE(wait_for_line(dir / "status.jsonl", "\"server_ns\": ([0-9]+)", 20s))
        << test::read_file(dir / "client.err");
    std::this_thread::sleep_for(500ms); // some silence to compare with

    const auto pressure = probe.send({0xD0, 40}); // ignored: channel pressure plays nothing
    const auto on = probe.send({0x90, 69, 100});
    ASSERT_TRUE(pressure && on) << "the test's JACK client does not run";
    std::this_thread::sleep_for(1s);
    const auto off = probe.send({0x80, 69, 0});
    ASSERT_TRUE(off);
    std::this_thread::sleep_for(2500ms);
    ASSERT_TRUE(client.signal(SIGINT));
    ASSERT_EQ(client.wait_for_exit(20s), std::optional<int>(0))
        << test::read_file(dir / "client.err");
    probe.stop();
    EXPECT_NE(test::read_file(dir / "client.log").find("midi: 2 key events, 1 ignored, 0 dropped"),
              std::string::npos)
        << test::read_file(dir / "client.log");

    const auto mono = probe.recording();
    const double t_on = seconds(*on);
    const double held_s = seconds(*off - *on);
    EXPECT_NEAR(held_s, 1.0, 0.5);
    // Silence before the key went down: the sound below is the MIDI note's.
    EXPECT_LT(test::rms_dbfs(test::slice_seconds(mono, k_rate, t_on - 0.4, t_on)), -60.0);
    const auto after_on = test::slice_seconds(mono, k_rate, t_on, t_on + 3.0);
    const auto onset = test::first_sample_above_dbfs(after_on, -40.0);
    ASSERT_TRUE(onset) << "nothing heard within 3 s of the note-on";
    const double latency = seconds(*onset);
    EXPECT_LT(latency, 1.0) << "the note came back late";
    const double t0 = t_on + latency; // the note as heard
    ASSERT_GE(mono.size(), static_cast<std::size_t>((t0 + held_s + 1.6) * k_rate))
        << "recording too short";

    const auto pitch = test::estimate_pitch_hz(
        test::slice_seconds(mono, k_rate, t0 + 0.2, t0 + held_s - 0.1), k_rate, 100.0, 2000.0);
    const double held_dbfs =
        test::rms_dbfs(test::slice_seconds(mono, k_rate, t0 + 0.1, t0 + held_s - 0.1));
    // About 1 s after the release has come back: the flute's short release is long over.
    const double released_dbfs =
        test::rms_dbfs(test::slice_seconds(mono, k_rate, t0 + held_s + 1.0, t0 + held_s + 1.5));
    std::cout << "heard " << latency * 1e3 << " ms after the note-on; pitch " << pitch.value_or(0.0)
              << " Hz; held " << held_dbfs << " dBFS; 1 s after release " << released_dbfs
              << " dBFS\n";
    ASSERT_TRUE(pitch) << "no pitch while the key was held";
    EXPECT_NEAR(*pitch, 440.0, 440.0 * 0.02);
    EXPECT_GT(held_dbfs, -40.0);
    EXPECT_LT(released_dbfs, -60.0);
}

/// The last --status line's instrument, e.g. `"program": 0, "bank": 128, "articulation": "short"`.
std::string status_instrument(const std::filesystem::path& status) {
    const auto text = test::read_file(status);
    const auto at = text.rfind("\"program\"");
    return at == std::string::npos ? std::string() : text.substr(at, text.find('}', at) - at);
}

// Issue 7: the instrument from MIDI. A program change on channel 10 picks the GM Standard kit
// (bank 128): a snare held 1.5 s is heard as a short percussive hit. A program change on
// channel 1 goes back to an organ (bank 0); with CC 80 at 127 a held organ note is short and
// fades while held; with CC 80 at 0 the same note sustains until its release.
TEST(JackMidi, ProgramChangeOnChannel10PicksTheKitAndCc80TheArticulation) {
    test::temp_dir dir("gno-e2e-midi-kit");
    test::jackd_server jack;
    auto srv = start_server(dir, {});
    ASSERT_NE(srv.port, 0);
    const std::string name = "gno_kit_player";
    const auto status = dir / "status.jsonl";
    auto client = start_client(dir, srv.port,
                               {"--program", "73", "--play", "midi", "--jack-name", name,
                                "--no-connect", "--no-ui", "--status", status.string()},
                               "client", jack.client_env());
    jack_probe probe(jack.name(), "gno_kit_probe");
    ASSERT_TRUE(wait_for_ports(probe, name)) << test::read_file(dir / "client.err");
    ASSERT_TRUE(probe.connect(probe.port("midi_out"), name + ":midi_in"));
    ASSERT_TRUE(probe.connect(name + ":out_left", probe.port("in_left")));
    ASSERT_TRUE(probe.connect(name + ":out_right", probe.port("in_right")));
    ASSERT_TRUE(wait_for_line(status, "\"server_ns\": ([0-9]+)", 20s))
        << test::read_file(dir / "client.err");
    std::this_thread::sleep_for(300ms);

    // One note per step, held 1.5 s, then 1 s to ring out: {first frame, what it is}.
    const auto hold = [&](std::initializer_list<std::uint8_t> on,
                          std::initializer_list<std::uint8_t> off) {
        const auto at = probe.send(on);
        std::this_thread::sleep_for(1500ms);
        EXPECT_TRUE(probe.send(off));
        std::this_thread::sleep_for(1000ms);
        return at;
    };
    ASSERT_TRUE(probe.send({0xC9, 0})); // channel 10: the Standard kit
    ASSERT_TRUE(wait_for_line(status, "(\"bank\": 128)", 5s)) << status_instrument(status);
    const auto snare = hold({0x99, 38, 110}, {0x89, 38, 0});
    ASSERT_TRUE(probe.send({0xC0, 16})); // channel 1: drawbar organ, bank 0
    ASSERT_TRUE(probe.send({0xB0, 80, 127}));
    ASSERT_TRUE(
        wait_for_line(status, "(\"program\": 16, \"bank\": 0, \"articulation\": \"short\")", 5s))
        << status_instrument(status);
    const auto short_organ = hold({0x90, 60, 100}, {0x80, 60, 0});
    ASSERT_TRUE(probe.send({0xB0, 80, 0}));
    const auto sustained_organ = hold({0x90, 60, 100}, {0x80, 60, 0});
    EXPECT_EQ(status_instrument(status),
              "\"program\": 16, \"bank\": 0, \"articulation\": \"sustained\"");
    ASSERT_TRUE(client.signal(SIGINT));
    ASSERT_EQ(client.wait_for_exit(20s), std::optional<int>(0))
        << test::read_file(dir / "client.err");
    probe.stop();
    ASSERT_TRUE(snare && short_organ && sustained_organ);

    const auto mono = probe.recording();
    // From each note-on to just before the next: onset to 40 dB below the peak.
    const auto decay = [&](std::size_t from) {
        return test::onset_to_decay_s(
            test::slice_seconds(mono, k_rate, seconds(from), seconds(from) + 2.4), k_rate, 40.0);
    };
    const auto snare_s = decay(*snare);
    const auto short_s = decay(*short_organ);
    const auto sustained_s = decay(*sustained_organ);
    std::cout << "onset to -40 dB: snare on the kit " << snare_s.value_or(-1) * 1e3
              << " ms, organ short " << short_s.value_or(-1) * 1e3 << " ms, organ sustained "
              << sustained_s.value_or(-1) * 1e3 << " ms (keys held 1500 ms)\n";
    ASSERT_TRUE(snare_s) << "the snare never decayed: not the kit?";
    EXPECT_LT(*snare_s, 0.6);
    ASSERT_TRUE(short_s) << "the short organ note never decayed";
    EXPECT_LT(*short_s, 0.6);
    ASSERT_TRUE(sustained_s);
    EXPECT_GT(*sustained_s, 1.4); // it lasted until its release
}

// --own-voice local on JACK (issue 6): the note is played by the client's own FluidSynth into
// its JACK outputs a few periods after the MIDI event, not a round trip later; on an own-mix
// node (own level 0 by default) the server's stream does not hold it, so it sounds once.
TEST(JackMidi, OwnVoiceLocalIsHeardWithinAFewPeriods) {
    test::temp_dir dir("gno-e2e-midi-local");
    test::jackd_server jack;
    auto srv = start_server(dir, {"--mix", "own"});
    ASSERT_NE(srv.port, 0);
    const std::string name = "gno_local_player";
    auto client = start_client(dir, srv.port,
                               {"--program", "73", "--play", "midi", "--jack-name", name,
                                "--no-connect", "--no-ui", "--own-voice", "local"},
                               "client", jack.client_env());
    jack_probe probe(jack.name(), "gno_local_probe");
    ASSERT_TRUE(wait_for_ports(probe, name)) << test::read_file(dir / "client.err");
    ASSERT_TRUE(probe.connect(probe.port("midi_out"), name + ":midi_in"));
    ASSERT_TRUE(probe.connect(name + ":out_left", probe.port("in_left")));
    ASSERT_TRUE(probe.connect(name + ":out_right", probe.port("in_right")));
    std::this_thread::sleep_for(500ms);
    const auto on = probe.send({0x90, 69, 100});
    ASSERT_TRUE(on) << "the test's JACK client does not run";
    std::this_thread::sleep_for(1s);
    const auto off = probe.send({0x80, 69, 0});
    ASSERT_TRUE(off);
    std::this_thread::sleep_for(1500ms);
    ASSERT_TRUE(client.signal(SIGINT));
    ASSERT_EQ(client.wait_for_exit(20s), std::optional<int>(0))
        << test::read_file(dir / "client.err");
    probe.stop();

    const auto mono = probe.recording();
    const double t_on = seconds(*on);
    const double held_s = seconds(*off - *on);
    EXPECT_LT(test::rms_dbfs(test::slice_seconds(mono, k_rate, t_on - 0.4, t_on)), -60.0);
    const auto onset =
        test::first_sample_above_dbfs(test::slice_seconds(mono, k_rate, t_on, t_on + 1.0), -40.0);
    ASSERT_TRUE(onset) << "nothing heard within 1 s of the note-on";
    const double latency = seconds(*onset);
    const auto held = test::slice_seconds(mono, k_rate, t_on + 0.2, t_on + held_s - 0.1);
    const auto pitch = test::estimate_pitch_hz(held, k_rate, 100.0, 2000.0);
    std::cout << "heard " << latency * 1e3 << " ms after the note-on (periods of " << jack.period()
              << "); pitch " << pitch.value_or(0.0) << " Hz; held " << test::rms_dbfs(held)
              << " dBFS\n";
    // The MIDI event reaches the client in the next period, the forwarder within a millisecond
    // (it polls), the monitor at the start of the period after; the flute then takes ~20 ms to
    // reach -40 dBFS. A round trip through the server adds its budget and the jitter buffer.
    EXPECT_LT(latency, 0.06);
    ASSERT_TRUE(pitch);
    EXPECT_NEAR(*pitch, 440.0, 440.0 * 0.02);
    EXPECT_LT(
        test::rms_dbfs(test::slice_seconds(mono, k_rate, t_on + held_s + 1.0, t_on + held_s + 1.4)),
        -60.0);
}

// Bad input: a second client asking for a JACK name in use exits 2 with a message naming the
// fix; the first plays on.
TEST(JackMidi, SecondClientWithTheSameJackNameExitsWithAClearMessage) {
    test::temp_dir dir("gno-e2e-midi-name");
    test::jackd_server jack;
    auto srv = start_server(dir, {});
    ASSERT_NE(srv.port, 0);
    const std::string name = "gno_same_name";
    auto first =
        start_client(dir, srv.port, {"--play", "midi", "--jack-name", name, "--no-connect"},
                     "first", jack.client_env());
    jack_probe probe(jack.name(), "gno_name_probe");
    ASSERT_TRUE(wait_for_ports(probe, name)) << test::read_file(dir / "first.err");
    auto second =
        start_client(dir, srv.port, {"--play", "midi", "--jack-name", name, "--no-connect"},
                     "second", jack.client_env());
    EXPECT_EQ(second.wait_for_exit(30s), std::optional<int>(2));
    const auto err = test::read_file(dir / "second.err");
    EXPECT_NE(err.find("a JACK client named " + name + " already exists; pass --jack-name OTHER"),
              std::string::npos)
        << err;
    EXPECT_TRUE(first.running());
    EXPECT_TRUE(wait_for_ports(probe, name, 1s)); // the first one's ports, not renamed copies
    ASSERT_TRUE(first.signal(SIGINT));
    EXPECT_EQ(first.wait_for_exit(20s), std::optional<int>(0))
        << test::read_file(dir / "first.err");
}

// Bad input: --midi-from a port that does not exist is one warning listing the MIDI output
// ports there are, and the client plays on; an existing port is connected to midi_in.
TEST(JackMidi, MidiFromConnectsAnExistingPortAndWarnsAboutAMissingOne) {
    test::temp_dir dir("gno-e2e-midi-from");
    test::jackd_server jack;
    auto srv = start_server(dir, {});
    ASSERT_NE(srv.port, 0);
    jack_probe probe(jack.name(), "gno_from_probe");
    auto missing = start_client(
        dir, srv.port,
        {"--play", "midi", "--jack-name", "gno_from_missing", "--midi-from", "nosuch:port"},
        "missing", jack.client_env());
    auto present = start_client(dir, srv.port,
                                {"--play", "midi", "--jack-name", "gno_from_present", "--midi-from",
                                 probe.port("midi_out")},
                                "present", jack.client_env());
    const auto warning = wait_for_line(dir / "missing.err", "(warning: --midi-from: .*)", 30s);
    ASSERT_TRUE(warning) << test::read_file(dir / "missing.err");
    EXPECT_NE(warning->find("no JACK port nosuch:port"), std::string::npos) << *warning;
    EXPECT_NE(warning->find("MIDI output ports: " + probe.port("midi_out")), std::string::npos)
        << *warning;
    EXPECT_NE(warning->find("gno_from_missing:midi_in"), std::string::npos) << *warning;
    ASSERT_TRUE(wait_for_ports(probe, "gno_from_present"));
    const std::string midi_out = probe.port("midi_out");
    EXPECT_TRUE(test::wait_for(
        [&] {
            jack_port_t* p = jack_port_by_name(probe.client(), midi_out.c_str());
            return p != nullptr && jack_port_connected_to(p, "gno_from_present:midi_in") != 0;
        },
        20s, 50ms));
    std::this_thread::sleep_for(500ms);
    EXPECT_TRUE(missing.running()) << "a missing --midi-from port must not end the client";
    EXPECT_EQ(test::read_file(dir / "present.err").find("--midi-from"), std::string::npos)
        << test::read_file(dir / "present.err");
    ASSERT_TRUE(missing.signal(SIGINT));
    ASSERT_TRUE(present.signal(SIGINT));
    EXPECT_EQ(missing.wait_for_exit(20s), std::optional<int>(0))
        << test::read_file(dir / "missing.err");
    EXPECT_EQ(present.wait_for_exit(20s), std::optional<int>(0))
        << test::read_file(dir / "present.err");
}

} // namespace
} // namespace gno::e2e
