#pragma once
// The node's reliable channel and HTTP face (DESIGN.md §3, §8): one Boost.Beast listener on a
// TCP port serving
//   /ws          WebSocket: join with a code, then the role's messages (proto/v1/control.hpp)
//   /console/    the conductor's console (pages embedded in the binary)
//   /healthz     "ok" while the node renders
//   /metrics     Prometheus text format
//   /api/status  the node's counters as JSON
//   /listen      the audience mix as a live Ogg Opus stream; /listen/ a page that plays it
//   /api/directory  GET: the mesh's nodes; POST a performer's code: the node to join and a
//                token for it (directory.hpp)
//   /api/instrument  POST: a performer's own instrument (WAV samples and a key map, multipart),
//                built off the I/O threads; DELETE: back to GM. Authorization: Bearer
//                PLAYER:SESSION_KEY from the performer's welcome. The size is checked from the
//                header before a byte of the body is read.
// Sessions follow Beast's advanced server: one object per connection, a strand each, one write
// in flight and a bounded queue behind it (a reader too slow for its queue is dropped). The
// shared room state (who is joined, the solo queue) is behind one mutex, held only to copy or
// update it — never across I/O. Nothing here touches the render thread: what the node must
// do (mute, solo, timing, talk-back, a performer's own mix) goes through the hooks the server
// provides. A performer's mix levels live with its connection (its strand), so they end with it.
//
// Thread: construct, start, stop on one control thread; the hooks are called on the control
// plane's own I/O threads.

#include "gno/proto/v1/control.hpp"
#include "gno/render/config.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace gno::render {

class directory;
class listen_stream;

/// One row of the live network view (udp_io's link reports, merged by the server).
struct player_link_view {
    std::uint32_t session = 0;
    double rtt_ms = 0, min_rtt_ms = 0, jitter_ms = 0;
    double loss_up_pct = 0, loss_down_pct = 0;
    std::uint32_t late_events = 0;
};

/// What the control plane asks of the node. Each may be empty (then the feature is off).
/// Called on control I/O threads; implementations must be thread-safe and must not block.
struct control_hooks {
    std::function<std::string()> status_json;  // /api/status
    std::function<std::string()> metrics_text; // /metrics
    std::function<bool()> healthy;             // /healthz
    std::function<std::int64_t()> now_ns;      // server timeline
    std::function<std::vector<player_link_view>()> links;
    /// The UDP key of a session (DESIGN.md §8): the node derives it from its master secret,
    /// so its datagrams' tags check out. Unset (unit tests): a random key.
    std::function<std::array<std::uint8_t, 16>(std::uint32_t session)> session_key;
    /// A performer joined with this session id, key and instrument.
    std::function<void(std::uint32_t session, std::span<const std::uint8_t, 16> key, int bank,
                       int program)>
        admit;
    /// A performer left (its connection closed): its session may not begin playing again.
    std::function<void(std::uint32_t session)> release;
    std::function<void(std::uint32_t session)> dismiss; // kicked or left
    std::function<void(std::uint32_t session, bool muted)> mute;
    std::function<void(std::uint32_t session)> solo_grant;
    /// The piece `name` starts in `start_in_ms`; returns when it starts (sample -1: refused).
    struct piece_time {
        std::int64_t sample = -1; // on the render timeline
        std::int64_t ns = 0;      // the same instant in server time
    };
    std::function<piece_time(std::string_view name, std::int64_t start_in_ms)> piece_start;
    /// A timing change; returns an empty string when applied, else why not.
    std::function<std::string(const control::timing&)> timing;
    /// Talk-back: begin (at_ms from now, or at once), PCM (48 kHz mono s16), end.
    std::function<bool(std::optional<std::int64_t> at_ms)> talkback_begin;
    std::function<void(std::span<const std::int16_t>)> talkback_pcm;
    std::function<void()> talkback_end;
    /// Current timing for the welcome: mode name, tempo, cycle beats.
    std::function<control::welcome()> session_defaults;
    /// A performer's own mix (DESIGN.md §6): every level, after its `mix` message applied (or
    /// the defaults back as it leaves). Returns whether the node honours them: false when it
    /// runs one shared mix (the levels are kept, nobody hears them). Empty: `mix` is refused.
    std::function<bool(std::uint32_t session, const control::mix_levels&)> mix;
    /// The levels a performer starts with (empty: mix_levels' own defaults).
    std::function<control::mix_levels()> mix_defaults;
    /// The live audience stream served at /listen; null: /listen answers 404. Must outlive
    /// the control plane's stop().
    listen_stream* listen = nullptr;
    /// The mesh's directory (directory.hpp), served at /api/directory, and whose join tokens
    /// are taken as performer codes; null: /api/directory answers 404, tokens are refused.
    /// Must outlive the control plane's stop().
    const directory* dir = nullptr;
    /// A performer's instrument upload (POST /api/instrument): its Content-Type and body.
    /// Called on the control plane's builder thread, never an I/O thread (it may take a
    /// while); returns the HTTP status and JSON body for the uploader. Empty: uploads are off.
    struct instrument_reply {
        int status = 200;
        std::string json;
    };
    std::function<instrument_reply(std::uint32_t session, std::string_view content_type,
                                   std::string_view body)>
        instrument_upload;
    /// The performer's own instrument is to go (DELETE /api/instrument, or it left): GM again.
    std::function<void(std::uint32_t session)> instrument_remove;
};

class control_plane {
public:
    /// Binds the port; throws std::runtime_error naming the fix when it is busy.
    control_plane(control_config cfg, control_hooks hooks);
    ~control_plane();
    control_plane(const control_plane&) = delete;
    control_plane& operator=(const control_plane&) = delete;

    void start();
    /// Closes every connection and joins the I/O threads. Idempotent.
    void stop();
    [[nodiscard]] std::uint16_t port() const noexcept;
    /// Any thread: a message (one JSON text) to every connected session, e.g. a change of
    /// timing made by a conductor on another node of the mesh.
    void announce(std::string text);
    /// Any thread: tells every performer that talk-back is on or off, as a conductor's
    /// talkback_begin and talkback_end do (e.g. one from a conductor on another node).
    void announce_talkback(bool on);

    /// Counters for /metrics (any thread).
    struct stats {
        std::uint64_t connections = 0, joined = 0, refused_joins = 0, bad_messages = 0,
                      rate_limited = 0, slow_readers_dropped = 0, messages_in = 0,
                      talkback_samples = 0;
        std::uint64_t uploads = 0, refused_uploads = 0; // instrument bodies built / refused
                                                        // before (or instead of) reading them
        std::uint64_t code_full = 0;     // joins refused because their code's places were taken
                                         // (counted in refused_joins too)
        std::uint64_t code_lockouts = 0; // code checks refused: too many wrong codes from the
                                         // address (code_guard.hpp; in refused_joins too)
        std::uint32_t open_connections = 0;
    };
    [[nodiscard]] stats counters() const noexcept;

    struct impl;

private:
    std::shared_ptr<impl> impl_;
};

/// Parses "ROLE:CODE[:PROGRAM[:MAX]]" (the --join-code option; PROGRAM may be empty when MAX
/// follows; MAX 1..65535 members at once, else members_allowed's default for the role);
/// throws std::invalid_argument with a message for the user.
join_code parse_join_code(std::string_view spec);

} // namespace gno::render
