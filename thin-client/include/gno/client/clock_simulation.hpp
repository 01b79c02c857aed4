#pragma once
// Virtual-time simulation of clock synchronisation (DESIGN.md §4): a server clock (the truth,
// the render timeline in ns), a client clock that starts offset and drifts, a network with a
// round trip, uniform one-way jitter, independent loss each way and an optional constant
// asymmetry, and a clock_estimator driven by it exactly as server_link drives it (ping when due,
// pong in, server_time_ns() to stamp). Deterministic for a seed.
//
// Used by the clock estimator's unit tests and the synchronisation benchmark.
// Thread: any (no shared state); allocates.

#include <cstddef>
#include <cstdint>

namespace gno::client {

struct clock_sim_params {
    double rtt_ms = 100;    // round trip without jitter: rtt/2 each way
    double jitter_ms = 30;  // one-way delay = rtt/2 + uniform[-jitter, +jitter], per direction
    double loss = 0.05;     // each way, independent
    double offset_s = 3.7;  // client clock - server clock at the start
    double drift_ppm = 100; // client clock rate error (positive: client fast)
    double seconds = 120;   // virtual run length
    double warmup_s = 15;   // error statistics start here (convergence time allowed)
    std::uint64_t seed = 1;
    // Extras for tests, defaulted off:
    double asymmetry_ms = 0; // uplink base delay minus downlink base delay (round trip kept)
    double jump_at_s = -1;   // when >= 0, the client clock jumps by jump_s at this time
    double jump_s = 0;
};

struct clock_sim_result {
    // |server_time_ns(local now) - true server time|, sampled every 10 ms after warmup.
    double offset_error_p50_us = 0;
    double offset_error_p99_us = 0;
    double offset_error_max_us = 0;
    std::size_t pings = 0;
    std::size_t pongs_used = 0;
    std::size_t bad_pongs = 0;
    std::size_t resyncs = 0;
    // Fastest rate at which the stamps moved against the true server clock, ppm, over 10 ms
    // steps after warmup while synchronised: |d(error)/dt| (slew plus drift-estimate error).
    double max_slew_ppm = 0;
    // Stamps taken every 10 ms after warmup never decreased (a counted resync excepted).
    bool stamps_monotonic = true;
};

/// Runs one simulation in virtual time (a 120 s run takes a few tens of ms).
clock_sim_result simulate_clock_sync(const clock_sim_params& params);

} // namespace gno::client
