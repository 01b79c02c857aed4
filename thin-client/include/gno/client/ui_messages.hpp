#pragma once
// The local web UI's messages (DESIGN.md §1): JSON text frames between the performer's page and
// gno-client over ws://127.0.0.1:PORT/ws. The page is untrusted input like any network peer:
// `parse_page_message` never throws and bounds everything.
//
// Page -> client:
//   {"type":"key","key":0-127,"down":true|false,"velocity":1-127,"id":N}
//        a key moved (velocity optional, default 100; id optional: echoed in a key_ack so the
//        page can measure the local round trip)
//   {"type":"chat","text":"..."}          to the orchestra (1..500 bytes after trimming)
//   {"type":"solo","on":true|false}       ask for (or withdraw from) the next solo cycle
//   {"type":"mix","own":G,"click":G,"sections":{"strings":G,...}}  levels 0..2, all optional
//   {"type":"release_all"}                release every key (the page lost focus)
//   {"type":"join","code":"..."}          another join code, after the server refused one
//   {"type":"program","program":0-127,"kit":true|false}
//        the instrument: a GM program, or with "kit" (optional, default false) a GM percussion
//        kit (bank 128; the program picks the kit, 0 = Standard)
//   {"type":"articulation","articulation":"sustained"|"short"}
//        notes last while their key is held, or are short (staccato)
// Client -> page: hello (once per connection: who we are, the part, the latest direction),
// status (10 Hz; with the instrument in force, whatever set it: page, MIDI or options), key_ack,
// note (a key moved, from any input), error, and the conductor's events as translated by
// `event_json`. Thread: any (pure functions).

#include "gno/client/control_link.hpp"
#include "gno/client/instrument.hpp"
#include "gno/client/key_source.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace gno::client {

inline constexpr std::size_t k_max_page_message = 4096; // bytes; longer frames are refused
inline constexpr std::size_t k_max_chat_text = 500;     // as the control plane accepts

struct page_key {
    std::uint8_t key = 0;
    bool down = false;
    std::uint8_t velocity = k_default_velocity;
    std::optional<std::int64_t> id;
};
struct page_chat {
    std::string text;
};
struct page_solo {
    bool on = false;
};
struct page_mix {
    std::optional<double> own, click;
    std::map<std::string, double> sections;
};
struct page_release_all {};
struct page_join {
    std::string code; // 4..128 printable ASCII characters, as the server accepts
};
struct page_program {
    std::uint8_t program = 0;
    bool kit = false; // k_percussion_bank: the program picks the GM kit
};
struct page_articulation {
    articulation style = articulation::sustained;
};
/// A refused message: what to tell the page (one line).
struct page_error {
    std::string message;
};

using page_message = std::variant<page_key, page_chat, page_solo, page_mix, page_release_all,
                                  page_join, page_program, page_articulation, page_error>;

/// Pure: one text frame from the page. Anything malformed comes back as page_error.
[[nodiscard]] page_message parse_page_message(std::string_view text) noexcept;

/// One note of the player's part on the score timeline (seconds from the piece's first beat).
struct score_note {
    double start_s = 0;
    double length_s = 0;
    std::uint8_t key = 0;
};

/// Pure: pairs a pattern's key-downs with their key-ups (a key still down at the end lasts to
/// the pattern's length).
[[nodiscard]] std::vector<score_note> score_notes(const note_pattern& pattern);

/// Who this page talks for, sent first on every connection.
struct ui_identity {
    std::string name;
    std::uint32_t player = 0;
    std::string section;
    int program = 0;
    bool joined = false; // joined over the control plane (else UDP only)
};

/// Pure: the hello frame: identity, the part's notes and the latest events (already JSON).
[[nodiscard]] std::string hello_json(const ui_identity& who, const std::vector<score_note>& part,
                                     const std::vector<std::string>& history);

/// Pure: a control-plane event for the page, or empty when the page has nothing to show.
[[nodiscard]] std::string event_json(const control_event& e);

/// What the status line of the page shows, sampled every 100 ms on the UI thread.
struct ui_status {
    std::string connection = "connecting"; // connected | no_audio | reconnecting | refused |
                                           // kicked | connecting
    double outage_s = 0;                   // how long audio has been missing (no_audio)
    std::uint32_t player = 0;
    double rtt_ms = 0;
    double loss_down_pct = 0;       // audio frames missing over the last second
    double loss_up_pct = -1;        // the server's count of our key states lost; -1 unknown
    std::int64_t jitter_depth = 0;  // frames buffered
    std::int64_t jitter_target = 0; // frames the buffer aims for
    bool clock_synchronised = false;
    double clock_offset_ms = 0; // server - local
    std::uint32_t late_events = 0;
    std::string mode; // empty until the server's player_info
    double tempo_bpm = 0;
    int cycle_beats = 0;
    double advance_ms = 0;
    bool has_score = false; // the score clock runs
    bool has_piece = false; // a piece start is announced
    double score_s = 0, beat = 0, cycle_beat = 0;
    bool solo_request = false, soloing = false;
    std::uint32_t soloist = 0;
    bool muted = false;
    bool has_instrument = false; // attached to a session: `in_force` is what it sends
    instrument in_force{};
};

/// Pure: the status frame.
[[nodiscard]] std::string status_frame_json(const ui_status& s);

/// Pure: small frames.
[[nodiscard]] std::string key_ack_json(std::int64_t id);
[[nodiscard]] std::string note_json(std::uint8_t key, bool down, std::string_view source);
[[nodiscard]] std::string error_json(std::string_view message);

} // namespace gno::client
