#include "gno/proto/v1/datagram.hpp"

#include "gno/proto/byte_io.hpp"

#include <algorithm>
#include <bit>
#include <bitset>
#include <cmath>
#include <string>

namespace gno::proto::v1 {
namespace {

class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "gno.proto"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
        case errc::truncated:
            return "datagram truncated";
        case errc::bad_magic:
            return "not a GNO datagram (bad magic)";
        case errc::bad_version:
            return "unsupported protocol version";
        case errc::bad_type:
            return "unexpected packet type";
        case errc::bad_length:
            return "payload length mismatch";
        case errc::oversize:
            return "datagram larger than 1200 bytes";
        case errc::too_many_keys:
            return "too many keys in key state";
        case errc::duplicate_key:
            return "duplicate key in key state";
        case errc::bad_key:
            return "key number out of range";
        case errc::bad_velocity:
            return "velocity out of range";
        case errc::bad_value:
            return "field out of range";
        case errc::buffer_too_small:
            return "output buffer too small";
        }
        return "unknown gno.proto error";
    }
};

constexpr std::size_t k_key_state_fixed = 2 + 1 + 1 + 1 + 4 + 2 + 1 + 1 + 1;                // 14
constexpr std::size_t k_held_size = 1 + 1 + 8 + 8;                                          // 18
constexpr std::size_t k_released_size = 1 + 8 + 8;                                          // 17
constexpr std::size_t k_audio_fixed = 8 + 2 + 1 + 1 + 4;                                    // 16
constexpr std::size_t k_stem_fixed = 8 + 2 + 1 + 1 + 4;                                     // 16
constexpr std::size_t k_node_info_fixed = 2 + 2 + 2 + 2 + 4 + 1 + 1;                        // 14
constexpr std::size_t k_timing_state_fixed = 8 + 4 + 1 + 1 + 8 + 2 + 8 + 8 + 8 + 8 + 2 + 1; // 59
static_assert(k_header_size + k_stem_fixed + 4 * k_max_stem_samples <= k_max_datagram);
constexpr std::size_t k_player_info_size = 1 + 1 + 8 + 2 + 4 + 8 + 8 + 4 + 8 + 4 + 8 + 4 + 2; // 62
static_assert(k_audio_fixed + k_max_opus_bytes == k_max_payload);
static_assert(k_header_size + k_key_state_fixed + k_max_held * k_held_size +
                  k_max_released * k_released_size <=
              k_max_datagram);

template <typename Payload>
std::size_t write_datagram(header h, packet_type type, std::size_t payload_size,
                           std::span<std::byte> out, std::error_code& ec, Payload&& payload) {
    if (payload_size > k_max_payload) {
        ec = errc::oversize;
        return 0;
    }
    const std::size_t total = k_header_size + payload_size;
    if (out.size() < total) {
        ec = errc::buffer_too_small;
        return 0;
    }
    byte_writer w(out.first(total));
    w.u32(k_magic);
    w.u8(k_version);
    w.u8(static_cast<std::uint8_t>(type));
    w.u16(static_cast<std::uint16_t>(payload_size));
    w.u32(h.session_id);
    w.u32(h.sequence);
    w.i64(h.timestamp_ns);
    w.bytes(h.tag);
    payload(w);
    if (!w.ok() || w.size() != total) {
        ec = errc::bad_length;
        return 0;
    }
    ec.clear();
    return total;
}

std::error_code decode_typed(std::span<const std::byte> datagram, header& h, packet_type want,
                             std::span<const std::byte>& payload) noexcept {
    if (auto ec = decode_header(datagram, h, payload))
        return ec;
    if (h.type != want)
        return errc::bad_type;
    return {};
}

} // namespace

const std::error_category& proto_category() noexcept {
    static const category c;
    return c;
}

