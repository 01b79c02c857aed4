#pragma once
// What a run prints: the summary line (public, loadgen.hpp) and one JSON line per player.
// Thread: any (pure formatting).

#include "reception.hpp"
#include "simulated_player.hpp"
#include "sound_check.hpp"

#include <cstdint>
#include <string>

namespace gno::loadgen {

struct player_report {
    int index = 0;
    const simulated_player* player = nullptr;
    const audio_reception* reception = nullptr;
    const sound_check* sound = nullptr; // null: this player's stream was not decoded
};

/// One flat JSON object (with a newline) describing one player's run.
[[nodiscard]] std::string player_report_line(const player_report& r);

} // namespace gno::loadgen
