#pragma once
// FluidSynth as a test instrument: loads an SF2 file and renders notes dry (no reverb, no
// chorus) into mono samples, so a test hears what a soundfont plays.

#include <fluidsynth.h>
#include <memory>
#include <string>
#include <vector>

namespace gno::soundfonts::test {

inline constexpr int k_rate = 48000;

class fluid_render {
public:
    explicit fluid_render(const std::string& sf2)
        : settings_(new_fluid_settings(), delete_fluid_settings) {
        fluid_set_log_function(FLUID_WARN, nullptr, nullptr);
        fluid_set_log_function(FLUID_INFO, nullptr, nullptr);
        fluid_settings_setnum(settings_.get(), "synth.sample-rate", k_rate);
        fluid_settings_setint(settings_.get(), "synth.reverb.active", 0);
        fluid_settings_setint(settings_.get(), "synth.chorus.active", 0);
        synth_.reset(new_fluid_synth(settings_.get()));
        sfont_ = fluid_synth_sfload(synth_.get(), sf2.c_str(), 1);
    }
    [[nodiscard]] bool loaded() const { return sfont_ != FLUID_FAILED; }

    /// Selects bank/program on channel 0 (a drum channel for bank 128); false if absent.
    bool select(int bank, int program) {
        fluid_synth_set_channel_type(synth_.get(), 0,
                                     bank == 128 ? CHANNEL_TYPE_DRUM : CHANNEL_TYPE_MELODIC);
        return fluid_synth_program_select(synth_.get(), 0, sfont_, bank, program) == FLUID_OK;
    }

    /// Mono render: `key` held for `hold_s`, then released, `total_s` in all.
    std::vector<float> play(int key, double hold_s, double total_s) {
        std::vector<float> out;
        std::vector<float> l(64), r(64);
        const auto total = static_cast<std::size_t>(total_s * k_rate);
        const auto off = static_cast<std::size_t>(hold_s * k_rate);
        fluid_synth_noteon(synth_.get(), 0, key, 100);
        bool released = false;
        for (std::size_t pos = 0; pos < total; pos += 64) {
            if (!released && pos >= off) {
                fluid_synth_noteoff(synth_.get(), 0, key);
                released = true;
            }
            fluid_synth_write_float(synth_.get(), 64, l.data(), 0, 1, r.data(), 0, 1);
            for (std::size_t i = 0; i < 64; ++i)
                out.push_back(0.5f * (l[i] + r[i]));
        }
        fluid_synth_all_sounds_off(synth_.get(), -1);
        for (int i = 0; i < 8; ++i)
            fluid_synth_write_float(synth_.get(), 64, l.data(), 0, 1, r.data(), 0, 1);
        return out;
    }

private:
    struct synth_deleter {
        void operator()(fluid_synth_t* s) const { delete_fluid_synth(s); }
    };
    std::unique_ptr<fluid_settings_t, decltype(&delete_fluid_settings)> settings_;
    std::unique_ptr<fluid_synth_t, synth_deleter> synth_;
    int sfont_ = FLUID_FAILED;
};

} // namespace gno::soundfonts::test
