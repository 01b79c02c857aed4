#pragma once
// Performance logs (DESIGN.md §6, the archive): every player's key events as a Standard MIDI
// File, and the node's own decisions that shape the audience mix, so that
// `gno-server render LOG…` re-renders the performance offline to the same samples.
//
// The render thread journals what it does, in order, into a ring (log_record): a player joins or
// leaves a slot, an event is put in a player's queue (with the sample it is due at), the
// conductor mutes a player, a solo cycle is set, the synthesiser degrades under load, the clock
// skips frames. A writer thread turns the journal into files in one directory:
//   - node.mid: the node's configuration and decisions, as meta events at their frame;
//   - slot-S-N.mid: one per player session (slot S, the node's N-th join), its note, program and
//     controller events on channel 1 (channel 10 for the GM percussion kit) at the sample they
//     sounded, each after a sequencer-specific meta event with its journal number and the frame
//     it was queued in.
// One tick is one sample (24000 ticks per quarter at 500000 µs: 48000 ticks a second), tick 0 is
// the node's first rendered frame, so every file lines up in a sequencer.
//
// Crash-safe: each file is rewritten up to its last second (track length patched, end-of-track
// appended) about once a second, so a killed server leaves valid MIDI files to there.
//
// Replaying the journal in order through the same render engine gives the same stems and the
// same audience mix, sample for sample (render_engine::replay_frame).
//
// Thread: the writer's own thread; the ring's producer is the render thread. load_perf_log and
// replay: any thread, offline (they allocate and do I/O).

#include "gno/render/config.hpp"
#include "gno/render/counters.hpp"
#include "gno/render/key_reconciler.hpp"
#include "gno/render/spsc_ring.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace gno::render {

/// One thing the render thread did that the audience mix depends on.
struct log_record {
    enum class kind : std::uint8_t {
        start,   // the first frame (frame)
        gap,     // frames were skipped: the next one rendered is `frame`
        join,    // a player joined `slot`
        leave,   // the player left `slot`: its queue is cleared, its stem leaves the mix
        push,    // `ev` was queued for `slot`, due at sample `at`
        mute,    // the conductor (un)muted `slot` (value 1/0)
        solo,    // the soloist is `slot` (-1: none) from `at` to `until`, boosted by `gain`
        degrade, // the synthesiser's overload level is `value` from this frame on
        lost,    // `value` records could not be journaled (the ring was full)
        end,     // the last frame rendered (frame)
    };
    kind what = kind::start;
    std::int32_t slot = -1;
    std::int32_t value = 0;
    std::uint64_t seq = 0;  // journal order: the render thread's own order of doing things
    std::int64_t frame = 0; // render sample of the frame it happened in
    std::int64_t at = 0;
    std::int64_t until = 0;
    float gain = 1.0f;
    note_event ev{}; // push (its stamps are not kept)
};

class perf_log_writer {
public:
    /// Creates `dir` (if needed) and node.mid; throws std::runtime_error naming the directory
    /// when it cannot be written. `cfg` is written into node.mid for the re-render.
    perf_log_writer(const std::string& dir, const server_config& cfg, spsc_ring<log_record>& ring,
                    node_counters& counters);
    ~perf_log_writer();
    perf_log_writer(const perf_log_writer&) = delete;
    perf_log_writer& operator=(const perf_log_writer&) = delete;

    /// Drains the ring and completes every file. Idempotent. Call after rendering has stopped.
    void stop();

private:
    struct midi_file;
    void run();
    void drain();
    void take(const log_record& r);
    void flush(bool all);

    std::string dir_;
    spsc_ring<log_record>& ring_;
    node_counters& counters_;
    int sample_rate_;
    std::unique_ptr<midi_file> node_;
    std::map<int, std::unique_ptr<midi_file>> players_; // by slot: the session in it now
    std::vector<std::unique_ptr<midi_file>> closed_;    // sessions whose slot was taken again
    std::uint64_t sessions_ = 0;
    std::int64_t origin_ = -1;     // render sample of tick 0
    std::int64_t last_frame_ = -1; // latest frame journaled
    std::uint64_t next_seq_ = 0;   // one past the latest record's number
    std::string perf_id_;          // ties the performance's files together
    std::string tempo_;            // the tempo meta's data: one tick per sample
    std::atomic<bool> stopping_{false};
    bool stopped_ = false;
    std::thread thread_;
};

/// A performance, as read back from its logs: the node's configuration and the journal.
struct perf_log {
    server_config cfg; // rate, frame, slots, banks, soundfont, gain as the node had them
    std::int64_t first_frame = 0;
    std::int64_t last_frame = -1;    // from the end record; -1 when the node died before writing it
    std::vector<log_record> records; // in journal order
    std::uint64_t lost = 0;          // records the node could not journal: the re-render differs
    std::vector<std::string> files;  // what was read
};

/// Reads node.mid and the players' files. Each path is a file or a directory (its *.mid).
/// Throws std::runtime_error naming the file and the problem.
perf_log load_perf_log(const std::vector<std::string>& paths);

/// Re-renders the audience mix: calls `frame(r, interleaved stereo)` for every frame the node
/// rendered, from the first to the last (or, without an end record, to `tail_s` seconds after
/// the last logged event). `threads`: the render crew (0: one per core). Returns frames rendered.
std::uint64_t replay(const perf_log& log, const std::string& soundfont_override, int threads,
                     double tail_s,
                     const std::function<void(std::int64_t, std::span<const float>)>& frame);

} // namespace gno::render
