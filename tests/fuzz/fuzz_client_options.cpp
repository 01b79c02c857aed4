// libFuzzer target: gno-client's command line (cli_options.hpp). The input is the argument
// list, each argument ended by a NUL byte (the last one may run to the end). The parser must
// never throw, crash or hang; it refuses with a reason, and what it accepts must be within the
// ranges --help promises and free of the combinations it refuses.
#include "gno/client/cli_options.hpp"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace c = gno::client;

namespace {

bool in(double v, double lo, double hi) {
    return v >= lo && v <= hi; // false for NaN
}

bool plausible(const c::client_options& o) {
    if (o.port == 0 || o.control_port == 0 || o.program > 127 || o.bank > 16383)
        return false;
    if (!in(o.tempo_bpm, 20, 400) || !in(o.clock_offset_ms, -86'400'000, 86'400'000) ||
        !in(o.clock_drift_ppm, -1000, 1000))
        return false;
    if (!in(o.jitter_frames, 1, 32) || !in(o.jitter_max_frames, 1, 64) ||
        o.jitter_frames > o.jitter_max_frames)
        return false;
    if (o.duration_s && !in(*o.duration_s, 0.001, 86400.0 * 7))
        return false;
    if (o.name.empty() || o.name.size() > 40 || o.jack_name.empty() || o.soundfont.empty())
        return false;
    if (!o.score.empty() && !o.score.starts_with("smf:"))
        return false;
    if (!o.join_code.empty() && (o.session_id != 0 || !o.udp_secret_file.empty()))
        return false;
    if (!o.midi_from.empty() && !o.output_wav.empty())
        return false;
    if (o.soundfont_given && o.own_voice != c::own_voice_source::local)
        return false;
    return !(o.at_piece_start && o.start_at_unix_ms);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> args;
    for (std::size_t from = 0; from < text.size();) {
        const auto nul = text.find('\0', from);
        const auto end = nul == std::string_view::npos ? text.size() : nul;
        args.emplace_back(text.substr(from, end - from));
        from = end + 1;
    }
    std::string error;
    const auto o = c::parse_cli(args, error);
    if (!o) {
        if (error.empty())
            std::abort();
        return 0;
    }
    if (!o->help && !plausible(*o))
        std::abort();
    return 0;
}
