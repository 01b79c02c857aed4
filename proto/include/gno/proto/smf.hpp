#pragma once
// Standard MIDI File (SMF) reader: note on/off events and the tempo map; on request, every
// event of each track in file order (parse_options::keep_events: what a performance log needs).
//
// Format 0 and 1, running status, meta and sysex events skipped (tempo kept) unless kept,
// PPQN division.
// Parsing never throws on bad input and never reads outside the span: malformed, truncated or
// oversized files return an error code (and the byte offset where parsing stopped).
// Thread: any. Allocates (the result holds vectors): start-up code, not the real-time path.

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>
#include <vector>

namespace gno::proto::smf {

/// Bounds that keep a hostile file from using unbounded memory or time.
inline constexpr std::size_t k_max_file_bytes = 16 * 1024 * 1024;
inline constexpr std::size_t k_max_tracks = 1024;
inline constexpr std::size_t k_max_notes = 1'000'000;
inline constexpr std::size_t k_max_tempo_changes = 100'000;
inline constexpr std::size_t k_max_events = 4'000'000; // kept events, all tracks

enum class errc {
    truncated = 1,        // the file ends inside a chunk, an event or before all declared tracks
    not_smf,              // no "MThd" header chunk
    bad_header,           // header chunk too short, or declared track count 0
    unsupported_format,   // format 2 (sequential patterns)
    unsupported_division, // SMPTE time division, or 0 ticks per quarter
    bad_chunk,            // chunk length past the end of the file, or malformed chunk
    bad_varlen,           // variable-length quantity longer than 4 bytes
    bad_event,            // data byte without running status, or an undefined status byte
    too_large,            // file, track count, note count or tempo map above its bound
};

const std::error_category& smf_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), smf_category()};
}

struct note_event {
    std::uint64_t tick = 0; // absolute tick from the start of the track
    double seconds = 0.0;   // tick converted through the tempo map
    std::uint8_t channel = 0;
    std::uint8_t key = 0;
    std::uint8_t velocity = 0; // 0 for note-off (a note-on with velocity 0 is a note-off)
    bool on = false;
};

struct tempo_change {
    std::uint64_t tick = 0;
    std::uint32_t us_per_quarter = 500'000;
};

/// One event as it stands in the file (kept with parse_options::keep_events).
struct raw_event {
    std::uint64_t tick = 0;
    std::uint8_t status = 0;    // channel status (running status resolved), 0xFF meta, 0xF0/0xF7
    std::uint8_t meta_type = 0; // meta events
    std::uint8_t d1 = 0;        // channel messages' data bytes
    std::uint8_t d2 = 0;
    std::uint32_t data_offset = 0; // meta and sysex payload: where it is in the parsed bytes
    std::uint32_t data_size = 0;
};

struct track {
    std::vector<note_event> notes; // in file order (non-decreasing tick)
    std::vector<raw_event> events; // every event in file order, with keep_events only
};

struct parse_options {
    bool keep_events = false;
};

struct file {
    std::uint16_t format = 0;
    std::uint16_t ticks_per_quarter = 480;
    std::vector<track> tracks;
    std::vector<tempo_change> tempo_map; // sorted by tick, from all tracks; empty = 120 BPM
};

/// Parses a whole file. On error `out` is left empty and `error_offset` (if given) gets the
/// byte offset where the problem was found.
std::error_code parse(std::span<const std::byte> bytes, file& out,
                      std::size_t* error_offset = nullptr, parse_options options = {}) noexcept;

/// Seconds from the start of the file at `tick`, through `tempo_map` (120 BPM before the first
/// tempo event).
double ticks_to_seconds(const std::vector<tempo_change>& tempo_map, std::uint16_t ticks_per_quarter,
                        std::uint64_t tick) noexcept;

} // namespace gno::proto::smf

template <>
struct std::is_error_code_enum<gno::proto::smf::errc> : std::true_type {};
