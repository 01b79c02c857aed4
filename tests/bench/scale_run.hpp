#pragma once
// One scale measurement with real processes on this machine: a gno-server (time-advanced
// mode, 5 ms frames) and a gno-loadgen playing N simulated players against it. Only the steady
// window after every player has joined is measured: the server's counters are differenced
// between two of its stats lines, its CPU time between two reads of /proc/PID/stat taken
// right after them. The result sets the server against the ceiling its unit costs allow
// (unit_costs.hpp). Used by `gno-bench scale`.

#include "proc_stats.hpp" // available_cores
#include "unit_costs.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace gno::bench {

struct scale_params {
    int players = 16;
    std::string mix = "shared"; // own | shared
    double seconds = 30;        // the measured window
    int complexity = 5;
    int bitrate = 64000;
    int render_threads = 0; // 0 = the server's default (option not passed)
    double ramp_s = 2;      // the load generator joins its players over this time
    double settle_s = 1;    // after everyone has joined, before the window opens
    std::uint64_t seed = 1;
    std::filesystem::path server_exe, loadgen_exe;
    std::filesystem::path work_dir;
};

struct scale_result {
    int players = 0;
    std::string mix;
    std::optional<double> distinct_mixes; // as the server reports it
    double seconds = 0;                   // the measured window
    double frames = 0;
    double late_frames = 0;     // in the window
    double late_starts = 0;     // of which started a quarter period late or more
    double late_frames_run = 0; // the whole run, ramp included
    std::optional<double> block_time_p50_us, block_time_p99_us, added_latency_p99_us,
        opus_complexity_min, encode_time_p99_us, synth_degrade_max;
    int encode_complexity_used = 0; // the complexity the ceiling's encode cost is taken at
    double cpu_per_player_pct = 0;
    double rss_mib = 0;
    double voices_per_player = 0;
    double ceiling_players = 0;
    double efficiency = 0;
    // The load generator shares the machine here (a deployment's players are elsewhere): the
    // cores it used in the window, and the ceiling and efficiency on the cores left over.
    double loadgen_cores = 0;
    double ceiling_players_server = 0;
    double efficiency_server = 0;
    int cores = 0;
    unit_costs costs;
    std::optional<double> loss_pct, gap_p99_us, decoded_with_sound; // from the load generator
    std::string error; // non-empty when the run itself failed or was not what was asked
    std::string limit; // --find-max: what stopped the search (the first failing probe)

    /// True when the server kept up: no late frame in the window and no error.
    [[nodiscard]] bool kept_up() const { return error.empty() && late_frames == 0; }
    [[nodiscard]] std::string json() const;
};

/// True if `server_exe --help` lists `option` (the server grows options; the bench runs
/// against older and newer builds).
bool server_has_option(const std::filesystem::path& server_exe, const std::string& option);

/// The server's option for its number of render threads ("--render-threads", or "--workers"
/// as it was first announced); empty if it has none.
std::string render_threads_option(const std::filesystem::path& server_exe);

/// Runs the measurement; blocks for about ramp_s + settle_s + seconds + a few seconds.
/// `costs` are the unit costs measured beforehand (they go into the ceiling).
scale_result run_scale(const scale_params& p, const unit_costs& costs);

/// The largest number of players the server carries with no late frame: probe runs of
/// `probe_seconds` doubling from p.players, then bisecting to within 5 %, then one run of
/// p.seconds to confirm (stepping down by 10 % up to twice if it has late frames). Each
/// probe's result goes to `on_probe`; returns the confirming run.
scale_result find_max_players(scale_params p, const unit_costs& costs, double probe_seconds,
                              const std::function<void(const scale_result&)>& on_probe);

} // namespace gno::bench
