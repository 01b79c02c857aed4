#include "gno/render/remote_stems.hpp"

#include <algorithm>
#include <bit>
#include <limits>

namespace gno::render {

remote_stems::remote_stems(int window_samples)
    : size_(std::bit_ceil(static_cast<std::size_t>(std::max(window_samples, 1)))), mask_(size_ - 1),
      data_(2 * static_cast<std::size_t>(k_sections) * size_, 0.0f) {
    written_end_.fill(std::numeric_limits<std::int64_t>::min());
}

remote_stems::placed remote_stems::add(int section, std::int64_t pos, const float* left,
                                       const float* right, int n) noexcept {
    if (next_ < 0 || section < 0 || section >= k_sections || n <= 0)
        return placed::dropped;
    if (pos < next_)
        return placed::late;
    if (pos + n > next_ + static_cast<std::int64_t>(size_))
        return placed::early;
    float* l = ring(section, 0);
    float* r = ring(section, 1);
    for (int i = 0; i < n; ++i) {
        const auto at = static_cast<std::size_t>(pos + i) & mask_;
        l[at] += left[i];
        r[at] += right[i];
    }
    auto& end = written_end_[static_cast<std::size_t>(section)];
    end = std::max(end, pos + n);
    return placed::ok;
}

void remote_stems::take(std::int64_t pos, section_buses& into) noexcept {
    const int frames = into.frames();
    for (int s = 0; s < k_sections; ++s) {
        if (written_end_[static_cast<std::size_t>(s)] <= pos)
            continue;
        float* l = ring(s, 0);
        float* r = ring(s, 1);
        // The frame's samples may wrap around the ring's end: in at most two pieces.
        const auto start = static_cast<std::size_t>(pos) & mask_;
        const auto first = std::min(static_cast<std::size_t>(frames), size_ - start);
        into.add(s, l + start, r + start, 1.0f, static_cast<int>(first), 0);
        std::fill(l + start, l + start + first, 0.0f);
        std::fill(r + start, r + start + first, 0.0f);
        if (first < static_cast<std::size_t>(frames)) {
            const auto rest = static_cast<int>(static_cast<std::size_t>(frames) - first);
            into.add(s, l, r, 1.0f, rest, static_cast<int>(first));
            std::fill(l, l + rest, 0.0f);
            std::fill(r, r + rest, 0.0f);
        }
    }
    next_ = pos + frames;
}

} // namespace gno::render
