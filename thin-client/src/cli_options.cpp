#include "gno/client/cli_options.hpp"

#include <charconv>
#include <cmath>
#include <tuple>

namespace gno::client {
namespace {

template <typename T>
bool parse_int(const std::string& s, long long lo, long long hi, T& out) {
    long long v = 0;
    const auto* end = s.data() + s.size();
    auto [p, ec] = std::from_chars(s.data(), end, v);
    if (ec != std::errc{} || p != end || v < lo || v > hi)
        return false;
    out = static_cast<T>(v);
    return true;
}

bool parse_double(const std::string& s, double lo, double hi, double& out) {
    double v = 0;
    const auto* end = s.data() + s.size();
    auto [p, ec] = std::from_chars(s.data(), end, v);
    if (ec != std::errc{} || p != end || !std::isfinite(v) || v < lo || v > hi)
        return false;
    out = v;
    return true;
}

} // namespace

const char* default_soundfont() noexcept {
    return GNO_DEFAULT_SOUNDFONT;
}

const char* cli_usage() noexcept {
    return R"(usage: gno-client [options]
Plays keys to a gno-server and plays back the mix it streams.

  --server HOST:PORT    render server (default 127.0.0.1:47000)
  --session ID          session id, 1..4294967295 (default: random)
  --udp-secret-file FILE
                        without --join-code: the node's UDP secret (gno-server
                        --udp-secret-file), from which this session's key is derived; a test
                        rig's or an operator's way in. Performers join with --join-code,
                        which hands out the key
  --program N           GM program 0..127 (default 0)
  --bank N              SF2 bank 0..16383 (default 0; 128 = the GM percussion kits, where
                        --program picks the kit: 0 Standard, 8 Room, 16 Power, 24
                        Electronic, 25 TR-808, 32 Jazz, 40 Brush, 48 Orchestra)
  --articulation sustained|short
                        sustained (default): a note sounds while its key is held; short:
                        every note is staccato, ended by the server ~150 ms after its
                        onset. The page's instrument panel and MIDI (program change; CC 80
                        >= 64 short, < 64 sustained) change program, kit and articulation
                        while playing
  --play SPEC           hold:KEY:MS[:VEL] | phrase:N[:ON_MS:OFF_MS] | round:PART[:REPEATS]
                        | smf:FILE[:TRACK] | keyboard (default keyboard on a terminal)
                        | midi (live inputs only: the web page and the JACK MIDI port;
                        runs until --duration or Ctrl-C). With JACK, MIDI into
                        NAME:midi_in plays in every mode, and so does the page.
  --start-at UNIX_MS    pattern downbeat on the system clock (default: 500 ms after start)
  --tempo BPM           tempo of round: (default 120)
  --output FILE.wav     write the mix to a WAV file in real time instead of JACK
  --wav-float           write 32-bit float WAV (default 16-bit)
  --jack-name NAME      JACK client name (default gno-client)
  --no-connect          do not connect to system:playback_1/2 (nor --midi-from)
  --midi-from PORT      connect this JACK MIDI output port (e.g. system:midi_capture_1 or
                        an a2j port) to NAME:midi_in at start; if it does not exist, a
                        warning lists the MIDI output ports there are
  --jitter-frames N     jitter buffer depth to start at in frames, 1..32 (default 3); the
                        adaptive depth never goes below it
  --jitter-max N        ceiling of the adaptive depth in frames, 1..64 (default 40, i.e.
                        200 ms of 5-ms frames)
  --jitter-fixed        keep the depth at --jitter-frames: no adaptation
  --duration S          run time in seconds from the downbeat (default: pattern + 2 s;
                        keyboard: until q)
  --summary FILE        write a JSON summary at exit
  --at-piece-start      start the --play pattern at the piece start the server announces
                        (each event pressed when this player's score clock reaches it;
                        exits with an error if none is announced within 10 s)
  --status FILE         append a JSON status line every 100 ms
  --solo                ask for a solo from the start (keyboard: 1 toggles the request)
  --clock-offset-ms X   testing: add X ms to the local clock (-86400000..86400000)
  --clock-drift-ppm Y   testing: run the local clock Y ppm fast (-1000..1000)
  --join-code CODE      join the node's control plane (ws://HOST:CPORT/ws, HOST from
                        --server) with this performer code first: the welcome's player id
                        becomes the session id (--session is then not allowed), and chat,
                        images, cues, piece, timing and mute lines are printed; re-joins by
                        itself if the connection drops (e.g. a server restart)
  --control-port CPORT  the control plane's TCP port (default 47080, gno-server's default)
  --directory HOST:PORT a mesh node's control plane (http://HOST:PORT/api/directory) that
                        says which node serves this program's section; the client joins it
                        with the token it gives (needs --join-code; no --server). When that
                        node is lost, the client asks the directories again (avoiding it) and
                        moves, keeping the same timeline
  --name NAME           the name the conductor sees (default performer; 1..40 characters)
  --ui-port N           serve the performer's page on http://127.0.0.1:N/ (0 = any free
                        port; default 47090, or any free port if another client has it)
  --no-ui               do not serve the page
  --score smf:FILE[:TRACK]
                        the part the page's piano-roll shows (default: the --play pattern
                        when it is one)
  --own-voice server|local
                        where you hear your own voice: server (default) in the server's
                        stream, a round trip late and aligned with the ensemble; local at
                        once from a FluidSynth in this client, the server then sending you
                        a mix-minus (needs --join-code and a node running gno-server
                        --mix own, or you hear yourself twice)
  --soundfont PATH      the SF2 file of --own-voice local (default )" GNO_DEFAULT_SOUNDFONT R"()
  --help                this text
)";
}

