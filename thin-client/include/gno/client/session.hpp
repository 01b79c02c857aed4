#pragma once
// One performer session: wires the input (pattern or keyboard), the server link, the playout
// and the audio output, runs until the pattern and its tail are done (or SIGINT/SIGTERM/q),
// then sends all-notes-off, stops, and reports.
// Thread: main.

#include "gno/client/cli_options.hpp"

#include <cstdint>
#include <string>

namespace gno::client {

/// Totals reported at exit (JSON summary and the one-line summary).
struct session_summary {
    std::uint32_t session_id = 0;
    std::uint8_t program = 0;
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
};

std::string summary_line(const session_summary& s);
std::string summary_json(const session_summary& s);

/// Runs the client. Returns the process exit code (0 ok, 2 usage/environment error, 1 other);
/// prints errors as one line "gno-client: ..." on stderr and the summary line on stdout.
int run_session(const client_options& options);

} // namespace gno::client
