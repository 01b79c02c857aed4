#pragma once
// What a performer plays (DESIGN.md §5): a GM program in an SF2 bank, the GM percussion kits,
// and the articulation. Every key state carries all three (key_state's bank, program and
// k_short_articulation flag), so a change reaches the server with the next state.
// Thread: any (values and pure functions).

#include <cstdint>
#include <optional>
#include <string_view>

namespace gno::client {

/// The bank of the GM percussion kits: the program then picks the kit (0 = Standard).
inline constexpr std::uint16_t k_percussion_bank = 128;
/// MIDI channel 10 (0-based 9), the GM percussion channel: a program change on it picks a kit.
inline constexpr std::uint8_t k_percussion_channel = 9;

/// How the server plays each note: as long as the key is held (sustained), or short
/// (staccato: the server ends every note ~150 ms after its onset, however long the key is held).
enum class articulation : std::uint8_t { sustained, short_notes };

/// "sustained" or "short", as the command line, the page and the status name them.
[[nodiscard]] constexpr std::string_view articulation_name(articulation a) noexcept {
    return a == articulation::short_notes ? "short" : "sustained";
}
/// The inverse of articulation_name; nullopt for anything else.
[[nodiscard]] constexpr std::optional<articulation>
parse_articulation(std::string_view name) noexcept {
    if (name == "sustained")
        return articulation::sustained;
    if (name == "short")
        return articulation::short_notes;
    return std::nullopt;
}

/// The instrument in force.
struct instrument {
    std::uint8_t program = 0; // GM program 0..127, or the kit in k_percussion_bank
    std::uint16_t bank = 0;   // SF2 bank 0..16383
    articulation style = articulation::sustained;

    [[nodiscard]] bool kit() const noexcept { return bank == k_percussion_bank; }
    bool operator==(const instrument&) const = default;

    /// One word for an atomic (program in bits 0-7, bank 8-21, articulation 24).
    [[nodiscard]] constexpr std::uint32_t packed() const noexcept {
        return std::uint32_t{program} | (std::uint32_t{bank} & 0x3FFFu) << 8 |
               (style == articulation::short_notes ? 1u << 24 : 0u);
    }
    [[nodiscard]] static constexpr instrument unpack(std::uint32_t w) noexcept {
        return {static_cast<std::uint8_t>(w & 0xFFu), static_cast<std::uint16_t>(w >> 8 & 0x3FFFu),
                (w >> 24 & 1u) != 0 ? articulation::short_notes : articulation::sustained};
    }
};

} // namespace gno::client
