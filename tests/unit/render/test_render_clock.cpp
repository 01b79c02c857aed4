// The node's render clock (render_clock.hpp) on the real steady clock: frames on their
// boundaries, a frame that overruns its period counted late, and the frame it delays counted
// as a late start as well — what tells an operator the machine held the render thread.
#include "gno/render/counters.hpp"
#include "gno/render/render_clock.hpp"

#include <gtest/gtest.h>
#include <stop_token>
#include <thread>
#include <vector>

namespace r = gno::render;

namespace {

constexpr int k_rate = 48000;
constexpr int k_frame = 240; // 5 ms
constexpr std::int64_t k_period_ns = 5'000'000;

} // namespace

// Frame 2 works 12 ms: it ends after its period (late), and frame 3, due 5 ms after it began,
// starts ~7 ms after it was due and ends after its own period (late, and a late start). Frames
// render consecutive sample ranges on the frame grid, none skipped.
TEST(RenderClock, AnOverrunIsLateAndTheFrameItDelaysIsALateStart) {
    r::node_counters counters;
    r::render_clock clock(k_rate, k_frame, counters);
    std::vector<std::int64_t> samples, wake_ns;
    std::stop_source stop;
    clock.run(stop.get_token(), [&](std::int64_t r, std::int64_t start) noexcept {
        samples.push_back(r);
        wake_ns.push_back(start - r / k_frame * k_period_ns);
        if (samples.size() == 3)
            std::this_thread::sleep_for(std::chrono::milliseconds(12));
        if (samples.size() == 8)
            stop.request_stop();
    });
    ASSERT_EQ(samples.size(), 8u);
    for (std::size_t i = 0; i < samples.size(); ++i) {
        EXPECT_EQ(samples[i] % k_frame, 0);
        if (i > 0) {
            EXPECT_EQ(samples[i], samples[i - 1] + k_frame) << "frame " << i;
        }
    }
    EXPECT_GT(wake_ns[3], k_period_ns) << "the frame after the overrun was not held";
    // A loaded machine may add late frames of its own, never fewer than these.
    EXPECT_GE(counters.late_frames.load(), 2u);
    EXPECT_GE(counters.late_starts.load(), 1u);
    if (wake_ns[2] <= k_period_ns / 4) {
        EXPECT_LT(counters.late_starts.load(), counters.late_frames.load())
            << "the overrunning frame itself started on time";
    }
    EXPECT_EQ(counters.skipped_frames.load(), 0u);
}
