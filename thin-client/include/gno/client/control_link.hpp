#pragma once
// The client's reliable side (DESIGN.md §3, §8): a WebSocket to the node's control plane
// (`ws://HOST:PORT/ws`, proto/v1/control.hpp), on its own thread and io_context.
//
// It joins with a code, name, program and bank; the server's welcome (player id = the UDP
// session id, session key, UDP port) and every later message come out as parsed
// `control_event`s through a bounded, thread-safe queue (`wait_event`), so nothing the server
// says ever runs on the audio thread. When the connection drops it reconnects by itself with a
// backoff of 100 ms doubling to at most 1 s, and joins again with the same code; a new welcome
// (a restarted server gives a new player id) is delivered like the first. A refused join
// (`error` before `welcome`: bad_code, wrong_role, ...) and a kick are final: reported once,
// never retried. Malformed server messages are dropped and counted, never thrown.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <gno/proto/v1/control.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace gno::client {

inline constexpr std::uint16_t k_default_control_port = 47080; // gno-server's --control-port

struct control_config {
    std::string host = "127.0.0.1";
    std::uint16_t port = k_default_control_port;
    std::string code;
    std::string name = "performer";
    int program = 0;
    int bank = 0;
    /// Where to go when a joined connection is lost (gno-client --directory): called on the
    /// link's thread before each reconnection until a welcome; a target replaces host, port and
    /// code (and is announced as a kind::moved event). Empty, or nullopt: the same node again.
    struct target {
        std::string host;
        std::uint16_t port = 0;
        std::string code;
        std::string note; // for the performer: "node 2 at 10.0.0.2:47080"
    };
    std::function<std::optional<target>()> relocate;
};

/// A performer's own link over the node's last second (proto `link`): what the client cannot
/// measure itself, above all the loss of its key states on the way up.
struct link_figures {
    double rtt_ms = 0, min_rtt_ms = 0; // mean and least of the client's round-trip reports
    double jitter_ms = 0;              // RFC 3550 jitter of the key states' arrival
    double loss_up_pct = 0;            // key states lost on the way to the node
    double loss_down_pct = 0;          // audio lost on the way back, as the client reported it
    std::uint32_t late_events = 0;     // events that reached the render too late
    bool udp = false;                  // false: the node has no key states from us (all figures 0)
};

/// One thing the control plane said (or the link noticed), parsed and bounded.
struct control_event {
    enum class kind : std::uint8_t {
        welcome,      // joined: player, session_key, udp_port, section, mode, tempo_bpm
        refused,      // the join was refused (code, message); final, the link has stopped
        disconnected, // the connection dropped (message); reconnecting
        moved,        // the node was lost; reconnecting to another (message: which)
        chat,         // from_name, text
        image,        // section, image
        cue,          // section, text = "intensity .. register .. point .."
        piece,        // name, start_ns, start_sample
        timing,       // mode, tempo_bpm, cycle_beats (0 when absent)
        mute,         // player, muted
        kick,         // player; when it is ours the link has stopped
        talkback,     // muted = off (false = on)
        solo,         // player (the soloist)
        error,        // code, message (a refused message; the connection stays open)
        mix,          // levels (all of them), applied, mode = the node's mix mode (own|shared)
        link,         // link: this performer's link as the node sees it (every second)
        other,        // a known-harmless type a performer does not act on (roster, ...)
    };
    kind what = kind::other;
    std::string type; // the server's "type"
    std::uint32_t player = 0;
    std::string session_key;
    std::uint16_t udp_port = 0;
    std::string section, mode, name, from_name, image, text, code, message;
    std::string host; // welcome: the host the link joined (where the node's udp_port is)
    double tempo_bpm = 0;
    int cycle_beats = 0;
    std::int64_t start_ns = 0, start_sample = 0;
    bool muted = false;
    proto::v1::control::mix_levels levels; // mix: the performer's own mix as the node has it
    bool applied = false; // mix: the node hears them (false: it runs one shared mix)
    link_figures link;    // link
};

/// Pure: parses one server text frame. Nullopt for anything malformed (not JSON, too deep or
/// large, no type, a field of the wrong type). Unknown types come back as kind::other. Never
/// throws. Thread: any.
[[nodiscard]] std::optional<control_event> parse_server_message(std::string_view text) noexcept;

/// Pure: one line for a person (no newline; control characters of server text replaced), e.g.
/// "image strings swell". Empty for events not worth a line (kind::link, kind::other).
/// Thread: any.
[[nodiscard]] std::string describe(const control_event& e);

/// Pure: the client's frames. Thread: any.
[[nodiscard]] std::string encode_join(const control_config& c);
[[nodiscard]] std::string encode_chat(std::string_view text);
[[nodiscard]] std::string encode_solo_request();
/// Section name -> level, for a mix change (names from the welcome's `sections`).
using section_levels = std::map<std::string, double, std::less<>>;
/// A change to the performer's own mix: each level given (linear, 0..2; the server refuses
/// others with an `error`) replaces that level, the rest stay; nothing given asks for them.
[[nodiscard]] std::string encode_mix(std::optional<double> own, std::optional<double> click,
                                     const section_levels& sections = {});

/// Totals, written by the link's thread, readable anywhere.
struct control_counters {
    std::atomic<std::uint64_t> connects{0}; // WebSocket handshakes completed
    std::atomic<std::uint64_t> welcomes{0};
    std::atomic<std::uint64_t> messages{0};       // well-formed server messages
    std::atomic<std::uint64_t> malformed{0};      // dropped: unparsable server messages
    std::atomic<std::uint64_t> events_dropped{0}; // queue full: the oldest were dropped
    std::atomic<std::uint64_t> sends_dropped{0};  // not joined, or the write queue full
};

class control_link {
public:
    /// Start-up: nothing connects until start(). Does not throw on a bad host (resolving is
    /// retried like any connection failure).
    explicit control_link(control_config config);
    ~control_link();
    control_link(const control_link&) = delete;
    control_link& operator=(const control_link&) = delete;

    /// Main thread: starts the link's thread, which connects and joins.
    void start();
    /// Main thread: closes the WebSocket and joins the thread (idempotent).
    void stop();

    /// Any thread (typically one consumer): the next event, waiting up to `timeout`.
    [[nodiscard]] std::optional<control_event> wait_event(std::chrono::milliseconds timeout);

    /// Any thread: sends once joined; dropped and counted when not joined or backed up.
    void send_chat(std::string_view text);
    void send_solo_request();
    /// See encode_mix; the answer comes back as a kind::mix event (or kind::error).
    void send_mix(std::optional<double> own, std::optional<double> click,
                  const section_levels& sections = {});

    [[nodiscard]] const control_counters& counters() const noexcept;

    static constexpr std::size_t k_max_events = 256; // queued for the consumer
    static constexpr std::size_t k_max_writes = 32;  // queued behind the write in flight
    static constexpr auto k_first_backoff = std::chrono::milliseconds(100);
    static constexpr auto k_max_backoff = std::chrono::milliseconds(1000);

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

} // namespace gno::client
