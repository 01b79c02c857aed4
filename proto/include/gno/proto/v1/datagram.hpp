#pragma once
// Wire format v1 of the real-time UDP channel (DESIGN.md §3).
//
// Every datagram = fixed 40-byte header + typed payload, big-endian, at most 1200 bytes:
//
//   off size field
//     0    4 magic "GNO!" (0x474E4F21)
//     4    1 version (1)
//     5    1 type (packet_type)
//     6    2 payload length in bytes (the datagram must be exactly header + payload)
//     8    4 session id
//    12    4 sequence number (per sender and type, wraps)
//    16    8 sender timestamp, ns: the sender's estimate of server time at sending (a
//             client that is not yet synchronised sends its own clock)
//    24   16 authentication tag over header (tag zeroed) and payload; zero until keys exist
//
// Decoders take std::span<const std::byte>, never throw, never read out of bounds, and return
// an error code for anything malformed: the caller drops the packet and counts it.
// Thread: any. Realtime-safe: yes (no allocation).

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <system_error>

namespace gno::proto::v1 {

inline constexpr std::uint32_t k_magic = 0x474E4F21;
inline constexpr std::uint8_t k_version = 1;
inline constexpr std::size_t k_max_datagram = 1200;
inline constexpr std::size_t k_tag_size = 16;
inline constexpr std::size_t k_tag_offset = 24;
inline constexpr std::size_t k_header_size = 40;
inline constexpr std::size_t k_max_payload = k_max_datagram - k_header_size;

/// Bounds of a key state: 32 held keys and 32 recent releases fit one datagram.
inline constexpr std::size_t k_max_held = 32;
inline constexpr std::size_t k_max_released = 32;
/// Largest Opus frame one audio datagram carries.
inline constexpr std::size_t k_max_opus_bytes = k_max_payload - 16;

enum class packet_type : std::uint8_t {
    key_state = 1,    // client -> server
    audio_frame = 2,  // server -> client
    clock_ping = 3,   // either way
    clock_pong = 4,   // answer to a ping
    player_info = 5,  // server -> client: timing parameters of this player (DESIGN.md §4)
    section_stem = 6, // node -> node: a slice of one section bus (DESIGN.md §9)
    node_info = 7,    // node -> node: where players reach the sender, how full it is (§9)
    timing_state = 8, // node -> node: the conductor's timing, shared by the mesh (§9)
};

enum class errc {
    truncated = 1,    // shorter than its header or its declared payload
    bad_magic,        // not one of ours
    bad_version,      // another protocol version
    bad_type,         // unknown packet type, or not the type asked for
    bad_length,       // declared payload length disagrees with the datagram or the payload
    oversize,         // more than k_max_datagram bytes
    too_many_keys,    // held or released count above its bound
    duplicate_key,    // the same key twice in one list
    bad_key,          // key number above 127
    bad_velocity,     // velocity outside 1..127
    bad_value,        // a field outside its range
    buffer_too_small, // encoder: output span cannot hold the datagram
};

const std::error_category& proto_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), proto_category()};
}

using tag_bytes = std::array<std::byte, k_tag_size>;

struct header {
    packet_type type = packet_type::key_state;
    std::uint16_t payload_size = 0; // filled in by the encoders
    std::uint32_t session_id = 0;
    std::uint32_t sequence = 0;
    std::int64_t timestamp_ns = 0;
    tag_bytes tag{};
};

/// A key that is down: MIDI key, velocity and when it went down (DESIGN.md §4 stamps).
struct held_key {
    std::uint8_t key = 0;
    std::uint8_t velocity = 0;
    std::int64_t t_sync_ns = 0; // synchronised server time of the key-down
    std::int64_t r_heard = 0;   // render sample the player was hearing then (0 = unknown)
};

/// A key released within the last ~500 ms, with its release stamps.
struct released_key {
    std::uint8_t key = 0;
    std::int64_t t_sync_ns = 0;
    std::int64_t r_heard = 0;
};