std::error_code decode_header(std::span<const std::byte> datagram, header& out,
                              std::span<const std::byte>& payload) noexcept {
    if (datagram.size() > k_max_datagram)
        return errc::oversize;
    if (datagram.size() < k_header_size)
        return errc::truncated;
    byte_reader r(datagram);
    if (r.u32() != k_magic)
        return errc::bad_magic;
    if (r.u8() != k_version)
        return errc::bad_version;
    const std::uint8_t type = r.u8();
    if (type < 1 || type > 8)
        return errc::bad_type;
    header h;
    h.type = static_cast<packet_type>(type);
    h.payload_size = r.u16();
    h.session_id = r.u32();
    h.sequence = r.u32();
    h.timestamp_ns = r.i64();
    auto tag = r.bytes(k_tag_size);
    for (std::size_t i = 0; i < k_tag_size; ++i)
        h.tag[i] = tag[i];
    if (datagram.size() - k_header_size < h.payload_size)
        return errc::truncated;
    if (datagram.size() - k_header_size != h.payload_size)
        return errc::bad_length;
    out = h;
    payload = datagram.subspan(k_header_size, h.payload_size);
    return {};
}

std::error_code validate(const key_state& m) noexcept {
    if (m.held_count > k_max_held || m.released_count > k_max_released)
        return errc::too_many_keys;
    if (m.program > 127 || m.sustain > 127 || m.expression > 127 || m.bank > 16383 ||
        m.loss_permille > 1000)
        return errc::bad_value;
    std::bitset<128> seen;
    for (const auto& k : m.held_keys()) {
        if (k.key > 127)
            return errc::bad_key;
        if (k.velocity < 1 || k.velocity > 127)
            return errc::bad_velocity;
        if (seen.test(k.key))
            return errc::duplicate_key;
        seen.set(k.key);
    }
    std::bitset<128> released;
    for (const auto& k : m.released_keys()) {
        if (k.key > 127)
            return errc::bad_key;
        // A key may be held again after a recent release, but not released twice in one state.
        if (released.test(k.key))
            return errc::duplicate_key;
        released.set(k.key);
    }
    return {};
}

std::error_code decode(std::span<const std::byte> datagram, header& h, key_state& out) noexcept {
    std::span<const std::byte> payload;
    if (auto ec = decode_typed(datagram, h, packet_type::key_state, payload))
        return ec;
    if (payload.size() < k_key_state_fixed)
        return errc::truncated;
    byte_reader r(payload);
    key_state m;
    m.bank = r.u16();
    m.program = r.u8();
    m.sustain = r.u8();
    m.expression = r.u8();
    m.rtt_us = r.u32();
    m.loss_permille = r.u16();
    const std::uint8_t held = r.u8();
    const std::uint8_t released = r.u8();
    m.flags = r.u8();
    if (held > k_max_held || released > k_max_released)
        return errc::too_many_keys;
    if (payload.size() != k_key_state_fixed + held * k_held_size + released * k_released_size)
        return errc::bad_length;
    m.held_count = held;
    m.released_count = released;
    for (std::size_t i = 0; i < held; ++i) {
        m.held[i].key = r.u8();
        m.held[i].velocity = r.u8();
        m.held[i].t_sync_ns = r.i64();
        m.held[i].r_heard = r.i64();
    }
    for (std::size_t i = 0; i < released; ++i) {
        m.released[i].key = r.u8();
        m.released[i].t_sync_ns = r.i64();
        m.released[i].r_heard = r.i64();
    }
    if (!r.ok())
        return errc::truncated;
    if (auto ec = validate(m))
        return ec;
    out = m;
    return {};
}

std::error_code decode(std::span<const std::byte> datagram, header& h, audio_frame& out) noexcept {
    std::span<const std::byte> payload;
    if (auto ec = decode_typed(datagram, h, packet_type::audio_frame, payload))
        return ec;
    if (payload.size() < k_audio_fixed)
        return errc::truncated;
    byte_reader r(payload);
    audio_frame m;
    m.render_sample = r.i64();
    m.frame_samples = r.u16();
    m.channels = r.u8();
    m.flags = r.u8();
    m.mix_id = r.u32();
    m.opus = r.bytes(r.remaining());
    if (m.render_sample < 0 || m.frame_samples < 120 || m.frame_samples > 960 ||
        (m.channels != 1 && m.channels != 2))
        return errc::bad_value;
    if (m.opus.empty())
        return errc::bad_length;
    out = m;
    return {};
}

