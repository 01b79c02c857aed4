#pragma once
// Who is playing on this node: session id -> player slot, the address to stream to, and the
// sequence filter for whole-state packets (a stale or reordered key state is ignored: a newer
// one already said everything). Thread: the network thread only.

#include <boost/asio/ip/udp.hpp>
#include <cstdint>
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
    };

    enum class verdict { accepted, joined, stale, full };
    struct result {
        verdict what = verdict::full;
        int slot = -1;
    };

    /// `reset_after_ns`: a session silent this long may restart its sequence numbers.
    player_directory(int max_players, std::int64_t reset_after_ns);

    /// A key state arrived from `from`: finds or creates the player and filters the sequence.
    result on_key_state(std::uint32_t session_id, std::uint32_t sequence,
                        const boost::asio::ip::udp::endpoint& from, std::int64_t now_ns);

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
                by_session_.erase(e.session_id);
                e = entry{};
                on_free(static_cast<int>(slot));
            }
        }
    }

    [[nodiscard]] std::vector<entry>& entries() noexcept { return entries_; }
    [[nodiscard]] std::size_t size() const noexcept { return by_session_.size(); }

private:
    std::vector<entry> entries_;
    std::unordered_map<std::uint32_t, int> by_session_;
    std::int64_t reset_after_ns_;
};

} // namespace gno::render
