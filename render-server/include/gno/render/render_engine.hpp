#pragma once
// One frame of the render path (DESIGN.md §7): drain ingress and schedule each event at its
// render sample (§4, timing.hpp), release silent players, render every player's stem
// sample-accurately (voice_bank.hpp), sum the section buses (mixer.hpp) with the soloist's
// boost, build the mixes (shared: the audience mix plus the cue; own: each performer's mix with
// its own levels, player_timing.hpp, plus the cue), encode each distinct mix once, and hand
// packets to egress and the audience mix to the recorder. A player in the short articulation
// (key_state_flags) has each note's end queued with its note-on, 150 ms later (staccato), and
// journaled like any event. The cue is what only performers hear:
// the click and the conductor's talk-back (talkback.hpp), each made once per frame; an own mix
// scales the click by the performer's click level, never the talk-back.
//
// The stems and the own mixes are spread over a crew of threads (work_crew.hpp): members take
// voice banks, then mixes, from shared counters; the buses between the two are summed on the
// render thread in a fixed order, so every mix is the same whatever thread did the work. Each
// member has its own egress ring (single producer).
//
// Overload: the engine times each frame; when the smoothed load, or one frame near its
// deadline, passes a share of the frame period it steps Opus complexity down, then degrades the
// synthesiser (linear interpolation, shorter release tails, quiet tails ended sooner:
// voice_bank.hpp), and steps back up when there is room again. Every step and every late
// frame is counted.
//
// Thread: construct on a control thread; render_frame on the render thread only.
// Realtime-safe: render_frame (everything is sized in the constructor).

#include "gno/render/config.hpp"
#include "gno/render/counters.hpp"
#include "gno/render/event_queue.hpp"
#include "gno/render/frames.hpp"
#include "gno/render/key_reconciler.hpp"
#include "gno/render/listen_stream.hpp"
#include "gno/render/mixer.hpp"
#include "gno/render/opus_stage.hpp"
#include "gno/render/perf_log.hpp"
#include "gno/render/player_timing.hpp"
#include "gno/render/remote_stems.hpp"
#include "gno/render/server_timeline.hpp"
#include "gno/render/spsc_ring.hpp"
#include "gno/render/voice_bank.hpp"
#include "gno/render/work_crew.hpp"

#include <memory>
#include <vector>

namespace gno::render {

class render_engine {
public:
    /// `first_sample`: the render position of the first frame to be rendered.
    render_engine(const server_config& cfg, node_counters& counters, timing_state& timing,
                  spsc_ring<ingress_event>& ingress, spsc_ring<pcm_frame>* recorder,
                  std::int64_t first_sample = 0, spsc_ring<stem_onset>* onsets = nullptr);

    /// Renders the frame starting at render sample `r`. Returns true when encoded frames were
    /// handed to egress.
    bool render_frame(std::int64_t r) noexcept;

    /// The egress rings, one per crew member (consumer: the network thread). mix_id 0 is the
    /// shared mix, for every player; mix_id slot + 1 is that player's own mix.
    [[nodiscard]] std::span<spsc_ring<encoded_frame>* const> egress() const noexcept {
        return egress_ptrs_;
    }

    /// The conductor's talk-back (talkback.hpp), whose consumer this engine becomes; nullptr:
    /// none. Thread: control thread, before rendering starts.
    void set_talkback(spsc_ring<talkback_block>* ring) noexcept { talkback_ = ring; }
    /// Where the voice banks hand back the performers' instruments they let go of (consumer:
    /// the instrument library, which frees them). Thread: before the render thread starts.
    void set_instrument_retirement(spsc_ring<user_instrument*>* ring) noexcept {
        for (auto& b : banks_)
            b->set_retirement(ring);
    }
    /// The live /listen stream's ring, fed with the audience mix while `stream` wants it.
    /// Thread: before the render thread starts.
    void set_listen(spsc_ring<pcm_frame>* ring, const listen_stream* stream) noexcept {
        listen_ring_ = ring;
        listen_ = stream;
    }

