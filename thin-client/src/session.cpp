#include "gno/client/session.hpp"

#include "gno/client/audio_out.hpp"
#include "gno/client/control_link.hpp"
#include "gno/client/directory_client.hpp"
#include "gno/client/key_source.hpp"
#include "gno/client/local_monitor.hpp"
#include "gno/client/midi_input.hpp"
#include "gno/client/score_player.hpp"
#include "gno/client/server_link.hpp"
#include "gno/client/steady_time.hpp"
#include "gno/client/terminal_keyboard.hpp"
#include "gno/client/ui_bridge.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <limits>
#include <random>
#include <thread>
#include <unistd.h>

namespace gno::client {
namespace {

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_signal(int) {
    g_stop.store(true, std::memory_order_relaxed);
}

/// Forwards the input's key movements to the network thread.
class link_sink final : public key_sink {
public:
    link_sink(server_link& link, bool solo) : link_(link), solo_(solo) {}
    void key_down(std::uint8_t key, std::uint8_t velocity, std::int64_t local_ns) override {
        link_.key_down(key, velocity, local_ns);
    }
    void key_up(std::uint8_t key, std::int64_t local_ns) override { link_.key_up(key, local_ns); }
    void solo_request(bool on) override {
        solo_.store(on, std::memory_order_relaxed);
        link_.set_solo_request(on);
    }
    void program_change(std::uint8_t program, std::uint16_t bank) override {
        link_.set_program(program, bank);
    }
    void articulation_change(articulation style) override { link_.set_articulation(style); }
    /// Any thread: the solo request as last set.
    [[nodiscard]] bool solo() const noexcept { return solo_.load(std::memory_order_relaxed); }

private:
    server_link& link_;
    std::atomic<bool> solo_;
};

/// Appends a status line every 100 ms (real-time paced) until stopped. Own thread; file I/O.
class status_writer {
public:
    static constexpr auto k_period = std::chrono::milliseconds(100);

    status_writer(std::FILE* file, const server_link& link, const playout& audio,
                  const link_sink& sink)
        : file_(file), link_(link), audio_(audio), sink_(sink) {
        thread_ = std::thread([this] { run(); });
    }
    ~status_writer() {
        stop_.store(true);
        thread_.join();
        std::fclose(file_);
    }
    status_writer(const status_writer&) = delete;
    status_writer& operator=(const status_writer&) = delete;

private:
    void run() {
        auto next = std::chrono::steady_clock::now();
        while (!stop_.load(std::memory_order_relaxed)) {
            const auto line = status_json(sample());
            std::fwrite(line.data(), 1, line.size(), file_);
            std::fflush(file_);
            next += k_period;
            std::this_thread::sleep_until(next);
        }
    }

    status_sample sample() const {
        status_sample s;
        const timing_inputs in = live_timing_inputs(link_.timing(), audio_);
        s.local_ns = steady_now_ns();
        s.true_local_ns = true_steady_ns();
        s.synchronised = in.server_clock.synchronised;
        s.settled = in.server_clock.settled;
        s.server_ns = in.server_clock.server_at(s.local_ns);
        s.heard_r = audio_.heard_render_sample(s.local_ns);
        s.has_info = in.player.received;
        s.info = in.player.info;
        if (const auto pos = score_at(in, s.local_ns)) {
            s.has_score = true;
            s.score = *pos;
        }
        s.solo_request = sink_.solo();
        s.in_force = link_.current_instrument();
        s.rtt_us = link_.counters().rtt_us.load(std::memory_order_relaxed);
        s.jitter_frames = audio_.buffer().counters().depth_frames.load(std::memory_order_relaxed);
        return s;
    }

