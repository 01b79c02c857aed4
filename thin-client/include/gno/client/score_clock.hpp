#pragma once
// The player's score clock (DESIGN.md §4): where, on the piece's timeline, a key pressed now
// will be rendered, given the server's player_info, the clock estimate and what is heard.
//
//   live           score = server_now + U   - piece_start
//   time-advanced  score = server_now + A_i - piece_start
//   one-cycle      score = heard_R  + C     - piece_start   (the cycle clock: what the player
//                                                           plays now lands one cycle after
//                                                           what they hear)
//
// Server time is the render timeline, R / 48000 s. All functions are pure (no clocks read):
// callers pass a consistent copy of the inputs and a local time, so tests run in virtual time.
// Thread: any. Realtime-safe: yes.

#include <cstdint>
#include <gno/proto/v1/datagram.hpp>
#include <optional>

namespace gno::client {

inline constexpr std::int64_t k_ns_per_s = 1'000'000'000;
inline constexpr std::int64_t k_render_rate = 48'000; // samples per second of the render clock

/// Render sample -> server time, ns (exact to the ns, rounded toward negative infinity).
[[nodiscard]] constexpr std::int64_t render_sample_to_ns(std::int64_t r) noexcept {
    // r * 1e9 / 48000 = r * 62500 / 3; fine for |r| < 1.4e14 samples (93 years).
    const std::int64_t x = r * 62'500;
    return x >= 0 ? x / 3 : -((-x + 2) / 3);
}

/// What the network thread last heard from the server about this player.
struct player_timing {
    bool received = false;              // a player_info has arrived
    std::int64_t received_local_ns = 0; // local time of the latest one
    std::uint32_t count = 0;            // player_infos accepted so far
    proto::v1::player_info info{};
};

/// Local -> server time, linearised by the network thread at its latest update:
/// server = server_ns + (local - local_ns) * rate.
struct server_clock_map {
    bool synchronised = false; // an estimate exists (at least one pong used)
    bool settled = false;      // the estimator's acquisition is over (it only slews now)
    std::int64_t local_ns = 0;
    std::int64_t server_ns = 0;
    double rate = 1.0; // server ns per local ns (1 + drift)

    [[nodiscard]] std::int64_t server_at(std::int64_t local) const noexcept;
    [[nodiscard]] std::int64_t local_at(std::int64_t server) const noexcept;
};

/// Local time -> render sample at the speakers (the playout's published period start; the
/// output runs at 48 kHz of local time between periods). render_sample 0 = nothing heard.
struct heard_map {
    std::int64_t local_ns = 0;
    std::int64_t render_sample = 0;

    [[nodiscard]] bool valid() const noexcept { return render_sample > 0; }
    /// Server-timeline time (ns) of what is heard at `local`.
    [[nodiscard]] std::int64_t heard_ns_at(std::int64_t local) const noexcept {
        return render_sample_to_ns(render_sample) + (local - local_ns);
    }
    [[nodiscard]] std::int64_t local_at(std::int64_t heard_ns) const noexcept {
        return local_ns + (heard_ns - render_sample_to_ns(render_sample));
    }
};

/// One consistent copy of everything the score clock reads.
struct timing_inputs {
    player_timing player;
    server_clock_map server_clock;
    heard_map heard;
};

/// Beyond what the decoder checks: fields the score clock can use without overflow or
/// nonsense (advance 0..60 s, piece/solo start -1 or a sample < 2^46, cycle origin >= 0).
[[nodiscard]] bool usable(const proto::v1::player_info& info) noexcept;

/// One cycle, in render samples: cycle_beats * 60 / BPM * 48000, rounded to the nearest sample.
[[nodiscard]] std::int64_t cycle_samples(const proto::v1::player_info& info) noexcept;
/// One beat, in ns of server time (0 if the tempo is 0).
[[nodiscard]] double beat_ns(const proto::v1::player_info& info) noexcept;

struct score_position {
    /// Server-timeline time (ns) at which a key pressed now is rendered.
    std::int64_t landing_ns = 0;
    bool has_piece_start = false;
    /// Since the piece's first beat (negative before it); meaningful if has_piece_start.
    std::int64_t score_ns = 0;
    /// Beats since the piece's first beat (fractional; floor = beat number); if has_piece_start.
    double beat = 0.0;
    /// Position in the cycle, beats in [0, cycle_beats), counted from cycle_origin.
    double cycle_beat = 0.0;

    [[nodiscard]] double score_s() const noexcept {
        return static_cast<double>(score_ns) / static_cast<double>(k_ns_per_s);
    }
};

/// The score position at local time `local_ns`, or nullopt when what the mode needs is missing
/// (no player_info yet; live/time-advanced without a clock estimate; one-cycle with nothing
/// heard yet).
[[nodiscard]] std::optional<score_position> score_at(const timing_inputs& in,
                                                     std::int64_t local_ns) noexcept;

/// The local time at which the score clock reaches `score_ns`, by inverting the same mapping;
/// nullopt if score_at would be nullopt or no piece start is announced.
[[nodiscard]] std::optional<std::int64_t> local_time_at_score(const timing_inputs& in,
                                                              std::int64_t score_ns) noexcept;

/// "live", "time_advanced" or "one_cycle" ("unknown" for anything else).
[[nodiscard]] const char* mode_name(proto::v1::timing_mode mode) noexcept;

} // namespace gno::client