    /// Stems across nodes (cfg.mesh, stem_exchange.hpp): this node's section buses go out on
    /// `outbound` every frame (its producer), other nodes' slices come in on `inbound` (its
    /// consumer), and every mix is built `cfg.mesh.delay_frames` behind the render from both,
    /// stamped with the render sample it holds. Thread: before the render thread starts.
    void set_mesh(spsc_ring<stem_block>* outbound, spsc_ring<stem_slice>* inbound) noexcept {
        mesh_out_ = outbound;
        mesh_in_ = inbound;
    }

    /// The performance log's journal (perf_log.hpp), whose producer this engine becomes;
    /// nullptr: none. Thread: before the render thread starts.
    void set_perf_log(spsc_ring<log_record>* ring) noexcept { log_ = ring; }

    /// Offline re-render (perf_log.hpp): applies one frame's journal `records`, in their order,
    /// where render_frame would drain ingress, time players out and choose the soloist; then
    /// renders the frame as render_frame does, without encoding or adapting to load. The
    /// audience mix is then last_mix(). Thread: the one that calls it, for every frame.
    void replay_frame(std::int64_t r, std::span<const log_record> records) noexcept;

    /// CLOCK_MONOTONIC ns of render sample 0, for the latency measurement (control thread,
    /// before rendering starts). Without it, latency is measured on a virtual timeline.
    void set_epoch_ns(std::int64_t epoch_ns) noexcept { epoch_ns_ = epoch_ns; }
    /// The node's timeline (server_timeline.hpp), read for the latency measurement instead of
    /// CLOCK_MONOTONIC - epoch: a sound card's clock drifts from the monotonic one. nullptr:
    /// the epoch. Thread: control thread, before rendering starts.
    void set_timeline(const server_timeline* timeline) noexcept { timeline_ = timeline; }

    /// The audience mix of the last frame, interleaved (for tests and the venue output): never
    /// the click, never the talk-back.
    [[nodiscard]] std::span<const float> last_mix() const noexcept { return audience_; }
    /// The section buses of the last frame's mix (gain * stem summed per section, before the
    /// master gain and the limiter; with a mesh, every node's, as mixed), for the venue's stem
    /// outputs. Render thread.
    [[nodiscard]] const section_buses& last_buses() const noexcept { return *mixed_; }
    /// The render sample the last frame's mixes hold: the frame rendered, or with a mesh the
    /// one `cfg.mesh.delay_frames` before it. Render thread.
    [[nodiscard]] std::int64_t last_mix_sample() const noexcept { return mix_r_; }
    /// The shared performers' mix of the last frame (audience mix + click + talk-back),
    /// interleaved. Shared mode only (own mixes go straight to their encoders).
    [[nodiscard]] std::span<const float> last_performer_mix() const noexcept {
        return click_on_ || talk_on_ ? std::span<const float>(performers_)
                                     : std::span<const float>(audience_);
    }
    /// The last frame's stem of a player slot, left channel (for tests and measurement).
    [[nodiscard]] std::span<const float> last_stem(int slot) const noexcept {
        return {stem_ptrs_[static_cast<std::size_t>(2 * slot)],
                static_cast<std::size_t>(cfg_.frame_samples)};
    }
    [[nodiscard]] int crew_size() const noexcept { return crew_.size(); }
    [[nodiscard]] int opus_complexity() const noexcept { return complexity_; }

private:
    struct player {
        bool active = false;
        std::int64_t last_heard = 0; // render position of the last key state
        bool timed_out = false;
        bool solo_requested = false;
        int section = 0;
        key_reconciler keys;
        event_queue queue;
        std::array<std::int64_t, 128> on_at{};      // scheduled time of each key's note-on
        std::array<std::int64_t, 128> on_arrival{}; // when that note-on arrived
        bool short_notes = false;                   // k_short_articulation in its latest key state
        // Render sample of each key's latest note-on handed to the synthesiser (render_bank),
        // so that a short note's own note-off ends its strike and never a later one.
        std::array<std::int64_t, 128> struck_at{};
        int quiet_samples = 0; // consecutive samples of the stem below the onset threshold
    };

