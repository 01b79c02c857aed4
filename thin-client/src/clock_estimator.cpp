#include "gno/client/clock_estimator.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gno::client {

namespace {

constexpr std::size_t k_min_samples = 8; // before synchronised(), and before resync checks
constexpr int k_search_steps = 48;       // golden section: 2000 ppm * 0.618^48 ~ 1e-7 ppm
constexpr double k_golden = 0.6180339887498949;

/// a - b, false on overflow (untrusted server stamps may be anything).
bool sub(std::int64_t a, std::int64_t b, std::int64_t& out) noexcept {
    return !__builtin_sub_overflow(a, b, &out);
}

} // namespace

void clock_estimator::ping_sent(std::int64_t now_ns) noexcept {
    sent_[sent_next_] = sent_ping{now_ns, false, true};
    sent_next_ = (sent_next_ + 1) % k_pings_remembered;
    pinged_ = true;
    last_ping_ns_ = now_ns;
}

bool clock_estimator::ping_due(std::int64_t now_ns) const noexcept {
    if (!pinged_)
        return true;
    const bool fast = !synchronised_ || now_ns - acquire_start_ns_ < k_fast_phase_ns;
    return now_ns - last_ping_ns_ >= (fast ? k_fast_interval_ns : k_slow_interval_ns);
}

std::int64_t clock_estimator::next_ping_ns(std::int64_t now_ns) const noexcept {
    if (ping_due(now_ns))
        return now_ns;
    // The fast phase only ends, so an interval chosen now is never too long.
    const bool fast = !synchronised_ || now_ns - acquire_start_ns_ < k_fast_phase_ns;
    return last_ping_ns_ + (fast ? k_fast_interval_ns : k_slow_interval_ns);
}

pong_verdict clock_estimator::check(std::int64_t t0, std::int64_t t1, std::int64_t t2,
                                    std::int64_t t3) noexcept {
    if (t3 < t0 || t2 < t1)
        return pong_verdict::time_order;
    sent_ping* ping = nullptr;
    for (auto& p : sent_) {
        if (p.valid && p.t0 == t0) {
            ping = &p;
            break;
        }
    }
    if (ping == nullptr)
        return pong_verdict::unknown_ping;
    if (ping->answered)
        return pong_verdict::duplicate;
    std::int64_t round = 0;
    std::int64_t hold = 0;
    std::int64_t up = 0;
    std::int64_t down = 0;
    if (!sub(t3, t0, round) || !sub(t2, t1, hold) || !sub(t1, t0, up) || !sub(t2, t3, down))
        return pong_verdict::bad_rtt;
    if (round > k_max_rtt_ns)
        return pong_verdict::stale;
    if (round - hold < 0)
        return pong_verdict::bad_rtt;
    ping->answered = true;
    return pong_verdict::used;
}

