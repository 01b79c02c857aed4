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
//
// Adaptive depth (config::adaptive, the default; in the spirit of NetEQ and Jamulus' auto jitter
// buffer, kept to whole frames). Time is counted in calls of `next_frame` ("ticks", one frame
// each). A packet for frame f taken from the ring at tick t has the delay d = t - f; the fastest
// packet of the last 2-3 s (sliding minimum, 1-s blocks) is the reference, and a packet's excess
// delay is x = d - min(d). With a depth of T frames, the fastest packets arrive T - 1 frames
// before they play, so a packet is on time exactly when x <= T - 1.
//   - Grow fast. A packet whose frame was already due -- older than the play position (it was
//     concealed), arriving while the buffer had run dry, or during the re-prefill after a
//     starvation -- with x > T - 1 sets T = x + 1 at once, capped at max_frames. So a delay
//     spike (packets held back, then delivered in a clump) raises the target by the spike's
//     excess and the same spike again plays clean. Packets that never arrive carry no delay
//     and never grow T: isolated losses stay with FEC/PLC. The old packets of a start-up
//     backlog were never due, so they do not count either.
//   - Shrink slowly. After 10 s of played audio in which every packet arrived at least one frame
//     early (x <= T - 2), T drops by one frame, never below target_frames.
//   - Follow the target. The level L = (tick - play position) - min(d) is the margin the fastest
//     packets get; the buffer keeps L = T - 1:
//       * below: when the buffer has run dry and the expected frame is missing, it holds (plays
//         a PLC frame without advancing: the late packet is then played, not dropped, and the
//         delay spike itself becomes the growth); with data still buffered it inserts one PLC
//         frame at most every 4th frame, so a grow is spread out rather than one long gap;
//       * above: it drops stream frames. Missing ones (a burst loss met by holds) are skipped for
//         free; otherwise it drops the next decoded frame that is quiet (RMS < -40 dBFS), or any
//         after 2 s of waiting. At most one decoded frame per call.
//   The sliding minimum also follows clock drift: a server running slow makes min(d) creep up
//   and the level is refilled by inserts, one running fast by drops, without touching T.
// Inserted and held frames are labelled with the render sample of the frame that plays next
// (the render timeline stands still while the depth grows); every stream frame keeps its own R,
// so adapting changes the latency, never the R-labelling.
// With adaptive = false the target stays at target_frames and the buffer never holds, inserts
// or drops to follow a target (the pre-adaptive behaviour).

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
    std::atomic<std::uint64_t> packets_duplicate{0}; // same frame already buffered or played
    std::atomic<std::uint64_t> packets_bad{0};       // undecodable datagram or Opus packet
    std::atomic<std::uint64_t> packets_overflow{0};  // ring full: the audio side is not running
    std::atomic<std::uint64_t> frames_decoded{0};
    std::atomic<std::uint64_t> frames_fec{0};
    std::atomic<std::uint64_t> frames_plc{0};      // every PLC frame played, inserted ones too
    std::atomic<std::uint64_t> frames_silent{0};   // before the first packet / while re-prefilling
    std::atomic<std::uint64_t> frames_skipped{0};  // dropped to catch up when running far ahead
    std::atomic<std::uint64_t> frames_expected{0}; // span of frame numbers seen (loss estimate)
    std::atomic<std::int64_t> depth_frames{0};     // frames buffered ahead of the play position
    // Adaptive depth (see the header comment).
    std::atomic<std::int64_t> target_frames{0};    // the current target depth
    std::atomic<std::uint64_t> target_grows{0};    // times a late packet raised the target
    std::atomic<std::uint64_t> target_shrinks{0};  // one-frame steps down after a clean run
    std::atomic<std::uint64_t> frames_inserted{0}; // PLC frames standing for no stream frame
    std::atomic<std::uint64_t> frames_removed{0};  // stream frames dropped to come down to target
    static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
    static_assert(std::atomic<std::int64_t>::is_always_lock_free);
};

class jitter_buffer {
public:
    static constexpr std::size_t k_ring_packets = 256;
    static constexpr std::size_t k_slots = 128;
    static constexpr int k_max_target_frames = static_cast<int>(k_slots) / 2;
    // Adaptation constants (see the header comment).
    static constexpr std::int64_t k_shrink_after_ns = 10'000'000'000; // clean run per step down
    static constexpr std::int64_t k_remove_wait_ns = 2'000'000'000;   // then drop even if loud
    static constexpr int k_insert_spacing = 4;                        // frames per inserted frame
    static constexpr float k_quiet_rms = 0.01f;                       // -40 dBFS
    static constexpr std::size_t k_delay_blocks = 3;                  // 1-s blocks of min(d)

    struct config {
        int target_frames = 3;                      // depth to start at; the adaptive floor
        int max_extra_frames = 8;                   // skip forward beyond target + this
        std::int64_t starve_reset_ns = 200'000'000; // re-prefill after this long without data
        int max_frames = 40;                        // adaptive ceiling (40 x 5 ms = 200 ms)
        bool adaptive = true;                       // false: the target never moves
    };

    enum class frame_kind : std::uint8_t {
        decoded,
        fec,
        plc,
        silent,
        inserted, // PLC standing for no stream frame: the depth grows by one
    };
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
    /// Any thread: the current target depth (moves in adaptive mode).
    [[nodiscard]] int target_frames() const noexcept {
        return static_cast<int>(counters_.target_frames.load(std::memory_order_relaxed));
    }
    /// Any thread: the configuration after clamping (target_frames is the floor).
    [[nodiscard]] const config& settings() const noexcept { return cfg_; }

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
    void observe_delay(std::int64_t frame_no, bool was_due) noexcept;
    void set_target(int frames) noexcept;
    void clear_slots() noexcept;
    void restart() noexcept;
    [[nodiscard]] int buffered_frames() const noexcept;
    [[nodiscard]] std::int64_t min_delay() const noexcept;
    slot& slot_for(std::int64_t frame_no) noexcept {
        return slots_[static_cast<std::size_t>(frame_no) % k_slots];
    }
    frame silence(std::span<float> pcm) noexcept;
    frame conceal(std::span<float> pcm, frame_kind kind) noexcept;
    frame play(std::span<float> pcm) noexcept;
    frame play_one(std::span<float> pcm) noexcept;
    frame finish(const frame& out) noexcept;
    void count(const frame& f) noexcept;
    static constexpr std::int64_t ns_to_samples(std::int64_t ns) noexcept {
        return ns * k_sample_rate / 1'000'000'000LL;
    }

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

    // Adaptive state (audio thread).
    int target_ = 0;
    std::int64_t tick_ = 0;                                // next_frame calls so far
    std::array<std::int64_t, k_delay_blocks> delay_min_{}; // min(tick - frame) per block
    std::size_t delay_block_ = 0;
    std::int64_t delay_block_start_ = 0;
    std::array<std::int64_t, k_slots> arrived_{}; // frame numbers recently received, by slot
    bool holding_ = false;           // the last frame played was a hold: the buffer ran dry
    bool starved_ = false;           // re-prefilling after starvation: the stream was due all along
    std::int64_t clean_samples_ = 0; // played since a packet came within a frame of late
    std::int64_t excess_samples_ = 0; // played while the level was above the target
    int since_insert_ = k_insert_spacing;
};

} // namespace gno::client