std::optional<std::pair<std::string, std::uint16_t>> split_host_port(std::string_view text) {
    const auto colon = text.rfind(':');
    std::uint16_t port = 0;
    if (colon == std::string_view::npos || colon == 0 ||
        !parse_int(std::string(text.substr(colon + 1)), 1, 65535, port))
        return std::nullopt;
    auto host = text.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2); // [::1]:47000
    return std::pair{std::string(host), port};
}

std::optional<client_options> parse_cli(const std::vector<std::string>& args, std::string& error) {
    client_options o;
    bool server_given = false, control_port_given = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&](std::string& v) {
            if (i + 1 >= args.size()) {
                error = a + " needs a value; see --help";
                return false;
            }
            v = args[++i];
            return true;
        };
        std::string v;
        if (a == "--help" || a == "-h") {
            o.help = true;
        } else if (a == "--no-connect") {
            o.jack_connect = false;
        } else if (a == "--wav-float") {
            o.wav = proto::wav_format::f32;
        } else if (a == "--server") {
            if (!value(v))
                return std::nullopt;
            const auto hp = split_host_port(v);
            if (!hp) {
                error = "bad --server " + v + "; use HOST:PORT, e.g. 127.0.0.1:47000";
                return std::nullopt;
            }
            std::tie(o.host, o.port) = *hp;
            server_given = true;
        } else if (a == "--directory") {
            if (!value(v))
                return std::nullopt;
            std::string_view d = v;
            if (d.starts_with("http://"))
                d.remove_prefix(7);
            if (d.ends_with("/"))
                d.remove_suffix(1);
            const auto hp = split_host_port(d);
            if (!hp) {
                error = "bad --directory " + v + "; use HOST:PORT of a node's control plane, " +
                        "e.g. 127.0.0.1:47080";
                return std::nullopt;
            }
            std::tie(o.directory_host, o.directory_port) = *hp;
        } else if (a == "--udp-secret-file") {
            if (!value(v) || v.empty()) {
                error = "--udp-secret-file needs a file name";
                return std::nullopt;
            }
            o.udp_secret_file = v;
        } else if (a == "--session") {
            if (!value(v) || !parse_int(v, 1, 4294967295LL, o.session_id)) {
                error = "bad --session; use a number 1..4294967295";
                return std::nullopt;
            }
        } else if (a == "--program") {
            if (!value(v) || !parse_int(v, 0, 127, o.program)) {
                error = "bad --program; use a GM program number 0..127";
                return std::nullopt;
            }
        } else if (a == "--bank") {
            if (!value(v) || !parse_int(v, 0, 16383, o.bank)) {
                error = "bad --bank; use 0..16383 (128 = GM percussion)";
                return std::nullopt;
            }
        } else if (a == "--articulation") {
            const auto style = value(v) ? parse_articulation(v) : std::nullopt;
            if (!style) {
                error = "bad --articulation; use sustained (notes last while held) or short "
                        "(staccato)";
                return std::nullopt;
            }
            o.style = *style;
        } else if (a == "--play") {
            if (!value(o.play))
                return std::nullopt;
        } else if (a == "--start-at") {
            std::int64_t ms = 0;
            if (!value(v) || !parse_int(v, 0, 1LL << 50, ms)) {
                error =
                    "bad --start-at; use Unix time in milliseconds, e.g. $(($(date +%s%3N)+2000))";
                return std::nullopt;
            }
            o.start_at_unix_ms = ms;
        } else if (a == "--tempo") {
            if (!value(v) || !parse_double(v, 20.0, 400.0, o.tempo_bpm)) {
                error = "bad --tempo; use beats per minute 20..400";
                return std::nullopt;
            }
        } else if (a == "--output") {
            if (!value(o.output_wav) || o.output_wav.empty()) {
                error = "--output needs a file name, e.g. --output take.wav";
                return std::nullopt;
            }
        } else if (a == "--jack-name") {
            if (!value(o.jack_name) || o.jack_name.empty()) {
                error = "--jack-name needs a non-empty name";
                return std::nullopt;
            }
        } else if (a == "--midi-from") {
            if (!value(o.midi_from) || o.midi_from.empty()) {
                error = "--midi-from needs a JACK MIDI output port, e.g. system:midi_capture_1 "
                        "(jack_lsp -t lists them)";
                return std::nullopt;
            }
        } else if (a == "--jitter-frames") {
            if (!value(v) || !parse_int(v, 1, 32, o.jitter_frames)) {
                error = "bad --jitter-frames; use 1..32";
                return std::nullopt;
            }
        } else if (a == "--jitter-max") {
            if (!value(v) || !parse_int(v, 1, 64, o.jitter_max_frames)) {
                error = "bad --jitter-max; use 1..64 frames";
                return std::nullopt;
            }
        } else if (a == "--jitter-fixed") {
            o.jitter_adaptive = false;
        } else if (a == "--duration") {
            double d = 0;
            if (!value(v) || !parse_double(v, 0.001, 86400.0 * 7, d)) {
                error = "bad --duration; use seconds > 0";
                return std::nullopt;
            }
            o.duration_s = d;
        } else if (a == "--at-piece-start") {
            o.at_piece_start = true;
        } else if (a == "--solo") {
            o.solo = true;
        } else if (a == "--status") {
            if (!value(o.status_path) || o.status_path.empty()) {
                error = "--status needs a file name, e.g. --status status.jsonl";
                return std::nullopt;
            }
        } else if (a == "--clock-offset-ms") {
            if (!value(v) || !parse_double(v, -86'400'000.0, 86'400'000.0, o.clock_offset_ms)) {
                error = "bad --clock-offset-ms; use milliseconds -86400000..86400000, e.g. 250.5";
                return std::nullopt;
            }
        } else if (a == "--clock-drift-ppm") {
            if (!value(v) || !parse_double(v, -1000.0, 1000.0, o.clock_drift_ppm)) {
                error = "bad --clock-drift-ppm; use parts per million -1000..1000, e.g. 50";
                return std::nullopt;
            }
        } else if (a == "--join-code") {
            if (!value(o.join_code) || o.join_code.empty()) {
                error = "--join-code needs the code the conductor gave you";
                return std::nullopt;
            }
        } else if (a == "--control-port") {
            if (!value(v) || !parse_int(v, 1, 65535, o.control_port)) {
                error = "bad --control-port; use a TCP port 1..65535 (gno-server prints it: "
                        "\"control on tcp HOST:PORT\")";
                return std::nullopt;
            }
            control_port_given = true;
        } else if (a == "--name") {
            if (!value(o.name) || o.name.empty() || o.name.size() > 40) {
                error = "bad --name; use 1..40 characters";
                return std::nullopt;
            }
        } else if (a == "--ui-port") {
            if (!value(v) || !parse_int(v, 0, 65535, o.ui_port)) {
                error = "bad --ui-port; use a TCP port 1..65535, or 0 for any free port";
                return std::nullopt;
            }
            o.ui_port_given = true;
        } else if (a == "--no-ui") {
            o.ui = false;
        } else if (a == "--score") {
            if (!value(o.score) || !o.score.starts_with("smf:")) {
                error = "bad --score; use smf:FILE[:TRACK], e.g. --score smf:part.mid:1";
                return std::nullopt;
            }
        } else if (a == "--own-voice") {
            if (!value(v) || (v != "server" && v != "local")) {
                error = "bad --own-voice; use server (hear yourself in the server's stream) or "
                        "local (at once, from a local FluidSynth)";
                return std::nullopt;
            }
            o.own_voice = v == "local" ? own_voice_source::local : own_voice_source::server;
        } else if (a == "--soundfont") {
            if (!value(o.soundfont) || o.soundfont.empty()) {
                error = "--soundfont needs an SF2 file, e.g. --soundfont " +
                        std::string(GNO_DEFAULT_SOUNDFONT);
                return std::nullopt;
            }
            o.soundfont_given = true;
        } else if (a == "--summary") {
            if (!value(o.summary_path) || o.summary_path.empty()) {
                error = "--summary needs a file name";
                return std::nullopt;
            }
        } else {
            error = "unknown option " + a + "; see --help";
            return std::nullopt;
        }
    }
    if (!o.join_code.empty() && o.session_id != 0) {
        error = "--join-code and --session exclude each other: the server assigns the session "
                "id on joining";
        return std::nullopt;
    }
    if (!o.join_code.empty() && !o.udp_secret_file.empty()) {
        error = "--join-code and --udp-secret-file exclude each other: joining hands out the "
                "session's key";
        return std::nullopt;
    }
    if (!o.directory_host.empty() && o.join_code.empty()) {
        error = "--directory needs --join-code: the directory places performers by their code";
        return std::nullopt;
    }
    if (!o.directory_host.empty() && (server_given || control_port_given)) {
        error = "--directory and --server/--control-port exclude each other: the directory "
                "says which node to join";
        return std::nullopt;
    }
    if (!o.midi_from.empty() && !o.output_wav.empty()) {
        error = "--midi-from needs JACK, and --output writes a file instead: there is no MIDI "
                "port; drop one of them";
        return std::nullopt;
    }
    if (o.soundfont_given && o.own_voice != own_voice_source::local) {
        error = "--soundfont is the local monitor's: it needs --own-voice local";
        return std::nullopt;
    }
    if (o.jitter_frames > o.jitter_max_frames) {
        error = "--jitter-frames " + std::to_string(o.jitter_frames) + " is above --jitter-max " +
                std::to_string(o.jitter_max_frames) +
                "; raise --jitter-max or lower --jitter-frames";
        return std::nullopt;
    }
    if (o.at_piece_start) {
        if (o.start_at_unix_ms) {
            error = "--at-piece-start and --start-at exclude each other; pass one";
            return std::nullopt;
        }
        if (o.play.empty() || o.play == "keyboard" || o.play == "midi") {
            error = "--at-piece-start plays a pattern; pass --play SPEC (e.g. --play "
                    "smf:part.mid:1 or --play round:0)";
            return std::nullopt;
        }
    }
    return o;
}

} // namespace gno::client
