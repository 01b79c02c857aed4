#pragma once
// The players' instruments (DESIGN.md §5), rendered sample-accurately.
//
// One FluidSynth synthesiser renders up to `players` players. FluidSynth starts voices only
// on its internal 64-sample grid, which would put up to 63 samples (1.3 ms) of error on every
// onset. So each player owns `lanes` MIDI channels, each routed to its own audio group and
// followed by a delay line of 0..63 samples: a note due at sample t is started on the grid
// point g = t + 64 - o on a lane whose delay is o, and so leaves the lane exactly at
// t + 64. The whole bank therefore runs a constant 64 samples (1.33 ms) behind: the frame
// rendered for render position r holds what the synthesiser produced at r + 64. A lane's delay
// changes only while the lane is silent; notes struck together share a lane.
//
// Samples come from FluidSynth's sample cache: every bank that loads the same SF2 file shares
// one copy of its samples.
//
// Thread: construct and destroy on a control thread; everything else on the render thread
// that owns the bank. Realtime-safe: all but construction (FluidSynth's thread-safe API lock
// is off; voices, lanes and buffers are sized at construction).

#include "gno/render/key_reconciler.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

struct _fluid_synth_t;
struct _fluid_hashtable_t;

namespace gno::render {

struct voice_bank_config {
    std::string soundfont; // SF2 path
    int players = 16;      // players in this bank; players * lanes <= 256
    int lanes = 4;         // channels per player: distinct onset phases sounding at once
    int polyphony = 256;   // voices for the whole bank; FluidSynth steals the oldest beyond
    double sample_rate = 48000;
};

/// An event for one of the bank's players, due at render sample `at`.
struct bank_event {
    std::int64_t at = 0;
    int player = 0;
    note_event ev;
};

class voice_bank {
public:
    static constexpr int k_grid = 64;    // FluidSynth's block: voices start on it
    static constexpr int k_latency = 64; // the bank's constant delay, in samples

    /// Loads the soundfont; throws std::runtime_error with an actionable message on failure.
    /// `first_sample` is the render position of the first frame this bank will render.
    voice_bank(const voice_bank_config& cfg, std::int64_t first_sample);
    ~voice_bank();
    voice_bank(const voice_bank&) = delete;
    voice_bank& operator=(const voice_bank&) = delete;

    /// The synthesiser grid point at which an event due at `at` must be issued; events are due
    /// in a frame [r, r + frames) when issue_point < r + frames + k_latency.
    [[nodiscard]] std::int64_t issue_point(const bank_event& e) const noexcept;

    /// Renders the frame at render position `r`: applies `events` (sorted by issue point;
    /// those whose issue point has passed play at the frame start and are imprecise), then
    /// writes every player's stereo stem into `stems` (2 * players() planar buffers, left and
    /// right per player, each >= frames long, overwritten). Returns how many events could not
    /// be placed on their exact sample (late, or no lane free with their phase).
    int render(std::int64_t r, int frames, std::span<const bank_event> events,
               std::span<float* const> stems) noexcept;

    /// Overload: 0 = full quality; 1 = linear interpolation; 2, 3 = release tails 4x, 16x
    /// shorter, so that released voices, the oldest, end first (sounding voices too).
    void set_synth_degrade(int level) noexcept;

    /// Silences a player at once (slot reused by a new player).
    void reset_player(int player) noexcept;

    [[nodiscard]] int players() const noexcept { return players_; }
    [[nodiscard]] int active_voices() const noexcept;

private:
    struct lane {
        int delay = 0;                         // samples, 0..63
        int keys_down = 0;                     // notes started on this lane and not yet released
        bool silent = true;                    // the synthesiser produced nothing for it last frame
        std::array<float, k_grid> history_l{}; // last k_grid synthesiser samples
        std::array<float, k_grid> history_r{};
    };

    void apply(const bank_event& e, int& imprecise) noexcept;
    int channel(int player, int l) const noexcept { return player * lanes_ + l; }
    [[nodiscard]] int phase(std::int64_t synth_sample) const noexcept;
    void synthesize(int offset, int frames) noexcept;

    _fluid_hashtable_t* settings_ = nullptr;
    _fluid_synth_t* synth_ = nullptr;
    int sfont_id_ = -1;
    int players_ = 0;
    int lanes_ = 0;
    std::int64_t grid_origin_ = 0; // synthesiser sample where FluidSynth's first block starts
    std::int64_t synth_pos_ = 0;   // synthesiser time of the next sample FluidSynth renders
    std::vector<lane> lane_state_; // players * lanes
    std::vector<std::array<std::int8_t, 128>> key_lane_; // per player: lane of each key, -1
    std::vector<float> synth_out_;                       // 2 * channels planar frame buffers
    std::vector<float*> synth_ptrs_;                     // full-frame pointers
    std::vector<float*> segment_ptrs_;                   // pointers advanced to a segment
    int frame_capacity_ = 0;
    int frames_written_ = 0; // samples of synth_out_ per buffer the last frame wrote
    int synth_degrade_ = 0;
};

} // namespace gno::render
