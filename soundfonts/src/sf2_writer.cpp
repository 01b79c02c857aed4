#include "gno/soundfonts/sf2_writer.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace gno::soundfonts {
namespace {

// SF2 2.01 section 8.1.2: the generators this writer uses.
enum gen : std::uint16_t {
    k_pan = 17,
    k_delay_vol_env = 33,
    k_attack_vol_env = 34,
    k_hold_vol_env = 35,
    k_decay_vol_env = 36,
    k_sustain_vol_env = 37,
    k_release_vol_env = 38,
    k_instrument = 41,
    k_key_range = 43,
    k_initial_attenuation = 48,
    k_sample_id = 53,
    k_sample_modes = 54,
    k_exclusive_class = 57,
    k_overriding_root_key = 58,
};

constexpr std::size_t k_name_size = 20;
constexpr std::uint32_t k_zero_tail = 46; // zero samples after each sample (section 6.1)
constexpr std::uint16_t k_mono_sample = 1;

class byte_writer {
public:
    void u8(std::uint8_t v) { out_.push_back(static_cast<std::byte>(v)); }
    void u16(std::uint16_t v) {
        u8(static_cast<std::uint8_t>(v));
        u8(static_cast<std::uint8_t>(v >> 8));
    }
    void i16(std::int16_t v) { u16(static_cast<std::uint16_t>(v)); }
    void u32(std::uint32_t v) {
        u16(static_cast<std::uint16_t>(v));
        u16(static_cast<std::uint16_t>(v >> 16));
    }
    void fourcc(const char (&id)[5]) {
        for (int i = 0; i < 4; ++i)
            u8(static_cast<std::uint8_t>(id[i]));
    }
    /// A fixed-size ASCII name, zero-filled (at least one zero byte at the end).
    void name(const std::string& s) {
        std::size_t i = 0;
        for (; i < s.size() && i + 1 < k_name_size; ++i) {
            const auto c = static_cast<unsigned char>(s[i]);
            u8(c >= 32 && c < 127 ? c : '_');
        }
        for (; i < k_name_size; ++i)
            u8(0);
    }
    /// Starts a chunk; returns the position of its size field for end_chunk.
    std::size_t begin_chunk(const char (&id)[5]) {
        fourcc(id);
        const std::size_t at = out_.size();
        u32(0);
        return at;
    }
    void end_chunk(std::size_t size_at) {
        const auto size = static_cast<std::uint32_t>(out_.size() - size_at - 4);
        for (int i = 0; i < 4; ++i)
            out_[size_at + static_cast<std::size_t>(i)] = static_cast<std::byte>(size >> (8 * i));
        if (size % 2 != 0)
            u8(0); // RIFF pads odd chunks to a word
    }
    /// A zero-terminated string chunk padded to an even length (INFO sub-chunks).
    void text_chunk(const char (&id)[5], const std::string& s) {
        const auto at = begin_chunk(id);
        for (const char c : s)
            u8(static_cast<std::uint8_t>(c));
        u8(0);
        if (s.size() % 2 == 0)
            u8(0);
        end_chunk(at);
    }
    [[nodiscard]] std::size_t size() const { return out_.size(); }
    std::vector<std::byte> take() { return std::move(out_); }

private:
    std::vector<std::byte> out_;
};

struct generator {
    std::uint16_t oper;
    std::uint16_t amount;
};

std::uint16_t range(int lo, int hi) {
    return static_cast<std::uint16_t>((lo & 0xFF) | ((hi & 0xFF) << 8));
}
std::uint16_t word(int v) {
    return static_cast<std::uint16_t>(static_cast<std::int16_t>(v));
}
std::uint16_t centibels(double db) {
    return static_cast<std::uint16_t>(std::lround(std::clamp(db, 0.0, 144.0) * 10.0));
}

// The generators of one instrument zone, in the order the specification requires: keyRange
// first, sampleID last.
std::vector<generator> zone_generators(const sf2_zone& z, const sf2_sample& s) {
    std::vector<generator> g;
    g.push_back({k_key_range, range(z.key_lo, z.key_hi)});
    const auto& e = z.envelope;
    g.push_back({k_attack_vol_env, word(timecents(e.attack_s))});
    if (e.hold_s > 0)
        g.push_back({k_hold_vol_env, word(timecents(e.hold_s))});
    if (e.decay_s > 0)
        g.push_back({k_decay_vol_env, word(timecents(e.decay_s))});
    if (e.sustain_db > 0)
        g.push_back({k_sustain_vol_env, centibels(e.sustain_db)});
    g.push_back({k_release_vol_env, word(timecents(e.release_s))});
    if (z.attenuation_db > 0)
        g.push_back({k_initial_attenuation, centibels(z.attenuation_db)});
    if (z.exclusive_class > 0)
        g.push_back({k_exclusive_class, word(z.exclusive_class)});
    g.push_back({k_sample_modes, word(z.loop && s.loop ? 1 : 0)});
    g.push_back({k_overriding_root_key, word(z.root_key >= 0 ? z.root_key : s.root_key)});
    g.push_back({k_sample_id, word(z.sample)});
    return g;
}

std::string validate(const sf2_bank& bank) {
    if (bank.presets.empty())
        return "an SF2 needs at least one preset";
    if (bank.samples.empty())
        return "an SF2 needs at least one sample";
    if (bank.samples.size() > 0xFFFF || bank.presets.size() > 0xFFFF)
        return "too many samples or presets for an SF2";
    std::uint64_t points = 0;
    for (const auto& s : bank.samples) {
        if (s.pcm.size() < 8)
            return "sample '" + s.name + "' is shorter than 8 sample frames";
        if (s.sample_rate < 8000 || s.sample_rate > 192000)
            return "sample '" + s.name + "': rate " + std::to_string(s.sample_rate) +
                   " Hz is outside 8000..192000";
        if (s.root_key < 0 || s.root_key > 127)
            return "sample '" + s.name + "': root key must be 0..127";
        if (s.tune_cents < -99 || s.tune_cents > 99)
            return "sample '" + s.name + "': tuning must be -99..99 cents";
        if (s.loop && (s.loop->end > s.pcm.size() || s.loop->start + 8 > s.loop->end))
            return "sample '" + s.name + "': the loop must lie inside the sample and be at " +
                   "least 8 frames long";
        points += s.pcm.size() + k_zero_tail;
    }
    // smpl's size is a 32-bit byte count; sample positions are 32-bit too.
    if (points * 2 > std::numeric_limits<std::uint32_t>::max() - 1024)
        return "the samples are too long for an SF2 (4 GB)";
    std::size_t gens = 0;
    for (const auto& p : bank.presets) {
        if (p.bank < 0 || p.bank > 16383 || p.program < 0 || p.program > 127)
            return "preset '" + p.name + "': bank must be 0..16383 and program 0..127";
        if (p.zones.empty())
            return "preset '" + p.name + "' has no zones";
        for (const auto& z : p.zones) {
            if (z.sample < 0 || static_cast<std::size_t>(z.sample) >= bank.samples.size())
                return "preset '" + p.name + "': a zone names a sample that does not exist";
            if (z.key_lo < 0 || z.key_hi > 127 || z.key_lo > z.key_hi)
                return "preset '" + p.name + "': key ranges must be 0 <= lo <= hi <= 127";
            if (z.root_key > 127)
                return "preset '" + p.name + "': root key must be 0..127";
            if (z.exclusive_class < 0 || z.exclusive_class > 127)
                return "preset '" + p.name + "': exclusive class must be 0..127";
            gens += 12;
        }
    }
    if (gens > 0xFFFF)
        return "too many zones for an SF2";
    for (const auto& p : bank.presets)
        for (const auto& q : bank.presets)
            if (&p != &q && p.bank == q.bank && p.program == q.program)
                return "two presets share bank " + std::to_string(p.bank) + " program " +
                       std::to_string(p.program);
    return {};
}

} // namespace

