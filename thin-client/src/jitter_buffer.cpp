#include "gno/client/jitter_buffer.hpp"

#include <algorithm>
#include <opus.h>
#include <stdexcept>
#include <string>

namespace gno::client {
namespace {

constexpr std::size_t k_default_frame_samples = 240;
/// A packet this far (1 s) behind the play position means the server's timeline restarted.
constexpr std::int64_t k_timeline_reset_frames_ms = 1000;

void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
    c.fetch_add(n, std::memory_order_relaxed);
}

} // namespace

jitter_buffer::jitter_buffer(config cfg) : cfg_(cfg) {
    cfg_.target_frames = std::clamp(cfg_.target_frames, 1, static_cast<int>(k_slots) / 2);
    cfg_.max_extra_frames = std::clamp(cfg_.max_extra_frames, 1, static_cast<int>(k_slots) / 4);
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
}

int jitter_buffer::buffered_frames() const noexcept {
    int n = 0;
    for (const auto& s : slots_)
        if (s.frame >= 0 && (!playing_ || s.frame >= play_frame_))
            ++n;
    return n;
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
    if (playing_ && f < play_frame_) {
        bump(counters_.packets_late);
        return;
    }
    slot& s = slot_for(f);
    if (s.frame == f) {
        bump(counters_.packets_duplicate);
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
        const std::int64_t to = f - cfg_.target_frames + 1;
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

jitter_buffer::frame jitter_buffer::next_frame(std::span<float> pcm) noexcept {
    drain();
    if (!playing_) {
        if (frame_samples_ == 0 || buffered_frames() < cfg_.target_frames) {
            counters_.depth_frames.store(frame_samples_ == 0 ? 0 : buffered_frames(),
                                         std::memory_order_relaxed);
            return silence(pcm);
        }
        playing_ = true;
        play_frame_ = highest_frame_ - cfg_.target_frames + 1;
        starve_samples_ = 0;
    }
    // Running far ahead (e.g. after a stall on our side): skip to the target depth.
    if (highest_frame_ - play_frame_ + 1 > cfg_.target_frames + cfg_.max_extra_frames) {
        const std::int64_t to = highest_frame_ - cfg_.target_frames + 1;
        bump(counters_.frames_skipped, static_cast<std::uint64_t>(to - play_frame_));
        play_frame_ = to;
    }

    const int fs = static_cast<int>(frame_samples_);
    slot& cur = slot_for(play_frame_);
    slot& next = slot_for(play_frame_ + 1);
    frame out;
    out.samples = frame_samples_;
    out.render_sample = play_frame_ * fs + r_phase_;
    int n = -1;
    if (cur.frame == play_frame_) {
        n = opus_decode_float(decoder_, cur.opus.data(), cur.size, pcm.data(),
                              static_cast<int>(k_max_frame_samples), 0);
        cur.frame = -1;
        if (n > 0) {
            out.kind = frame_kind::decoded;
            bump(counters_.frames_decoded);
        } else {
            bump(counters_.packets_bad);
        }
    } else if (next.frame == play_frame_ + 1) {
        n = opus_decode_float(decoder_, next.opus.data(), next.size, pcm.data(), fs, 1);
        if (n > 0) {
            out.kind = frame_kind::fec;
            bump(counters_.frames_fec);
        }
    }
    if (n <= 0) {
        n = opus_decode_float(decoder_, nullptr, 0, pcm.data(), fs, 0);
        if (n <= 0) {
            n = fs;
            std::fill_n(pcm.begin(), frame_samples_ * k_channels, 0.0f);
        }
        out.kind = frame_kind::plc;
        bump(counters_.frames_plc);
        starve_samples_ += n;
    } else {
        starve_samples_ = 0;
    }
    out.samples = std::min(static_cast<std::size_t>(n), k_max_frame_samples);
    ++play_frame_;
    if (starve_samples_ * 1'000'000'000LL / k_sample_rate > cfg_.starve_reset_ns) {
        // Long starvation: concealment has faded to silence anyway; wait for a full buffer.
        clear_slots();
        playing_ = false;
        starve_samples_ = 0;
    }
    counters_.depth_frames.store(std::max<std::int64_t>(0, highest_frame_ - play_frame_ + 1),
                                 std::memory_order_relaxed);
    return out;
}

} // namespace gno::client
