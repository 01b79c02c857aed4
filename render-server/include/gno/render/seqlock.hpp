#pragma once
// A small trivially copyable value one thread writes now and then and others read often
// (a whole configuration swapped at once, STYLE.md): a sequence lock over atomic words.
// Readers never block the writer and never see a torn value; a reader that overlaps a write
// retries, which is bounded in practice because a write is a few dozen stores.
// Thread: store from one thread at a time (callers serialise writers); load from any.
// Realtime-safe: load (no allocation, no lock, no system call).

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace gno::render {

template <typename T>
class seqlock_value {
    static_assert(std::is_trivially_copyable_v<T>);
    static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
    static constexpr std::size_t k_words = (sizeof(T) + 7) / 8;

public:
    explicit seqlock_value(const T& v = T{}) noexcept { store(v); }

    void store(const T& v) noexcept {
        std::array<std::uint64_t, k_words> w{};
        std::memcpy(w.data(), &v, sizeof(T));
        const auto s = seq_.load(std::memory_order_relaxed);
        seq_.store(s + 1, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_release);
        for (std::size_t i = 0; i < k_words; ++i)
            words_[i].store(w[i], std::memory_order_relaxed);
        seq_.store(s + 2, std::memory_order_release);
    }

    [[nodiscard]] T load() const noexcept {
        std::array<std::uint64_t, k_words> w{};
        for (;;) {
            const auto s = seq_.load(std::memory_order_acquire);
            if (s & 1)
                continue;
            for (std::size_t i = 0; i < k_words; ++i)
                w[i] = words_[i].load(std::memory_order_relaxed);
            std::atomic_thread_fence(std::memory_order_acquire);
            if (seq_.load(std::memory_order_relaxed) == s)
                break;
        }
        T v;
        std::memcpy(static_cast<void*>(&v), w.data(), sizeof(T));
        return v;
    }

private:
    std::atomic<std::uint64_t> seq_{0};
    std::array<std::atomic<std::uint64_t>, k_words> words_{};
};

} // namespace gno::render
