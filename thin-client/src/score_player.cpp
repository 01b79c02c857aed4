#include "gno/client/score_player.hpp"

#include "gno/client/playout.hpp"
#include "gno/client/server_link.hpp"
#include "gno/client/steady_time.hpp"

#include <algorithm>
#include <bitset>
#include <chrono>
#include <thread>

namespace gno::client {

namespace v1 = proto::v1;

std::int64_t live_score_timeline::now_ns() {
    return steady_now_ns();
}

timing_inputs live_timing_inputs(const link_timing& timing, const playout& audio) {
    timing_inputs in;
    in.player = timing.player.load();
    in.server_clock = timing.server_clock.load();
    in.heard = audio.heard_anchor();
    return in;
}

timing_inputs live_score_timeline::inputs() {
    return live_timing_inputs(timing_, audio_);
}

void live_score_timeline::sleep_until(std::int64_t deadline_ns, std::int64_t max_ns) {
    const std::int64_t start = steady_now_ns();
    const std::int64_t until = std::min(deadline_ns, start + max_ns);
    const std::int64_t left = until - start;
    if (left <= 0)
        return;
    if (until == deadline_ns && left <= k_spin_ns) {
        // The last stretch: OS sleeps overshoot by 50-100 µs, so yield until the deadline.
        while (steady_now_ns() < until)
            std::this_thread::yield();
        return;
    }
    // Wake k_spin_ns early when the deadline is the target; the caller re-evaluates then.
    const std::int64_t sleep = until == deadline_ns ? left - k_spin_ns : left;
    std::this_thread::sleep_for(std::chrono::nanoseconds(local_to_real_duration_ns(sleep)));
}

namespace {

constexpr std::int64_t k_not_ready_poll_ns = 5'000'000;

bool stopped(const std::atomic<bool>& stop) noexcept {
    return stop.load(std::memory_order_relaxed);
}

} // namespace

std::string wait_for_piece_start(score_timeline& timeline, std::int64_t timeout_ns,
                                 const std::atomic<bool>& stop) {
    const std::int64_t give_up = timeline.now_ns() + timeout_ns;
    while (!stopped(stop)) {
        const timing_inputs in = timeline.inputs();
        const std::int64_t now = timeline.now_ns();
        const auto pos = score_at(in, now);
        if (pos && pos->has_piece_start)
            return {};
        if (now >= give_up) {
            const double s = static_cast<double>(timeout_ns) / 1e9;
            char buf[256];
            if (!in.player.received)
                std::snprintf(buf, sizeof buf,
                              "--at-piece-start: no player_info from the server within %.0f s; "
                              "is a gno-server with timing modes running at --server?",
                              s);
            else if (in.player.info.piece_start < 0)
                std::snprintf(buf, sizeof buf,
                              "--at-piece-start: the server announced no piece start within "
                              "%.0f s; start the piece on the server first",
                              s);
            else if (in.player.info.mode == v1::timing_mode::one_cycle)
                std::snprintf(buf, sizeof buf,
                              "--at-piece-start: no audio heard from the server within %.0f s; "
                              "one-cycle mode follows the heard mix",
                              s);
            else
                std::snprintf(buf, sizeof buf,
                              "--at-piece-start: no clock estimate within %.0f s (no pong from "
                              "the server)",
                              s);
            return buf;
        }
        timeline.sleep_until(now + k_not_ready_poll_ns, k_not_ready_poll_ns);
    }
    return {};
}

bool wait_for_score(score_timeline& timeline, std::int64_t score_ns, const std::atomic<bool>& stop,
                    std::int64_t timeout_ns) {
    std::int64_t unavailable_since = -1;
    while (!stopped(stop)) {
        const timing_inputs in = timeline.inputs();
        const std::int64_t now = timeline.now_ns();
        const auto deadline = local_time_at_score(in, score_ns);
        if (!deadline) {
            if (unavailable_since < 0)
                unavailable_since = now;
            else if (now - unavailable_since >= timeout_ns)
                return false;
            timeline.sleep_until(now + k_not_ready_poll_ns, k_not_ready_poll_ns);
            continue;
        }
        unavailable_since = -1;
        if (*deadline <= now)
            return true;
        timeline.sleep_until(*deadline, k_recheck_ns);
    }
    return false;
}

score_play_result play_pattern_on_score(const note_pattern& pattern, score_timeline& timeline,
                                        key_sink& sink, const std::atomic<bool>& stop) {
    score_play_result result;
    std::bitset<128> held;
    std::int64_t join_score = 0;
    if (const auto pos = score_at(timeline.inputs(), timeline.now_ns());
        pos && pos->has_piece_start)
        join_score = pos->score_ns - k_late_join_grace_ns;
    bool reached_all = true;
    for (const auto& e : pattern.events) {
        if (e.offset_ns < join_score && e.on) {
            ++result.skipped; // joined after it; its key-up is skipped as not held
            continue;
        }
        if (!e.on && !held.test(e.key)) {
            ++result.skipped; // the key-up of a skipped key-down (or a stray one)
            continue;
        }
        if (!wait_for_score(timeline, e.offset_ns, stop, k_piece_start_timeout_ns)) {
            reached_all = false;
            break;
        }
        const std::int64_t now = timeline.now_ns();
        if (const auto deadline = local_time_at_score(timeline.inputs(), e.offset_ns);
            deadline && now - *deadline > k_late_press_ns)
            ++result.late;
        if (e.on) {
            sink.key_down(e.key, e.velocity, now);
            held.set(e.key);
        } else {
            sink.key_up(e.key, now);
            held.reset(e.key);
        }
        ++result.pressed;
    }
    result.complete = reached_all && !stopped(stop);
    const std::int64_t now = timeline.now_ns();
    for (std::size_t k = 0; k < held.size(); ++k)
        if (held.test(k))
            sink.key_up(static_cast<std::uint8_t>(k), now);
    return result;
}

} // namespace gno::client
