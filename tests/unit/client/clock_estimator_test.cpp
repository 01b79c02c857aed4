#include <cstdlib>
#include <gno/client/clock_estimator.hpp>
#include <gtest/gtest.h>
#include <random>

namespace gno::client {
namespace {

constexpr std::int64_t k_ms_ns = 1'000'000;

struct link_sim {
    std::int64_t offset_ns; // server = local + offset
    std::mt19937_64 rng{42};
    std::exponential_distribution<double> up{1.0 / 8.0};   // uplink queueing, mean 8 ms
    std::exponential_distribution<double> down{1.0 / 1.0}; // downlink queueing, mean 1 ms

    /// One ping at local t0; returns the four timestamps.
    void exchange(clock_estimator& c, std::int64_t t0) {
        const auto up_ns = 10 * k_ms_ns + static_cast<std::int64_t>(up(rng) * k_ms_ns);
        const auto down_ns = 10 * k_ms_ns + static_cast<std::int64_t>(down(rng) * k_ms_ns);
        const std::int64_t t1 = t0 + up_ns + offset_ns;
        const std::int64_t t2 = t1 + 50'000; // 50 µs server turnaround
        const std::int64_t t3 = t2 - offset_ns + down_ns;
        ASSERT_TRUE(c.add_sample(t0, t1, t2, t3));
    }
};

TEST(clock_estimator, converges_to_injected_offset_despite_asymmetric_jitter) {
    clock_estimator c;
    link_sim link{1'234'567'891'234};
    std::int64_t t = 5'000'000'000;
    for (int i = 0; i < 32; ++i, t += 250 * k_ms_ns) {
        link.exchange(c, t);
    }
    const std::int64_t err = c.server_time_ns(t) - (t + link.offset_ns);
    EXPECT_LT(std::llabs(err), 1 * k_ms_ns) << "error " << err << " ns";
    // Minimum round trip: 20 ms base plus a little queueing.
    EXPECT_GE(c.rtt_us(), 20'000u);
    EXPECT_LT(c.rtt_us(), 23'000u);
}

TEST(clock_estimator, min_filter_beats_latest_sample) {
    clock_estimator c;
    // A clean exchange (10 ms each way), then a badly asymmetric one (100 ms up, 10 ms down).
    const std::int64_t off = 7 * k_ms_ns;
    c.add_sample(0, 10 * k_ms_ns + off, 10 * k_ms_ns + off, 20 * k_ms_ns);
    c.add_sample(1000 * k_ms_ns, 1100 * k_ms_ns + off, 1100 * k_ms_ns + off, 1110 * k_ms_ns);
    EXPECT_EQ(c.offset_ns(), off);
    EXPECT_EQ(c.rtt_us(), 20'000u);
    EXPECT_EQ(c.last_rtt_us(), 110'000u);
}

TEST(clock_estimator, window_slides_so_an_old_best_sample_expires) {
    clock_estimator c;
    c.add_sample(0, 5 * k_ms_ns, 5 * k_ms_ns, 10 * k_ms_ns); // offset 0, rtt 10 ms
    for (int i = 1; i <= static_cast<int>(clock_estimator::k_window); ++i) {
        const std::int64_t t0 = i * 1000 * k_ms_ns;
        // New offset +3 ms, rtt 30 ms: worse delay, but the only one left once the window slid.
        c.add_sample(t0, t0 + 15 * k_ms_ns + 3 * k_ms_ns, t0 + 15 * k_ms_ns + 3 * k_ms_ns,
                     t0 + 30 * k_ms_ns);
    }
    EXPECT_EQ(c.offset_ns(), 3 * k_ms_ns);
}

TEST(clock_estimator, rejects_impossible_samples) {
    clock_estimator c;
    EXPECT_FALSE(c.add_sample(100, 0, 0, 50));
    EXPECT_FALSE(c.add_sample(0, 10, 5, 50));
    EXPECT_FALSE(c.synchronised());
    EXPECT_EQ(c.server_time_ns(77), 77);
}

TEST(clock_estimator, pings_at_4_hz_then_1_hz) {
    clock_estimator c;
    int fast = 0;
    int slow = 0;
    for (std::int64_t t = 0; t < 15'000; ++t) {
        if (c.ping_due(t * k_ms_ns)) {
            c.ping_sent(t * k_ms_ns);
            (t < 5000 ? fast : slow)++;
        }
    }
    EXPECT_EQ(fast, 20);
    EXPECT_EQ(slow, 10);
}

} // namespace
} // namespace gno::client
