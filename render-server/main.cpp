// gno-server: a render node. Parses options, wires gno::render::server, waits for a signal.
#include "gno/render/server.hpp"

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#ifndef GNO_DEFAULT_SOUNDFONT
#define GNO_DEFAULT_SOUNDFONT "/usr/share/sounds/sf2/FluidR3_GM.sf2"
#endif

namespace {

constexpr std::string_view k_usage = R"(usage: gno-server [options]
       gno-server render LOG... --out FILE.wav   (re-render a performance log; render --help)
  --listen ADDR            address of the UDP and control ports (default 127.0.0.1)
  --port N                 UDP port (default 47000; 0 = any free port)
  --soundfont FILE         SF2 soundfont (default )" GNO_DEFAULT_SOUNDFONT R"()
  --instrument-dir DIR     where performers' uploaded instruments (POST /api/instrument) are
                           written as SF2 files (default: a temporary directory, removed at exit)
  --frame-ms MS            audio frame: 2.5, 5, 10 or 20 ms (default 5)
  --max-players N          player slots, 1..1024 (default 64)
  --bitrate BPS            Opus bitrate per mix (default 64000)
  --complexity N           Opus complexity 0..10 (default 5)
  --silence-timeout-ms MS  release a silent player's notes after MS (default 1000)
  --mode MODE              live, time-advanced or one-cycle (default live)
  --uplink-budget-ms MS    live mode: render each event at its stamp + MS (default 50)
  --tempo BPM              tempo of the beat and the cycle (default 100)
  --cycle-beats N          one-cycle mode: beats per cycle (default 16: 9.6 s at 100 BPM)
  --piece-start-s S        the piece (and the first cycle) starts S s after the server
  --tempo-change K:BPM[:BEATS]  from cycle K (>= 1) of the piece on, a new tempo (and cycle);
                           announced to the players from the start
  --click                  a click on every beat in the performers' mix (on in one-cycle)
  --mix shared|own         shared: every performer hears the same mix, one encode (default);
                           own: each performer a mix of their own, encoded for them alone
  --own-level X            own mixes: level of the player's own voice, 0..2 (default 0:
                           mix-minus, the ensemble without oneself), until it sends its own
  --other-sections-db DB   own mixes: level of every section, the player's own included,
                           -60..12 dB (default 0), until the player sends its own
  --control-port N         TCP port of the WebSocket/HTTP control plane: join, conductor's
                           console at /console/, /metrics, /healthz, /api/status (default 47080;
                           with --port 0, any free port)
  --join-code ROLE:CODE[:PROGRAM]  a code that admits a performer (with a default GM program,
                           128 = drums), conductor, ops or listener; repeat for more. Without
                           any, the server makes one per role and prints them
  --render-threads N       threads rendering stems and mixes, 1..64 (default: one per core)
  --record FILE.opus       record the audience mix as Ogg Opus (pages reach the disk at most
                           1 s apart: a killed server leaves a file that plays to there)
  --record-wav FILE.wav    record the audience mix's exact samples as 32-bit float WAV
  --perf-log DIR           log every player's events as MIDI files in DIR (one per player
                           session, plus node.mid), from which `gno-server render DIR --out
                           FILE.wav` re-renders the audience mix to the same samples
  --no-listen-stream       no live stream of the audience mix at /listen on the control port
                           (on by default, with a page that plays it at /listen/; it encodes
                           only while someone listens)
  --listen-bitrate BPS     that stream's Opus bitrate, 16000..256000 (default 96000)
  --jack                   the venue's output: the audience mix on JACK ports audience_left
                           and audience_right; JACK's process callback renders, and the
                           sound card's clock is the server time clients sync to
  --jack-name NAME         its JACK client name (default gno-server; a name in use is an error)
  --jack-stems             also a port pair per section bus, section1_left/right (pianos) to
                           section17_left/right (drums), at the master gain, before the limiter
  --no-connect             do not connect the audience ports to the first two playback ports
  --stats FILE             append a JSON line of counters every 250 ms
  --onset-log FILE         append a JSON line for every onset in a player's stem (measurement)
  --net-stats FILE         append a JSON line per player every 10 s (RTT, loss both ways,
                           jitter, disconnected time, late events) and a session summary at exit
  --duration S             stop by itself after S seconds (default: run until SIGINT/SIGTERM)
  --help                   this text
)";

