#include "gno/render/player_directory.hpp"

namespace gno::render {

player_directory::player_directory(int max_players, std::int64_t reset_after_ns)
    : entries_(static_cast<std::size_t>(max_players)), reset_after_ns_(reset_after_ns) {
    by_session_.reserve(static_cast<std::size_t>(max_players));
}

player_directory::result player_directory::on_key_state(std::uint32_t session_id,
                                                        std::uint32_t sequence,
                                                        const boost::asio::ip::udp::endpoint& from,
                                                        std::int64_t now_ns) {
    if (auto it = by_session_.find(session_id); it != by_session_.end()) {
        entry& e = entries_[static_cast<std::size_t>(it->second)];
        // Serial-number arithmetic: newer if the signed distance is positive.
        const auto distance = static_cast<std::int32_t>(sequence - e.last_sequence);
        const bool restarted = now_ns - e.last_heard_ns > reset_after_ns_;
        if (distance <= 0 && !restarted)
            return {verdict::stale, it->second};
        e.last_sequence = sequence;
        e.last_heard_ns = now_ns;
        e.address = from; // follows a NAT re-binding (to be gated on the auth tag)
        return {verdict::accepted, it->second};
    }
    for (std::size_t slot = 0; slot < entries_.size(); ++slot) {
        entry& e = entries_[slot];
        if (e.used)
            continue;
        e = entry{true, session_id, from, sequence, now_ns, 0};
        by_session_.emplace(session_id, static_cast<int>(slot));
        return {verdict::joined, static_cast<int>(slot)};
    }
    return {verdict::full, -1};
}

std::optional<int> player_directory::find(std::uint32_t session_id) const {
    if (auto it = by_session_.find(session_id); it != by_session_.end())
        return it->second;
    return std::nullopt;
}

std::optional<int> player_directory::remove(std::uint32_t session_id) {
    const auto it = by_session_.find(session_id);
    if (it == by_session_.end())
        return std::nullopt;
    const int slot = it->second;
    by_session_.erase(it);
    entries_[static_cast<std::size_t>(slot)] = entry{};
    return slot;
}

} // namespace gno::render
