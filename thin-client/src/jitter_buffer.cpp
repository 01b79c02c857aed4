#include "gno/client/jitter_buffer.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <opus.h>
#include <stdexcept>
#include <string>

namespace gno::client {
namespace {

constexpr std::size_t k_default_frame_samples = 240;
/// A packet this far (1 s) behind the play position means the server's timeline restarted.
constexpr std::int64_t k_timeline_reset_frames_ms = 1000;
/// An empty block of the sliding delay minimum.
constexpr std::int64_t k_no_delay = std::numeric_limits<std::int64_t>::max();

void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
    c.fetch_add(n, std::memory_order_relaxed);
}

float rms(std::span<const float> x) noexcept {
    float sum = 0.0f;
    for (const float v : x)
        sum += v * v;
    return x.empty() ? 0.0f : std::sqrt(sum / static_cast<float>(x.size()));
}

} // namespace

jitter_buffer::jitter_buffer(config cfg) : cfg_(cfg) {
    cfg_.target_frames = std::clamp(cfg_.target_frames, 1, k_max_target_frames);
    cfg_.max_frames = std::clamp(cfg_.max_frames, cfg_.target_frames, k_max_target_frames);
    cfg_.max_extra_frames = std::clamp(cfg_.max_extra_frames, 1, static_cast<int>(k_slots) / 4);
    set_target(cfg_.target_frames);
    delay_min_.fill(k_no_delay);
    arrived_.fill(-1);
    int err = 0;
    decoder_ = opus_decoder_create(k_sample_rate, k_channels, &err);
    if (err != OPUS_OK || decoder_ == nullptr)
        throw std::runtime_error(std::string("cannot create Opus decoder: ") + opus_strerror(err));
}

jitter_buffer::~jitter_buffer() {
    opus_decoder_destroy(decoder_);
}

bool jitter_buffer::push(std::span<const std::byte> datagram) noexcept {
    if (datagram.size() > proto::v1::k_max_datagram) {
        count_bad();
        return false;
    }
    const bool ok = ring_.try_push([&](packet& p) {
        p.size = static_cast<std::uint16_t>(datagram.size());
        std::copy(datagram.begin(), datagram.end(), p.bytes.begin());
    });
    if (!ok)
        bump(counters_.packets_overflow);
    return ok;
}

void jitter_buffer::set_target(int frames) noexcept {
    target_ = frames;
    counters_.target_frames.store(frames, std::memory_order_relaxed);
}

void jitter_buffer::clear_slots() noexcept {
    for (auto& s : slots_)
        s.frame = -1;
}

void jitter_buffer::restart() noexcept {
    clear_slots();
    playing_ = false;
    starve_samples_ = 0;
    if (epoch_first_frame_ >= 0)
        expected_before_epoch_ +=
            static_cast<std::uint64_t>(highest_frame_ - epoch_first_frame_ + 1);
    epoch_first_frame_ = -1;
    highest_frame_ = -1;
    // A new timeline: delays and frame numbers of the old one mean nothing. The target is kept:
    // the network that taught it is the same.
    delay_min_.fill(k_no_delay);
    arrived_.fill(-1);
    holding_ = false;
    starved_ = false;
    clean_samples_ = 0;
    excess_samples_ = 0;
}

int jitter_buffer::buffered_frames() const noexcept {
    int n = 0;
    for (const auto& s : slots_)
        if (s.frame >= 0 && (!playing_ || s.frame >= play_frame_))
            ++n;
    return n;
}

std::int64_t jitter_buffer::min_delay() const noexcept {
    return *std::min_element(delay_min_.begin(), delay_min_.end());
}

void jitter_buffer::drain() noexcept {
    // Bounded: at most the ring's capacity per call.
    for (std::size_t i = 0; i < k_ring_packets; ++i) {
        packet* p = ring_.front();
        if (p == nullptr)
            break;
        accept(std::span<const std::byte>(p->bytes.data(), p->size));
        ring_.pop();
    }
}

void jitter_buffer::observe_delay(std::int64_t frame_no, bool was_due) noexcept {
    const std::int64_t d = tick_ - frame_no;
    auto& block = delay_min_[delay_block_];
    block = std::min(block, d);
    if (!cfg_.adaptive)
        return;
    const std::int64_t x = d - min_delay(); // excess over the fastest recent packet, >= 0
    if (x >= target_ - 1)
        clean_samples_ = 0; // less than a frame to spare at the target depth
    if (was_due && x + 1 > target_) {
        set_target(static_cast<int>(std::min<std::int64_t>(cfg_.max_frames, x + 1)));
        bump(counters_.target_grows);
    }
}

