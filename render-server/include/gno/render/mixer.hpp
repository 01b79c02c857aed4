#pragma once
// The mixes (DESIGN.md §6), built from section buses so that every mix costs O(sections), never
// O(players):
//   section bus  B_s = sum over the players of section s of gain_i * stem_i
//   audience     A   = sum_s B_s                       (the conductor's balance: gain_i)
//   own mix of p     = sum_s level_p[s] * B_s + (own_level_p - level_p[s_p]) * gain_p * stem_p
//                      + click_level_p * click + talk-back (performers only)
// With every level 1 and own_level 0 an own mix is the classic mix-minus: the ensemble
// without the player's own voice. The levels are the performer's own (a `mix` message,
// proto/v1/control.hpp). Players whose mixes are identical (the shared mode) share one mix and
// one encode, and so cannot have levels of their own.
//
// Thread: the render thread and its crew (each mix written by one member). Realtime-safe:
// yes (buffers sized at construction).

#include <array>
#include <cstdint>
#include <span>
#include <vector>

namespace gno::render {

/// Sections: the 16 General MIDI instrument families (pianos, chromatic percussion, organs,
/// guitars, basses, strings, ensembles, brass, reeds, pipes, synth leads, synth pads, synth
/// effects, ethnic, percussive, sound effects) and the drum kits.
inline constexpr int k_sections = 17;

/// The section of an instrument: its GM family, or the drums (bank 128).
[[nodiscard]] constexpr int section_of(int bank, int program) noexcept {
    return bank == 128 ? 16 : (program & 127) / 8;
}

/// How one performer hears the orchestra: a personal level per section, the level of their
/// own voice (0 = mix-minus) and of the click, all linear. Trivially copyable: it crosses to
/// the render thread whole (player_timing.hpp).
struct mix_profile {
    std::array<float, k_sections> section_level = {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f,
                                                   1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f,
                                                   1.0f, 1.0f, 1.0f, 1.0f, 1.0f};
    float own_level = 0.0f;
    float click_level = 1.0f;

    /// Every section at `others`, the own voice at `own_level`, the click at 1.
    static mix_profile uniform(float others = 1.0f, float own_level = 0.0f) noexcept {
        mix_profile p;
        p.section_level.fill(others);
        p.own_level = own_level;
        return p;
    }
    friend bool operator==(const mix_profile&, const mix_profile&) = default;
};
static_assert(k_sections == 17, "mix_profile's default section levels list every section");

class section_buses {
public:
    explicit section_buses(int max_frames);

    /// Starts a frame of `frames` samples with every bus silent.
    void clear(int frames) noexcept;
    /// B_s[offset + i] += gain * stem[i] for i < n.
    void add(int section, const float* left, const float* right, float gain, int n,
             int offset = 0) noexcept;
    /// B_s += other's B_s for every section `other` uses (a frame of the same length).
    void add(const section_buses& other) noexcept;
    /// A = sum of the sections in use, into `left`/`right` (each >= frames).
    void sum(float* left, float* right) const noexcept;

    [[nodiscard]] bool used(int section) const noexcept { return used_[section]; }
    [[nodiscard]] const float* left(int section) const noexcept {
        return data_.data() + static_cast<std::size_t>(2 * section) * max_frames_;
    }
    [[nodiscard]] const float* right(int section) const noexcept {
        return data_.data() + static_cast<std::size_t>(2 * section + 1) * max_frames_;
    }
    [[nodiscard]] int frames() const noexcept { return frames_; }

private:
    float* bus(int section, int channel) noexcept {
        return data_.data() + static_cast<std::size_t>(2 * section + channel) * max_frames_;
    }
    std::size_t max_frames_;
    int frames_ = 0;
    std::vector<float> data_; // planar: section-major, left then right
    std::array<bool, k_sections> used_{};
};

/// Soft limiter: linear below the knee (0.8), smoothly approaching 1.0 above (no hard clipping).
inline constexpr float k_limiter_knee = 0.8f;
float soft_limit(float x) noexcept;

/// The own voice in a mix: the player's section, conductor gain and stem.
struct own_voice {
    int section = 0;
    float gain = 1.0f;
    const float* left = nullptr; // nullptr: the player is silent
    const float* right = nullptr;
};

/// Builds one performer's mix, interleaved stereo, master gain and soft limit applied. The mono
/// `click` (scaled by the profile's click level) and `talkback` (as it is), each made once per
/// frame for every mix and empty when there is none, are added at the limiter's input after
/// the master gain. `out` holds 2 * buses.frames().
void build_own_mix(const section_buses& buses, const mix_profile& profile, const own_voice& own,
                   float master_gain, std::span<const float> click, std::span<const float> talkback,
                   std::span<float> out) noexcept;

} // namespace gno::render
