#include "gno/render/server_options.hpp"

#include "gno/render/control_plane.hpp" // parse_join_code

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <type_traits>

#ifndef GNO_DEFAULT_SOUNDFONT
#define GNO_DEFAULT_SOUNDFONT "/usr/share/sounds/sf2/FluidR3_GM.sf2"
#endif

namespace gno::render {
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
  --join-code ROLE:CODE[:PROGRAM[:MAX]]  a code that admits a performer (with a default GM
                           program, 128 = drums; empty before a MAX), conductor, ops or
                           listener, at most MAX (1..65535) at once (default: performers up to
                           the node's player slots, 4 conductors, 8 ops, 256 listeners); repeat
                           for more. Without any, the server makes one per role and prints them
  --udp-secret-file FILE   the node's UDP master secret (64 hex digits) from which session
                           keys are derived; default: a random one per start, so keys come
                           only from a join. Share it only with a test rig or an ops load
                           generator
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
  --node-id N              this render node's id among several, 1..65535 (scale-out,
                           DESIGN.md §9): it exchanges section stems with its --peer nodes
  --peer ID@HOST:PORT      another render node and its mesh port; repeat for each. A node
                           takes the render timeline of the first peer that answers at start
  --mesh-port N            UDP port of the stem exchange (default 47100; with --port 0, any)
  --mesh-secret-file FILE  64 hex digits every node of the mesh shares (stem datagram keys)
  --mesh-delay-ms MS       every mix lags the render by MS so peers' stems arrive in time,
                           1..1000, rounded up to whole frames (default 20)
  --max-wrong-codes N      wrong join codes (and directory requests, forged join tokens) one
                           address may try a minute before it is refused unchecked until the
                           minute ends, 0..100000; 0: no limit (default 20)
  --mesh-codec pcm|opus    how stems travel between nodes: 16-bit PCM (~1.6 Mbit/s per
                           sounding section per peer, exact) or Opus (160 kbit/s) (default pcm)
  --sections LIST          the sections this node serves, as the directory tells players:
                           comma-separated 1..17 (1 pianos .. 17 drums) (default: any)
  --public-host HOST       the name or address players reach this node at, as the directory
                           tells them (default: the --listen address)
  --duration S             stop by itself after S seconds (default: run until SIGINT/SIGTERM)
  --help                   this text
)";

/// A whole number in [lo, hi], or nullopt with the message in `error`.
std::optional<long> parse_int(std::string_view name, const std::string& value, long lo, long hi,
                              std::string& error) {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(value.c_str(), &end, 10);
    if (errno != 0 || end == value.c_str() || end != value.c_str() + value.size() || v < lo ||
        v > hi) {
        error = std::string(name) + " needs a whole number from " + std::to_string(lo) + " to " +
                std::to_string(hi) + ", got '" + value + "'";
        return std::nullopt;
    }
    return v;
}

/// `ID@HOST:PORT` (HOST may be a name; an IPv6 address in brackets).
std::optional<mesh_peer> parse_mesh_peer(const std::string& v, std::string& error) {
    error = "--peer needs ID@HOST:PORT (node id 1..65535, mesh port 1..65535), got '" + v + "'";
    const auto at = v.find('@');
    const auto colon = v.rfind(':');
    if (at == std::string::npos || colon == std::string::npos || colon < at + 2)
        return std::nullopt;
    std::string ignored;
    const auto id = parse_int("--peer", v.substr(0, at), 1, 65535, ignored);
    const auto port = parse_int("--peer", v.substr(colon + 1), 1, 65535, ignored);
    std::string host = v.substr(at + 1, colon - at - 1);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    if (!id || !port || host.empty())
        return std::nullopt;
    error.clear();
    return mesh_peer{static_cast<std::uint32_t>(*id), host, static_cast<std::uint16_t>(*port)};
}

/// `1,5,17`: sections counted from 1 as the console names them, kept 0-based.
bool parse_sections(const std::string& v, std::vector<int>& out, std::string& error) {
    out.clear();
    std::size_t from = 0;
    while (from <= v.size()) {
        const auto comma = std::min(v.find(',', from), v.size());
        const auto n = parse_int("--sections", v.substr(from, comma - from), 1, k_sections, error);
        if (!n)
            return false;
        if (std::find(out.begin(), out.end(), static_cast<int>(*n) - 1) == out.end())
            out.push_back(static_cast<int>(*n) - 1);
        from = comma + 1;
    }
    return true;
}