    /// What one crew member gathers while rendering banks; read after the barrier.
    struct member_scratch {
        std::vector<bank_event> events;        // one bank's due events this frame
        std::vector<std::int64_t> onset_start; // per note-on: max(arrival, frame start), ns
        std::size_t onsets = 0;
        std::vector<float> mix; // one interleaved own mix
        bool sent = false;
    };

    void join_slot(int slot, std::int64_t r) noexcept;
    void drain_ingress(std::int64_t r) noexcept;
    void schedule(int slot, std::span<const note_event> events, std::int64_t r,
                  std::int64_t arrival_ns) noexcept;
    void release_silent(std::int64_t r) noexcept;
    void update_solo(std::int64_t r) noexcept;
    void render_bank(std::size_t b, std::int64_t r, std::int64_t frame_start_ns,
                     member_scratch& m) noexcept;
    void sum_buses(std::int64_t r) noexcept;
    /// With a mesh: sends this frame's buses, keeps them and the stems for the delayed mix, and
    /// builds mesh_buses_ from this node's and the other nodes' buses of the delayed frame.
    void exchange_stems(std::int64_t r) noexcept;
    /// The stem of `slot` as it went into the buses being mixed; nullptr: not active then.
    [[nodiscard]] const float* mixed_stem(int slot, int channel) const noexcept;
    /// A player's stem as this frame added it to its section's bus (the soloist's with its
    /// gain); render thread, after sum_buses.
    [[nodiscard]] const float* summed_stem(std::size_t slot, int channel) const noexcept;
    void render_click(std::int64_t r) noexcept;
    void mix_talkback(std::int64_t r) noexcept;
    void find_onsets(std::int64_t r) noexcept;
    /// Onsets in the peers' section buses where they enter the mixes (measurement of
    /// alignment across nodes): slot -1 - section, at the render sample they are mixed for.
    void find_remote_onsets() noexcept;
    bool encode_shared(std::int64_t r) noexcept;
    void encode_own(int slot, std::int64_t r, int member) noexcept;
    /// Encodes `mix` and hands the packet to `ring` as mix `mix_id`; false when nothing went.
    bool publish(spsc_ring<encoded_frame>& ring, opus_stage& encoder, std::span<const float> mix,
                 std::uint32_t mix_id, std::int64_t r) noexcept;
    void adapt_to_load(std::int64_t took_ns) noexcept;
    /// Stems, buses, recorder and /listen, cue, mixes and encodes, counters: all of a frame after
    /// its events are queued. Returns true when encoded frames were handed to egress.
    bool render_from_stems(std::int64_t r, std::int64_t started) noexcept;
    // The performance log's journal (render thread; no-ops without a log).
    void journal(log_record rec) noexcept;
    void journal_frame(std::int64_t r) noexcept; // first frame, skipped frames, overload level
    void journal_solo() noexcept;
    [[nodiscard]] std::int64_t now_ns() const noexcept;

    server_config cfg_;
    timing_config timing_now_; // this frame's snapshot of timing_state::config
    node_counters& counters_;
    timing_state& timing_;
    spsc_ring<ingress_event>& ingress_;
    spsc_ring<pcm_frame>* recorder_;
    spsc_ring<stem_onset>* onsets_;
    spsc_ring<talkback_block>* talkback_ = nullptr;
    spsc_ring<pcm_frame>* listen_ring_ = nullptr;
    const listen_stream* listen_ = nullptr;
    std::int64_t epoch_ns_ = 0;
    const server_timeline* timeline_ = nullptr;
    std::int64_t period_ns_ = 0;
    std::int64_t short_note_samples_ = 0; // how long the short articulation's notes sound

