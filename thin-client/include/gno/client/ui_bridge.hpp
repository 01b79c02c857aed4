#pragma once
// Wires the local web UI (local_ui.hpp) into a running session: the page's keys go to the key
// sink, its chat, solo and mix requests to the control link; the session's state goes back as
// status frames (10 Hz, only while a page is open) and the conductor's events as they come.
// Keys played by any input (pattern, terminal keyboard, JACK MIDI) light up the page's keyboard.
// Thread: construct, start and destroy on the main thread; the rest as documented.

#include "gno/client/control_link.hpp"
#include "gno/client/key_source.hpp"
#include "gno/client/local_ui.hpp"
#include "gno/client/playout.hpp"
#include "gno/client/server_link.hpp"
#include "gno/client/ui_messages.hpp"

#include <array>
#include <atomic>
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
    std::string section; // from the welcome (empty without a join)
    int program = 0;
    std::vector<score_note> part; // the player's part, shown on the piano-roll
};

class ui_bridge {
public:
    /// `sink` receives every key (the page's and, through `sink()`, every other input's);
    /// `control` may be null (no --join-code: chat, solo by the control plane and mix are then
    /// refused with a message). `solo_requested` reports the solo request as last set.
    ui_bridge(ui_bridge_config config, key_sink& sink, server_link& link, const playout& audio,
              control_link* control, std::function<bool()> solo_requested);
    ~ui_bridge();
    ui_bridge(const ui_bridge&) = delete;
    ui_bridge& operator=(const ui_bridge&) = delete;

    /// Main thread: serves the page. Throws local_ui_error.
    void start();
    /// Main thread: closes the pages (idempotent).
    void stop();
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

    private:
        ui_bridge& b_;
    };

    std::string status();                // UI thread
    void send_mix(const page_mix& m);    // UI thread
    void on_page_key(const page_key& k); // UI thread
    void release_page_keys();            // UI thread

    ui_bridge_config cfg_;
    key_sink& sink_;
    server_link& link_;
    const playout& audio_;
    control_link* control_;
    std::function<bool()> solo_requested_;
    tee tee_{*this};

    // Written by the control watcher's thread, read by the UI thread.
    std::atomic<int> connection_{0}; // 0 connecting/udp-only, 1 joined, 2 reconnecting,
                                     // 3 refused, 4 kicked
    std::atomic<bool> muted_{false};
    std::atomic<std::uint32_t> player_{0};
    // The page's last mix, sent again after a re-join (a new session starts at the defaults).
    std::mutex mix_mu_;
    std::optional<page_mix> last_mix_;

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
