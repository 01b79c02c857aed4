#pragma once
// The performer's own voice, immediate (issue 6, --own-voice local): a FluidSynth of the
// client's own plays this player's keys straight into its output, while the server sends the
// player a mix-minus (control_link::send_mix with own 0). The default, --own-voice server,
// hears the own voice in the server's stream instead: a round trip and the jitter buffer
// later, but aligned with the ensemble (DESIGN.md §4).
//
// Threads. Keys come from any thread but the audio thread (the pattern player, the terminal
// keyboard, the MIDI forwarder, the page) through a pre-allocated spsc_ring; the producers
// take a mutex among themselves, held only for one slot write, which the audio thread never
// takes. The audio thread alone touches the synthesiser after start-up (render_add), so
// FluidSynth runs with synth.threadsafe-api = 0 and no lock of its own.
//
// Real-time notes. Everything is sized at start-up: the ring, the scratch blocks, the voices
// (FluidSynth allocates `polyphony` voices in new_fluid_synth; noteon takes a free one or
// steals one, and its event queue to the voice renderer is a fixed ring), the sample data
// (the one preset's samples, loaded when it is selected at start-up, and never unloaded while
// it stays selected, which it does). FluidSynth's log is silenced, so no failure inside it (a
// full voice pool, say) formats or writes anything. gno_client_alloc_tests counts allocations
// and frees around render_add (notes, chords past the polyphony, releases) to hold this.

#include "gno/client/key_source.hpp"
#include "gno/client/spsc_ring.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>

struct _fluid_synth_t;
struct _fluid_hashtable_t;

namespace gno::client {

/// The monitor's level against the server's own voice at own level 1: FluidSynth's synth.gain
/// is 0.5 here as on the node, times the node's default master gain (gno-server's 0.7), so the
/// local voice sounds as loud as the server would have played it.
inline constexpr float k_default_monitor_gain = 0.7f;

struct local_monitor_config {
    std::string soundfont; // an SF2 file (--soundfont)
    int bank = 0;          // 128: GM percussion
    int program = 0;
    int polyphony = 32; // voices; beyond, FluidSynth steals the oldest
    float gain = k_default_monitor_gain;
};

/// Start-up failure the user can fix (a missing or unreadable soundfont).
class local_monitor_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Totals, readable anywhere.
struct local_monitor_counters {
    std::atomic<std::uint64_t> events_queued{0};  // producers: into the ring
    std::atomic<std::uint64_t> events_dropped{0}; // producers: the ring was full
    std::atomic<std::uint64_t> events_applied{0}; // audio thread: played into the synthesiser
    static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
};

class local_monitor {
public:
    static constexpr std::size_t k_ring_events = 256; // queued keys between two periods
    static constexpr std::size_t k_block = 256;       // frames rendered per synthesiser call

    /// Start-up: creates the synthesiser (48 kHz, stereo, no reverb or chorus), loads the
    /// soundfont and selects bank/program. Throws local_monitor_error naming --soundfont.
    explicit local_monitor(const local_monitor_config& config);
    /// Main thread, once the audio thread no longer calls render_add.
    ~local_monitor();
    local_monitor(const local_monitor&) = delete;
    local_monitor& operator=(const local_monitor&) = delete;

    /// Any thread but the audio thread; never waits on the audio thread. A key that finds the
    /// ring full is dropped and counted. Velocity 0 is a key-up.
    void key_down(std::uint8_t key, std::uint8_t velocity) noexcept;
    void key_up(std::uint8_t key) noexcept;
    /// Any thread but the audio thread: releases every sounding note (after the keys queued
    /// before it). Never lost: a full ring makes it a flag the next period applies.
    void all_notes_off() noexcept;

    /// Audio thread, RT-safe: applies the queued keys, renders `n` frames and adds them, times
    /// the monitor gain, to what `left` and `right` already hold. Keys take effect at the
    /// period's first sample (the period is the monitor's timing grain).
    void render_add(float* left, float* right, std::size_t n) noexcept;

    [[nodiscard]] const local_monitor_counters& counters() const noexcept { return counters_; }

private:
    struct key_event {
        enum class kind : std::uint8_t { down, up, all_off };
        kind what = kind::down;
        std::uint8_t key = 0;
        std::uint8_t velocity = 0;
    };
    void push(key_event e) noexcept;
    void apply_events() noexcept; // audio thread

    _fluid_hashtable_t* settings_ = nullptr;
    _fluid_synth_t* synth_ = nullptr;
    float gain_;
    std::mutex producers_; // serialises the ring's producer side; never the audio thread
    spsc_ring<key_event, k_ring_events> ring_;
    std::atomic<bool> all_off_pending_{false}; // all_notes_off that found the ring full
    std::array<float, k_block> left_{};        // synthesiser output, audio thread only
    std::array<float, k_block> right_{};
    local_monitor_counters counters_;
};

/// Tees every key to the session's sink and, when `monitor` is not null, to the local monitor
/// first (it sounds at the next period; the sink's path takes a round trip). Solo requests and
/// instrument changes go to the session's sink only: the monitor keeps the instrument it
/// loaded at start-up (selecting another could load samples on the audio thread). Thread: as
/// the sink's.
class monitor_sink final : public key_sink {
public:
    monitor_sink(key_sink& sink, local_monitor* monitor) : sink_(sink), monitor_(monitor) {}
    void key_down(std::uint8_t key, std::uint8_t velocity, std::int64_t local_ns) override {
        if (monitor_ != nullptr)
            monitor_->key_down(key, velocity);
        sink_.key_down(key, velocity, local_ns);
    }
    void key_up(std::uint8_t key, std::int64_t local_ns) override {
        if (monitor_ != nullptr)
            monitor_->key_up(key);
        sink_.key_up(key, local_ns);
    }
    void solo_request(bool on) override { sink_.solo_request(on); }
    void program_change(std::uint8_t program, std::uint16_t bank) override {
        sink_.program_change(program, bank);
    }
    void articulation_change(articulation style) override { sink_.articulation_change(style); }

private:
    key_sink& sink_;
    local_monitor* monitor_;
};

} // namespace gno::client