/// Bits of key_state::flags. Receivers ignore bits they do not know (an older server plays a
/// short-articulation player sustained), so a new bit never needs a new protocol version.
enum key_state_flags : std::uint8_t {
    k_solo_request = 1,       // the player asks for the next solo cycle (one-cycle mode)
    k_short_articulation = 2, // every note plays short (staccato): the server ends it itself
};

/// The whole state of one performer's instrument, sent every time (DESIGN.md §3).
struct key_state {
    std::uint16_t bank = 0;        // SF2 bank (128 = GM percussion)
    std::uint8_t program = 0;      // GM program 0..127
    std::uint8_t sustain = 0;      // CC64 value 0..127
    std::uint8_t expression = 127; // CC11 value 0..127
    // The client's view of the link, logged per player by the server (network statistics):
    std::uint32_t rtt_us = 0;        // round trip of its latest clock ping, µs; 0: none yet
    std::uint16_t loss_permille = 0; // audio frames lost over its last completed second, 0..1000
    std::uint8_t held_count = 0;
    std::uint8_t released_count = 0;
    std::uint8_t flags = 0; // key_state_flags
    std::array<held_key, k_max_held> held{};
    std::array<released_key, k_max_released> released{};

    [[nodiscard]] std::span<const held_key> held_keys() const noexcept {
        return {held.data(), held_count};
    }
    [[nodiscard]] std::span<const released_key> released_keys() const noexcept {
        return {released.data(), released_count};
    }
};

/// One Opus frame of a mix. `opus` views the datagram's bytes (no copy).
struct audio_frame {
    std::int64_t render_sample = 0;  // index R of the frame's first sample on the server timeline
    std::uint16_t frame_samples = 0; // samples per channel (120..960 at 48 kHz)
    std::uint8_t channels = 2;
    std::uint8_t flags = 0;
    std::uint32_t mix_id = 0; // which distinct mix this frame belongs to
    std::span<const std::byte> opus;
};

/// How the server schedules a player's events (DESIGN.md §4).
enum class timing_mode : std::uint8_t {
    live = 0,          // render at t_sync + U
    time_advanced = 1, // render at t_sync + A_i; the player's score runs A_i ahead
    one_cycle = 2,     // render at r_heard + C
};

/// Server -> client, a few times a second: what the client needs to keep its player in time.
struct player_info {
    timing_mode mode = timing_mode::live;
    std::uint8_t flags = 0;         // bit 0: this player holds the solo now
    std::int64_t advance_ns = 0;    // U (live) or A_i (time-advanced): score lead time
    std::uint16_t cycle_beats = 16; // one-cycle: beats per cycle
    std::uint32_t tempo_milli_bpm = 100'000;
    std::int64_t cycle_origin = 0;     // render sample where a cycle (and a beat) starts
    std::int64_t piece_start = -1;     // render sample of the piece's first beat; -1 none
    std::uint32_t soloist_session = 0; // who holds or will hold the solo; 0 none
    std::int64_t solo_start = -1;      // render sample where that solo cycle starts
    std::uint32_t late_events = 0;     // this player's events that arrived after their time
    std::int64_t change_at = -1;       // cycle boundary where the next tempo/cycle starts; -1 none
    std::uint32_t next_tempo_milli_bpm = 0;
    std::uint16_t next_cycle_beats = 0;
};

struct clock_ping {
    std::int64_t t0_ns = 0; // sender's clock at send
};

struct clock_pong {
    std::int64_t t0_ns = 0; // echoed from the ping
    std::int64_t t1_ns = 0; // answerer's clock at receipt
    std::int64_t t2_ns = 0; // answerer's clock at send
};

/// Most samples (per channel) one section_stem datagram carries: a 5 ms frame (240) in one,
/// longer frames in slices.
inline constexpr std::size_t k_max_stem_samples = 240;
/// Loudest sample a section_stem carries: far above any bus of real players (a bus of 1000 at
/// full scale is 1000), and low enough that every decoded sample is finite.
inline constexpr float k_max_stem_peak = 1.0e6f;

