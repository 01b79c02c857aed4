#pragma once
// gno-client's command line. Parsing is pure (no I/O beyond what --play smf: reads later).
// Thread: main, start-up.

#include "gno/client/instrument.hpp"
#include "gno/proto/wav_file.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gno::client {

/// Where the performer hears its own voice (--own-voice; issue 6).
enum class own_voice_source : std::uint8_t {
    server, // in the server's stream: a round trip late, aligned with the ensemble (default)
    local,  // at once from a local FluidSynth (local_monitor.hpp); the server sends a mix-minus
};

/// The build's default GM soundfont (CMake's GNO_DEFAULT_SOUNDFONT, as gno-server's).
[[nodiscard]] const char* default_soundfont() noexcept;

struct client_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 47000;
    std::uint32_t session_id = 0; // 0 = pick a random non-zero id
    std::uint8_t program = 0;
    std::uint16_t bank = 0;
    articulation style = articulation::sustained; // --articulation
    std::string play;                             // empty = keyboard if stdin is a tty
    std::optional<std::int64_t> start_at_unix_ms;
    double tempo_bpm = 120.0;
    std::string output_wav; // empty = JACK
    proto::wav_format wav = proto::wav_format::s16;
    std::string jack_name = "gno-client";
    bool jack_connect = true;
    std::string midi_from; // a JACK MIDI output port to connect to our midi_in (--midi-from)
    int jitter_frames = 3;
    int jitter_max_frames = 40;  // --jitter-max: ceiling of the adaptive depth (from jitter_frames)
    bool jitter_adaptive = true; // --jitter-fixed: false
    std::optional<double> duration_s;
    std::string summary_path;
    bool at_piece_start = false; // the pattern starts at the server-announced piece start
    std::string status_path;     // append a JSON status line every 100 ms
    bool solo = false;           // k_solo_request from the start
    double clock_offset_ms = 0;  // fake local clock: steady * (1 + ppm * 1e-6) + offset
    double clock_drift_ppm = 0;
    std::string join_code;       // non-empty: join over the control plane first (--join-code)
    std::string udp_secret_file; // without a join: the node's UDP secret, to derive our key
    std::uint16_t control_port = 47080; // the control plane's TCP port, on --server's host
    // --directory HOST:PORT: a mesh node's control plane, whose directory says which node to
    // join (then --server and --control-port come from its answer). Empty: join --server.
    std::string directory_host;
    std::uint16_t directory_port = 0;
    std::string name = "performer"; // shown to the conductor (--name)
    bool ui = true;                 // serve the performer's page (--no-ui: off)
    std::uint16_t ui_port = 47090;  // --ui-port; 0 = any free port
    bool ui_port_given = false;     // an explicit --ui-port must be had, not replaced
    std::string score;              // --score smf:FILE[:TRACK]: the part the page shows
    own_voice_source own_voice = own_voice_source::server; // --own-voice
    std::string soundfont = default_soundfont();           // --soundfont: the local monitor's SF2
    bool soundfont_given = false; // --soundfont without --own-voice local: error
    bool help = false;
};

/// "HOST:PORT" (an IPv6 address in brackets, "[::1]:47000") -> host and port 1..65535;
/// nullopt when malformed. Pure; --server, --directory and the directory's answers.
[[nodiscard]] std::optional<std::pair<std::string, std::uint16_t>>
split_host_port(std::string_view text);

/// Parses argv. On a bad option returns nullopt with a one-line message naming the fix.
std::optional<client_options> parse_cli(const std::vector<std::string>& args, std::string& error);

/// The --help text.
const char* cli_usage() noexcept;

} // namespace gno::client