pong_verdict clock_estimator::add_sample(std::int64_t t0, std::int64_t t1, std::int64_t t2,
                                         std::int64_t t3) noexcept {
    const pong_verdict v = check(t0, t1, t2, t3);
    if (v != pong_verdict::used) {
        ++bad_pongs_;
        return v;
    }
    const sample s{t0, t3, t1 - t0, t2 - t3, (t3 - t0) - (t2 - t1)};
    last_delay_ns_ = s.delay;

    if (count_ >= k_min_samples) {
        // Midpoint of the exchange against the estimate: within ±(jitter range)/2 normally.
        const std::int64_t mid = s.up / 2 + s.down / 2;
        const std::int64_t residual = mid - estimate_at(t0 / 2 + t3 / 2);
        if (residual > k_resync_threshold_ns || residual < -k_resync_threshold_ns) {
            held_[static_cast<std::size_t>(held_count_++)] = s;
            if (held_count_ < k_resync_count)
                return pong_verdict::held;
            // The clock or the path moved: restart from the samples that agree with each other.
            count_ = 0;
            head_ = 0;
            for (const auto& h : held_)
                push(h);
            held_count_ = 0;
            shift_count_ = 0;
            pongs_used_ += k_resync_count;
            ++resyncs_;
            synchronised_ = false;
            acquire_start_ns_ = t3;
            keep_drift_for_now();
            estimate();
            publish(t3);
            return pong_verdict::resynced;
        }
    }
    held_count_ = 0;

    if (synchronised_ && t3 - acquire_start_ns_ >= k_fast_phase_ns) {
        // Below the up support line or above the down one: impossible while the path's minimum
        // delays hold, so a few of them mean the path changed. The samples are kept aside, out
        // of the fit (which they would tilt); a third within k_shift_span restarts the window
        // from them without a step (the mapping slews there) and pings fast again.
        const std::int64_t below_up = line_at(up_line_, t0) - s.up;
        const std::int64_t above_down = s.down - line_at(down_line_, t3);
        if (std::max(below_up, above_down) > k_path_shift_threshold_ns) {
            if (shift_count_ > 0 && pongs_used_ - shift_first_used_ > k_shift_span)
                shift_count_ = 0; // too far apart: noise, start counting again
            if (shift_count_ == 0)
                shift_first_used_ = pongs_used_;
            shifted_[static_cast<std::size_t>(shift_count_++)] = s;
            if (shift_count_ < k_resync_count)
                return pong_verdict::held;
            count_ = 0;
            head_ = 0;
            for (const auto& h : shifted_)
                push(h);
            shift_count_ = 0;
            pongs_used_ += k_resync_count;
            ++path_changes_;
            acquire_start_ns_ = t3;
            keep_drift_for_now();
            estimate();
            publish(t3);
            return pong_verdict::path_changed;
        }
    }
    if (!have_estimate_)
        acquire_start_ns_ = t3;
    push(s);
    ++pongs_used_;
    estimate();
    publish(t3);
    return pong_verdict::used;
}

void clock_estimator::keep_drift_for_now() noexcept {
    // Neither a clock jump nor a new route changes the crystals' rates: the drift fitted over
    // the old window beats one fitted over a few seconds of the new, until it spans as much.
    if (drift_known_)
        drift_min_span_ns_ = k_fast_phase_ns;
}

void clock_estimator::push(const sample& s) noexcept {
    while (count_ > 0 && (count_ == k_capacity || at(0).t3 < s.t3 - k_window_ns)) {
        head_ = (head_ + 1) % k_capacity;
        --count_;
    }
    window_[(head_ + count_) % k_capacity] = s;
    ++count_;
}

