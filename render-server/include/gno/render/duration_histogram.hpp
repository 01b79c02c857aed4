#pragma once
// Durations (block times, encode times, added latency) counted in 10 µs buckets up to 40 ms,
// so percentiles can be read while the node runs. One writer, any reader: each bucket is an
// independent relaxed atomic. Realtime-safe: add().

#include <array>
#include <atomic>
#include <cstdint>

namespace gno::render {

class duration_histogram {
public:
    static constexpr std::int64_t k_bucket_us = 10;
    static constexpr int k_buckets = 4000; // the last one also holds everything longer

    /// The writer's thread only.
    void add(std::int64_t us) noexcept {
        const std::int64_t b = us < 0 ? 0 : us / k_bucket_us;
        buckets_[static_cast<std::size_t>(b < k_buckets ? b : k_buckets - 1)].fetch_add(
            1, std::memory_order_relaxed);
    }

    /// Any thread: the upper edge, in µs, of the bucket holding the p-th quantile (0 < p <= 1);
    /// 0 when empty.
    [[nodiscard]] std::int64_t quantile_us(double p) const noexcept {
        std::uint64_t total = 0;
        for (const auto& b : buckets_)
            total += b.load(std::memory_order_relaxed);
        if (total == 0)
            return 0;
        const auto rank = static_cast<std::uint64_t>(p * static_cast<double>(total) + 0.5);
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < buckets_.size(); ++i) {
            seen += buckets_[i].load(std::memory_order_relaxed);
            if (seen >= rank && seen > 0)
                return static_cast<std::int64_t>(i + 1) * k_bucket_us;
        }
        return k_buckets * k_bucket_us;
    }

    [[nodiscard]] std::uint64_t count() const noexcept {
        std::uint64_t total = 0;
        for (const auto& b : buckets_)
            total += b.load(std::memory_order_relaxed);
        return total;
    }

private:
    std::array<std::atomic<std::uint64_t>, k_buckets> buckets_{};
};

} // namespace gno::render
