// The local monitor's audio-thread side never allocates (STYLE.md; local_monitor.hpp): FluidSynth
// takes its voices from the pool sized at start-up on noteon, and renders into its own buffers.
// This executable replaces malloc and its family with counting wrappers around glibc's own (as
// gno_render_alloc_tests does), armed only while render_add runs.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <gno/client/local_monitor.hpp>
#include <gtest/gtest.h>
#include <vector>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GNO_ALLOC_HOOK 0 // the sanitizers own malloc
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define GNO_ALLOC_HOOK 0
#else
#define GNO_ALLOC_HOOK 1
#endif
#else
#define GNO_ALLOC_HOOK 1
#endif

namespace {
std::atomic<bool> g_armed{false};
std::atomic<std::uint64_t> g_allocations{0};

inline void count() noexcept {
    if (g_armed.load(std::memory_order_relaxed))
        g_allocations.fetch_add(1, std::memory_order_relaxed);
}
} // namespace

#if GNO_ALLOC_HOOK
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);

void* malloc(std::size_t n) {
    count();
    return __libc_malloc(n);
}
void* calloc(std::size_t k, std::size_t n) {
    count();
    return __libc_calloc(k, n);
}
void* realloc(void* p, std::size_t n) {
    count();
    return __libc_realloc(p, n);
}
void* memalign(std::size_t a, std::size_t n) {
    count();
    return __libc_memalign(a, n);
}
void* aligned_alloc(std::size_t a, std::size_t n) {
    count();
    return __libc_memalign(a, n);
}
int posix_memalign(void** out, std::size_t a, std::size_t n) {
    count();
    *out = __libc_memalign(a, n);
    return *out ? 0 : 12; // ENOMEM
}
void free(void* p) {
    count(); // freeing is as forbidden as allocating: it can take the allocator's lock
    __libc_free(p);
}
}
#endif

namespace {

using gno::client::local_monitor;

// The hook itself: an allocation while armed is counted (a test that could not fail would
// prove nothing).
TEST(MonitorAllocationHook, CountsAnAllocation) {
    if (!GNO_ALLOC_HOOK)
        GTEST_SKIP() << "the sanitizers replace malloc; the hook runs in the plain build";
    const auto before = g_allocations.load();
    g_armed.store(true);
    auto* p = new int(1);
    g_armed.store(false);
    delete p;
    EXPECT_EQ(g_allocations.load() - before, 1u);
}

// Keys queued between periods, then periods rendered with the hook armed: single notes, chords
// past the polyphony (voice stealing), releases, a held note over many periods, periods longer
// than the scratch block, and all notes off. Not one allocation or free.
TEST(MonitorAllocations, NoneWhileRenderAddRuns) {
    if (!GNO_ALLOC_HOOK)
        GTEST_SKIP() << "the sanitizers replace malloc; the hook runs in the plain build";
    local_monitor m({GNO_TEST_SOUNDFONT, 0, 0, 32});
    std::vector<float> l(2048), r(2048);
    std::uint64_t allocations = 0;
    auto period = [&](std::size_t n) {
        const auto before = g_allocations.load();
        g_armed.store(true);
        m.render_add(l.data(), r.data(), n);
        g_armed.store(false);
        allocations += g_allocations.load() - before;
    };
    for (int i = 0; i < 20; ++i)
        period(256); // warm up, silent
    for (int round = 0; round < 3; ++round) {
        m.key_down(69, 100);
        for (int i = 0; i < 50; ++i)
            period(256);
        for (int k = 0; k < 48; ++k) // 48 keys at once with 32 voices: stealing
            m.key_down(static_cast<std::uint8_t>(36 + k), 90);
        for (int i = 0; i < 50; ++i)
            period(i % 5 == 0 ? 2048 : 256);
        for (int k = 0; k < 48; k += 2)
            m.key_up(static_cast<std::uint8_t>(36 + k));
        for (int i = 0; i < 50; ++i)
            period(240);
        m.key_up(69);
        m.all_notes_off();
        for (int i = 0; i < 200; ++i) // through the release tails to silence
            period(256);
    }
    EXPECT_EQ(allocations, 0u);
    EXPECT_EQ(m.counters().events_dropped.load(), 0u);
    EXPECT_GT(m.counters().events_applied.load(), 200u);
}

} // namespace
