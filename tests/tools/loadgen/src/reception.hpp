#pragma once
// What each simulated player receives: audio frames counted, losses from the server's
// per-session sequence numbers, and the gaps between arrivals (one histogram for all players,
// sized at start-up).
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
    /// Local (monotonic) time of the first frame, for the report.
    void set_first_local_ns(std::int64_t t) noexcept { first_local_ns_ = t; }

    [[nodiscard]] std::uint64_t received() const noexcept { return received_; }
    /// Frames the sequence numbers say were sent but never arrived (the tail is invisible).
    [[nodiscard]] std::uint64_t lost() const noexcept;
    [[nodiscard]] std::uint64_t late_gaps() const noexcept { return late_gaps_; }
    [[nodiscard]] std::int64_t gap_max_ns() const noexcept { return gap_max_ns_; }
    [[nodiscard]] std::int64_t newest_render_sample() const noexcept { return newest_render_; }
    [[nodiscard]] std::int64_t first_local_ns() const noexcept { return first_local_ns_; }
    [[nodiscard]] std::uint64_t player_infos() const noexcept { return player_infos_; }

private:
    std::uint64_t received_ = 0;
    std::uint64_t late_gaps_ = 0;
    std::uint64_t player_infos_ = 0;
    std::int64_t first_sequence_ = 0;   // extended past 32-bit wrap
    std::int64_t highest_sequence_ = 0; // extended
    std::int64_t last_arrival_ns_ = 0;
    std::int64_t gap_max_ns_ = 0;
    std::int64_t newest_render_ = 0;
    std::int64_t first_local_ns_ = -1;
};

} // namespace gno::loadgen
