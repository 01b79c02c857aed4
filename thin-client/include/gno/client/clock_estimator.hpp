#pragma once
// Continuous estimate of the render server's clock from ping/pong exchanges (DESIGN.md §4).
//
// A ping leaves at local t0, the server stamps t1 (receipt) and t2 (answer) on its render
// timeline (R / 48000 s, in ns), the pong arrives at local t3. With theta(t) = server - local:
//   up bound    u = t1 - t0 = theta(t0) + d_up    (>= theta + minimum uplink delay)
//   down bound  l = t2 - t3 = theta(t3) - d_down  (<= theta - minimum downlink delay)
// Queueing only ever adds delay, so the u points lie above the line theta + d_up_min and the l
// points below theta - d_down_min. Each direction is filtered on its own (a sample that was fast
// one way counts even if it was slow the other way, which a min-RTT filter throws away), over a
// sliding window of up to k_window_ns:
//   - per direction, the support line (under the u points / over the l points) that is as tight
//     as possible at a focus: the linear-programming fit of Moon/Skelly/Towsley (minimise the
//     sum of gaps; it is the hull edge spanning the focus), its slope by golden-section search
//     over ±k_max_drift_ppm on the points' convex hull. Two foci, the centroid and the middle of
//     the window's span, averaged. The drift is the mean slope of the two directions;
//   - theta = the middle between the two lines, right when d_up_min == d_down_min.
// Until the window spans k_drift_min_span_ns the slope is held (0 at the start).
// Inherent limit (as NTP's): a constant asymmetry of the minimum delays cannot be seen from the
// two ends; it biases theta by (d_up_min - d_down_min) / 2.
//
// What callers see is the *published* mapping local -> server time. Until synchronised() (the
// acquisition phase, k_acquire_ns from the first pong) it steps to each new estimate. After
// that it is continuous: it runs at the estimated drift plus a slew of at most k_max_slew_ppm
// towards the estimate, so stamps never jump and never run backwards. A sample that disagrees
// with the estimate by more than k_resync_threshold_ns, k_resync_count times in a row (the
// local clock jumped, or the path changed), re-synchronises: the window restarts from those
// samples, the mapping steps once, acquisition starts again, resyncs() counts it. Samples that
// beat the fitted delay floors by more than k_path_shift_threshold_ns (a shorter route, or the
// server's timeline shifted a little) restart the window from them without a step: the
// mapping keeps slewing, the pings go fast again, path_changes() counts it.
//
// Pongs that cannot be right (time running backwards, negative or > k_max_rtt_ns round trip, a
// t0 never sent, answered twice, or too old) are dropped and counted in bad_pongs(); they change
// nothing else.
//
// Pure, driven by explicit local-time arguments (ns, the steady clock), so it runs in virtual
// time. No allocation; ~180 kB of state (keep it on the heap). An update costs O(window) for
// the hulls plus O(hull) per search step: tens of µs.
// Thread: one owner (the network thread) calls everything; not synchronised internally.

#include <array>
#include <cstddef>
#include <cstdint>

namespace gno::client {

/// What add_sample did with a pong.
enum class pong_verdict : std::uint8_t {
    used,         // accepted into the estimate
    held,         // plausible but off the model: kept aside (clock jump / path change?)
    resynced,     // completed a run of held samples: re-synchronised with a step
    path_changed, // completed a run of samples beyond the delay floors: window restarted
    time_order,   // t3 < t0 or t2 < t1
    bad_rtt,      // round trip (t3 - t0) - (t2 - t1) negative
    unknown_ping, // t0 is not a ping we sent (or one too old to be remembered)
    duplicate,    // that ping was already answered
    stale,        // answered more than k_max_rtt_ns after it was sent
};

class clock_estimator {
public:
    // Ping schedule. The envelope's error shrinks as (jitter range) / (samples in the window),
    // per direction, and the drift fit needs hundreds of samples before its extrapolation to
    // "now" is good to 1 ms under ±30 ms jitter: measured (clock_simulation), 10 Hz at the start
    // leaves the p99 at 2-7 ms until about a minute in, 50 Hz for 30 s gets it under 1 ms by
    // ~10 s. A ping is ~40 bytes, so the fast phase costs ~2 kB/s each way for 30 s, less than
    // a tenth of the audio stream. Afterwards 4 Hz (~100 B/s) keeps the 5-minute window filling
    // (~1000 more samples) while the drift fit's lever arm grows.
    static constexpr std::int64_t k_fast_interval_ns = 20'000'000;  // 50 Hz
    static constexpr std::int64_t k_fast_phase_ns = 30'000'000'000; // from the first pong
    static constexpr std::int64_t k_slow_interval_ns = 250'000'000; // then 4 Hz
    static constexpr std::int64_t k_acquire_ns = 8'000'000'000;     // stepping phase

