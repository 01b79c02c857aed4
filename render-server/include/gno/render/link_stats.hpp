#pragma once
// Each player's link as the network thread sees it (paper §7.1; DESIGN.md §3): key states
// received, uplink loss from their sequence numbers, interarrival jitter, the round trip and
// downlink loss the client reports in every key state, and time disconnected. udp_io keeps one
// link_accumulator per player slot and, once a second, closes them all into a link_report for
// whoever logs or serves it (network_stats_log, the control plane's roster and /metrics).

#include <cstdint>
#include <vector>

namespace gno::render {

/// What adds up exactly, from a 1-s interval to a 10-s window to a whole session: counts and
/// sums rather than rates, and the rates derived from them.
struct link_counts {
    // Uplink, RTP-style from the key states' sequence numbers (RFC 3550 §6.4.1): `expected`
    // is how far the highest sequence number advanced, `received` how many distinct ones
    // came. A reordered key state repairs a loss an earlier interval counted, so one
    // interval's lost() may be negative; sums over intervals are exact.
    std::uint64_t key_states = 0; // valid key-state datagrams, duplicates included
    std::int64_t expected = 0;
    std::int64_t received = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t reordered = 0; // came after a higher sequence number

    // The client's view, carried in its key states: the round trip of its latest clock ping
    // (key states saying 0 have none yet and are not counted) and the audio frames it lost
    // over its last completed second (proto key_state::loss_permille).
    std::uint64_t rtt_reports = 0;
    double rtt_sum_us = 0.0;
    std::uint64_t loss_reports = 0;
    std::uint64_t loss_permille_sum = 0;

    std::int64_t disconnected_ns = 0; // see link_accumulator::k_disconnect_gap_ns
    std::uint64_t late_events = 0;    // this player's events that reached the render too late

    void add(const link_counts& o) noexcept;
    [[nodiscard]] std::int64_t lost() const noexcept { return expected - received; }
    /// Uplink loss, percent of `expected` (never negative); 0 when nothing was expected.
    [[nodiscard]] double uplink_loss_pct() const noexcept;
    /// Mean of the client's downlink loss reports, percent; 0 without any.
    [[nodiscard]] double downlink_loss_pct() const noexcept;
    /// Mean of the RTT reports, µs; 0 without any.
    [[nodiscard]] double rtt_mean_us() const noexcept;
};

/// One player over one reporting interval (about a second).
struct player_link_window : link_counts {
    int slot = -1;
    std::uint32_t session_id = 0;
    std::int64_t start_ns = 0;    // server time: the interval's start, or the player's join
    std::int64_t end_ns = 0;      // the report, or the player's departure
    bool joined = false;          // the session took its slot during this interval
    bool left = false;            // its slot was freed (silent past the expiry) during it
    double jitter_us = 0.0;       // RFC 3550 interarrival jitter at the interval's end
    std::uint32_t rtt_min_us = 0; // of the RTT reports; 0 without any
};

/// Every player present at some time during one interval. Thread: a value; copy freely.
struct link_report {
    std::int64_t server_ns = 0; // server time of the report
    std::vector<player_link_window> players;
};

/// One player slot's running link statistics. Thread: the network thread; not thread-safe.
/// No allocation (the network thread calls it per key state).
class link_accumulator {
public:
    /// Rule for disconnection: a silence of more than this between two key states counts as
    /// disconnected, all of it. A client sends key states at 20 Hz even when idle, so this is
    /// ten missed in a row: at 5 % random loss that happens about once in 10^13 gaps, so it
    /// flags a broken link, not ordinary loss. A silence still going on at a report counts up
    /// to the report, so a player that vanished shows as disconnected before its expiry.
    static constexpr std::int64_t k_disconnect_gap_ns = 500'000'000;
    /// Sequence numbers remembered below the highest, to tell a late one from a duplicate.
    static constexpr std::int64_t k_reorder_window = 64;
    /// A jump forward beyond this (over 10 minutes of key states at 50 a second) is a client
    /// that restarted with new numbers, not loss.
    static constexpr std::int64_t k_max_forward_jump = 32'768;

    /// A session took the slot at `now_ns`. `late_events_now` is the slot's cumulative late
    /// count as read now (the render thread zeroes it at the join, possibly a little later).
    void start(int slot, std::uint32_t session_id, std::int64_t now_ns,
               std::uint32_t late_events_now) noexcept;

    /// A valid key state of this player: its header's sequence number and sender stamp (the
    /// client's estimate of server time at sending), its arrival in server time and the link
    /// fields of its payload.
    void on_key_state(std::uint32_t sequence, std::int64_t sent_ns, std::int64_t arrival_ns,
                      std::uint32_t rtt_us, std::uint16_t loss_permille) noexcept;

    /// Closes the interval at `now_ns` and starts the next. `late_events_now` is the slot's
    /// cumulative late count; `leaving`: the slot is being freed (take() is then the last call
    /// before the next start()).
    player_link_window take(std::int64_t now_ns, std::uint32_t late_events_now,
                            bool leaving = false) noexcept;

    [[nodiscard]] bool active() const noexcept { return active_; }
    /// The current RFC 3550 jitter estimate, µs.
    [[nodiscard]] double jitter_us() const noexcept { return jitter_ns_ / 1e3; }

private:
    void rebase(std::uint32_t sequence) noexcept;

    bool active_ = false;
    player_link_window window_;
    // Sequence tracking: the highest number (extended past the 32-bit wrap) and a bitmap of
    // which of the k_reorder_window numbers up to it arrived (bit i: highest - i).
    bool have_sequence_ = false;
    std::int64_t highest_ = 0;
    std::uint64_t seen_ = 0;
    // Jitter: the previous key state's transit time (arrival - sender stamp).
    bool have_transit_ = false;
    std::int64_t last_transit_ns_ = 0;
    double jitter_ns_ = 0.0;
    // Disconnection: the last key state, and how far a silence was already counted.
    std::int64_t last_heard_ns_ = 0;
    std::int64_t counted_until_ns_ = 0;
    std::uint32_t late_mark_ = 0;
};

} // namespace gno::render
