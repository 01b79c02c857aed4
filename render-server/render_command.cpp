// `gno-server render LOG… --out FILE.wav`: re-renders a performance from its logs (perf_log.hpp)
// to the audience mix's exact samples, offline and as fast as the machine goes.
#include "gno/proto/wav_file.hpp"
#include "gno/render/perf_log.hpp"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::string_view k_render_usage =
    R"(usage: gno-server render LOG... --out FILE.wav [options]
  LOG                  a performance log directory (gno-server --perf-log DIR), or its node.mid
                       and the players' slot-*.mid files
  --out FILE.wav       the audience mix, 32-bit float WAV: the samples the node rendered
  --soundfont FILE     render with this SF2 instead of the one the log names
  --threads N          render threads, 1..64 (default: one per core)
  --tail-s S           a log without an end (the node was killed): render S seconds past the
                       last logged event (default 5)
)";

int fail(const std::string& msg) {
    std::cerr << "gno-server render: " << msg << "\n";
    return 2;
}

} // namespace

int render_command(int argc, char** argv) {
    std::vector<std::string> logs;
    std::string out;
    std::string soundfont;
    int threads = 0;
    double tail_s = 5.0;
    for (int i = 2; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::cout << k_render_usage;
            return 0;
        }
        if (!arg.starts_with("--")) {
            logs.emplace_back(arg);
            continue;
        }
        if (i + 1 >= argc)
            return fail("unknown option or missing value: " + std::string(arg) + " (see --help)");
        const std::string val = argv[++i];
        if (arg == "--out")
            out = val;
        else if (arg == "--soundfont")
            soundfont = val;
        else if (arg == "--threads") {
            char* end = nullptr;
            threads = static_cast<int>(std::strtol(val.c_str(), &end, 10));
            if (*end != '\0' || threads < 1 || threads > 64)
                return fail("--threads needs a whole number from 1 to 64, got '" + val + "'");
        } else if (arg == "--tail-s") {
            char* end = nullptr;
            tail_s = std::strtod(val.c_str(), &end);
            if (*end != '\0' || !(tail_s >= 0 && tail_s <= 600))
                return fail("--tail-s needs seconds from 0 to 600, got '" + val + "'");
        } else
            return fail("unknown option " + std::string(arg) + " (see --help)");
    }
    if (logs.empty() || out.empty())
        return fail("give the performance log and --out FILE.wav (see --help)");
    try {
        const auto log = gno::render::load_perf_log(logs);
        if (log.lost > 0)
            std::cerr << "gno-server render: warning: the node could not log " << log.lost
                      << " records (its log ring was full): this render will differ from the "
                         "performance\n";
        if (log.last_frame < 0)
            std::cerr << "gno-server render: warning: the log has no end (the node stopped "
                         "without finishing it): rendering "
                      << tail_s << " s past its last event\n";
        gno::proto::wav_file wav(out, gno::proto::wav_format::f32,
                                 static_cast<std::uint32_t>(log.cfg.sample_rate));
        std::vector<float> left(static_cast<std::size_t>(log.cfg.frame_samples));
        std::vector<float> right(left.size());
        const auto started = std::chrono::steady_clock::now();
        const auto frames = gno::render::replay(log, soundfont, threads, tail_s,
                                                [&](std::int64_t, std::span<const float> mix) {
                                                    const std::size_t n = mix.size() / 2;
                                                    for (std::size_t k = 0; k < n; ++k) {
                                                        left[k] = mix[2 * k];
                                                        right[k] = mix[2 * k + 1];
                                                    }
                                                    wav.write(left.data(), right.data(), n);
                                                });
        wav.close();
        const double took =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        const double seconds = static_cast<double>(frames) * log.cfg.frame_samples /
                               static_cast<double>(log.cfg.sample_rate);
        std::cout << "gno-server render: " << log.files.size() << " log files, "
                  << log.records.size() << " records, " << frames << " frames (" << seconds
                  << " s of audience mix) in " << took << " s; wrote " << out << std::endl;
    } catch (const std::exception& e) {
        return fail(e.what());
    }
    return 0;
}
