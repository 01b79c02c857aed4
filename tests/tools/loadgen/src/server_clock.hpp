#pragma once
// Where the server's clock is, seen from this machine's CLOCK_MONOTONIC.
//
// gno-server's time is CLOCK_MONOTONIC minus its epoch, so with --epoch-ns the offset is exact.
// Without it, a short ping/pong exchange with one session estimates it from the sample with
// the smallest round trip (on loopback a few µs: far better than the stamps need). The server
// answers pings only from the address of a player that is streaming, so the session first
// sends a key state, as a real client does.
// Thread: the load generator's thread, at start-up.

#include "udp_batch.hpp"

#include <atomic>
#include <cstdint>
#include <gno/proto/v1/auth.hpp>
#include <optional>

namespace gno::loadgen {

struct clock_estimate {
    std::int64_t offset_ns = 0; // server time = local monotonic time + offset
    std::int64_t rtt_ns = 0;    // of the sample used
    int pongs = 0;
    std::uint32_t key_states_sent = 0; // sequence numbers used by the session's key states
    std::uint32_t pings_sent = 0;      // and by its pings
};

/// Pings as `session_id` through `socket` (after an empty key state with `program`) until
/// enough pongs came back, `timeout_ns` passed or `stop` is set. nullopt without any pong.
/// Every datagram other than a pong for `session_id` is read and ignored.
[[nodiscard]] std::optional<clock_estimate>
estimate_server_clock(shared_socket& socket, receive_batch& batch, std::uint32_t session_id,
                      const proto::v1::session_key& key, std::uint8_t program,
                      std::int64_t timeout_ns, const std::atomic<bool>& stop);

} // namespace gno::loadgen
