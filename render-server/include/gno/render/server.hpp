#pragma once
// A render node: wires the render clock, the render engine, the UDP endpoint and the recorder
// (DESIGN.md §7). The render clock is a steady-clock thread on a headless node, or with --jack
// the venue's JACK process callback (venue_output.hpp), whose card then keeps the timeline.
// Thread: construct, start, stop and read stats from one control thread.

#include "gno/proto/v1/auth.hpp"
#include "gno/render/config.hpp"
#include "gno/render/control_plane.hpp"
#include "gno/render/counters.hpp"
#include "gno/render/frames.hpp"
#include "gno/render/instrument_library.hpp"
#include "gno/render/link_stats.hpp"
#include "gno/render/listen_stream.hpp"
#include "gno/render/network_stats_log.hpp"
#include "gno/render/perf_log.hpp"
#include "gno/render/player_timing.hpp"
#include "gno/render/recorder.hpp"
#include "gno/render/render_clock.hpp"
#include "gno/render/render_engine.hpp"
#include "gno/render/spsc_ring.hpp"
#include "gno/render/stem_exchange.hpp"
#include "gno/render/talkback.hpp"
#include "gno/render/udp_io.hpp"
#include "gno/render/venue_output.hpp"

#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>

namespace gno::render {

class server {
public:
    /// Loads the soundfont, binds the port and creates the recording; throws
    /// std::runtime_error with a one-line, actionable message on any failure (venue_error
    /// for what JACK refused, with --jack).
    explicit server(server_config cfg);
    ~server();

    void start();
    /// Stops rendering and networking, then finalises the recording. Idempotent.
    void stop();

    [[nodiscard]] const node_counters& counters() const noexcept { return counters_; }
    [[nodiscard]] std::uint16_t port() const noexcept { return io_->port(); }
    /// The control plane's TCP port (WebSocket, console, metrics).
    [[nodiscard]] std::uint16_t control_port() const noexcept { return control_->port(); }
    /// The join codes in force (given, or made up at start when none was given).
    [[nodiscard]] const std::vector<join_code>& join_codes() const noexcept {
        return cfg_.control.codes;
    }
    /// Prometheus text exposition of the node's counters and per-player links (any thread).
    [[nodiscard]] std::string metrics_text() const;
    /// One JSON object with every counter, for the stats file and the exit summary.
    [[nodiscard]] std::string stats_json() const;
    /// Writes the stem onsets found since the last call as JSON lines (control thread).
    void write_onsets(std::ostream& out);
    /// CLOCK_MONOTONIC ns at render sample 0 (lets a benchmark on this machine know the truth).
    [[nodiscard]] std::int64_t epoch_ns() const noexcept { return timeline().epoch_ns(); }
    /// The render sample of this instant on the server timeline (any thread): "now" for
    /// talkback_feed::start_at_once.
    [[nodiscard]] std::int64_t render_sample_now() const noexcept {
        return ns_to_samples(timeline().now_ns(), cfg_.sample_rate);
    }
    /// The clock the server timeline runs on: the steady clock, or the venue's card.
    [[nodiscard]] const server_timeline& timeline() const noexcept {
        return venue_ ? static_cast<const server_timeline&>(*venue_) : clock_;
    }
    /// Control thread: why the node cannot go on (the JACK server went away); empty while
    /// it can.
    [[nodiscard]] std::string fatal_error() const;
    /// Control thread, after start(): what the venue output could not do at start (connect
    /// its ports); empty if nothing.
    [[nodiscard]] std::string venue_warning() const { return venue_ ? venue_->warning() : ""; }
    /// The venue's JACK output; nullptr on a headless node.
    [[nodiscard]] const venue_output* venue() const noexcept { return venue_.get(); }
    /// The conductor's talk-back into every performer mix (talkback.hpp). Thread: one control
    /// thread only, the same for every call (the feed is its ring's single producer).
    [[nodiscard]] talkback_feed& talkback() noexcept { return talkback_; }
    [[nodiscard]] int render_threads() const noexcept { return engine_->crew_size(); }
    /// Non-empty when the render thread could not get real-time priority.
    [[nodiscard]] std::string realtime_warning() const;
    /// The mesh (stem_exchange.hpp); nullptr on a node of its own.
    [[nodiscard]] const stem_exchange* mesh() const noexcept { return mesh_.get(); }
    /// Which peer's timeline this node took at start (0: it started its own).
    [[nodiscard]] std::uint32_t timeline_from() const noexcept { return timeline_from_; }
    /// Any thread: every player's link over the last second (RTT, loss both ways, jitter,
    /// disconnected time, late events), a copy; empty before the first second has passed.
    [[nodiscard]] link_report latest_link_report() const { return net_stats_->latest(); }

private:
    /// What the control plane may ask of the node (server_control.cpp).
    control_hooks make_control_hooks();
    /// This node as the directory and its peers see it (server_control.cpp). Any thread.
    directory_node own_node() const;
    /// Under timing_mu_: a conductor here changed the timing; the mesh hears of it at once, as
    /// one change more than the newest it has seen (server_control.cpp).
    void share_timing_locked();
    /// Mesh thread: the timing in force with its version, as the peers are told it.
    shared_timing shared_timing_now();
    /// Mesh thread: a peer's timing; taken when newer, and this node's sessions told of it.
    void adopt_timing(const shared_timing& s);
    /// Mesh thread: node `from`'s conductor's talk-back from render sample `at`; empty: it
    /// ended.
    void play_peer_talkback(std::uint32_t from, std::int64_t at, std::span<const float> pcm);
    /// JACK process thread, realtime-safe: one engine frame into the venue's port channels.
    void render_venue_frame(std::int64_t r, std::span<float* const> channels) noexcept;

