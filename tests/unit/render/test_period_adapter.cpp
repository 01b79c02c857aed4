// The venue's period adapter (period_adapter.hpp) on virtual frames: a fake engine writes each
// sample's own render position into it, so a lost, repeated or shifted sample shows as a
// wrong value. JACK periods that divide the 240-sample frame, that it divides, and neither.
#include "gno/render/period_adapter.hpp"

#include <array>
#include <cstdint>
#include <gtest/gtest.h>
#include <vector>

namespace r = gno::render;

namespace {

constexpr int k_frame = 240;

/// The engine, faked: frame `r` holds r + i on the left, -(r + i) on the right. Remembers
/// every frame it was asked for.
struct fake_engine {
    std::vector<std::int64_t> rendered;
    void operator()(std::int64_t r, std::span<float* const> channels) noexcept {
        rendered.push_back(r);
        for (int i = 0; i < k_frame; ++i) {
            channels[0][i] = static_cast<float>(r + i);
            channels[1][i] = -static_cast<float>(r + i);
        }
    }
};

/// One period's ports.
struct ports {
    explicit ports(int n) : left(static_cast<std::size_t>(n)), right(left.size()) {}
    std::vector<float> left;
    std::vector<float> right;
    std::array<float*, 2> ptrs() { return {left.data(), right.data()}; }
};

/// How many of the period's samples are not render samples [at, at + n) (0 = all are).
int wrong_samples(const ports& p, std::int64_t at) {
    int wrong = 0;
    for (std::size_t i = 0; i < p.left.size(); ++i) {
        const auto want = static_cast<float>(at + static_cast<std::int64_t>(i));
        wrong += p.left[i] != want || p.right[i] != -want;
    }
    return wrong;
}

/// The engine was asked for frames first, first + 240, ... with none missing or repeated.
void expect_consecutive_frames(const fake_engine& e, std::int64_t first) {
    for (std::size_t k = 0; k < e.rendered.size(); ++k)
        ASSERT_EQ(e.rendered[k], first + static_cast<std::int64_t>(k) * k_frame) << "frame " << k;
}

class PeriodAdapter : public ::testing::TestWithParam<int> {};

// Every output sample is the next render sample, for 300 periods: none lost or repeated, the
// frames asked for are consecutive, and what the FIFO holds afterwards (the latency it adds)
// is always less than one frame.
TEST_P(PeriodAdapter, EverySampleIsTheNextRenderSample) {
    const int period = GetParam();
    r::period_adapter adapter(k_frame, 2, 8192);
    fake_engine engine;
    ports out(period);
    std::int64_t at = 0;
    int max_held = 0;
    for (int k = 0; k < 300; ++k) {
        auto ptrs = out.ptrs();
        ASSERT_EQ(adapter.pull(ptrs, period, at, engine), 0) << "period " << k;
        ASSERT_EQ(wrong_samples(out, at), 0) << "period " << k << " at " << at;
        ASSERT_EQ(adapter.position(), at + period);
        ASSERT_LT(adapter.held(), k_frame);
        ASSERT_GE(adapter.held(), 0);
        max_held = std::max(max_held, adapter.held());
        at += period;
    }
    expect_consecutive_frames(engine, 0);
    // Exactly the frames needed to cover what was played.
    EXPECT_EQ(static_cast<std::int64_t>(engine.rendered.size()), (at + k_frame - 1) / k_frame);
    RecordProperty("max_held_samples", max_held);
}

INSTANTIATE_TEST_SUITE_P(JackPeriods, PeriodAdapter, ::testing::Values(64, 128, 256, 1000, 1024),
                         [](const ::testing::TestParamInfo<int>& p) {
                             return "period" + std::to_string(p.param);
                         });

// JACK's period may change while running (jack_set_buffer_size): the stream goes on unbroken.
TEST(PeriodAdapterChanges, APeriodSizeChangeKeepsTheStreamUnbroken) {
    r::period_adapter adapter(k_frame, 2, 8192);
    fake_engine engine;
    std::int64_t at = 0;
    for (const int period : {256, 256, 1024, 64, 64, 64, 4096, 8192, 100, 240, 480, 17}) {
        ports out(period);
        auto ptrs = out.ptrs();
        ASSERT_EQ(adapter.pull(ptrs, period, at, engine), 0);
        ASSERT_EQ(wrong_samples(out, at), 0) << "period of " << period << " at " << at;
        ASSERT_LT(adapter.held(), k_frame);
        at += period;
    }
    expect_consecutive_frames(engine, 0);
}

// The first period starts wherever the card is: at its render sample, from the frame that
// holds it (frames stay on multiples of the frame size), and that is not counted as a skip.
TEST(PeriodAdapterChanges, TheFirstPeriodStartsInsideAFrame) {
    r::period_adapter adapter(k_frame, 2, 8192);
    fake_engine engine;
    ports out(256);
    auto ptrs = out.ptrs();
    EXPECT_EQ(adapter.pull(ptrs, 256, 1000, engine), 0);
    EXPECT_EQ(wrong_samples(out, 1000), 0);
    ASSERT_FALSE(engine.rendered.empty());
    EXPECT_EQ(engine.rendered.front(), 960);
    EXPECT_EQ(adapter.pull(ptrs, 256, 1256, engine), 0);
    EXPECT_EQ(wrong_samples(out, 1256), 0);
    expect_consecutive_frames(engine, 960);
}

// An xrun: the card's frame clock moved on by more than a period. The samples in between are
// dropped and counted, whether the new start lies in what the FIFO holds or beyond it, and the
// engine is asked for later frames only, still on frame boundaries. A start behind the last
// period's end (a clock read a little early) plays on from where it was.
TEST(PeriodAdapterChanges, AnXrunSkipsAheadAndACallBehindPlaysOn) {
    r::period_adapter adapter(k_frame, 2, 8192);
    fake_engine engine;
    ports out(128);
    auto ptrs = out.ptrs();
    std::int64_t at = 0;
    for (int k = 0; k < 4; ++k, at += 128)
        ASSERT_EQ(adapter.pull(ptrs, 128, at, engine), 0);
    // Within what is held: 512 played, frames up to 720 rendered; skip 100 samples.
    EXPECT_EQ(adapter.pull(ptrs, 128, at + 100, engine), 100);
    EXPECT_EQ(wrong_samples(out, at + 100), 0);
    at += 100 + 128;
    expect_consecutive_frames(engine, 0);
    // Far beyond: three periods lost.
    const std::size_t before = engine.rendered.size();
    EXPECT_EQ(adapter.pull(ptrs, 128, at + 3 * 128, engine), 3 * 128);
    EXPECT_EQ(wrong_samples(out, at + 3 * 128), 0);
    at += 4 * 128;
    ASSERT_GT(engine.rendered.size(), before);
    for (std::size_t k = before; k < engine.rendered.size(); ++k) {
        EXPECT_EQ(engine.rendered[k] % k_frame, 0);
        EXPECT_GT(engine.rendered[k], engine.rendered[k - 1]);
    }
    // Behind: played from the last period's end, nothing skipped.
    EXPECT_EQ(adapter.pull(ptrs, 128, at - 50, engine), 0);
    EXPECT_EQ(wrong_samples(out, at), 0);
    EXPECT_EQ(adapter.position(), at + 128);
}

// Stems: every channel carries its own frame data through the FIFO.
TEST(PeriodAdapterChanges, EveryChannelKeepsItsOwnSamples) {
    constexpr int k_channels = 36; // audience + 17 section pairs
    r::period_adapter adapter(k_frame, k_channels, 8192);
    auto engine = [](std::int64_t r, std::span<float* const> channels) noexcept {
        for (std::size_t c = 0; c < channels.size(); ++c)
            for (int i = 0; i < k_frame; ++i)
                channels[c][i] = static_cast<float>((r + i) * 100 + static_cast<std::int64_t>(c));
    };
    std::vector<std::vector<float>> bufs(k_channels, std::vector<float>(1000));
    std::vector<float*> ptrs;
    for (auto& b : bufs)
        ptrs.push_back(b.data());
    for (std::int64_t at = 0; at < 5000; at += 1000) {
        ASSERT_EQ(adapter.pull(std::span<float* const>(ptrs), 1000, at, engine), 0);
        for (std::size_t c = 0; c < bufs.size(); ++c)
            for (std::size_t i = 0; i < 1000; ++i)
                ASSERT_EQ(bufs[c][i], static_cast<float>((at + static_cast<std::int64_t>(i)) * 100 +
                                                         static_cast<std::int64_t>(c)))
                    << "channel " << c << " sample " << at + static_cast<std::int64_t>(i);
    }
}

} // namespace
