#pragma once
// Wire format v1 of the reliable channel (DESIGN.md §3): JSON text frames over a WebSocket
// (`ws://<node>:<control port>/ws`), each one object with a `type`; binary frames carry media
// (talk-back). This header is the one place the messages are documented.
//
// Every client opens with `join`; until the server's `welcome`, nothing else is accepted.
// The join code decides the role, and each role may send only its own messages:
//
//   type            from         fields                                     what happens
//   join            any          code, role?, name?, program?, bank?       -> welcome | error+close
//   chat            perf/cond/ops text (1..500 chars, plain)               -> chat to everyone
//                                                                              joined
//   image           conductor    section, image                             -> image to section
//   cue             conductor    section, intensity? 0..1,                  -> cue to section
//                                register? high|medium|low, point? label
//   piece           conductor    name?, start_in_ms (0..600000)             -> piece to everyone
//   timing          conductor    mode?, tempo_bpm? 20..300,                 -> timing to everyone
//                                cycle_beats? 1..64
//   solo_request    performer    -                                          -> solo_queue to cond.
//   mix             performer    own? 0..2, click? 0..2,                    -> mix to the sender
//                                sections? {section: 0..2, ...}
//   solo_grant      conductor    player                                     -> solo to everyone
//   mute            conductor    player, muted                              -> roster
//   kick            conductor/ops player                                    -> kicked + close
//   talkback_begin  conductor    at_ms? (delay from now; absent: at once)   then binary frames of
//   talkback_end    conductor    -                                          48 kHz mono s16le PCM
//
// Server -> client: welcome, error {code, message}, chat {from, name, role, text}, image,
// cue, piece {name, start_ns, start_sample}, timing, roster {players: [...]} (conductor and
// ops, every second), solo_queue {players}, solo {player}, kicked, talkback {state},
// mix {own, click, sections: {every section: level}, mix_mode, applied},
// link {udp, rtt_ms, min_rtt_ms, jitter_ms, loss_up_pct, loss_down_pct, late_events}
// (each performer, every second: its own row of the roster).
// `section` is a section name (section_names below) or "all". `player` is a player id, the
// UDP session id the welcome gave. Numbers outside their range, unknown types, unknown roles
// and oversized text are refused with an error naming the field; the connection stays open
// unless the peer has not joined (then it is closed).
//
// `mix` is a performer's own mix (DESIGN.md §6): linear gains from 0 (off) to 2 (+6 dB) for
// its own voice, the click and each section (a name from section_names; "all" is not one).
// Every field is optional: what is given changes, the rest stays, and `{"type":"mix"}` only
// asks. The answer, to the sender alone, holds all of that player's levels after the change.
// Only a node whose performers have mixes of their own (`--mix own`) can honour them: on a
// shared-mix node the levels are kept but nobody hears them, and the answer says
// "mix_mode":"shared","applied":false. The click level scales the click only, never the
// conductor's talk-back. A refused mix message changes nothing.
//
// `link` is a performer's own link as the node measured it over the last second (DESIGN.md
// §3), so its page can show what the client cannot measure itself, above all the uplink loss:
// the round trip (mean and least of the client's reports), the RFC 3550 jitter of its key
// states' arrival, the loss of its key states (up) and of its audio as it reported it (down),
// and how many of its events came too late to be rendered. It goes every second to each
// joined performer of a node with a UDP side. `udp` is false, every figure 0, while the node
// has no key states from that player (not yet sent, blocked, or silent past the expiry).
//
// Thread: any (pure functions over values). Never throws on untrusted input.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace gno::proto::v1::control {

inline constexpr int k_version = 1;
inline constexpr std::size_t k_max_text_frame = 16 * 1024;   // a JSON message
inline constexpr std::size_t k_max_binary_frame = 64 * 1024; // a talk-back chunk
inline constexpr std::size_t k_max_chat_chars = 500;         // bytes of UTF-8
inline constexpr std::size_t k_max_name_chars = 40;
inline constexpr std::size_t k_max_label_chars = 40;
/// Deepest nesting of any message (server's or client's); deeper JSON is refused unparsed.
inline constexpr int k_max_depth = 8;

/// True when the brackets of `text` nest no deeper than k_max_depth (strings skipped): a
/// cheap guard before a recursive JSON parser, so a hostile "[[[[...]]]]" costs nothing.
[[nodiscard]] bool within_depth(std::string_view text) noexcept;

enum class role : std::uint8_t { performer, conductor, ops, listener };
[[nodiscard]] std::string_view role_name(role r) noexcept;
[[nodiscard]] std::optional<role> parse_role(std::string_view s) noexcept;

/// The orchestra's sections: the 16 General MIDI families plus the drum kits (mixer.hpp).
inline constexpr std::array<std::string_view, 17> section_names{
    "piano", "chromatic", "organ", "guitar",  "bass",   "strings",    "ensemble", "brass", "reed",
    "pipe",  "lead",      "pad",   "effects", "ethnic", "percussive", "sound",    "drums"};
/// Index into section_names, or -1 for "all"; nullopt when unknown.
[[nodiscard]] std::optional<int> parse_section(std::string_view s) noexcept;
/// Section of a GM instrument: its family of eight programs, or the drums (bank 128).
[[nodiscard]] constexpr int section_of(int bank, int program) noexcept {
    return bank == 128 ? 16 : (program & 127) / 8;
}