    static constexpr std::size_t k_capacity = 3072;              // samples kept at most
    static constexpr std::int64_t k_window_ns = 300'000'000'000; // and no older than this
    // (5 min: a crystal's drift wanders by well under 1 ppm in that time.)
    static constexpr std::int64_t k_drift_min_span_ns = 8'000'000'000; // fit drift from here on
    static constexpr double k_max_drift_ppm = 1000.0;                  // search range of the fit
    static constexpr double k_max_slew_ppm = 400.0;               // correction rate, after sync
    static constexpr std::int64_t k_slew_time_ns = 2'000'000'000; // corrections spread over
    static constexpr std::int64_t k_max_rtt_ns = 2'000'000'000;
    static constexpr std::int64_t k_resync_threshold_ns = 50'000'000;
    static constexpr int k_resync_count = 3;
    static constexpr std::size_t k_pings_remembered = 64;
    static constexpr std::int64_t k_path_shift_threshold_ns = 3'000'000;
    static constexpr std::uint64_t k_shift_span = 20; // accepted samples

    /// Network thread: a ping with t0 = `now_ns` (local) was sent. Must precede its pong.
    void ping_sent(std::int64_t now_ns) noexcept;
    /// Network thread: 50 Hz until synchronised and for k_fast_phase_ns after the first pong
    /// (again after a resync), then 4 Hz. True at once before the first ping.
    [[nodiscard]] bool ping_due(std::int64_t now_ns) const noexcept;
    /// Network thread: when the next ping falls due, as seen at `now_ns` (`now_ns` if due).
    [[nodiscard]] std::int64_t next_ping_ns(std::int64_t now_ns) const noexcept;

    /// Network thread: one pong. Local t0 (echoed) and t3 (arrival), server t1/t2, all ns.
    /// Anything but used/held/resynced is dropped, counted, and changes no estimate.
    pong_verdict add_sample(std::int64_t t0, std::int64_t t1, std::int64_t t2,
                            std::int64_t t3) noexcept;

    /// Network thread: estimated server (render timeline) time, ns, at local time `local_ns`.
    /// Before any pong: `local_ns`. Continuous and increasing in `local_ns` once synchronised
    /// (except at a counted resync).
    [[nodiscard]] std::int64_t server_time_ns(std::int64_t local_ns) const noexcept;
    /// Network thread: the raw estimate of server time at `local_ns`, ns, before slewing (what
    /// the published mapping is steering towards); for diagnostics.
    [[nodiscard]] std::int64_t estimate_ns(std::int64_t local_ns) const noexcept {
        return local_ns + estimate_at(local_ns);
    }
    /// Network thread: published offset (server - local), ns, at the latest accepted pong.
    [[nodiscard]] std::int64_t offset_ns() const noexcept { return pub_offset_ns_; }
    /// Network thread: how fast the local clock runs against the server's, ppm (positive: the
    /// local clock is fast). 0 until the window spans k_drift_min_span_ns.
    [[nodiscard]] double drift_ppm() const noexcept { return -drift_ * 1e6; }
    /// Network thread: true once acquisition ended; from then on the mapping only slews.
    [[nodiscard]] bool synchronised() const noexcept { return synchronised_; }
    /// Whether any pong has given an estimate: before it, server_time_ns is the local clock.
    [[nodiscard]] bool has_estimate() const noexcept { return have_estimate_; }
    /// Network thread: smallest round trip in the window, µs; 0 before any.
    [[nodiscard]] std::uint32_t rtt_us() const noexcept;
    /// Network thread: round trip of the latest accepted pong, µs.
    [[nodiscard]] std::uint32_t last_rtt_us() const noexcept;
    /// Network thread: counters.
    [[nodiscard]] std::uint64_t bad_pongs() const noexcept { return bad_pongs_; }
    [[nodiscard]] std::uint64_t resyncs() const noexcept { return resyncs_; }
    /// Network thread: window restarts (without a step) after the path's delay floor moved.
    [[nodiscard]] std::uint64_t path_changes() const noexcept { return path_changes_; }
    [[nodiscard]] std::uint64_t pongs_used() const noexcept { return pongs_used_; }

private:
    struct sample {
        std::int64_t t0 = 0;
        std::int64_t t3 = 0;
        std::int64_t up = 0;   // t1 - t0
        std::int64_t down = 0; // t2 - t3
        std::int64_t delay = 0;
    };
    struct line {
        std::int64_t local_ns = 0;
        std::int64_t value_ns = 0;
        double slope = 0.0;
    };
    struct sent_ping {
        std::int64_t t0 = 0;
        bool answered = false;
        bool valid = false;
    };

