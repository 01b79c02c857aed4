#pragma once
// Inputs that play keys: built-in patterns, Standard MIDI Files and the terminal keyboard.
// A pattern is a list of timed key events relative to its start; the live keyboard calls the
// sink directly.

#include "gno/client/instrument.hpp"

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gno::client {

struct note_event {
    std::int64_t offset_ns = 0; // from the pattern's start (the shared downbeat)
    std::uint8_t key = 0;
    std::uint8_t velocity = 0; // 0 for key-up
    bool on = false;
};

/// Events sorted by offset (key-ups before key-downs at the same time) and the time the last
/// one has finished.
struct note_pattern {
    std::vector<note_event> events;
    std::int64_t length_ns = 0;
};

/// Receives key movements with the local steady time at which they happened.
class key_sink {
public:
    virtual ~key_sink() = default;
    virtual void key_down(std::uint8_t key, std::uint8_t velocity, std::int64_t local_ns) = 0;
    virtual void key_up(std::uint8_t key, std::int64_t local_ns) = 0;
    /// The player asks for the next solo cycle (on) or withdraws (off). Default: ignored.
    virtual void solo_request(bool on) { static_cast<void>(on); }
    /// The player picks a program in a bank (k_percussion_bank: a GM kit). Default: ignored.
    virtual void program_change(std::uint8_t program, std::uint16_t bank) {
        static_cast<void>(program);
        static_cast<void>(bank);
    }
    /// The player switches articulation (sustained or short). Default: ignored.
    virtual void articulation_change(articulation style) { static_cast<void>(style); }
};

/// What --play asked for: a pattern, the live terminal keyboard, or no built-in input at all
/// (live_only: only live inputs such as the JACK MIDI port play; the pattern is empty).
struct play_spec {
    bool keyboard = false;
    bool live_only = false;
    note_pattern pattern;
};

inline constexpr std::uint8_t k_default_velocity = 100;

/// Parses --play SPEC (hold:KEY:MS[:VEL] | phrase:N[:ON_MS:OFF_MS] | round:PART[:REPEATS] |
/// smf:FILE[:TRACK] | keyboard | midi). Reads the MIDI file for smf:. On error returns nullopt and
/// a one-line message in `error`. Thread: any (start-up).
std::optional<play_spec> parse_play_spec(const std::string& spec, double tempo_bpm,
                                         std::string& error);

/// Built-in patterns (exposed for tests).
note_pattern make_hold(std::uint8_t key, std::int64_t ms, std::uint8_t velocity);
note_pattern make_phrase(int notes, std::int64_t on_ms, std::int64_t off_ms);
note_pattern make_round(int part, int repeats, double tempo_bpm);
/// From a parsed SMF buffer; track < 0 merges all tracks. Error message on failure.
std::optional<note_pattern> make_smf_pattern(const std::vector<std::byte>& file_bytes, int track,
                                             std::string& error);

/// Plays `pattern` into `sink`, each event at `start_local_ns + offset` on the steady clock,
/// stamped with that nominal time. Returns early when `stop` becomes true; then releases the
/// keys it holds. Thread: the input thread (sleeps).
void play_pattern(const note_pattern& pattern, std::int64_t start_local_ns, key_sink& sink,
                  const std::atomic<bool>& stop);

} // namespace gno::client
