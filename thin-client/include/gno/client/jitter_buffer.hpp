#pragma once
// Jitter buffer and Opus decoder for the server's audio frames (DESIGN.md §3, §7).
//
// The network thread pushes whole audio datagrams into a pre-allocated SPSC ring (`push`).
// The audio side (JACK process callback or WAV writer thread) calls `next_frame`, which drains
// the ring into a fixed array of slots indexed by frame number (render_sample / frame_samples)
// and decodes exactly one frame:
//   - the expected frame is present         -> opus_decode
//   - missing, the next one is present      -> opus_decode with decode_fec = 1 on the next packet
//   - neither                               -> packet loss concealment (opus_decode with NULL)
// Playing starts once `target_frames` frames are buffered; a buffer running more than
// target + 8 frames ahead skips forward; starving longer than 200 ms re-prefills.
// Everything is sized in the constructor; after that nothing allocates, locks or blocks.

#include "gno/client/spsc_ring.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <gno/proto/v1/datagram.hpp>
#include <span>

struct OpusDecoder;

namespace gno::client {

inline constexpr int k_sample_rate = 48'000;
inline constexpr int k_channels = 2;
inline constexpr std::size_t k_max_frame_samples = 960; // 20 ms at 48 kHz

/// Counters written by the audio side (and `packets_bad`/`packets_overflow` by the network
/// side), read by anyone with relaxed loads.
struct jitter_counters {
    std::atomic<std::uint64_t> packets_received{0};  // valid audio datagrams taken from the ring
    std::atomic<std::uint64_t> packets_late{0};      // older than the play position
    std::atomic<std::uint64_t> packets_duplicate{0}; // same frame already buffered
    std::atomic<std::uint64_t> packets_bad{0};       // undecodable datagram or Opus packet
    std::atomic<std::uint64_t> packets_overflow{0};  // ring full: the audio side is not running
    std::atomic<std::uint64_t> frames_decoded{0};
    std::atomic<std::uint64_t> frames_fec{0};
    std::atomic<std::uint64_t> frames_plc{0};
    std::atomic<std::uint64_t> frames_silent{0};   // before the first packet / while re-prefilling
    std::atomic<std::uint64_t> frames_skipped{0};  // dropped to catch up when running far ahead
    std::atomic<std::uint64_t> frames_expected{0}; // span of frame numbers seen (loss estimate)
    std::atomic<std::int64_t> depth_frames{0};     // frames buffered ahead of the play position
    static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
};

class jitter_buffer {
public:
    static constexpr std::size_t k_ring_packets = 256;
    static constexpr std::size_t k_slots = 64;

    struct config {
        int target_frames = 3;                      // depth before playing starts
        int max_extra_frames = 8;                   // skip forward beyond target + this
        std::int64_t starve_reset_ns = 200'000'000; // re-prefill after this long without data
    };

    enum class frame_kind : std::uint8_t { decoded, fec, plc, silent };
    struct frame {
        std::size_t samples = 0;         // per channel, written to the pcm span
        std::int64_t render_sample = -1; // R of the first sample; -1 for silence
        frame_kind kind = frame_kind::silent;
    };

    /// Start-up: creates the Opus decoder (48 kHz stereo). Throws std::runtime_error on failure.
    explicit jitter_buffer(config cfg);
    ~jitter_buffer();
    jitter_buffer(const jitter_buffer&) = delete;
    jitter_buffer& operator=(const jitter_buffer&) = delete;

    /// Network thread: queues one received audio datagram (≤ 1200 bytes). False (and counted
    /// as overflow or bad) if the ring is full or the datagram too long.
    bool push(std::span<const std::byte> datagram) noexcept;
    /// Network thread: counts a datagram it dropped itself (wrong type, failed header).
    void count_bad() noexcept { counters_.packets_bad.fetch_add(1, std::memory_order_relaxed); }

    /// Audio thread, RT-safe: decodes the next frame into `pcm` (interleaved stereo, at least
    /// 2 * k_max_frame_samples floats).
    frame next_frame(std::span<float> pcm) noexcept;

    /// Any thread.
    [[nodiscard]] const jitter_counters& counters() const noexcept { return counters_; }
    [[nodiscard]] int target_frames() const noexcept { return cfg_.target_frames; }

private:
    struct packet {
        std::uint16_t size = 0;
        std::array<std::byte, proto::v1::k_max_datagram> bytes{};
    };
    struct slot {
        std::int64_t frame = -1; // frame number held, -1 = empty
        std::int64_t render_sample = 0;
        std::uint16_t size = 0;
        std::array<unsigned char, proto::v1::k_max_opus_bytes> opus{};
    };

    void drain() noexcept;
    void accept(std::span<const std::byte> datagram) noexcept;
    void clear_slots() noexcept;
    void restart() noexcept;
    [[nodiscard]] int buffered_frames() const noexcept;
    slot& slot_for(std::int64_t frame_no) noexcept {
        return slots_[static_cast<std::size_t>(frame_no) % k_slots];
    }
    frame silence(std::span<float> pcm) noexcept;

    config cfg_;
    OpusDecoder* decoder_ = nullptr;
    spsc_ring<packet, k_ring_packets> ring_;
    std::array<slot, k_slots> slots_{};
    jitter_counters counters_;

    // Audio-thread state.
    std::size_t frame_samples_ = 0; // 0 until the first packet
    std::int64_t r_phase_ = 0;      // render_sample % frame_samples of the stream
    bool playing_ = false;
    std::int64_t play_frame_ = 0;
    std::int64_t highest_frame_ = -1;
    std::int64_t epoch_first_frame_ = -1;
    std::uint64_t expected_before_epoch_ = 0;
    std::int64_t starve_samples_ = 0;
};

} // namespace gno::client
