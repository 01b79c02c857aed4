#include <algorithm>
#include <cmath>
#include <gno/client/jitter_buffer.hpp>
#include <gno/client/playout.hpp>
#include <gtest/gtest.h>
#include <numbers>
#include <opus.h>
#include <random>
#include <vector>

namespace gno::client {
namespace {

constexpr int k_fs = 240;
constexpr double k_freq = 440.0;

/// N audio datagrams of a stereo signal `value(sample index)`, 5 ms Opus frames with in-band
/// FEC, as the server sends them (render_sample = i * 240).
template <typename Signal>
std::vector<std::vector<std::byte>> encode_stream(int frames, Signal value) {
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
            const float v = value(i * k_fs + s);
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

/// A 440 Hz sine at half scale.
std::vector<std::vector<std::byte>> encode_sine(int frames) {
    return encode_stream(frames, [](int sample) {
        const double t = static_cast<double>(sample) / k_sample_rate;
        return static_cast<float>(0.5 * std::sin(2 * std::numbers::pi * k_freq * t));
    });
}

struct run_result {
    std::vector<jitter_buffer::frame> frames;
    std::vector<float> left;  // left channel of every output frame, concatenated
    std::vector<int> targets; // the target depth after each step
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
        r.targets.push_back(jb.target_frames());
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
    // Frame 30 finds the buffer dry: one held frame (it might only be late). Packet 33 shows 30
    // to 32 lost: 30 is dropped for free (the hold already took its time), 31 is concealed by
    // PLC and 32 by FEC from packet 33. The same two PLC frames as a fixed buffer plays.
    EXPECT_EQ(c(jb).frames_plc, 2u);
    EXPECT_EQ(c(jb).frames_inserted, 1u);
    EXPECT_EQ(c(jb).frames_removed, 1u);
    EXPECT_EQ(c(jb).frames_fec, 1u);
    EXPECT_EQ(c(jb).frames_decoded, 60u - 3u - 2u); // last two still buffered at the end
    EXPECT_EQ(c(jb).target_frames, 3);
    jitter_buffer::config fixed;
    fixed.adaptive = false;
    jitter_buffer jf(fixed);
    play(jf, packets, arrivals, 0);
    EXPECT_EQ(c(jf).frames_plc, 2u); // frames 30, 31
    EXPECT_EQ(c(jf).frames_fec, 1u); // frame 32 from packet 33
    EXPECT_EQ(c(jf).frames_inserted + c(jf).frames_removed, 0u);
    EXPECT_EQ(c(jf).frames_decoded, 60u - 3u - 2u);
}

TEST(jitter_buffer, late_packets_are_counted_and_dropped) {
    const auto packets = encode_sine(60);
    auto arrivals = in_order(60);
    arrivals[20].clear();
    arrivals[21].clear();
    arrivals[35] = {35, 20, 21}; // 15 frames late
    // A fixed buffer counts and drops them, nothing else.
    jitter_buffer::config fixed;
    fixed.adaptive = false;
    jitter_buffer jf(fixed);
    play(jf, packets, arrivals);
    EXPECT_EQ(c(jf).packets_late, 2u);
    EXPECT_EQ(c(jf).frames_plc, 1u + 2u); // frame 20, then the 2 trailing steps
    EXPECT_EQ(c(jf).frames_fec, 1u);
    // The adaptive one drops them too (their frames were concealed), and learns from packet
    // 20's lateness: 15 frames beyond the fastest packets -> a target of 16, reached by one
    // inserted frame every 4th step.
    jitter_buffer jb({});
    const auto r = play(jb, packets, arrivals);
    EXPECT_EQ(c(jb).packets_late, 2u);
    EXPECT_EQ(c(jb).frames_fec, 1u);
    EXPECT_EQ(c(jb).target_frames, 16);
    EXPECT_EQ(c(jb).target_grows, 1u);
    EXPECT_EQ(c(jb).frames_inserted, 8u); // steps 35, 39, ..., 63
    EXPECT_EQ(c(jb).frames_plc, 1u + 8u);
    for (std::size_t k = 35; k < r.frames.size(); ++k)
        EXPECT_EQ(r.frames[k].kind == jitter_buffer::frame_kind::inserted, (k - 35) % 4 == 0) << k;
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

// --- Adaptive depth, in virtual time: one step = one 5-ms frame played; a packet "arriving at
// step k" is pushed just before the k-th next_frame. On time, packet i arrives at step i.

using kind = jitter_buffer::frame_kind;

/// 36 s of the sine, encoded once for the long runs.
const std::vector<std::vector<std::byte>>& long_sine() {
    static const auto packets = encode_sine(7200);
    return packets;
}

std::vector<int> on_time(int n) {
    std::vector<int> step_of(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i)
        step_of[static_cast<std::size_t>(i)] = i;
    return step_of;
}

/// The arrival step of every packet (-1 = lost) as what arrives at each step, in packet order.
std::vector<std::vector<int>> arrivals_at(const std::vector<int>& step_of) {
    const int last = *std::max_element(step_of.begin(), step_of.end());
    std::vector<std::vector<int>> a(static_cast<std::size_t>(last) + 1);
    for (std::size_t i = 0; i < step_of.size(); ++i)
        if (step_of[i] >= 0)
            a[static_cast<std::size_t>(step_of[i])].push_back(static_cast<int>(i));
    return a;
}

/// A delay spike: packets [first, first + frames) are held back and arrive in one clump with
/// packet first + frames, i.e. the oldest `frames` frames (5 ms each) late.
void delay_spike(std::vector<int>& step_of, int first, int frames) {
    for (int i = first; i < first + frames; ++i)
        step_of[static_cast<std::size_t>(i)] = first + frames;
}

/// Frames played as FEC, PLC or inserted concealment among steps [from, to).
int concealed(const run_result& r, std::size_t from, std::size_t to) {
    int n = 0;
    for (std::size_t k = from; k < std::min(to, r.frames.size()); ++k)
        n += r.frames[k].kind == kind::fec || r.frames[k].kind == kind::plc ||
             r.frames[k].kind == kind::inserted;
    return n;
}

TEST(jitter_buffer_adaptive, steady_arrivals_keep_the_minimum_and_never_conceal) {
    jitter_buffer jb({});
    const auto r = play(jb, long_sine(), in_order(2000), 0);
    EXPECT_EQ(c(jb).target_frames, 3);
    EXPECT_EQ(c(jb).target_grows + c(jb).target_shrinks, 0u);
    EXPECT_EQ(concealed(r, 0, r.frames.size()), 0);
    EXPECT_EQ(c(jb).frames_inserted + c(jb).frames_removed + c(jb).frames_skipped, 0u);
    EXPECT_EQ(c(jb).frames_silent, 2u);
    EXPECT_EQ(c(jb).frames_decoded, 1998u);
}

TEST(jitter_buffer_adaptive, steady_arrivals_through_jack_sized_periods_stay_at_the_minimum) {
    // The real call pattern: 256-sample periods pull 240-sample frames, so next_frame runs once
    // or twice per period and arrivals bunch by period. 10 s, constant 300-sample delay.
    const auto& packets = long_sine();
    playout p({});
    std::vector<float> l(256);
    std::vector<float> r(256);
    std::size_t next = 0;
    for (std::int64_t t = 0; t < 10 * k_sample_rate; t += 256) {
        while (next < 2100 && static_cast<std::int64_t>(next) * k_fs + 300 <= t)
            p.buffer().push(packets[next++]);
        p.render(l.data(), r.data(), 256, t * 1'000'000'000 / k_sample_rate, 0);
    }
    const auto& jc = p.buffer().counters();
    EXPECT_EQ(jc.target_frames, 3);
    EXPECT_EQ(jc.target_grows, 0u);
    EXPECT_EQ(jc.frames_fec + jc.frames_plc + jc.frames_inserted, 0u);
    EXPECT_EQ(jc.frames_removed, 0u);
    EXPECT_GT(jc.frames_decoded, 1990u);
}

TEST(jitter_buffer_adaptive, a_delay_spike_grows_the_target_and_the_same_spike_again_plays_clean) {
    // 60 ms of packets held back and delivered in a clump; the same again 3 s later.
    auto step_of = on_time(2000);
    delay_spike(step_of, 400, 12);
    delay_spike(step_of, 1000, 12);
    jitter_buffer jb({});
    const auto r = play(jb, long_sine(), arrivals_at(step_of), 0);
    // First spike: frame 400 is due at step 402 (3 frames deep), the buffer is dry, so it holds
    // for 10 steps. Packet 400 then arrives 12 frames behind the fastest packets: the target
    // becomes 13 at once, and as the holds already made that depth nothing is dropped.
    EXPECT_EQ(concealed(r, 0, 420), 10);
    for (std::size_t k = 402; k < 412; ++k) {
        EXPECT_EQ(r.frames[k].kind, kind::inserted) << k;
        EXPECT_EQ(r.frames[k].render_sample, 400 * k_fs) << k;
    }
    EXPECT_EQ(r.targets[411], 3);
    EXPECT_EQ(r.targets[412], 13);
    EXPECT_EQ(r.frames[412].render_sample, 400 * k_fs);
    EXPECT_EQ(c(jb).target_grows, 1u);
    EXPECT_EQ(c(jb).packets_late, 0u);
    // Second spike: packet 1000 arrives just as it is due. Nothing concealed after the first.
    EXPECT_EQ(concealed(r, 420, r.frames.size()), 0);
    EXPECT_EQ(c(jb).frames_inserted, 10u);
    EXPECT_EQ(c(jb).frames_removed + c(jb).frames_skipped, 0u);
    // Every frame played once, in order, 12 frames after its arrival from the growth on.
    EXPECT_EQ(c(jb).frames_decoded, 2000u - 12u);
    EXPECT_EQ(r.frames.back().render_sample, (1999 - 12) * k_fs);
    EXPECT_EQ(c(jb).target_frames, 13);
}

TEST(jitter_buffer_adaptive, a_spike_that_begins_with_a_lost_packet_grows_the_target_too) {
    auto step_of = on_time(1400);
    delay_spike(step_of, 400, 12);
    step_of[400] = -1;
    delay_spike(step_of, 1000, 12);
    step_of[1000] = -1;
    jitter_buffer jb({});
    const auto r = play(jb, long_sine(), arrivals_at(step_of), 0);
    // Packet 401 arrives 11 frames behind while the buffer holds: target 12; frame 400 is
    // dropped for free (the holds stood for it).
    EXPECT_EQ(r.targets[412], 12);
    EXPECT_EQ(concealed(r, 0, 420), 10);
    // Again: only the lost frame itself is concealed.
    EXPECT_EQ(concealed(r, 420, r.frames.size()), 1);
    EXPECT_EQ(c(jb).target_grows, 1u);
    EXPECT_EQ(c(jb).frames_removed, 2u);
    EXPECT_EQ(r.frames.back().render_sample, (1399 - 11) * k_fs);
}

TEST(jitter_buffer_adaptive, the_target_comes_down_one_frame_per_10_s_of_clean_arrivals) {
    auto step_of = on_time(7000);
    delay_spike(step_of, 400, 12);
    jitter_buffer jb({});
    const auto r = play(jb, long_sine(), arrivals_at(step_of), 0);
    ASSERT_EQ(r.targets[412], 13);
    std::vector<std::size_t> downs;
    for (std::size_t k = 413; k < r.targets.size(); ++k) {
        EXPECT_LE(r.targets[k], r.targets[k - 1]) << k;
        if (r.targets[k] < r.targets[k - 1])
            downs.push_back(k);
    }
    // 33 s after the spike: three steps of one frame, each after 10 s (2000 frames) clean.
    ASSERT_EQ(downs.size(), 3u);
    EXPECT_GE(downs[0], 412u + 1999u);
    EXPECT_GE(downs[1] - downs[0], 2000u);
    EXPECT_GE(downs[2] - downs[1], 2000u);
    EXPECT_EQ(c(jb).target_frames, 10);
    EXPECT_EQ(c(jb).target_shrinks, 3u);
    // The sine is never quiet, so each step down drops one decoded frame after 2 s; no
    // concealment, and the latency is down to 9 frames.
    EXPECT_EQ(c(jb).frames_removed, 3u);
    EXPECT_EQ(concealed(r, 420, r.frames.size()), 0);
    EXPECT_EQ(r.frames.back().render_sample, (6999 - 9) * k_fs);
}

TEST(jitter_buffer_adaptive, random_isolated_loss_does_not_grow_the_target) {
    std::mt19937 rng(20'240'601);
    std::bernoulli_distribution lost(0.05);
    auto step_of = on_time(4000);
    int n_lost = 0;
    for (std::size_t i = 10; i < 3990; ++i)
        if (lost(rng)) {
            step_of[i] = -1;
            ++n_lost;
        }
    jitter_buffer jb({});
    const auto r = play(jb, long_sine(), arrivals_at(step_of), 0);
    EXPECT_GT(n_lost, 150);
    EXPECT_EQ(c(jb).target_frames, 3);
    EXPECT_EQ(c(jb).target_grows, 0u);
    EXPECT_EQ(c(jb).packets_late, 0u);
    // Each lost frame is concealed once (FEC, PLC, or a hold when a run of 3+ dried the buffer
    // up), and nothing else is.
    EXPECT_EQ(concealed(r, 0, r.frames.size()), n_lost);
    EXPECT_EQ(r.frames.back().render_sample, (3999 - 2) * k_fs);
}

TEST(jitter_buffer_adaptive, a_burst_loss_is_held_then_dropped_for_free) {
    auto step_of = on_time(1000);
    for (std::size_t i = 400; i < 410; ++i)
        step_of[i] = -1; // 50 ms lost, nothing late
    jitter_buffer jb({});
    const auto r = play(jb, long_sine(), arrivals_at(step_of), 0);
    // 8 holds (400 due at 402 .. packet 410 at step 410), then 400..407 dropped at no cost,
    // 408 by PLC and 409 by FEC: ten frames concealed for ten lost, and the latency is back.
    EXPECT_EQ(concealed(r, 0, r.frames.size()), 10);
    EXPECT_EQ(c(jb).frames_inserted, 8u);
    EXPECT_EQ(c(jb).frames_removed, 8u);
    EXPECT_EQ(c(jb).target_frames, 3);
    EXPECT_EQ(c(jb).target_grows, 0u);
    EXPECT_EQ(r.frames.back().render_sample, (999 - 2) * k_fs);
}

TEST(jitter_buffer_adaptive, uniform_jitter_is_learned_within_the_first_second) {
    // Each packet delayed uniformly in [0, 30) ms, independently (so reordered): it is drained
    // 1 to 6 steps after it was sent, i.e. up to 5 frames behind the fastest.
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> delay(0, 1439);
    std::vector<int> step_of(4000);
    for (std::size_t i = 0; i < step_of.size(); ++i)
        step_of[i] = static_cast<int>(i) + (delay(rng) + k_fs) / k_fs;
    jitter_buffer jb({});
    const auto r = play(jb, long_sine(), arrivals_at(step_of), 0);
    EXPECT_EQ(c(jb).target_frames, 6);
    EXPECT_LE(c(jb).target_grows, 3u);
    EXPECT_LE(concealed(r, 0, 200), 12);
    EXPECT_EQ(concealed(r, 200, r.frames.size()), 0);
    EXPECT_EQ(c(jb).target_shrinks, 0u); // 5-frame excesses keep coming
}

TEST(jitter_buffer_adaptive, late_duplicates_are_duplicates_not_late_packets) {
    // A duplicating link: every 10th packet comes again 15 frames later, after it played.
    auto arrivals = in_order(2000);
    for (int i = 100; i < 1900; i += 10)
        arrivals[static_cast<std::size_t>(i) + 15].push_back(i);
    // One copy 150 frames (750 ms) behind: beyond the history, counted late, not learnt from.
    arrivals[1650].push_back(1500);
    jitter_buffer jb({});
    const auto r = play(jb, long_sine(), arrivals, 0);
    EXPECT_EQ(c(jb).packets_duplicate, 180u);
    EXPECT_EQ(c(jb).packets_late, 1u);
    EXPECT_EQ(c(jb).target_frames, 3);
    EXPECT_EQ(concealed(r, 0, r.frames.size()), 0);
}

TEST(jitter_buffer_adaptive, the_target_never_exceeds_max_frames) {
    auto step_of = on_time(1000);
    delay_spike(step_of, 400, 30); // 150 ms
    jitter_buffer::config cfg;
    cfg.max_frames = 20;
    jitter_buffer jb(cfg);
    const auto r = play(jb, long_sine(), arrivals_at(step_of), 0);
    EXPECT_EQ(c(jb).target_frames, 20);
    // 28 holds made 30 frames of depth; beyond 20 + 8 the buffer skips to the capped target.
    EXPECT_EQ(c(jb).frames_skipped, 11u);
    EXPECT_EQ(r.frames.back().render_sample, (999 - 19) * k_fs);
}

TEST(jitter_buffer_adaptive, a_spike_beyond_the_starvation_limit_still_teaches_the_target) {
    // 300 ms held back: after 200 ms of holding the buffer re-prefills; the clump then shows
    // the packets 60 frames late, so the target goes to the cap (40) and play resumes there.
    auto step_of = on_time(1000);
    delay_spike(step_of, 400, 60);
    jitter_buffer jb({});
    const auto r = play(jb, long_sine(), arrivals_at(step_of), 0);
    EXPECT_EQ(c(jb).target_frames, 40);
    EXPECT_EQ(r.frames[460].render_sample, (460 - 39) * k_fs);
    EXPECT_EQ(concealed(r, 461, r.frames.size()), 0);
    EXPECT_EQ(r.frames.back().render_sample, (999 - 39) * k_fs);
}

TEST(jitter_buffer_adaptive, clock_drift_is_followed_without_moving_the_target) {
    // The server's clock 500 ppm slow, then fast: over 6000 frames the arrivals drift by 3
    // frames. The sliding minimum of the delay follows, and the level with it: a slow server
    // costs one inserted frame per frame of drift, a fast one a dropped frame; the target stays.
    for (const double rate : {1.0005, 0.9995}) {
        std::vector<int> step_of(6000);
        for (std::size_t i = 0; i < step_of.size(); ++i)
            step_of[i] = static_cast<int>(std::floor(static_cast<double>(i) * rate)) + 1;
        jitter_buffer jb({});
        const auto r = play(jb, long_sine(), arrivals_at(step_of), 0);
        EXPECT_EQ(c(jb).target_frames, 3) << rate;
        EXPECT_EQ(c(jb).target_grows, 0u) << rate;
        EXPECT_EQ(c(jb).packets_late, 0u) << rate;
        if (rate > 1) {
            EXPECT_NEAR(static_cast<double>(c(jb).frames_inserted), 3.0, 1.0);
            EXPECT_EQ(c(jb).frames_removed, 0u);
        } else {
            EXPECT_EQ(c(jb).frames_inserted, 0u);
            EXPECT_NEAR(static_cast<double>(c(jb).frames_removed), 3.0, 1.0);
        }
        EXPECT_EQ(concealed(r, 0, r.frames.size()), static_cast<int>(c(jb).frames_inserted.load()))
            << rate;
    }
}

TEST(jitter_buffer_adaptive, fixed_mode_never_moves_the_target) {
    auto step_of = on_time(7000);
    delay_spike(step_of, 400, 12);
    delay_spike(step_of, 1000, 12);
    jitter_buffer::config cfg;
    cfg.adaptive = false;
    jitter_buffer jb(cfg);
    const auto r = play(jb, long_sine(), arrivals_at(step_of), 0);
    for (const int t : r.targets)
        ASSERT_EQ(t, 3);
    EXPECT_EQ(c(jb).target_grows + c(jb).target_shrinks, 0u);
    EXPECT_EQ(c(jb).frames_inserted + c(jb).frames_removed, 0u);
    // Both spikes cost the same: frames 400..409 concealed, their packets late and dropped.
    EXPECT_EQ(concealed(r, 0, 420), 10);
    EXPECT_EQ(concealed(r, 420, 1100), 10);
    EXPECT_EQ(c(jb).packets_late, 20u);
    EXPECT_EQ(r.frames.back().render_sample, (6999 - 2) * k_fs);
}

// --- R-labelling through grows and shrinks: each frame of the stream carries one of 8 tones
// (a different one from its neighbours), so a decoded frame shows by its sound which frame it
// is. It must sound like the server's frame with the same R decoded in order.

constexpr int k_tones = 8;

double tone_hz(int index) {
    return 600.0 + 800.0 * index; // whole cycles in 240 samples: the tones are orthogonal
}

int tone_of_frame(int frame_no) {
    return (frame_no * 3) % k_tones;
}

/// The strongest of the 8 tones in x (Goertzel).
int dominant_tone(std::span<const float> x) {
    int best = -1;
    double best_power = -1;
    for (int t = 0; t < k_tones; ++t) {
        const double w = 2 * std::numbers::pi * tone_hz(t) / k_sample_rate;
        const double coeff = 2 * std::cos(w);
        double s1 = 0;
        double s2 = 0;
        for (float v : x) {
            const double s0 = v + coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        const double power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
        if (power > best_power) {
            best_power = power;
            best = t;
        }
    }
    return best;
}

TEST(jitter_buffer_adaptive, every_stream_frame_keeps_its_own_render_sample) {
    constexpr int n = 4600;
    const auto packets = encode_stream(n, [](int sample) {
        const double t = static_cast<double>(sample) / k_sample_rate;
        return static_cast<float>(
            0.3 * std::sin(2 * std::numbers::pi * tone_hz(tone_of_frame(sample / k_fs)) * t));
    });
    // The server's frames decoded in order: the tone each one shows.
    std::vector<int> reference(n);
    {
        int err = 0;
        OpusDecoder* dec = opus_decoder_create(k_sample_rate, k_channels, &err);
        ASSERT_EQ(err, OPUS_OK);
        std::vector<float> pcm(k_max_frame_samples * k_channels);
        std::vector<float> left(k_fs);
        for (int i = 0; i < n; ++i) {
            proto::v1::header h;
            proto::v1::audio_frame a;
            ASSERT_FALSE(proto::v1::decode(packets[static_cast<std::size_t>(i)], h, a));
            const int got =
                opus_decode_float(dec, reinterpret_cast<const unsigned char*>(a.opus.data()),
                                  static_cast<opus_int32>(a.opus.size()), pcm.data(), k_fs, 0);
            ASSERT_EQ(got, k_fs);
            for (int s = 0; s < k_fs; ++s)
                left[static_cast<std::size_t>(s)] = pcm[static_cast<std::size_t>(s) * 2];
            reference[static_cast<std::size_t>(i)] = dominant_tone(left);
        }
        opus_decoder_destroy(dec);
    }
    // Holds and a grow (spike at 400), a spike arriving in reverse order (1000), a packet 20
    // frames late (1500: grow by inserts), a burst loss (1800), a step down (~3500) with a
    // dropped frame.
    auto step_of = on_time(n);
    delay_spike(step_of, 400, 12);
    delay_spike(step_of, 1000, 16);
    step_of[1500] = 1520;
    for (std::size_t i = 1800; i < 1806; ++i)
        step_of[i] = -1;
    auto arrivals = arrivals_at(step_of);
    std::reverse(arrivals[1016].begin(), arrivals[1016].end());
    jitter_buffer jb({});
    const auto r = play(jb, packets, arrivals, 0);
    EXPECT_GE(c(jb).target_grows, 3u);
    EXPECT_GE(c(jb).target_shrinks, 1u);
    EXPECT_GE(c(jb).frames_inserted, 10u);
    EXPECT_GE(c(jb).frames_removed, 1u);

    std::int64_t last_decoded = -1;
    int checked = 0;
    int decoded_run = 0; // decoded frames in a row: the decoder state matches the reference's
    for (std::size_t k = 0; k < r.frames.size(); ++k) {
        const auto& f = r.frames[k];
        if (f.kind == kind::silent)
            continue;
        ASSERT_EQ(f.render_sample % k_fs, 0) << k;
        if (f.kind == kind::inserted) {
            // Stands for no frame: labelled with the R of whatever plays next.
            for (std::size_t j = k + 1; j < r.frames.size(); ++j)
                if (r.frames[j].kind != kind::inserted) {
                    EXPECT_EQ(f.render_sample, r.frames[j].render_sample) << k;
                    break;
                }
            decoded_run = 0;
            continue;
        }
        if (f.kind != kind::decoded) {
            decoded_run = 0;
            continue;
        }
        EXPECT_GT(f.render_sample, last_decoded) << k;
        last_decoded = f.render_sample;
        if (++decoded_run < 3)
            continue;
        const std::span<const float> mine(r.left.data() + k * k_fs, k_fs);
        EXPECT_EQ(dominant_tone(mine), reference[static_cast<std::size_t>(f.render_sample / k_fs)])
            << "step " << k << " labelled frame " << f.render_sample / k_fs;
        ++checked;
    }
    EXPECT_GT(checked, 4000);
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
