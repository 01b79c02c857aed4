// Stems across nodes (DESIGN.md §9) inside one node: the peers' slices land on their render
// sample in the mixes, every mix lags the render by the mesh delay, and this node's buses go
// out stamped with the frame they were rendered for.
#include "gno/render/remote_stems.hpp"
#include "gno/render/render_engine.hpp"
#include "ingress_events.hpp"

#include <gtest/gtest.h>
#include <memory>

namespace r = gno::render;
namespace v1 = gno::proto::v1;

namespace {

TEST(RemoteStems, PlacesSlicesOnTheirSampleAndDropsLateAndEarlyOnes) {
    r::remote_stems stems(1000); // a 1024-sample ring
    r::section_buses bus(240);
    std::vector<float> ones(100, 1.0f), halves(100, 0.5f);
    EXPECT_EQ(stems.add(3, 5000, ones.data(), ones.data(), 100),
              r::remote_stems::placed::dropped); // nothing taken yet
    bus.clear(240);
    stems.take(4760, bus); // frames from 4760 on
    EXPECT_FALSE(bus.used(3));
    ASSERT_EQ(stems.next_pos(), 5000);
    // 60 samples into the next frame; a second node's slice of the same section adds up.
    EXPECT_EQ(stems.add(3, 5060, ones.data(), ones.data(), 100), r::remote_stems::placed::ok);
    EXPECT_EQ(stems.add(3, 5100, halves.data(), halves.data(), 100), r::remote_stems::placed::ok);
    EXPECT_EQ(stems.add(3, 4990, ones.data(), ones.data(), 100), r::remote_stems::placed::late);
    EXPECT_EQ(stems.add(3, 5000 + 1024 - 50, ones.data(), ones.data(), 100),
              r::remote_stems::placed::early);
    EXPECT_EQ(stems.add(17, 5000, ones.data(), ones.data(), 100),
              r::remote_stems::placed::dropped); // no such section
    bus.clear(240);
    stems.take(5000, bus);
    ASSERT_TRUE(bus.used(3));
    EXPECT_FALSE(bus.used(2));
    for (int i = 0; i < 240; ++i) {
        const float want = (i >= 60 && i < 160 ? 1.0f : 0.0f) + (i >= 100 && i < 200 ? 0.5f : 0.0f);
        ASSERT_EQ(bus.left(3)[i], want) << i;
        ASSERT_EQ(bus.right(3)[i], want) << i;
    }
    // Taken is forgotten: the ring comes round silent, across its end too.
    for (std::int64_t pos = 5240; pos < 5240 + 8 * 240; pos += 240) {
        bus.clear(240);
        stems.take(pos, bus);
        ASSERT_FALSE(bus.used(3)) << pos;
    }
    const std::int64_t at = stems.next_pos() + 1024 - 300; // a slice over the ring's end
    std::vector<float> ramp(200);
    for (std::size_t i = 0; i < ramp.size(); ++i)
        ramp[i] = static_cast<float>(i + 1);
    for (std::int64_t pos = stems.next_pos(); pos + 240 <= at; pos += 240) {
        bus.clear(240);
        stems.take(pos, bus);
    }
    ASSERT_EQ(stems.add(5, at, ramp.data(), ramp.data(), 200), r::remote_stems::placed::ok);
    std::vector<float> got;
    for (int k = 0; k < 3; ++k) {
        const std::int64_t pos = stems.next_pos();
        bus.clear(240);
        stems.take(pos, bus);
        for (int i = 0; i < 240; ++i)
            if (pos + i >= at && pos + i < at + 200)
                got.push_back(bus.used(5) ? bus.left(5)[i] : -1.0f);
    }
    ASSERT_EQ(got, ramp);
}

// An engine of a mesh node: two frames of mix delay.
class StemsAcrossNodes : public ::testing::Test {
protected:
    void SetUp() override {
        cfg_.soundfont = GNO_TEST_SOUNDFONT;
        cfg_.max_players = 4;
        cfg_.players_per_bank = 4;
        cfg_.render_threads = 1;
        cfg_.mesh.node_id = 1;
        cfg_.mesh.delay_frames = 2;
        timing_ = std::make_unique<r::timing_state>(cfg_.max_players);
        engine_ = std::make_unique<r::render_engine>(cfg_, counters_, *timing_, ingress_, nullptr);
        engine_->set_mesh(&out_, &in_);
    }
    void render() {
        engine_->render_frame(r_);
        r_ += cfg_.frame_samples;
        r::encoded_frame f;
        for (auto* ring : engine_->egress())
            while (ring->try_pop(f)) {
            }
    }

    r::server_config cfg_;
    r::node_counters counters_;
    std::unique_ptr<r::timing_state> timing_;
    r::spsc_ring<r::ingress_event> ingress_{64};
    r::spsc_ring<r::stem_block> out_{64};
    r::spsc_ring<r::stem_slice> in_{64};
    std::unique_ptr<r::render_engine> engine_;
    std::int64_t r_ = 48000;
};

TEST_F(StemsAcrossNodes, APeersSliceIsMixedOnItsSampleAndTheMixLagsByTheDelay) {
    render(); // the first frame starts the timeline of what is mixed
    // A peer's slice: a step of 0.25 from sample 100 of the frame at 48480 on.
    r::stem_slice s{};
    s.render_sample = 48480 + 100;
    s.frame_samples = 140;
    s.section = 5;
    s.left.fill(0.25f);
    s.right.fill(0.25f);
    ASSERT_TRUE(in_.try_push(s));
    for (int k = 0; k < 4; ++k) {
        render();
        const std::int64_t mixed = engine_->last_mix_sample();
        ASSERT_EQ(mixed, r_ - cfg_.frame_samples - 2 * cfg_.frame_samples);
        const auto mix = engine_->last_mix();
        for (int i = 0; i < cfg_.frame_samples; ++i) {
            const bool in_step = mixed + i >= 48580 && mixed + i < 48720;
            const float want = in_step ? r::soft_limit(cfg_.master_gain * 0.25f) : 0.0f;
            ASSERT_FLOAT_EQ(mix[2 * static_cast<std::size_t>(i)], want) << mixed + i;
        }
    }
    EXPECT_EQ(counters_.mesh_stems_mixed.load(), 1u);
    // A slice for a frame already mixed is late.
    s.render_sample = engine_->last_mix_sample();
    ASSERT_TRUE(in_.try_push(s));
    render();
    EXPECT_EQ(counters_.mesh_late_stems.load(), 1u);
}

TEST_F(StemsAcrossNodes, ThisNodesSectionsGoOutStampedWithTheirFrame) {
    v1::key_state s;
    s.program = 40; // violin: section 5 (strings)
    s.held_count = 1;
    s.held[0] = {69, 100, 1, 0};
    r::test::push_event(ingress_, r::ingress_event::kind::join, 0);
    r::test::push_event(ingress_, r::ingress_event::kind::key_state, 0, s);
    bool sounded = false;
    for (int k = 0; k < 40; ++k) {
        const std::int64_t frame = r_;
        render();
        r::stem_block b;
        while (out_.try_pop(b)) {
            EXPECT_EQ(b.render_sample, frame);
            EXPECT_EQ(b.section, 5);
            EXPECT_EQ(b.frame_samples, cfg_.frame_samples);
            for (int i = 0; i < b.frame_samples; ++i)
                sounded = sounded || b.left[static_cast<std::size_t>(i)] != 0.0f;
        }
    }
    EXPECT_TRUE(sounded) << "the violin's section bus never went out";
}

} // namespace
