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

void section_buses::add(const section_buses& other) noexcept {
    for (int s = 0; s < k_sections; ++s)
        if (other.used(s))
            add(s, other.left(s), other.right(s), 1.0f, frames_, 0);
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
    constexpr float knee = k_limiter_knee;
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
    // Hundreds of these a frame: the loops are plain streams the compiler vectorizes (this file
    // is built with the full vectorizer cost model, render-server/CMakeLists.txt).
    const auto n = static_cast<std::size_t>(buses.frames());
    std::array<float, k_max_frame_samples> l;
    std::array<float, k_max_frame_samples> r;
    float* __restrict ml = l.data();
    float* __restrict mr = r.data();
    std::fill_n(ml, n, 0.0f);
    std::fill_n(mr, n, 0.0f);
    const auto add = [n, ml, mr](const float* __restrict bl, const float* __restrict br,
                                 float gain) noexcept {
        for (std::size_t i = 0; i < n; ++i) {
            ml[i] += gain * bl[i];
            mr[i] += gain * br[i];
        }
    };
    for (int s = 0; s < k_sections; ++s) {
        const float level = profile.section_level[static_cast<std::size_t>(s)];
        if (buses.used(s) && level != 0.0f)
            add(buses.left(s), buses.right(s), level);
    }
    if (own.left) {
        // The own voice is already in its section's bus at that section's level: move it to
        // the own level (0 removes it: mix-minus).
        const float c =
            (profile.own_level - profile.section_level[static_cast<std::size_t>(own.section)]) *
            own.gain;
        if (c != 0.0f)
            add(own.left, own.right, c);
    }
    // The cue (click at this performer's level, talk-back) is mono: one buffer for both sides.
    std::array<float, k_max_frame_samples> cue;
    float* __restrict k = cue.data();
    std::fill_n(k, n, 0.0f);
    if (!click.empty())
        for (std::size_t i = 0; i < n; ++i)
            k[i] += profile.click_level * click[i];
    if (!talkback.empty())
        for (std::size_t i = 0; i < n; ++i)
            k[i] += talkback[i];
    float* __restrict o = out.data();
    int over = 0; // any sample above the limiter's knee
    for (std::size_t i = 0; i < n; ++i) {
        const float a = master_gain * ml[i] + k[i];
        const float b = master_gain * mr[i] + k[i];
        o[2 * i] = a;
        o[2 * i + 1] = b;
        over |= static_cast<int>(std::fabs(a) > k_limiter_knee) |
                static_cast<int>(std::fabs(b) > k_limiter_knee);
    }
    if (over)
        for (std::size_t i = 0; i < 2 * n; ++i)
            o[i] = soft_limit(o[i]);
}

} // namespace gno::render
