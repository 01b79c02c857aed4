// The real-time path never allocates (STYLE.md, DESIGN.md §7). This executable replaces
// malloc and its family with counting wrappers around glibc's own, so every allocation in the
// process is seen — ours, libstdc++'s, FluidSynth's and libopus's — and arms the count only
// while render_frame runs, on every thread of the render crew.
#include "gno/render/render_engine.hpp"
#include "gno/render/talkback.hpp"
#include "ingress_events.hpp"

#include <atomic>
#include <cmath>
#include <cstddef>
#include <gno/test/alloc_counter.hpp>
#include <gtest/gtest.h>
#include <memory>
#include <numbers>
#include <vector>

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
    if (!gno::test::alloc_hook_active())
        GTEST_SKIP() << "the sanitizers replace malloc; the hook runs in the plain build";
    const auto before = gno::test::g_allocations.load();
    r::work_crew crew(2);
    std::atomic<void*> kept{nullptr};
    auto job = [&](int member) noexcept {
        if (member == 1)
            kept.store(new int(member)); // member 1 is the crew's own thread
    };
    gno::test::g_alloc_armed.store(true);
    crew.run(job);
    gno::test::g_alloc_armed.store(false);
    delete static_cast<int*>(kept.load());
    EXPECT_EQ(gno::test::g_allocations.load() - before, 1u);
}

// An engine on two render threads, fed through its ingress ring, whose frames render with the
// hook armed; what it hands out (packets, recorded audio) is drained unarmed.
class RenderAllocations : public ::testing::TestWithParam<r::mix_mode> {
protected:
    void make_engine(int max_players) {
        cfg_.soundfont = GNO_TEST_SOUNDFONT;
        cfg_.max_players = max_players;
        cfg_.players_per_bank = 4;
        cfg_.mix = GetParam();
        cfg_.render_threads = 2;
        timing_ = std::make_unique<r::timing_state>(max_players);
        engine_ = std::make_unique<r::render_engine>(cfg_, counters_, *timing_, ingress_, &record_);
        engine_->set_talkback(&talkback_);
    }

    /// The conductor's voice: `seconds` of a 660 Hz tone through the feed (unarmed: the feed
    /// runs on a control thread; what the render thread does with its blocks is measured).
    void talk(double seconds) {
        std::vector<std::int16_t> pcm(static_cast<std::size_t>(seconds * 48000));
        for (std::size_t i = 0; i < pcm.size(); ++i)
            pcm[i] = static_cast<std::int16_t>(
                8000.0 * std::sin(2.0 * std::numbers::pi * 660.0 * static_cast<double>(i) / 48000));
        feed_.push(pcm);
    }

    void push(r::ingress_event::kind what, int slot, const v1::key_state& s = {}) {
        r::test::push_event(ingress_, what, slot, s);
    }

    /// Renders n frames; returns the allocations (and frees) made while they rendered.
    std::uint64_t render(int n) {
        const std::uint64_t before = gno::test::g_allocations.load();
        for (int i = 0; i < n; ++i) {
            gno::test::g_alloc_armed.store(true);
            engine_->render_frame(r_);
            gno::test::g_alloc_armed.store(false);
            r_ += cfg_.frame_samples;
            r::encoded_frame f;
            for (auto* ring : engine_->egress())
                while (ring->try_pop(f)) {
                }
            r::pcm_frame p;
            while (record_.try_pop(p)) {
            }
        }
        return gno::test::g_allocations.load() - before;
    }

    r::server_config cfg_;
    r::node_counters counters_;
    std::unique_ptr<r::timing_state> timing_;
    r::spsc_ring<r::ingress_event> ingress_{256};
    r::spsc_ring<r::pcm_frame> record_{4096};
    r::spsc_ring<r::talkback_block> talkback_{256};
    r::talkback_feed feed_{talkback_, counters_, 48000, 240};
    std::unique_ptr<r::render_engine> engine_;
    std::int64_t r_ = 0;
};

