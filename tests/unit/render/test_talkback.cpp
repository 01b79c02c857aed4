// The conductor's talk-back (DESIGN.md §6, issue 5): the feed slices a browser's PCM chunks into
// timed blocks; the engine adds them to every performer mix from their start sample on and
// never to the audience mix. The mixes are checked the way a listener would hear them: the
// performers' Opus packets decoded and analysed for the tone, the recorder's frames for its
// absence.
#include "egress_decoder.hpp"
#include "gno/render/render_engine.hpp"
#include "gno/render/talkback.hpp"
#include "gno/test/analysis.hpp"
#include "ingress_events.hpp"

#include <cmath>
#include <gtest/gtest.h>
#include <limits>
#include <map>
#include <numbers>
#include <optional>
#include <opus/opus.h>
#include <vector>

namespace r = gno::render;
namespace v1 = gno::proto::v1;

namespace {

constexpr int k_rate = 48000;
constexpr double k_tone_hz = 660.0;
constexpr float k_tone_amplitude = 0.3f;

std::vector<std::int16_t> tone_pcm(double seconds, double hz = k_tone_hz,
                                   float amplitude = k_tone_amplitude) {
    std::vector<std::int16_t> pcm(static_cast<std::size_t>(seconds * k_rate));
    for (std::size_t i = 0; i < pcm.size(); ++i)
        pcm[i] = static_cast<std::int16_t>(
            std::lround(32767.0 * amplitude *
                        std::sin(2.0 * std::numbers::pi * hz * static_cast<double>(i) / k_rate)));
    return pcm;
}

// Pushes `pcm` in chunks of uneven sizes, as a browser's WebSocket messages arrive.
void push_in_chunks(r::talkback_feed& feed, std::span<const std::int16_t> pcm) {
    constexpr std::size_t sizes[] = {2048, 1000, 4096, 333, 1};
    for (std::size_t at = 0, k = 0; at < pcm.size(); ++k) {
        const std::size_t n = std::min(sizes[k % std::size(sizes)], pcm.size() - at);
        ASSERT_EQ(feed.push(pcm.subspan(at, n)), n);
        at += n;
    }
}

using gno::render::test::hold;

// The first sample of `mono` where the tone sounds at half of `steady` or more: Hann windows of
// 20 ms (fine enough to keep the players' partials >= 120 Hz away out of the 660 Hz band) cover
// half the tone when they start half a window before it.
std::optional<std::int64_t> tone_onset(std::span<const float> mono, double steady) {
    constexpr std::size_t window = 960;
    for (std::size_t at = 0; at + window <= mono.size(); at += 12)
        if (gno::test::tone_amplitude(mono.subspan(at, window), k_rate, k_tone_hz) >= steady / 2)
            return static_cast<std::int64_t>(at + window / 2);
    return std::nullopt;
}

// The Opus encoder's look-ahead for the engine's 5 ms frames: decoded audio is that late.
int opus_lookahead() {
    int err = 0;
    OpusEncoder* enc = opus_encoder_create(k_rate, 2, OPUS_APPLICATION_RESTRICTED_LOWDELAY, &err);
    opus_int32 lookahead = 0;
    opus_encoder_ctl(enc, OPUS_GET_LOOKAHEAD(&lookahead));
    opus_encoder_destroy(enc);
    return lookahead;
}

// ---- the feed alone -------------------------------------------------------------------------

TEST(TalkbackFeed, SlicesChunksIntoConsecutiveBlocksAndFlushesThePartialLast) {
    r::node_counters counters;
    r::spsc_ring<r::talkback_block> ring(16);
    r::talkback_feed feed(ring, counters, k_rate, 240);
    std::vector<std::int16_t> pcm(3020);
    for (std::size_t i = 0; i < pcm.size(); ++i)
        pcm[i] = static_cast<std::int16_t>(i);
    feed.begin(1000);
    EXPECT_TRUE(feed.active());
    std::size_t at = 0;
    for (std::size_t n : {7u, 1000u, 2000u, 13u}) {
        EXPECT_EQ(feed.push(std::span<const std::int16_t>(pcm).subspan(at, n)), n);
        at += n;
    }
    EXPECT_EQ(ring.size(), 3u); // 2880 samples in whole blocks, 140 waiting for more or end()
    EXPECT_EQ(feed.next_sample(), 1000 + 3020);
    feed.end();
    EXPECT_FALSE(feed.active());
    ASSERT_EQ(ring.size(), 4u);

    std::size_t sample = 0;
    for (const int count : {960, 960, 960, 140}) {
        r::talkback_block b;
        ASSERT_TRUE(ring.try_pop(b));
        EXPECT_EQ(b.start_sample, 1000 + static_cast<std::int64_t>(sample));
        EXPECT_EQ(b.sample_count, count);
        for (int i = 0; i < count; ++i, ++sample)
            ASSERT_EQ(b.samples[static_cast<std::size_t>(i)],
                      static_cast<float>(sample) / 32768.0f);
        for (std::size_t i = static_cast<std::size_t>(count); i < b.samples.size(); ++i)
            ASSERT_EQ(b.samples[i], 0.0f) << "the partial block is zero padded";
    }
    EXPECT_EQ(counters.talkback_overflows.load(), 0u);
}

TEST(TalkbackFeed, AtOnceIsNowPlusAPrerollOnAFrameBoundary) {
    r::node_counters counters;
    r::spsc_ring<r::talkback_block> ring(4);
    r::talkback_feed feed(ring, counters, k_rate, 240);
    // 12345 + 4800 = 17145, up to the next multiple of 240.
    EXPECT_EQ(feed.start_at_once(12345), 17280);
    EXPECT_EQ(feed.start_at_once(0), 4800);
    r::talkback_feed coarse(ring, counters, k_rate, 960);
    EXPECT_EQ(coarse.start_at_once(960), 960 + 4800);
}

TEST(TalkbackFeed, AFullRingCountsOverflowsAndTheBlocksAfterKeepTheirTimes) {
    r::node_counters counters;
    r::spsc_ring<r::talkback_block> ring(4);
    r::talkback_feed feed(ring, counters, k_rate, 240);
    feed.begin(0);
    const std::vector<std::int16_t> pcm(10 * 960, 1000);
    EXPECT_EQ(feed.push(pcm), pcm.size()); // never blocks: 4 fit, 6 are dropped
    EXPECT_EQ(ring.size(), 4u);
    EXPECT_EQ(counters.talkback_overflows.load(), 6u);
    r::talkback_block b;
    while (ring.try_pop(b)) {
    }
    feed.push(std::span(pcm).first(960));
    ASSERT_TRUE(ring.try_pop(b));
    EXPECT_EQ(b.start_sample, 10 * 960) << "a dropped block leaves a gap, not a shift";
}

TEST(TalkbackFeed, OneTalkbackIsBoundedToSixtySeconds) {
    r::node_counters counters;
    r::spsc_ring<r::talkback_block> ring(2); // overflows do not matter here
    r::talkback_feed feed(ring, counters, k_rate, 240);
    feed.begin(0);
    const std::vector<std::int16_t> second(k_rate, 1);
    std::size_t accepted = 0;
    for (int s = 0; s < 61; ++s)
        accepted += feed.push(second);
    EXPECT_EQ(accepted, std::size_t{r::talkback_feed::k_max_seconds} * k_rate);
    EXPECT_EQ(counters.talkback_truncated.load(), static_cast<std::uint64_t>(k_rate));
    feed.begin(0); // the next talk-back has its own minute
    EXPECT_EQ(feed.push(second), second.size());
}

TEST(TalkbackFeed, NothingOutsideATalkbackAndUntrustedFloatsAreTamed) {
    r::node_counters counters;
    r::spsc_ring<r::talkback_block> ring(4);
    r::talkback_feed feed(ring, counters, k_rate, 240);
    const std::vector<std::int16_t> pcm(100, 5);
    EXPECT_EQ(feed.push(pcm), 0u);
    feed.end(); // harmless
    EXPECT_EQ(ring.size(), 0u);

    feed.begin(500);
    const std::vector<float> wild = {0.5f, 7.0f, -7.0f, std::numeric_limits<float>::quiet_NaN(),
                                     std::numeric_limits<float>::infinity()};
    EXPECT_EQ(feed.push(wild), wild.size());
    feed.begin(10'000); // ends the first one: its partial block goes out
    feed.push(pcm);
    feed.end();
    r::talkback_block b;
    ASSERT_TRUE(ring.try_pop(b));
    EXPECT_EQ(b.start_sample, 500);
    ASSERT_EQ(b.sample_count, 5);
    EXPECT_EQ(b.samples[0], 0.5f);
    EXPECT_EQ(b.samples[1], 1.0f);
    EXPECT_EQ(b.samples[2], -1.0f);
    EXPECT_EQ(b.samples[3], 0.0f);
    EXPECT_EQ(b.samples[4], 0.0f);
    ASSERT_TRUE(ring.try_pop(b));
    EXPECT_EQ(b.start_sample, 10'000);
    EXPECT_EQ(b.sample_count, 100);
}

// ---- in the engine --------------------------------------------------------------------------

struct decoded {
    std::map<std::uint32_t, std::vector<float>> left;   // mix id -> decoded left channel
    std::map<std::uint32_t, std::int64_t> first_sample; // mix id -> its first packet's R
};

class Talkback : public ::testing::Test {
protected:
    void make_engine(r::mix_mode mix) {
        cfg_.soundfont = GNO_TEST_SOUNDFONT;
        cfg_.max_players = 4;
        cfg_.players_per_bank = 4;
        cfg_.render_threads = 2;
        cfg_.mix = mix;
        // Never degrade: a busy test machine must not step Opus down under the analysis.
        cfg_.overload_high = 1e9;
        engine_ = std::make_unique<r::render_engine>(cfg_, counters_, timing_, ingress_, &record_);
        engine_->set_talkback(&talkback_);
    }

    void push(r::ingress_event::kind what, int slot, const v1::key_state& s = {}) {
        r::test::push_event(ingress_, what, slot, s);
    }

    // Renders `seconds`, decoding every performer stream and keeping the recorder's audience
    // mix (left channel) in audience_.
    void render(double seconds, decoded& out) {
        const int frames = static_cast<int>(seconds * k_rate / cfg_.frame_samples);
        for (int i = 0; i < frames; ++i) {
            engine_->render_frame(r_);
            r_ += cfg_.frame_samples;
            egress_.drain(*engine_, cfg_.frame_samples,
                          [&](const r::encoded_frame& f, std::span<const float> left) {
                              out.first_sample.try_emplace(f.mix_id, f.render_sample);
                              auto& l = out.left[f.mix_id];
                              l.insert(l.end(), left.begin(), left.end());
                          });
            r::pcm_frame p;
            while (record_.try_pop(p))
                for (int s = 0; s < p.frame_samples; ++s)
                    audience_.push_back(p.samples[2 * static_cast<std::size_t>(s)]);
        }
    }

    // Renders frame by frame on the float mixes (no codec): the shared performers' mix minus
    // the audience mix, left channel, is exactly the talk-back.
    std::vector<float> render_talk(int frames) {
        std::vector<float> talk;
        for (int i = 0; i < frames; ++i) {
            engine_->render_frame(r_);
            r_ += cfg_.frame_samples;
            const auto perf = engine_->last_performer_mix();
            const auto aud = engine_->last_mix();
            for (std::size_t s = 0; s < aud.size(); s += 2)
                talk.push_back(perf[s] - aud[s]);
            r::encoded_frame f;
            for (auto* ring : engine_->egress())
                while (ring->try_pop(f)) {
                }
            r::pcm_frame p;
            while (record_.try_pop(p)) {
            }
        }
        return talk;
    }

    // Asserts the decoded stream `id` carries the tone from render sample `start` on (within a
    // frame, after the codec's look-ahead), and not before.
    void expect_tone_from(decoded& d, std::uint32_t id, std::int64_t start) {
        ASSERT_TRUE(d.left.contains(id)) << "no stream " << id;
        const std::vector<float>& mono = d.left[id];
        const std::int64_t offset = d.first_sample[id] - opus_lookahead(); // index -> R
        const auto at = [&](std::int64_t sample) {
            return static_cast<std::size_t>(sample - offset);
        };
        const std::span<const float> all(mono);
        const double before = gno::test::tone_amplitude(all.subspan(at(start - 4800), 3840), k_rate,
                                                        k_tone_hz); // 100 .. 20 ms before
        const double during =
            gno::test::tone_amplitude(all.subspan(at(start + 4800), 24000), k_rate, k_tone_hz);
        EXPECT_LT(before, 0.01) << "stream " << id << ": the tone before its time";
        EXPECT_NEAR(during, k_tone_amplitude, 0.06) << "stream " << id;
        const auto onset = tone_onset(all.subspan(at(start - 4800)), during);
        ASSERT_TRUE(onset.has_value()) << "stream " << id;
        const std::int64_t heard = start - 4800 + *onset;
        EXPECT_NEAR(static_cast<double>(heard), static_cast<double>(start), cfg_.frame_samples)
            << "stream " << id;
    }

    void expect_no_tone_in_audience() {
        ASSERT_GT(audience_.size(), std::size_t{k_rate});
        // The players are there (so the test would see a mix-up), the tone is not.
        EXPECT_GT(gno::test::rms_dbfs(audience_), -40.0);
        EXPECT_LT(gno::test::tone_amplitude(audience_, k_rate, k_tone_hz), 1e-3);
        EXPECT_LT(gno::test::tone_level_db(audience_, k_rate, k_tone_hz, 4.0), -40.0);
    }

    r::server_config cfg_;
    r::node_counters counters_;
    r::timing_state timing_{4};
    r::spsc_ring<r::ingress_event> ingress_{64};
    r::spsc_ring<r::pcm_frame> record_{1024};
    r::spsc_ring<r::talkback_block> talkback_{512};
    r::talkback_feed feed_{talkback_, counters_, k_rate, 240};
    std::unique_ptr<r::render_engine> engine_;
    r::test::egress_decoder egress_;
    std::vector<float> audience_;
    std::int64_t r_ = 0;
};

// Shared mode: one player on C4 (partials 262, 523, 785 Hz); a 660 Hz talk-back at a chosen
// time is in the one encoded performers' mix from that sample on, and not in the recording.
TEST_F(Talkback, SharedModePerformersHearItFromItsSampleTheAudienceNever) {
    make_engine(r::mix_mode::shared);
    push(r::ingress_event::kind::join, 0);
    push(r::ingress_event::kind::key_state, 0, hold(60, 73)); // flute
    const std::int64_t start = 19'200;                        // 0.4 s
    feed_.begin(start);
    push_in_chunks(feed_, tone_pcm(1.0));
    feed_.end();
    decoded d;
    render(1.6, d);
    ASSERT_EQ(d.left.size(), 1u);
    expect_tone_from(d, 0, start);
    expect_no_tone_in_audience();
    EXPECT_EQ(counters_.talkback_frames.load(), 200u); // 1 s of 5 ms frames
    EXPECT_EQ(counters_.talkback_late.load(), 0u);
}

// Own mode: two players, each hearing the other (C4 and A4: nothing near 660 Hz); the
// talk-back "at once" is in both own mixes, from now + the pre-roll on.
TEST_F(Talkback, OwnModeEveryPerformersMixCarriesIt) {
    make_engine(r::mix_mode::own);
    push(r::ingress_event::kind::join, 0);
    push(r::ingress_event::kind::key_state, 0, hold(60, 73));
    push(r::ingress_event::kind::join, 1);
    push(r::ingress_event::kind::key_state, 1, hold(69, 73));
    decoded d;
    render(0.3, d);
    const std::int64_t start = feed_.start_at_once(r_);
    EXPECT_EQ(start, r_ + 4800); // r_ is on a frame boundary already
    feed_.begin(start);
    push_in_chunks(feed_, tone_pcm(1.0));
    feed_.end();
    render(1.4, d);
    ASSERT_EQ(d.left.size(), 2u);
    expect_tone_from(d, 1, start);
    expect_tone_from(d, 2, start);
    expect_no_tone_in_audience();
    EXPECT_EQ(counters_.talkback_frames.load(), 200u);
    EXPECT_EQ(counters_.talkback_late.load(), 0u);
}

// A talk-back scheduled ahead does not sound a sample early, lands on its exact sample even
// off a frame boundary, and holds the ring until then (the render thread only looks).
TEST_F(Talkback, AFutureTalkbackWaitsForItsExactSample) {
    make_engine(r::mix_mode::shared);
    push(r::ingress_event::kind::join, 0); // a silent player: someone to mix for
    const std::int64_t start = 48'000 + 100;
    feed_.begin(start);
    const std::vector<std::int16_t> level(2400, 8192); // 0.25
    feed_.push(level);
    feed_.end();
    const auto before = render_talk(200); // 0 .. 48000
    for (std::size_t i = 0; i < before.size(); ++i)
        ASSERT_EQ(before[i], 0.0f) << "talk-back at sample " << i;
    EXPECT_EQ(counters_.talkback_frames.load(), 0u);
    EXPECT_EQ(talkback_.size(), 3u);
    const auto after = render_talk(20); // 48000 .. 52800
    for (std::size_t i = 0; i < after.size(); ++i) {
        const float want = i >= 100 && i < 2500 ? 0.25f : 0.0f;
        ASSERT_EQ(after[i], want) << "sample " << 48'000 + i;
    }
    EXPECT_EQ(counters_.talkback_late.load(), 0u);
    EXPECT_EQ(talkback_.size(), 0u);
}

// A talk-back whose time has passed plays at once, and one that stalls goes on where it
// stopped, behind by the stall: nothing is skipped, each fall behind is counted once.
TEST_F(Talkback, ALateTalkbackPlaysAtOnceAndAStallDelaysWithoutSkipping) {
    make_engine(r::mix_mode::shared);
    push(r::ingress_event::kind::join, 0);
    render_talk(100);                                  // r = 24000
    feed_.begin(12'000);                               // already past
    feed_.push(std::vector<std::int16_t>(4320, 8192)); // 4 blocks out, 480 samples still open
    auto talk = render_talk(40); // 24000 .. 33600: the 4 blocks, then the ring runs dry
    EXPECT_EQ(counters_.talkback_late.load(), 1u);
    std::size_t played = 0;
    for (std::size_t i = 0; i < talk.size(); ++i) {
        if (talk[i] != 0.0f) {
            ASSERT_EQ(talk[i], 0.25f);
            ASSERT_EQ(i, played) << "it plays from the first frame on, without a gap";
            ++played;
        }
    }
    EXPECT_EQ(played, 3840u);
    feed_.end();                      // the stalled rest arrives, late again
    feed_.begin(feed_.next_sample()); // and a talk-back that follows on: behind, not late
    feed_.push(std::vector<std::int16_t>(4800, 8192));
    feed_.end();
    talk = render_talk(60);
    for (std::size_t i = 0; i < talk.size(); ++i) {
        if (talk[i] != 0.0f) {
            ASSERT_EQ(i, played - 3840) << "the rest plays at once, without a gap";
            ++played;
        }
    }
    EXPECT_EQ(played, 4320u + 4800u) << "every sample played once";
    EXPECT_EQ(counters_.talkback_late.load(), 2u);
}

} // namespace
