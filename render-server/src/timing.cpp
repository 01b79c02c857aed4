#include "gno/render/timing.hpp"

#include <cmath>

namespace gno::render {
namespace {

std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
    const std::int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

} // namespace

std::int64_t next_cycle_start(const timing_config& c, std::int64_t r) noexcept {
    const std::int64_t len = cycle_samples(c);
    const std::int64_t k = floor_div(r - c.cycle_origin + len - 1, len);
    return c.cycle_origin + k * len;
}

std::int64_t beat_start(const timing_config& c, std::int64_t k) noexcept {
    return c.cycle_origin +
           static_cast<std::int64_t>(std::llround(static_cast<double>(k) * beat_samples(c)));
}

std::int64_t max_lead_samples(const timing_config& c) noexcept {
    const std::int64_t two_s = 2LL * c.sample_rate;
    const std::int64_t lead = (c.mode == timing_mode::one_cycle ? cycle_samples(c) : 0) + two_s;
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
    case timing_mode::one_cycle:
        if (r_heard <= 0)
            return {now, event_time::verdict::unstamped};
        at = r_heard + cycle_samples(c);
        break;
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
