#pragma once
// Buses of the mix (DESIGN.md §6): the orchestra bus is the gain-weighted sum of every stem,
// built once per frame; each mix is derived from it (never an N^2 sum).
// Thread: the render thread. Realtime-safe: yes (buffers sized at construction).

#include <cstddef>
#include <span>
#include <vector>

namespace gno::render {

class mix_bus {
public:
    explicit mix_bus(int max_frames) : left_(max_frames), right_(max_frames) {}

    void clear(int frames) noexcept;
    /// bus[offset + i] += gain * stem[i], for i < frames
    void add(const float* stem_left, const float* stem_right, float gain, int frames,
             int offset = 0) noexcept;
    /// Writes the bus as interleaved stereo with a master gain and a soft limit at full scale.
    void interleave(float master_gain, std::span<float> out, int frames) const noexcept;

    [[nodiscard]] const float* left() const noexcept { return left_.data(); }
    [[nodiscard]] const float* right() const noexcept { return right_.data(); }

private:
    std::vector<float> left_;
    std::vector<float> right_;
};

/// Soft limiter: linear below 0.8, smoothly approaching 1.0 above (no hard clipping).
float soft_limit(float x) noexcept;

} // namespace gno::render