    work_crew crew_;
    std::vector<std::unique_ptr<spsc_ring<encoded_frame>>> egress_rings_;
    std::vector<spsc_ring<encoded_frame>*> egress_ptrs_;
    std::vector<member_scratch> scratch_; // per crew member
    std::vector<std::unique_ptr<voice_bank>> banks_;
    std::vector<int> bank_voices_; // per bank, written by whoever rendered it
    std::vector<player> players_;
    std::vector<int> active_;         // slots active this frame, in slot order
    std::vector<float> stem_storage_; // 2 * max_players planar buffers
    std::vector<float*> stem_ptrs_;
    section_buses buses_;
    const section_buses* mixed_ = &buses_; // the buses this frame's mixes are built from
    std::int64_t mix_r_ = 0;               // the render sample they hold
    // Stems across nodes (set_mesh).
    spsc_ring<stem_block>* mesh_out_ = nullptr;
    spsc_ring<stem_slice>* mesh_in_ = nullptr;
    std::int64_t mesh_delay_ = 0;              // samples
    std::vector<section_buses> bus_history_;   // this node's buses of the last delay + 1 frames
    std::vector<std::int64_t> bus_history_r_;  // the render sample each holds; -1: none
    std::vector<float> stem_history_;          // likewise every slot's stem (planar)
    std::vector<std::int64_t> stem_history_r_; // per frame and slot
    std::size_t history_at_ = 0;               // the entry this frame writes
    std::unique_ptr<remote_stems> remote_;
    section_buses mesh_buses_{0};   // this node's and the peers' buses of the mixed frame
    section_buses remote_buses_{0}; // the peers' alone
    std::array<int, k_sections> remote_quiet_{}; // find_remote_onsets, per section
    std::vector<float> bus_left_;
    std::vector<float> bus_right_;
    std::vector<float> audience_;   // interleaved
    std::vector<float> performers_; // interleaved: audience + click + talk-back
    // The cue, mono, what only performers hear: this frame's click and talk-back, apart so that
    // an own mix can set its click level alone.
    std::vector<float> click_;
    std::vector<float> talk_;
    // The soloist's stem as it entered its bus (its gain switching on the cycle's sample),
    // planar left then right: what its own mix takes back out.
    std::vector<float> solo_stem_;
    bool click_on_ = false; // click_ holds this frame's click
    bool talk_on_ = false;  // talk_ holds talk-back this frame
    // Talk-back playback (render thread): how much of the ring's front block has played, how
    // far behind its times the current talk-back plays after a stall, and where it goes on.
    int talk_taken_ = 0;
    std::int64_t talk_behind_ = 0;
    std::int64_t talk_next_ = -1; // the start a block has when it follows the last one played
    // Encoders: one for the shared mix, or one per player slot for own mixes.
    std::vector<std::unique_ptr<opus_stage>> encoders_;
    std::array<note_event, k_max_reconcile_events> events_{};

    // Overload state (render thread).
    int complexity_ = 0;
    int synth_degrade_ = 0;
    int calm_frames_ = 0;
    double load_avg_ = 0.0; // smoothed share of the frame period a frame takes
    int hold_frames_ = 0;

    // Solo (one-cycle mode): a FIFO of requesting slots, granted a whole cycle each.
    std::vector<int> solo_queue_;
    std::size_t solo_head_ = 0;
    std::size_t solo_size_ = 0;
    int soloist_ = -1;
    std::int64_t solo_start_ = -1;
    std::int64_t solo_end_ = -1;

    // Performance log (perf_log.hpp): what was last journaled, to journal only changes.
    spsc_ring<log_record>* log_ = nullptr;
    std::int64_t frame_r_ = 0; // the frame being rendered
    std::uint64_t log_seq_ = 0;
    std::uint64_t log_lost_ = 0;
    std::int64_t log_last_frame_ = -1;
    int log_degrade_ = 0;
    int log_soloist_ = -1;
    std::int64_t log_solo_start_ = -1;
    std::int64_t log_solo_end_ = -1;
    float log_solo_gain_ = 0.0f;
    std::vector<std::uint8_t> log_muted_; // per slot
    bool replaying_ = false;
    float replay_solo_gain_ = 1.0f;
};

} // namespace gno::render
