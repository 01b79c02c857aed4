#pragma once
// Fixed-capacity single-producer / single-consumer ring, storage inside the object.
//
// The producer fills a slot in place (`try_push` with a callback) and the consumer reads it in
// place (`front` / `pop`), so nothing is copied twice and nothing allocates after construction.
// Safe because each index is written by one side only: the producer publishes a filled slot
// with a release store of `tail_`, the consumer frees it with a release store of `head_`.
// Thread: exactly one producer thread and one consumer thread. RT-safe on both sides.

#include <array>
#include <atomic>
#include <cstddef>

namespace gno::client {

template <typename T, std::size_t Capacity>
class spsc_ring {
    static_assert(Capacity >= 2 && (Capacity & (Capacity - 1)) == 0, "power of two");
    static_assert(std::atomic<std::size_t>::is_always_lock_free);

public:
    /// Producer: calls fill(T&) on a free slot and publishes it; false if the ring is full.
    template <typename Fill>
    bool try_push(Fill&& fill) noexcept {
        const std::size_t tail = tail_.load(std::memory_order_relaxed);
        if (tail - head_.load(std::memory_order_acquire) == Capacity)
            return false;
        fill(slots_[tail & (Capacity - 1)]);
        tail_.store(tail + 1, std::memory_order_release);
        return true;
    }

    /// Consumer: the oldest published slot, or nullptr when empty.
    T* front() noexcept {
        const std::size_t head = head_.load(std::memory_order_relaxed);
        if (head == tail_.load(std::memory_order_acquire))
            return nullptr;
        return &slots_[head & (Capacity - 1)];
    }
    /// Consumer: releases the slot returned by front().
    void pop() noexcept {
        head_.store(head_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    }

    /// Any thread: approximate fill level.
    [[nodiscard]] std::size_t size() const noexcept {
        return tail_.load(std::memory_order_acquire) - head_.load(std::memory_order_acquire);
    }
    static constexpr std::size_t capacity() noexcept { return Capacity; }

private:
    std::array<T, Capacity> slots_{};
    alignas(64) std::atomic<std::size_t> head_{0};
    alignas(64) std::atomic<std::size_t> tail_{0};
};

} // namespace gno::client
