#pragma once
// The players' instruments (DESIGN.md §5): one FluidSynth synthesiser renders up to
// `players` players, each on its own MIDI channel routed to its own audio group, so one call
// renders every player's stem. Samples come from FluidSynth's sample cache: every bank that
// loads the same SF2 file shares one copy of its samples.
//
// Thread: construct and destroy on a control thread; everything else on the render thread
// that owns the bank. Realtime-safe: note/program/control/render (FluidSynth's thread-safe
// API lock is off; voices and buffers are sized at construction).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

struct _fluid_synth_t;
struct _fluid_hashtable_t;

namespace gno::render {

struct voice_bank_config {
    std::string soundfont; // SF2 path
    int players = 16;      // channels (and stems) in this bank, 1..128
    int polyphony = 256;   // voices for the whole bank; FluidSynth steals the oldest beyond
    double sample_rate = 48000;
};

class voice_bank {
public:
    /// Loads the soundfont; throws std::runtime_error with an actionable message on failure.
    explicit voice_bank(const voice_bank_config& cfg);
    ~voice_bank();
    voice_bank(const voice_bank&) = delete;
    voice_bank& operator=(const voice_bank&) = delete;

    void note_on(int player, int key, int velocity) noexcept;
    void note_off(int player, int key) noexcept;
    void control(int player, int controller, int value) noexcept;
    /// Selects bank/program; bank 128 makes the player's channel a percussion channel.
    void program(int player, int bank, int program) noexcept;
    /// Silences a player at once (slot reused by a new player).
    void reset_player(int player) noexcept;

    /// Renders `frames` samples of every player's stereo stem. `stems` holds 2 * players()
    /// planar buffers (left, right per player), each at least `frames` long; they are
    /// overwritten.
    void render(int frames, std::span<float* const> stems) noexcept;

    [[nodiscard]] int players() const noexcept { return players_; }
    [[nodiscard]] int active_voices() const noexcept;

private:
    _fluid_hashtable_t* settings_ = nullptr;
    _fluid_synth_t* synth_ = nullptr;
    int sfont_id_ = -1;
    int players_ = 0;
};

} // namespace gno::render