/// Node -> node (DESIGN.md §9): a slice of one section bus of the sending node, on the render
/// timeline they share, as block-scaled 16-bit PCM (sample = int16 * scale), stereo
/// interleaved. Exact to -90 dB of the slice's peak and free of a codec's delay, so a node can
/// place it on the sample it was rendered for. `pcm` views the datagram's bytes (no copy).
/// With flags bit 0 (k_stem_opus) the payload is instead one stereo Opus packet of
/// `frame_samples` (120 or 240) from the sender's encoder of that section, `scale` 0: about a
/// tenth of the bandwidth, and the receiver places it by the codec's known lookahead. Bit 1
/// (k_stem_opus_start) marks the first packet of a new stream (the section sounds again after
/// a silence): the receiver starts its decoder afresh instead of concealing the gap.
inline constexpr std::uint8_t k_stem_opus = 1;
inline constexpr std::uint8_t k_stem_opus_start = 2;
struct section_stem {
    std::int64_t render_sample = 0;  // R of the slice's first sample on the sender's timeline
    std::uint16_t frame_samples = 0; // samples per channel, 1..k_max_stem_samples
    std::uint8_t section = 0;        // 0..31 (the node's sections, render/mixer.hpp)
    std::uint8_t flags = 0;
    float scale = 0.0f;             // 0 .. k_max_stem_peak / 32767; 0: a silent slice
    std::span<const std::byte> pcm; // the Opus packet with k_stem_opus

    [[nodiscard]] bool opus() const noexcept { return (flags & k_stem_opus) != 0; }
    [[nodiscard]] bool opus_start() const noexcept { return (flags & k_stem_opus_start) != 0; }

    /// Sample `i` of channel `c` (0 left, 1 right). Requires i < frame_samples.
    [[nodiscard]] float sample(std::size_t i, int c) const noexcept;
};

/// The section_stem "section" that carries a conductor's talk-back to the other nodes of a
/// mesh (mono: left = right), on the sender's timeline where it plays (DESIGN.md §9).
inline constexpr std::uint8_t k_talkback_stem = 31;

/// Longest host name a node_info carries.
inline constexpr std::size_t k_max_node_host = 64;

/// Node -> node (DESIGN.md §9), with every clock ping: what the directory on any node needs to
/// send a joining player to the sender. `host` views the datagram's bytes (no copy): printable
/// ASCII without spaces, empty when players reach the node where its peers do.
struct node_info {
    std::uint16_t udp_port = 0;     // players' key states and audio; 1..65535
    std::uint16_t control_port = 0; // its control plane (join, directory); 1..65535
    std::uint16_t players = 0;      // performers joined now
    std::uint16_t max_players = 0;  // how many it takes
    std::uint32_t sections = 0;     // bit s: it serves section s (0..16); 0: none in particular
    std::uint8_t flags = 0;         // bit 0: draining (stopping: send nobody there)
    std::string_view host;
};

/// Longest piece name (bytes) a timing_state carries: 40 characters of UTF-8.
inline constexpr std::size_t k_max_piece_name = 160;

