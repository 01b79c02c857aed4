#pragma once
// Single-producer/single-consumer ring of trivially copyable items, sized at start-up.
// Producer: one thread calls try_push. Consumer: one thread calls try_pop / pop_into.
// Realtime-safe on both sides: no allocation after construction, no locks, wait-free.
// Safety: the producer only writes head_, the consumer only writes tail_; acquire/release
// pairs order the item copy against the index that publishes it.

#include <atomic>
#include <bit>
#include <cstddef>
#include <memory>
#include <type_traits>

namespace gno::render {

template <typename T>
class spsc_ring {
    static_assert(std::is_trivially_copyable_v<T>);
    static_assert(std::atomic<std::size_t>::is_always_lock_free);

public:
    /// Capacity is rounded up to a power of two. Thread: construction only.
    explicit spsc_ring(std::size_t capacity)
        : capacity_(std::bit_ceil(capacity < 2 ? std::size_t{2} : capacity)), mask_(capacity_ - 1),
          items_(std::make_unique<T[]>(capacity_)) {}

    spsc_ring(const spsc_ring&) = delete;
    spsc_ring& operator=(const spsc_ring&) = delete;

    /// Producer thread. False when full (the caller counts the drop).
    bool try_push(const T& item) noexcept {
        const auto head = head_.load(std::memory_order_relaxed);
        if (head - tail_.load(std::memory_order_acquire) == capacity_)
            return false;
        items_[head & mask_] = item;
        head_.store(head + 1, std::memory_order_release);
        return true;
    }

    /// Producer thread: a slot to fill in place (avoids copying large items), then commit().
    T* claim() noexcept {
        const auto head = head_.load(std::memory_order_relaxed);
        if (head - tail_.load(std::memory_order_acquire) == capacity_)
            return nullptr;
        return &items_[head & mask_];
    }
    void commit() noexcept {
        head_.store(head_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    }

    /// Consumer thread: the oldest item, or nullptr when empty; release() after use.
    const T* front() noexcept {
        const auto tail = tail_.load(std::memory_order_relaxed);
        if (head_.load(std::memory_order_acquire) == tail)
            return nullptr;
        return &items_[tail & mask_];
    }
    void release() noexcept {
        tail_.store(tail_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    }

    /// Consumer thread.
    bool try_pop(T& out) noexcept {
        const T* f = front();
        if (!f)
            return false;
        out = *f;
        release();
        return true;
    }

    /// Any thread; approximate while the other side runs.
    [[nodiscard]] std::size_t size() const noexcept {
        return head_.load(std::memory_order_acquire) - tail_.load(std::memory_order_acquire);
    }
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

private:
    const std::size_t capacity_;
    const std::size_t mask_;
    std::unique_ptr<T[]> items_;
    alignas(64) std::atomic<std::size_t> head_{0};
    alignas(64) std::atomic<std::size_t> tail_{0};
};

} // namespace gno::render
