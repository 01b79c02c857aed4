#include "gno/render/link_stats.hpp"

#include <algorithm>
#include <cstdlib>

namespace gno::render {

namespace {
// A transit time that changes by more than this between two key states is the client's clock
// estimate stepping (a resync), not network jitter: it is not fed to the estimate.
constexpr std::int64_t k_max_transit_step_ns = 1'000'000'000;
} // namespace

void link_accumulator::start(int slot, std::uint32_t session_id, std::int64_t now_ns,
                             std::uint32_t late_events_now) noexcept {
    *this = link_accumulator{};
    active_ = true;
    window_.slot = slot;
    window_.session_id = session_id;
    window_.start_ns = now_ns;
    window_.joined = true;
    last_heard_ns_ = now_ns;
    counted_until_ns_ = now_ns;
    // The previous occupant's count may still be there until the render thread zeroes it;
    // take() reads a drop below this mark as that reset.
    late_mark_ = late_events_now;
}

void link_accumulator::rebase(std::uint32_t sequence) noexcept {
    have_sequence_ = true;
    highest_ = sequence;
    seen_ = 1;
    ++window_.expected;
    ++window_.received;
}

void link_accumulator::on_key_state(std::uint32_t sequence, std::int64_t sent_ns,
                                    std::int64_t arrival_ns, std::uint32_t rtt_us,
                                    std::uint16_t loss_permille) noexcept {
    if (!active_)
        return;
    ++window_.key_states;

    const std::int64_t silence_ns = arrival_ns - last_heard_ns_;
    if (silence_ns > k_disconnect_gap_ns)
        window_.disconnected_ns +=
            std::max<std::int64_t>(0, arrival_ns - std::max(last_heard_ns_, counted_until_ns_));
    last_heard_ns_ = std::max(last_heard_ns_, arrival_ns);

    bool duplicate = false;
    if (!have_sequence_) {
        rebase(sequence);
    } else {
        // Serial-number arithmetic: the client's counter wraps at 2^32.
        const auto d = static_cast<std::int64_t>(
            static_cast<std::int32_t>(sequence - static_cast<std::uint32_t>(highest_)));
        if (d > k_max_forward_jump) {
            rebase(sequence);
        } else if (d > 0) {
            highest_ += d;
            seen_ = d >= k_reorder_window ? 1 : (seen_ << d) | 1;
            window_.expected += d;
            ++window_.received;
        } else if (d == 0) {
            duplicate = true;
        } else if (-d < k_reorder_window) {
            const std::uint64_t bit = std::uint64_t{1} << -d;
            if (seen_ & bit) {
                duplicate = true;
            } else {
                seen_ |= bit;
                ++window_.received; // repairs the loss counted when the gap opened
                ++window_.reordered;
            }
        } else if (silence_ns > k_disconnect_gap_ns) {
            rebase(sequence); // far below after a silence: the client restarted from 0
        } else {
            // Far too old to tell a late one from a duplicate: its loss stays counted.
            ++window_.reordered;
        }
    }
    if (duplicate) {
        ++window_.duplicates;
        return; // a copy says nothing new about delay or the client's view
    }

    // RFC 3550 §6.4.1: J += (|D| - J) / 16, D the change in transit time between consecutive
    // arrivals. The sender stamp is the client's estimate of server time, so a constant
    // clock error cancels in D.
    const std::int64_t transit = arrival_ns - sent_ns;
    if (have_transit_) {
        const std::int64_t step = std::llabs(transit - last_transit_ns_);
        if (step <= k_max_transit_step_ns)
            jitter_ns_ += (static_cast<double>(step) - jitter_ns_) / 16.0;
    }
    have_transit_ = true;
    last_transit_ns_ = transit;

    if (rtt_us > 0) {
        window_.rtt_min_us =
            window_.rtt_reports == 0 ? rtt_us : std::min(window_.rtt_min_us, rtt_us);
        ++window_.rtt_reports;
        window_.rtt_sum_us += static_cast<double>(rtt_us);
    }
    ++window_.loss_reports;
    window_.loss_permille_sum += std::min<std::uint16_t>(loss_permille, 1000);
}

player_link_window link_accumulator::take(std::int64_t now_ns, std::uint32_t late_events_now,
                                          bool leaving) noexcept {
    // A silence still going on counts up to now; the next key state counts only the rest.
    if (now_ns - last_heard_ns_ > k_disconnect_gap_ns) {
        const std::int64_t from = std::max(last_heard_ns_, counted_until_ns_);
        if (now_ns > from)
            window_.disconnected_ns += now_ns - from;
        counted_until_ns_ = std::max(counted_until_ns_, now_ns);
    }
    // Cumulative on the render side; below the mark it was zeroed for a new session.
    window_.late_events =
        late_events_now >= late_mark_ ? late_events_now - late_mark_ : late_events_now;
    late_mark_ = late_events_now;
    window_.end_ns = now_ns;
    window_.jitter_us = jitter_ns_ / 1e3;
    window_.left = leaving;

    player_link_window out = window_;
    player_link_window next;
    next.slot = window_.slot;
    next.session_id = window_.session_id;
    next.start_ns = now_ns;
    window_ = next;
    if (leaving)
        active_ = false;
    return out;
}

void link_counts::add(const link_counts& o) noexcept {
    key_states += o.key_states;
    expected += o.expected;
    received += o.received;
    duplicates += o.duplicates;
    reordered += o.reordered;
    rtt_reports += o.rtt_reports;
    rtt_sum_us += o.rtt_sum_us;
    loss_reports += o.loss_reports;
    loss_permille_sum += o.loss_permille_sum;
    disconnected_ns += o.disconnected_ns;
    late_events += o.late_events;
}

double link_counts::uplink_loss_pct() const noexcept {
    return expected > 0 ? 100.0 * static_cast<double>(std::max<std::int64_t>(lost(), 0)) /
                              static_cast<double>(expected)
                        : 0.0;
}

double link_counts::downlink_loss_pct() const noexcept {
    return loss_reports > 0
               ? static_cast<double>(loss_permille_sum) / static_cast<double>(loss_reports) / 10.0
               : 0.0;
}

double link_counts::rtt_mean_us() const noexcept {
    return rtt_reports > 0 ? rtt_sum_us / static_cast<double>(rtt_reports) : 0.0;
}

} // namespace gno::render
