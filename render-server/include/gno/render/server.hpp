#pragma once
// A render node: wires the render clock, the render engine, the UDP endpoint and the recorder
// (DESIGN.md §7). Thread: construct, start, stop and read stats from one control thread.

#include "gno/render/config.hpp"
#include "gno/render/counters.hpp"
#include "gno/render/frames.hpp"
#include "gno/render/player_timing.hpp"
#include "gno/render/recorder.hpp"
#include "gno/render/render_clock.hpp"
#include "gno/render/render_engine.hpp"
#include "gno/render/spsc_ring.hpp"
#include "gno/render/udp_io.hpp"

#include <memory>
#include <ostream>
#include <string>
#include <thread>

namespace gno::render {

class server {
public:
    /// Loads the soundfont, binds the port and creates the recording; throws
    /// std::runtime_error with a one-line, actionable message on any failure.
    explicit server(server_config cfg);
    ~server();

    void start();
    /// Stops rendering and networking, then finalises the recording. Idempotent.
    void stop();

    [[nodiscard]] const node_counters& counters() const noexcept { return counters_; }
    [[nodiscard]] std::uint16_t port() const noexcept { return io_->port(); }
    /// One JSON object with every counter, for the stats file and the exit summary.
    [[nodiscard]] std::string stats_json() const;
    /// Writes the stem onsets found since the last call as JSON lines (control thread).
    void write_onsets(std::ostream& out);
    /// CLOCK_MONOTONIC ns at render sample 0 (lets a benchmark on this machine know the truth).
    [[nodiscard]] std::int64_t epoch_ns() const noexcept { return clock_.epoch_ns(); }
    [[nodiscard]] int render_threads() const noexcept { return engine_->crew_size(); }
    /// Non-empty when the render thread could not get real-time priority.
    [[nodiscard]] std::string realtime_warning() const;

private:
    server_config cfg_;
    node_counters counters_;
    timing_state timing_;
    spsc_ring<ingress_event> ingress_;
    spsc_ring<pcm_frame> record_ring_;
    spsc_ring<stem_onset> onset_ring_;
    render_clock clock_;
    std::unique_ptr<render_engine> engine_;
    std::unique_ptr<udp_io> io_;
    std::unique_ptr<recorder> recorder_;
    std::jthread render_thread_;
    std::thread network_thread_;
    std::atomic<bool> realtime_ok_{true};
    std::string realtime_why_;
    bool stopped_ = false;
};

} // namespace gno::render
