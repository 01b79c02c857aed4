#pragma once
// Whole-state reconciliation (DESIGN.md §3): each key state is the player's complete state, so
// the render side diffs it against what is sounding and emits only the changes. A lost packet
// is repaired by the next one; a duplicate or a repeat changes nothing.
// Thread: the render thread that owns the player. Realtime-safe: yes (fixed-size state).

#include "gno/proto/v1/datagram.hpp"

#include <array>
#include <cstdint>
#include <span>

namespace gno::render {

/// A change to apply to a player's instrument.
struct note_event {
    enum class kind : std::uint8_t { note_on, note_off, program, control };
    kind what = kind::note_on;
    std::uint8_t key = 0;       // note number, or controller number for `control`
    std::uint8_t value = 0;     // velocity, controller value, or for note_off its cause (below)
    std::uint16_t bank = 0;     // for `program`
    std::int64_t t_sync_ns = 0; // stamps of the key movement (0 = unknown), DESIGN.md §4
    std::int64_t r_heard = 0;
};

/// note_off's value when the short articulation made it (render_engine schedules one after every
/// note-on of a player in short articulation): it ends only the strike it was made for, never a
/// later strike of the same key. The player's own releases have value 0. Kept in the
/// performance log as the MIDI note-off's release velocity, so a re-render treats it the same.
inline constexpr std::uint8_t k_short_note_off = 1;

/// Upper bound of events one reconcile can emit: every sounding key off, every held key on
/// (a re-strike is off+on), a program change and two controllers.
inline constexpr std::size_t k_max_reconcile_events = 128 + 2 * proto::v1::k_max_held + 3;

class key_reconciler {
public:
    /// Applies a new whole key state; writes the changes to `out` and returns how many.
    std::size_t apply(const proto::v1::key_state& s, std::span<note_event> out) noexcept;

    /// Releases every sounding key (silence timeout, player left); returns how many events.
    std::size_t release_all(std::span<note_event> out) noexcept;

    /// Forgets everything, as for a new player in this slot.
    void reset() noexcept { *this = key_reconciler{}; }

    [[nodiscard]] std::size_t sounding() const noexcept { return sounding_count_; }
    [[nodiscard]] bool is_sounding(std::uint8_t key) const noexcept { return sounding_[key & 127]; }

private:
    std::array<bool, 128> sounding_{};
    std::array<std::int64_t, 128> onset_{}; // t_sync of the key-down that sounds now
    std::size_t sounding_count_ = 0;
    int program_ = -1;
    int bank_ = -1;
    int sustain_ = 0;
    int expression_ = 127;
};

} // namespace gno::render