    std::FILE* file_;
    const server_link& link_;
    const playout& audio_;
    const link_sink& sink_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

constexpr auto k_join_timeout = std::chrono::seconds(10);

/// Prints one line for a control-plane event on stdout (the client's log).
void log_event(const control_event& e) {
    const auto line = describe(e);
    if (line.empty())
        return;
    std::printf("gno-client: %s\n", line.c_str());
    std::fflush(stdout);
}

constexpr auto k_new_code_wait = std::chrono::seconds(60);

/// Waits for the first welcome, showing every event on the page too (may be null). On a
/// refusal (`refused` set) or a timeout prints why and returns nullopt.
/// The UDP key a welcome hands out (hex); an unreadable one leaves a zero key, whose
/// datagrams the node drops: said once on stderr.
proto::v1::session_key welcome_key(const control_event& welcome) {
    if (const auto k = proto::v1::parse_session_key(welcome.session_key))
        return *k;
    std::fprintf(stderr, "gno-client: the welcome's session_key is not 32 hex digits; the node "
                         "will not take our datagrams\n");
    return {};
}

std::optional<control_event> await_welcome(control_link& control, const control_config& c,
                                           ui_bridge* page, bool& refused) {
    refused = false;
    const auto until = std::chrono::steady_clock::now() + k_join_timeout;
    while (!g_stop.load(std::memory_order_relaxed) && std::chrono::steady_clock::now() < until) {
        auto e = control.wait_event(std::chrono::milliseconds(100));
        if (!e)
            continue;
        if (page != nullptr)
            page->on_control_event(*e);
        if (e->what == control_event::kind::welcome) {
            log_event(*e);
            return e;
        }
        if (e->what == control_event::kind::refused) {
            std::fprintf(stderr, "gno-client: %s\n", describe(*e).c_str());
            refused = true;
            return std::nullopt;
        }
        log_event(*e);
    }
    if (g_stop.load())
        return std::nullopt;
    std::fprintf(stderr,
                 "gno-client: no welcome from the control plane at ws://%s:%u/ws within %lld s; "
                 "check that gno-server runs there and pass its --control-port\n",
                 c.host.c_str(), static_cast<unsigned>(c.port),
                 static_cast<long long>(k_join_timeout.count()));
    return std::nullopt;
}

/// Follows the control plane for the rest of the session, on its own thread (never the audio
/// thread): prints each event, moves the UDP session to a re-join's new player id, and ends
/// the session on a final refusal or a kick (exit_code then says which).
class control_watcher {
public:
    /// `page` (may be null) is shown every event as well. `local_voice`: --own-voice local,
    /// so a re-join asks the (new) node for a mix-minus again, and a node that cannot give
    /// one is worth a warning.
    /// `follow_node`: --directory, so a welcome may come from another node, whose UDP port the
    /// link moves to.
    control_watcher(control_link& control, server_link& link, ui_bridge* page,
                    bool local_voice = false, bool follow_node = false)
        : control_(control), link_(link), page_(page), local_voice_(local_voice),
          follow_node_(follow_node) {
        thread_ = std::thread([this] { run(); });
    }
    ~control_watcher() {
        stop_.store(true);
        thread_.join();
    }
    control_watcher(const control_watcher&) = delete;
    control_watcher& operator=(const control_watcher&) = delete;

    /// Any thread: 0, or the exit code the session should end with.
    [[nodiscard]] int exit_code() const noexcept { return exit_code_.load(); }

private:
    void run() {
        using kind = control_event::kind;
        while (!stop_.load(std::memory_order_relaxed)) {
            const auto e = control_.wait_event(std::chrono::milliseconds(50));
            if (!e)
                continue;
            if (page_ != nullptr)
                page_->on_control_event(*e);
            switch (e->what) {
            case kind::welcome:
                log_event(*e);
                if (follow_node_ && !e->host.empty() && e->udp_port != 0 &&
                    !link_.move_to(e->host, e->udp_port))
                    std::fprintf(stderr, "gno-client: cannot resolve %s, the node joined\n",
                                 e->host.c_str());
                // A restarted server numbers players anew (and keys them anew).
                link_.switch_session(e->player, welcome_key(*e));
                if (local_voice_)
                    control_.send_mix(0.0, std::nullopt); // a restarted node forgot it
                break;
            case kind::mix:
                log_event(*e);
                if (local_voice_ && !e->applied && !warned_shared_mix_) {
                    warned_shared_mix_ = true;
                    std::fprintf(stderr,
                                 "gno-client: warning: this node sends one shared mix, so you "
                                 "will hear your own voice twice (local and from the server); "
                                 "ask for --mix own or use --own-voice server\n");
                }
                break;
            case kind::refused:
                std::fprintf(stderr, "gno-client: %s\n", describe(*e).c_str());
                exit_code_.store(3);
                g_stop.store(true);
                break;
            case kind::kick:
                log_event(*e);
                if (e->player == link_.counters().session_id.load()) {
                    exit_code_.store(4);
                    g_stop.store(true);
                }
                break;
            default:
                log_event(*e);
                break;
            }
        }
    }

