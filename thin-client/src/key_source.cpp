#include "gno/client/key_source.hpp"

#include "gno/client/steady_time.hpp"

#include <algorithm>
#include <array>
#include <bitset>
#include <charconv>
#include <cmath>
#include <fstream>
#include <gno/proto/smf.hpp>
#include <iterator>
#include <thread>

namespace gno::client {
namespace {

constexpr std::int64_t k_ms_ns = 1'000'000;

std::vector<std::string> split(const std::string& s, char sep, std::size_t max_parts) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (out.size() + 1 < max_parts) {
        const auto next = s.find(sep, pos);
        if (next == std::string::npos)
            break;
        out.push_back(s.substr(pos, next - pos));
        pos = next + 1;
    }
    out.push_back(s.substr(pos));
    return out;
}

bool to_int(const std::string& s, long long lo, long long hi, long long& v) {
    const auto* end = s.data() + s.size();
    auto [p, ec] = std::from_chars(s.data(), end, v);
    return ec == std::errc{} && p == end && v >= lo && v <= hi;
}

void sort_events(note_pattern& p) {
    std::stable_sort(p.events.begin(), p.events.end(),
                     [](const note_event& a, const note_event& b) {
                         if (a.offset_ns != b.offset_ns)
                             return a.offset_ns < b.offset_ns;
                         return !a.on && b.on; // release before a re-strike at the same instant
                     });
    for (const auto& e : p.events)
        p.length_ns = std::max(p.length_ns, e.offset_ns);
}

void add_note(note_pattern& p, std::int64_t on_ns, std::int64_t off_ns, int key, int velocity) {
    if (key < 0 || key > 127)
        return;
    p.events.push_back(
        {on_ns, static_cast<std::uint8_t>(key), static_cast<std::uint8_t>(velocity), true});
    p.events.push_back({off_ns, static_cast<std::uint8_t>(key), 0, false});
}

} // namespace

note_pattern make_hold(std::uint8_t key, std::int64_t ms, std::uint8_t velocity) {
    note_pattern p;
    add_note(p, 0, ms * k_ms_ns, key, velocity);
    sort_events(p);
    return p;
}

note_pattern make_phrase(int notes, std::int64_t on_ms, std::int64_t off_ms) {
    // Two octaves of C major from C4 up, then back down, and again.
    static constexpr std::array<int, 15> k_scale = {60, 62, 64, 65, 67, 69, 71, 72,
                                                    74, 76, 77, 79, 81, 83, 84};
    constexpr int period = 2 * static_cast<int>(k_scale.size()) - 2;
    note_pattern p;
    for (int i = 0; i < notes; ++i) {
        const int step = i % period;
        const int idx = step < static_cast<int>(k_scale.size()) ? step : period - step;
        const std::int64_t on = i * (on_ms + off_ms) * k_ms_ns;
        add_note(p, on, on + on_ms * k_ms_ns, k_scale[static_cast<std::size_t>(idx)],
                 k_default_velocity);
    }
    sort_events(p);
    p.length_ns = static_cast<std::int64_t>(notes) * (on_ms + off_ms) * k_ms_ns;
    return p;
}

note_pattern make_round(int part, int repeats, double tempo_bpm) {
    // "Frère Jacques" (traditional, public domain): pitch (C5 = 72) and length in eighths.
    struct note {
        int key;
        int eighths;
    };
    static constexpr std::array<note, 32> k_melody = {{
        {72, 2}, {74, 2}, {76, 2}, {72, 2},                   // bar 1
        {72, 2}, {74, 2}, {76, 2}, {72, 2},                   // bar 2
        {76, 2}, {77, 2}, {79, 4},                            // bar 3
        {76, 2}, {77, 2}, {79, 4},                            // bar 4
        {79, 1}, {81, 1}, {79, 1}, {77, 1}, {76, 2}, {72, 2}, // bar 5
        {79, 1}, {81, 1}, {79, 1}, {77, 1}, {76, 2}, {72, 2}, // bar 6
        {72, 2}, {67, 2}, {72, 4},                            // bar 7
        {72, 2}, {67, 2}, {72, 4},                            // bar 8
    }};
    const double eighth_ns = 60e9 / tempo_bpm / 2.0;
    const int transpose = -12 * (part / 4);
    const std::int64_t entry_eighths = 2 * 8 * (part % 4); // two bars of 4/4 per voice
    note_pattern p;
    std::int64_t at = entry_eighths;
    for (int r = 0; r < repeats; ++r) {
        for (const auto& n : k_melody) {
            const auto on =
                static_cast<std::int64_t>(std::llround(static_cast<double>(at) * eighth_ns));
            const auto len = static_cast<std::int64_t>(std::llround(n.eighths * eighth_ns));
            // Gate 90 % so repeated pitches are re-articulated.
            add_note(p, on, on + len * 9 / 10, n.key + transpose, k_default_velocity);
            at += n.eighths;
        }
    }
    sort_events(p);
    p.length_ns = static_cast<std::int64_t>(std::llround(static_cast<double>(at) * eighth_ns));
    return p;
}

