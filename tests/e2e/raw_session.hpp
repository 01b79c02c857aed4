#pragma once
// A raw player for end-to-end tests: one UDP socket that sends key states for a chosen
// session id and keeps every audio frame (by render sample) and the last player_info.

#include "gno/proto/v1/datagram.hpp"
#include "gno/test/loopback_udp.hpp"
#include "gno/test/udp_secret.hpp"

#include <array>
#include <gtest/gtest.h>
#include <map>
#include <optional>
#include <vector>

namespace gno::e2e {

namespace v1 = proto::v1;

// A raw session: key states out, audio frames in, from one UDP socket. Its datagrams are keyed
// with the test secret's key for `id` (the node must run with test::udp_secret_file).
class raw_session {
public:
    raw_session(std::uint16_t port, std::uint32_t id, int key)
        : socket_(port), id_(id), key_(key), session_key_(test::udp_session_key(id)) {}

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
        socket_.send(std::span(buf).first(n));
    }

    /// Reads what arrived (non-blocking); keeps every audio frame by render sample.
    void receive() {
        socket_.receive([this](std::span<const std::byte> bytes) {
            v1::header h;
            v1::audio_frame f;
            if (!v1::decode(bytes, h, f)) {
                frames[f.render_sample] = {f.mix_id,
                                           std::vector<std::byte>(f.opus.begin(), f.opus.end())};
                return;
            }
            v1::player_info info;
            if (!v1::decode(bytes, h, info))
                last_info = info; // pongs and anything else are ignored
        });
    }

    int fd() const { return socket_.fd(); }
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
    test::loopback_udp socket_;
    std::uint32_t id_;
    int key_;
    v1::session_key session_key_; // the test secret's key for id_
    int bank_ = 0, program_ = 0;
    std::uint32_t sequence_ = 0;
};

} // namespace gno::e2e
