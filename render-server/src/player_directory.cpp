#include "gno/render/player_directory.hpp"

#include <algorithm>

namespace gno::render {

namespace {
// Serial-number arithmetic: `a` is newer than `b` if the signed distance is positive.
bool newer(std::uint32_t a, std::uint32_t b) noexcept {
    return static_cast<std::int32_t>(a - b) > 0;
}
} // namespace

player_directory::player_directory(int max_players)
    : entries_(static_cast<std::size_t>(max_players)),
      retired_capacity_(std::max<std::size_t>(65536, 4 * static_cast<std::size_t>(max_players))) {
    by_session_.reserve(static_cast<std::size_t>(max_players));
}

player_directory::result player_directory::on_key_state(std::uint32_t session_id,
                                                        std::uint32_t sequence,
                                                        const boost::asio::ip::udp::endpoint& from,
                                                        std::int64_t now_ns,
                                                        const proto::v1::session_key& key) {
    if (auto it = by_session_.find(session_id); it != by_session_.end()) {
        entry& e = entries_[static_cast<std::size_t>(it->second)];
        if (!newer(sequence, e.last_sequence))
            return {verdict::stale, it->second};
        e.last_sequence = sequence;
        e.last_heard_ns = now_ns;
        const bool rebound = e.address != from;
        e.address = from; // the newest proven address: a NAT re-binding is followed
        return {verdict::accepted, it->second, rebound};
    }
    if (const auto r = retired_.find(session_id);
        r != retired_.end() && !newer(sequence, r->second))
        return {verdict::stale, -1};
    for (std::size_t slot = 0; slot < entries_.size(); ++slot) {
        entry& e = entries_[slot];
        if (e.used)
            continue;
        e = entry{};
        e.used = true;
        e.session_id = session_id;
        e.address = from;
        e.last_sequence = sequence;
        e.last_heard_ns = now_ns;
        e.key = key;
        by_session_.emplace(session_id, static_cast<int>(slot));
        retired_.erase(session_id);
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
    free(entries_[static_cast<std::size_t>(slot)]);
    return slot;
}

void player_directory::free(entry& e) {
    by_session_.erase(e.session_id);
    if (retired_order_.size() >= retired_capacity_) {
        retired_.erase(retired_order_.front());
        retired_order_.pop_front();
    }
    retired_.insert_or_assign(e.session_id, e.last_sequence);
    retired_order_.push_back(e.session_id);
    e = entry{};
}

} // namespace gno::render