std::error_code decode(std::span<const std::byte> datagram, header& h, clock_ping& out) noexcept {
    std::span<const std::byte> payload;
    if (auto ec = decode_typed(datagram, h, packet_type::clock_ping, payload))
        return ec;
    if (payload.size() != 8)
        return payload.size() < 8 ? errc::truncated : errc::bad_length;
    byte_reader r(payload);
    out.t0_ns = r.i64();
    return {};
}

std::error_code decode(std::span<const std::byte> datagram, header& h, clock_pong& out) noexcept {
    std::span<const std::byte> payload;
    if (auto ec = decode_typed(datagram, h, packet_type::clock_pong, payload))
        return ec;
    if (payload.size() != 24)
        return payload.size() < 24 ? errc::truncated : errc::bad_length;
    byte_reader r(payload);
    out.t0_ns = r.i64();
    out.t1_ns = r.i64();
    out.t2_ns = r.i64();
    return {};
}

std::error_code decode(std::span<const std::byte> datagram, header& h, player_info& out) noexcept {
    std::span<const std::byte> payload;
    if (auto ec = decode_typed(datagram, h, packet_type::player_info, payload))
        return ec;
    if (payload.size() != k_player_info_size)
        return payload.size() < k_player_info_size ? errc::truncated : errc::bad_length;
    byte_reader r(payload);
    player_info m;
    const std::uint8_t mode = r.u8();
    if (mode > 2)
        return errc::bad_value;
    m.mode = static_cast<timing_mode>(mode);
    m.flags = r.u8();
    m.advance_ns = r.i64();
    m.cycle_beats = r.u16();
    m.tempo_milli_bpm = r.u32();
    m.cycle_origin = r.i64();
    m.piece_start = r.i64();
    m.soloist_session = r.u32();
    m.solo_start = r.i64();
    m.late_events = r.u32();
    m.change_at = r.i64();
    m.next_tempo_milli_bpm = r.u32();
    m.next_cycle_beats = r.u16();
    if (m.cycle_beats == 0 || m.tempo_milli_bpm < 1'000 || m.tempo_milli_bpm > 1'000'000 ||
        m.change_at < -1 ||
        (m.change_at >= 0 && (m.next_cycle_beats == 0 || m.next_tempo_milli_bpm < 1'000 ||
                              m.next_tempo_milli_bpm > 1'000'000)))
        return errc::bad_value;
    out = m;
    return {};
}

std::size_t encode(header h, const player_info& m, std::span<std::byte> out,
                   std::error_code& ec) noexcept {
    if (static_cast<std::uint8_t>(m.mode) > 2 || m.cycle_beats == 0 || m.tempo_milli_bpm < 1'000 ||
        m.tempo_milli_bpm > 1'000'000 || m.change_at < -1 ||
        (m.change_at >= 0 && (m.next_cycle_beats == 0 || m.next_tempo_milli_bpm < 1'000 ||
                              m.next_tempo_milli_bpm > 1'000'000))) {
        ec = errc::bad_value;
        return 0;
    }
    return write_datagram(h, packet_type::player_info, k_player_info_size, out, ec,
                          [&](byte_writer& w) {
                              w.u8(static_cast<std::uint8_t>(m.mode));
                              w.u8(m.flags);
                              w.i64(m.advance_ns);
                              w.u16(m.cycle_beats);
                              w.u32(m.tempo_milli_bpm);
                              w.i64(m.cycle_origin);
                              w.i64(m.piece_start);
                              w.u32(m.soloist_session);
                              w.i64(m.solo_start);
                              w.u32(m.late_events);
                              w.i64(m.change_at);
                              w.u32(m.next_tempo_milli_bpm);
                              w.u16(m.next_cycle_beats);
                          });
}

