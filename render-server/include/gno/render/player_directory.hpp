#pragma once
// Who is playing on this node: session id -> player slot, its key, the address to stream to,
// and the sequence filter for whole-state packets (a stale, reordered or replayed key state
// is ignored: a newer one already said everything). Only datagrams whose tag checked out
// reach it (udp_io), so an address it records has proven the session's key; it follows a
// NAT re-binding only on a key state newer than any before, never on a replayed one.
// Thread: the network thread only.

#include "gno/proto/v1/auth.hpp"

#include <boost/asio/ip/udp.hpp>
#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

namespace gno::render {

class player_directory {
public:
    struct entry {
        bool used = false;
        std::uint32_t session_id = 0;
        boost::asio::ip::udp::endpoint address;
        std::uint32_t last_sequence = 0;
        std::int64_t last_heard_ns = 0;
        std::uint32_t audio_sequence = 0;
        proto::v1::session_key key{};   // tags both ways
        proto::v1::replay_window pings; // clock pings answered once each
    };

    enum class verdict { accepted, joined, stale, full };
    struct result {
        verdict what = verdict::full;
        int slot = -1;
        bool rebound = false; // accepted from a new address, which the stream now follows
    };

    explicit player_directory(int max_players);

    /// A key state (tag verified with `key`) arrived from `from`: finds or creates the player
    /// and filters the sequence. A session whose slot was freed stays known (bounded) with its
    /// last sequence, so a replay of its old datagrams cannot bring it back.
    result on_key_state(std::uint32_t session_id, std::uint32_t sequence,
                        const boost::asio::ip::udp::endpoint& from, std::int64_t now_ns,
                        const proto::v1::session_key& key);

    /// The slot of a known session, or nullopt.
    [[nodiscard]] std::optional<int> find(std::uint32_t session_id) const;

    /// Frees a session's slot at once; returns the slot, or nullopt when it had none.
    std::optional<int> remove(std::uint32_t session_id);

    /// Frees players silent longer than `timeout_ns`; calls on_free(slot) for each.
    template <typename F>
    void expire(std::int64_t now_ns, std::int64_t timeout_ns, F&& on_free) {
        for (std::size_t slot = 0; slot < entries_.size(); ++slot) {
            entry& e = entries_[slot];
            if (e.used && now_ns - e.last_heard_ns > timeout_ns) {
                free(e);
                on_free(static_cast<int>(slot));
            }
        }
    }

    [[nodiscard]] std::vector<entry>& entries() noexcept { return entries_; }
    [[nodiscard]] std::size_t size() const noexcept { return by_session_.size(); }

private:
    void free(entry& e);

    std::vector<entry> entries_;
    std::unordered_map<std::uint32_t, int> by_session_;
    // Freed sessions' last sequences (a few MB at most), oldest first out beyond
    // retired_capacity_: a replay of a session forgotten here would be taken as a new join.
    std::unordered_map<std::uint32_t, std::uint32_t> retired_;
    std::deque<std::uint32_t> retired_order_;
    std::size_t retired_capacity_;
};

} // namespace gno::render