/// The musical-language images the console offers (its SVGs carry these names).
inline constexpr std::array<std::string_view, 8> image_names{
    "sustain", "pulse", "swell", "fade", "pointillism", "tremolo", "glissando", "silence"};

// Client -> server.
struct join {
    std::string code;
    std::optional<role> wanted; // refused when the code admits another role
    std::string name;
    std::optional<int> program; // performer's GM program 0..127
    std::optional<int> bank;    // 0, or 128 for drums
};
struct chat {
    std::string text;
};
struct image {
    int section = -1;
    std::string name;
};
struct cue {
    int section = -1;
    std::optional<double> intensity;
    std::optional<std::string> reg; // high, medium, low
    std::optional<std::string> point;
};
struct piece {
    std::string name;
    std::int64_t start_in_ms = 0;
};
struct timing {
    std::optional<std::string> mode; // live, time-advanced, one-cycle
    std::optional<double> tempo_bpm;
    std::optional<int> cycle_beats;
};
struct solo_request {};
struct solo_grant {
    std::uint32_t player = 0;
};
struct mute {
    std::uint32_t player = 0;
    bool muted = true;
};
struct kick {
    std::uint32_t player = 0;
};
struct talkback_begin {
    std::optional<std::int64_t> at_ms;
};
struct talkback_end {};
/// A change to the sender's own mix: each level present replaces that level (0..k_max_level).
struct mix {
    static constexpr double k_max_level = 2.0; // +6 dB
    std::optional<double> own;
    std::optional<double> click;
    std::array<std::optional<double>, section_names.size()> sections{};
};

using client_message = std::variant<join, chat, image, cue, piece, timing, solo_request, solo_grant,
                                    mute, kick, talkback_begin, talkback_end, mix>;

struct parse_error {
    std::string code;    // e.g. "bad_json", "unknown_type", "bad_field"
    std::string message; // for a person: which field, what was wrong
};
struct parse_result {
    std::optional<client_message> message;
    parse_error error; // set when !message
};

/// Parses one text frame. Never throws; bounded by k_max_text_frame.
[[nodiscard]] parse_result parse(std::string_view text) noexcept;

/// Which roles may send a message (join: anyone not yet joined).
[[nodiscard]] bool allowed(const client_message& m, role r) noexcept;
[[nodiscard]] std::string_view type_name(const client_message& m) noexcept;

// Server -> client encoders (compact JSON text).
[[nodiscard]] std::string encode_error(std::string_view code, std::string_view message);

struct welcome {
    std::uint32_t player = 0;
    role who = role::performer;
    std::string name;
    int bank = 0;
    int program = 0;
    std::string session_key; // hex, for the UDP channel's tags (DESIGN.md §8)
    std::uint16_t udp_port = 0;
    std::int64_t server_time_ns = 0;
    int sample_rate = 48000;
    int frame_samples = 240;
    std::string mode;
    double tempo_bpm = 100;
    int cycle_beats = 16;
};
[[nodiscard]] std::string encode(const welcome& w);

struct roster_entry {
    std::uint32_t player = 0;
    std::string name;
    role who = role::performer;
    int section = -1;
    int program = 0;
    bool connected = true; // its WebSocket is open
    bool muted = false;
    bool udp = false; // key states are arriving
    double rtt_ms = 0, min_rtt_ms = 0, jitter_ms = 0;
    double loss_up_pct = 0, loss_down_pct = 0;
    std::uint32_t late_events = 0;
};
[[nodiscard]] std::string encode_roster(const std::vector<roster_entry>& players,
                                        std::optional<std::uint32_t> soloist,
                                        const std::vector<std::uint32_t>& solo_queue);
/// A performer's own `link` from its roster row (player, name, role, ... are not sent):
/// figures rounded to 0.01 and held within ±1e9, non-finite ones sent as 0. Allocates only
/// the string. Thread: any.
[[nodiscard]] std::string encode_link(const roster_entry& own);

/// The piece starts at server time `start_ns`, render sample `start_sample`.
[[nodiscard]] std::string encode_piece(std::string_view name, std::int64_t start_ns,
                                       std::int64_t start_sample, std::uint32_t from);

/// All of one performer's mix levels (linear gains): what the server answers a `mix` with.
struct mix_levels {
    double own = 0.0;   // the player's own voice (0: mix-minus)
    double click = 1.0; // the click
    std::array<double, section_names.size()> sections = [] {
        std::array<double, section_names.size()> a{};
        a.fill(1.0);
        return a;
    }();
    friend bool operator==(const mix_levels&, const mix_levels&) = default;
};
/// `levels` with the levels `change` gives replaced.
[[nodiscard]] mix_levels apply(mix_levels levels, const mix& change) noexcept;
/// The answer to a `mix`: every level, the node's mix mode ("own" or "shared") and whether the
/// levels are heard (`applied`: false on a shared-mix node).
[[nodiscard]] std::string encode_mix(const mix_levels& levels, std::string_view mix_mode,
                                     bool applied);

/// Re-encodes a validated client message as the server's broadcast of it, with the sender.
[[nodiscard]] std::string encode_broadcast(const client_message& m, std::uint32_t from,
                                           std::string_view from_name, role from_role);

} // namespace gno::proto::v1::control
