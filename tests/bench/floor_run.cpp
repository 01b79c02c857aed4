#include "floor_run.hpp"

#include "gno/render/counters.hpp"
#include "gno/render/render_clock.hpp"
#include "gno/render/work_crew.hpp"
#include "proc_stats.hpp"
#include "report.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <vector>

namespace gno::bench {
namespace {

constexpr int k_sample_rate = 48000;
constexpr int k_items = 64; // items per frame, as a few hundred mixes or a few dozen banks

std::atomic<double> sink{0};

// A dependent chain of multiply-adds: its time is the core's, not memory's.
void arithmetic(std::int64_t iterations) noexcept {
    double a = 1.0;
    for (std::int64_t i = 0; i < iterations; ++i)
        a = a * 1.0000001 + 1e-9;
    sink.store(a, std::memory_order_relaxed);
}

// Iterations per microsecond: the fastest of a few 20 ms trials (a trial the machine slowed
// down would make the loop's work too small).
double iterations_per_us() {
    constexpr std::int64_t trial = 4'000'000;
    double best_ns = 1e18;
    for (int i = 0; i < 7; ++i) {
        const auto t0 = render::monotonic_ns();
        arithmetic(trial);
        best_ns = std::min(best_ns, static_cast<double>(render::monotonic_ns() - t0));
    }
    return static_cast<double>(trial) / (best_ns / 1000.0);
}

} // namespace

std::string floor_result::json() const {
    std::ostringstream o;
    o << "{\"bench\":\"floor\",\"work_us_per_thread\":" << fmt(work_us)
      << ",\"threads\":" << threads << ",\"realtime\":" << (realtime ? "true" : "false")
      << ",\"seconds\":" << fmt(seconds, 4) << ",\"frames\":" << fmt(frames)
      << ",\"late_frames\":" << fmt(late_frames) << ",\"skipped_frames\":" << fmt(skipped_frames)
      << ",\"block_time_p50_us\":" << fmt(block_time_p50_us)
      << ",\"block_time_p99_us\":" << fmt(block_time_p99_us)
      << ",\"block_time_max_us\":" << fmt(block_time_max_us)
      << ",\"wake_late_p99_us\":" << fmt(wake_late_p99_us)
      << ",\"wake_late_max_us\":" << fmt(wake_late_max_us) << "}";
    return o.str();
}

floor_result run_floor(const floor_params& p) {
    floor_result res;
    res.work_us = p.work_us;
    res.threads = p.threads > 0 ? p.threads : available_cores();
    const double per_us = iterations_per_us();
    // The whole frame's work, cut into items the members take from a shared counter.
    const auto item_iterations =
        static_cast<std::int64_t>(std::llround(per_us * p.work_us * res.threads / k_items));

    render::node_counters counters;
    render::render_clock clock(k_sample_rate, p.frame_samples, counters);
    std::string why;
    res.realtime = render::render_clock::try_realtime_priority(why);
    render::work_crew crew(res.threads, res.realtime);
    res.realtime = res.realtime && crew.realtime_refused() == 0;

    const auto period_ns = std::int64_t{p.frame_samples} * 1'000'000'000 / k_sample_rate;
    const auto frames = static_cast<std::size_t>(p.seconds * 1e9 / static_cast<double>(period_ns));
    std::vector<std::int64_t> block_us, wake_us;
    block_us.reserve(frames + 1);
    wake_us.reserve(frames + 1);
    std::stop_source stop;
    const auto t0 = render::monotonic_ns();
    clock.run(stop.get_token(), [&](std::int64_t r, std::int64_t start) noexcept {
        render::work_items items(k_items);
        auto job = [&](int) noexcept {
            while (items.next() >= 0)
                arithmetic(item_iterations);
        };
        crew.run(job);
        const std::int64_t due = r / p.frame_samples * period_ns;
        wake_us.push_back((start - due) / 1000);
        block_us.push_back((clock.now_ns() - start) / 1000);
        if (block_us.size() >= frames)
            stop.request_stop();
    });
    res.seconds = static_cast<double>(render::monotonic_ns() - t0) / 1e9;
    res.frames = static_cast<double>(block_us.size());
    res.late_frames = static_cast<double>(counters.late_frames.load());
    res.skipped_frames = static_cast<double>(counters.skipped_frames.load());
    res.block_time_p50_us = percentile(block_us, 0.5);
    res.block_time_p99_us = percentile(block_us, 0.99);
    res.block_time_max_us = percentile(block_us, 1.0);
    res.wake_late_p99_us = percentile(wake_us, 0.99);
    res.wake_late_max_us = percentile(wake_us, 1.0);
    return res;
}

} // namespace gno::bench
