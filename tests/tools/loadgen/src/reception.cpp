#include "reception.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gno::loadgen {

void gap_histogram::add(std::int64_t gap_ns) noexcept {
    gap_ns = std::max<std::int64_t>(gap_ns, 0);
    const auto bucket = static_cast<std::size_t>(gap_ns / k_bucket_ns);
    ++buckets_[std::min(bucket, k_buckets)];
    ++count_;
    max_ns_ = std::max(max_ns_, gap_ns);
}

double gap_histogram::quantile_us(double q) const noexcept {
    if (count_ == 0)
        return 0.0;
    const auto rank = static_cast<std::uint64_t>(
        std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(count_)));
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < k_buckets; ++b) {
        seen += buckets_[b];
        if (seen >= std::max<std::uint64_t>(rank, 1)) {
            const double mid_ns = (static_cast<double>(b) + 0.5) * k_bucket_ns;
            return std::min(mid_ns, static_cast<double>(max_ns_)) / 1e3;
        }
    }
    return max_us();
}

bool audio_reception::on_frame(std::uint32_t sequence, std::int64_t arrival_ns,
                               std::int64_t frame_ns, std::int64_t render_sample,
                               gap_histogram& gaps) noexcept {
    bool in_order = true;
    if (received_ == 0) {
        first_sequence_ = highest_sequence_ = sequence;
        seen_ = 1;
        ++distinct_;
    } else {
        // Serial-number arithmetic: the server's counter wraps at 2^32.
        const auto step = static_cast<std::int32_t>(
            sequence - static_cast<std::uint32_t>(highest_sequence_ & 0xFFFFFFFF));
        if (step > 0) {
            highest_sequence_ += step;
            seen_ = step >= k_reorder_window ? 1 : (seen_ << step) | 1;
            ++distinct_;
        } else {
            in_order = false;
            // A late frame fills its gap; a duplicate (or one too late to tell) does not.
            const std::uint64_t bit = -step < k_reorder_window ? std::uint64_t{1} << -step : 0;
            if (bit != 0 && (seen_ & bit) == 0) {
                seen_ |= bit;
                ++distinct_;
            }
        }
        const std::int64_t gap = arrival_ns - last_arrival_ns_;
        gaps.add(gap);
        gap_max_ns_ = std::max(gap_max_ns_, gap);
        if (gap > 2 * frame_ns)
            ++late_gaps_;
    }
    last_arrival_ns_ = arrival_ns;
    ++received_;
    newest_render_ = std::max(newest_render_, render_sample);
    return in_order;
}

std::uint64_t audio_reception::expected() const noexcept {
    if (received_ == 0)
        return 0;
    return static_cast<std::uint64_t>(highest_sequence_ - first_sequence_ + 1);
}

std::uint64_t audio_reception::lost() const noexcept {
    const std::uint64_t e = expected();
    return e > distinct_ ? e - distinct_ : 0;
}

std::uint32_t audio_reception::rtt_us() const noexcept {
    return static_cast<std::uint32_t>(std::clamp<std::int64_t>(
        last_rtt_ns_ / 1000, 0, std::numeric_limits<std::uint32_t>::max()));
}

std::uint16_t audio_reception::loss_permille(std::int64_t now_ns) noexcept {
    if (loss_mark_ns_ >= 0 && now_ns - loss_mark_ns_ < k_loss_interval_ns)
        return loss_permille_;
    const std::uint64_t e = expected();
    const std::uint64_t want = e - loss_mark_expected_;
    const std::uint64_t came = distinct_ - loss_mark_distinct_;
    // A late frame of the previous second can make `came` the larger: no loss, not less.
    const std::uint64_t lost = want > came ? want - came : 0;
    loss_permille_ = static_cast<std::uint16_t>(
        loss_mark_ns_ >= 0 && want > 0 ? std::min<std::uint64_t>(lost * 1000 / want, 1000) : 0);
    loss_mark_ns_ = now_ns;
    loss_mark_expected_ = e;
    loss_mark_distinct_ = distinct_;
    return loss_permille_;
}

} // namespace gno::loadgen
