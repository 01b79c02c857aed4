#pragma once
// The client's local clock: std::chrono::steady_clock in ns. Every local stamp (key events,
// ping t0/t3, playout period starts) uses it, so they are comparable.
// Thread: any. RT-safe (clock_gettime via vDSO, no allocation).

#include <chrono>
#include <cstdint>

namespace gno::client {

inline std::int64_t steady_now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

} // namespace gno::client
