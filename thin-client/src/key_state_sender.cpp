#include "gno/client/key_state_sender.hpp"

#include <algorithm>

namespace gno::client {

void key_state_sender::changed(std::int64_t now_ns) noexcept {
    change_ns_ = now_ns;
    burst_next_ = 0;
}

void key_state_sender::remove_release(std::uint8_t key) noexcept {
    auto& s = state_;
    for (std::size_t i = 0; i < s.released_count; ++i) {
        if (s.released[i].key != key)
            continue;
        for (std::size_t j = i + 1; j < s.released_count; ++j) {
            s.released[j - 1] = s.released[j];
            released_local_ns_[j - 1] = released_local_ns_[j];
        }
        --s.released_count;
        return;
    }
}

void key_state_sender::prune_releases(std::int64_t now_ns) noexcept {
    auto& s = state_;
    std::size_t out = 0;
    for (std::size_t i = 0; i < s.released_count; ++i) {
        if (now_ns - released_local_ns_[i] >= k_release_keep_ns)
            continue;
        s.released[out] = s.released[i];
        released_local_ns_[out] = released_local_ns_[i];
        ++out;
    }
    s.released_count = static_cast<std::uint8_t>(out);
}

bool key_state_sender::note_on(std::uint8_t key, std::uint8_t velocity, key_stamps stamps,
                               std::int64_t now_ns) {
    if (key > 127)
        return false;
    velocity = std::clamp<std::uint8_t>(velocity, 1, 127);
    auto& s = state_;
    for (std::size_t i = 0; i < s.held_count; ++i) {
        if (s.held[i].key == key) { // re-strike
            s.held[i] = {key, velocity, stamps.t_sync_ns, stamps.r_heard};
            changed(now_ns);
            return true;
        }
    }
    if (s.held_count >= proto::v1::k_max_held)
        return false;
    s.held[s.held_count++] = {key, velocity, stamps.t_sync_ns, stamps.r_heard};
    changed(now_ns);
    return true;
}

bool key_state_sender::note_off(std::uint8_t key, key_stamps stamps, std::int64_t now_ns) {
    auto& s = state_;
    for (std::size_t i = 0; i < s.held_count; ++i) {
        if (s.held[i].key != key)
            continue;
        for (std::size_t j = i + 1; j < s.held_count; ++j)
            s.held[j - 1] = s.held[j];
        --s.held_count;
        prune_releases(now_ns);
        remove_release(key); // a key appears at most once among the releases
        if (s.released_count == proto::v1::k_max_released) {
            // Full: drop the oldest release (it is the least useful for repair).
            for (std::size_t j = 1; j < s.released_count; ++j) {
                s.released[j - 1] = s.released[j];
                released_local_ns_[j - 1] = released_local_ns_[j];
            }
            --s.released_count;
        }
        s.released[s.released_count] = {key, stamps.t_sync_ns, stamps.r_heard};
        released_local_ns_[s.released_count] = now_ns;
        ++s.released_count;
        changed(now_ns);
        return true;
    }
    return false;
}

void key_state_sender::all_notes_off(key_stamps stamps, std::int64_t now_ns) {
    while (state_.held_count > 0)
        note_off(state_.held[state_.held_count - 1].key, stamps, now_ns);
    state_.sustain = 0;
    changed(now_ns);
}

void key_state_sender::set_program(std::uint8_t program, std::uint16_t bank, std::int64_t now_ns) {
    state_.program = static_cast<std::uint8_t>(std::min<int>(program, 127));
    state_.bank = static_cast<std::uint16_t>(std::min<int>(bank, 16383));
    changed(now_ns);
}

void key_state_sender::set_sustain(std::uint8_t value, std::int64_t now_ns) {
    state_.sustain = static_cast<std::uint8_t>(std::min<int>(value, 127));
    changed(now_ns);
}

void key_state_sender::set_expression(std::uint8_t value, std::int64_t now_ns) {
    state_.expression = static_cast<std::uint8_t>(std::min<int>(value, 127));
    changed(now_ns);
}

void key_state_sender::set_flag(std::uint8_t flag, bool on, std::int64_t now_ns) noexcept {
    const auto flags = on ? state_.flags | flag : state_.flags & ~static_cast<unsigned>(flag);
    if (flags == state_.flags)
        return;
    state_.flags = static_cast<std::uint8_t>(flags);
    changed(now_ns);
}

void key_state_sender::set_solo_request(bool on, std::int64_t now_ns) noexcept {
    set_flag(proto::v1::k_solo_request, on, now_ns);
}

void key_state_sender::set_short_articulation(bool on, std::int64_t now_ns) noexcept {
    set_flag(proto::v1::k_short_articulation, on, now_ns);
}

void key_state_sender::set_link(std::uint32_t rtt_us, std::uint16_t loss_permille) noexcept {
    state_.rtt_us = rtt_us;
    state_.loss_permille = std::min<std::uint16_t>(loss_permille, 1000);
}

std::int64_t key_state_sender::next_deadline_ns() const noexcept {
    if (!ever_sent_)
        return burst_next_ < k_redundancy_offsets_ns.size() ? change_ns_ : last_send_ns_;
    if (burst_next_ < k_redundancy_offsets_ns.size())
        return change_ns_ + k_redundancy_offsets_ns[burst_next_];
    return last_send_ns_ + k_idle_interval_ns;
}

proto::v1::key_state key_state_sender::snapshot(std::int64_t now_ns) {
    prune_releases(now_ns);
    return state_;
}

std::optional<proto::v1::key_state> key_state_sender::poll(std::int64_t now_ns) {
    if (ever_sent_ && now_ns < next_deadline_ns())
        return std::nullopt;
    // Skip burst points already in the past so a late poll sends once, not a flurry.
    while (burst_next_ < k_redundancy_offsets_ns.size() &&
           change_ns_ + k_redundancy_offsets_ns[burst_next_] <= now_ns)
        ++burst_next_;
    ever_sent_ = true;
    last_send_ns_ = now_ns;
    ++sent_;
    return snapshot(now_ns);
}

void key_state_sender::forget_stamps() noexcept {
    for (auto& k : state_.held)
        k.t_sync_ns = k.r_heard = 0;
    for (auto& k : state_.released)
        k.t_sync_ns = k.r_heard = 0;
}

} // namespace gno::client
