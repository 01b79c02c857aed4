#pragma once
// Other nodes' section stems waiting for the frame they belong to (DESIGN.md §9). Slices arrive
// from the mesh thread already placed on this node's timeline, in any order and of any length;
// each section keeps a ring of samples indexed by render sample, which the render thread adds
// into its frame's section buses and clears as it goes. Slices of one section from several
// nodes add up (a section may have players on more than one node). A slice for a frame already
// mixed is late, one beyond the ring early: both are dropped and reported.
//
// Thread: the render thread only. Realtime-safe: yes (the ring is sized at construction).

#include "gno/render/mixer.hpp"

#include <array>
#include <cstdint>
#include <vector>

namespace gno::render {

class remote_stems {
public:
    enum class placed { ok, late, early, dropped /* before the first frame is taken */ };

    /// Holds `window_samples` (rounded up to a power of two) of every section ahead of the
    /// next frame to be mixed.
    explicit remote_stems(int window_samples);

    /// Adds n samples of `section` (0..k_sections-1, else dropped) from this node's render
    /// sample `pos` on.
    placed add(int section, std::int64_t pos, const float* left, const float* right,
               int n) noexcept;

    /// Adds [pos, pos + into.frames()) of every section with sound there into `into` (a frame
    /// already cleared), then forgets it: a later slice for it is late. Frames are taken in
    /// order; before the first, every slice is late.
    void take(std::int64_t pos, section_buses& into) noexcept;

    [[nodiscard]] std::int64_t next_pos() const noexcept { return next_; }

private:
    float* ring(int section, int channel) noexcept {
        return data_.data() + static_cast<std::size_t>(2 * section + channel) * size_;
    }
    std::size_t size_;
    std::size_t mask_;
    std::vector<float> data_; // per section: left ring, right ring
    // Per section: one past the last sample written; the section sounds in a frame that
    // starts before it.
    std::array<std::int64_t, k_sections> written_end_{};
    std::int64_t next_ = -1; // the next sample to be taken; -1: nothing taken yet
};

} // namespace gno::render
