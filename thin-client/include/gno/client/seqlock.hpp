#pragma once
// A value published by one writer thread and read by any number of readers without locks
// (a sequence lock).
//
// The writer makes the sequence odd, stores the value's words and makes it even again; a reader
// copies the words between two reads of the sequence and keeps the copy only if both reads
// agree and are even. Every word is itself a std::atomic (release stores, acquire loads), so
// the scheme is data-race-free in the C++ model and ThreadSanitizer sees no race: a reader that
// observes any word of a newer write is guaranteed to observe the newer sequence afterwards.
// Thread: `store` from one writer thread at a time; `try_load`/`load` from any thread.
// Realtime-safe: `store` and `try_load` (bounded, no allocation, no syscalls).

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <thread>
#include <type_traits>

namespace gno::client {

template <typename T>
class seqlock {
    static_assert(std::is_trivially_copyable_v<T>, "copied word by word");
    static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
    static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
    static constexpr std::size_t k_words = (sizeof(T) + 7) / 8;

public:
    seqlock() noexcept : seqlock(T{}) {}
    explicit seqlock(const T& initial) noexcept { store(initial); }

    /// Writer thread, RT-safe: publishes `value`.
    void store(const T& value) noexcept {
        std::array<std::uint64_t, k_words> w{};
        std::memcpy(w.data(), &value, sizeof(T));
        const std::uint32_t s = seq_.load(std::memory_order_relaxed);
        seq_.store(s + 1, std::memory_order_relaxed);
        // Release stores: the odd sequence above is visible to whoever sees any of these words.
        for (std::size_t i = 0; i < k_words; ++i)
            words_[i].store(w[i], std::memory_order_release);
        seq_.store(s + 2, std::memory_order_release);
    }

    /// Any thread, RT-safe: copies the latest value into `out` within `attempts` tries; false
    /// (and `out` untouched) if a write kept overlapping.
    bool try_load(T& out, int attempts = 64) const noexcept {
        std::array<std::uint64_t, k_words> w{};
        for (int a = 0; a < attempts; ++a) {
            const std::uint32_t s0 = seq_.load(std::memory_order_acquire);
            if ((s0 & 1u) != 0)
                continue;
            // Acquire loads: the sequence re-read below cannot be older than these words.
            for (std::size_t i = 0; i < k_words; ++i)
                w[i] = words_[i].load(std::memory_order_acquire);
            if (seq_.load(std::memory_order_relaxed) == s0) {
                std::memcpy(static_cast<void*>(&out), w.data(), sizeof(T));
                return true;
            }
        }
        return false;
    }

    /// Any non-real-time thread: the latest value (retries, yielding, until a clean copy).
    [[nodiscard]] T load() const noexcept {
        T out{};
        while (!try_load(out))
            std::this_thread::yield();
        return out;
    }

    /// Any thread: number of completed stores (including the initial one).
    [[nodiscard]] std::uint32_t version() const noexcept {
        return seq_.load(std::memory_order_acquire) / 2;
    }

private:
    std::atomic<std::uint32_t> seq_{0};
    std::array<std::atomic<std::uint64_t>, k_words> words_{};
};

} // namespace gno::client
