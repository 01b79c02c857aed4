#pragma once
// Node configuration: parsed once at start-up, then read-only.

#include "gno/proto/v1/control.hpp"
#include "gno/render/mixer.hpp"
#include "gno/render/recorder_paths.hpp"
#include "gno/render/timing.hpp"

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace gno::render {

namespace control = proto::v1::control;

/// A bad option value found only while the node starts (an unreadable --udp-secret-file):
/// gno-server says what is wrong and exits 2, like a usage error.
class option_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A join code: whoever presents it joins with its role (and, for performers, this default
/// instrument unless the join names one), at most `max_members` of them at once.
struct join_code {
    control::role who = control::role::performer;
    std::string code;
    int program = 0;
    int bank = 0;
    int max_members = 0; // 1..65535 (`ROLE:CODE:PROGRAM:MAX`); 0: the role's default
};

/// How many may be joined with a code at once when it does not say (`:MAX`): a performer
/// code is bounded only by the node's player slots (0: no limit of its own); a few
/// conductors, a small ops team, a hall of listeners — so one leaked code cannot fill the
/// room.
constexpr int k_default_code_conductors = 4;
constexpr int k_default_code_ops = 8;
constexpr int k_default_code_listeners = 256;

/// The code's limit in force (0: none of its own).
[[nodiscard]] constexpr int members_allowed(const join_code& c) noexcept {
    if (c.max_members > 0)
        return c.max_members;
    switch (c.who) {
    case control::role::conductor:
        return k_default_code_conductors;
    case control::role::ops:
        return k_default_code_ops;
    case control::role::listener:
        return k_default_code_listeners;
    case control::role::performer:
        break;
    }
    return 0;
}

struct control_config {
    std::string address = "127.0.0.1";
    std::uint16_t port = 47080; // 0: any free port
    int threads = 1;
    std::vector<join_code> codes;
    std::size_t max_connections = 2048;
    std::size_t max_queued_messages = 256; // per connection; beyond: the slow reader is dropped
    std::size_t max_queued_bytes = 4u << 20;
    double messages_per_second = 20; // per connection (talk-back audio not counted)
    double message_burst = 60;
    double chats_per_second = 1;
    double chat_burst = 5;
    std::size_t max_upload_bytes = 32u << 20; // an instrument upload (POST /api/instrument)
    int max_uploads = 2; // being read or built at once, node-wide; beyond: 503, try again
    // Wrong codes (joins, directory requests, join tokens) one address may try a window;
    // beyond: refused until the window ends (code_guard.hpp). 0: no limit.
    int code_failures = 20;
    std::chrono::seconds code_failure_window{60};
};

/// Who hears which mix (DESIGN.md §6).
enum class mix_mode : std::uint8_t {
    shared, // everyone hears the same ensemble: one mix, one encode
    own,    // each performer has a mix of their own: mix-minus, personal section levels
};

/// The venue's JACK output (venue_output.hpp): off on a headless node.
struct venue_config {
    bool jack = false;                      // the node is a JACK client; its callback renders
    std::string client_name = "gno-server"; // exact: a name in use is an error, not renamed
    bool connect = true; // the audience ports to the first two physical playback ports
    bool stems = false;  // a pair of ports per section bus as well
};

/// Scale-out (DESIGN.md §9): render nodes that exchange their section stems over UDP, so each
/// builds complete mixes for its own players. A node shares the timeline of the first peer
/// that answers when it starts; every mix lags the render by `delay_frames`, the time a peer's
/// stems are given to arrive, on every node alike, so that parts stay aligned across nodes.
struct mesh_peer {
    std::uint32_t node_id = 0;
    std::string host; // name or address of its mesh port
    std::uint16_t port = 0;
};
struct mesh_config {
    std::uint32_t node_id = 0;  // 1..65535; 0: a node on its own (no mesh)
    std::uint16_t port = 47100; // the mesh UDP port, on the listen address; 0: any free port
    std::vector<mesh_peer> peers;
    std::string secret_file; // 64 hex digits the nodes share: every stem datagram's key
    int delay_frames = 4;    // 20 ms at 5 ms frames
    // Stems as Opus (stem_exchange.hpp, k_mesh_opus_bps) instead of 16-bit PCM: about a tenth
    // of the mesh's bandwidth, for an encode per sounding section and a decode per peer's.
    bool opus = false;
    // The sections this node serves (the directory's answer, directory.hpp); empty: none in
    // particular (any section may join it).
    std::vector<int> sections;
    // Where players reach this node (host[:control port]) as the directory tells them; empty:
    // the listen address and control port.
    std::string public_host;
    [[nodiscard]] bool enabled() const noexcept { return node_id != 0; }
};

struct server_config {
    std::string listen_address = "127.0.0.1";
    std::uint16_t port = 47000;
    std::string soundfont;   // empty: the build's default GM soundfont
    int sample_rate = 48000; // the render timeline's rate; fixed by the protocol
    int frame_samples = 240; // 5 ms; 120 (2.5 ms) .. 960 (20 ms)
    int max_players = 64;
    int players_per_bank = 32; // players sharing one FluidSynth instance
    int polyphony_per_bank = 512;
    int bitrate = 64000;
    int complexity = 5;
    float master_gain = 0.7f;
    std::chrono::milliseconds silence_timeout{1000}; // release a silent player's notes
    std::chrono::milliseconds audio_timeout{3000};   // stop streaming to a silent player
    std::chrono::milliseconds expire_timeout{30000}; // free a silent player's slot
    int lanes_per_player = 3; // onset phases one player can sound at once (voice_bank.hpp)
    timing_config timing;     // mode, U, tempo, cycle, piece start, click
    std::chrono::milliseconds advance_margin{10}; // A_i = p99 uplink delay + this + one frame
    mix_mode mix = mix_mode::shared;
    // Own mixes: the levels a performer starts with, until its `mix` message says otherwise.
    float own_level = 0.0f;            // the player's own voice (0 = mix-minus)
    float other_sections_level = 1.0f; // every section, the player's own included
    float talkback_gain = 1.0f;        // the conductor's talk-back in the performers' mixes
    int render_threads = 0;            // render crew size, the render thread included; 0: cores
    // Overload (DESIGN.md §7): when frames take more than `overload_high` of the frame period
    // on average (smoothed over ~80 ms), or one frame takes 90 %, the node degrades one step
    // (Opus complexity, then the synthesiser: interpolation, release tails, tail floor); below
    // `overload_low` on average for a second it climbs back. The marks leave room for the
    // slowest frames, ~2.5x the median on a busy 2-core VM (README, Performance).
    double overload_high = 0.45;
    double overload_low = 0.3;
    recording_paths record;     // the audience mix as Ogg Opus and/or float WAV (recorder.hpp)
    std::string perf_log_dir;   // every player's events as MIDI files (perf_log.hpp); empty: none
    bool listen = true;         // the live audience stream at /listen (listen_stream.hpp)
    int listen_bitrate = 96000; // its Opus bitrate, stereo
    std::string stats_path;     // JSON lines of counters every 250 ms; empty: none
    std::string onset_log_path; // JSON lines of per-player stem onsets (measurement)
    control_config control;     // the WebSocket/HTTP face (control_plane.hpp)
    std::string net_stats_path; // JSON lines of per-player link statistics every 10 s; empty: none
    venue_config venue;         // --jack: the audience mix on the venue's JACK ports
    // Performers' own instruments (instrument_library.hpp): where their SF2 files go (empty: a
    // fresh temporary directory), and how much of them the node holds at most.
    std::string instrument_dir;
    std::size_t instrument_budget_bytes = 512u << 20;
    // The node's UDP master secret (DESIGN.md §8): a file holding 64 hex digits (32 bytes)
    // from which every session's key is derived. Empty: a fresh random secret at each start,
    // known only to the node, so keys come only from a join. A shared file lets a test rig or
    // an ops load generator derive keys itself (`--session ID --udp-secret-file FILE`).
    std::string udp_secret_file;
    mesh_config mesh; // --node-id, --peer: stems exchanged with other render nodes
};

/// The own mix a performer starts with, and returns to when its slot is freed.
[[nodiscard]] inline mix_profile default_mix_profile(const server_config& cfg) noexcept {
    return mix_profile::uniform(cfg.other_sections_level, cfg.own_level);
}

} // namespace gno::render
