#pragma once
// Wires the local web UI (local_ui.hpp) into a running session: the page's keys and instrument
// choices (program, kit, articulation) go to the key sink, its chat, solo and mix requests to
// the control link; the session's state goes back as
// status frames (10 Hz, only while a page is open) and the conductor's events as they come.
// Keys played by any input (pattern, terminal keyboard, JACK MIDI) light up the page's keyboard.
// The page is served before the join, so a refused join code shows there too and the performer
// can type another one (`wait_for_code`); the session attaches once it runs.
// Thread: construct, start, attach and destroy on the main thread; the rest as documented.

#include "gno/client/control_link.hpp"
#include "gno/client/key_source.hpp"
#include "gno/client/local_ui.hpp"
#include "gno/client/playout.hpp"
#include "gno/client/server_link.hpp"
#include "gno/client/ui_messages.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace gno::client {

struct ui_bridge_config {
    ui_config ui;
    std::string name;
    int program = 0;
    std::vector<score_note> part; // the player's part, shown on the piano-roll
};

class ui_bridge {
public:
    explicit ui_bridge(ui_bridge_config config);
    ~ui_bridge();
    ui_bridge(const ui_bridge&) = delete;
    ui_bridge& operator=(const ui_bridge&) = delete;

    /// Main thread: serves the page. Throws local_ui_error.
    void start();
    /// Main thread: closes the pages (idempotent).
    void stop();

    /// Main thread, before attach: the control link chat, solo and mix go through (null: none,
    /// e.g. no --join-code, or between a refusal and the next try).
    void set_control(control_link* control) noexcept;
    /// Main thread, once: the running session. `sink` receives every key (the page's and,
    /// through `sink()`, every other input's); `solo_requested` reports the solo request.
    void attach(key_sink& sink, server_link& link, const playout& audio,
                std::function<bool()> solo_requested);
    /// Main thread: after a refused join, waits for a code typed in the page; nullopt after
    /// `timeout` or once `stop` is set.
    [[nodiscard]] std::optional<std::string> wait_for_code(std::chrono::milliseconds timeout,
                                                           const std::atomic<bool>& stop);
    [[nodiscard]] std::string url() const { return ui_.url(); }
    [[nodiscard]] const ui_counters& counters() const noexcept { return ui_.counters(); }

    /// The sink the session's other inputs should play into: forwards to the session's sink
    /// and shows the key on the page. Any thread but the audio thread.
    [[nodiscard]] key_sink& sink() noexcept { return tee_; }

    /// Any thread but the audio thread: a control-plane event, shown on the page.
    void on_control_event(const control_event& e);

private:
    class tee final : public key_sink {
    public:
        explicit tee(ui_bridge& b) : b_(b) {}
        void key_down(std::uint8_t key, std::uint8_t velocity, std::int64_t local_ns) override;
        void key_up(std::uint8_t key, std::int64_t local_ns) override;
        void solo_request(bool on) override;
        void program_change(std::uint8_t program, std::uint16_t bank) override;
        void articulation_change(articulation style) override;

    private:
        ui_bridge& b_;
    };

    std::string status();                                  // UI thread
    void send_mix(const page_mix& m);                      // UI thread
    void on_page_key(const page_key& k);                   // UI thread
    void release_page_keys();                              // UI thread
    void on_page_join(std::string code);                   // UI thread
    void on_page_program(const page_program& p);           // UI thread
    void on_page_articulation(const page_articulation& a); // UI thread

    ui_bridge_config cfg_;
    // Set by attach before `attached_` is released; read only after acquiring it.
    key_sink* sink_ = nullptr;
    server_link* link_ = nullptr;
    const playout* audio_ = nullptr;
    std::function<bool()> solo_requested_;
    std::atomic<bool> attached_{false};
    std::atomic<control_link*> control_{nullptr};
    tee tee_{*this};

    // Written by the control watcher's thread, read by the UI thread.
    std::atomic<int> connection_{0}; // 0 connecting/udp-only, 1 joined, 2 reconnecting,
                                     // 3 refused, 4 kicked
    std::atomic<bool> muted_{false};
    std::atomic<double> loss_up_pct_{-1.0}; // the node's count of our lost key states; -1 unknown
    std::atomic<std::uint32_t> player_{0};
    std::mutex mu_; // guards the three below
    // The page's last mix, sent again after a re-join (a new session starts at the defaults).
    std::optional<page_mix> last_mix_;
    std::string section_;             // from the latest welcome
    std::optional<std::string> code_; // typed in the page after a refusal
    std::condition_variable code_cv_;

    // UI thread only.
    std::array<bool, 128> page_held_{};
    std::uint64_t last_packets_ = 0;
    std::int64_t last_packet_ns_ = 0;
    struct loss_point {
        std::uint64_t expected = 0, unique = 0;
    };
    std::array<loss_point, 10> loss_window_{}; // one per status tick: the last second
    std::size_t loss_at_ = 0;

    local_ui ui_; // last: its thread stops before the state above goes
};

} // namespace gno::client
