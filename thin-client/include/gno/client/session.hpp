#pragma once
// One performer session: wires the input (pattern or keyboard), the server link, the playout
// and the audio output, runs until the pattern and its tail are done (or SIGINT/SIGTERM/q),
// then sends all-notes-off, stops, and reports.
// Thread: main.

#include "gno/client/cli_options.hpp"
#include "gno/client/score_clock.hpp"

#include <cstdint>
#include <string>

namespace gno::client {

/// Totals reported at exit (JSON summary and the one-line summary).
struct session_summary {
    std::uint32_t session_id = 0;
    std::uint8_t program = 0; // the program in force at the end
    std::uint64_t key_state_sent = 0;
    std::uint64_t audio_received = 0;
    std::uint64_t audio_lost_estimate = 0;
    std::uint64_t frames_expected = 0;
    std::uint64_t packets_late = 0;
    std::uint64_t packets_duplicate = 0;
    std::uint64_t packets_bad = 0;
    std::uint64_t frames_decoded = 0;
    std::uint64_t frames_fec = 0;
    std::uint64_t frames_plc = 0;
    std::uint64_t frames_silent = 0;
    std::uint64_t frames_total = 0;
    std::uint32_t rtt_us = 0;
    std::uint64_t notes_on = 0;
    std::uint64_t notes_off = 0;
    std::uint32_t late_events = 0; // the server's count for this player (latest player_info)
    std::string mode = "none";     // timing mode of the latest player_info ("none": no info)
};

/// One --status line (JSON, newline-terminated) from a snapshot of the client's state.
struct status_sample {
    std::int64_t local_ns = 0;      // client local clock (distorted by --clock-* if asked)
    std::int64_t true_local_ns = 0; // undistorted steady clock at the same moment
    bool synchronised = false;      // a clock estimate exists
    bool settled = false;           // its acquisition phase is over
    std::int64_t server_ns = 0;     // estimate of server time at local_ns
    std::int64_t heard_r = 0;       // render sample at the speakers (0 = none)
    bool has_info = false;          // a player_info arrived
    proto::v1::player_info info{};
    bool has_score = false; // score clock available
    score_position score{};
    bool solo_request = false;
    instrument in_force{}; // the instrument the key states carry now
    std::uint32_t rtt_us = 0;
    std::int64_t jitter_frames = 0;
};
std::string status_json(const status_sample& s);

std::string summary_line(const session_summary& s);
std::string summary_json(const session_summary& s);

/// Runs the client. Returns the process exit code (0 ok, 2 usage/environment error, 1 other);
/// prints errors as one line "gno-client: ..." on stderr and the summary line on stdout.
int run_session(const client_options& options);

} // namespace gno::client
