#pragma once
// One simulated performer: which notes it holds, and when its whole key state is due.
//
// The send schedule is the real client's (thin-client key_state_sender): on a change send at
// once, repeat at +5, +10 and +20 ms, then every 50 ms while nothing changes; releases stay in
// the state for 500 ms. A flooding player sends each state `copies` times, each its own
// datagram with its own sequence number: that many times the normal rate, in bursts, as a client
// stuck in a send loop would (and independent of the load generator's 1 ms tick).
// Compact on purpose (at most two held keys and eight recent releases) so two thousand players
// stay in cache. Pure: no sockets, no clocks; times come in as arguments.
// Thread: the load generator's thread; not thread-safe.

#include <array>
#include <cstdint>
#include <gno/proto/v1/datagram.hpp>
#include <limits>

namespace gno::loadgen {

inline constexpr std::int64_t k_ms = 1'000'000;
inline constexpr std::int64_t k_chord_period_ns = 250 * k_ms;
inline constexpr std::array<std::int64_t, 4> k_repeat_offsets_ns = {0, 5 * k_ms, 10 * k_ms,
                                                                    20 * k_ms};
inline constexpr std::int64_t k_idle_interval_ns = 50 * k_ms;
inline constexpr std::int64_t k_release_keep_ns = 500 * k_ms;
inline constexpr std::int64_t k_never = std::numeric_limits<std::int64_t>::max();
inline constexpr std::size_t k_max_chord = 2;
// Two chord changes fit in the 500 ms a release is kept: four releases, with room to spare.
inline constexpr std::size_t k_max_recent_releases = 8;

/// splitmix64: tiny, seedable and the same everywhere (std distributions are not portable).
class seeded_random {
public:
    explicit seeded_random(std::uint64_t seed) noexcept : state_(seed) {}
    std::uint64_t next() noexcept {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    /// Uniform in lo..hi (inclusive); the modulo bias is irrelevant at these ranges.
    int between(int lo, int hi) noexcept {
        return lo + static_cast<int>(next() % static_cast<std::uint64_t>(hi - lo + 1));
    }

private:
    std::uint64_t state_;
};

/// Both stamps of a key movement (DESIGN.md §4), as the real client takes them.
struct key_stamps {
    std::int64_t t_sync_ns = 0; // estimated server time when the key moved
    std::int64_t r_heard = 0;   // render sample of the newest frame heard (0 = none yet)
};

struct player_setup {
    std::uint32_t session_id = 0;
    std::uint8_t program = 0;
    std::uint64_t seed = 0;
    std::int64_t join_ns = 0;        // local time of the first key state
    std::int64_t chord_phase_ns = 0; // chord changes at phase + k * 250 ms (local time)
    int copies = 1;                  // datagrams per due key state; > 1: a flooding player
    std::uint32_t first_sequence = 0;
};

class simulated_player {
public:
    static constexpr int k_lowest_key = 48;
    static constexpr int k_highest_key = 76;

    explicit simulated_player(const player_setup& setup) noexcept;

    /// Local time of the next thing this player does: join, change its chord or send.
    [[nodiscard]] std::int64_t next_due_ns() const noexcept;

    /// Does what is due at `now_ns`: joins (pressing its first chord), changes the chord (stamped
    /// with `stamps`) and, if a send is due, writes the whole state to `out` and returns true.
    bool on_due(std::int64_t now_ns, key_stamps stamps, proto::v1::key_state& out) noexcept;

    /// End of the run: releases every held key and writes the state to `out`; false if the
    /// player never joined (nothing to release). The player does nothing afterwards.
    bool release_all(std::int64_t now_ns, key_stamps stamps, proto::v1::key_state& out) noexcept;

    /// The header sequence number for the next key-state datagram.
    std::uint32_t take_sequence() noexcept { return sequence_++; }

    [[nodiscard]] std::uint32_t session_id() const noexcept { return session_id_; }
    [[nodiscard]] std::uint8_t program() const noexcept { return program_; }
    [[nodiscard]] bool joined() const noexcept { return joined_; }
    [[nodiscard]] bool flooding() const noexcept { return copies_ > 1; }
    /// Datagrams to send for each key state on_due or release_all writes.
    [[nodiscard]] int copies() const noexcept { return copies_; }
    [[nodiscard]] std::int64_t join_ns() const noexcept { return join_ns_; }
    [[nodiscard]] std::uint64_t chords() const noexcept { return chords_; }
    /// Key states this player produced (on_due and release_all returning true).
    [[nodiscard]] std::uint64_t key_states() const noexcept { return key_states_; }

private:
    [[nodiscard]] std::int64_t next_send_ns() const noexcept;
    void change_chord(std::int64_t now_ns, key_stamps stamps) noexcept;
    void press(std::uint8_t key, std::uint8_t velocity, key_stamps stamps) noexcept;
    void release(std::uint8_t key, key_stamps stamps, std::int64_t now_ns) noexcept;
    void prune_releases(std::int64_t now_ns) noexcept;
    void changed(std::int64_t now_ns) noexcept;
    void write_state(proto::v1::key_state& out) const noexcept;

    seeded_random random_;
    std::array<proto::v1::held_key, k_max_chord> held_{};
    std::array<proto::v1::released_key, k_max_recent_releases> released_{};
    std::array<std::int64_t, k_max_recent_releases> released_local_ns_{};
    std::int64_t join_ns_;
    std::int64_t chord_phase_ns_;
    std::int64_t next_chord_ns_ = k_never;
    std::int64_t change_ns_ = 0;
    std::int64_t last_send_ns_ = 0;
    std::uint64_t chords_ = 0;
    std::uint64_t key_states_ = 0;
    std::uint32_t session_id_;
    std::uint32_t sequence_;
    std::uint8_t held_count_ = 0;
    std::uint8_t released_count_ = 0;
    std::uint8_t burst_next_ = 0; // index into k_repeat_offsets_ns; == size: burst done
    std::uint8_t program_;
    int copies_;
    bool joined_ = false;
    bool finished_ = false;
};

} // namespace gno::loadgen
