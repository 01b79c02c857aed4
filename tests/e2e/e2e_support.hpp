#pragma once
// Shared pieces of the end-to-end tests: real gno-server, gno-client and gno-impair processes
// on 127.0.0.1, their output files, and the decoded audio.

#include "gno/test/analysis.hpp"
#include "gno/test/process.hpp"
#include "gno/test/text.hpp"
#include "gno/test/udp_secret.hpp"
#include "gno/test/wav.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <cmath>
#include <gtest/gtest.h>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace gno::e2e {

using namespace std::chrono_literals;

using test::json_number;

/// Waits until `file` contains a match of `pattern`; returns its first capture group.
inline std::optional<std::string> wait_for_line(const std::filesystem::path& file,
                                                const std::string& pattern,
                                                std::chrono::milliseconds timeout = 20s) {
    return test::wait_for_match(file, pattern, timeout);
}

/// A UDP and a TCP port free on 127.0.0.1 right now (the kernel's picks), for a node that must
/// come back on the same ports after a restart.
inline std::pair<std::uint16_t, std::uint16_t> free_ports() {
    namespace net = boost::asio;
    net::io_context io;
    const auto lo = net::ip::make_address("127.0.0.1");
    net::ip::tcp::acceptor a(io, net::ip::tcp::endpoint(lo, 0));
    net::ip::udp::socket u(io, net::ip::udp::endpoint(lo, 0));
    return {u.local_endpoint().port(), a.local_endpoint().port()};
}

/// How many times `what` occurs in `text`.
inline std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
        ++n;
    return n;
}

/// A counter from gno-server's exit summary ("stopped; {json}") in its log.
inline std::optional<double> stopped_stat(const std::filesystem::path& log,
                                          const std::string& key) {
    const auto line = wait_for_line(log, "(stopped.*)", 20s);
    return line ? json_number(*line, key) : std::nullopt;
}

struct server_process {
    test::child_process proc;
    std::filesystem::path log;
    std::uint16_t port = 0;
};

/// Whether `args` has option `name`.
inline bool has_option(const std::vector<std::string>& args, std::string_view name) {
    return std::find(args.begin(), args.end(), name) != args.end();
}

/// Starts gno-server on a free port with `args` (and `env` added to its environment, e.g. a
/// private jackd's); fails the test if it does not come up. Its UDP secret is the test rig's
/// (dir/udp-secret) unless `args` name one.
inline server_process start_server(const test::temp_dir& dir, std::vector<std::string> args,
                                   const std::string& name = "server",
                                   std::vector<std::pair<std::string, std::string>> env = {}) {
    args.insert(args.begin(), {"--port", "0"});
    if (!has_option(args, "--udp-secret-file"))
        args.insert(args.end(), {"--udp-secret-file", test::udp_secret_file(dir.path()).string()});
    const auto log = dir / (name + ".log");
    test::child_options o;
    o.env = std::move(env);
    o.stdout_file = log;
    o.stderr_file = dir / (name + ".err");
    server_process s{test::child_process(GNO_SERVER_EXE, args, o), log, 0};
    const auto port = wait_for_line(log, "listening on udp [0-9.]+:([0-9]+)");
    EXPECT_TRUE(port) << "gno-server did not start: " << test::read_file(dir / (name + ".err"));
    if (port)
        s.port = static_cast<std::uint16_t>(std::stoi(*port));
    return s;
}

struct proxy_process {
    test::child_process proc;
    std::uint16_t port = 0;
};

/// Starts gno-impair in front of `upstream_port` with impairment `args`.
inline proxy_process start_proxy(const test::temp_dir& dir, std::uint16_t upstream_port,
                                 std::vector<std::string> args) {
    const auto log = dir / "proxy.log";
    args.insert(args.begin(), {"--listen", "127.0.0.1:0", "--upstream",
                               "127.0.0.1:" + std::to_string(upstream_port), "--stats",
                               (dir / "proxy-stats.json").string()});
    test::child_options o;
    o.stdout_file = log;
    o.stderr_file = dir / "proxy.err";
    proxy_process p{test::child_process(GNO_IMPAIR_EXE, args, o), 0};
    const auto port = wait_for_line(log, "listening [0-9.]+:([0-9]+)");
    EXPECT_TRUE(port) << "gno-impair did not start: " << test::read_file(dir / "proxy.err");
    if (port)
        p.port = static_cast<std::uint16_t>(std::stoi(*port));
    return p;
}

/// Starts gno-client against 127.0.0.1:`port`; its stdout/stderr go to dir/name.log|.err.
/// Without --join-code it keys its datagrams from the test rig's secret (dir/udp-secret).
inline test::child_process start_client(const test::temp_dir& dir, std::uint16_t port,
                                        std::vector<std::string> args,
                                        const std::string& name = "client",
                                        std::vector<std::pair<std::string, std::string>> env = {}) {
    args.insert(args.begin(), {"--server", "127.0.0.1:" + std::to_string(port)});
    if (!has_option(args, "--join-code") && !has_option(args, "--udp-secret-file"))
        args.insert(args.end(), {"--udp-secret-file", test::udp_secret_file(dir.path()).string()});
    test::child_options o;
    o.env = std::move(env);
    o.stdout_file = dir / (name + ".log");
    o.stderr_file = dir / (name + ".err");
    return test::child_process(GNO_CLIENT_EXE, args, o);
}