void clock_estimator::estimate() noexcept {
    // Everything relative to the newest sample, so the doubles stay small and exact enough.
    const sample& newest = at(count_ - 1);
    const std::int64_t x_ref = newest.t3;
    const std::int64_t up_ref = newest.up;
    const std::int64_t down_ref = newest.down;
    const std::int64_t span = newest.t3 - at(0).t0;

    // Centroid of the sample times (both ends of each exchange).
    double centroid = 0.0;
    for (std::size_t i = 0; i < count_; ++i) {
        const sample& s = at(i);
        centroid += static_cast<double>(s.t0 - x_ref) + static_cast<double>(s.t3 - x_ref);
    }
    centroid /= 2.0 * static_cast<double>(count_);

    // Only the lower hull of the up points and the upper hull of the down points can touch a
    // support line (exactly, for any slope), so the fits below run over a few dozen vertices
    // instead of the whole window. Both point sets are in time order (pings leave and pongs
    // arrive in order); if not, every point is kept.
    const auto hull = [&](auto x_of, auto y_of, double sign,
                          std::array<std::uint16_t, k_capacity>& out) {
        std::size_t n = 0;
        bool sorted = true;
        for (std::size_t i = 0; i < count_; ++i) {
            if (i > 0 && x_of(at(i)) < x_of(at(i - 1)))
                sorted = false;
            const double xi = x_of(at(i));
            const double yi = sign * y_of(at(i));
            while (sorted && n >= 2) {
                const sample& a = at(out[n - 2]);
                const sample& b = at(out[n - 1]);
                const double cross = (x_of(b) - x_of(a)) * (yi - sign * y_of(a)) -
                                     (sign * y_of(b) - sign * y_of(a)) * (xi - x_of(a));
                if (cross > 0.0)
                    break;
                --n;
            }
            out[n++] = static_cast<std::uint16_t>(i);
        }
        if (!sorted) {
            for (std::size_t i = 0; i < count_; ++i)
                out[i] = static_cast<std::uint16_t>(i);
            n = count_;
        }
        return n;
    };
    const auto x_up = [&](const sample& s) {
        return static_cast<double>(s.t0 - x_ref);
    };
    const auto y_up = [&](const sample& s) {
        return static_cast<double>(s.up - up_ref);
    };
    const auto x_down = [&](const sample& s) {
        return static_cast<double>(s.t3 - x_ref);
    };
    const auto y_down = [&](const sample& s) {
        return static_cast<double>(s.down - down_ref);
    };
    const std::size_t n_up = hull(x_up, y_up, 1.0, hull_up_);
    const std::size_t n_down = hull(x_down, y_down, -1.0, hull_down_);

    // Each direction on its own: the highest line under the up points and the lowest line over
    // the down points, as high/low as possible at a focus (the LP "minimise the sum of gaps" for
    // the focus = centroid; the optimum is the hull edge spanning the focus). Both are concave
    // in the slope b. Values are relative to (x_ref, up_ref / down_ref).
    const auto up_at = [&](double focus, double b) {
        double v = std::numeric_limits<double>::infinity();
        for (std::size_t k = 0; k < n_up; ++k) {
            const sample& s = at(hull_up_[k]);
            v = std::min(v, y_up(s) - b * (x_up(s) - focus));
        }
        return v;
    };
    const auto down_at = [&](double focus, double b) {
        double v = -std::numeric_limits<double>::infinity();
        for (std::size_t k = 0; k < n_down; ++k) {
            const sample& s = at(hull_down_[k]);
            v = std::max(v, y_down(s) - b * (x_down(s) - focus));
        }
        return v;
    };
    const auto maximise = [](auto&& f) {
        double lo = -k_max_drift_ppm * 1e-6;
        double hi = k_max_drift_ppm * 1e-6;
        double x1 = hi - k_golden * (hi - lo);
        double x2 = lo + k_golden * (hi - lo);
        double f1 = f(x1);
        double f2 = f(x2);
        for (int i = 0; i < k_search_steps; ++i) {
            if (f1 < f2) {
                lo = x1;
                x1 = x2;
                f1 = f2;
                x2 = lo + k_golden * (hi - lo);
                f2 = f(x2);
            } else {
                hi = x2;
                x2 = x1;
                f2 = f1;
                x1 = hi - k_golden * (hi - lo);
                f1 = f(x1);
            }
        }
        return (lo + hi) / 2.0;
    };

    // Two fits, pinned at the centroid and at the middle of the window's time span; theta is
    // the mean of their lines. One LP line hangs on the single hull edge under its focus and,
    // with a slightly wrong slope, can stay put for a minute while its extrapolation to "now"
    // walks off (the centroid sits early while the fast-phase samples dominate the window);
    // a second pin uses more of the hull and the two slope errors partly cancel.
    std::array<double, 2> foci{centroid, static_cast<double>(at(0).t0 - x_ref) / 2.0};
    const std::size_t n_foci = span >= drift_min_span_ns_ ? 2 : 1;
    // Mean of the per-focus lines, per direction, as values at x_ref and slopes.
    double up_ref_value = 0.0;
    double down_ref_value = 0.0;
    double up_slope = 0.0;
    double down_slope = 0.0;
    for (std::size_t k = 0; k < n_foci; ++k) {
        const double focus = foci[k];
        double b_up = drift_; // too short a span to see drift: keep what we knew
        double b_down = drift_;
        if (span >= drift_min_span_ns_) {
            b_up = maximise([&](double v) { return up_at(focus, v); });
            b_down = maximise([&](double v) { return -down_at(focus, v); });
        }
        up_ref_value += up_at(focus, b_up) - b_up * focus;
        down_ref_value += down_at(focus, b_down) - b_down * focus;
        up_slope += b_up;
        down_slope += b_down;
    }
    const auto n = static_cast<double>(n_foci);
    up_line_ = {x_ref, up_ref + std::llround(up_ref_value / n), up_slope / n};
    down_line_ = {x_ref, down_ref + std::llround(down_ref_value / n), down_slope / n};
    est_local_ns_ = x_ref;
    est_offset_ns_ = up_line_.value_ns / 2 + down_line_.value_ns / 2;
    drift_ = (up_line_.slope + down_line_.slope) / 2.0;
    if (span >= drift_min_span_ns_) {
        drift_known_ = true;
        drift_min_span_ns_ = k_drift_min_span_ns;
    }
    have_estimate_ = true;
}