    control_link& control_;
    server_link& link_;
    ui_bridge* page_;
    const bool local_voice_;
    const bool follow_node_;
    bool warned_shared_mix_ = false; // this thread only
    std::atomic<int> exit_code_{0};
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

/// --directory: where to join, and where to go when that node is lost. The first placement
/// on the main thread; relocate() on the control link's thread (asking every directory the
/// last answer listed, the lost node avoided); the two never run at once.
class directory_follower {
public:
    explicit directory_follower(const client_options& o)
        : origin_{o.directory_host, o.directory_port}, request_{o.join_code, o.program, o.bank} {
        directories_ = {origin_};
    }

    /// Prints where the directory sends us, or why it cannot (nullopt: give up).
    std::optional<placement> first_placement() {
        std::string error;
        bool refused = false;
        auto p = ask_directories(directories_, request_, error, refused);
        if (!p) {
            std::fprintf(stderr, "gno-client: %s\n", error.c_str());
            return std::nullopt;
        }
        take(*p);
        return p;
    }

    std::optional<control_config::target> relocate() {
        directory_request r = request_;
        r.avoid = node_;
        std::string error;
        bool refused = false;
        const auto p = ask_directories(directories_, r, error, refused);
        if (!p) {
            std::fprintf(stderr,
                         "gno-client: node %u lost and no directory places us yet (%s); "
                         "asking again\n",
                         node_, error.c_str());
            return std::nullopt;
        }
        return take(*p);
    }

private:
    control_config::target take(const placement& p) {
        node_ = p.node;
        // Every directory it listed (the node chosen last), then the one we were given.
        directories_ = p.directories;
        directories_.push_back(origin_);
        char note[160];
        std::snprintf(note, sizeof note, "node %u at %s:%u (section %s)", p.node, p.host.c_str(),
                      static_cast<unsigned>(p.control_port), p.section.c_str());
        std::printf("gno-client: the directory sends us to %s\n", note);
        std::fflush(stdout);
        return control_config::target{p.host, p.control_port, p.token, note};
    }

