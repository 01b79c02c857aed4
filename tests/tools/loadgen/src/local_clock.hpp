#pragma once
// The load generator's clocks. Thread: any (clock_gettime via the vDSO).

#include <cstdint>
#include <ctime>

namespace gno::loadgen {

/// CLOCK_MONOTONIC in ns: every schedule and stamp; the clock gno-server's epoch is on.
inline std::int64_t monotonic_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

/// CLOCK_REALTIME in ns: only to compare with the kernel's arrival stamps (SO_TIMESTAMPNS).
inline std::int64_t realtime_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

} // namespace gno::loadgen
