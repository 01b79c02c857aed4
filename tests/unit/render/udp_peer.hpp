#pragma once
// A player's (or an attacker's) UDP socket for tests of the node's network thread (udp_io):
// builds key states and pings for a session, sealed with a key or not, sends them from a
// chosen loopback address, and reads what the node sends back.

#include "gno/proto/v1/auth.hpp"
#include "gno/proto/v1/datagram.hpp"
#include "gno/render/render_clock.hpp"
#include "gno/test/loopback_udp.hpp"
#include "gno/test/udp_secret.hpp"

#include <gtest/gtest.h>
#include <optional>
#include <span>
#include <vector>

namespace gno::test {

class udp_peer {
public:
    /// A socket bound to `local_ip` (any port) that talks to the node at 127.0.0.1:port as
    /// `session`, keyed from the test secret.
    udp_peer(std::uint16_t port, std::uint32_t session, const char* local_ip = "127.0.0.1")
        : socket_(port, local_ip), session_(session), key_(udp_session_key(session)) {}

    /// A key state datagram with the next sequence number, sealed with `key` (the session's
    /// own by default; nullopt: tag-less).
    std::vector<std::byte> key_state(const proto::v1::key_state& s = {},
                                     std::optional<proto::v1::session_key> key = {},
                                     bool sealed = true) {
        proto::v1::header h;
        h.session_id = session_;
        h.sequence = ++sequence_;
        h.timestamp_ns = render::monotonic_ns();
        return finish(h, s, key, sealed);
    }
    std::vector<std::byte> ping() {
        proto::v1::header h;
        h.session_id = session_;
        h.sequence = ++ping_sequence_;
        h.timestamp_ns = render::monotonic_ns();
        return finish(h, proto::v1::clock_ping{h.timestamp_ns}, std::nullopt, true);
    }

    void send(std::span<const std::byte> d) { socket_.send(d); }
    /// An empty key state, sealed, with the next sequence.
    void send_state() { send(key_state()); }

    /// Every datagram that has arrived (non-blocking).
    std::vector<std::vector<std::byte>> receive() {
        std::vector<std::vector<std::byte>> got;
        socket_.receive(
            [&](std::span<const std::byte> d) { got.emplace_back(d.begin(), d.end()); });
        return got;
    }

    [[nodiscard]] const proto::v1::session_key& key() const noexcept { return key_; }

private:
    template <typename M>
    std::vector<std::byte> finish(const proto::v1::header& h, const M& m,
                                  std::optional<proto::v1::session_key> key, bool sealed) {
        std::vector<std::byte> buf(proto::v1::k_max_datagram);
        std::error_code ec;
        buf.resize(proto::v1::encode(h, m, buf, ec));
        EXPECT_FALSE(ec);
        if (sealed)
            proto::v1::seal(buf, key.value_or(key_));
        return buf;
    }

    loopback_udp socket_;
    std::uint32_t session_;
    proto::v1::session_key key_;
    std::uint32_t sequence_ = 0;
    std::uint32_t ping_sequence_ = 0;
};

} // namespace gno::test
