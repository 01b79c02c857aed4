#include "gno/client/clock_simulation.hpp"

#include "gno/client/clock_estimator.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

namespace gno::client {

namespace {

constexpr std::int64_t k_ms = 1'000'000;
constexpr std::int64_t k_tick_ns = 1 * k_ms;                // the network thread's tick
constexpr std::int64_t k_sample_ns = 10 * k_ms;             // how often the error is looked at
constexpr std::int64_t k_server_hold_ns = 20'000;           // server turnaround t2 - t1
constexpr std::int64_t k_server_start_ns = 1000'000 * k_ms; // the server has run a while

std::int64_t ns(double v, double unit_ns) {
    return std::llround(v * unit_ns);
}

struct pong_in_flight {
    std::int64_t arrive_ns; // true time
    std::int64_t t0, t1, t2;
};

} // namespace

clock_sim_result simulate_clock_sync(const clock_sim_params& p) {
    clock_sim_result r;
    auto estimator = std::make_unique<clock_estimator>(); // ~120 kB: not on the stack
    clock_estimator& clock = *estimator;
    std::mt19937_64 rng(p.seed);
    std::uniform_real_distribution<double> jitter(-p.jitter_ms, p.jitter_ms);
    std::bernoulli_distribution lost(p.loss);

    const std::int64_t offset_ns = ns(p.offset_s, 1e9);
    const std::int64_t jump_ns = ns(p.jump_s, 1e9);
    const std::int64_t end_ns = k_server_start_ns + ns(p.seconds, 1e9);
    const std::int64_t warm_ns = k_server_start_ns + ns(p.warmup_s, 1e9);
    const std::int64_t jump_at_ns =
        p.jump_at_s >= 0 ? k_server_start_ns + ns(p.jump_at_s, 1e9) : end_ns + 1;
    const double up_base_ms = p.rtt_ms / 2 + p.asymmetry_ms / 2;
    const double down_base_ms = p.rtt_ms / 2 - p.asymmetry_ms / 2;

    // The client's clock as a function of true (server) time.
    const auto local = [&](std::int64_t t) {
        const double drift = p.drift_ppm * 1e-6 * static_cast<double>(t - k_server_start_ns);
        return t + offset_ns + std::llround(drift) + (t >= jump_at_ns ? jump_ns : 0);
    };
    const auto one_way = [&](double base_ms) {
        return std::max<std::int64_t>(0, ns(base_ms + jitter(rng), 1e6));
    };

    std::vector<pong_in_flight> flight;
    std::vector<double> errors_us;
    errors_us.reserve(static_cast<std::size_t>((end_ns - warm_ns) / k_sample_ns) + 1);
    bool have_prev = false;
    std::int64_t prev_stamp = 0;
    std::int64_t prev_error = 0;
    std::uint64_t prev_resyncs = 0;

    for (std::int64_t t = k_server_start_ns; t < end_ns; t += k_tick_ns) {
        // Pongs that arrived by now, in arrival order, stamped with their exact arrival time.
        std::sort(flight.begin(), flight.end(),
                  [](const auto& a, const auto& b) { return a.arrive_ns < b.arrive_ns; });
        std::size_t delivered = 0;
        for (; delivered < flight.size() && flight[delivered].arrive_ns <= t; ++delivered) {
            const auto& f = flight[delivered];
            clock.add_sample(f.t0, f.t1, f.t2, local(f.arrive_ns));
        }
        flight.erase(flight.begin(), flight.begin() + static_cast<std::ptrdiff_t>(delivered));

        const std::int64_t now = local(t);
        if (clock.ping_due(now)) {
            clock.ping_sent(now);
            ++r.pings;
            const bool up_lost = lost(rng);
            const bool down_lost = lost(rng);
            const std::int64_t t1 = t + one_way(up_base_ms); // server clock = true time
            const std::int64_t t2 = t1 + k_server_hold_ns;
            const std::int64_t arrive = t2 + one_way(down_base_ms);
            if (!up_lost && !down_lost)
                flight.push_back({arrive, now, t1, t2});
        }

        if (t >= warm_ns && (t - warm_ns) % k_sample_ns == 0) {
            const std::int64_t stamp = clock.server_time_ns(now);
            const std::int64_t error = stamp - t;
            errors_us.push_back(std::abs(static_cast<double>(error)) / 1e3);
            const bool clean = have_prev && clock.resyncs() == prev_resyncs &&
                               !(t >= jump_at_ns && t - k_sample_ns < jump_at_ns);
            if (clean) {
                if (stamp < prev_stamp)
                    r.stamps_monotonic = false;
                if (clock.synchronised()) {
                    const double ppm = std::abs(static_cast<double>(error - prev_error)) /
                                       static_cast<double>(k_sample_ns) * 1e6;
                    r.max_slew_ppm = std::max(r.max_slew_ppm, ppm);
                }
            }
            have_prev = true;
            prev_stamp = stamp;
            prev_error = error;
            prev_resyncs = clock.resyncs();
        }
    }

    if (!errors_us.empty()) {
        std::sort(errors_us.begin(), errors_us.end());
        const auto rank = [&](double q) {
            const auto n = static_cast<double>(errors_us.size());
            const auto i = static_cast<std::size_t>(std::ceil(q * n)) - 1;
            return errors_us[std::min(i, errors_us.size() - 1)];
        };
        r.offset_error_p50_us = rank(0.50);
        r.offset_error_p99_us = rank(0.99);
        r.offset_error_max_us = errors_us.back();
    }
    r.pongs_used = clock.pongs_used();
    r.bad_pongs = clock.bad_pongs();
    r.resyncs = clock.resyncs();
    return r;
}

} // namespace gno::client