    pong_verdict check(std::int64_t t0, std::int64_t t1, std::int64_t t2, std::int64_t t3) noexcept;
    void push(const sample& s) noexcept;
    void keep_drift_for_now() noexcept;
    void estimate() noexcept;
    void publish(std::int64_t now) noexcept;
    [[nodiscard]] std::int64_t estimate_at(std::int64_t local_ns) const noexcept;
    [[nodiscard]] static std::int64_t line_at(const line& l, std::int64_t local_ns) noexcept;
    [[nodiscard]] const sample& at(std::size_t i) const noexcept {
        return window_[(head_ + i) % k_capacity];
    }

    // Window: ring of accepted samples, oldest at head_.
    std::array<sample, k_capacity> window_{};
    std::size_t head_ = 0;
    std::size_t count_ = 0;
    std::array<sample, k_resync_count> held_{};
    int held_count_ = 0;
    std::array<sample, k_resync_count> shifted_{};
    int shift_count_ = 0;
    std::uint64_t shift_first_used_ = 0;
    std::array<std::uint16_t, k_capacity> hull_up_{}; // scratch for estimate()
    std::array<std::uint16_t, k_capacity> hull_down_{};
    line up_line_;   // support line under the up points
    line down_line_; // support line over the down points

    // Estimate: theta(t) = est_offset_ns_ + drift_ * (t - est_local_ns_).
    std::int64_t est_local_ns_ = 0;
    std::int64_t est_offset_ns_ = 0;
    double drift_ = 0.0; // d theta / d local
    bool drift_known_ = false;
    std::int64_t drift_min_span_ns_ = k_drift_min_span_ns; // fit the slope from this span on

    // Published mapping: offset(t) = pub_offset_ns_ + drift_pub_ * (t - pub_local_ns_)
    //                                 + slew_ * (min(t, slew_end_ns_) - pub_local_ns_).
    std::int64_t pub_local_ns_ = 0;
    std::int64_t pub_offset_ns_ = 0;
    double drift_pub_ = 0.0;
    double slew_ = 0.0;
    std::int64_t slew_end_ns_ = 0;

    bool have_estimate_ = false;
    bool synchronised_ = false;
    std::int64_t acquire_start_ns_ = 0; // t3 of the first sample since start or resync
    std::int64_t last_delay_ns_ = 0;

    // Ping schedule and the pings a pong may answer.
    std::array<sent_ping, k_pings_remembered> sent_{};
    std::size_t sent_next_ = 0;
    std::int64_t last_ping_ns_ = 0;
    bool pinged_ = false;

    std::uint64_t bad_pongs_ = 0;
    std::uint64_t resyncs_ = 0;
    std::uint64_t path_changes_ = 0;
    std::uint64_t pongs_used_ = 0;
};

} // namespace gno::client
