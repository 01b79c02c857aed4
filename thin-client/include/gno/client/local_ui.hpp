#pragma once
// The performer's local web UI (DESIGN.md §1): gno-client serves a page on the loopback
// interface (http://127.0.0.1:PORT/) and talks to it over a WebSocket (/ws, ui_messages.hpp).
// The page plays keys (computer keyboard and a clickable keyboard), scrolls the player's part,
// shows the conductor's images, cues and chat, the link's status, sets the mix and picks the
// instrument (program, GM kit, articulation).
//
// One Boost.Beast listener on its own thread and io_context (the model is Beast's
// advanced server, as the node's control plane): sessions live on that one thread, so they need
// no strand; one write in flight and a bounded queue per page (a page that stops reading is
// dropped). Only loopback is served, and a WebSocket must come from a page of this server (Host
// and Origin checked), so no web site the performer visits can play their instrument.
// Nothing here runs on the audio thread: key movements go to the hooks on the UI thread, and
// server_link posts them onward.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gno::client {

struct page_key;
struct page_mix;
struct page_program;
struct page_articulation;

inline constexpr std::uint16_t k_default_ui_port = 47090;

struct ui_config {
    std::string address = "127.0.0.1";      // loopback only: 127.0.0.0/8 or ::1
    std::uint16_t port = k_default_ui_port; // 0 = any free port
    bool fallback_to_any_port = true;       // the port is taken: take any free one instead
};

/// Called on the UI thread. Each may be empty.
struct ui_hooks {
    std::function<void(const page_key&)> key;
    std::function<void()> release_all; // asked by the page, or a page closed
    std::function<void(std::string_view text)> chat;
    std::function<void(bool on)> solo;
    std::function<void(const page_mix&)> mix;
    std::function<void(std::string code)> join;
    std::function<void(const page_program&)> program;
    std::function<void(const page_articulation&)> articulation;
    /// The hello frame for a new page, given the kept frames (see broadcast), oldest first.
    std::function<std::string(const std::vector<std::string>& history)> hello;
    std::function<std::string()> status; // a status frame, asked for every 100 ms
};

struct ui_counters {
    std::atomic<std::uint64_t> pages{0};         // WebSocket connections accepted
    std::atomic<std::uint64_t> messages{0};      // well-formed page messages
    std::atomic<std::uint64_t> refused{0};       // malformed or refused page messages
    std::atomic<std::uint64_t> forbidden{0};     // wrong Host/Origin, or too many pages
    std::atomic<std::uint64_t> dropped_pages{0}; // slow readers cut off
    std::atomic<std::uint64_t> http_requests{0};
};

/// Start-up failure the user can fix (the address is not loopback, no port free).
class local_ui_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class local_ui {
public:
    static constexpr std::size_t k_max_pages = 8;
    static constexpr std::size_t k_max_queued = 256; // frames behind the write in flight
    static constexpr int k_max_messages_per_s = 400; // keys of a fast glissando fit

    local_ui(ui_config config, ui_hooks hooks);
    ~local_ui();
    local_ui(const local_ui&) = delete;
    local_ui& operator=(const local_ui&) = delete;

    /// Main thread: binds and starts the UI thread. Throws local_ui_error.
    void start();
    /// Main thread: closes every page and joins the thread (idempotent).
    void stop();
    /// The bound port (after start).
    [[nodiscard]] std::uint16_t port() const noexcept;
    /// "http://127.0.0.1:PORT/".
    [[nodiscard]] std::string url() const;

    /// Any thread (never the audio thread): sends a frame to every open page. With a
    /// `history_key` the frame is also kept for pages that open later: the latest frame per
    /// key ("image", "cue", "piece", ...), except "chat", which keeps the last 50.
    void broadcast(std::string frame, std::string history_key = {});

    [[nodiscard]] const ui_counters& counters() const noexcept;

    struct impl; // local_ui.cpp: shared with the sessions it serves

private:
    std::shared_ptr<impl> impl_;
};

} // namespace gno::client
