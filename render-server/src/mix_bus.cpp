#include "gno/render/mix_bus.hpp"

#include <algorithm>
#include <cmath>

namespace gno::render {

void mix_bus::clear(int frames) noexcept {
    std::fill_n(left_.begin(), frames, 0.0f);
    std::fill_n(right_.begin(), frames, 0.0f);
}

void mix_bus::add(const float* stem_left, const float* stem_right, float gain, int frames,
                  int offset) noexcept {
    float* l = left_.data() + offset;
    float* r = right_.data() + offset;
    for (int i = 0; i < frames; ++i) {
        l[i] += gain * stem_left[i];
        r[i] += gain * stem_right[i];
    }
}

void mix_bus::interleave(float master_gain, std::span<float> out, int frames) const noexcept {
    for (int i = 0; i < frames; ++i) {
        out[2 * i] = soft_limit(master_gain * left_[i]);
        out[2 * i + 1] = soft_limit(master_gain * right_[i]);
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

} // namespace gno::render