std::size_t encode(header h, const key_state& m, std::span<std::byte> out,
                   std::error_code& ec) noexcept {
    if ((ec = validate(m)))
        return 0;
    const std::size_t size =
        k_key_state_fixed + m.held_count * k_held_size + m.released_count * k_released_size;
    return write_datagram(h, packet_type::key_state, size, out, ec, [&](byte_writer& w) {
        w.u16(m.bank);
        w.u8(m.program);
        w.u8(m.sustain);
        w.u8(m.expression);
        w.u32(m.rtt_us);
        w.u16(m.loss_permille);
        w.u8(m.held_count);
        w.u8(m.released_count);
        w.u8(m.flags);
        for (const auto& k : m.held_keys()) {
            w.u8(k.key);
            w.u8(k.velocity);
            w.i64(k.t_sync_ns);
            w.i64(k.r_heard);
        }
        for (const auto& k : m.released_keys()) {
            w.u8(k.key);
            w.i64(k.t_sync_ns);
            w.i64(k.r_heard);
        }
    });
}

std::size_t encode(header h, const audio_frame& m, std::span<std::byte> out,
                   std::error_code& ec) noexcept {
    if (m.opus.empty() || m.opus.size() > k_max_opus_bytes) {
        ec = errc::bad_length;
        return 0;
    }
    if (m.render_sample < 0 || m.frame_samples < 120 || m.frame_samples > 960 ||
        (m.channels != 1 && m.channels != 2)) {
        ec = errc::bad_value;
        return 0;
    }
    return write_datagram(h, packet_type::audio_frame, k_audio_fixed + m.opus.size(), out, ec,
                          [&](byte_writer& w) {
                              w.i64(m.render_sample);
                              w.u16(m.frame_samples);
                              w.u8(m.channels);
                              w.u8(m.flags);
                              w.u32(m.mix_id);
                              w.bytes(m.opus);
                          });
}

std::size_t encode(header h, const clock_ping& m, std::span<std::byte> out,
                   std::error_code& ec) noexcept {
    return write_datagram(h, packet_type::clock_ping, 8, out, ec,
                          [&](byte_writer& w) { w.i64(m.t0_ns); });
}

std::size_t encode(header h, const clock_pong& m, std::span<std::byte> out,
                   std::error_code& ec) noexcept {
    return write_datagram(h, packet_type::clock_pong, 24, out, ec, [&](byte_writer& w) {
        w.i64(m.t0_ns);
        w.i64(m.t1_ns);
        w.i64(m.t2_ns);
    });
}

float section_stem::sample(std::size_t i, int c) const noexcept {
    const std::size_t at = 4 * i + 2 * static_cast<std::size_t>(c);
    const auto v = static_cast<std::int16_t>((static_cast<std::uint16_t>(pcm[at]) << 8) |
                                             static_cast<std::uint16_t>(pcm[at + 1]));
    return static_cast<float>(v) * scale;
}

std::error_code decode(std::span<const std::byte> datagram, header& h, section_stem& out) noexcept {
    std::span<const std::byte> payload;
    if (auto ec = decode_typed(datagram, h, packet_type::section_stem, payload))
        return ec;
    if (payload.size() < k_stem_fixed)
        return errc::truncated;
    byte_reader r(payload);
    section_stem m;
    m.render_sample = r.i64();
    m.frame_samples = r.u16();
    m.section = r.u8();
    m.flags = r.u8();
    m.scale = std::bit_cast<float>(r.u32());
    if (m.render_sample < 0 || m.frame_samples < 1 || m.frame_samples > k_max_stem_samples ||
        m.section >= 32 || !(m.scale >= 0.0f && m.scale <= k_max_stem_peak / 32767.0f) ||
        (m.flags & ~(k_stem_opus | k_stem_opus_start)) != 0 || (m.opus_start() && !m.opus()))
        return errc::bad_value;
    if (m.opus()) {
        if ((m.frame_samples != 120 && m.frame_samples != 240) ||
            std::bit_cast<std::uint32_t>(m.scale) != 0)
            return errc::bad_value;
        if (r.remaining() < 1 || r.remaining() > k_max_opus_bytes)
            return errc::bad_length;
    } else if (r.remaining() != 4u * m.frame_samples) {
        return errc::bad_length;
    }
    m.pcm = r.bytes(r.remaining());
    out = m;
    return {};
}

