#pragma once
// The client's local clock. Every local stamp (key events, ping t0/t3, playout period starts,
// score-clock deadlines, status lines) reads `steady_now_ns`, so they are comparable; nothing
// else in the client reads a clock for a time stamp (timers that only pace work may use
// std::chrono::steady_clock directly).
//
// For tests and benchmarks the local clock can be distorted (--clock-offset-ms,
// --clock-drift-ppm): local = steady * (1 + drift_ppm * 1e-6) + offset, so a client has an
// offset and a rate error it does not know about. `true_steady_ns` is the undistorted clock,
// for reports only (a benchmark on the same machine compares the two).
// Thread: any. RT-safe (clock_gettime via vDSO, relaxed atomics, no allocation).

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>

namespace gno::client {

namespace detail {
inline std::atomic<std::int64_t> g_clock_offset_ns{0};
inline std::atomic<double> g_clock_drift_ppm{0.0};
static_assert(std::atomic<std::int64_t>::is_always_lock_free);
static_assert(std::atomic<double>::is_always_lock_free);
} // namespace detail

/// Main thread, start-up (before other threads read the clock): sets the distortion.
inline void set_local_clock_distortion(std::int64_t offset_ns, double drift_ppm) noexcept {
    detail::g_clock_offset_ns.store(offset_ns, std::memory_order_relaxed);
    detail::g_clock_drift_ppm.store(drift_ppm, std::memory_order_relaxed);
}

/// The undistorted std::chrono::steady_clock, ns. For reports only, never for stamps.
inline std::int64_t true_steady_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

/// The client's local time, ns: the one function everything stamps with.
inline std::int64_t steady_now_ns() noexcept {
    const std::int64_t t = true_steady_ns();
    const double ppm = detail::g_clock_drift_ppm.load(std::memory_order_relaxed);
    const std::int64_t skew = ppm == 0.0 ? 0 : std::llround(static_cast<double>(t) * ppm * 1e-6);
    return t + skew + detail::g_clock_offset_ns.load(std::memory_order_relaxed);
}

/// A span of local time as real (steady-clock) time, for sleeping until a local deadline.
inline std::int64_t local_to_real_duration_ns(std::int64_t local_ns) noexcept {
    const double ppm = detail::g_clock_drift_ppm.load(std::memory_order_relaxed);
    return ppm == 0.0 ? local_ns : std::llround(static_cast<double>(local_ns) / (1.0 + ppm * 1e-6));
}

} // namespace gno::client
