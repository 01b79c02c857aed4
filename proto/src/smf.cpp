#include "gno/proto/smf.hpp"

#include "gno/proto/byte_io.hpp"

#include <algorithm>
#include <new>
#include <string>

namespace gno::proto::smf {
namespace {

class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "gno.smf"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
        case errc::truncated:
            return "MIDI file truncated";
        case errc::not_smf:
            return "not a Standard MIDI File (no MThd header)";
        case errc::bad_header:
            return "malformed MIDI file header";
        case errc::unsupported_format:
            return "MIDI file format 2 is not supported";
        case errc::unsupported_division:
            return "SMPTE or zero time division is not supported";
        case errc::bad_chunk:
            return "malformed MIDI file chunk";
        case errc::bad_varlen:
            return "malformed variable-length quantity";
        case errc::bad_event:
            return "malformed MIDI event";
        case errc::too_large:
            return "MIDI file too large";
        }
        return "unknown gno.smf error";
    }
};

constexpr std::uint32_t k_mthd = 0x4D546864; // "MThd"
constexpr std::uint32_t k_mtrk = 0x4D54726B; // "MTrk"

/// Cursor over one chunk; every read is bounds-checked and reports where it failed.
struct cursor {
    std::span<const std::byte> bytes;
    std::size_t pos = 0;
    std::size_t base = 0; // offset of `bytes` in the file, for error reporting

    [[nodiscard]] bool at_end() const noexcept { return pos >= bytes.size(); }
    bool u8(std::uint8_t& v) noexcept {
        if (pos >= bytes.size())
            return false;
        v = static_cast<std::uint8_t>(bytes[pos++]);
        return true;
    }
    bool skip(std::uint64_t n) noexcept {
        if (bytes.size() - pos < n)
            return false;
        pos += static_cast<std::size_t>(n);
        return true;
    }
    /// Variable-length quantity: at most 4 bytes (28 bits).
    std::error_code varlen(std::uint32_t& v) noexcept {
        v = 0;
        for (int i = 0; i < 4; ++i) {
            std::uint8_t b = 0;
            if (!u8(b))
                return errc::truncated;
            v = (v << 7) | (b & 0x7Fu);
            if ((b & 0x80u) == 0)
                return {};
        }
        return errc::bad_varlen;
    }
};

/// Where kept events go (parse_options::keep_events), and how many there are in all tracks.
struct event_sink {
    bool keep = false;
    std::size_t total = 0;
    bool add(track& t, const raw_event& e) {
        if (!keep)
            return true;
        if (total >= k_max_events)
            return false;
        ++total;
        t.events.push_back(e);
        return true;
    }
};

std::error_code parse_track(cursor& c, track& out, std::vector<tempo_change>& tempo,
                            std::size_t& total_notes, event_sink& kept) {
    std::uint64_t tick = 0;
    std::uint8_t running = 0; // running status; 0 = none
    while (!c.at_end()) {
        std::uint32_t delta = 0;
        if (auto ec = c.varlen(delta))
            return ec;
        tick += delta;
        std::uint8_t b = 0;
        if (!c.u8(b))
            return errc::truncated;
        if (b == 0xFF) { // meta: type, length, data
            std::uint8_t type = 0;
            if (!c.u8(type))
                return errc::truncated;
            std::uint32_t len = 0;
            if (auto ec = c.varlen(len))
                return ec;
            const std::size_t data_pos = c.pos;
            if (!c.skip(len))
                return errc::truncated;
            if (type == 0x51 && len == 3) {
                if (tempo.size() >= k_max_tempo_changes)
                    return errc::too_large;
                const auto* d = c.bytes.data() + data_pos;
                const std::uint32_t us = (static_cast<std::uint32_t>(d[0]) << 16) |
                                         (static_cast<std::uint32_t>(d[1]) << 8) |
                                         static_cast<std::uint32_t>(d[2]);
                if (us > 0)
                    tempo.push_back({tick, us});
            }
            if (!kept.add(out, {tick, 0xFF, type, 0, 0,
                                static_cast<std::uint32_t>(c.base + data_pos), len}))
                return errc::too_large;
            if (type == 0x2F) // end of track: ignore anything after it in the chunk
                return {};
            running = 0; // meta and sysex cancel running status
            continue;
        }
        if (b == 0xF0 || b == 0xF7) { // sysex / escape: length, data
            std::uint32_t len = 0;
            if (auto ec = c.varlen(len))
                return ec;
            const std::size_t data_pos = c.pos;
            if (!c.skip(len))
                return errc::truncated;
            if (!kept.add(out,
                          {tick, b, 0, 0, 0, static_cast<std::uint32_t>(c.base + data_pos), len}))
                return errc::too_large;
            running = 0;
            continue;
        }
        if (b >= 0xF1) // system common / real-time bytes have no place in a file
            return errc::bad_event;

        std::uint8_t status = running;
        std::uint8_t d1 = 0;
        if (b & 0x80u) {
            status = b;
            if (!c.u8(d1))
                return errc::truncated;
        } else {
            if (running == 0)
                return errc::bad_event;
            d1 = b;
        }
        running = status;
        const std::uint8_t kind = status & 0xF0u;
        std::uint8_t d2 = 0;
        if (kind != 0xC0 && kind != 0xD0) {
            if (!c.u8(d2))
                return errc::truncated;
        }
        if ((d1 | d2) & 0x80u)
            return errc::bad_event;
        if (!kept.add(out, {tick, status, 0, d1, d2, 0, 0}))
            return errc::too_large;
        if (kind == 0x80 || kind == 0x90) {
            if (total_notes >= k_max_notes)
                return errc::too_large;
            ++total_notes;
            note_event n;
            n.tick = tick;
            n.channel = status & 0x0Fu;
            n.key = d1;
            n.on = kind == 0x90 && d2 > 0;
            n.velocity = n.on ? d2 : 0;
            out.notes.push_back(n);
        }
    }
    return {}; // a track without end-of-track meta is accepted if the chunk is complete
}

