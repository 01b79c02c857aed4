// The local monitor's audio-thread side never allocates (STYLE.md; local_monitor.hpp): FluidSynth
// takes its voices from the pool sized at start-up on noteon, and renders into its own buffers.
// This executable replaces malloc and its family with counting wrappers around glibc's own (as
// gno_render_alloc_tests does), armed only while render_add runs.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <gno/client/local_monitor.hpp>
#include <gno/test/alloc_counter.hpp>
#include <gtest/gtest.h>
#include <vector>

namespace {

using gno::client::local_monitor;

// The hook itself: an allocation while armed is counted (a test that could not fail would
// prove nothing).
TEST(MonitorAllocationHook, CountsAnAllocation) {
    if (!gno::test::alloc_hook_active())
        GTEST_SKIP() << "the sanitizers replace malloc; the hook runs in the plain build";
    const auto before = gno::test::g_allocations.load();
    gno::test::g_alloc_armed.store(true);
    auto* p = new int(1);
    gno::test::g_alloc_armed.store(false);
    delete p;
    EXPECT_EQ(gno::test::g_allocations.load() - before, 1u);
}

// Keys queued between periods, then periods rendered with the hook armed: single notes, chords
// past the polyphony (voice stealing), releases, a held note over many periods, periods longer
// than the scratch block, and all notes off. Not one allocation or free.
TEST(MonitorAllocations, NoneWhileRenderAddRuns) {
    if (!gno::test::alloc_hook_active())
        GTEST_SKIP() << "the sanitizers replace malloc; the hook runs in the plain build";
    local_monitor m({GNO_TEST_SOUNDFONT, 0, 0, 32});
    std::vector<float> l(2048), r(2048);
    std::uint64_t allocations = 0;
    auto period = [&](std::size_t n) {
        const auto before = gno::test::g_allocations.load();
        gno::test::g_alloc_armed.store(true);
        m.render_add(l.data(), r.data(), n);
        gno::test::g_alloc_armed.store(false);
        allocations += gno::test::g_allocations.load() - before;
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
