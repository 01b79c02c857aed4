#pragma once
// The server timeline (DESIGN.md §4, §7): t = R / sample_rate after the node's epoch, so a
// render sample and a server time are the same thing. Exactly one clock keeps it per node:
// the steady-clock render_clock on a headless node, the sound card's frame clock where the
// node drives one (venue_output.hpp). Everyone who needs "now" on the node (ingress stamps,
// clock sync pongs, talk-back, the latency measurement) reads it through this interface, so
// that clients synchronise to whichever clock paces the rendering.

#include <cstdint>

namespace gno::render {

class server_timeline {
public:
    virtual ~server_timeline() = default;
    /// Server timeline in ns. Thread: any. Realtime-safe: yes.
    [[nodiscard]] virtual std::int64_t now_ns() const noexcept = 0;
    /// CLOCK_MONOTONIC ns at timeline 0 (on a sound card's clock: as it was at start; the two
    /// clocks drift apart by the card's error afterwards).
    [[nodiscard]] virtual std::int64_t epoch_ns() const noexcept = 0;
};

} // namespace gno::render
