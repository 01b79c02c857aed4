#include <algorithm>
#include <cmath>
#include <gno/impair/impairment.hpp>

namespace gno::impair {

packet_plan impairment_model::next() {
    packet_plan plan;
    // Draw every value up front: whether or not a feature is enabled, each packet consumes
    // the same amount of randomness, so enabling duplication does not change which packets
    // are lost.
    const double u_state = uniform();
    const double u_loss = uniform();
    const double u_dup = uniform();
    std::array<double, 2> u_jitter{uniform(), uniform()};
    std::array<double, 2> u_reorder{uniform(), uniform()};

    if (params_.burst_enter > 0.0) {
        if (bad_state_ ? u_state < params_.burst_exit : u_state < params_.burst_enter)
            bad_state_ = !bad_state_;
    } else {
        bad_state_ = false;
    }
    const double loss = bad_state_ ? params_.burst_loss : params_.loss;
    if (u_loss < loss) {
        plan.dropped = true;
        plan.burst = bad_state_;
        return plan;
    }
    plan.copies = u_dup < params_.duplicate ? 2 : 1;
    for (int i = 0; i < plan.copies; ++i) {
        double ms = params_.delay_ms + params_.jitter_ms * (2.0 * u_jitter[i] - 1.0);
        if (u_reorder[i] < params_.reorder) {
            ms += params_.reorder_ms;
            plan.copy[i].held_back = true;
        }
        plan.copy[i].delay = std::chrono::microseconds{std::llround(std::max(0.0, ms) * 1000.0)};
    }
    return plan;
}

} // namespace gno::impair