    const directory_endpoint origin_;
    const directory_request request_;
    std::vector<directory_endpoint> directories_;
    std::uint32_t node_ = 0;
};

/// Sleeps until `until_ns` (steady) or a stop request.
void wait_until(std::int64_t until_ns) {
    while (!g_stop.load(std::memory_order_relaxed)) {
        const std::int64_t left = until_ns - steady_now_ns();
        if (left <= 0)
            return;
        std::this_thread::sleep_for(
            std::chrono::nanoseconds(std::min<std::int64_t>(left, 20'000'000)));
    }
}

std::int64_t start_time_ns(const client_options& o) {
    const std::int64_t now = steady_now_ns();
    if (!o.start_at_unix_ms)
        return now + 500'000'000;
    const auto sys_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const std::int64_t delta_ms = *o.start_at_unix_ms - sys_ms;
    if (delta_ms < 0)
        std::fprintf(stderr, "gno-client: warning: --start-at is %lld ms in the past\n",
                     static_cast<long long>(-delta_ms));
    return now + delta_ms * 1'000'000;
}

} // namespace

std::string summary_line(const session_summary& s) {
    const double pct = s.frames_expected ? 100.0 * static_cast<double>(s.audio_lost_estimate) /
                                               static_cast<double>(s.frames_expected)
                                         : 0.0;
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "player %u program %u: key-state sent %llu, audio received %llu, lost %llu "
                  "(%.1f%%), late %llu, dup %llu, fec %llu, plc %llu, frames %llu, "
                  "late events %u, mode %s",
                  s.session_id, static_cast<unsigned>(s.program),
                  static_cast<unsigned long long>(s.key_state_sent),
                  static_cast<unsigned long long>(s.audio_received),
                  static_cast<unsigned long long>(s.audio_lost_estimate), pct,
                  static_cast<unsigned long long>(s.packets_late),
                  static_cast<unsigned long long>(s.packets_duplicate),
                  static_cast<unsigned long long>(s.frames_fec),
                  static_cast<unsigned long long>(s.frames_plc),
                  static_cast<unsigned long long>(s.frames_total), s.late_events, s.mode.c_str());
    return buf;
}

std::string summary_json(const session_summary& s) {
    std::string j = "{";
    auto field = [&](const char* k, unsigned long long v) {
        if (j.size() > 1)
            j += ", ";
        j += '"';
        j += k;
        j += "\": ";
        j += std::to_string(v);
    };
    field("session_id", s.session_id);
    field("program", s.program);
    field("key_state_sent", s.key_state_sent);
    field("audio_received", s.audio_received);
    field("audio_lost_estimate", s.audio_lost_estimate);
    field("packets_late", s.packets_late);
    field("packets_duplicate", s.packets_duplicate);
    field("packets_bad", s.packets_bad);
    field("frames_decoded", s.frames_decoded);
    field("frames_fec", s.frames_fec);
    field("frames_plc", s.frames_plc);
    field("frames_silent", s.frames_silent);
    field("frames_total", s.frames_total);
    field("rtt_us", s.rtt_us);
    field("notes_on", s.notes_on);
    field("notes_off", s.notes_off);
    field("late_events", s.late_events);
    j += ", \"mode\": \"" + s.mode + '"';
    j += "}\n";
    return j;
}

std::string status_json(const status_sample& s) {
    char buf[1024];
    char score[160];
    if (s.has_score && s.score.has_piece_start)
        std::snprintf(score, sizeof score,
                      "\"score_s\": %.6f, \"beat\": %.4f, \"cycle_beat\": %.4f", s.score.score_s(),
                      s.score.beat, s.score.cycle_beat);
    else if (s.has_score)
        std::snprintf(score, sizeof score,
                      "\"score_s\": null, \"beat\": null, \"cycle_beat\": %.4f",
                      s.score.cycle_beat);
    else
        std::snprintf(score, sizeof score,
                      "\"score_s\": null, \"beat\": null, \"cycle_beat\": null");
    const auto ll = [](std::int64_t v) {
        return static_cast<long long>(v);
    };
    char server[64];
    char offset[64];
    if (s.synchronised) {
        std::snprintf(server, sizeof server, "%lld", ll(s.server_ns));
        std::snprintf(offset, sizeof offset, "%lld", ll(s.server_ns - s.local_ns));
    } else {
        std::snprintf(server, sizeof server, "null");
        std::snprintf(offset, sizeof offset, "null");
    }
    char mode[32];
    std::snprintf(mode, sizeof mode, s.has_info ? "\"%s\"" : "null", mode_name(s.info.mode));
    std::snprintf(
        buf, sizeof buf,
        "{\"local_ns\": %lld, \"true_local_ns\": %lld, \"server_ns\": %s, \"heard_r\": %lld, "
        "\"mode\": %s, \"advance_ns\": %lld, \"piece_start\": %lld, %s, \"solo\": %s, "
        "\"solo_request\": %s, \"soloist_session\": %u, \"solo_start\": %lld, "
        "\"late_events\": %u, \"offset_ns\": %s, \"clock_settled\": %s, \"rtt_us\": %u, "
        "\"jitter_frames\": %lld, \"program\": %u, \"bank\": %u, \"articulation\": \"%s\"}\n",
        ll(s.local_ns), ll(s.true_local_ns), server, ll(s.heard_r), mode, ll(s.info.advance_ns),
        ll(s.has_info ? s.info.piece_start : -1), score,
        (s.info.flags & 1u) != 0 ? "true" : "false", s.solo_request ? "true" : "false",
        s.info.soloist_session, ll(s.has_info ? s.info.solo_start : -1), s.info.late_events, offset,
        s.settled ? "true" : "false", s.rtt_us, ll(s.jitter_frames),
        static_cast<unsigned>(s.in_force.program), static_cast<unsigned>(s.in_force.bank),
        articulation_name(s.in_force.style).data());
    return buf;
}

int run_session(const client_options& o) {
    // Before anything reads the local clock (--clock-offset-ms / --clock-drift-ppm).
    set_local_clock_distortion(std::llround(o.clock_offset_ms * 1e6), o.clock_drift_ppm);

    // --- start-up: everything that can fail, fails here with an actionable message ---
    std::string play = o.play;
    if (play.empty()) {
        if (!isatty(STDIN_FILENO)) {
            std::fprintf(stderr, "gno-client: stdin is not a terminal; pass --play SPEC (e.g. "
                                 "--play hold:69:1000)\n");
            return 2;
        }
        play = "keyboard";
    }
    std::string error;
    auto spec = parse_play_spec(play, o.tempo_bpm, error);
    if (!spec) {
        std::fprintf(stderr, "gno-client: %s\n", error.c_str());
        return 2;
    }
    // --own-voice local: the soundfont loads now, before anything joins or opens.
    std::unique_ptr<local_monitor> monitor;
    if (o.own_voice == own_voice_source::local) {
        try {
            monitor = std::make_unique<local_monitor>(
                local_monitor_config{o.soundfont, o.bank, o.program});
        } catch (const local_monitor_error& e) {
            std::fprintf(stderr, "gno-client: %s\n", e.what());
            return 2;
        }
        if (o.join_code.empty())
            std::fprintf(stderr, "gno-client: warning: --own-voice local without --join-code: the "
                                 "server-side own level cannot be set (the node's default "
                                 "applies)\n");
    }
    // The part the page's piano-roll shows: --score, or the pattern played at the piece start.
    std::vector<score_note> part;
    if (!o.score.empty()) {
        const auto score = parse_play_spec(o.score, o.tempo_bpm, error);
        if (!score) {
            std::fprintf(stderr, "gno-client: --score: %s\n", error.c_str());
            return 2;
        }
        part = score_notes(score->pattern);
    } else if (o.at_piece_start) {
        part = score_notes(spec->pattern);
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);

    // The page first: a refused join code shows there too, and another can be typed in.
    std::unique_ptr<ui_bridge> page;
    if (o.ui) {
        try {
            page = std::make_unique<ui_bridge>(
                ui_bridge_config{ui_config{"127.0.0.1", o.ui_port, !o.ui_port_given}, o.name,
                                 o.program, std::move(part)});
            page->start();
        } catch (const local_ui_error& e) {
            std::fprintf(stderr, "gno-client: %s\n", e.what());
            return 2;
        }
        std::printf("gno-client: performer page on %s\n", page->url().c_str());
        std::fflush(stdout);
    }

    std::uint32_t session_id = o.session_id;
    proto::v1::session_key session_key{};
    std::unique_ptr<control_link> control;
    std::string host = o.host; // the node's, as --server or the directory says
    std::uint16_t udp_port = o.port;
    std::uint16_t control_port = o.control_port;
    std::string code = o.join_code; // or the directory's token for its node
    std::shared_ptr<directory_follower> follower;
    if (!o.directory_host.empty()) {
        follower = std::make_shared<directory_follower>(o);
        const auto placed = follower->first_placement();
        if (!placed)
            return 3;
        host = placed->host;
        udp_port = placed->udp_port;
        control_port = placed->control_port;
        code = placed->token;
    }
    if (!o.join_code.empty()) {
        // Joined before any datagram: the welcome's player id is the UDP session id (§8).
        for (;;) {
            control_config cc{host, control_port, code, o.name, o.program, o.bank, {}};
            if (follower)
                cc.relocate = [follower] {
                    return follower->relocate();
                };
            control = std::make_unique<control_link>(cc);
            if (page)
                page->set_control(control.get());
            control->start();
            bool refused = false;
            const auto welcome = await_welcome(*control, cc, page.get(), refused);
            if (welcome) {
                session_id = welcome->player;
                session_key = welcome_key(*welcome);
                break;
            }
            if (page)
                page->set_control(nullptr);
            control->stop();
            control.reset();
            if (!refused || !page || follower || g_stop.load())
                return 3; // (a code typed on the page would need the directory again)
            std::printf("gno-client: type another join code on the page %s (Ctrl-C to quit; "
                        "gives up in %lld s)\n",
                        page->url().c_str(), static_cast<long long>(k_new_code_wait.count()));
            std::fflush(stdout);
            auto next = page->wait_for_code(k_new_code_wait, g_stop);
            if (!next)
                return 3;
            code = std::move(*next);
        }
    }
    if (session_id == 0) {
        std::random_device rd;
        std::uniform_int_distribution<std::uint32_t> dist(1, 0x7FFFFFFF);
        session_id = dist(rd);
    }
    if (!control) {
        // No join: the key comes from the node's secret, which a test rig or an operator has.
        if (o.udp_secret_file.empty()) {
            std::fprintf(stderr,
                         "gno-client: the node only takes datagrams keyed for the session: join "
                         "with --join-code CODE, or (test rigs, operators) give the node's "
                         "--udp-secret-file FILE\n");
            return 2;
        }
        std::string secret_error;
        const auto secret = proto::v1::read_master_secret(o.udp_secret_file, secret_error);
        if (!secret) {
            std::fprintf(stderr, "gno-client: %s\n", secret_error.c_str());
            return 2;
        }
        session_key = proto::v1::derive_session_key(*secret, session_id);
    }

    try {
        playout audio(jitter_buffer::config{o.jitter_frames, 8, 200'000'000, o.jitter_max_frames,
                                            o.jitter_adaptive});
        link_config lc{host, udp_port, session_id, session_key, o.program, o.bank, o.solo, o.style};
        server_link link(lc, audio);
        midi_input midi; // filled by the JACK process callback; outlives `out`
        std::unique_ptr<audio_out> out =
            o.output_wav.empty()
                ? make_jack_audio_out(audio, jack_options{o.jack_name, o.jack_connect, o.midi_from},
                                      &midi, monitor.get())
                : make_wav_audio_out(audio, o.output_wav, o.wav, monitor.get());
        std::unique_ptr<terminal_keyboard> keyboard;
        if (spec->keyboard)
            keyboard = std::make_unique<terminal_keyboard>();
        std::FILE* status_file = nullptr;
        if (!o.status_path.empty()) {
            status_file = std::fopen(o.status_path.c_str(), "a");
            if (status_file == nullptr) {
                std::fprintf(stderr, "gno-client: cannot open --status %s for appending\n",
                             o.status_path.c_str());
                return 2;
            }
        }

        // --- run ---
        out->start();
        link.start();
        link_sink sink(link, o.solo);
        monitor_sink keys(sink, monitor.get()); // --own-voice local: every key sounds here too
        // The page reads the link and the audio: it stops before they go, however we leave.
        struct page_stopper {
            ui_bridge* page;
            ~page_stopper() {
                if (page != nullptr)
                    page->stop();
            }
        } stop_page_first{page.get()};
        if (page)
            page->attach(keys, link, audio, [&sink] { return sink.solo(); });
        // Every input plays through the page's tee when there is a page (its keys light up).
        key_sink& input = page ? page->sink() : static_cast<key_sink&>(keys);
        midi_forwarder midi_keys_in(midi, input); // JACK MIDI plays in every --play mode
        std::unique_ptr<status_writer> status;
        if (status_file != nullptr)
            status = std::make_unique<status_writer>(status_file, link, audio, sink);
        std::unique_ptr<control_watcher> watcher;
        if (control)
            watcher = std::make_unique<control_watcher>(*control, link, page.get(),
                                                        monitor != nullptr, follower != nullptr);
        if (control && monitor)
            control->send_mix(0.0, std::nullopt); // a mix-minus: the monitor plays our voice
        int exit_code = 0;
        const std::int64_t start = start_time_ns(o);
        if (spec->keyboard) {
            if (o.duration_s) {
                // The keyboard runs on this thread; a watchdog ends it at the duration.
                const std::int64_t end = start + static_cast<std::int64_t>(*o.duration_s * 1e9);
                std::thread watchdog([end] {
                    wait_until(end);
                    g_stop.store(true);
                });
                keyboard->run(input, g_stop, k_default_velocity, o.solo);
                g_stop.store(true);
                watchdog.join();
            } else {
                keyboard->run(input, g_stop, k_default_velocity, o.solo);
            }
            keyboard.reset(); // restore the terminal now
        } else if (spec->live_only) {
            // --play midi: no built-in input; live inputs play until --duration or a signal.
            wait_until(o.duration_s ? start + static_cast<std::int64_t>(*o.duration_s * 1e9)
                                    : std::numeric_limits<std::int64_t>::max());
        } else if (o.at_piece_start) {
            // Score time 0 = the piece start; --duration counts from there too.
            live_score_timeline timeline(link.timing(), audio);
            const std::string not_ready =
                wait_for_piece_start(timeline, k_piece_start_timeout_ns, g_stop);
            if (!not_ready.empty()) {
                std::fprintf(stderr, "gno-client: %s\n", not_ready.c_str());
                exit_code = 1;
            } else if (!g_stop.load()) {
                const auto r = play_pattern_on_score(spec->pattern, timeline, input, g_stop);
                if (r.skipped > 0)
                    std::fprintf(stderr,
                                 "gno-client: joined after the piece start: skipped %zu key "
                                 "events already past\n",
                                 r.skipped);
                if (r.late > 0)
                    std::fprintf(stderr,
                                 "gno-client: %zu key events pressed late (the clock estimate "
                                 "or the advance moved)\n",
                                 r.late);
                const std::int64_t end = o.duration_s
                                             ? static_cast<std::int64_t>(*o.duration_s * 1e9)
                                             : spec->pattern.length_ns + 2'000'000'000;
                if (!r.complete ||
                    !wait_for_score(timeline, end, g_stop, k_piece_start_timeout_ns)) {
                    if (!g_stop.load()) {
                        std::fprintf(stderr, "gno-client: lost the score clock (no clock "
                                             "estimate or heard audio for 10 s)\n");
                        exit_code = 1;
                    }
                }
            }
        } else {
            const std::int64_t length = o.duration_s
                                            ? static_cast<std::int64_t>(*o.duration_s * 1e9)
                                            : spec->pattern.length_ns + 2'000'000'000;
            play_pattern(spec->pattern, start, input, g_stop);
            wait_until(start + length);
        }

        // --- shut down: all notes off (sent at once and repeated within 20 ms), then stop ---
        midi_keys_in.stop();
        if (const auto& mc = midi.counters(); mc.received + mc.ignored + mc.dropped > 0)
            std::printf("gno-client: midi: %llu key events, %llu ignored, %llu dropped\n",
                        static_cast<unsigned long long>(mc.received.load()),
                        static_cast<unsigned long long>(mc.ignored.load()),
                        static_cast<unsigned long long>(mc.dropped.load()));
        link.all_notes_off();
        if (monitor)
            monitor->all_notes_off();
        std::this_thread::sleep_for(std::chrono::milliseconds(60));
        status.reset(); // its last line still sees the link and the audio running
        if (watcher) {
            if (watcher->exit_code() != 0)
                exit_code = watcher->exit_code();
            watcher.reset();
            control->stop();
        }
        link.stop();
        out->stop();

        const auto& jc = audio.buffer().counters();
        const auto& lk = link.counters();
        session_summary s;
        s.session_id = link.counters().session_id.load();
        s.program = link.current_instrument().program; // the last in force
        s.key_state_sent = lk.key_state_sent.load();
        s.audio_received = jc.packets_received.load();
        s.frames_expected = jc.frames_expected.load();
        const auto unique = s.audio_received - jc.packets_duplicate.load();
        s.audio_lost_estimate = s.frames_expected > unique ? s.frames_expected - unique : 0;
        s.packets_late = jc.packets_late.load();
        s.packets_duplicate = jc.packets_duplicate.load();
        s.packets_bad = jc.packets_bad.load();
        s.frames_decoded = jc.frames_decoded.load();
        s.frames_fec = jc.frames_fec.load();
        s.frames_plc = jc.frames_plc.load();
        s.frames_silent = jc.frames_silent.load();
        s.frames_total = s.frames_decoded + s.frames_fec + s.frames_plc + s.frames_silent;
        s.rtt_us = lk.rtt_us.load();
        s.notes_on = lk.notes_on.load();
        s.notes_off = lk.notes_off.load();
        if (const auto pt = link.timing().player.load(); pt.received) {
            s.late_events = pt.info.late_events;
            s.mode = mode_name(pt.info.mode);
        }

        if (!o.summary_path.empty()) {
            if (std::FILE* f = std::fopen(o.summary_path.c_str(), "w")) {
                const auto j = summary_json(s);
                std::fwrite(j.data(), 1, j.size(), f);
                std::fclose(f);
            } else {
                std::fprintf(stderr, "gno-client: cannot write --summary %s\n",
                             o.summary_path.c_str());
            }
        }
        std::printf("%s\n", summary_line(s).c_str());
        std::fflush(stdout);
        return exit_code;
    } catch (const audio_out_error& e) {
        std::fprintf(stderr, "gno-client: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "gno-client: %s\n", e.what());
        return 2;
    }
}

} // namespace gno::client
