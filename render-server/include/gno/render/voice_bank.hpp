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
// Voices: a lane that only rings out released notes (a tail) is ended once it has faded below
// the tail floor (-60 dBFS; higher under overload), and a note that finds no lane free at its
// phase takes the quietest tail's lane if that tail is faint (-40 dBFS), ending it where the
// new note starts. Otherwise (every lane holds keys, or rings loudly) the note goes to the
// lane of the nearest phase: up to 32 samples off (counted as imprecise), nothing cut.
//
// Samples come from FluidSynth's sample cache: every bank that loads the same SF2 file shares
// one copy of its samples.
//
// A player may have an instrument of its own (user_instrument.hpp), loaded elsewhere: the bank
// holds one SoundFont of its own making whose preset at bank k_user_bank + player is that
// player's instrument, so installing one is a pointer and a program select per lane - nothing
// loaded, nothing allocated on the render thread. What a bank lets go of goes back through a
// ring to be freed off the render thread, once its voices are gone.
//
// Thread: construct and destroy on a control thread; everything else on the render thread
// that owns the bank. Realtime-safe: all but construction (FluidSynth's thread-safe API lock
// is off; voices, lanes and buffers are sized at construction).

#include "gno/render/key_reconciler.hpp"
#include "gno/render/spsc_ring.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

struct _fluid_synth_t;
struct _fluid_hashtable_t;
struct _fluid_sfont_t;
struct _fluid_preset_t;

namespace gno::render {

class user_instrument;

/// The soundfont is missing or cannot be loaded: a configuration error (gno-server exits 2).
class soundfont_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// FluidSynth's last error message on this thread (its error log is kept off the console and
/// recorded here, allocation-free), and clearing it before a call whose failure to explain.
[[nodiscard]] std::string last_fluid_error();
void clear_fluid_error() noexcept;

struct voice_bank_config {
    std::string soundfont; // SF2 path
    int players = 16;      // players in this bank; players * lanes <= k_max_lanes (128)
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
    // Lanes (audio groups) in one synthesiser, every player's together: FluidSynth's limit.
    static constexpr int k_max_lanes = 128;
    // Banks of the players' own instruments: above any MIDI bank a key state selects from GM.
    static constexpr int k_user_bank = 16000;

    /// Loads the soundfont; throws soundfont_error with an actionable message on failure.
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
    /// shorter, so that released voices, the oldest, end first (sounding voices too), and
    /// ended below a tail floor 12 and 24 dB higher.
    void set_synth_degrade(int level) noexcept;

    /// Silences a player at once (slot reused by a new player), back to GM program 0.
    void reset_player(int player) noexcept;

    /// Render thread, realtime-safe: `inst` becomes what the player plays (its program changes
    /// are remembered, not followed, while it has one); nullptr: back to the GM program it last
    /// chose. An instrument it had is silenced and handed to the retirement ring. The bank
    /// owns `inst` until then.
    void install(int player, user_instrument* inst) noexcept;
    /// Where let-go instruments go (consumer: whoever frees them, off the render thread);
    /// nullptr: they are leaked rather than freed here. Thread: before rendering starts.
    void set_retirement(spsc_ring<user_instrument*>* ring) noexcept { retired_ = ring; }
    [[nodiscard]] bool has_own_instrument(int player) const noexcept {
        return own_[static_cast<std::size_t>(player)] != nullptr;
    }
    /// Instruments the retirement ring had no room for (leaked, never freed on this thread).
    [[nodiscard]] std::uint64_t lost_retirements() const noexcept { return lost_retirements_; }

    [[nodiscard]] int players() const noexcept { return players_; }
    [[nodiscard]] int active_voices() const noexcept;
    /// Tails ended so far: faded below the floor, or their lane taken by a new note.
    [[nodiscard]] std::uint64_t tails_ended() const noexcept { return tails_ended_; }

private:
    struct lane {
        int delay = 0;                         // samples, 0..63
        int keys_down = 0;                     // notes started on this lane and not yet released
        bool silent = true;                    // the synthesiser produced nothing for it last frame
        float peak = 0.0f;                     // its loudest sample last frame
        std::array<float, k_grid> history_l{}; // last k_grid synthesiser samples
        std::array<float, k_grid> history_r{};
    };

    void apply(const bank_event& e, int& imprecise) noexcept;
    [[nodiscard]] int lane_for(int player, int phase, int& imprecise) noexcept;
    void end_tail(int channel) noexcept;
    void select_gm(int player) noexcept;
    void retire(int player) noexcept;
    static _fluid_preset_t* own_preset(_fluid_sfont_t* sfont, int bank, int program);
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
    float tail_floor_ = 0.0f;  // a released lane quieter than this is ended
    float steal_floor_ = 0.0f; // a released lane quieter than this yields to a new note
    std::uint64_t tails_ended_ = 0;
    // Players' own instruments (render thread after construction).
    _fluid_sfont_t* own_sfont_ = nullptr; // the bank's SoundFont of players' presets
    int own_sfont_id_ = -1;
    std::vector<user_instrument*> own_;          // per player, nullptr: GM
    std::vector<std::array<int, 2>> gm_program_; // per player: the bank, program it chose
    spsc_ring<user_instrument*>* retired_ = nullptr;
    std::uint64_t lost_retirements_ = 0;
};

} // namespace gno::render
