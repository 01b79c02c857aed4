#pragma once
// Live key input from a JACK MIDI port. The JACK process callback parses each event and pushes
// it, stamped on the local steady clock, into `midi_input`'s pre-allocated ring; a
// `midi_forwarder` thread drains the ring into a key_sink. So nothing on the audio thread
// allocates, locks or blocks, and a key_sink may do all three.

#include "gno/client/key_source.hpp"
#include "gno/client/spsc_ring.hpp"

#include <atomic>
#include <bitset>
#include <chrono>
#include <cstdint>
#include <optional>
#include <semaphore.h>
#include <span>
#include <thread>

namespace gno::client {

/// Controller 80 (General Purpose 5): the articulation. 64..127 short, 0..63 sustained.
inline constexpr std::uint8_t k_cc_articulation = 80;

/// One MIDI message that plays keys or picks the instrument; everything else is ignored.
struct midi_message {
    enum class kind : std::uint8_t { note_on, note_off, all_notes_off, program, articulation };
    kind what = kind::note_off;
    std::uint8_t channel = 0;  // 0..15
    std::uint8_t key = 0;      // note messages
    std::uint8_t velocity = 0; // note-on: 1..127
    std::uint8_t value = 0;    // program: the program 0..127; articulation: CC 80's value
};

/// Parses one complete MIDI message as JACK delivers it (one message per event, no running
/// status), on any channel: note-on 0x9n (velocity 0 = note-off), note-off 0x8n, program
/// change 0xCn, and control change 0xBn with controller 123 (all notes off), 120 (all sound
/// off) or 80 (the articulation, k_cc_articulation). Note and control messages must be exactly
/// 3 bytes, a program change exactly 2, with data bytes below 0x80. Anything else (other
/// messages and controllers, bank select included: the channel picks the bank, see
/// midi_keys; short or over-long messages, a leading data byte, garbage) gives nullopt; never
/// reads past `bytes`. Thread: any, RT-safe.
std::optional<midi_message> parse_midi_message(std::span<const std::uint8_t> bytes) noexcept;

/// A parsed message with the local steady time (steady_now_ns's clock) it happened at.
struct midi_event {
    std::int64_t local_ns = 0;
    midi_message message;
};

/// Written by the JACK process thread, readable anywhere.
struct midi_counters {
    std::atomic<std::uint64_t> received{0}; // queued for the forwarder
    std::atomic<std::uint64_t> ignored{0};  // not a key message, or malformed
    std::atomic<std::uint64_t> dropped{0};  // the ring was full (the forwarder fell behind)
    static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
};

/// The inbox between the JACK process callback (the one producer) and a midi_forwarder (the
/// one consumer).
class midi_input {
public:
    static constexpr std::size_t k_capacity = 512; // ~0.5 s of a dense controller stream

    /// JACK process thread, RT-safe: parses one raw event and queues it stamped `local_ns`,
    /// or counts it as ignored or dropped.
    void receive(std::span<const std::uint8_t> bytes, std::int64_t local_ns) noexcept;

    /// Consumer thread: the oldest queued event, or nullopt when there is none.
    std::optional<midi_event> next() noexcept;
    /// Consumer thread: sleeps until an event is queued (or `wake`), at most `timeout`.
    void wait(std::chrono::milliseconds timeout) noexcept;
    /// Any thread: ends a `wait` now.
    void wake() noexcept { sem_post(&ready_); }

    midi_input();
    ~midi_input();
    midi_input(const midi_input&) = delete;
    midi_input& operator=(const midi_input&) = delete;

    /// Any thread.
    [[nodiscard]] const midi_counters& counters() const noexcept { return counters_; }

private:
    spsc_ring<midi_event, k_capacity> ring_;
    midi_counters counters_;
    // Posted by the process callback per event: sem_post never blocks and is async-signal-
    // safe, so the audio thread can wake the forwarder (which then sleeps instead of polling).
    sem_t ready_{};
};

/// Turns MIDI events into key movements and instrument changes, and remembers which keys it
/// holds, so an all-notes-off or the end releases exactly those. Keys are merged across
/// channels: a note-off on any channel releases the key. A key-up for a key not held is not
/// forwarded; a note-on for a held key is (a re-strike). A program change sets the program:
/// on channel 10 (the GM percussion channel) it picks a kit (bank 128), on any other channel a
/// GM instrument (bank 0). CC 80 >= 64 switches to the short articulation, < 64 back to
/// sustained. Thread: one thread at a time (the forwarder's).
class midi_keys {
public:
    void apply(const midi_event& event, key_sink& sink);
    /// Releases every held key, stamped `local_ns`.
    void release_all(key_sink& sink, std::int64_t local_ns);
    [[nodiscard]] bool held(std::uint8_t key) const { return held_.test(key & 0x7F); }

private:
    std::bitset<128> held_;
};

/// Drains a midi_input into a key_sink on its own thread, woken by each event (nothing runs
/// while no MIDI comes; the stamp is the event's own time), from construction until stop().
/// Stopping releases the keys MIDI still holds.
class midi_forwarder {
public:
    static constexpr auto k_wait =
        std::chrono::milliseconds(200); // re-checks stop at least this often

    /// Main thread: starts forwarding. `input` and `sink` must outlive this object.
    midi_forwarder(midi_input& input, key_sink& sink);
    /// Main thread: stop().
    ~midi_forwarder();
    midi_forwarder(const midi_forwarder&) = delete;
    midi_forwarder& operator=(const midi_forwarder&) = delete;

    /// Main thread: forwards what is queued, releases held keys, joins (idempotent).
    void stop();

private:
    void run();

    midi_input& input_;
    key_sink& sink_;
    midi_keys keys_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

} // namespace gno::client