std::size_t encode_stem(header h, std::int64_t render_sample, std::uint8_t section,
                        std::span<const float> left, std::span<const float> right,
                        std::span<std::byte> out, std::error_code& ec) noexcept {
    const std::size_t n = left.size();
    if (n < 1 || n > k_max_stem_samples || right.size() != n || render_sample < 0 ||
        section >= 32) {
        ec = errc::bad_value;
        return 0;
    }
    float peak = 0.0f;
    for (std::size_t i = 0; i < n; ++i)
        peak = std::max({peak, std::abs(left[i]), std::abs(right[i])});
    if (!(peak <= k_max_stem_peak)) { // a NaN too
        ec = errc::bad_value;
        return 0;
    }
    const float scale = peak / 32767.0f;
    const float inv = peak > 0.0f ? 32767.0f / peak : 0.0f;
    auto q = [inv](float x) {
        return static_cast<std::uint16_t>(static_cast<std::int16_t>(std::lrint(x * inv)));
    };
    return write_datagram(h, packet_type::section_stem, k_stem_fixed + 4 * n, out, ec,
                          [&](byte_writer& w) {
                              w.i64(render_sample);
                              w.u16(static_cast<std::uint16_t>(n));
                              w.u8(section);
                              w.u8(0);
                              w.u32(std::bit_cast<std::uint32_t>(scale));
                              for (std::size_t i = 0; i < n; ++i) {
                                  w.u16(q(left[i]));
                                  w.u16(q(right[i]));
                              }
                          });
}

std::size_t encode_opus_stem(header h, std::int64_t render_sample, std::uint8_t section,
                             std::uint16_t frame_samples, bool start,
                             std::span<const std::byte> packet, std::span<std::byte> out,
                             std::error_code& ec) noexcept {
    if (render_sample < 0 || section >= 32 || (frame_samples != 120 && frame_samples != 240) ||
        packet.empty() || packet.size() > k_max_opus_bytes) {
        ec = errc::bad_value;
        return 0;
    }
    return write_datagram(h, packet_type::section_stem, k_stem_fixed + packet.size(), out, ec,
                          [&](byte_writer& w) {
                              w.i64(render_sample);
                              w.u16(frame_samples);
                              w.u8(section);
                              w.u8(start ? k_stem_opus | k_stem_opus_start : k_stem_opus);
                              w.u32(0);
                              w.bytes(packet);
                          });
}

namespace {
// Sections 0..16 (the GM families and the drums); a host printable and without spaces.
constexpr std::uint32_t k_node_sections = (1u << 17) - 1;
bool valid_node_info(const node_info& m) noexcept {
    if (m.udp_port == 0 || m.control_port == 0 || (m.sections & ~k_node_sections) != 0 ||
        m.host.size() > k_max_node_host)
        return false;
    for (const char c : m.host)
        if (c <= ' ' || c > '~')
            return false;
    return true;
}
} // namespace

std::error_code decode(std::span<const std::byte> datagram, header& h, node_info& out) noexcept {
    std::span<const std::byte> payload;
    if (auto ec = decode_typed(datagram, h, packet_type::node_info, payload))
        return ec;
    if (payload.size() < k_node_info_fixed)
        return errc::truncated;
    byte_reader r(payload);
    node_info m;
    m.udp_port = r.u16();
    m.control_port = r.u16();
    m.players = r.u16();
    m.max_players = r.u16();
    m.sections = r.u32();
    m.flags = r.u8();
    const std::size_t host_size = r.u8();
    if (r.remaining() != host_size)
        return errc::bad_length;
    const auto host = r.bytes(host_size);
    m.host = std::string_view(reinterpret_cast<const char*>(host.data()), host.size());
    if (!valid_node_info(m))
        return errc::bad_value;
    out = m;
    return {};
}

