// libFuzzer target: gno-server's command line (server_options.hpp). The input is the argument
// list, each argument ended by a NUL byte (the last one may run to the end). The parser must
// never throw, crash or hang; it refuses with a reason, and what it accepts must be a
// configuration within the ranges --help promises.
#include "gno/render/server_options.hpp"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace r = gno::render;

namespace {

bool in(double v, double lo, double hi) {
    return v >= lo && v <= hi; // false for NaN
}

bool plausible(const r::server_args& a) {
    const auto& c = a.cfg;
    const auto f = c.frame_samples;
    if (f != 120 && f != 240 && f != 480 && f != 960)
        return false;
    if (!in(c.max_players, 1, 1024) || !in(c.bitrate, 6000, 510000) || !in(c.complexity, 0, 10) ||
        !in(c.listen_bitrate, 16000, 256000) ||
        !in(static_cast<double>(c.silence_timeout.count()), 50, 60000) ||
        !in(static_cast<double>(c.timing.uplink_budget.count()), 0, 2000))
        return false;
    if (c.render_threads != 0 && !in(c.render_threads, 1, 64))
        return false;
    if (!in(c.timing.tempo_bpm, 20, 400) || !in(c.timing.cycle_beats, 1, 256))
        return false;
    if (c.timing.change.at >= 0 &&
        (c.timing.change.at <= c.timing.cycle_origin || !in(c.timing.change.tempo_bpm, 20, 400) ||
         !in(c.timing.change.cycle_beats, 1, 256)))
        return false;
    if (!in(c.own_level, 0, 2) || !in(c.other_sections_level, 0.0009, 4.0))
        return false;
    if (c.control.address != c.listen_address || c.soundfont.empty())
        return false;
    if (!c.venue.jack && (c.venue.stems || !c.venue.connect || c.venue.client_name != "gno-server"))
        return false;
    if (c.venue.client_name.empty())
        return false;
    for (const auto& code : c.control.codes)
        if (!in(static_cast<double>(code.code.size()), 4, 128) || !in(code.program, 0, 127) ||
            (code.bank != 0 && code.bank != 128) || !in(code.max_members, 0, 65535))
            return false;
    return !a.duration_s || in(*a.duration_s, 1, 7 * 24 * 3600);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::vector<std::string_view> args;
    for (std::size_t from = 0; from < text.size();) {
        const auto nul = text.find('\0', from);
        const auto end = nul == std::string_view::npos ? text.size() : nul;
        args.push_back(text.substr(from, end - from));
        from = end + 1;
    }
    const auto a = r::parse_server_args(args);
    if (!a.error.empty())
        return 0;
    if (!a.help && !plausible(a))
        std::abort();
    return 0;
}
