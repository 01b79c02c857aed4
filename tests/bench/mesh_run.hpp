#pragma once
// Render nodes of a mesh under load (DESIGN.md §9), with real processes on this machine: N
// gno-server nodes exchanging section stems on loopback, and one gno-loadgen per node playing
// P simulated players against it. Over a steady window after everyone has joined, each node's
// CPU (from /proc), its egress to its players and to the mesh (its counters, differenced between
// two stats lines), late frames and stems. Used by `gno-bench mesh`.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace gno::bench {

struct mesh_params {
    int nodes = 3;
    int players = 100; // per node
    std::string mix = "shared";
    std::string mesh_codec = "pcm"; // --mesh-codec of every node
    double seconds = 20;            // the measured window
    double ramp_s = 3;
    double settle_s = 2;
    std::uint64_t seed = 1;
    std::filesystem::path server_exe, loadgen_exe;
    std::filesystem::path work_dir;
};

struct mesh_node_result {
    int node = 0;
    double players = 0;
    double frames = 0, late_frames = 0;
    double cpu_cores = 0;       // CPU seconds per second over the window
    double to_players_mbps = 0; // audio to its players
    double to_mesh_mbps = 0;    // stems to its peers
    double from_mesh_per_s = 0; // stem datagrams taken from its peers, per second
    double late_stems = 0;      // peers' stems that came too late to mix, in the window
    double block_time_p99_us = 0;
    double rss_mib = 0;
};

struct mesh_result {
    mesh_params params;
    std::vector<mesh_node_result> nodes;
    double loadgen_cores = 0; // all the load generators together
    int cores = 0;
    std::string error;
    [[nodiscard]] std::string json() const;
};

/// Runs the measurement; blocks for about ramp_s + settle_s + seconds + some seconds.
mesh_result run_mesh(const mesh_params& p);

} // namespace gno::bench