/// Fills `out` from `args`; returns the first error, or an empty string.
std::string parse_into(std::span<const std::string_view> args, server_args& out) {
    server_config& cfg = out.cfg;
    cfg.soundfont = GNO_DEFAULT_SOUNDFONT;
    int tempo_change_cycle = 0;
    bool control_port_given = false;
    bool jack_options_given = false; // --jack-name, --jack-stems, --no-connect
    bool mesh_port_given = false;
    int mesh_delay_ms = 20;
    std::string error;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view arg = args[i];
        if (arg == "--help" || arg == "-h") {
            out.help = true;
            return {};
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
        if (i + 1 >= args.size())
            return "unknown option or missing value: " + std::string(arg);
        const std::string val(args[++i]);
        // A whole-number option into `field`; false (and `error`) when out of range.
        const auto whole = [&](auto& field, long lo, long hi) {
            const auto n = parse_int(arg, val, lo, hi, error);
            if (n)
                field = static_cast<std::remove_reference_t<decltype(field)>>(*n);
            return n.has_value();
        };
        if (arg == "--listen")
            cfg.listen_address = val;
        else if (arg == "--port") {
            if (!whole(cfg.port, 0, 65535))
                return error;
        } else if (arg == "--soundfont") {
            // Refused here, not later as a "soundfont not found: " naming no file.
            if (val.empty())
                return "--soundfont needs an SF2 file, e.g. --soundfont " GNO_DEFAULT_SOUNDFONT;
            cfg.soundfont = val;
        } else if (arg == "--instrument-dir")
            cfg.instrument_dir = val;
        else if (arg == "--frame-ms") {
            if (val == "2.5")
                cfg.frame_samples = 120;
            else if (val == "5")
                cfg.frame_samples = 240;
            else if (val == "10")
                cfg.frame_samples = 480;
            else if (val == "20")
                cfg.frame_samples = 960;
            else
                return "--frame-ms must be 2.5, 5, 10 or 20";
        } else if (arg == "--max-players") {
            if (!whole(cfg.max_players, 1, 1024))
                return error;
        } else if (arg == "--bitrate") {
            if (!whole(cfg.bitrate, 6000, 510000))
                return error;
        } else if (arg == "--complexity") {
            if (!whole(cfg.complexity, 0, 10))
                return error;
        } else if (arg == "--silence-timeout-ms") {
            if (!whole(cfg.silence_timeout, 50, 60000))
                return error;
        } else if (arg == "--mode") {
            if (val == "live")
                cfg.timing.mode = timing_mode::live;
            else if (val == "time-advanced")
                cfg.timing.mode = timing_mode::time_advanced;
            else if (val == "one-cycle")
                cfg.timing.mode = timing_mode::one_cycle;
            else
                return "--mode must be live, time-advanced or one-cycle";
        } else if (arg == "--uplink-budget-ms") {
            if (!whole(cfg.timing.uplink_budget, 0, 2000))
                return error;
        } else if (arg == "--tempo") {
            if (!whole(cfg.timing.tempo_bpm, 20, 400))
                return error;
        } else if (arg == "--cycle-beats") {
            if (!whole(cfg.timing.cycle_beats, 1, 256))
                return error;
        } else if (arg == "--piece-start-s") {
            std::int64_t s = 0;
            if (!whole(s, 0, 24 * 3600))
                return error;
            cfg.timing.piece_start = s * cfg.sample_rate;
            cfg.timing.cycle_origin = cfg.timing.piece_start;
        } else if (arg == "--tempo-change") {
            int k = 0, beats = 0;
            double bpm = 0;
            const int n = std::sscanf(val.c_str(), "%d:%lf:%d", &k, &bpm, &beats);
            // Written so that a NaN tempo ("4:nan") is refused too.
            if (n < 2 || k < 1 || k > 100000 || !(bpm >= 20 && bpm <= 400) ||
                (n == 3 && (beats < 1 || beats > 256)))
                return "--tempo-change takes CYCLE:BPM[:BEATS], e.g. 4:120 or 4:120:12";
            tempo_change_cycle = k;
            cfg.timing.change.tempo_bpm = bpm;
            cfg.timing.change.cycle_beats = n == 3 ? beats : 0;
        } else if (arg == "--mix") {
            if (val == "shared")
                cfg.mix = mix_mode::shared;
            else if (val == "own")
                cfg.mix = mix_mode::own;
            else
                return "--mix must be shared or own";
        } else if (arg == "--own-level") {
            char* end = nullptr;
            const double v = std::strtod(val.c_str(), &end);
            if (end == val.c_str() || end != val.c_str() + val.size() || !(v >= 0.0 && v <= 2.0))
                return "--own-level needs a number from 0 to 2, got '" + val + "'";
            cfg.own_level = static_cast<float>(v);
        } else if (arg == "--other-sections-db") {
            int db = 0;
            if (!whole(db, -60, 12))
                return error;
            cfg.other_sections_level =
                static_cast<float>(std::pow(10.0, static_cast<double>(db) / 20.0));
        } else if (arg == "--render-threads") {
            if (!whole(cfg.render_threads, 1, 64))
                return error;
        } else if (arg == "--control-port") {
            if (!whole(cfg.control.port, 0, 65535))
                return error;
            control_port_given = true;
        } else if (arg == "--join-code") {
            try {
                cfg.control.codes.push_back(parse_join_code(val));
            } catch (const std::invalid_argument& e) {
                return std::string("--join-code: ") + e.what();
            }
        } else if (arg == "--udp-secret-file") {
            if (val.empty())
                return "--udp-secret-file needs a file name (a file holding 64 hex digits)";
            cfg.udp_secret_file = val;
        } else if (arg == "--listen-bitrate") {
            if (!whole(cfg.listen_bitrate, 16000, 256000))
                return error;
        } else if (arg == "--record")
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
        else if (arg == "--node-id") {
            if (!whole(cfg.mesh.node_id, 1, 65535))
                return error;
        } else if (arg == "--mesh-port") {
            if (!whole(cfg.mesh.port, 0, 65535))
                return error;
            mesh_port_given = true;
        } else if (arg == "--peer") {
            auto peer = parse_mesh_peer(val, error);
            if (!peer)
                return error;
            cfg.mesh.peers.push_back(std::move(*peer));
        } else if (arg == "--mesh-secret-file") {
            if (val.empty())
                return "--mesh-secret-file needs a file name (a file holding 64 hex digits)";
            cfg.mesh.secret_file = val;
        } else if (arg == "--mesh-delay-ms") {
            int ms = 0;
            if (!whole(ms, 1, 1000))
                return error;
            mesh_delay_ms = ms;
        } else if (arg == "--max-wrong-codes") {
            if (!whole(cfg.control.code_failures, 0, 100000))
                return error;
        } else if (arg == "--mesh-codec") {
            if (val != "pcm" && val != "opus")
                return "--mesh-codec must be pcm or opus";
            cfg.mesh.opus = val == "opus";
        } else if (arg == "--sections") {
            if (!parse_sections(val, cfg.mesh.sections, error))
                return error;
        } else if (arg == "--public-host") {
            if (val.empty())
                return "--public-host needs a host name or address";
            cfg.mesh.public_host = val;
        } else if (arg == "--jack-name") {
            if (val.empty())
                return "--jack-name needs a non-empty name";
            cfg.venue.client_name = val;
            jack_options_given = true;
        } else if (arg == "--duration") {
            double s = 0;
            if (!whole(s, 1, 7 * 24 * 3600))
                return error;
            out.duration_s = s;
        } else
            return "unknown option " + std::string(arg);
    }

    if (tempo_change_cycle > 0) {
        // A boundary of the first tempo's cycles, counted from the piece start.
        if (cfg.timing.change.cycle_beats == 0)
            cfg.timing.change.cycle_beats = cfg.timing.cycle_beats;
        cfg.timing.change.at =
            cfg.timing.cycle_origin + tempo_change_cycle * cycle_samples(cfg.timing);
    }

    if (jack_options_given && !cfg.venue.jack)
        return "--jack-name, --jack-stems and --no-connect are for --jack";

    cfg.control.address = cfg.listen_address;
    if (!control_port_given && cfg.port == 0)
        cfg.control.port = 0;

    if (!cfg.mesh.enabled() && (!cfg.mesh.peers.empty() || !cfg.mesh.secret_file.empty()))
        return "--peer and --mesh-secret-file are for a node of a mesh; give it --node-id N";
    if (cfg.mesh.enabled()) {
        if (cfg.mesh.secret_file.empty())
            return "--node-id needs --mesh-secret-file FILE (64 hex digits every node shares)";
        for (const auto& p : cfg.mesh.peers)
            if (p.node_id == cfg.mesh.node_id)
                return "--peer " + std::to_string(p.node_id) + "@...: that is this node's own id";
        if (cfg.venue.jack)
            return "--node-id and --jack together are not supported: a node of a mesh keeps "
                   "the mesh's timeline, a JACK node its card's";
        if (!mesh_port_given && cfg.port == 0)
            cfg.mesh.port = 0;
        // Whole frames, at least one.
        const int frame_ms_x10 = cfg.frame_samples * 10000 / cfg.sample_rate; // 25, 50, ...
        cfg.mesh.delay_frames = std::max(1, (mesh_delay_ms * 10 + frame_ms_x10 - 1) / frame_ms_x10);
    }
    return {};
}

} // namespace

server_args parse_server_args(std::span<const std::string_view> args) {
    server_args out;
    out.error = parse_into(args, out);
    return out;
}

std::string_view server_usage() noexcept {
    return k_usage;
}

} // namespace gno::render
