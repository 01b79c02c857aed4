#pragma once
// What each simulated player receives: audio frames counted, losses from the server's
// per-session sequence numbers, and the gaps between arrivals (one histogram for all players,
// sized at start-up); and the link view it reports back in its key states (round trip, loss).
// Thread: the load generator's thread; not thread-safe.

#include <array>
#include <cstdint>
#include <vector>

namespace gno::loadgen {

/// Inter-arrival gaps of audio frames, 5 µs buckets up to 200 ms (beyond: one overflow bucket,
/// whose percentile reads as the exact maximum).
class gap_histogram {
public:
    static constexpr std::int64_t k_bucket_ns = 5'000;
    static constexpr std::size_t k_buckets = 40'000;

    gap_histogram() : buckets_(k_buckets + 1, 0) {}

    void add(std::int64_t gap_ns) noexcept;
    /// The q-quantile (0..1) in µs (bucket middle); 0 without samples.
    [[nodiscard]] double quantile_us(double q) const noexcept;
    [[nodiscard]] double max_us() const noexcept { return static_cast<double>(max_ns_) / 1e3; }
    [[nodiscard]] std::uint64_t count() const noexcept { return count_; }

private:
    std::vector<std::uint64_t> buckets_;
    std::uint64_t count_ = 0;
    std::int64_t max_ns_ = 0;
};

class audio_reception {
public:
    /// An audio frame with header sequence `sequence` arrived at `arrival_ns` (any one clock,
    /// used for differences only); `frame_ns` is its duration. Returns false for a frame that
    /// repeats or precedes one already received (not to be decoded in order then).
    bool on_frame(std::uint32_t sequence, std::int64_t arrival_ns, std::int64_t frame_ns,
                  std::int64_t render_sample, gap_histogram& gaps) noexcept;

    void on_player_info() noexcept { ++player_infos_; }
    /// A clock pong of this player's came back: its round trip (local clock, ns).
    void on_round_trip(std::int64_t rtt_ns) noexcept { last_rtt_ns_ = rtt_ns; }
    /// Round trip of the latest pong, µs; 0 before any (what a key state's rtt_us carries).
    [[nodiscard]] std::uint32_t rtt_us() const noexcept;
    /// Audio frames lost over the last completed second, per mille, as a real client reports
    /// it in key_state::loss_permille: recomputed once `now_ns` (local clock) is a second past
    /// the previous computation, the same value until then.
    [[nodiscard]] std::uint16_t loss_permille(std::int64_t now_ns) noexcept;
    /// Local (monotonic) time of the first frame, for the report.
    void set_first_local_ns(std::int64_t t) noexcept { first_local_ns_ = t; }

    [[nodiscard]] std::uint64_t received() const noexcept { return received_; }
    /// Frames the sequence numbers say were sent but never arrived (the tail is invisible);
    /// a duplicate does not make up for a lost one.
    [[nodiscard]] std::uint64_t lost() const noexcept;
    [[nodiscard]] std::uint64_t late_gaps() const noexcept { return late_gaps_; }
    [[nodiscard]] std::int64_t gap_max_ns() const noexcept { return gap_max_ns_; }
    [[nodiscard]] std::int64_t newest_render_sample() const noexcept { return newest_render_; }
    [[nodiscard]] std::int64_t first_local_ns() const noexcept { return first_local_ns_; }
    [[nodiscard]] std::uint64_t player_infos() const noexcept { return player_infos_; }

    static constexpr std::int64_t k_loss_interval_ns = 1'000'000'000;
    /// Sequence numbers remembered below the highest, to tell a late frame from a duplicate.
    static constexpr std::int64_t k_reorder_window = 64;

private:
    [[nodiscard]] std::uint64_t expected() const noexcept;

    std::uint64_t received_ = 0;
    std::uint64_t distinct_ = 0; // received_ without duplicates
    std::uint64_t seen_ = 0;     // bit i: frame highest_sequence_ - i arrived
    std::uint64_t late_gaps_ = 0;
    std::uint64_t player_infos_ = 0;
    std::int64_t first_sequence_ = 0;   // extended past 32-bit wrap
    std::int64_t highest_sequence_ = 0; // extended
    std::int64_t last_arrival_ns_ = 0;
    std::int64_t gap_max_ns_ = 0;
    std::int64_t newest_render_ = 0;
    std::int64_t first_local_ns_ = -1;
    std::int64_t last_rtt_ns_ = 0;
    std::int64_t loss_mark_ns_ = -1;
    std::uint64_t loss_mark_expected_ = 0;
    std::uint64_t loss_mark_distinct_ = 0;
    std::uint16_t loss_permille_ = 0;
};

} // namespace gno::loadgen
