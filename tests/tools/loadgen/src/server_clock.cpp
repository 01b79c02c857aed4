#include "server_clock.hpp"

#include "local_clock.hpp"

#include <algorithm>
#include <gno/proto/v1/datagram.hpp>
#include <poll.h>

namespace gno::loadgen {
namespace v1 = proto::v1;

namespace {
constexpr int k_enough_pongs = 16;
constexpr std::int64_t k_ping_interval_ns = 10'000'000;
constexpr std::int64_t k_key_state_interval_ns = 50'000'000; // the client's idle rate

template <typename Message>
void queue(shared_socket& socket, const v1::header& h, const Message& m,
           const v1::session_key& key) {
    const auto slot = socket.slot();
    std::error_code ec;
    if (const std::size_t n = v1::encode(h, m, slot, ec); n > 0) {
        v1::seal(slot.first(n), key);
        socket.commit(n);
    }
}
} // namespace

std::optional<clock_estimate> estimate_server_clock(shared_socket& socket, receive_batch& batch,
                                                    std::uint32_t session_id,
                                                    const v1::session_key& key,
                                                    std::uint8_t program, std::int64_t timeout_ns,
                                                    const std::atomic<bool>& stop) {
    clock_estimate best;
    v1::key_state silent; // no keys held: joins without sounding
    silent.program = program;
    const std::int64_t start = monotonic_ns();
    std::int64_t next_key_state = start;
    std::int64_t next_ping = start;

    while (best.pongs < k_enough_pongs && !stop.load(std::memory_order_relaxed)) {
        const std::int64_t now = monotonic_ns();
        if (now - start > timeout_ns)
            break;
        if (now >= next_key_state) {
            v1::header h;
            h.session_id = session_id;
            h.sequence = best.key_states_sent++;
            h.timestamp_ns = now + best.offset_ns; // best guess so far (0 before any pong)
            queue(socket, h, silent, key);
            next_key_state = now + k_key_state_interval_ns;
        }
        if (now >= next_ping) {
            v1::header h;
            h.session_id = session_id;
            h.sequence = best.pings_sent++;
            h.timestamp_ns = now;
            queue(socket, h, v1::clock_ping{now}, key);
            next_ping = now + k_ping_interval_ns;
        }
        socket.flush();

        pollfd pfd{socket.fd(), POLLIN, 0};
        const std::int64_t wait_ns =
            std::max<std::int64_t>(0, std::min(next_ping, next_key_state) - monotonic_ns());
        const timespec timeout{0, static_cast<long>(wait_ns)};
        if (::ppoll(&pfd, 1, &timeout, nullptr) <= 0)
            continue;
        while (const std::size_t n = batch.receive(socket)) {
            const std::int64_t t3 = monotonic_ns();
            for (std::size_t i = 0; i < n; ++i) {
                v1::header h;
                v1::clock_pong pong;
                if (v1::decode(batch.datagram(i), h, pong) || h.session_id != session_id)
                    continue; // audio for this session, player_info: not what we wait for
                const std::int64_t rtt = (t3 - pong.t0_ns) - (pong.t2_ns - pong.t1_ns);
                if (pong.t0_ns > t3 || rtt < 0)
                    continue; // not a ping of ours
                if (best.pongs == 0 || rtt < best.rtt_ns) {
                    best.rtt_ns = rtt;
                    best.offset_ns = ((pong.t1_ns - pong.t0_ns) + (pong.t2_ns - t3)) / 2;
                }
                ++best.pongs;
            }
            if (n < receive_batch::k_batch)
                break;
        }
    }
    if (best.pongs == 0)
        return std::nullopt;
    return best;
}

} // namespace gno::loadgen