// Players join, play chords, set their own mixes, change instruments and articulation (short
// notes), ask for solos, release, fall silent and leave, while the conductor talks back (at
// once, then late, then ahead of time); in own and shared mode, on two render threads: not one
// allocation (or free) while a frame renders.
TEST_P(RenderAllocations, NoneWhileFramesRender) {
    if (!gno::test::alloc_hook_active())
        GTEST_SKIP() << "the sanitizers replace malloc; the hook runs in the plain build";
    cfg_.timing.mode = r::timing_mode::one_cycle; // solo queue and click on the path too
    cfg_.timing.cycle_beats = 1;
    make_engine(12);

    std::uint64_t allocations = render(10); // warm up with nobody
    for (int slot = 0; slot < cfg_.max_players; ++slot) {
        push(r::ingress_event::kind::join, slot);
        push(r::ingress_event::kind::key_state, slot, chord(48 + slot, 8 * slot, 2));
    }
    feed_.begin(feed_.start_at_once(r_));
    talk(0.3);
    allocations += render(20);
    // Performers set their own mixes (as the network thread would, between frames): the
    // render crew reads the new levels from the next frame on.
    for (int slot = 0; slot < cfg_.max_players; slot += 2) {
        r::mix_profile p = r::mix_profile::uniform(0.5f, 1.0f);
        p.click_level = 0.25f;
        p.section_level[static_cast<std::size_t>(slot % r::k_sections)] = 0.0f;
        timing_->players[static_cast<std::size_t>(slot)].mix.store(p);
    }
    allocations += render(80); // talk-back from frame 20 on, dry after 0.4 s: a stall
    talk(0.2);
    feed_.end();
    for (int slot = 0; slot < cfg_.max_players; ++slot) {
        auto s = chord(50 + slot, 8 * slot + 3, 3);
        s.flags = v1::k_solo_request;
        if (slot % 2 == 1) // short notes: each note's own end is queued on the render path too
            s.flags |= v1::k_short_articulation;
        push(r::ingress_event::kind::key_state, slot, s);
    }
    feed_.begin(r_ - 2400); // late
    talk(0.2);
    feed_.end();
    feed_.begin(r_ + 24'000 + 77); // ahead, off a frame boundary
    talk(0.5);
    feed_.end();
    allocations += render(100);
    for (int slot = 0; slot < cfg_.max_players; slot += 2)
        push(r::ingress_event::kind::key_state, slot, v1::key_state{});
    allocations += render(300); // the others fall silent: timeouts
    for (int slot = 0; slot < cfg_.max_players; slot += 3)
        push(r::ingress_event::kind::leave, slot);
    allocations += render(50);

    EXPECT_EQ(allocations, 0u) << "allocations (or frees) during 560 frames";
    EXPECT_GT(counters_.note_ons.load(), 0u);
    EXPECT_GT(counters_.timeouts.load(), 0u);
    // 0.3 + 0.2 + 0.2 s on frame boundaries, 0.5 s off them (101 frames): 60 + 40 + 40 + 101.
    EXPECT_EQ(counters_.talkback_frames.load(), 241u);
    EXPECT_EQ(counters_.talkback_late.load(), 2u); // the rest after the stall; the late one
    EXPECT_EQ(talkback_.size(), 0u);
}

// The overload steps (complexity down, interpolation, release tails shortened) are on the
// real-time path too: force them with an impossible budget.
TEST_P(RenderAllocations, NoneWhileDegradingUnderOverload) {
    if (!gno::test::alloc_hook_active())
        GTEST_SKIP() << "the sanitizers replace malloc; the hook runs in the plain build";
    cfg_.overload_high = 0.0; // every frame "overloaded"
    make_engine(8);
    for (int slot = 0; slot < cfg_.max_players; ++slot) {
        push(r::ingress_event::kind::join, slot);
        push(r::ingress_event::kind::key_state, slot, chord(60, 48, 2));
    }
    EXPECT_EQ(render(200), 0u);
    EXPECT_EQ(engine_->opus_complexity(), 0);
    EXPECT_EQ(counters_.synth_degrade.load(), 3u);
    EXPECT_GE(counters_.degrade_steps.load(), 6u);
}

// A node of a mesh (DESIGN.md §9): its buses go out, peers' slices come in (late, early and in
// time), and every mix is built from the delayed history.
TEST_P(RenderAllocations, NoneWithStemsAcrossNodes) {
    if (!gno::test::alloc_hook_active())
        GTEST_SKIP() << "the sanitizers replace malloc; the hook runs in the plain build";
    cfg_.mesh.node_id = 1;
    cfg_.mesh.delay_frames = 3;
    make_engine(8);
    r::spsc_ring<r::stem_block> out(64);
    r::spsc_ring<r::stem_slice> in(256);
    engine_->set_mesh(&out, &in);
    for (int slot = 0; slot < cfg_.max_players; ++slot) {
        push(r::ingress_event::kind::join, slot);
        push(r::ingress_event::kind::key_state, slot, chord(60 + slot, 8 * slot, 2));
    }
    std::uint64_t allocations = 0;
    for (int k = 0; k < 100; ++k) {
        for (int s = 0; s < 4; ++s) {
            r::stem_slice slice{};
            slice.render_sample = r_ + 240 * (2 * s - 5) + 17; // one late, three in time
            slice.frame_samples = 200;
            slice.section = static_cast<std::uint8_t>(3 * s);
            slice.left.fill(0.1f);
            slice.right.fill(-0.1f);
            in.try_push(slice);
        }
        allocations += render(1);
        r::stem_block b;
        while (out.try_pop(b)) {
        }
    }
    EXPECT_EQ(allocations, 0u);
    EXPECT_GT(counters_.mesh_stems_mixed.load(), 100u);
    EXPECT_GE(counters_.mesh_late_stems.load(), 90u); // the first frames: dropped, not late
}

INSTANTIATE_TEST_SUITE_P(Mixes, RenderAllocations,
                         ::testing::Values(r::mix_mode::shared, r::mix_mode::own),
                         [](const auto& p) {
                             return p.param == r::mix_mode::own ? std::string("Own")
                                                                : std::string("Shared");
                         });

} // namespace