void jitter_buffer::accept(std::span<const std::byte> datagram) noexcept {
    proto::v1::header h;
    proto::v1::audio_frame a;
    if (proto::v1::decode(datagram, h, a) || a.frame_samples > k_max_frame_samples) {
        bump(counters_.packets_bad);
        return;
    }
    bump(counters_.packets_received);
    const std::size_t fs = a.frame_samples;
    if (fs != frame_samples_) {
        // First packet, or the server changed its frame size: start a new stream.
        restart();
        frame_samples_ = fs;
        r_phase_ = a.render_sample % static_cast<std::int64_t>(fs);
    }
    const std::int64_t f = a.render_sample / static_cast<std::int64_t>(fs);
    const std::int64_t reset_frames =
        k_timeline_reset_frames_ms * k_sample_rate / 1000 / static_cast<std::int64_t>(fs);
    if (highest_frame_ >= 0 &&
        (highest_frame_ - f > reset_frames || f - highest_frame_ > reset_frames)) {
        restart(); // the server's timeline jumped (restart): follow it
        r_phase_ = a.render_sample % static_cast<std::int64_t>(fs);
    }
    // Already buffered, or already played from its own packet (a late copy from a duplicating
    // link must not count as a late packet, let alone grow the target).
    std::int64_t& arrived = arrived_[static_cast<std::size_t>(f) % k_slots];
    slot& s = slot_for(f);
    if (s.frame == f || arrived == f) {
        bump(counters_.packets_duplicate);
        return;
    }
    if (arrived > f) {
        // Older than the history reaches (k_slots frames): a stale copy and a very late
        // original look alike, so it teaches nothing.
        bump(counters_.packets_late);
        return;
    }
    arrived = f;
    // Its frame was due already: concealed (older than the play position), waited for (the
    // buffer ran dry), or part of the stream a starvation re-prefill gave up on.
    const bool late = playing_ && f < play_frame_;
    observe_delay(f, late || holding_ || (!playing_ && starved_));
    if (late) {
        bump(counters_.packets_late);
        return;
    }
    if (s.frame > f) { // an older frame aliasing a slot a newer one already holds
        bump(counters_.packets_late);
        return;
    }
    s.frame = f;
    s.render_sample = a.render_sample;
    s.size = static_cast<std::uint16_t>(a.opus.size());
    std::transform(a.opus.begin(), a.opus.end(), s.opus.begin(),
                   [](std::byte b) { return static_cast<unsigned char>(b); });
    if (epoch_first_frame_ < 0 || f < epoch_first_frame_)
        epoch_first_frame_ = f;
    highest_frame_ = std::max(highest_frame_, f);
    counters_.frames_expected.store(
        expected_before_epoch_ +
            static_cast<std::uint64_t>(highest_frame_ - epoch_first_frame_ + 1),
        std::memory_order_relaxed);
    // A frame beyond the slot window while playing: jump so it stays addressable.
    if (playing_ && f - play_frame_ >= static_cast<std::int64_t>(k_slots) - 1) {
        const std::int64_t to = f - target_ + 1;
        bump(counters_.frames_skipped, static_cast<std::uint64_t>(to - play_frame_));
        play_frame_ = to;
    }
}

jitter_buffer::frame jitter_buffer::silence(std::span<float> pcm) noexcept {
    const std::size_t n = frame_samples_ ? frame_samples_ : k_default_frame_samples;
    std::fill_n(pcm.begin(), n * k_channels, 0.0f);
    bump(counters_.frames_silent);
    return {n, -1, frame_kind::silent};
}

jitter_buffer::frame jitter_buffer::conceal(std::span<float> pcm, frame_kind kind) noexcept {
    const int fs = static_cast<int>(frame_samples_);
    int n = opus_decode_float(decoder_, nullptr, 0, pcm.data(), fs, 0);
    if (n <= 0) {
        n = fs;
        std::fill_n(pcm.begin(), frame_samples_ * k_channels, 0.0f);
    }
    // Labelled with the play position's R: for PLC the frame it stands for, for an inserted
    // frame the one that follows it.
    return {std::min(static_cast<std::size_t>(n), k_max_frame_samples), play_frame_ * fs + r_phase_,
            kind};
}

jitter_buffer::frame jitter_buffer::play_one(std::span<float> pcm) noexcept {
    const int fs = static_cast<int>(frame_samples_);
    slot& cur = slot_for(play_frame_);
    slot& next = slot_for(play_frame_ + 1);
    const bool missing = cur.frame != play_frame_;
    frame out;
    out.render_sample = play_frame_ * fs + r_phase_;
    int n = -1;
    if (!missing) {
        n = opus_decode_float(decoder_, cur.opus.data(), cur.size, pcm.data(),
                              static_cast<int>(k_max_frame_samples), 0);
        cur.frame = -1;
        if (n > 0)
            out.kind = frame_kind::decoded;
        else
            bump(counters_.packets_bad);
    } else if (next.frame == play_frame_ + 1) {
        n = opus_decode_float(decoder_, next.opus.data(), next.size, pcm.data(), fs, 1);
        if (n > 0)
            out.kind = frame_kind::fec;
    }
    if (n > 0) {
        out.samples = std::min(static_cast<std::size_t>(n), k_max_frame_samples);
        starve_samples_ = 0;
        holding_ = false;
        ++play_frame_;
        return out;
    }
    // Nothing to decode. In adaptive mode a dry buffer (nothing newer than the missing frame)
    // holds: the frame may only be late, and if it comes it is played, not dropped.
    const bool hold = cfg_.adaptive && missing && highest_frame_ < play_frame_;
    out = conceal(pcm, hold ? frame_kind::inserted : frame_kind::plc);
    starve_samples_ += static_cast<std::int64_t>(out.samples);
    holding_ = hold;
    if (!hold)
        ++play_frame_;
    return out;
}