#ifdef GNO_LOADGEN_EXE
/// Starts gno-loadgen against 127.0.0.1:`port`, keyed from the test rig's secret
/// (dir/udp-secret); its summary line goes to dir/loadgen.out, its stderr to dir/loadgen.err.
inline test::child_process start_loadgen(const test::temp_dir& dir, std::uint16_t port,
                                         std::vector<std::string> args) {
    args.insert(args.begin(), {"--udp-secret-file", test::udp_secret_file(dir.path()).string(),
                               "--server", "127.0.0.1:" + std::to_string(port)});
    test::child_options o;
    o.stdout_file = dir / "loadgen.out";
    o.stderr_file = dir / "loadgen.err";
    return test::child_process(GNO_LOADGEN_EXE, args, o);
}
#endif

/// Runs gno-client to completion, writing dir/name.wav and dir/name.json; its exit status.
inline std::optional<int> run_client(const test::temp_dir& dir, std::uint16_t port,
                                     std::vector<std::string> args,
                                     const std::string& name = "client",
                                     std::chrono::milliseconds timeout = 60s) {
    args.insert(args.begin(), {"--output", (dir / (name + ".wav")).string(), "--summary",
                               (dir / (name + ".json")).string()});
    auto client = start_client(dir, port, std::move(args), name);
    return client.wait_for_exit(timeout);
}

/// Mono (left+right average) samples of a WAV file; fails the test on a bad file.
inline std::vector<float> read_mono(const std::filesystem::path& wav) {
    auto r = test::read_wav(wav);
    EXPECT_TRUE(r.ok()) << r.error;
    if (!r.ok())
        return {};
    EXPECT_EQ(r.clip.sample_rate, 48000);
    return test::to_mono(r.clip);
}

/// Decodes an Ogg Opus file with the real opusdec into a WAV and reads it.
inline std::vector<float> decode_opus(const test::temp_dir& dir,
                                      const std::filesystem::path& opus) {
    const auto wav = dir / (opus.stem().string() + "-decoded.wav");
    test::child_options o;
    o.stdout_file = dir / "opusdec.log";
    o.stderr_file = dir / "opusdec.err";
    test::child_process dec("/usr/bin/opusdec", {"--rate", "48000", opus.string(), wav.string()},
                            o);
    const auto rc = dec.wait_for_exit(60s);
    EXPECT_EQ(rc, std::optional<int>(0)) << test::read_file(dir / "opusdec.err");
    return read_mono(wav);
}

/// The keys of `gno-client --play phrase:N`: two octaves of C major up and down, one note every
/// 250 ms (150 ms down).
inline int phrase_key(int i) {
    static constexpr std::array<int, 15> scale = {60, 62, 64, 65, 67, 69, 71, 72,
                                                  74, 76, 77, 79, 81, 83, 84};
    const int step = i % 28;
    return scale[static_cast<std::size_t>(step < 15 ? step : 28 - step)];
}

/// How many of `count` phrase notes sound at their own pitch in `mono` (48 kHz), the first at
/// `t0` s: a note counts when, 80-145 ms into its place in the phrase, its fundamental carries a
/// good part of the sound and is stronger than the previous note's (robust against a lost
/// release that runs one note legato into the next, and against a note-on repaired by a later
/// repeat). Each that does not is a test failure when `each_must_sound`, else a line saying so.
inline int notes_with_their_pitch(const std::vector<float>& mono, double t0, int count,
                                  bool each_must_sound) {
    constexpr int k_rate = 48000;
    const auto hz = [](int key) {
        return 440.0 * std::pow(2.0, (key - 69) / 12.0);
    };
    int ok = 0;
    for (int i = 0; i < count; ++i) {
        const double t = t0 + 0.25 * i;
        const double want = hz(phrase_key(i));
        const auto during = test::slice_seconds(mono, k_rate, t + 0.08, t + 0.145);
        const double share_db = test::tone_level_db(during, k_rate, want, want * 0.02);
        const double prev_db =
            i == 0 ? test::k_silence_dbfs
                   : test::tone_level_db(during, k_rate, hz(phrase_key(i - 1)), want * 0.02);
        if (share_db > -15.0 && share_db > prev_db)
            ++ok;
        else if (each_must_sound)
            ADD_FAILURE() << "note " << i << " (key " << phrase_key(i) << ") at " << t
                          << " s: its fundamental is " << share_db
                          << " dB of the sound, the previous note's " << prev_db << " dB";
        else
            std::cout << "note " << i << " concealed or smeared in the client's output ("
                      << share_db << " dB)\n";
    }
    return ok;
}

} // namespace gno::e2e
