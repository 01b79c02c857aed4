#pragma once
// A raw player for end-to-end tests: one UDP socket that sends key states for a chosen
// session id and keeps every audio frame (by render sample) and the last player_info.

#include "gno/proto/v1/datagram.hpp"
#include "gno/test/udp_secret.hpp"

#include <arpa/inet.h>
#include <array>
#include <gtest/gtest.h>
#include <map>
#include <netinet/in.h>
#include <optional>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace gno::e2e {

namespace v1 = proto::v1;

// A raw session: key states out, audio frames in, from one UDP socket. Its datagrams are keyed
// with the test secret's key for `id` (the node must run with test::udp_secret_file).
class raw_session {
public:
    raw_session(std::uint16_t port, std::uint32_t id, int key)
        : id_(id), key_(key), session_key_(test::udp_session_key(id)) {
        fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
        server_.sin_family = AF_INET;
        server_.sin_port = htons(port);
        server_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    ~raw_session() { ::close(fd_); }
    raw_session(const raw_session&) = delete;
    raw_session& operator=(const raw_session&) = delete;

    void send_state() {
        v1::header h;
        h.session_id = id_;
        h.sequence = ++sequence_;
        v1::key_state s;
        s.program = static_cast<std::uint8_t>(program_);
        s.bank = static_cast<std::uint16_t>(bank_);
        s.held_count = key_ >= 0 ? 1 : 0;
        if (key_ >= 0)
            s.held[0] = {static_cast<std::uint8_t>(key_), 100, 0, 0};
        std::array<std::byte, v1::k_max_datagram> buf;
        std::error_code ec;
        const auto n = v1::encode(h, s, buf, ec);
        ASSERT_GT(n, 0u);
        v1::seal(std::span(buf).first(n), session_key_);
        ::sendto(fd_, buf.data(), n, 0, reinterpret_cast<const sockaddr*>(&server_),
                 sizeof server_);
    }

    /// Reads what arrived (non-blocking); keeps every audio frame by render sample.
    void receive() {
        std::array<std::byte, 2048> buf;
        for (;;) {
            const auto n = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
            if (n <= 0)
                return;
            const auto bytes = std::span<const std::byte>(buf).first(static_cast<std::size_t>(n));
            v1::header h;
            v1::audio_frame f;
            if (!v1::decode(bytes, h, f)) {
                frames[f.render_sample] = {f.mix_id,
                                           std::vector<std::byte>(f.opus.begin(), f.opus.end())};
                continue;
            }
            v1::player_info info;
            if (!v1::decode(bytes, h, info))
                last_info = info; // pongs and anything else are ignored
        }
    }

    int fd() const { return fd_; }
    /// The key held from the next key state on; -1: none.
    void set_key(int key) { key_ = key; }
    /// The instrument the next key states ask for (128: the GM drum kit).
    void set_instrument(int bank, int program) {
        bank_ = bank;
        program_ = program;
    }
    std::map<std::int64_t, std::pair<std::uint32_t, std::vector<std::byte>>> frames;
    std::optional<v1::player_info> last_info;

private:
    int fd_ = -1;
    sockaddr_in server_{};
    std::uint32_t id_;
    int key_;
    v1::session_key session_key_; // the test secret's key for id_
    int bank_ = 0, program_ = 0;
    std::uint32_t sequence_ = 0;
};

} // namespace gno::e2e
