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

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>

namespace gno::render {

using timing_mode = proto::v1::timing_mode;

/// A tempo and/or cycle change, taking effect at a cycle boundary `at` (render sample) that
/// is announced to the players at least one cycle before. at < 0: none planned.
struct tempo_change {
    std::int64_t at = -1;
    double tempo_bpm = 0;
    int cycle_beats = 0;
};

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
    tempo_change change;           // the next change of tempo or cycle, if any
};

/// The conductor's timing as a mesh of nodes shares it (DESIGN.md §9, proto timing_state):
/// every node keeps the newest it made or heard, so one conductor leads the players of all.
struct shared_timing {
    // A hybrid clock (proto timing_state): the later of the wall clock in ms and one more than
    // the highest version seen; 0: the node's own options, not changed by a conductor yet.
    std::uint64_t version = 0;
    std::uint32_t origin = 0; // node whose conductor made it (breaks a tie of versions)
    timing_config config;     // the fields a conductor sets (adopt_shared), on this timeline
    std::string piece;        // the name the piece was started with

    /// True when this state replaces one of (version, origin): a higher version, or the same
    /// version from a higher node id (two conductors at once: every node keeps the same one).
    [[nodiscard]] bool newer_than(std::uint64_t v, std::uint32_t o) const noexcept {
        return version > v || (version == v && origin > o);
    }
};
/// A peer's shared timing moved onto this node's timeline (`offset`: the peer's timeline minus
/// this node's, in samples), its beats and cycles on the same instants. A planned change that
/// falls before this node's sample 0 is in force already (its tempo and cycle from its
/// boundary); a cycle origin before sample 0 is moved on by whole cycles (players take no
/// negative origin); a piece start before it becomes 0.
[[nodiscard]] shared_timing on_own_timeline(shared_timing s, std::int64_t offset) noexcept;

/// `mine` with what a conductor sets (mode, tempo, cycle and its origin, piece start, the
/// planned change) taken from `theirs`; the node's own settings (rate, budgets, click, solo
/// gain) stay.
[[nodiscard]] timing_config adopt_shared(timing_config mine, const timing_config& theirs) noexcept;

/// The tempo and cycle in force at render sample r: before the planned change, the
/// configuration's; from its boundary on, the change's, with cycles counted from there.
struct timing_segment {
    std::int64_t origin = 0;
    double tempo_bpm = 100;
    int cycle_beats = 16;
};
[[nodiscard]] timing_segment segment_at(const timing_config& c, std::int64_t r) noexcept;

/// Plans a change requested at render sample `now`: it takes effect on the first cycle
/// boundary at least one whole cycle after `now`, so every player hears of it a cycle ahead.
[[nodiscard]] tempo_change plan_tempo_change(const timing_config& c, std::int64_t now,
                                             double tempo_bpm, int cycle_beats) noexcept;

// Split into whole seconds and the rest: ns * 48000 would overflow 64 bits after ~2 days.
[[nodiscard]] inline std::int64_t ns_to_samples(std::int64_t ns, int rate) noexcept {
    constexpr std::int64_t s = 1'000'000'000;
    return ns / s * rate + ns % s * rate / s;
}
[[nodiscard]] inline std::int64_t samples_to_ns(std::int64_t r, int rate) noexcept {
    constexpr std::int64_t s = 1'000'000'000;
    return r / rate * s + r % rate * s / rate;
}

/// Samples per beat (may be fractional) and per cycle (rounded to whole samples) of the
/// configuration's own tempo (before any planned change).
[[nodiscard]] inline double beat_samples(const timing_config& c) noexcept {
    return 60.0 * c.sample_rate / c.tempo_bpm;
}
[[nodiscard]] inline std::int64_t cycle_samples(const timing_config& c) noexcept {
    return static_cast<std::int64_t>(beat_samples(c) * c.cycle_beats + 0.5);
}
/// Length of the cycle containing render sample `r`, honouring a planned change.
[[nodiscard]] std::int64_t cycle_samples_at(const timing_config& c, std::int64_t r) noexcept;
/// First sample of the cycle containing `r`, and of the first cycle starting at or after `r`.
[[nodiscard]] std::int64_t cycle_start_of(const timing_config& c, std::int64_t r) noexcept;
[[nodiscard]] std::int64_t next_cycle_start(const timing_config& c, std::int64_t r) noexcept;
/// Calls beat(sample, is_cycle_downbeat) for every beat in [from, to), across a change.
template <typename F>
void for_each_beat(const timing_config& c, std::int64_t from, std::int64_t to, F&& beat);

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

template <typename F>
void for_each_beat(const timing_config& c, std::int64_t from, std::int64_t to, F&& beat) {
    // At most two segments: before the planned change and from it on.
    for (int part = 0; part < 2; ++part) {
        const bool after = part == 1;
        if (after && c.change.at < 0)
            break;
        const timing_segment seg =
            after ? timing_segment{c.change.at, c.change.tempo_bpm, c.change.cycle_beats}
                  : timing_segment{c.cycle_origin, c.tempo_bpm, c.cycle_beats};
        const std::int64_t lo = after ? std::max(from, c.change.at) : from;
        const std::int64_t hi = (!after && c.change.at >= 0) ? std::min(to, c.change.at) : to;
        if (lo >= hi)
            continue;
        const double len = 60.0 * c.sample_rate / seg.tempo_bpm;
        auto k = static_cast<std::int64_t>(static_cast<double>(lo - seg.origin) / len) - 1;
        for (;; ++k) {
            const std::int64_t b =
                seg.origin +
                static_cast<std::int64_t>(static_cast<double>(k) * len + (k >= 0 ? 0.5 : -0.5));
            if (b >= hi)
                break;
            if (b >= lo)
                beat(b, ((k % seg.cycle_beats) + seg.cycle_beats) % seg.cycle_beats == 0);
        }
    }
}

} // namespace gno::render