/// Node -> node (DESIGN.md §9), whenever a conductor changes it and with every clock ping:
/// the conductor's timing every node of the mesh renders by, so that a conductor on one node leads
/// the players of all. Render samples are on the sender's timeline. A state replaces the one a node
/// holds when (version, origin) is greater. The version is a hybrid clock: the later of the wall
/// clock (ms since 1970) and one more than the highest version seen, so the latest change wins
/// even from a node that has just restarted and heard nothing yet; origin breaks ties between
/// simultaneous ones. `piece` views the datagram's bytes (no copy): no control characters.
struct timing_state {
    std::uint64_t version = 0; // >= 1 (0: a node's own options, never sent)
    std::uint32_t origin = 0;  // node id whose conductor made the change
    timing_mode mode = timing_mode::live;
    std::uint8_t flags = 0;               // 0 (reserved)
    double tempo_bpm = 100;               // 1..1000
    std::uint16_t cycle_beats = 16;       // 1..256
    std::int64_t cycle_origin = 0;        // render sample where a cycle starts
    std::int64_t piece_start = -1;        // render sample of the piece's first beat; -1 none
    std::int64_t change_at = -1;          // boundary of the planned tempo/cycle change; -1 none
    double change_tempo_bpm = 0;          // with change_at: 1..1000
    std::uint16_t change_cycle_beats = 0; // with change_at: 1..256
    std::string_view piece;               // the piece's name, <= k_max_piece_name bytes
};

/// Writes a section_stem datagram of `left`/`right` (equal sizes, 1..k_max_stem_samples),
/// choosing the scale from their peak. Returns the size, or 0 with `ec` set.
std::size_t encode_stem(header h, std::int64_t render_sample, std::uint8_t section,
                        std::span<const float> left, std::span<const float> right,
                        std::span<std::byte> out, std::error_code& ec) noexcept;

/// Writes a section_stem datagram carrying one Opus packet of `frame_samples` (120 or 240)
/// stereo samples (1..k_max_opus_bytes), the first of a stream when `start`. Returns the size,
/// or 0 with `ec` set.
std::size_t encode_opus_stem(header h, std::int64_t render_sample, std::uint8_t section,
                             std::uint16_t frame_samples, bool start,
                             std::span<const std::byte> packet, std::span<std::byte> out,
                             std::error_code& ec) noexcept;

/// Reads and checks the header; on success `payload` views exactly the declared payload.
std::error_code decode_header(std::span<const std::byte> datagram, header& out,
                              std::span<const std::byte>& payload) noexcept;

/// Full decoders: header plus the payload of the expected type.
std::error_code decode(std::span<const std::byte> datagram, header& h, key_state& out) noexcept;
std::error_code decode(std::span<const std::byte> datagram, header& h, audio_frame& out) noexcept;
std::error_code decode(std::span<const std::byte> datagram, header& h, clock_ping& out) noexcept;
std::error_code decode(std::span<const std::byte> datagram, header& h, clock_pong& out) noexcept;
std::error_code decode(std::span<const std::byte> datagram, header& h, player_info& out) noexcept;
std::error_code decode(std::span<const std::byte> datagram, header& h, section_stem& out) noexcept;
std::error_code decode(std::span<const std::byte> datagram, header& h, node_info& out) noexcept;
std::error_code decode(std::span<const std::byte> datagram, header& h, timing_state& out) noexcept;

/// Encoders: write header (type and payload size set from the message) and payload into `out`.
/// Return the datagram size, or 0 with `ec` set when the message is invalid or `out` too small.
std::size_t encode(header h, const key_state& m, std::span<std::byte> out,
                   std::error_code& ec) noexcept;
std::size_t encode(header h, const audio_frame& m, std::span<std::byte> out,
                   std::error_code& ec) noexcept;
std::size_t encode(header h, const clock_ping& m, std::span<std::byte> out,
                   std::error_code& ec) noexcept;
std::size_t encode(header h, const clock_pong& m, std::span<std::byte> out,
                   std::error_code& ec) noexcept;
std::size_t encode(header h, const player_info& m, std::span<std::byte> out,
                   std::error_code& ec) noexcept;
std::size_t encode(header h, const node_info& m, std::span<std::byte> out,
                   std::error_code& ec) noexcept;
std::size_t encode(header h, const timing_state& m, std::span<std::byte> out,
                   std::error_code& ec) noexcept;

/// Checks a key state's invariants (bounds, unique keys, velocities). Used by both codecs.
std::error_code validate(const key_state& m) noexcept;

} // namespace gno::proto::v1

template <>
struct std::is_error_code_enum<gno::proto::v1::errc> : std::true_type {};
