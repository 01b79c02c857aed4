#pragma once
// The client's UDP side: one socket, one network thread (Boost.Asio).
//
// Sends the key state on the key_state_sender's schedule and clock pings on the
// clock_estimator's; receives audio frames (pushed whole into the playout's jitter buffer ring)
// and pongs (fed to the clock estimator). Key events from the input thread are posted onto the
// network thread, which stamps them (t_sync from the clock estimate, r_heard from the playout)
// and applies them to the sender. Bad datagrams are dropped and counted, never thrown.
// The server's player_info and a linearised clock estimate are published as seqlock snapshots
// (`timing()`) for the pattern, status and audio threads.

#include "gno/client/instrument.hpp"
#include "gno/client/playout.hpp"
#include "gno/client/score_clock.hpp"
#include "gno/client/seqlock.hpp"
#include "gno/proto/v1/auth.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace gno::client {

struct link_config {
    std::string host = "127.0.0.1";
    std::uint16_t port = 47000;
    std::uint32_t session_id = 1;
    proto::v1::session_key key{}; // tags our datagrams; the server's are checked with it
    std::uint8_t program = 0;
    std::uint16_t bank = 0;
    bool solo_request = false; // k_solo_request in every key state from the start
    articulation style = articulation::sustained; // k_short_articulation from the start
};

/// Totals, written by the network thread, readable anywhere.
struct link_counters {
    std::atomic<std::uint64_t> key_state_sent{0};
    std::atomic<std::uint64_t> pings_sent{0};
    std::atomic<std::uint64_t> pongs_received{0};
    std::atomic<std::uint64_t> datagrams_bad{0};    // undecodable or for another session
    std::atomic<std::uint64_t> datagrams_forged{0}; // of which the tag did not check out
    std::atomic<std::uint64_t> send_errors{0};
    std::atomic<std::uint64_t> notes_on{0};
    std::atomic<std::uint64_t> notes_off{0};
    std::atomic<std::uint32_t> rtt_us{0};
    std::atomic<std::uint64_t> player_info_received{0};
    std::atomic<std::uint64_t> player_info_bad{0}; // undecodable, implausible or not ours
    std::atomic<std::uint32_t> session_id{0};      // the id in use
    std::atomic<std::uint32_t> instrument{0};      // instrument::packed() of what key states carry
    std::atomic<std::uint64_t> session_switches{0};
};

/// Published by the network thread (the only writer), read anywhere; `try_load` is RT-safe.
struct link_timing {
    seqlock<player_timing> player;          // the latest player_info
    seqlock<server_clock_map> server_clock; // the clock estimate, linearised at its update
};

class server_link {
public:
    /// Start-up: resolves the server and opens the socket. Throws std::runtime_error with a
    /// message naming the fix.
    server_link(const link_config& config, playout& audio);
    ~server_link();
    server_link(const server_link&) = delete;
    server_link& operator=(const server_link&) = delete;

    /// Main thread: starts the network thread (sending begins at once: the client speaks first).
    void start();
    /// Any thread: a key moved at local steady time `local_ns`.
    void key_down(std::uint8_t key, std::uint8_t velocity, std::int64_t local_ns);
    void key_up(std::uint8_t key, std::int64_t local_ns);
    /// Any thread: releases every key; the change goes out at once and redundantly.
    void all_notes_off();
    /// Any thread: sets or clears k_solo_request in the key state (sent at once).
    void set_solo_request(bool on);
    /// Any thread: the program and bank every key state carries from now on (sent at once;
    /// the server changes the instrument for the notes struck after it).
    void set_program(std::uint8_t program, std::uint16_t bank);
    /// Any thread: sets (short) or clears (sustained) k_short_articulation (sent at once).
    void set_articulation(articulation style);
    /// Any thread: the instrument the key states carry now (once the network thread has
    /// applied a change, so what the server is told, not what was merely asked for).
    [[nodiscard]] instrument current_instrument() const noexcept;
    /// Any thread: from now on speak as session `id` (a re-join gave a new player id). The old
    /// session gets one "all notes off" state; the new one gets the whole held state at once
    /// (DESIGN.md §3: a state is complete, so the new session is consistent from its first
    /// packet). The clock estimate and player_info restart: a new id may be a new server.
    /// `key`: the new session's (from the welcome).
    void switch_session(std::uint32_t id, const proto::v1::session_key& key);
    /// Any thread: key states and pings go to `host`:`port` from now on, and only its datagrams
    /// are taken (another node of the mesh, gno-client --directory); a switch_session follows.
    /// Resolves on the calling thread; false (nothing changed) when `host` does not resolve.
    bool move_to(const std::string& host, std::uint16_t port);
    /// Main thread: stops and joins the network thread (idempotent).
    void stop();

    [[nodiscard]] const link_counters& counters() const noexcept;
    /// Any thread: the published player_info and clock estimate.
    [[nodiscard]] const link_timing& timing() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace gno::client
