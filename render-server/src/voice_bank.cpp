#include "gno/render/voice_bank.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fluidsynth.h>
#include <stdexcept>

namespace gno::render {
namespace {

int round_up_16(int n) {
    return (n + 15) / 16 * 16;
}

} // namespace

voice_bank::voice_bank(const voice_bank_config& cfg) : players_(cfg.players) {
    if (players_ < 1 || players_ > 128)
        throw std::runtime_error("voice bank: players per bank must be 1..128");
    if (!std::filesystem::is_regular_file(cfg.soundfont))
        throw std::runtime_error("soundfont not found: " + cfg.soundfont +
                                 "; install Debian's fluid-soundfont-gm or pass --soundfont FILE");
    // FluidSynth logs through its own handlers; keep its chatter off our console.
    fluid_set_log_function(FLUID_WARN, nullptr, nullptr);
    fluid_set_log_function(FLUID_INFO, nullptr, nullptr);
    fluid_set_log_function(FLUID_DBG, nullptr, nullptr);

    settings_ = new_fluid_settings();
    fluid_settings_setnum(settings_, "synth.sample-rate", cfg.sample_rate);
    fluid_settings_setint(settings_, "synth.midi-channels", round_up_16(players_));
    fluid_settings_setint(settings_, "synth.audio-groups", players_);
    fluid_settings_setint(settings_, "synth.audio-channels", players_);
    fluid_settings_setint(settings_, "synth.polyphony", cfg.polyphony);
    fluid_settings_setint(settings_, "synth.reverb.active", 0);
    fluid_settings_setint(settings_, "synth.chorus.active", 0);
    fluid_settings_setint(settings_, "synth.threadsafe-api", 0);
    fluid_settings_setint(settings_, "synth.dynamic-sample-loading", 0);
    fluid_settings_setnum(settings_, "synth.gain", 0.5);
    synth_ = new_fluid_synth(settings_);
    if (!synth_) {
        delete_fluid_settings(settings_);
        throw std::runtime_error("FluidSynth could not create a synthesiser");
    }
    sfont_id_ = fluid_synth_sfload(synth_, cfg.soundfont.c_str(), 1);
    if (sfont_id_ == FLUID_FAILED) {
        delete_fluid_synth(synth_);
        delete_fluid_settings(settings_);
        throw std::runtime_error("soundfont could not be loaded (corrupt or not SF2): " +
                                 cfg.soundfont + "; pass --soundfont with a valid SF2 file");
    }
    for (int p = 0; p < players_; ++p)
        program(p, 0, 0);
}

voice_bank::~voice_bank() {
    delete_fluid_synth(synth_);
    delete_fluid_settings(settings_);
}

void voice_bank::note_on(int player, int key, int velocity) noexcept {
    fluid_synth_noteon(synth_, player, key, velocity);
}

void voice_bank::note_off(int player, int key) noexcept {
    fluid_synth_noteoff(synth_, player, key);
}

void voice_bank::control(int player, int controller, int value) noexcept {
    fluid_synth_cc(synth_, player, controller, value);
}

void voice_bank::program(int player, int bank, int program) noexcept {
    const bool drums = bank == 128;
    fluid_synth_set_channel_type(synth_, player, drums ? CHANNEL_TYPE_DRUM : CHANNEL_TYPE_MELODIC);
    if (fluid_synth_program_select(synth_, player, sfont_id_, bank, program) != FLUID_OK)
        fluid_synth_program_select(synth_, player, sfont_id_, drums ? 128 : 0, drums ? 0 : program);
}

void voice_bank::reset_player(int player) noexcept {
    fluid_synth_all_sounds_off(synth_, player);
    fluid_synth_cc(synth_, player, 121, 0); // reset all controllers
    program(player, 0, 0);
}

void voice_bank::render(int frames, std::span<float* const> stems) noexcept {
    for (float* s : stems)
        std::memset(s, 0, sizeof(float) * static_cast<std::size_t>(frames));
    // fluid_synth_process adds into the buffers; audio group g goes to out[2g], out[2g+1].
    fluid_synth_process(synth_, frames, 0, nullptr, static_cast<int>(stems.size()),
                        const_cast<float**>(stems.data()));
}

int voice_bank::active_voices() const noexcept {
    return fluid_synth_get_active_voice_count(synth_);
}

} // namespace gno::render
