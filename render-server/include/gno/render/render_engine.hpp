#pragma once
// One frame of the render path (DESIGN.md §7): drain ingress and schedule each event at its
// render sample (§4, timing.hpp), release silent players, render every player's stem
// sample-accurately (voice_bank.hpp), sum the orchestra bus with the soloist's boost, build
// the mixes (audience: the bus; performers: the bus plus the click when on), encode each
// distinct mix once, hand packets to egress and the audience mix to the recorder.
//
// Thread: construct on a control thread; render_frame on the render thread only.
// Realtime-safe: render_frame (everything is sized in the constructor).

#include "gno/render/config.hpp"
#include "gno/render/counters.hpp"
#include "gno/render/event_queue.hpp"
#include "gno/render/frames.hpp"
#include "gno/render/key_reconciler.hpp"
#include "gno/render/mix_bus.hpp"
#include "gno/render/opus_stage.hpp"
#include "gno/render/player_timing.hpp"
#include "gno/render/spsc_ring.hpp"
#include "gno/render/voice_bank.hpp"

#include <memory>
#include <vector>

namespace gno::render {

class render_engine {
public:
    /// `first_sample`: the render position of the first frame to be rendered.
    render_engine(const server_config& cfg, node_counters& counters, timing_state& timing,
                  spsc_ring<ingress_event>& ingress, spsc_ring<encoded_frame>& egress,
                  spsc_ring<pcm_frame>* recorder, std::int64_t first_sample = 0,
                  spsc_ring<stem_onset>* onsets = nullptr);

    /// Renders the frame starting at render sample `r`. Returns true when encoded frames were
    /// handed to egress.
    bool render_frame(std::int64_t r) noexcept;

    /// The audience mix of the last frame, interleaved (for tests and the venue output).
    [[nodiscard]] std::span<const float> last_mix() const noexcept { return audience_; }
    /// The performers' mix of the last frame (audience mix + click), interleaved.
    [[nodiscard]] std::span<const float> last_performer_mix() const noexcept {
        return click_on_ ? std::span<const float>(performers_) : std::span<const float>(audience_);
    }
    /// The last frame's stem of a player slot, left channel (for tests and measurement).
    [[nodiscard]] std::span<const float> last_stem(int slot) const noexcept {
        return {stem_ptrs_[static_cast<std::size_t>(2 * slot)],
                static_cast<std::size_t>(cfg_.frame_samples)};
    }

private:
    struct player {
        bool active = false;
        std::int64_t last_heard = 0; // render position of the last key state
        bool timed_out = false;
        bool solo_requested = false;
        key_reconciler keys;
        event_queue queue;
        std::array<std::int64_t, 128> on_at{};      // scheduled time of each key's note-on
        std::array<std::int64_t, 128> on_arrival{}; // when that note-on arrived
        int quiet_samples = 0; // consecutive samples of the stem below the onset threshold
    };

    void drain_ingress(std::int64_t r) noexcept;
    void schedule(int slot, std::span<const note_event> events, std::int64_t r) noexcept;
    void release_silent(std::int64_t r) noexcept;
    void update_solo(std::int64_t r) noexcept;
    void render_click(std::int64_t r) noexcept;
    void find_onsets(std::int64_t r) noexcept;

    server_config cfg_;
    node_counters& counters_;
    timing_state& timing_;
    spsc_ring<ingress_event>& ingress_;
    spsc_ring<encoded_frame>& egress_;
    spsc_ring<pcm_frame>* recorder_;
    spsc_ring<stem_onset>* onsets_;

    std::vector<std::unique_ptr<voice_bank>> banks_;
    std::vector<player> players_;
    std::vector<float> stem_storage_; // 2 * max_players planar buffers
    std::vector<float*> stem_ptrs_;
    std::vector<bank_event> bank_events_; // one bank's due events this frame
    mix_bus orchestra_;
    std::vector<float> audience_;   // interleaved
    std::vector<float> performers_; // interleaved: audience + click
    std::vector<float> click_;      // mono click of this frame
    bool click_on_ = false;
    opus_stage performer_encoder_;
    std::array<note_event, k_max_reconcile_events> events_{};

    // Solo (one-cycle mode): a FIFO of requesting slots, granted a whole cycle each.
    std::vector<int> solo_queue_;
    std::size_t solo_head_ = 0;
    std::size_t solo_size_ = 0;
    int soloist_ = -1;
    std::int64_t solo_start_ = -1;
    std::int64_t solo_end_ = -1;
};

} // namespace gno::render
