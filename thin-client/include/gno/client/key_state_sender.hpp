#pragma once
// The performer's whole key state and when to send it (DESIGN.md §3).
//
// Pure: no sockets, no clocks. The caller passes the (virtual or steady) time in ns and asks
// `poll(now)` whether a datagram is due; the network thread does exactly that. Schedule: on any
// change send at once, repeat at +5, +10 and +20 ms (cheap redundancy against a single loss),
// then every 50 ms (20 Hz) while nothing changes. Releases stay in the state for 500 ms.
// Thread: one owner (the network thread); not thread-safe.

#include <array>
#include <cstdint>
#include <gno/proto/v1/datagram.hpp>
#include <optional>

namespace gno::client {

inline constexpr std::int64_t k_ms = 1'000'000;
inline constexpr std::array<std::int64_t, 4> k_redundancy_offsets_ns = {0, 5 * k_ms, 10 * k_ms,
                                                                        20 * k_ms};
inline constexpr std::int64_t k_idle_interval_ns = 50 * k_ms;
inline constexpr std::int64_t k_release_keep_ns = 500 * k_ms;

/// Both stamps of a key event (DESIGN.md §4).
struct key_stamps {
    std::int64_t t_sync_ns = 0; // synchronised server time when the key moved
    std::int64_t r_heard = 0;   // render sample coming out of the speakers then (0 = unknown)
};

class key_state_sender {
public:
    /// Key goes down. A key already held is re-struck (new velocity and stamps). Beyond
    /// k_max_held keys the new key is ignored and false returned.
    bool note_on(std::uint8_t key, std::uint8_t velocity, key_stamps stamps, std::int64_t now_ns);
    /// Key goes up; it moves to the recent releases (kept k_release_keep_ns). False if not held.
    bool note_off(std::uint8_t key, key_stamps stamps, std::int64_t now_ns);
    /// Releases every held key (the state becomes "all notes off").
    void all_notes_off(key_stamps stamps, std::int64_t now_ns);
    /// Clears every held key's and release's stamps (to "unknown": the server plays them on
    /// arrival): they were on another server's clock (a re-join after a server restart).
    void forget_stamps() noexcept;

    void set_program(std::uint8_t program, std::uint16_t bank, std::int64_t now_ns);
    void set_sustain(std::uint8_t value, std::int64_t now_ns);
    void set_expression(std::uint8_t value, std::int64_t now_ns);
    /// Sets or clears k_solo_request in every state sent from now on (a change: sent at once).
    void set_solo_request(bool on, std::int64_t now_ns) noexcept;
    [[nodiscard]] bool solo_request() const noexcept {
        return (state_.flags & proto::v1::k_solo_request) != 0;
    }
    /// Sets or clears k_short_articulation in every state sent from now on (a change: sent at
    /// once). The server then ends each note shortly after its onset (staccato).
    void set_short_articulation(bool on, std::int64_t now_ns) noexcept;
    [[nodiscard]] bool short_articulation() const noexcept {
        return (state_.flags & proto::v1::k_short_articulation) != 0;
    }
    [[nodiscard]] std::uint8_t program() const noexcept { return state_.program; }
    [[nodiscard]] std::uint16_t bank() const noexcept { return state_.bank; }
    /// Link view; informational, does not trigger a redundant burst.
    void set_link(std::uint32_t rtt_us, std::uint16_t loss_permille) noexcept;

    /// If a send is due at `now_ns`, returns the state to send and advances the schedule.
    /// The first poll always sends (the client speaks first).
    std::optional<proto::v1::key_state> poll(std::int64_t now_ns);
    /// Time of the next due send.
    [[nodiscard]] std::int64_t next_deadline_ns() const noexcept;

    /// The state as it would be sent at `now_ns` (releases older than 500 ms pruned).
    [[nodiscard]] proto::v1::key_state snapshot(std::int64_t now_ns);

    [[nodiscard]] std::uint64_t sent_count() const noexcept { return sent_; }
    [[nodiscard]] std::size_t held_count() const noexcept { return state_.held_count; }

private:
    void changed(std::int64_t now_ns) noexcept;
    void set_flag(std::uint8_t flag, bool on, std::int64_t now_ns) noexcept;
    void prune_releases(std::int64_t now_ns) noexcept;
    void remove_release(std::uint8_t key) noexcept;

    proto::v1::key_state state_{};
    std::array<std::int64_t, proto::v1::k_max_released> released_local_ns_{};
    std::int64_t change_ns_ = 0;
    std::size_t burst_next_ = 0; // index into k_redundancy_offsets_ns; == size: burst done
    std::int64_t last_send_ns_ = 0;
    bool ever_sent_ = false;
    std::uint64_t sent_ = 0;
};

} // namespace gno::client
