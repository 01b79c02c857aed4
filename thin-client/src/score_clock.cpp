#include "gno/client/score_clock.hpp"

#include <cmath>

namespace gno::client {

namespace v1 = proto::v1;

std::int64_t server_clock_map::server_at(std::int64_t local) const noexcept {
    return server_ns + std::llround(static_cast<double>(local - local_ns) * rate);
}

std::int64_t server_clock_map::local_at(std::int64_t server) const noexcept {
    return local_ns + std::llround(static_cast<double>(server - server_ns) / rate);
}

bool usable(const v1::player_info& info) noexcept {
    constexpr std::int64_t k_max_sample = std::int64_t{1} << 46; // ~46 years of render time
    constexpr std::int64_t k_max_advance_ns = 60 * k_ns_per_s;
    return info.advance_ns >= 0 && info.advance_ns <= k_max_advance_ns && info.cycle_origin >= 0 &&
           info.cycle_origin < k_max_sample && info.piece_start >= -1 &&
           info.piece_start < k_max_sample && info.solo_start >= -1 &&
           info.solo_start < k_max_sample && info.cycle_beats > 0 && info.tempo_milli_bpm > 0;
}

std::int64_t cycle_samples(const v1::player_info& info) noexcept {
    if (info.tempo_milli_bpm == 0)
        return 0;
    // cycle_beats * 60 s * 48000 / (milli_bpm / 1000), in integers, rounded to nearest.
    const std::int64_t num =
        static_cast<std::int64_t>(info.cycle_beats) * 60 * k_render_rate * 1000;
    const std::int64_t den = info.tempo_milli_bpm;
    return (num + den / 2) / den;
}

double beat_ns(const v1::player_info& info) noexcept {
    if (info.tempo_milli_bpm == 0)
        return 0.0;
    return 60.0e9 * 1000.0 / static_cast<double>(info.tempo_milli_bpm);
}

namespace {

/// Server-timeline time (ns) at which a key pressed at `local_ns` is rendered.
std::optional<std::int64_t> landing_at(const timing_inputs& in, std::int64_t local_ns) noexcept {
    const auto& info = in.player.info;
    switch (info.mode) {
    case v1::timing_mode::live:
    case v1::timing_mode::time_advanced:
        if (!in.server_clock.synchronised)
            return std::nullopt;
        return in.server_clock.server_at(local_ns) + info.advance_ns;
    case v1::timing_mode::one_cycle:
        if (!in.heard.valid())
            return std::nullopt;
        return in.heard.heard_ns_at(local_ns) + render_sample_to_ns(cycle_samples(info));
    }
    return std::nullopt;
}

double floor_mod(double x, double m) noexcept {
    const double r = std::fmod(x, m);
    return r < 0 ? r + m : r;
}

} // namespace

std::optional<score_position> score_at(const timing_inputs& in, std::int64_t local_ns) noexcept {
    if (!in.player.received)
        return std::nullopt;
    const auto landing = landing_at(in, local_ns);
    if (!landing)
        return std::nullopt;
    const auto& info = in.player.info;
    score_position p;
    p.landing_ns = *landing;
    const double beat = beat_ns(info);
    if (beat > 0 && info.cycle_beats > 0) {
        const double from_origin =
            static_cast<double>(*landing - render_sample_to_ns(info.cycle_origin)) / beat;
        p.cycle_beat = floor_mod(from_origin, static_cast<double>(info.cycle_beats));
    }
    if (info.piece_start >= 0) {
        p.has_piece_start = true;
        p.score_ns = *landing - render_sample_to_ns(info.piece_start);
        p.beat = beat > 0 ? static_cast<double>(p.score_ns) / beat : 0.0;
    }
    return p;
}

std::optional<std::int64_t> local_time_at_score(const timing_inputs& in,
                                                std::int64_t score_ns) noexcept {
    if (!in.player.received || in.player.info.piece_start < 0)
        return std::nullopt;
    const auto& info = in.player.info;
    const std::int64_t landing = render_sample_to_ns(info.piece_start) + score_ns;
    switch (info.mode) {
    case v1::timing_mode::live:
    case v1::timing_mode::time_advanced:
        if (!in.server_clock.synchronised)
            return std::nullopt;
        return in.server_clock.local_at(landing - info.advance_ns);
    case v1::timing_mode::one_cycle:
        if (!in.heard.valid())
            return std::nullopt;
        return in.heard.local_at(landing - render_sample_to_ns(cycle_samples(info)));
    }
    return std::nullopt;
}

const char* mode_name(v1::timing_mode mode) noexcept {
    switch (mode) {
    case v1::timing_mode::live:
        return "live";
    case v1::timing_mode::time_advanced:
        return "time_advanced";
    case v1::timing_mode::one_cycle:
        return "one_cycle";
    }
    return "unknown";
}

} // namespace gno::client
