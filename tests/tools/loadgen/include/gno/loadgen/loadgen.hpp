#pragma once
// gno-loadgen: many simulated players in one process, against a gno-server on this machine.
//
// Each player sends its whole key state on the real client's schedule (at once on a change,
// repeats at +5, +10 and +20 ms, then 20 Hz), holds one or two notes that change every 250 ms,
// and counts the audio frames the server streams back; a few sampled players also decode their
// stream with libopus and check that it carries sound. Like a real client, each pings the
// server (once a second) and reports its latest round trip and last second's audio loss in
// its key states, for the server's network statistics. One thread does all of it over a few
// shared UDP sockets (the server keys players by session id, not by address) with
// recvmmsg/sendmmsg batches, so hundreds of players cost little CPU and the load generator does
// not become the bottleneck it is measuring.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gno::loadgen {

inline constexpr int k_max_players = 2000;

struct options {
    std::string host;       // numeric loopback address (parse_options refuses anything else)
    std::uint16_t port = 0; // the server's UDP port
    int players = 10;
    double seconds = 10.0;
    std::uint64_t seed = 1;
    double ramp_s = 1.0;            // players join spread evenly over this; 0 = all at once
    int decode = 4;                 // sampled players that decode their stream (at most `players`)
    std::uint32_t session_base = 1; // player i is session session_base + i
    int flood_players = 0;          // the first K players ...
    int flood_factor = 10;          // ... send every key state this many times (F x the rate)
    std::filesystem::path report;   // per-player JSON lines; empty = none
    std::filesystem::path udp_secret_file; // the node's UDP master secret (session keys)
    std::optional<std::int64_t> epoch_ns; // CLOCK_MONOTONIC at server sample 0; none = ping
};

/// Either options or one line a user can act on.
struct parse_result {
    options opts;
    std::string error;
    bool help = false;
};

/// Parses argv[1..] ("--name value" or "--name=value"). Thread: any (pure).
[[nodiscard]] parse_result parse_options(const std::vector<std::string_view>& args);

/// The --help text. Thread: any.
[[nodiscard]] std::string usage();

/// Totals of a run: what summary_json prints.
struct summary {
    int players = 0;
    double seconds = 0.0;           // measured length of the run (shorter if stopped by a signal)
    int joined = 0;                 // players that received at least one audio frame
    std::uint64_t packets_sent = 0; // every datagram sent: key states and clock pings
    std::uint64_t frames_received = 0; // audio datagrams
    std::uint64_t frames_lost = 0;     // gaps in the per-session audio sequence numbers
    double loss_pct = 0.0;             // lost / (received + lost), in percent
    double gap_p50_us = 0.0;           // inter-arrival gaps of audio frames, all players
    double gap_p99_us = 0.0;
    double gap_max_us = 0.0;
    std::uint64_t late_gaps = 0;     // gaps above two frame durations
    int decoded = 0;                 // players whose stream was decoded
    int decoded_with_sound = 0;      // of those, the ones whose stream had sound
    std::uint64_t flood_packets = 0; // key-state datagrams of the flooding players (all copies)
    // Not in the JSON line: problems of the load generator itself, warned about on stderr.
    std::uint64_t receive_overflows = 0; // datagrams our own sockets dropped: we fell behind
    std::uint64_t send_errors = 0;
    std::uint64_t bad_datagrams = 0; // undecodable, or for a session that is not ours
};

/// The one JSON line (no newline) with exactly the keys of `summary` up to flood_packets.
/// Thread: any.
[[nodiscard]] std::string summary_json(const summary& s);

class load_generator {
public:
    /// Main thread, start-up: opens the sockets, the Opus decoders and the report file, and
    /// (without options::epoch_ns) estimates the server clock by ping/pong with the first
    /// player's session, which blocks up to 3 s. `stop` ends that and, later, run(). Throws
    /// std::runtime_error with a message naming the fix.
    load_generator(const options& opts, const std::atomic<bool>& stop);
    ~load_generator();
    load_generator(const load_generator&) = delete;
    load_generator& operator=(const load_generator&) = delete;

    /// Calling thread (does all the work, no other threads): runs every player until
    /// options::seconds have passed or `stop` is set, releases their notes, writes the report
    /// and returns the totals. Call once.
    summary run();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace gno::loadgen
