#include "gno/render/user_instrument.hpp"

#include "gno/render/voice_bank.hpp"

#include <fluidsynth.h>

namespace gno::render {

std::unique_ptr<user_instrument>
user_instrument::load(std::uint32_t session, const std::filesystem::path& path, std::size_t bytes,
                      std::shared_ptr<std::atomic<std::size_t>> live_bytes, std::string& error) {
    std::unique_ptr<user_instrument> u(new user_instrument());
    u->session_ = session;
    u->path_ = path;
    // A synthesiser that never renders: as small as FluidSynth allows. Samples load at once
    // (no dynamic loading), so a voice bank never waits for them.
    u->settings_ = new_fluid_settings();
    fluid_settings_setnum(u->settings_, "synth.sample-rate", 22050);
    fluid_settings_setint(u->settings_, "synth.polyphony", 1);
    fluid_settings_setint(u->settings_, "synth.midi-channels", 16);
    fluid_settings_setint(u->settings_, "synth.reverb.active", 0);
    fluid_settings_setint(u->settings_, "synth.chorus.active", 0);
    fluid_settings_setint(u->settings_, "synth.dynamic-sample-loading", 0);
    u->owner_ = new_fluid_synth(u->settings_);
    if (!u->owner_) {
        error = "FluidSynth could not create a synthesiser";
        return nullptr;
    }
    clear_fluid_error();
    // reset_presets 0: the owner's channels never select it, so only voice banks refer to it.
    const int id = fluid_synth_sfload(u->owner_, path.c_str(), 0);
    if (id == FLUID_FAILED) {
        error = "FluidSynth could not load the instrument built from your samples (" +
                last_fluid_error() + ")";
        return nullptr;
    }
    u->sfont_id_ = id;
    fluid_sfont_t* sfont = fluid_synth_get_sfont_by_id(u->owner_, id);
    u->preset_ = sfont ? fluid_sfont_get_preset(sfont, 0, 0) : nullptr;
    if (!u->preset_) {
        error = "the instrument has no preset at bank 0, program 0";
        return nullptr;
    }
    u->bytes_ = bytes;
    u->live_bytes_ = std::move(live_bytes);
    if (u->live_bytes_)
        u->live_bytes_->fetch_add(bytes);
    return u;
}

user_instrument::~user_instrument() {
    if (owner_) {
        // Unloaded now if no voice refers to its samples any more; else by FluidSynth's timer
        // once none does, and deleting the synthesiser waits for that timer.
        if (sfont_id_ >= 0)
            fluid_synth_sfunload(owner_, sfont_id_, 0);
        delete_fluid_synth(owner_);
    }
    if (settings_)
        delete_fluid_settings(settings_);
    std::error_code ec;
    if (!path_.empty())
        std::filesystem::remove(path_, ec);
    if (live_bytes_)
        live_bytes_->fetch_sub(bytes_);
}

} // namespace gno::render
