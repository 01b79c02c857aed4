#pragma once
// The network statistics log (paper §7.1): every 10 s one JSON line per player (RTT mean and
// minimum, loss both ways, jitter, time disconnected, late events), and at the end of the
// session one summary line like the paper's (mean RTT, mean minimum RTT, loss rates, the
// probability that a player is disconnected at some time in a 10-s window).
//
// The network thread submits a link_report a second; a writer thread of the log's own folds
// them into 10-s windows and appends the lines, so the network thread never waits for the
// disk. The latest report is also kept for the control plane's live views.

#include "gno/render/link_stats.hpp"

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace gno::render {

/// One player over one 10-s window of the server timeline: the 1-s intervals added up.
struct player_window_stats : link_counts {
    std::int64_t window_start_ns = 0; // the window on the server timeline
    std::int64_t window_end_ns = 0;
    std::int64_t first_ns = 0; // the part of it the player was there for
    std::int64_t last_ns = 0;
    int slot = -1;
    std::uint32_t session_id = 0;
    int intervals = 0; // 1-s reports added
    bool joined = false;
    bool left = false;
    double jitter_sum_us = 0.0; // of the intervals' end-of-interval values
    double jitter_max_us = 0.0;
    std::uint32_t rtt_min_us = 0;

    void add(const player_link_window& w);
    [[nodiscard]] double jitter_mean_us() const noexcept;
};

/// The whole session, from every player window. Its rtt_mean_us() is the mean of every RTT
/// report (the paper's mean RTT); downlink_loss_pct() the mean of every downlink report.
struct session_summary : link_counts {
    std::int64_t server_ns = 0; // of the last report
    int players = 0;            // distinct sessions seen
    std::uint64_t player_windows = 0;
    std::uint64_t windows_with_rtt = 0;
    std::uint64_t windows_disconnected = 0; // with any disconnected time
    double rtt_window_min_sum_us = 0.0;     // Σ over windows with RTT of their minimum
    double jitter_sum_us = 0.0;             // Σ over windows of their mean

    void add(const player_window_stats& w);
    /// Mean over player windows of the window's smallest RTT (the paper's mean min-RTT), µs.
    [[nodiscard]] double rtt_min_mean_us() const noexcept;
    [[nodiscard]] double jitter_mean_us() const noexcept;
    /// Fraction of player windows with any disconnected time.
    [[nodiscard]] double disconnect_probability() const noexcept;
};

/// Folds 1-s link reports into fixed windows of the server timeline ([k·W, (k+1)·W)); a
/// report belongs to the window holding the midpoint of its longest interval. Each player
/// window is keyed by (slot, session), so a slot that changes hands gives two lines.
/// Pure: no threads, no I/O.
/// Thread: one at a time.
class link_aggregator {
public:
    static constexpr std::int64_t k_default_window_ns = 10'000'000'000;

    explicit link_aggregator(std::int64_t window_ns = k_default_window_ns);

    /// Adds a report; returns the player windows it completed (those of earlier windows),
    /// ordered by slot.
    std::vector<player_window_stats> add(const link_report& report);
    /// End of the session: closes the open windows (shorter than W) and returns them.
    std::vector<player_window_stats> close();
    /// Everything closed so far (call close() first for the whole session).
    [[nodiscard]] const session_summary& summary() const noexcept { return summary_; }

private:
    std::vector<player_window_stats> close_open();

    std::int64_t window_ns_;
    std::int64_t open_index_ = 0;
    bool have_open_ = false;
    // (slot, session) -> its window being filled.
    std::map<std::pair<int, std::uint32_t>, player_window_stats> open_;
    std::set<std::uint32_t> sessions_;
    session_summary summary_;
};

/// The JSON lines, one object each, no newline. `unix_ms`: wall-clock time of writing.
/// {"type":"player_window",...} and {"type":"summary",...}; see network_stats_log.cpp.
/// Thread: any (pure).
[[nodiscard]] std::string player_window_json(const player_window_stats& w, std::int64_t unix_ms);
[[nodiscard]] std::string summary_json(const session_summary& s, std::int64_t unix_ms);

class network_stats_log {
public:
    /// Start-up: opens `path` for appending and starts the writer thread. An empty path keeps
    /// only latest() (no thread, no file). Throws std::runtime_error naming the fix when the
    /// file cannot be written.
    explicit network_stats_log(const std::filesystem::path& path,
                               std::int64_t window_ns = link_aggregator::k_default_window_ns);
    ~network_stats_log();
    network_stats_log(const network_stats_log&) = delete;
    network_stats_log& operator=(const network_stats_log&) = delete;

    /// Any thread (the network thread, once a second): keeps the report as the latest and
    /// queues it for the writer. Holds a mutex only to move it in; never waits for the disk.
    /// A writer more than k_max_queued reports behind loses the oldest (counted).
    void submit(link_report report);

    /// Any thread: a copy of the latest report (empty, server_ns 0, before the first).
    [[nodiscard]] link_report latest() const;

    /// Control thread, after the last submit(): writes the open windows and the summary line
    /// and joins the writer. Idempotent; the destructor calls it.
    void finish();

    /// Any thread: reports the writer dropped because it fell behind.
    [[nodiscard]] std::uint64_t dropped_reports() const;

    static constexpr std::size_t k_max_queued = 120;

private:
    void run_writer();
    void write_lines(const std::vector<player_window_stats>& windows);

    link_aggregator aggregator_; // writer thread only
    std::FILE* file_ = nullptr;  // writer thread only (after construction)
    bool logging_ = false;       // set once by the constructor: a file and a writer

    mutable std::mutex mutex_; // guards everything below
    std::condition_variable wake_;
    std::deque<link_report> queue_;
    link_report latest_;
    std::uint64_t dropped_ = 0;
    bool finishing_ = false;
    bool finished_ = false;

    std::thread writer_;
};

} // namespace gno::render
