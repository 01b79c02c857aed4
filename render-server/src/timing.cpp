#include "gno/render/timing.hpp"

#include <algorithm>
#include <cmath>

namespace gno::render {
namespace {

std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
    const std::int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

} // namespace

timing_segment segment_at(const timing_config& c, std::int64_t r) noexcept {
    if (c.change.at >= 0 && r >= c.change.at)
        return {c.change.at, c.change.tempo_bpm, c.change.cycle_beats};
    return {c.cycle_origin, c.tempo_bpm, c.cycle_beats};
}

namespace {
std::int64_t segment_cycle(const timing_config& c, const timing_segment& s) noexcept {
    return static_cast<std::int64_t>(60.0 * c.sample_rate / s.tempo_bpm * s.cycle_beats + 0.5);
}
} // namespace

std::int64_t cycle_samples_at(const timing_config& c, std::int64_t r) noexcept {
    return segment_cycle(c, segment_at(c, r));
}

std::int64_t cycle_start_of(const timing_config& c, std::int64_t r) noexcept {
    const timing_segment s = segment_at(c, r);
    const std::int64_t len = segment_cycle(c, s);
    return s.origin + floor_div(r - s.origin, len) * len;
}

std::int64_t next_cycle_start(const timing_config& c, std::int64_t r) noexcept {
    const std::int64_t start = cycle_start_of(c, r);
    return start == r ? r : start + cycle_samples_at(c, r);
}

shared_timing on_own_timeline(shared_timing s, std::int64_t offset) noexcept {
    timing_config& c = s.config;
    c.cycle_origin -= offset;
    if (c.piece_start >= 0)
        c.piece_start = std::max<std::int64_t>(0, c.piece_start - offset);
    if (c.change.at >= 0) {
        c.change.at -= offset;
        if (c.change.at < 0) {
            c.tempo_bpm = c.change.tempo_bpm;
            c.cycle_beats = c.change.cycle_beats;
            c.cycle_origin = c.change.at;
            c.change = tempo_change{};
        }
    }
    if (c.cycle_origin < 0) {
        const double cycle = 60.0 * c.sample_rate / c.tempo_bpm * c.cycle_beats;
        const auto k =
            static_cast<std::int64_t>(std::ceil(static_cast<double>(-c.cycle_origin) / cycle));
        c.cycle_origin += std::llround(static_cast<double>(k) * cycle);
    }
    return s;
}

timing_config adopt_shared(timing_config mine, const timing_config& theirs) noexcept {
    mine.mode = theirs.mode;
    mine.tempo_bpm = theirs.tempo_bpm;
    mine.cycle_beats = theirs.cycle_beats;
    mine.cycle_origin = theirs.cycle_origin;
    mine.piece_start = theirs.piece_start;
    mine.change = theirs.change;
    return mine;
}

tempo_change plan_tempo_change(const timing_config& c, std::int64_t now, double tempo_bpm,
                               int cycle_beats) noexcept {
    // The first boundary at least a whole cycle ahead: every player hears of it a cycle early.
    std::int64_t at = next_cycle_start(c, now + 1);
    while (at - now < cycle_samples_at(c, at - 1))
        at += cycle_samples_at(c, at);
    return {at, tempo_bpm, cycle_beats};
}

std::int64_t max_lead_samples(const timing_config& c) noexcept {
    const std::int64_t two_s = 2LL * c.sample_rate;
    std::int64_t cycle = cycle_samples(c);
    if (c.change.at >= 0)
        cycle = std::max(cycle, cycle_samples_at(c, c.change.at));
    const std::int64_t lead = (c.mode == timing_mode::one_cycle ? cycle : 0) + two_s;
    return lead < 3LL * c.sample_rate ? 3LL * c.sample_rate : lead;
}

event_time schedule_event(const timing_config& c, std::int64_t t_sync_ns, std::int64_t r_heard,
                          std::int64_t advance_ns, std::int64_t now) noexcept {
    std::int64_t at = 0;
    switch (c.mode) {
    case timing_mode::live:
        if (t_sync_ns <= 0)
            return {now, event_time::verdict::unstamped};
        at = ns_to_samples(t_sync_ns, c.sample_rate) +
             ns_to_samples(std::chrono::nanoseconds(c.uplink_budget).count(), c.sample_rate);
        break;
    case timing_mode::time_advanced:
        if (t_sync_ns <= 0)
            return {now, event_time::verdict::unstamped};
        at = ns_to_samples(t_sync_ns, c.sample_rate) + ns_to_samples(advance_ns, c.sample_rate);
        break;
    case timing_mode::one_cycle: {
        if (r_heard <= 0)
            return {now, event_time::verdict::unstamped};
        // One cycle later, at the same place in the cycle; across a tempo or cycle change the
        // place is kept as a fraction of the cycle, so all parts still meet.
        const std::int64_t start = cycle_start_of(c, r_heard);
        const std::int64_t len = cycle_samples_at(c, r_heard);
        const std::int64_t next = start + len;
        const std::int64_t next_len = cycle_samples_at(c, next);
        at = next_len == len
                 ? r_heard + len
                 : next + static_cast<std::int64_t>(std::llround(
                              static_cast<double>(r_heard - start) * static_cast<double>(next_len) /
                              static_cast<double>(len)));
        break;
    }
    }
    const std::int64_t lead = max_lead_samples(c);
    if (at > now + lead)
        return {now, event_time::verdict::too_far};
    if (at < now - 10LL * c.sample_rate)
        return {now, event_time::verdict::clamped};
    if (at < now)
        return {now, event_time::verdict::late};
    return {at, event_time::verdict::on_time};
}

} // namespace gno::render