[[noreturn]] void usage_error(const std::string& msg) {
    std::cerr << "gno-server: " << msg << " (see --help)\n";
    std::exit(2);
}

long parse_int(std::string_view name, const char* value, long lo, long hi) {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < lo || v > hi)
        usage_error(std::string(name) + " needs a whole number from " + std::to_string(lo) +
                    " to " + std::to_string(hi) + ", got '" + value + "'");
    return v;
}

} // namespace

int render_command(int argc, char** argv); // render_command.cpp

int main(int argc, char** argv) {
    if (argc >= 2 && std::string_view(argv[1]) == "render")
        return render_command(argc, argv);
    gno::render::server_config cfg;
    cfg.soundfont = GNO_DEFAULT_SOUNDFONT;
    std::optional<double> duration_s;
    int tempo_change_cycle = 0;
    bool control_port_given = false;
    bool jack_options_given = false; // --jack-name, --jack-stems, --no-connect
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::cout << k_usage;
            return 0;
        }
        if (arg == "--click") {
            cfg.timing.click = true;
            continue;
        }
        if (arg == "--no-listen-stream") {
            cfg.listen = false;
            continue;
        }
        if (arg == "--jack") {
            cfg.venue.jack = true;
            continue;
        }
        if (arg == "--jack-stems") {
            cfg.venue.stems = true;
            jack_options_given = true;
            continue;
        }
        if (arg == "--no-connect") {
            cfg.venue.connect = false;
            jack_options_given = true;
            continue;
        }
        if (i + 1 >= argc)
            usage_error("unknown option or missing value: " + std::string(arg));
        const char* val = argv[++i];
        if (arg == "--listen")
            cfg.listen_address = val;
        else if (arg == "--port")
            cfg.port = static_cast<std::uint16_t>(parse_int(arg, val, 0, 65535));
        else if (arg == "--soundfont")
            cfg.soundfont = val;
        else if (arg == "--instrument-dir")
            cfg.instrument_dir = val;
        else if (arg == "--frame-ms") {
            const std::string_view v = val;
            if (v == "2.5")
                cfg.frame_samples = 120;
            else if (v == "5")
                cfg.frame_samples = 240;
            else if (v == "10")
                cfg.frame_samples = 480;
            else if (v == "20")
                cfg.frame_samples = 960;
            else
                usage_error("--frame-ms must be 2.5, 5, 10 or 20");
        } else if (arg == "--max-players")
            cfg.max_players = static_cast<int>(parse_int(arg, val, 1, 1024));
        else if (arg == "--bitrate")
            cfg.bitrate = static_cast<int>(parse_int(arg, val, 6000, 510000));
        else if (arg == "--complexity")
            cfg.complexity = static_cast<int>(parse_int(arg, val, 0, 10));
        else if (arg == "--silence-timeout-ms")
            cfg.silence_timeout = std::chrono::milliseconds(parse_int(arg, val, 50, 60000));
        else if (arg == "--mode") {
            const std::string_view v = val;
            if (v == "live")
                cfg.timing.mode = gno::render::timing_mode::live;
            else if (v == "time-advanced")
                cfg.timing.mode = gno::render::timing_mode::time_advanced;
            else if (v == "one-cycle")
                cfg.timing.mode = gno::render::timing_mode::one_cycle;
            else
                usage_error("--mode must be live, time-advanced or one-cycle");
        } else if (arg == "--uplink-budget-ms")
            cfg.timing.uplink_budget = std::chrono::milliseconds(parse_int(arg, val, 0, 2000));
        else if (arg == "--tempo")
            cfg.timing.tempo_bpm = static_cast<double>(parse_int(arg, val, 20, 400));
        else if (arg == "--cycle-beats")
            cfg.timing.cycle_beats = static_cast<int>(parse_int(arg, val, 1, 256));
        else if (arg == "--piece-start-s") {
            const auto s = parse_int(arg, val, 0, 24 * 3600);
            cfg.timing.piece_start = s * cfg.sample_rate;
            cfg.timing.cycle_origin = cfg.timing.piece_start;
        } else if (arg == "--tempo-change") {
            const std::string v = val;
            int k = 0, beats = 0;
            double bpm = 0;
            const int n = std::sscanf(v.c_str(), "%d:%lf:%d", &k, &bpm, &beats);
            if (n < 2 || k < 1 || k > 100000 || bpm < 20 || bpm > 400 ||
                (n == 3 && (beats < 1 || beats > 256)))
                usage_error("--tempo-change takes CYCLE:BPM[:BEATS], e.g. 4:120 or 4:120:12");
            tempo_change_cycle = k;
            cfg.timing.change.tempo_bpm = bpm;
            cfg.timing.change.cycle_beats = n == 3 ? beats : 0;
        } else if (arg == "--mix") {
            const std::string_view v = val;
            if (v == "shared")
                cfg.mix = gno::render::mix_mode::shared;
            else if (v == "own")
                cfg.mix = gno::render::mix_mode::own;
            else
                usage_error("--mix must be shared or own");
        } else if (arg == "--own-level") {
            char* end = nullptr;
            const double v = std::strtod(val, &end);
            if (end == val || *end != '\0' || !(v >= 0.0 && v <= 2.0))
                usage_error("--own-level needs a number from 0 to 2, got '" + std::string(val) +
                            "'");
            cfg.own_level = static_cast<float>(v);
        } else if (arg == "--other-sections-db") {
            const auto db = parse_int(arg, val, -60, 12);
            cfg.other_sections_level =
                static_cast<float>(std::pow(10.0, static_cast<double>(db) / 20.0));
        } else if (arg == "--render-threads")
            cfg.render_threads = static_cast<int>(parse_int(arg, val, 1, 64));
        else if (arg == "--control-port") {
            cfg.control.port = static_cast<std::uint16_t>(parse_int(arg, val, 0, 65535));
            control_port_given = true;
        } else if (arg == "--join-code") {
            try {
                cfg.control.codes.push_back(gno::render::parse_join_code(val));
            } catch (const std::invalid_argument& e) {
                usage_error(std::string("--join-code: ") + e.what());
            }
        } else if (arg == "--listen-bitrate")
            cfg.listen_bitrate = static_cast<int>(parse_int(arg, val, 16000, 256000));
        else if (arg == "--record")
            cfg.record.opus = val;
        else if (arg == "--record-wav")
            cfg.record.wav = val;
        else if (arg == "--perf-log")
            cfg.perf_log_dir = val;
        else if (arg == "--stats")
            cfg.stats_path = val;
        else if (arg == "--onset-log")
            cfg.onset_log_path = val;
        else if (arg == "--net-stats")
            cfg.net_stats_path = val;
        else if (arg == "--jack-name") {
            if (*val == '\0')
                usage_error("--jack-name needs a non-empty name");
            cfg.venue.client_name = val;
            jack_options_given = true;
        } else if (arg == "--duration")
            duration_s = static_cast<double>(parse_int(arg, val, 1, 7 * 24 * 3600));
        else
            usage_error("unknown option " + std::string(arg));
    }

    if (tempo_change_cycle > 0) {
        // A boundary of the first tempo's cycles, counted from the piece start.
        if (cfg.timing.change.cycle_beats == 0)
            cfg.timing.change.cycle_beats = cfg.timing.cycle_beats;
        cfg.timing.change.at =
            cfg.timing.cycle_origin + tempo_change_cycle * gno::render::cycle_samples(cfg.timing);
    }

    if (jack_options_given && !cfg.venue.jack)
        usage_error("--jack-name, --jack-stems and --no-connect are for --jack");

    cfg.control.address = cfg.listen_address;
    if (!control_port_given && cfg.port == 0)
        cfg.control.port = 0;
    if (cfg.control.codes.empty()) {
        // Nobody can join without a code: make one per role, for this run only.
        std::random_device rd;
        for (const auto who :
             {gno::render::control::role::performer, gno::render::control::role::conductor,
              gno::render::control::role::ops, gno::render::control::role::listener}) {
            gno::render::join_code c;
            c.who = who;
            static constexpr char k_alphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";
            for (int k = 0; k < 10; ++k)
                c.code.push_back(k_alphabet[rd() % (sizeof k_alphabet - 1)]);
            cfg.control.codes.push_back(c);
        }
    }

    // Signals are taken synchronously by this thread; every thread started later inherits
    // the mask, so none of them is interrupted.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    std::optional<gno::render::server> node;
    try {
        node.emplace(cfg);
    } catch (const gno::render::venue_error& e) {
        std::cerr << "gno-server: " << e.what() << "\n";
        return 2;
    } catch (const gno::render::soundfont_error& e) {
        // A --soundfont that is missing or not an SF2: a bad option value, like a usage error.
        std::cerr << "gno-server: " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "gno-server: " << e.what() << "\n";
        return 1;
    }
    std::ofstream stats;
    if (!cfg.stats_path.empty()) {
        stats.open(cfg.stats_path, std::ios::app);
        if (!stats) {
            std::cerr << "gno-server: cannot write stats file " << cfg.stats_path << "\n";
            return 1;
        }
    }
    std::ofstream onsets;
    if (!cfg.onset_log_path.empty()) {
        onsets.open(cfg.onset_log_path, std::ios::app);
        if (!onsets) {
            std::cerr << "gno-server: cannot write onset log " << cfg.onset_log_path << "\n";
            return 1;
        }
    }
    try {
        node->start();
    } catch (const gno::render::venue_error& e) {
        std::cerr << "gno-server: " << e.what() << "\n";
        return 2;
    }
    if (auto w = node->realtime_warning(); !w.empty())
        std::cerr << "gno-server: warning: " << w << "\n";
    if (auto w = node->venue_warning(); !w.empty())
        std::cerr << "gno-server: warning: " << w << "\n";
    std::cout << "gno-server: listening on udp " << cfg.listen_address << ":" << node->port()
              << ", frame " << cfg.frame_samples * 1000.0 / cfg.sample_rate << " ms, "
              << cfg.max_players << " player slots, mode "
              << (cfg.timing.mode == gno::render::timing_mode::live            ? "live"
                  : cfg.timing.mode == gno::render::timing_mode::time_advanced ? "time-advanced"
                                                                               : "one-cycle")
              << ", " << (cfg.mix == gno::render::mix_mode::own ? "own" : "shared") << " mixes, "
              << node->render_threads() << " render threads, soundfont " << cfg.soundfont;
    if (!cfg.record.opus.empty())
        std::cout << ", recording to " << cfg.record.opus;
    if (!cfg.record.wav.empty())
        std::cout << ", recording PCM to " << cfg.record.wav;
    if (const auto* venue = node->venue())
        std::cout << ", JACK client " << venue->client_name() << " (period " << venue->period()
                  << ")";
    std::cout << ", control on tcp " << cfg.control.address << ":" << node->control_port()
              << ", epoch_monotonic_ns " << node->epoch_ns() << std::endl;
    std::cout << "gno-server: conductor's console at http://" << cfg.control.address << ":"
              << node->control_port() << "/console/; join codes:";
    for (const auto& c : node->join_codes())
        std::cout << " " << gno::render::control::role_name(c.who) << "=" << c.code;
    std::cout << std::endl;

    const auto started = std::chrono::steady_clock::now();
    int signo = 0;
    std::string fatal;
    for (;;) {
        const timespec tick{0, 250'000'000};
        signo = sigtimedwait(&signals, nullptr, &tick);
        if (signo > 0)
            break;
        if (fatal = node->fatal_error(); !fatal.empty()) {
            std::cerr << "gno-server: " << fatal << "; stopping\n";
            break;
        }
        if (stats.is_open())
            stats << node->stats_json() << std::endl;
        if (onsets.is_open())
            node->write_onsets(onsets);
        if (duration_s && std::chrono::steady_clock::now() - started >=
                              std::chrono::duration<double>(*duration_s))
            break;
    }
    node->stop();
    if (onsets.is_open())
        node->write_onsets(onsets);
    const std::string summary = node->stats_json();
    if (stats.is_open())
        stats << summary << std::endl;
    std::cout << "gno-server: stopped" << (signo > 0 ? " by signal" : "") << "; " << summary
              << std::endl;
    for (const auto& path : {cfg.record.opus, cfg.record.wav})
        if (!path.empty())
            std::cout << "gno-server: recording finalised: " << path << std::endl;
    return fatal.empty() ? 0 : 1;
}
