#pragma once
// One frame of the render path (DESIGN.md §7): drain ingress, schedule (live mode: apply on
// arrival), render stems, sum the orchestra bus, build the mixes, encode, hand packets to
// egress and the audience mix to the recorder. Each stage reads and writes the frame's own
// buffers, so each can be tested alone.
//
// Thread: construct on a control thread; render_frame on the render thread only.
// Realtime-safe: render_frame (everything is sized in the constructor).

#include "gno/render/config.hpp"
#include "gno/render/counters.hpp"
#include "gno/render/frames.hpp"
#include "gno/render/key_reconciler.hpp"
#include "gno/render/mix_bus.hpp"
#include "gno/render/opus_stage.hpp"
#include "gno/render/spsc_ring.hpp"
#include "gno/render/voice_bank.hpp"

#include <memory>
#include <vector>

namespace gno::render {

class render_engine {
public:
    render_engine(const server_config& cfg, node_counters& counters,
                  spsc_ring<ingress_event>& ingress, spsc_ring<encoded_frame>& egress,
                  spsc_ring<pcm_frame>* recorder);

    /// Renders the frame starting at render sample `r`; `now_ns` is the server timeline.
    /// Returns true when an encoded frame was handed to egress.
    bool render_frame(std::int64_t r, std::int64_t now_ns) noexcept;

    /// The audience mix of the last frame, interleaved (for tests and the venue output).
    [[nodiscard]] std::span<const float> last_mix() const noexcept { return mix_; }

private:
    struct player {
        bool active = false;
        std::int64_t last_heard_ns = 0;
        bool timed_out = false;
        key_reconciler keys;
    };

    void drain_ingress(std::int64_t now_ns) noexcept;
    void apply(int slot, std::span<const note_event> events) noexcept;
    void release_silent(std::int64_t now_ns) noexcept;

    server_config cfg_;
    node_counters& counters_;
    spsc_ring<ingress_event>& ingress_;
    spsc_ring<encoded_frame>& egress_;
    spsc_ring<pcm_frame>* recorder_;

    std::vector<std::unique_ptr<voice_bank>> banks_;
    std::vector<player> players_;
    std::vector<float> stem_storage_; // 2 * max_players planar buffers
    std::vector<float*> stem_ptrs_;   // per bank: its players' stem pointers
    mix_bus orchestra_;
    std::vector<float> mix_; // interleaved audience/performer mix
    opus_stage encoder_;
    std::array<note_event, k_max_reconcile_events> events_{};
};

} // namespace gno::render
