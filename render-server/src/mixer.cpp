#include "gno/render/mixer.hpp"

#include "gno/render/frames.hpp"

#include <algorithm>
#include <cmath>

namespace gno::render {

section_buses::section_buses(int max_frames)
    : max_frames_(static_cast<std::size_t>(max_frames)),
      data_(static_cast<std::size_t>(2 * k_sections) * max_frames_) {}

void section_buses::clear(int frames) noexcept {
    // Nothing is zeroed here: a bus is zeroed when the frame first adds to it, and an unused
    // bus is never read.
    frames_ = frames;
    used_.fill(false);
}

void section_buses::add(int section, const float* left, const float* right, float gain, int n,
                        int offset) noexcept {
    if (section < 0 || section >= k_sections || n <= 0)
        return;
    if (!used_[section]) {
        // The section's first stem this frame: start from silence.
        std::fill_n(bus(section, 0), frames_, 0.0f);
        std::fill_n(bus(section, 1), frames_, 0.0f);
        used_[section] = true;
    }
    float* l = bus(section, 0) + offset;
    float* r = bus(section, 1) + offset;
    for (int i = 0; i < n; ++i) {
        l[i] += gain * left[i];
        r[i] += gain * right[i];
    }
}

void section_buses::sum(float* left, float* right) const noexcept {
    std::fill_n(left, frames_, 0.0f);
    std::fill_n(right, frames_, 0.0f);
    for (int s = 0; s < k_sections; ++s) {
        if (!used_[s])
            continue;
        const float* bl = this->left(s);
        const float* br = this->right(s);
        for (int i = 0; i < frames_; ++i) {
            left[i] += bl[i];
            right[i] += br[i];
        }
    }
}

float soft_limit(float x) noexcept {
    constexpr float knee = 0.8f;
    const float a = std::fabs(x);
    if (a <= knee)
        return x;
    // Above the knee, map (knee, inf) onto (knee, 1) with tanh: continuous value and slope.
    const float y = knee + (1.0f - knee) * std::tanh((a - knee) / (1.0f - knee));
    return std::copysign(y, x);
}

void build_own_mix(const section_buses& buses, const mix_profile& profile, const own_voice& own,
                   float master_gain, std::span<const float> click, std::span<const float> talkback,
                   std::span<float> out) noexcept {
    const int n = buses.frames();
    std::array<float, k_max_frame_samples> l{};
    std::array<float, k_max_frame_samples> r{};
    for (int s = 0; s < k_sections; ++s) {
        const float level = profile.section_level[static_cast<std::size_t>(s)];
        if (!buses.used(s) || level == 0.0f)
            continue;
        const float* bl = buses.left(s);
        const float* br = buses.right(s);
        for (int i = 0; i < n; ++i) {
            l[static_cast<std::size_t>(i)] += level * bl[i];
            r[static_cast<std::size_t>(i)] += level * br[i];
        }
    }
    if (own.left) {
        // The own voice is already in its section's bus at that section's level: move it to
        // the own level (0 removes it: mix-minus).
        const float c =
            (profile.own_level - profile.section_level[static_cast<std::size_t>(own.section)]) *
            own.gain;
        if (c != 0.0f)
            for (int i = 0; i < n; ++i) {
                l[static_cast<std::size_t>(i)] += c * own.left[i];
                r[static_cast<std::size_t>(i)] += c * own.right[i];
            }
    }
    for (int i = 0; i < n; ++i) {
        const auto u = static_cast<std::size_t>(i);
        const float k = (click.empty() ? 0.0f : profile.click_level * click[u]) +
                        (talkback.empty() ? 0.0f : talkback[u]);
        out[2 * u] = soft_limit(master_gain * l[u] + k);
        out[2 * u + 1] = soft_limit(master_gain * r[u] + k);
    }
}

} // namespace gno::render