std::optional<note_pattern> make_smf_pattern(const std::vector<std::byte>& file_bytes, int track,
                                             std::string& error) {
    proto::smf::file f;
    std::size_t where = 0;
    if (auto ec = proto::smf::parse(file_bytes, f, &where)) {
        error = ec.message() + " (at byte " + std::to_string(where) + ")";
        return std::nullopt;
    }
    if (track >= static_cast<int>(f.tracks.size())) {
        error = "the MIDI file has " + std::to_string(f.tracks.size()) + " tracks; TRACK is 0.." +
                std::to_string(f.tracks.size() - 1);
        return std::nullopt;
    }
    note_pattern p;
    for (std::size_t t = 0; t < f.tracks.size(); ++t) {
        if (track >= 0 && static_cast<std::size_t>(track) != t)
            continue;
        for (const auto& n : f.tracks[t].notes) {
            const auto at = static_cast<std::int64_t>(std::llround(n.seconds * 1e9));
            p.events.push_back({at, n.key, n.on ? n.velocity : std::uint8_t{0}, n.on});
        }
    }
    if (p.events.empty()) {
        error = "the MIDI file (or the chosen track) has no notes";
        return std::nullopt;
    }
    sort_events(p);
    return p;
}

std::optional<play_spec> parse_play_spec(const std::string& spec, double tempo_bpm,
                                         std::string& error) {
    play_spec out;
    const auto kind = spec.substr(0, spec.find(':'));
    long long a = 0;
    long long b = 0;
    long long c = 0;
    if (kind == "keyboard" && spec == "keyboard") {
        out.keyboard = true;
        return out;
    }
    if (kind == "midi" && spec == "midi") {
        out.live_only = true;
        return out;
    }
    if (kind == "hold") {
        const auto parts = split(spec, ':', 4);
        c = k_default_velocity;
        if (parts.size() < 3 || !to_int(parts[1], 0, 127, a) ||
            !to_int(parts[2], 1, 3'600'000, b) ||
            (parts.size() == 4 && !to_int(parts[3], 1, 127, c))) {
            error = "bad --play " + spec + "; use hold:KEY:MS[:VEL], e.g. hold:69:1000";
            return std::nullopt;
        }
        out.pattern = make_hold(static_cast<std::uint8_t>(a), b, static_cast<std::uint8_t>(c));
        return out;
    }
    if (kind == "phrase") {
        const auto parts = split(spec, ':', 4);
        b = 150;
        c = 100;
        if (parts.size() == 3 || parts.size() < 2 || !to_int(parts[1], 1, 10'000, a) ||
            (parts.size() == 4 &&
             (!to_int(parts[2], 1, 60'000, b) || !to_int(parts[3], 0, 60'000, c)))) {
            error = "bad --play " + spec + "; use phrase:N[:ON_MS:OFF_MS], e.g. phrase:16:150:100";
            return std::nullopt;
        }
        out.pattern = make_phrase(static_cast<int>(a), b, c);
        return out;
    }
    if (kind == "round") {
        const auto parts = split(spec, ':', 3);
        b = 2;
        if (parts.size() < 2 || !to_int(parts[1], 0, 39, a) ||
            (parts.size() == 3 && !to_int(parts[2], 1, 100, b))) {
            error =
                "bad --play " + spec + "; use round:PART[:REPEATS] with PART 0..39, e.g. round:0:2";
            return std::nullopt;
        }
        out.pattern = make_round(static_cast<int>(a), static_cast<int>(b), tempo_bpm);
        return out;
    }
    if (kind == "smf") {
        auto path = spec.substr(4);
        long long track = -1;
        // An optional :TRACK suffix (a path may itself contain ':', so only a numeric tail).
        if (const auto colon = path.rfind(':'); colon != std::string::npos) {
            long long t = 0;
            if (to_int(path.substr(colon + 1), 0, 65535, t)) {
                track = t;
                path.resize(colon);
            }
        }
        std::ifstream in(path, std::ios::binary);
        if (path.empty() || !in) {
            error = "cannot read MIDI file '" + path + "'; use smf:FILE[:TRACK]";
            return std::nullopt;
        }
        std::vector<char> raw;
        raw.reserve(4096);
        char ch = 0;
        while (raw.size() <= proto::smf::k_max_file_bytes && in.get(ch))
            raw.push_back(ch);
        std::vector<std::byte> bytes(raw.size());
        std::transform(raw.begin(), raw.end(), bytes.begin(),
                       [](char x) { return static_cast<std::byte>(x); });
        std::string why;
        auto p = make_smf_pattern(bytes, static_cast<int>(track), why);
        if (!p) {
            error = path + ": " + why;
            return std::nullopt;
        }
        out.pattern = std::move(*p);
        return out;
    }
    error = "unknown --play " + spec +
            "; use hold:KEY:MS[:VEL], phrase:N[:ON_MS:OFF_MS], round:PART[:REPEATS], "
            "smf:FILE[:TRACK], keyboard or midi";
    return std::nullopt;
}

void play_pattern(const note_pattern& pattern, std::int64_t start_local_ns, key_sink& sink,
                  const std::atomic<bool>& stop) {
    std::bitset<128> held;
    for (const auto& e : pattern.events) {
        const std::int64_t at = start_local_ns + e.offset_ns;
        // Sleep in short steps so a stop request is seen promptly.
        while (!stop.load(std::memory_order_relaxed)) {
            const std::int64_t left = at - steady_now_ns();
            if (left <= 0)
                break;
            std::this_thread::sleep_for(
                std::chrono::nanoseconds(std::min<std::int64_t>(left, 20 * k_ms_ns)));
        }
        if (stop.load(std::memory_order_relaxed))
            break;
        if (e.on) {
            sink.key_down(e.key, e.velocity, at);
            held.set(e.key);
        } else if (held.test(e.key)) {
            sink.key_up(e.key, at);
            held.reset(e.key);
        }
    }
    const std::int64_t now = steady_now_ns();
    for (int k = 0; k < 128; ++k)
        if (held.test(static_cast<std::size_t>(k)))
            sink.key_up(static_cast<std::uint8_t>(k), now);
}

} // namespace gno::client
