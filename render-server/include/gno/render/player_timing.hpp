#pragma once
// Per-player state shared by the network thread (which measures uplink delay and tells the
// player, and keeps the conductor's mute and the performer's own-mix levels) and the render
// thread (which schedules with it, counts late events and builds the mixes).
// Single values as atomics, the mix levels as one seqlocked snapshot; one table sized at
// start-up.

#include "gno/render/mixer.hpp"
#include "gno/render/seqlock.hpp"
#include "gno/render/timing.hpp"

#include <atomic>
#include <cstdint>
#include <memory>

namespace gno::render {

struct player_timing {
    static_assert(std::atomic<std::int64_t>::is_always_lock_free);
    std::atomic<std::int64_t> advance_ns{0};   // A_i; written by the network thread
    std::atomic<std::uint32_t> late_events{0}; // written by the render thread
    std::atomic<bool> muted{false};            // the conductor's mute; the network thread
    // The performer's own mix (mixer.hpp): written by the network thread only (udp_io: the
    // session's levels when it takes the slot or changes them, the defaults when the slot is
    // freed), read whole by the render crew once per frame per own mix. The render engine
    // stores the defaults at construction, before either thread runs.
    seqlock_value<mix_profile> mix;
};

struct timing_state {
    explicit timing_state(int max_players)
        : players(std::make_unique<player_timing[]>(static_cast<std::size_t>(max_players))) {}
    std::unique_ptr<player_timing[]> players;
    // The solo being played, or the next one granted (DESIGN.md §4, one-cycle mode).
    std::atomic<int> solo_slot{-1};
    std::atomic<std::int64_t> solo_start{-1};
    // Mode, tempo, cycle and piece start in force: the render engine stores the configured
    // ones at construction, the control plane swaps in the conductor's changes, the render
    // and network threads read a whole snapshot per frame or per message.
    seqlock_value<timing_config> config;
};

} // namespace gno::render