std::int64_t clock_estimator::line_at(const line& l, std::int64_t local_ns) noexcept {
    return l.value_ns + std::llround(l.slope * static_cast<double>(local_ns - l.local_ns));
}

std::int64_t clock_estimator::estimate_at(std::int64_t local_ns) const noexcept {
    return est_offset_ns_ + std::llround(drift_ * static_cast<double>(local_ns - est_local_ns_));
}

void clock_estimator::publish(std::int64_t now) noexcept {
    const std::int64_t target = estimate_at(now);
    if (!synchronised_) {
        // Acquiring: nothing is being played against the mapping yet, so it may step.
        pub_local_ns_ = now;
        pub_offset_ns_ = target;
        drift_pub_ = drift_;
        slew_ = 0.0;
        slew_end_ns_ = now;
        if (now - acquire_start_ns_ >= k_acquire_ns && count_ >= k_min_samples)
            synchronised_ = true;
        return;
    }
    // Re-anchor where the published mapping is now (continuity), then run at the new drift
    // plus a bounded slew that ends when the gap to the estimate is closed.
    now = std::max(now, pub_local_ns_);
    const std::int64_t current = server_time_ns(now) - now;
    const double gap = static_cast<double>(target - current);
    const double max_slew = k_max_slew_ppm * 1e-6;
    const double slew = std::clamp(gap / static_cast<double>(k_slew_time_ns), -max_slew, max_slew);
    pub_local_ns_ = now;
    pub_offset_ns_ = current;
    drift_pub_ = drift_;
    slew_ = slew;
    slew_end_ns_ = now + (slew != 0.0 ? std::llround(gap / slew) : 0);
}

std::int64_t clock_estimator::server_time_ns(std::int64_t local_ns) const noexcept {
    if (!have_estimate_)
        return local_ns;
    const double dt = static_cast<double>(local_ns - pub_local_ns_);
    const double slewed = static_cast<double>(std::min(local_ns, slew_end_ns_) - pub_local_ns_);
    return local_ns + pub_offset_ns_ + std::llround(drift_pub_ * dt + slew_ * slewed);
}

std::uint32_t clock_estimator::rtt_us() const noexcept {
    if (count_ == 0)
        return 0;
    std::int64_t best = std::numeric_limits<std::int64_t>::max();
    for (std::size_t i = 0; i < count_; ++i)
        best = std::min(best, at(i).delay);
    return static_cast<std::uint32_t>(std::min<std::int64_t>(best / 1000, UINT32_MAX));
}

std::uint32_t clock_estimator::last_rtt_us() const noexcept {
    return static_cast<std::uint32_t>(std::min<std::int64_t>(last_delay_ns_ / 1000, UINT32_MAX));
}

} // namespace gno::client
