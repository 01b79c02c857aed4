// Articulation and kits (issue 7, DESIGN.md §5) end to end: real gno-server (FluidSynth with the
// GM soundfont) and gno-client processes on 127.0.0.1; what the client decoded is analysed. The
// paper's performers could not play short, percussive sounds: here a snare on the GM kit and a
// staccato organ decay while their keys are still held.
#include "e2e_support.hpp"

#include <algorithm>
#include <cmath>
#include <iostream>

namespace gno::e2e {
namespace {

constexpr int k_rate = 48000;

/// Runs one client holding a key for 1.5 s with `args` against `port`; returns onset to 40 dB
/// below the peak in its decoded output (nullopt: it never decayed that far), and prints it.
std::optional<double> onset_to_decay(const test::temp_dir& dir, std::uint16_t port,
                                     std::vector<std::string> args, const std::string& name) {
    args.insert(args.end(), {"--duration", "3.5"});
    const auto rc = run_client(dir, port, args, name);
    EXPECT_EQ(rc, std::optional<int>(0)) << test::read_file(dir / (name + ".err"));
    const auto mono = read_mono(dir / (name + ".wav"));
    const auto onset = test::first_sample_above_dbfs(mono, -40.0);
    EXPECT_TRUE(onset) << name << ": nothing heard";
    if (!onset)
        return std::nullopt;
    const auto env = test::rms_envelope_dbfs(mono, k_rate, 0.005);
    const double peak = *std::max_element(env.begin(), env.end());
    const auto d = test::onset_to_decay_s(mono, k_rate, 40.0);
    std::cout << name << ": peak " << peak << " dBFS, onset to -40 dB "
              << (d ? std::to_string(std::lround(*d * 1e3)) + " ms" : std::string("never"))
              << " (key held 1500 ms)\n";
    EXPECT_GT(peak, -40.0) << name << ": too quiet to judge";
    return d;
}

// The GM percussion kit: bank 128, program 0 (Standard); key 38 is its acoustic snare. Held for
// 1.5 s, it is heard as a short hit: from its onset to 40 dB below its peak in well under the
// hold. The same key on bank 0 (the piano) rings until its release.
TEST(Articulation, SnareOnTheGmKitIsAShortPercussiveOnset) {
    test::temp_dir dir("gno-e2e-kit");
    auto srv = start_server(dir, {});
    ASSERT_NE(srv.port, 0);
    const auto snare = onset_to_decay(
        dir, srv.port, {"--bank", "128", "--program", "0", "--play", "hold:38:1500"}, "snare");
    ASSERT_TRUE(snare) << "the snare never decayed 40 dB";
    EXPECT_LT(*snare, 0.6);
    EXPECT_GT(*snare, 0.01);
    const auto piano =
        onset_to_decay(dir, srv.port, {"--program", "0", "--play", "hold:38:1500"}, "piano");
    EXPECT_GT(piano.value_or(10.0), 1.0) << "bank 0 is the piano: it rings while held";
}

// --articulation short: a held organ note (program 16, the drawbar organ: no decay of its own)
// decays while the key is still down; the same note sustained lasts until its release.
TEST(Articulation, ShortOrganNoteDecaysWhileHeldSustainedDoesNot) {
    test::temp_dir dir("gno-e2e-short");
    auto srv = start_server(dir, {});
    ASSERT_NE(srv.port, 0);
    const auto short_note = onset_to_decay(
        dir, srv.port, {"--program", "16", "--articulation", "short", "--play", "hold:60:1500"},
        "short");
    ASSERT_TRUE(short_note) << "the short note never decayed 40 dB";
    EXPECT_LT(*short_note, 0.6);
    const auto sustained = onset_to_decay(
        dir, srv.port, {"--program", "16", "--articulation", "sustained", "--play", "hold:60:1500"},
        "sustained");
    ASSERT_TRUE(sustained) << "the sustained note never decayed after its release";
    EXPECT_GT(*sustained, 1.4) << "a sustained note lasts until its release";
}

} // namespace
} // namespace gno::e2e