    server_config cfg_;
    // The UDP master secret (DESIGN.md §8): every session's key derives from it.
    proto::v1::master_secret udp_secret_;
    node_counters counters_;
    timing_state timing_;
    spsc_ring<ingress_event> ingress_;
    spsc_ring<pcm_frame> record_ring_;
    spsc_ring<pcm_frame> listen_ring_;
    spsc_ring<stem_onset> onset_ring_;
    spsc_ring<log_record> log_ring_;
    spsc_ring<talkback_block> talkback_ring_;
    spsc_ring<stem_block> mesh_out_ring_;
    spsc_ring<stem_slice> mesh_in_ring_;
    talkback_feed talkback_;
    // Before engine_ and io_, which hold performers' instruments: it frees them after both.
    std::unique_ptr<instrument_library> instruments_;
    render_clock clock_;
    // After clock_: with --jack the venue's card keeps the timeline and its callback renders.
    std::unique_ptr<venue_output> venue_;
    std::unique_ptr<render_engine> engine_;
    std::unique_ptr<udp_io> io_;
    std::unique_ptr<recorder> recorder_;
    std::unique_ptr<perf_log_writer> perf_log_; // stopped after the render thread
    // Before control_, whose listeners hold subscriptions to it; stopped after the render thread.
    std::unique_ptr<listen_stream> listen_;
    // Before io_, whose network thread submits to it; finished after that thread stops.
    std::unique_ptr<network_stats_log> net_stats_;
    std::mutex talkback_mu_; // serialises the control plane's and the mesh's calls into talkback_
    // Under talkback_mu_: whose talk-back talkback_ plays - 0 nobody, this node's id its own
    // conductor, a peer's id that peer's. A talk-back holds the feed until it ends; another
    // begun meanwhile elsewhere is not heard here (this node's own conductor takes it over).
    std::uint32_t talker_ = 0;
    std::mutex timing_mu_; // serialises the conductor's timing changes (one seqlock writer)
    // The conductor's timing as the mesh shares it (shared_timing): its version and origin
    // and the piece's name, under timing_mu_; the version again for /metrics.
    std::uint64_t timing_version_ = 0;
    std::uint32_t timing_origin_ = 0;
    std::string piece_name_;
    std::atomic<std::uint64_t> timing_version_metric_{0};
    std::unique_ptr<stem_exchange> mesh_; // before engine_: it sets the timeline first
    std::uint32_t timeline_from_ = 0;
    std::unique_ptr<directory> directory_;   // with a mesh; before control_, which serves it
    std::unique_ptr<control_plane> control_; // last made, first stopped
    std::jthread render_thread_;
    std::thread network_thread_;
    std::thread mesh_thread_;
    std::atomic<bool> realtime_ok_{true};
    std::string realtime_why_;
    bool stopped_ = false;
};

} // namespace gno::render
