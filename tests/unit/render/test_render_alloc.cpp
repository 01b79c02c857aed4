// The real-time path never allocates (STYLE.md, DESIGN.md §7). This executable replaces
// malloc and its family with counting wrappers around glibc's own, so every allocation in the
// process is seen — ours, libstdc++'s, FluidSynth's and libopus's — and arms the count only
// while render_frame runs, on every thread of the render crew.
#include "gno/render/render_engine.hpp"

#include <atomic>
#include <cstddef>
#include <gtest/gtest.h>

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

namespace r = gno::render;
namespace v1 = gno::proto::v1;

namespace {

v1::key_state chord(int root, int program, int notes) {
    v1::key_state s;
    s.program = static_cast<std::uint8_t>(program);
    s.held_count = static_cast<std::uint8_t>(notes);
    for (int i = 0; i < notes; ++i)
        s.held[static_cast<std::size_t>(i)] = {static_cast<std::uint8_t>(root + 4 * i), 100, 1, 0};
    return s;
}

// The hook itself: an allocation on another thread while armed is counted (a test that could
// not fail would prove nothing).
TEST(AllocationHook, CountsAnAllocationOnAnyThread) {
    if (!GNO_ALLOC_HOOK)
        GTEST_SKIP() << "the sanitizers replace malloc; the hook runs in the plain build";
    const auto before = g_allocations.load();
    r::work_crew crew(2);
    std::atomic<void*> kept{nullptr};
    auto job = [&](int member) noexcept {
        if (member == 1)
            kept.store(new int(member)); // member 1 is the crew's own thread
    };
    g_armed.store(true);
    crew.run(job);
    g_armed.store(false);
    delete static_cast<int*>(kept.load());
    EXPECT_EQ(g_allocations.load() - before, 1u);
}

class RenderAllocations : public ::testing::TestWithParam<r::mix_mode> {};

// Players join, play chords, change instruments, release, fall silent and leave; in own and
// shared mode, on two render threads, with the overload steps forced: not one allocation (or
// free) while a frame renders.
TEST_P(RenderAllocations, NoneWhileFramesRender) {
    if (!GNO_ALLOC_HOOK)
        GTEST_SKIP() << "the sanitizers replace malloc; the hook runs in the plain build";
    r::server_config cfg;
    cfg.soundfont = GNO_TEST_SOUNDFONT;
    cfg.max_players = 12;
    cfg.players_per_bank = 4;
    cfg.mix = GetParam();
    cfg.render_threads = 2;
    cfg.timing.mode = r::timing_mode::one_cycle; // solo queue and click on the path too
    cfg.timing.cycle_beats = 1;
    r::node_counters counters;
    r::timing_state timing(cfg.max_players);
    r::spsc_ring<r::ingress_event> ingress(256);
    r::spsc_ring<r::pcm_frame> record(4096);
    r::render_engine engine(cfg, counters, timing, ingress, &record);

    auto push = [&](r::ingress_event::kind what, int slot, const v1::key_state& s) {
        r::ingress_event ev;
        ev.what = what;
        ev.slot = static_cast<std::uint16_t>(slot);
        ev.state = s;
        ASSERT_TRUE(ingress.try_push(ev));
    };
    const std::uint64_t before = g_allocations.load();
    std::int64_t r = 0;
    std::uint64_t frames = 0;
    auto render = [&](int n) {
        for (int i = 0; i < n; ++i) {
            g_armed.store(true);
            engine.render_frame(r);
            g_armed.store(false);
            r += cfg.frame_samples;
            ++frames;
            r::encoded_frame f;
            for (auto* ring : engine.egress())
                while (ring->try_pop(f)) {
                }
            r::pcm_frame p;
            while (record.try_pop(p)) {
            }
        }
    };

    render(10); // warm up with nobody
    for (int slot = 0; slot < cfg.max_players; ++slot) {
        push(r::ingress_event::kind::join, slot, {});
        push(r::ingress_event::kind::key_state, slot, chord(48 + slot, 8 * slot, 2));
    }
    render(100);
    for (int slot = 0; slot < cfg.max_players; ++slot) {
        auto s = chord(50 + slot, 8 * slot + 3, 3);
        s.flags = v1::k_solo_request;
        push(r::ingress_event::kind::key_state, slot, s);
    }
    render(100);
    for (int slot = 0; slot < cfg.max_players; slot += 2)
        push(r::ingress_event::kind::key_state, slot, v1::key_state{});
    render(300); // the others fall silent: timeouts
    for (int slot = 0; slot < cfg.max_players; slot += 3)
        push(r::ingress_event::kind::leave, slot, {});
    render(50);

    EXPECT_EQ(g_allocations.load() - before, 0u)
        << "allocations (or frees) during " << frames << " frames";
    EXPECT_GT(counters.note_ons.load(), 0u);
    EXPECT_GT(counters.timeouts.load(), 0u);
}

// The overload steps (complexity down, release tails shortened) are on the real-time path
// too: force them with an impossible budget.
TEST_P(RenderAllocations, NoneWhileDegradingUnderOverload) {
    if (!GNO_ALLOC_HOOK)
        GTEST_SKIP() << "the sanitizers replace malloc; the hook runs in the plain build";
    r::server_config cfg;
    cfg.soundfont = GNO_TEST_SOUNDFONT;
    cfg.max_players = 8;
    cfg.players_per_bank = 4;
    cfg.mix = GetParam();
    cfg.render_threads = 2;
    cfg.overload_high = 0.0; // every frame "overloaded"
    r::node_counters counters;
    r::timing_state timing(cfg.max_players);
    r::spsc_ring<r::ingress_event> ingress(256);
    r::render_engine engine(cfg, counters, timing, ingress, nullptr);
    for (int slot = 0; slot < cfg.max_players; ++slot) {
        r::ingress_event ev;
        ev.what = r::ingress_event::kind::join;
        ev.slot = static_cast<std::uint16_t>(slot);
        ASSERT_TRUE(ingress.try_push(ev));
        ev.what = r::ingress_event::kind::key_state;
        ev.state = chord(60, 48, 2);
        ASSERT_TRUE(ingress.try_push(ev));
    }
    const std::uint64_t before = g_allocations.load();
    std::int64_t r = 0;
    for (int i = 0; i < 200; ++i) {
        g_armed.store(true);
        engine.render_frame(r);
        g_armed.store(false);
        r += cfg.frame_samples;
        r::encoded_frame f;
        for (auto* ring : engine.egress())
            while (ring->try_pop(f)) {
            }
    }
    EXPECT_EQ(g_allocations.load() - before, 0u);
    EXPECT_EQ(engine.opus_complexity(), 0);
    EXPECT_EQ(counters.synth_degrade.load(), 3u);
    EXPECT_GE(counters.degrade_steps.load(), 6u);
}

INSTANTIATE_TEST_SUITE_P(Mixes, RenderAllocations,
                         ::testing::Values(r::mix_mode::shared, r::mix_mode::own),
                         [](const auto& p) {
                             return p.param == r::mix_mode::own ? std::string("Own")
                                                                : std::string("Shared");
                         });

} // namespace
