#include "gno/render/voice_bank.hpp"

#include "gno/render/user_instrument.hpp"
#include "gno/soundfonts/sf2_writer.hpp"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fluidsynth.h>
#include <fstream>
#include <stdexcept>

namespace gno::render {
namespace {

int round_up_16(int n) {
    return (n + 15) / 16 * 16;
}
constexpr int k_max_frame = 960;

// Tail floors by overload step: -60 dBFS (below anything audible in an ensemble), then 12 and
// 24 dB higher.
constexpr std::array<float, 4> k_tail_floor{0.001f, 0.001f, 0.004f, 0.016f};
// A tail gives its lane to a new note of the player below -40 dBFS (then 6 and 12 dB higher).
constexpr std::array<float, 4> k_steal_floor{0.01f, 0.01f, 0.02f, 0.04f};

// The largest magnitude in a buffer. On the bits: a float's magnitude orders as its bit
// pattern without the sign does, and an integer maximum vectorizes where a float one may not.
float peak_of(const float* x, int n) noexcept {
    std::uint32_t m = 0;
    for (int i = 0; i < n; ++i)
        m = std::max(m, std::bit_cast<std::uint32_t>(x[i]) & 0x7fff'ffffu);
    return std::bit_cast<float>(m);
}

// FluidSynth's errors, kept per thread in a fixed buffer: its default handler would print from
// the render thread, and a failed load should say why in our own one-line message.
thread_local char fluid_error[256] = {};
void record_fluid_error(int, const char* message, void*) {
    std::size_t n = 0;
    for (; message && message[n] && n + 1 < sizeof fluid_error; ++n)
        fluid_error[n] = message[n] == '\n' ? ' ' : message[n];
    fluid_error[n] = 0;
}

// The bank's SoundFont of players' own instruments: no name to speak of, nothing to iterate.
const char* own_sfont_name(fluid_sfont_t*) {
    return "gno players' instruments";
}
void own_sfont_iteration_start(fluid_sfont_t*) {}
fluid_preset_t* own_sfont_iteration_next(fluid_sfont_t*) {
    return nullptr;
}

} // namespace

std::string last_fluid_error() {
    return fluid_error[0] ? std::string(fluid_error) : std::string("no reason given");
}
void clear_fluid_error() noexcept {
    fluid_error[0] = 0;
}

voice_bank::voice_bank(const voice_bank_config& cfg, std::int64_t first_sample)
    : players_(cfg.players), lanes_(cfg.lanes), grid_origin_(first_sample + k_latency),
      synth_pos_(first_sample + k_latency),
      lane_state_(static_cast<std::size_t>(cfg.players * cfg.lanes)),
      key_lane_(static_cast<std::size_t>(cfg.players)), frame_capacity_(k_max_frame),
      tail_floor_(k_tail_floor[0]), steal_floor_(k_steal_floor[0]),
      own_(static_cast<std::size_t>(cfg.players), nullptr),
      gm_program_(static_cast<std::size_t>(cfg.players), std::array<int, 2>{0, 0}) {
    if (players_ < 1 || lanes_ < 1 || players_ * lanes_ > k_max_lanes)
        throw std::runtime_error("voice bank: players x lanes must be 1.." +
                                 std::to_string(k_max_lanes));
    if (!std::filesystem::is_regular_file(cfg.soundfont))
        throw soundfont_error("soundfont not found: " + cfg.soundfont +
                              "; install Debian's fluid-soundfont-gm or pass --soundfont FILE");
    // FluidSynth logs through its own handlers; keep its chatter off our console, and its
    // errors for our messages.
    fluid_set_log_function(FLUID_WARN, nullptr, nullptr);
    fluid_set_log_function(FLUID_INFO, nullptr, nullptr);
    fluid_set_log_function(FLUID_DBG, nullptr, nullptr);
    fluid_set_log_function(FLUID_ERR, record_fluid_error, nullptr);

    const int channels = players_ * lanes_;
    settings_ = new_fluid_settings();
    fluid_settings_setnum(settings_, "synth.sample-rate", cfg.sample_rate);
    fluid_settings_setint(settings_, "synth.midi-channels", round_up_16(channels));
    // FluidSynth refuses more than 128 audio groups and would then mix every lane into one:
    // k_max_lanes keeps the bank within that.
    fluid_settings_setint(settings_, "synth.audio-groups", channels);
    fluid_settings_setint(settings_, "synth.audio-channels", channels);
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
    // Its layout first: FluidSynth's other loaders print their own complaints about a file its
    // SF2 loader refused, and a truncated file is better named as such.
    {
        std::ifstream in(cfg.soundfont, std::ios::binary);
        if (const auto why = soundfonts::sf2_layout_error(in); !why.empty()) {
            delete_fluid_synth(synth_);
            delete_fluid_settings(settings_);
            throw soundfont_error("soundfont could not be loaded: " + cfg.soundfont + " is " + why +
                                  "; pass --soundfont with a valid SF2 file");
        }
    }
    clear_fluid_error();
    sfont_id_ = fluid_synth_sfload(synth_, cfg.soundfont.c_str(), 1);
    if (sfont_id_ == FLUID_FAILED) {
        delete_fluid_synth(synth_);
        delete_fluid_settings(settings_);
        throw soundfont_error(
            "soundfont could not be loaded (corrupt or not SF2): " + cfg.soundfont +
            " (FluidSynth: " + last_fluid_error() + "); pass --soundfont with a valid SF2 file");
    }
    // Players' own instruments: a SoundFont that answers only for its own banks, so a search
    // for any GM bank and program passes on to the GM soundfont.
    own_sfont_ = new_fluid_sfont(own_sfont_name, own_preset, own_sfont_iteration_start,
                                 own_sfont_iteration_next, delete_fluid_sfont);
    if (own_sfont_) {
        fluid_sfont_set_data(own_sfont_, this);
        own_sfont_id_ = fluid_synth_add_sfont(synth_, own_sfont_);
        if (own_sfont_id_ == FLUID_FAILED) {
            delete_fluid_sfont(own_sfont_);
            own_sfont_ = nullptr;
        }
    }
    synth_out_.assign(static_cast<std::size_t>(2 * channels * frame_capacity_), 0.0f);
    synth_ptrs_.resize(static_cast<std::size_t>(2 * channels));
    segment_ptrs_.resize(synth_ptrs_.size());
    for (std::size_t i = 0; i < synth_ptrs_.size(); ++i)
        synth_ptrs_[i] = synth_out_.data() + i * static_cast<std::size_t>(frame_capacity_);
    for (int p = 0; p < players_; ++p)
        reset_player(p);
}

voice_bank::~voice_bank() {
    // The synthesiser first: it stops its voices and lets go of every preset it selected, then
    // the instruments whose samples those were.
    delete_fluid_synth(synth_);
    delete_fluid_settings(settings_);
    for (user_instrument* u : own_)
        delete u;
}

fluid_preset_t* voice_bank::own_preset(fluid_sfont_t* sfont, int bank, int program) {
    const auto* self = static_cast<const voice_bank*>(fluid_sfont_get_data(sfont));
    const int p = bank - k_user_bank;
    if (program != 0 || p < 0 || p >= self->players_)
        return nullptr;
    const user_instrument* u = self->own_[static_cast<std::size_t>(p)];
    return u ? u->preset() : nullptr;
}

int voice_bank::phase(std::int64_t synth_sample) const noexcept {
    const std::int64_t m = (synth_sample - grid_origin_) % k_grid;
    return static_cast<int>(m < 0 ? m + k_grid : m);
}

std::int64_t voice_bank::issue_point(const bank_event& e) const noexcept {
    const std::int64_t t = e.at + k_latency; // synthesiser time the event must be heard at
    switch (e.ev.what) {
    case note_event::kind::note_on:
        return t - phase(t); // the lane chosen will delay it by exactly phase(t)
    case note_event::kind::note_off: {
        const int l = key_lane_[static_cast<std::size_t>(e.player)][e.ev.key & 127];
        const int delay =
            l < 0 ? 0 : lane_state_[static_cast<std::size_t>(channel(e.player, l))].delay;
        const std::int64_t s = t - delay;
        return s + (k_grid - phase(s)) % k_grid;
    }
    case note_event::kind::program:
        // On the grid point at or before t, as a note-on due at t: a program change that came
        // with a note in one key state is applied before that note, not after it (the sort by
        // issue point is stable and the reconciler emits the program first).
        return t - phase(t);
    case note_event::kind::control:
        return t + (k_grid - phase(t)) % k_grid;
    }
    return t;
}

void voice_bank::apply(const bank_event& e, int& imprecise) noexcept {
    const int p = e.player;
    auto& keys = key_lane_[static_cast<std::size_t>(p)];
    switch (e.ev.what) {
    case note_event::kind::note_on: {
        const int best = lane_for(p, phase(e.at + k_latency), imprecise);
        lane& ln = lane_state_[static_cast<std::size_t>(channel(p, best))];
        if (keys[e.ev.key & 127] >= 0) { // still sounding on some lane: end it first
            const int old = keys[e.ev.key & 127];
            fluid_synth_noteoff(synth_, channel(p, old), e.ev.key);
            --lane_state_[static_cast<std::size_t>(channel(p, old))].keys_down;
        }
        fluid_synth_noteon(synth_, channel(p, best), e.ev.key, e.ev.value);
        ++ln.keys_down;
        ln.silent = false;
        keys[e.ev.key & 127] = static_cast<std::int8_t>(best);
        break;
    }
    case note_event::kind::note_off: {
        const int l = keys[e.ev.key & 127];
        if (l < 0)
            break;
        fluid_synth_noteoff(synth_, channel(p, l), e.ev.key);
        --lane_state_[static_cast<std::size_t>(channel(p, l))].keys_down;
        keys[e.ev.key & 127] = -1;
        break;
    }
    case note_event::kind::program:
        // Remembered for when the player's own instrument goes; followed at once without one.
        gm_program_[static_cast<std::size_t>(p)] = {e.ev.bank, e.ev.value};
        if (!own_[static_cast<std::size_t>(p)])
            select_gm(p);
        break;
    case note_event::kind::control:
        for (int l = 0; l < lanes_; ++l)
            fluid_synth_cc(synth_, channel(p, l), e.ev.key, e.ev.value);
        break;
    }
}

int voice_bank::lane_for(int p, int want, int& imprecise) noexcept {
    const auto at = [&](int l) -> lane& {
        return lane_state_[static_cast<std::size_t>(channel(p, l))];
    };
    // Keys held at this phase: notes struck together share a lane.
    for (int l = 0; l < lanes_; ++l)
        if (at(l).keys_down > 0 && at(l).delay == want)
            return l;
    // A silent lane takes this phase.
    for (int l = 0; l < lanes_; ++l)
        if (at(l).keys_down == 0 && at(l).silent) {
            at(l).delay = want;
            return l;
        }
    // A tail at this phase: the new note joins it.
    for (int l = 0; l < lanes_; ++l)
        if (at(l).keys_down == 0 && at(l).delay == want)
            return l;
    // The quietest tail gives its lane up if it is faint: ended here, where the player's new
    // note starts. A louder one (a pedal holding an arpeggio) rings on, and the note goes to
    // the nearest phase instead.
    int quietest = -1;
    for (int l = 0; l < lanes_; ++l)
        if (at(l).keys_down == 0 && (quietest < 0 || at(l).peak < at(quietest).peak))
            quietest = l;
    if (quietest >= 0 && at(quietest).peak < steal_floor_) {
        end_tail(channel(p, quietest));
        at(quietest).delay = want;
        return quietest;
    }
    // Every lane holds keys, or rings loudly, at another phase: the nearest one.
    int best = 0;
    for (int l = 1; l < lanes_; ++l)
        if (std::abs(at(l).delay - want) < std::abs(at(best).delay - want))
            best = l;
    ++imprecise;
    return best;
}

void voice_bank::end_tail(int ch) noexcept {
    fluid_synth_all_sounds_off(synth_, ch);
    ++tails_ended_;
}

void voice_bank::synthesize(int offset, int frames) noexcept {
    if (frames <= 0)
        return;
    for (std::size_t i = 0; i < synth_ptrs_.size(); ++i)
        segment_ptrs_[i] = synth_ptrs_[i] + offset;
    // fluid_synth_process adds into the buffers; audio group g goes to out[2g], out[2g+1].
    // Rendering exactly up to each event's grid point leaves FluidSynth's internal block
    // empty there, so the event takes effect on that very sample.
    fluid_synth_process(synth_, frames, 0, nullptr, static_cast<int>(segment_ptrs_.size()),
                        segment_ptrs_.data());
}

int voice_bank::render(std::int64_t r, int frames, std::span<const bank_event> events,
                       std::span<float* const> stems) noexcept {
    // FluidSynth adds into its buffers: clear what the last frame wrote, no more. A lane that
    // was silent got zeros added to zeros, and needs nothing.
    for (std::size_t ch = 0; ch < lane_state_.size(); ++ch)
        if (lane_state_[ch].peak > 0.0f) {
            std::fill_n(synth_ptrs_[2 * ch], frames_written_, 0.0f);
            std::fill_n(synth_ptrs_[2 * ch + 1], frames_written_, 0.0f);
        }
    frames_written_ = frames;
    const std::int64_t s0 = r + k_latency;
    if (s0 != synth_pos_) {
        // The render position jumped (frames skipped after a stall): FluidSynth's grid moves
        // with the samples it actually rendered, so move our idea of it by the same amount.
        grid_origin_ += s0 - synth_pos_;
    }
    synth_pos_ = s0 + frames;
    int imprecise = 0;
    int cursor = 0;
    for (const auto& e : events) {
        const std::int64_t g = issue_point(e);
        std::int64_t off = g - s0;
        if (off < 0) {
            off = 0;
            if (e.ev.what == note_event::kind::note_on)
                ++imprecise;
        }
        if (off > frames)
            off = frames;
        if (off > cursor) {
            synthesize(cursor, static_cast<int>(off) - cursor);
            cursor = static_cast<int>(off);
        }
        apply(e, imprecise);
    }
    synthesize(cursor, frames - cursor);

    // Lanes -> player stems, each lane through its delay line.
    for (int p = 0; p < players_; ++p) {
        float* out_l = stems[static_cast<std::size_t>(2 * p)];
        float* out_r = stems[static_cast<std::size_t>(2 * p + 1)];
        std::fill_n(out_l, frames, 0.0f);
        std::fill_n(out_r, frames, 0.0f);
        for (int l = 0; l < lanes_; ++l) {
            const int ch = channel(p, l);
            lane& ln = lane_state_[static_cast<std::size_t>(ch)];
            const float* in_l = synth_ptrs_[static_cast<std::size_t>(2 * ch)];
            const float* in_r = synth_ptrs_[static_cast<std::size_t>(2 * ch + 1)];
            if (ln.silent && ln.keys_down == 0)
                continue; // no voice on it, nothing in its delay line: zeros, skip the work
            ln.peak = std::max(peak_of(in_l, frames), peak_of(in_r, frames));
            const bool any = ln.peak > 0.0f;
            if (any && ln.keys_down == 0 && ln.peak < tail_floor_)
                end_tail(ch); // faded out: what is rendered plays, nothing more
            const bool history_silent = ln.silent;
            ln.silent = !any;
            if (!any && history_silent)
                continue; // nothing in the delay line, nothing new: skip the work
            const int d = ln.delay;
            for (int i = 0; i < d; ++i) {
                out_l[i] += ln.history_l[static_cast<std::size_t>(k_grid - d + i)];
                out_r[i] += ln.history_r[static_cast<std::size_t>(k_grid - d + i)];
            }
            for (int i = d; i < frames; ++i) {
                out_l[i] += in_l[i - d];
                out_r[i] += in_r[i - d];
            }
            std::copy(in_l + frames - k_grid, in_l + frames, ln.history_l.begin());
            std::copy(in_r + frames - k_grid, in_r + frames, ln.history_r.begin());
        }
    }
    return imprecise;
}

namespace {
// Overload steps of the synthesiser: level 1 interpolates linearly instead of with 4th-order
// polynomials (new voices), levels 2 and 3 make every release 4x and 16x shorter (generator
// offsets add to each voice's own value: -2400 timecents is a quarter).
int interpolation_at(int level) {
    return level >= 1 ? FLUID_INTERP_LINEAR : FLUID_INTERP_4THORDER;
}
float release_offset_at(int level) {
    return level >= 2 ? static_cast<float>(-2400 * (level - 1)) : 0.0f;
}
} // namespace

void voice_bank::set_synth_degrade(int level) noexcept {
    if (level == synth_degrade_)
        return;
    synth_degrade_ = level;
    tail_floor_ = k_tail_floor[static_cast<std::size_t>(std::clamp(level, 0, 3))];
    steal_floor_ = k_steal_floor[static_cast<std::size_t>(std::clamp(level, 0, 3))];
    fluid_synth_set_interp_method(synth_, -1, interpolation_at(level));
    for (int ch = 0; ch < players_ * lanes_; ++ch)
        fluid_synth_set_gen(synth_, ch, GEN_VOLENVRELEASE, release_offset_at(level));
}

void voice_bank::reset_player(int player) noexcept {
    for (int l = 0; l < lanes_; ++l) {
        const int ch = channel(player, l);
        fluid_synth_all_sounds_off(synth_, ch);
        fluid_synth_cc(synth_, ch, 121, 0); // reset all controllers
        fluid_synth_set_gen(synth_, ch, GEN_VOLENVRELEASE, release_offset_at(synth_degrade_));
        lane& ln = lane_state_[static_cast<std::size_t>(ch)];
        ln.keys_down = 0;
        ln.history_l.fill(0.0f);
        ln.history_r.fill(0.0f);
    }
    retire(player); // a slot reused: the last occupant's instrument goes
    gm_program_[static_cast<std::size_t>(player)] = {0, 0};
    select_gm(player);
    key_lane_[static_cast<std::size_t>(player)].fill(-1);
}

void voice_bank::select_gm(int player) noexcept {
    const auto [bank, program] = gm_program_[static_cast<std::size_t>(player)];
    const bool drums = bank == 128;
    for (int l = 0; l < lanes_; ++l) {
        const int ch = channel(player, l);
        fluid_synth_set_channel_type(synth_, ch, drums ? CHANNEL_TYPE_DRUM : CHANNEL_TYPE_MELODIC);
        if (fluid_synth_program_select(synth_, ch, sfont_id_, bank, program) != FLUID_OK)
            fluid_synth_program_select(synth_, ch, sfont_id_, drums ? 128 : 0, drums ? 0 : program);
    }
}

void voice_bank::retire(int player) noexcept {
    user_instrument* old = own_[static_cast<std::size_t>(player)];
    if (!old)
        return;
    own_[static_cast<std::size_t>(player)] = nullptr;
    // Its voices stop now (their samples are released within the next rendered block), and no
    // lane selects its preset any more; the ring's consumer frees it a while later.
    for (int l = 0; l < lanes_; ++l) {
        const int ch = channel(player, l);
        fluid_synth_all_sounds_off(synth_, ch);
        lane_state_[static_cast<std::size_t>(ch)].keys_down = 0;
    }
    key_lane_[static_cast<std::size_t>(player)].fill(-1);
    select_gm(player);
    if (!retired_ || !retired_->try_push(old))
        ++lost_retirements_; // never freed here: a leak is better than a glitch
}

void voice_bank::install(int player, user_instrument* inst) noexcept {
    if (player < 0 || player >= players_ || own_[static_cast<std::size_t>(player)] == inst)
        return;
    retire(player);
    if (!inst)
        return; // back to GM, selected by retire
    if (own_sfont_id_ < 0) {
        // No SoundFont of players' presets (FluidSynth refused it at start): cannot play it.
        if (!retired_ || !retired_->try_push(inst))
            ++lost_retirements_;
        return;
    }
    own_[static_cast<std::size_t>(player)] = inst;
    for (int l = 0; l < lanes_; ++l) {
        const int ch = channel(player, l);
        fluid_synth_set_channel_type(synth_, ch, CHANNEL_TYPE_MELODIC);
        fluid_synth_program_select(synth_, ch, own_sfont_id_, k_user_bank + player, 0);
    }
}

int voice_bank::active_voices() const noexcept {
    return fluid_synth_get_active_voice_count(synth_);
}

} // namespace gno::render