std::int16_t timecents(double seconds) noexcept {
    // -12000 (1 ms) .. 8000 (100 s) covers what players honour for envelope times.
    if (!(seconds > 0.001))
        return -12000;
    return static_cast<std::int16_t>(
        std::clamp(std::lround(1200.0 * std::log2(seconds)), -12000L, 8000L));
}

std::vector<std::int16_t> to_pcm16(std::span<const float> samples) {
    std::vector<std::int16_t> out(samples.size());
    for (std::size_t i = 0; i < samples.size(); ++i) {
        const float x = samples[i];
        const float c = x == x ? std::clamp(x, -1.0f, 1.0f) : 0.0f;
        out[i] = static_cast<std::int16_t>(std::lround(c * 32767.0f));
    }
    return out;
}

std::string sf2_layout_error(std::istream& in) {
    in.clear();
    in.seekg(0, std::ios::end);
    const auto end = in.tellg();
    if (end < 0)
        return "unreadable";
    const auto size = static_cast<std::uint64_t>(end);
    in.seekg(0);
    auto read_header = [&](std::uint64_t at, char(&id)[5], std::uint32_t& n, char(&kind)[5]) {
        unsigned char h[12] = {};
        in.seekg(static_cast<std::streamoff>(at));
        in.read(reinterpret_cast<char*>(h), 12);
        if (!in)
            return false;
        std::memcpy(id, h, 4);
        std::memcpy(kind, h + 8, 4);
        n = static_cast<std::uint32_t>(h[4] | (h[5] << 8) | (h[6] << 16)) |
            (static_cast<std::uint32_t>(h[7]) << 24);
        return true;
    };
    char id[5] = {}, kind[5] = {};
    std::uint32_t riff = 0;
    if (size < 12 || !read_header(0, id, riff, kind) || std::string(id) != "RIFF" ||
        std::string(kind) != "sfbk")
        return "not an SF2 file (no RIFF sfbk header)";
    if (riff + std::uint64_t{8} > size)
        return "truncated: its header says " + std::to_string(riff + std::uint64_t{8}) +
               " bytes, the file has " + std::to_string(size);
    bool info = false, sdta = false, pdta = false;
    for (std::uint64_t at = 12; at + 8 <= riff + std::uint64_t{8};) {
        std::uint32_t n = 0;
        if (!read_header(at, id, n, kind))
            return "truncated at byte " + std::to_string(at);
        if (at + 8 + n > riff + std::uint64_t{8})
            return "damaged: chunk '" + std::string(id) + "' at byte " + std::to_string(at) +
                   " runs past the end";
        if (std::string(id) == "LIST") {
            info = info || std::string(kind) == "INFO";
            sdta = sdta || std::string(kind) == "sdta";
            pdta = pdta || std::string(kind) == "pdta";
        }
        at += 8 + n + n % 2;
    }
    if (!info || !sdta || !pdta)
        return "not a complete SF2 (it lacks the INFO, sdta or pdta list)";
    return {};
}