std::error_code parse_impl(std::span<const std::byte> bytes, file& out, std::size_t& where,
                           parse_options options) {
    where = 0;
    if (bytes.size() > k_max_file_bytes)
        return errc::too_large;
    if (bytes.size() < 8)
        return bytes.size() < 4 ? errc::truncated : errc::not_smf;
    byte_reader r(bytes);
    if (r.u32() != k_mthd)
        return errc::not_smf;
    const std::uint32_t header_len = r.u32();
    where = 8;
    if (header_len < 6)
        return errc::bad_header;
    if (bytes.size() - 8 < header_len)
        return errc::truncated;
    const std::uint16_t format = r.u16();
    const std::uint16_t ntracks = r.u16();
    const std::uint16_t division = r.u16();
    if (format > 1)
        return format == 2 ? errc::unsupported_format : errc::bad_header;
    if (ntracks == 0 || (format == 0 && ntracks != 1))
        return errc::bad_header;
    if (ntracks > k_max_tracks)
        return errc::too_large;
    if ((division & 0x8000u) || division == 0)
        return errc::unsupported_division;

    file f;
    f.format = format;
    f.ticks_per_quarter = division;
    std::size_t pos = 8 + header_len;
    std::size_t total_notes = 0;
    event_sink kept{options.keep_events};
    while (f.tracks.size() < ntracks) {
        where = pos;
        if (bytes.size() - pos < 8)
            return errc::truncated;
        byte_reader ch(bytes.subspan(pos, 8));
        const std::uint32_t id = ch.u32();
        const std::uint32_t len = ch.u32();
        pos += 8;
        if (bytes.size() - pos < len)
            return errc::truncated;
        if (id == k_mtrk) {
            cursor c{bytes.subspan(pos, len), 0, pos};
            track t;
            if (auto ec = parse_track(c, t, f.tempo_map, total_notes, kept)) {
                where = c.base + c.pos;
                return ec;
            }
            f.tracks.push_back(std::move(t));
        }
        // Unknown chunk types are skipped, as the SMF spec asks.
        pos += len;
    }
    std::stable_sort(f.tempo_map.begin(), f.tempo_map.end(),
                     [](const tempo_change& a, const tempo_change& b) { return a.tick < b.tick; });
    // One merged walk per track (notes are in tick order): linear, not notes x tempo changes.
    const double tpq = f.ticks_per_quarter;
    for (auto& t : f.tracks) {
        std::size_t ti = 0;
        std::uint64_t seg_tick = 0;
        double seg_seconds = 0.0;
        double us_per_quarter = 500'000.0;
        for (auto& n : t.notes) {
            while (ti < f.tempo_map.size() && f.tempo_map[ti].tick < n.tick) {
                seg_seconds += static_cast<double>(f.tempo_map[ti].tick - seg_tick) *
                               us_per_quarter / tpq * 1e-6;
                seg_tick = f.tempo_map[ti].tick;
                us_per_quarter = f.tempo_map[ti].us_per_quarter;
                ++ti;
            }
            n.seconds =
                seg_seconds + static_cast<double>(n.tick - seg_tick) * us_per_quarter / tpq * 1e-6;
        }
    }
    out = std::move(f);
    return {};
}

} // namespace

const std::error_category& smf_category() noexcept {
    static const category c;
    return c;
}

std::error_code parse(std::span<const std::byte> bytes, file& out, std::size_t* error_offset,
                      parse_options options) noexcept {
    std::size_t where = 0;
    std::error_code ec;
    try {
        ec = parse_impl(bytes, out, where, options);
    } catch (const std::bad_alloc&) {
        ec = errc::too_large;
    }
    if (ec) {
        out = file{};
        out.tracks.clear();
    }
    if (error_offset)
        *error_offset = where;
    return ec;
}

double ticks_to_seconds(const std::vector<tempo_change>& tempo_map, std::uint16_t ticks_per_quarter,
                        std::uint64_t tick) noexcept {
    if (ticks_per_quarter == 0)
        return 0.0;
    const double tpq = ticks_per_quarter;
    double seconds = 0.0;
    std::uint64_t seg_tick = 0;
    double us_per_quarter = 500'000.0;
    for (const auto& t : tempo_map) {
        if (t.tick >= tick)
            break;
        seconds += static_cast<double>(t.tick - seg_tick) * us_per_quarter / tpq * 1e-6;
        seg_tick = t.tick;
        us_per_quarter = t.us_per_quarter;
    }
    seconds += static_cast<double>(tick - seg_tick) * us_per_quarter / tpq * 1e-6;
    return seconds;
}

} // namespace gno::proto::smf
