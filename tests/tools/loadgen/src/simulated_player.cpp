#include "simulated_player.hpp"

#include <algorithm>

namespace gno::loadgen {

simulated_player::simulated_player(const player_setup& setup) noexcept
    : random_(setup.seed), join_ns_(setup.join_ns), chord_phase_ns_(setup.chord_phase_ns),
      session_id_(setup.session_id), sequence_(setup.first_sequence), program_(setup.program),
      copies_(std::max(setup.copies, 1)) {}

std::int64_t simulated_player::next_send_ns() const noexcept {
    if (burst_next_ < k_repeat_offsets_ns.size())
        return change_ns_ + k_repeat_offsets_ns[burst_next_];
    return last_send_ns_ + k_idle_interval_ns;
}

std::int64_t simulated_player::next_due_ns() const noexcept {
    if (finished_)
        return k_never;
    if (!joined_)
        return join_ns_;
    return std::min(next_chord_ns_, next_send_ns());
}

bool simulated_player::on_due(std::int64_t now_ns, key_stamps stamps,
                              proto::v1::key_state& out) noexcept {
    if (finished_)
        return false;
    if (!joined_) {
        if (now_ns < join_ns_)
            return false;
        joined_ = true; // comes in holding its first chord
        change_chord(now_ns, stamps);
        next_chord_ns_ =
            now_ns < chord_phase_ns_
                ? chord_phase_ns_
                : chord_phase_ns_ +
                      ((now_ns - chord_phase_ns_) / k_chord_period_ns + 1) * k_chord_period_ns;
    } else if (now_ns >= next_chord_ns_) {
        change_chord(now_ns, stamps);
        while (next_chord_ns_ <= now_ns) // a stalled loop skips changes, never bunches them
            next_chord_ns_ += k_chord_period_ns;
    }
    if (now_ns < next_send_ns())
        return false;
    // Skip repeat points already past, so a late wake-up sends once, not a flurry (as the
    // real client does).
    while (burst_next_ < k_repeat_offsets_ns.size() &&
           change_ns_ + k_repeat_offsets_ns[burst_next_] <= now_ns)
        ++burst_next_;
    last_send_ns_ = now_ns;
    prune_releases(now_ns);
    write_state(out);
    ++key_states_;
    return true;
}

bool simulated_player::release_all(std::int64_t now_ns, key_stamps stamps,
                                   proto::v1::key_state& out) noexcept {
    if (!joined_ || finished_)
        return false;
    while (held_count_ > 0)
        release(held_[held_count_ - 1].key, stamps, now_ns);
    finished_ = true;
    write_state(out);
    ++key_states_;
    return true;
}

void simulated_player::change_chord(std::int64_t now_ns, key_stamps stamps) noexcept {
    // One or two notes (mean 1.5), distinct, in a range every GM melodic program plays well.
    const std::size_t count = 1 + static_cast<std::size_t>(random_.next() & 1);
    std::array<std::uint8_t, k_max_chord> keys{};
    std::array<std::uint8_t, k_max_chord> velocities{};
    for (std::size_t i = 0; i < count; ++i) {
        std::uint8_t key = 0;
        do {
            key = static_cast<std::uint8_t>(random_.between(k_lowest_key, k_highest_key));
        } while (i == 1 && key == keys[0]);
        keys[i] = key;
        velocities[i] = static_cast<std::uint8_t>(random_.between(60, 110));
    }
    const auto in_chord = [&](std::uint8_t key) {
        return std::find(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(count), key) !=
               keys.begin() + static_cast<std::ptrdiff_t>(count);
    };
    for (std::size_t i = held_count_; i > 0; --i)
        if (!in_chord(held_[i - 1].key))
            release(held_[i - 1].key, stamps, now_ns);
    for (std::size_t i = 0; i < count; ++i)
        press(keys[i], velocities[i], stamps); // a key in both chords is re-struck
    changed(now_ns);
    ++chords_;
}

void simulated_player::press(std::uint8_t key, std::uint8_t velocity, key_stamps stamps) noexcept {
    for (std::size_t i = 0; i < held_count_; ++i) {
        if (held_[i].key == key) {
            held_[i] = {key, velocity, stamps.t_sync_ns, stamps.r_heard};
            return;
        }
    }
    if (held_count_ < k_max_chord)
        held_[held_count_++] = {key, velocity, stamps.t_sync_ns, stamps.r_heard};
}

void simulated_player::release(std::uint8_t key, key_stamps stamps, std::int64_t now_ns) noexcept {
    std::size_t i = 0;
    while (i < held_count_ && held_[i].key != key)
        ++i;
    if (i == held_count_)
        return;
    for (std::size_t j = i + 1; j < held_count_; ++j)
        held_[j - 1] = held_[j];
    --held_count_;
    prune_releases(now_ns);
    // A key appears at most once among the releases; when full, the oldest is the least useful.
    std::size_t out = 0;
    for (std::size_t j = 0; j < released_count_; ++j) {
        if (released_[j].key == key)
            continue;
        released_[out] = released_[j];
        released_local_ns_[out] = released_local_ns_[j];
        ++out;
    }
    released_count_ = static_cast<std::uint8_t>(out);
    if (released_count_ == k_max_recent_releases) {
        std::copy(released_.begin() + 1, released_.end(), released_.begin());
        std::copy(released_local_ns_.begin() + 1, released_local_ns_.end(),
                  released_local_ns_.begin());
        --released_count_;
    }
    released_[released_count_] = {key, stamps.t_sync_ns, stamps.r_heard};
    released_local_ns_[released_count_] = now_ns;
    ++released_count_;
}

void simulated_player::prune_releases(std::int64_t now_ns) noexcept {
    std::size_t out = 0;
    for (std::size_t i = 0; i < released_count_; ++i) {
        if (now_ns - released_local_ns_[i] >= k_release_keep_ns)
            continue;
        released_[out] = released_[i];
        released_local_ns_[out] = released_local_ns_[i];
        ++out;
    }
    released_count_ = static_cast<std::uint8_t>(out);
}

void simulated_player::changed(std::int64_t now_ns) noexcept {
    change_ns_ = now_ns;
    burst_next_ = 0;
}

void simulated_player::write_state(proto::v1::key_state& out) const noexcept {
    // Only the counted entries are encoded: the rest of `out` may hold anything.
    out.bank = 0;
    out.program = program_;
    out.sustain = 0;
    out.expression = 127;
    out.rtt_us = 0; // the link fields are the load generator's to fill (it has the sockets)
    out.loss_permille = 0;
    out.flags = 0;
    out.held_count = held_count_;
    std::copy_n(held_.begin(), held_count_, out.held.begin());
    out.released_count = released_count_;
    std::copy_n(released_.begin(), released_count_, out.released.begin());
}

} // namespace gno::loadgen
