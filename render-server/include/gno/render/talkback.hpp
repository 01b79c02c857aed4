#pragma once
// The producer side of the conductor's talk-back (DESIGN.md §6, issue 5): PCM arrives from the
// browser in chunks of any size on a control thread; the feed slices it into blocks of
// k_max_frame_samples (20 ms) with consecutive start samples and pushes them to the ring the
// render engine drains (render_engine::set_talkback). The engine adds each block to every
// performer mix from its start sample on, never to the audience mix.
//
// Timing: a talk-back starts at a render sample, either a chosen one or "at once", which is now
// plus a pre-roll (start_at_once) so that the browser's chunk jitter does not starve it. A
// block the engine sees after its start is played at once (counted late), so an "at once"
// stream keeps going after a network stall, that much behind. Blocks play in ring order: a
// talk-back scheduled in the future holds the ones begun after it until it has played.
//
// Bounds: a talk-back is at most k_max_seconds long (further samples are dropped and counted).
// The ring is the only buffer: a talk-back scheduled further ahead than the ring holds (the
// server sizes it for ~10 s) loses the blocks that do not fit, counted as overflows; a block is
// dropped, never waited for, and the blocks after it keep their times.
//
// Thread: one control thread for every call, or calls serialised by the control side (a strand,
// or a mutex the render thread never sees): the feed is the ring's single producer.
// Never blocks; allocates nothing after construction. Not the render thread: it is the ring's
// consumer.

#include "gno/render/counters.hpp"
#include "gno/render/frames.hpp"
#include "gno/render/spsc_ring.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace gno::render {

class talkback_feed {
public:
    /// Longest single talk-back, in seconds; the rest of a longer one is dropped.
    static constexpr int k_max_seconds = 60;
    /// The "at once" pre-roll: enough for a browser's chunk jitter, short enough to feel live.
    static constexpr int k_preroll_ms = 100;

    /// `frame_samples`: the render frame size, to which "at once" starts are rounded.
    talkback_feed(spsc_ring<talkback_block>& ring, node_counters& counters, int sample_rate,
                  int frame_samples) noexcept;

    talkback_feed(const talkback_feed&) = delete;
    talkback_feed& operator=(const talkback_feed&) = delete;

    /// The start of an "at once" talk-back given the current render sample (e.g.
    /// server::render_sample_now()): now + k_preroll_ms, rounded up to a frame boundary.
    [[nodiscard]] std::int64_t start_at_once(std::int64_t now_sample) const noexcept;

    /// Starts a talk-back whose first sample plays at render sample `start_sample`. A talk-back
    /// still open is ended first (its last block flushed).
    void begin(std::int64_t start_sample) noexcept;
    /// Appends mono PCM at the render rate (16-bit, or float in [-1, 1]; non-finite samples
    /// become silence, others are clamped). Returns the samples accepted: 0 outside a
    /// talk-back, fewer than given past k_max_seconds. A block the ring has no room for is
    /// dropped and counted, yet its samples count as accepted: the talk-back's timeline moves on.
    std::size_t push(std::span<const std::int16_t> pcm) noexcept;
    std::size_t push(std::span<const float> pcm) noexcept;
    /// Ends the talk-back: the partial last block is pushed (zero padded, with its own length).
    void end() noexcept;

    [[nodiscard]] bool active() const noexcept { return active_; }
    /// Render sample where the next pushed sample will play (the end of the talk-back so far).
    [[nodiscard]] std::int64_t next_sample() const noexcept {
        return block_.start_sample + filled_;
    }

private:
    template <typename Sample, typename Convert>
    std::size_t append(std::span<const Sample> pcm, Convert convert) noexcept;
    void flush() noexcept;

    spsc_ring<talkback_block>& ring_;
    node_counters& counters_;
    int frame_samples_;
    std::int64_t preroll_samples_;
    std::int64_t max_samples_;
    talkback_block block_{}; // the block being filled; start_sample is its first sample's time
    int filled_ = 0;
    std::int64_t taken_ = 0; // samples of this talk-back so far
    bool active_ = false;
};

} // namespace gno::render
