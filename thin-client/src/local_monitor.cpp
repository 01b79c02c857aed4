#include "gno/client/local_monitor.hpp"

#include "gno/client/jitter_buffer.hpp"

#include <algorithm>
#include <filesystem>
#include <fluidsynth.h>

namespace gno::client {

local_monitor::local_monitor(const local_monitor_config& cfg) : gain_(cfg.gain) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(cfg.soundfont, ec))
        throw local_monitor_error("soundfont not found: " + cfg.soundfont +
                                  "; install Debian's fluid-soundfont-gm or pass --soundfont FILE");
    // FluidSynth logs through its own handlers. None at all: a failure on the audio thread
    // (a full voice pool) must not format or write; our own messages say what went wrong.
    for (const int level : {FLUID_ERR, FLUID_WARN, FLUID_INFO, FLUID_DBG})
        fluid_set_log_function(level, nullptr, nullptr);

    settings_ = new_fluid_settings();
    fluid_settings_setnum(settings_, "synth.sample-rate", static_cast<double>(k_sample_rate));
    fluid_settings_setint(settings_, "synth.midi-channels", 16);
    fluid_settings_setint(settings_, "synth.audio-channels", 1); // one stereo pair
    fluid_settings_setint(settings_, "synth.polyphony", cfg.polyphony);
    fluid_settings_setint(settings_, "synth.reverb.active", 0);
    fluid_settings_setint(settings_, "synth.chorus.active", 0);
    fluid_settings_setint(settings_, "synth.threadsafe-api", 0); // only the audio thread plays
    fluid_settings_setint(settings_, "synth.cpu-cores", 1);      // no rendering threads
    // Only the selected preset's samples are loaded (by program_select, here, at start-up), not
    // the whole soundfont (FluidR3: 148 MB). A sample is freed only when no selected preset
    // uses it any more; the monitor never changes its preset after start-up, so a voice that
    // ends on the audio thread frees nothing.
    fluid_settings_setint(settings_, "synth.dynamic-sample-loading", 1);
    fluid_settings_setnum(settings_, "synth.gain", 0.5); // as the node's voice bank
    synth_ = new_fluid_synth(settings_);
    if (synth_ == nullptr) {
        delete_fluid_settings(settings_);
        throw local_monitor_error("FluidSynth could not create a synthesiser for --own-voice "
                                  "local; pass --own-voice server");
    }
    // fluid_is_soundfont reads the header first: a file that is not one never reaches the
    // loaders (Debian's libinstpatch would print a GLib assertion for it).
    const int sfont = fluid_is_soundfont(cfg.soundfont.c_str())
                          ? fluid_synth_sfload(synth_, cfg.soundfont.c_str(), 0)
                          : FLUID_FAILED;
    if (sfont == FLUID_FAILED) {
        delete_fluid_synth(synth_);
        delete_fluid_settings(settings_);
        throw local_monitor_error("soundfont could not be loaded (corrupt or not SF2): " +
                                  cfg.soundfont + "; pass --soundfont with a valid SF2 file");
    }
    // As the node does it: bank 128 is a drum kit; a preset the soundfont lacks falls back to
    // the same program in bank 0 (or the standard kit).
    const bool drums = cfg.bank == 128;
    fluid_synth_set_channel_type(synth_, 0, drums ? CHANNEL_TYPE_DRUM : CHANNEL_TYPE_MELODIC);
    if (fluid_synth_program_select(synth_, 0, sfont, cfg.bank, cfg.program) != FLUID_OK)
        fluid_synth_program_select(synth_, 0, sfont, drums ? 128 : 0, drums ? 0 : cfg.program);
}

local_monitor::~local_monitor() {
    delete_fluid_synth(synth_);
    delete_fluid_settings(settings_);
}

void local_monitor::push(key_event e) noexcept {
    bool pushed = false;
    {
        const std::lock_guard lock(producers_);
        pushed = ring_.try_push([&](key_event& slot) { slot = e; });
    }
    (pushed ? counters_.events_queued : counters_.events_dropped)
        .fetch_add(1, std::memory_order_relaxed);
    if (!pushed && e.what == key_event::kind::all_off)
        all_off_pending_.store(true, std::memory_order_release);
}

void local_monitor::key_down(std::uint8_t key, std::uint8_t velocity) noexcept {
    if (velocity == 0)
        return key_up(key);
    push({key_event::kind::down, static_cast<std::uint8_t>(key & 127u),
          static_cast<std::uint8_t>(velocity & 127u)});
}

void local_monitor::key_up(std::uint8_t key) noexcept {
    push({key_event::kind::up, static_cast<std::uint8_t>(key & 127u), 0});
}

void local_monitor::all_notes_off() noexcept {
    push({key_event::kind::all_off, 0, 0});
}

void local_monitor::apply_events() noexcept {
    // At most one ring's worth per period: producers that keep pushing cannot hold us here.
    std::uint64_t applied = 0;
    for (std::size_t i = 0; i < k_ring_events; ++i) {
        const key_event* e = ring_.front();
        if (e == nullptr)
            break;
        switch (e->what) {
        case key_event::kind::down:
            fluid_synth_noteon(synth_, 0, e->key, e->velocity);
            break;
        case key_event::kind::up:
            fluid_synth_noteoff(synth_, 0, e->key);
            break;
        case key_event::kind::all_off:
            fluid_synth_all_notes_off(synth_, 0);
            break;
        }
        ring_.pop();
        ++applied;
    }
    if (all_off_pending_.exchange(false, std::memory_order_acquire)) {
        fluid_synth_all_notes_off(synth_, 0);
        ++applied;
    }
    if (applied > 0)
        counters_.events_applied.fetch_add(applied, std::memory_order_relaxed);
}

void local_monitor::render_add(float* left, float* right, std::size_t n) noexcept {
    apply_events();
    for (std::size_t done = 0; done < n;) {
        const std::size_t take = std::min(n - done, k_block);
        // write_float overwrites its buffers (unlike fluid_synth_process, which adds).
        fluid_synth_write_float(synth_, static_cast<int>(take), left_.data(), 0, 1, right_.data(),
                                0, 1);
        for (std::size_t i = 0; i < take; ++i) {
            left[done + i] += gain_ * left_[i];
            right[done + i] += gain_ * right_[i];
        }
        done += take;
    }
}

} // namespace gno::client
