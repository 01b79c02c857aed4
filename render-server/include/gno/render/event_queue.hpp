#pragma once
// A player's scheduled events, ordered by render sample; fixed capacity, no allocation after
// construction. Events with equal times keep their arrival order (a re-strike's note-off
// stays before its note-on). Thread: the render thread. Realtime-safe: yes.

#include "gno/render/key_reconciler.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gno::render {

struct timed_event {
    std::int64_t at = 0;
    note_event ev;
    std::int64_t arrival_ns = 0; // server time its key state arrived (latency measurement)
};

class event_queue {
public:
    explicit event_queue(std::size_t capacity = 256) : items_(capacity) {}

    /// False when full (the caller counts the drop).
    bool push(const timed_event& e) noexcept {
        if (size_ == items_.size())
            return false;
        std::size_t i = size_;
        while (i > 0 && items_[i - 1].at > e.at) { // insertion: queues are short and mostly sorted
            items_[i] = items_[i - 1];
            --i;
        }
        items_[i] = e;
        ++size_;
        return true;
    }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] const timed_event& front() const noexcept { return items_[0]; }
    void pop() noexcept {
        for (std::size_t i = 1; i < size_; ++i)
            items_[i - 1] = items_[i];
        --size_;
    }
    void clear() noexcept { size_ = 0; }

private:
    std::vector<timed_event> items_;
    std::size_t size_ = 0;
};

} // namespace gno::render
