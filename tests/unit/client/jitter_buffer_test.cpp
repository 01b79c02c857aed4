#include <cmath>
#include <gno/client/jitter_buffer.hpp>
#include <gno/client/playout.hpp>
#include <gtest/gtest.h>
#include <numbers>
#include <opus.h>
#include <vector>

namespace gno::client {
namespace {

constexpr int k_fs = 240;
constexpr double k_freq = 440.0;

/// N audio datagrams of a 440 Hz stereo sine, 5 ms Opus frames with in-band FEC, as the
/// server sends them (render_sample = i * 240).
std::vector<std::vector<std::byte>> encode_sine(int frames) {
    int err = 0;
    OpusEncoder* enc = opus_encoder_create(k_sample_rate, k_channels, OPUS_APPLICATION_AUDIO, &err);
    EXPECT_EQ(err, OPUS_OK);
    opus_encoder_ctl(enc, OPUS_SET_BITRATE(96000));
    opus_encoder_ctl(enc, OPUS_SET_INBAND_FEC(1));
    opus_encoder_ctl(enc, OPUS_SET_PACKET_LOSS_PERC(30));
    std::vector<std::vector<std::byte>> out;
    std::vector<float> pcm(k_fs * k_channels);
    std::vector<unsigned char> opus(proto::v1::k_max_opus_bytes);
    for (int i = 0; i < frames; ++i) {
        for (int s = 0; s < k_fs; ++s) {
            const double t = static_cast<double>(i * k_fs + s) / k_sample_rate;
            const auto v = static_cast<float>(0.5 * std::sin(2 * std::numbers::pi * k_freq * t));
            pcm[s * 2] = v;
            pcm[s * 2 + 1] = v;
        }
        const int n = opus_encode_float(enc, pcm.data(), k_fs, opus.data(),
                                        static_cast<opus_int32>(opus.size()));
        EXPECT_GT(n, 0);
        proto::v1::header h;
        h.session_id = 7;
        h.sequence = static_cast<std::uint32_t>(i);
        proto::v1::audio_frame a;
        a.render_sample = static_cast<std::int64_t>(i) * k_fs;
        a.frame_samples = k_fs;
        a.opus = std::as_bytes(std::span(opus.data(), static_cast<std::size_t>(n)));
        std::vector<std::byte> d(proto::v1::k_max_datagram);
        std::error_code ec;
        const auto size = proto::v1::encode(h, a, d, ec);
        EXPECT_FALSE(ec);
        d.resize(size);
        out.push_back(std::move(d));
    }
    opus_encoder_destroy(enc);
    return out;
}

struct run_result {
    std::vector<jitter_buffer::frame> frames;
    std::vector<float> left; // left channel of every output frame, concatenated
};

/// Virtual time: at step k, the packets listed in arrivals[k] arrive, then one frame is played.
run_result play(jitter_buffer& jb, const std::vector<std::vector<std::byte>>& packets,
                const std::vector<std::vector<int>>& arrivals, int extra_steps = 4) {
    run_result r;
    std::vector<float> pcm(k_max_frame_samples * k_channels);
    const auto steps = arrivals.size() + static_cast<std::size_t>(extra_steps);
    for (std::size_t k = 0; k < steps; ++k) {
        if (k < arrivals.size())
            for (int p : arrivals[k])
                jb.push(packets[static_cast<std::size_t>(p)]);
        const auto f = jb.next_frame(pcm);
        r.frames.push_back(f);
        for (std::size_t s = 0; s < f.samples; ++s)
            r.left.push_back(pcm[s * 2]);
    }
    return r;
}

std::vector<std::vector<int>> in_order(int n) {
    std::vector<std::vector<int>> a(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i)
        a[static_cast<std::size_t>(i)] = {i};
    return a;
}

/// Frequency by counting upward zero crossings (with a little hysteresis).
double zero_crossing_hz(std::span<const float> x) {
    int crossings = 0;
    std::size_t first = 0;
    std::size_t last = 0;
    bool armed = false;
    for (std::size_t i = 1; i < x.size(); ++i) {
        if (x[i] < -0.05f)
            armed = true;
        if (armed && x[i - 1] < 0 && x[i] >= 0) {
            if (crossings == 0)
                first = i;
            last = i;
            ++crossings;
            armed = false;
        }
    }
    if (crossings < 2)
        return 0;
    return (crossings - 1) * static_cast<double>(k_sample_rate) / static_cast<double>(last - first);
}

double rms(std::span<const float> x) {
    double s = 0;
    for (float v : x)
        s += static_cast<double>(v) * v;
    return x.empty() ? 0 : std::sqrt(s / static_cast<double>(x.size()));
}

const auto& c(const jitter_buffer& jb) {
    return jb.counters();
}

TEST(jitter_buffer, in_order_plays_every_frame_with_the_sines_pitch) {
    const auto packets = encode_sine(100);
    jitter_buffer jb({});
    const auto r = play(jb, packets, in_order(100));
    EXPECT_EQ(c(jb).packets_received, 100u);
    EXPECT_EQ(c(jb).frames_decoded, 100u);
    EXPECT_EQ(c(jb).frames_fec, 0u);
    EXPECT_EQ(c(jb).frames_silent, 2u); // prefill to 3 frames
    EXPECT_EQ(c(jb).packets_late + c(jb).packets_duplicate + c(jb).packets_bad, 0u);
    // Frames come out in render order.
    std::int64_t expect_r = 0;
    for (const auto& f : r.frames) {
        if (f.kind != jitter_buffer::frame_kind::decoded)
            continue;
        EXPECT_EQ(f.render_sample, expect_r);
        expect_r += k_fs;
    }
    // Skip the prefill silence and the codec's start-up, analyse the steady part.
    const std::span<const float> steady(r.left.data() + 20 * k_fs, 60 * k_fs);
    EXPECT_NEAR(zero_crossing_hz(steady), k_freq, 3.0);
    EXPECT_GT(rms(steady), 0.2);
}

TEST(jitter_buffer, reordered_packets_are_all_played) {
    const auto packets = encode_sine(60);
    auto arrivals = in_order(60);
    for (std::size_t i = 10; i + 1 < 50; i += 4)
        std::swap(arrivals[i], arrivals[i + 1]); // pairs swapped: one frame of extra delay
    jitter_buffer jb({});
    play(jb, packets, arrivals, 2);
    EXPECT_EQ(c(jb).frames_decoded, 60u);
    EXPECT_EQ(c(jb).frames_fec + c(jb).frames_plc + c(jb).packets_late, 0u);
}

TEST(jitter_buffer, duplicates_are_counted_and_dropped) {
    const auto packets = encode_sine(40);
    auto arrivals = in_order(40);
    for (std::size_t i = 5; i < 35; ++i)
        arrivals[i].push_back(static_cast<int>(i));
    jitter_buffer jb({});
    play(jb, packets, arrivals);
    EXPECT_EQ(c(jb).packets_duplicate, 30u);
    EXPECT_EQ(c(jb).frames_decoded, 40u);
}

TEST(jitter_buffer, single_loss_is_repaired_by_fec) {
    const auto packets = encode_sine(60);
    auto arrivals = in_order(60);
    arrivals[30].clear();
    jitter_buffer jb({});
    const auto r = play(jb, packets, arrivals);
    EXPECT_EQ(c(jb).frames_fec, 1u);
    EXPECT_EQ(c(jb).frames_plc, 2u); // only the 2 trailing steps after the stream ended
    EXPECT_EQ(c(jb).frames_decoded, 59u);
    // The repaired frame carries the sine, not silence.
    for (std::size_t i = 0; i < r.frames.size(); ++i) {
        if (r.frames[i].kind == jitter_buffer::frame_kind::fec) {
            EXPECT_EQ(r.frames[i].render_sample, 30 * k_fs);
        }
    }
    const std::span<const float> steady(r.left.data() + 20 * k_fs, 30 * k_fs);
    EXPECT_NEAR(zero_crossing_hz(steady), k_freq, 5.0);
}

TEST(jitter_buffer, burst_loss_uses_plc_then_fec) {
    const auto packets = encode_sine(60);
    auto arrivals = in_order(60);
    arrivals[30].clear();
    arrivals[31].clear();
    arrivals[32].clear();
    jitter_buffer jb({});
    play(jb, packets, arrivals, 0);
    EXPECT_EQ(c(jb).frames_plc, 2u);                // frames 30, 31
    EXPECT_EQ(c(jb).frames_fec, 1u);                // frame 32 from packet 33
    EXPECT_EQ(c(jb).frames_decoded, 60u - 3u - 2u); // last two still buffered at the end
}

TEST(jitter_buffer, late_packets_are_counted_and_dropped) {
    const auto packets = encode_sine(60);
    auto arrivals = in_order(60);
    arrivals[20].clear();
    arrivals[21].clear();
    arrivals[35] = {35, 20, 21}; // 15 frames late
    jitter_buffer jb({});
    play(jb, packets, arrivals);
    EXPECT_EQ(c(jb).packets_late, 2u);
    EXPECT_EQ(c(jb).frames_plc, 1u + 2u); // frame 20, then the 2 trailing steps
    EXPECT_EQ(c(jb).frames_fec, 1u);
}

TEST(jitter_buffer, bad_datagrams_are_counted_never_played) {
    const auto packets = encode_sine(10);
    jitter_buffer jb({});
    std::vector<std::byte> junk(100, std::byte{0x55});
    jb.push(junk);
    auto truncated = packets[0];
    truncated.resize(truncated.size() - 3);
    jb.push(truncated);
    std::vector<float> pcm(k_max_frame_samples * k_channels);
    jb.next_frame(pcm);
    EXPECT_EQ(c(jb).packets_bad, 2u);
    EXPECT_EQ(c(jb).packets_received, 0u);
    EXPECT_EQ(c(jb).frames_silent, 1u);
}

TEST(jitter_buffer, starvation_longer_than_200_ms_reprefills) {
    const auto packets = encode_sine(200);
    std::vector<std::vector<int>> arrivals(81);
    for (int i = 0; i < 20; ++i)
        arrivals[static_cast<std::size_t>(i)] = {i};
    // 60 steps (300 ms) of nothing, then the stream resumes at frame 80.
    arrivals[80] = {80, 81, 82};
    jitter_buffer jb({});
    const auto r = play(jb, packets, arrivals, 0);
    EXPECT_EQ(c(jb).frames_plc, 41u); // > 200 ms of concealment, then silence
    EXPECT_EQ(c(jb).frames_silent, 2u + (80u - 20u - 2u - 41u));
    EXPECT_EQ(r.frames.back().kind, jitter_buffer::frame_kind::decoded);
    EXPECT_EQ(r.frames.back().render_sample, 80 * k_fs);
}

TEST(jitter_buffer, running_far_ahead_skips_to_the_target_depth) {
    const auto packets = encode_sine(60);
    auto arrivals = in_order(16);
    for (int i = 16; i <= 40; ++i)
        arrivals[15].push_back(i); // a burst: 26 frames at once while playing frame 13
    jitter_buffer jb({});
    const auto r = play(jb, packets, arrivals, 0);
    EXPECT_EQ(c(jb).frames_skipped, 40u - 3u + 1u - 13u);
    EXPECT_EQ(r.frames.back().render_sample, 38 * k_fs);
    EXPECT_EQ(c(jb).frames_plc, 0u);
}

TEST(playout, periods_of_any_size_follow_the_render_timeline) {
    const auto packets = encode_sine(50);
    playout p({});
    for (const auto& d : packets)
        p.buffer().push(d);
    std::vector<float> l(256);
    std::vector<float> r(256);
    // First period: 3 frames buffered -> starts at the newest-minus-2... all 50 are buffered,
    // so it skips ahead to keep the target depth and plays frame 47.
    p.render(l.data(), r.data(), 256, 1'000'000'000, 0);
    EXPECT_EQ(p.heard_render_sample(1'000'000'000), 47 * k_fs);
    p.render(l.data(), r.data(), 256, 1'000'000'000 + 5'333'333, 100);
    // Second period starts 256 samples later, minus 100 samples of output latency.
    EXPECT_EQ(p.heard_render_sample(1'000'000'000 + 5'333'333), 47 * k_fs + 256 - 100);
    // Extrapolates along the output clock: +1 ms = +48 samples.
    EXPECT_EQ(p.heard_render_sample(1'001'000'000 + 5'333'333), 47 * k_fs + 256 - 100 + 48);
}

TEST(playout, nothing_heard_before_audio_arrives) {
    playout p({});
    std::vector<float> l(256, 1.0f);
    std::vector<float> r(256, 1.0f);
    p.render(l.data(), r.data(), 256, 0, 0);
    EXPECT_EQ(p.heard_render_sample(0), 0);
    EXPECT_EQ(rms(l), 0.0);
}

} // namespace
} // namespace gno::client
