// Where a performer's own-mix levels live between its `mix` message and the render thread: the
// network thread (udp_io) hands a session's levels to whichever slot it holds, keeps them when
// the slot is freed by silence and taken again, and gives a freed slot the defaults, so the
// next player in it never inherits them. On loopback with a real udp_io; the render thread's
// side is the table it reads (player_timing.hpp).
#include "gno/proto/v1/datagram.hpp"
#include "gno/render/player_timing.hpp"
#include "gno/render/render_clock.hpp"
#include "gno/render/udp_io.hpp"
#include "udp_peer.hpp"

#include <arpa/inet.h>
#include <chrono>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace r = gno::render;
namespace v1 = gno::proto::v1;
using namespace std::chrono_literals;

namespace {

using sender = gno::test::udp_peer; // key states for one session id from one UDP socket

class MixLevels : public ::testing::Test {
protected:
    void SetUp() override {
        cfg_.port = 0;
        cfg_.max_players = 4;
        cfg_.expire_timeout = 200ms; // a silent player's slot is freed within ~1.2 s
        cfg_.own_level = 0.0f;
        cfg_.other_sections_level = 0.5f;
        for (int i = 0; i < cfg_.max_players; ++i) // as the render engine does at construction
            timing_.players[static_cast<std::size_t>(i)].mix.store(r::default_mix_profile(cfg_));
        io_ = std::make_unique<r::udp_io>(cfg_, gno::test::udp_secret(), counters_, timing_,
                                          ingress_, egress_, [] { return r::monotonic_ns(); });
        thread_ = std::thread([this] { io_->run(); });
        for (const std::uint32_t session : {0xA, 0xB, 0xC}) // performers who joined
            io_->admit(session);
    }
    void TearDown() override {
        io_->stop();
        thread_.join();
    }

    r::mix_profile slot(int s) const {
        return timing_.players[static_cast<std::size_t>(s)].mix.load();
    }
    /// Waits until `slot` holds `want` (the network thread applies changes when it gets to
    /// them), sending key states for `keep` meanwhile; drains the ingress ring as the render
    /// thread would.
    bool wait_for(int s, const r::mix_profile& want, std::vector<sender*> keep = {},
                  std::chrono::milliseconds timeout = 3000ms) {
        const auto until = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < until) {
            for (auto* k : keep)
                k->send_state();
            r::ingress_event ev;
            while (ingress_.try_pop(ev)) {
            }
            if (slot(s) == want)
                return true;
            std::this_thread::sleep_for(20ms);
        }
        return false;
    }

    r::server_config cfg_;
    r::node_counters counters_;
    r::timing_state timing_{4};
    r::spsc_ring<r::ingress_event> ingress_{1024};
    std::vector<r::spsc_ring<r::encoded_frame>*> egress_; // nothing rendered here
    std::unique_ptr<r::udp_io> io_;
    std::thread thread_;
};

r::mix_profile levels(float own, float strings, float click) {
    r::mix_profile p = r::mix_profile::uniform(0.5f, own);
    p.section_level[5] = strings;
    p.click_level = click;
    return p;
}

} // namespace

TEST_F(MixLevels, FollowTheSessionAcrossSlotsAndNeverPassToTheNextPlayer) {
    const r::mix_profile defaults = r::default_mix_profile(cfg_);
    const r::mix_profile a_levels = levels(1.0f, 0.0f, 0.25f);
    const r::mix_profile b_levels = levels(2.0f, 1.0f, 0.0f);
    sender a(io_->port(), 0xA), b(io_->port(), 0xB), c(io_->port(), 0xC);

    // A sets its levels before its first key state: they wait for its slot.
    io_->set_mix(0xA, a_levels);
    a.send_state();
    ASSERT_TRUE(wait_for(0, a_levels)) << "A's slot lacks A's levels";
    b.send_state();
    a.send_state();
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(slot(1), defaults) << "B starts from the node's defaults";
    io_->set_mix(0xB, b_levels);
    ASSERT_TRUE(wait_for(1, b_levels, {&a, &b}));
    EXPECT_EQ(slot(0), a_levels) << "B's change reached A";

    // A falls silent long enough to lose its slot: the slot goes back to the defaults...
    ASSERT_TRUE(wait_for(0, defaults, {&b})) << "a freed slot kept A's levels";
    // ... and A, back, has its own levels again (it takes the first free slot: 0).
    a.send_state();
    ASSERT_TRUE(wait_for(0, a_levels, {&b})) << "A's levels did not survive its rejoin";

    // B is dismissed (kicked); C takes its slot with the defaults, not B's levels.
    io_->dismiss(0xB);
    ASSERT_TRUE(wait_for(1, defaults, {&a}));
    c.send_state();
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(slot(1), defaults) << "C inherited B's levels";
    EXPECT_EQ(slot(0), a_levels);

    // The defaults back (the control plane does that as a performer leaves): A's slot too.
    io_->set_mix(0xA, defaults);
    ASSERT_TRUE(wait_for(0, defaults, {&a, &c}));
}
