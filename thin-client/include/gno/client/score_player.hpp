#pragma once
// Plays a pattern against the server-announced piece start (--at-piece-start): an event at
// pattern time T is pressed when the player's score clock (score_clock.hpp) reaches T, so it
// renders at piece_start + T in every timing mode.
//
// The local deadline of each event is computed from the current mapping
// (local_time_at_score), slept towards in chunks of at most k_recheck_ns and re-computed after
// every wake-up, so a new clock estimate, advance or heard-audio anchor moves the deadline
// instead of being noticed late. Time comes from a score_timeline: the client's real one, or a
// virtual one in tests.
// Thread: the input thread that paces patterns (sleeps; allocates only in the result).

#include "gno/client/key_source.hpp"
#include "gno/client/score_clock.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace gno::client {

class playout;
struct link_timing;

/// Where the pattern thread gets time and the score clock's inputs from.
class score_timeline {
public:
    virtual ~score_timeline() = default;
    /// Local time, ns (the client's steady_now_ns).
    virtual std::int64_t now_ns() = 0;
    /// A consistent copy of the score clock's inputs as of now.
    virtual timing_inputs inputs() = 0;
    /// Sleeps until local `deadline_ns`, or for at most `max_ns`, whichever comes first; may
    /// return a little early (the caller re-evaluates and calls again).
    virtual void sleep_until(std::int64_t deadline_ns, std::int64_t max_ns) = 0;
};

/// The client's real timeline: steady_now_ns, the server link's published timing and the
/// playout's heard anchor. Sleeps with the OS timer until k_spin_ns before a deadline, then
/// yields in a loop, so presses land within a few µs of their deadline on an idle machine.
/// One consistent copy of the live inputs of the score clock: the link's latest player_info
/// and clock estimate, and what the playout hears. Thread: any but the audio thread.
[[nodiscard]] timing_inputs live_timing_inputs(const link_timing& timing, const playout& audio);

class live_score_timeline final : public score_timeline {
public:
    static constexpr std::int64_t k_spin_ns = 400'000;
    live_score_timeline(const link_timing& timing, const playout& audio) noexcept
        : timing_(timing), audio_(audio) {}
    std::int64_t now_ns() override;
    timing_inputs inputs() override;
    void sleep_until(std::int64_t deadline_ns, std::int64_t max_ns) override;

private:
    const link_timing& timing_;
    const playout& audio_;
};

inline constexpr std::int64_t k_recheck_ns = 20'000'000;                 // re-read the mapping
inline constexpr std::int64_t k_piece_start_timeout_ns = 10'000'000'000; // --at-piece-start
inline constexpr std::int64_t k_late_join_grace_ns = 50'000'000; // older key-downs are skipped
inline constexpr std::int64_t k_late_press_ns = 1'000'000;       // counted as late beyond this

/// Waits until the score clock can be evaluated with a piece start, at most `timeout_ns`.
/// Returns an empty string when ready (or stopped), otherwise a one-line error saying what
/// never arrived (piece start, clock estimate, heard audio).
std::string wait_for_piece_start(score_timeline& timeline, std::int64_t timeout_ns,
                                 const std::atomic<bool>& stop);

/// Sleeps until the score clock reaches `score_ns`. False if stopped, or if the score clock
/// stayed unavailable for `timeout_ns` (e.g. the heard audio stopped in one-cycle mode).
bool wait_for_score(score_timeline& timeline, std::int64_t score_ns, const std::atomic<bool>& stop,
                    std::int64_t timeout_ns);

struct score_play_result {
    std::size_t pressed = 0; // key events sent
    std::size_t skipped = 0; // key-downs already past (joined late) and their key-ups
    std::size_t late = 0;    // pressed more than k_late_press_ns after their deadline
    bool complete = false;   // every event was reached (not stopped, clock not lost)
};

/// Plays `pattern` into `sink`: each event when the score clock reaches its offset, stamped
/// with the local time of the press instant. Key-downs more than k_late_join_grace_ns behind
/// the score clock when playing begins are skipped. Call after wait_for_piece_start. Releases
/// any keys it holds before returning.
score_play_result play_pattern_on_score(const note_pattern& pattern, score_timeline& timeline,
                                        key_sink& sink, const std::atomic<bool>& stop);

} // namespace gno::client