std::vector<std::byte> write_sf2(const sf2_bank& bank, std::string& error) {
    error = validate(bank);
    if (!error.empty())
        return {};

    byte_writer w;
    const auto riff = w.begin_chunk("RIFF");
    w.fourcc("sfbk");

    const auto info = w.begin_chunk("LIST");
    w.fourcc("INFO");
    const auto ifil = w.begin_chunk("ifil");
    w.u16(2);
    w.u16(1);
    w.end_chunk(ifil);
    w.text_chunk("isng", "EMU8000");
    w.text_chunk("INAM", bank.name.empty() ? std::string("gno") : bank.name.substr(0, 200));
    w.text_chunk("ISFT", "gno-soundfonts");
    w.end_chunk(info);

    // Sample data: each sample, then 46 zero points; positions in sample points from smpl's start.
    struct placed {
        std::uint32_t start, end, loop_start, loop_end;
    };
    std::vector<placed> where;
    where.reserve(bank.samples.size());
    const auto sdta = w.begin_chunk("LIST");
    w.fourcc("sdta");
    const auto smpl = w.begin_chunk("smpl");
    std::uint32_t pos = 0;
    for (const auto& s : bank.samples) {
        for (const auto v : s.pcm)
            w.i16(v);
        for (std::uint32_t i = 0; i < k_zero_tail; ++i)
            w.i16(0);
        const auto n = static_cast<std::uint32_t>(s.pcm.size());
        // A sample without a loop still names one inside it (players check the points).
        const sample_loop l = s.loop ? *s.loop : sample_loop{0, n};
        where.push_back({pos, pos + n, pos + l.start, pos + l.end});
        pos += n + k_zero_tail;
    }
    w.end_chunk(smpl);
    w.end_chunk(sdta);

    const auto pdta = w.begin_chunk("LIST");
    w.fourcc("pdta");

    // Presets: one zone each, naming the instrument of the same index.
    const auto phdr = w.begin_chunk("phdr");
    for (std::size_t i = 0; i < bank.presets.size(); ++i) {
        const auto& p = bank.presets[i];
        w.name(p.name);
        w.u16(static_cast<std::uint16_t>(p.program));
        w.u16(static_cast<std::uint16_t>(p.bank));
        w.u16(static_cast<std::uint16_t>(i)); // wPresetBagNdx
        w.u32(0);                             // dwLibrary
        w.u32(0);                             // dwGenre
        w.u32(0);                             // dwMorphology
    }
    w.name("EOP");
    w.u16(0);
    w.u16(0);
    w.u16(static_cast<std::uint16_t>(bank.presets.size()));
    w.u32(0);
    w.u32(0);
    w.u32(0);
    w.end_chunk(phdr);

    const auto pbag = w.begin_chunk("pbag");
    for (std::size_t i = 0; i <= bank.presets.size(); ++i) {
        w.u16(static_cast<std::uint16_t>(i)); // one generator (instrument) per preset zone
        w.u16(0);
    }
    w.end_chunk(pbag);

    const auto pmod = w.begin_chunk("pmod");
    for (int i = 0; i < 10; ++i)
        w.u8(0); // terminal record only
    w.end_chunk(pmod);

    const auto pgen = w.begin_chunk("pgen");
    for (std::size_t i = 0; i < bank.presets.size(); ++i) {
        w.u16(k_instrument);
        w.u16(static_cast<std::uint16_t>(i));
    }
    w.u32(0);
    w.end_chunk(pgen);

    // Instruments: a zone per preset zone, its generators in the required order.
    std::vector<std::vector<generator>> zone_gens;
    std::vector<std::uint16_t> inst_bag;
    for (const auto& p : bank.presets) {
        inst_bag.push_back(static_cast<std::uint16_t>(zone_gens.size()));
        for (const auto& z : p.zones)
            zone_gens.push_back(
                zone_generators(z, bank.samples[static_cast<std::size_t>(z.sample)]));
    }
    const auto inst = w.begin_chunk("inst");
    for (std::size_t i = 0; i < bank.presets.size(); ++i) {
        w.name(bank.presets[i].name);
        w.u16(inst_bag[i]);
    }
    w.name("EOI");
    w.u16(static_cast<std::uint16_t>(zone_gens.size()));
    w.end_chunk(inst);

    const auto ibag = w.begin_chunk("ibag");
    std::size_t gen_index = 0;
    for (const auto& g : zone_gens) {
        w.u16(static_cast<std::uint16_t>(gen_index));
        w.u16(0);
        gen_index += g.size();
    }
    w.u16(static_cast<std::uint16_t>(gen_index));
    w.u16(0);
    w.end_chunk(ibag);

    const auto imod = w.begin_chunk("imod");
    for (int i = 0; i < 10; ++i)
        w.u8(0);
    w.end_chunk(imod);

    const auto igen = w.begin_chunk("igen");
    for (const auto& gens : zone_gens)
        for (const auto& g : gens) {
            w.u16(g.oper);
            w.u16(g.amount);
        }
    w.u32(0);
    w.end_chunk(igen);

    const auto shdr = w.begin_chunk("shdr");
    for (std::size_t i = 0; i < bank.samples.size(); ++i) {
        const auto& s = bank.samples[i];
        w.name(s.name.empty() ? "sample" + std::to_string(i) : s.name);
        w.u32(where[i].start);
        w.u32(where[i].end);
        w.u32(where[i].loop_start);
        w.u32(where[i].loop_end);
        w.u32(static_cast<std::uint32_t>(s.sample_rate));
        w.u8(static_cast<std::uint8_t>(s.root_key));
        w.u8(static_cast<std::uint8_t>(static_cast<std::int8_t>(s.tune_cents)));
        w.u16(0); // wSampleLink
        w.u16(k_mono_sample);
    }
    w.name("EOS");
    for (int i = 0; i < 26; ++i)
        w.u8(0);
    w.end_chunk(shdr);

    w.end_chunk(pdta);
    w.end_chunk(riff);
    return w.take();
}

} // namespace gno::soundfonts