void jitter_buffer::count(const frame& f) noexcept {
    switch (f.kind) {
    case frame_kind::decoded:
        bump(counters_.frames_decoded);
        break;
    case frame_kind::fec:
        bump(counters_.frames_fec);
        break;
    case frame_kind::inserted:
        bump(counters_.frames_inserted);
        bump(counters_.frames_plc);
        break;
    case frame_kind::plc:
        bump(counters_.frames_plc);
        break;
    case frame_kind::silent:
        break; // counted by silence()
    }
}

jitter_buffer::frame jitter_buffer::play(std::span<float> pcm) noexcept {
    if (!playing_) {
        if (frame_samples_ == 0 || buffered_frames() < target_) {
            counters_.depth_frames.store(frame_samples_ == 0 ? 0 : buffered_frames(),
                                         std::memory_order_relaxed);
            return silence(pcm);
        }
        playing_ = true;
        play_frame_ = highest_frame_ - target_ + 1;
        starve_samples_ = 0;
        starved_ = false;
        holding_ = false;
        excess_samples_ = 0;
    }
    // Running far ahead (e.g. after a stall on our side): skip to the target depth.
    if (highest_frame_ - play_frame_ + 1 > target_ + cfg_.max_extra_frames) {
        const std::int64_t to = highest_frame_ - target_ + 1;
        bump(counters_.frames_skipped, static_cast<std::uint64_t>(to - play_frame_));
        play_frame_ = to;
    }

    const auto fs = static_cast<std::int64_t>(frame_samples_);
    bool drop_decoded = false;
    if (cfg_.adaptive) {
        // The level: how early the fastest recent packets are, against target - 1.
        const std::int64_t d_min = min_delay();
        std::int64_t excess =
            d_min == k_no_delay ? 0 : (tick_ - play_frame_) - d_min - (target_ - 1);
        // Above the target with the next frames already missing (a burst loss the buffer held
        // through): skipping them costs nothing.
        for (std::size_t i = 0;
             i < k_slots && excess > 0 && slot_for(play_frame_).frame != play_frame_ &&
             highest_frame_ > play_frame_;
             ++i) {
            ++play_frame_;
            --excess;
            bump(counters_.frames_removed);
        }
        excess_samples_ = excess > 0 ? excess_samples_ + fs : 0;
        since_insert_ = std::min(since_insert_ + 1, k_insert_spacing);
        if (excess < 0 && highest_frame_ >= play_frame_ && since_insert_ >= k_insert_spacing) {
            // Below the target with data in hand: one PLC frame, the stream waits a frame.
            since_insert_ = 0;
            holding_ = false;
            const frame out = conceal(pcm, frame_kind::inserted);
            count(out);
            return finish(out);
        }
        drop_decoded = excess > 0;
    }
    frame out = play_one(pcm);
    if (drop_decoded && out.kind == frame_kind::decoded &&
        (rms(pcm.first(out.samples * k_channels)) < k_quiet_rms ||
         excess_samples_ >= ns_to_samples(k_remove_wait_ns))) {
        // Above the target: this decoded frame goes (the decoder has seen it, so the next one
        // decodes cleanly), preferably at a quiet moment.
        bump(counters_.frames_removed);
        excess_samples_ = 0;
        out = play_one(pcm);
    }
    count(out);
    if (starve_samples_ * 1'000'000'000LL / k_sample_rate > cfg_.starve_reset_ns) {
        // Long starvation: concealment has faded to silence anyway; wait for a full buffer.
        clear_slots();
        playing_ = false;
        starve_samples_ = 0;
        holding_ = false;
        starved_ = true;
    }
    return finish(out);
}

jitter_buffer::frame jitter_buffer::finish(const frame& out) noexcept {
    if (cfg_.adaptive) {
        clean_samples_ += static_cast<std::int64_t>(out.samples);
        if (clean_samples_ >= ns_to_samples(k_shrink_after_ns)) {
            clean_samples_ = 0;
            if (target_ > cfg_.target_frames) {
                set_target(target_ - 1);
                bump(counters_.target_shrinks);
            }
        }
    }
    counters_.depth_frames.store(std::max<std::int64_t>(0, highest_frame_ - play_frame_ + 1),
                                 std::memory_order_relaxed);
    return out;
}

jitter_buffer::frame jitter_buffer::next_frame(std::span<float> pcm) noexcept {
    // The sliding minimum of the packet delay: a new 1-s block every second of ticks.
    const std::int64_t block_ticks =
        k_sample_rate /
        static_cast<std::int64_t>(frame_samples_ ? frame_samples_ : k_default_frame_samples);
    if (tick_ - delay_block_start_ >= block_ticks) {
        delay_block_ = (delay_block_ + 1) % k_delay_blocks;
        delay_min_[delay_block_] = k_no_delay;
        delay_block_start_ = tick_;
    }
    drain();
    frame out = play(pcm);
    ++tick_;
    return out;
}

} // namespace gno::client