std::size_t encode(header h, const node_info& m, std::span<std::byte> out,
                   std::error_code& ec) noexcept {
    if (!valid_node_info(m)) {
        ec = errc::bad_value;
        return 0;
    }
    return write_datagram(h, packet_type::node_info, k_node_info_fixed + m.host.size(), out, ec,
                          [&](byte_writer& w) {
                              w.u16(m.udp_port);
                              w.u16(m.control_port);
                              w.u16(m.players);
                              w.u16(m.max_players);
                              w.u32(m.sections);
                              w.u8(m.flags);
                              w.u8(static_cast<std::uint8_t>(m.host.size()));
                              w.bytes(std::as_bytes(std::span(m.host.data(), m.host.size())));
                          });
}

namespace {
// Render samples far inside 64 bits (a century at 48 kHz is 1.5e14).
constexpr std::int64_t k_max_timing_sample = std::int64_t{1} << 56;
bool valid_tempo(double bpm) noexcept {
    return bpm >= 1.0 && bpm <= 1000.0; // false for a NaN
}
bool valid_timing_state(const timing_state& m) noexcept {
    if (m.version == 0 || static_cast<std::uint8_t>(m.mode) > 2 || m.flags != 0 ||
        !valid_tempo(m.tempo_bpm) || m.cycle_beats < 1 || m.cycle_beats > 256 ||
        m.cycle_origin < -k_max_timing_sample || m.cycle_origin > k_max_timing_sample ||
        m.piece_start < -1 || m.piece_start > k_max_timing_sample || m.change_at < -1 ||
        m.change_at > k_max_timing_sample || m.piece.size() > k_max_piece_name)
        return false;
    if (m.change_at >= 0 && (!valid_tempo(m.change_tempo_bpm) || m.change_cycle_beats < 1 ||
                             m.change_cycle_beats > 256))
        return false;
    if (m.change_at < 0 && (m.change_tempo_bpm != 0.0 || m.change_cycle_beats != 0))
        return false; // one encoding per state
    for (const char c : m.piece)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
            return false;
    return true;
}
} // namespace

std::error_code decode(std::span<const std::byte> datagram, header& h, timing_state& out) noexcept {
    std::span<const std::byte> payload;
    if (auto ec = decode_typed(datagram, h, packet_type::timing_state, payload))
        return ec;
    if (payload.size() < k_timing_state_fixed)
        return errc::truncated;
    byte_reader r(payload);
    timing_state m;
    m.version = r.u64();
    m.origin = r.u32();
    m.mode = static_cast<timing_mode>(r.u8());
    m.flags = r.u8();
    m.tempo_bpm = std::bit_cast<double>(r.u64());
    m.cycle_beats = r.u16();
    m.cycle_origin = r.i64();
    m.piece_start = r.i64();
    m.change_at = r.i64();
    m.change_tempo_bpm = std::bit_cast<double>(r.u64());
    m.change_cycle_beats = r.u16();
    const std::size_t name_size = r.u8();
    if (r.remaining() != name_size)
        return errc::bad_length;
    const auto name = r.bytes(name_size);
    m.piece = std::string_view(reinterpret_cast<const char*>(name.data()), name.size());
    if (!valid_timing_state(m))
        return errc::bad_value;
    out = m;
    return {};
}

std::size_t encode(header h, const timing_state& m, std::span<std::byte> out,
                   std::error_code& ec) noexcept {
    if (!valid_timing_state(m)) {
        ec = errc::bad_value;
        return 0;
    }
    return write_datagram(h, packet_type::timing_state, k_timing_state_fixed + m.piece.size(), out,
                          ec, [&](byte_writer& w) {
                              w.u64(m.version);
                              w.u32(m.origin);
                              w.u8(static_cast<std::uint8_t>(m.mode));
                              w.u8(m.flags);
                              w.u64(std::bit_cast<std::uint64_t>(m.tempo_bpm));
                              w.u16(m.cycle_beats);
                              w.i64(m.cycle_origin);
                              w.i64(m.piece_start);
                              w.i64(m.change_at);
                              w.u64(std::bit_cast<std::uint64_t>(m.change_tempo_bpm));
                              w.u16(m.change_cycle_beats);
                              w.u8(static_cast<std::uint8_t>(m.piece.size()));
                              w.bytes(std::as_bytes(std::span(m.piece.data(), m.piece.size())));
                          });
}

} // namespace gno::proto::v1
