#pragma once
// When each event is rendered (DESIGN.md §4). The render timeline is the 48 kHz sample
// counter R; server time t (ns) and R are the same clock (R = t * 48000 / 1e9).
//   live:          R = t_sync + U      (U: a fixed uplink budget)
//   time-advanced: R = t_sync + A_i    (A_i: player i's measured uplink delay + margin)
//   one-cycle:     R = r_heard + C     (C: one cycle of `beats` at `tempo`)
// An event whose time has passed when it arrives plays at once and is counted late; stamps
// from the absurd past or future are clamped or dropped and counted, never scheduled hours away.
// Thread: any (pure functions over values).

#include "gno/proto/v1/datagram.hpp"

#include <chrono>
#include <cstdint>

namespace gno::render {

using timing_mode = proto::v1::timing_mode;

struct timing_config {
    timing_mode mode = timing_mode::live;
    int sample_rate = 48000;
    std::chrono::milliseconds uplink_budget{50};    // U, live mode
    std::chrono::milliseconds default_advance{250}; // A_i before enough delay samples
    double tempo_bpm = 100.0;
    int cycle_beats = 16;
    std::int64_t cycle_origin = 0; // a render sample where a cycle starts (the piece start)
    std::int64_t piece_start = -1; // render sample of the piece's first beat; -1 none
    bool click = false;            // click on the beat in every performer mix
    float solo_gain = 2.0f;        // soloist's gain during a granted cycle (+6 dB)
};

// Split into whole seconds and the rest: ns * 48000 would overflow 64 bits after ~2 days.
[[nodiscard]] inline std::int64_t ns_to_samples(std::int64_t ns, int rate) noexcept {
    constexpr std::int64_t s = 1'000'000'000;
    return ns / s * rate + ns % s * rate / s;
}
[[nodiscard]] inline std::int64_t samples_to_ns(std::int64_t r, int rate) noexcept {
    constexpr std::int64_t s = 1'000'000'000;
    return r / rate * s + r % rate * s / rate;
}

/// Samples per beat (may be fractional) and per cycle (rounded to whole samples).
[[nodiscard]] inline double beat_samples(const timing_config& c) noexcept {
    return 60.0 * c.sample_rate / c.tempo_bpm;
}
[[nodiscard]] inline std::int64_t cycle_samples(const timing_config& c) noexcept {
    return static_cast<std::int64_t>(beat_samples(c) * c.cycle_beats + 0.5);
}
/// First sample of the first cycle starting at or after `r`.
[[nodiscard]] std::int64_t next_cycle_start(const timing_config& c, std::int64_t r) noexcept;
/// Render sample of beat `k` counted from the cycle origin (k may be negative).
[[nodiscard]] std::int64_t beat_start(const timing_config& c, std::int64_t k) noexcept;

/// Where an event stamped (t_sync_ns, r_heard) is rendered, for a player whose advance is
/// `advance_ns`, seen at render position `now` (the frame being rendered).
struct event_time {
    enum class verdict : std::uint8_t {
        on_time,   // `at` is in the future of `now`
        late,      // its time has passed: `at` = now
        unstamped, // the stamp this mode needs is missing: `at` = now
        clamped,   // absurd past stamp: `at` = now
        too_far,   // absurd future stamp: drop a note-on; a note-off plays now
    };
    std::int64_t at = 0;
    verdict what = verdict::on_time;
};

/// Furthest ahead an event may be scheduled: a cycle plus two seconds, at least 3 s.
[[nodiscard]] std::int64_t max_lead_samples(const timing_config& c) noexcept;

[[nodiscard]] event_time schedule_event(const timing_config& c, std::int64_t t_sync_ns,
                                        std::int64_t r_heard, std::int64_t advance_ns,
                                        std::int64_t now) noexcept;

} // namespace gno::render
