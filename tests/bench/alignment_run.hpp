#pragma once
// One alignment measurement (DESIGN.md §4) with real processes on this machine: a gno-server in
// one timing mode, and N gno-clients each behind its own gno-impair proxy (its own one-way
// delay, jitter and loss) and with its own unknown clock offset and drift. Every player plays
// the same rhythm against the announced piece start; the server logs the onset of every
// player's stem; events that should coincide are compared in samples. Used by
// `gno-bench alignment` and by the end-to-end tests.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace gno::bench {

struct player_link {
    double one_way_delay_ms = 20;
    double jitter_ms = 0;
    double loss = 0;
    double clock_offset_ms = 0;
    double clock_drift_ppm = 0;
};

struct alignment_params {
    std::string mode = "time-advanced"; // live | time-advanced | one-cycle
    std::vector<player_link> players;
    int notes = 24; // quarter notes each player plays
    double tempo_bpm = 100;
    int cycle_beats = 16;
    int piece_start_s = 12; // time for clock sync and uplink measurement first
    int jitter_frames = 14; // client jitter buffer (70 ms: covers +-30 ms jitter)
    std::uint64_t seed = 1;
    bool use_jack = false; // clients play to a real jackd (dummy driver)
    // Render nodes of a mesh (DESIGN.md §9): player i plays on node i % nodes; node 1 starts
    // first and the others take its timeline.
    int nodes = 1;
    // The mode, tempo, cycle and piece start come from a conductor on node 1 (its WebSocket,
    // as the console sends them) instead of every node's options: the mesh carries them to
    // the other nodes.
    bool conducted = false;
    std::string mesh_codec = "pcm"; // with nodes > 1: --mesh-codec of every node
    std::filesystem::path server_exe, client_exe, impair_exe;
    std::filesystem::path work_dir;
};

struct alignment_result {
    std::string mode;
    int players = 0;
    std::size_t onsets = 0;                 // stem onsets matched to a beat
    std::size_t beats = 0;                  // beats with at least half the players
    double alignment_error_p50_samples = 0; // |onset - median onset of its beat|
    double alignment_error_p99_samples = 0;
    double alignment_error_max_samples = 0;
    double spread_p99_samples = 0; // max - min onset within a beat
    // With several nodes: onsets of the peers' section buses as each node mixes them, against
    // the earliest stem onset of that beat's players on the other nodes.
    std::size_t mix_onsets = 0;
    double mix_error_max_samples = 0;
    std::uint64_t late_events = 0;
    double clock_offset_error_p99_us = 0;
    std::size_t clock_samples = 0;
    std::string error; // non-empty when the run itself failed

    [[nodiscard]] std::string json() const;
};

/// Runs the measurement; blocks for piece_start_s + the piece + a few seconds.
alignment_result run_alignment(const alignment_params& p);

/// The benchmark's spread of player links: delays 5..300 ms one way, +-30 ms jitter, loss up
/// to 10 %, clock offsets within +-5 s and drifts within +-100 ppm (seeded).
std::vector<player_link> spread_links(int players, std::uint64_t seed);

} // namespace gno::bench
