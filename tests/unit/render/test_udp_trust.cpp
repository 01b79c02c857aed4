// The node's UDP trust (DESIGN.md §8) on loopback with a real udp_io: only datagrams tagged
// with their session's key count; nothing is ever sent to an address that has not proven the
// key (a spoofed source gets 0 bytes); a replay changes nothing; a NAT re-binding is followed
// on a fresh valid datagram only; a flooding source is cut off before any work; only sessions
// the control plane handed out may begin to play; every rejection is counted. The test thread plays
// the render thread (it drains the ingress ring).
#include "gno/render/udp_io.hpp"
#include "udp_peer.hpp"

#include <chrono>
#include <gtest/gtest.h>
#include <thread>

namespace r = gno::render;
namespace v1 = gno::proto::v1;
using gno::test::udp_peer;
using namespace std::chrono_literals;

namespace {

class UdpTrust : public ::testing::Test {
protected:
    void SetUp() override {
        cfg_.port = 0;
        cfg_.max_players = 4;
        io_ = std::make_unique<r::udp_io>(cfg_, gno::test::udp_secret(), counters_, timing_,
                                          ingress_, egress_, [] { return r::monotonic_ns(); });
        thread_ = std::thread([this] { io_->run(); });
        // Performers the control plane admitted (no shared secret: only they may play).
        io_->admit(0xA);
        io_->admit(0xB);
    }
    void TearDown() override {
        io_->stop();
        thread_.join();
    }

    /// Lets the network thread catch up, then counts the key states that reached the render
    /// thread's ring since the last call.
    int settle_and_count_states() {
        std::this_thread::sleep_for(150ms);
        int n = 0;
        r::ingress_event ev;
        while (ingress_.try_pop(ev))
            n += ev.what == r::ingress_event::kind::key_state ? 1 : 0;
        return n;
    }

    std::uint64_t count(const std::atomic<std::uint64_t>& c) const { return c.load(); }

    /// Bytes `peer` received, each datagram checked to carry a valid tag for `key`.
    static std::size_t bytes_from_node(udp_peer& peer, const v1::session_key& key) {
        std::size_t bytes = 0;
        for (const auto& d : peer.receive()) {
            EXPECT_TRUE(v1::verify(d, key)) << "the node's datagrams are tagged";
            bytes += d.size();
        }
        return bytes;
    }

    r::server_config cfg_;
    r::node_counters counters_;
    r::timing_state timing_{4};
    r::spsc_ring<r::ingress_event> ingress_{1024};
    std::vector<r::spsc_ring<r::encoded_frame>*> egress_;
    std::unique_ptr<r::udp_io> io_;
    std::thread thread_;
};

} // namespace

TEST_F(UdpTrust, ForgedTaglessAndMisKeyedDatagramsAreDroppedAndNothingGoesToTheirSource) {
    udp_peer honest(io_->port(), 0xA);
    honest.send_state();
    EXPECT_EQ(settle_and_count_states(), 1);
    EXPECT_GT(bytes_from_node(honest, honest.key()), 0u) << "the joined player hears back";

    // The attacker sends from the address it wants traffic sent to (a spoofed source).
    udp_peer victim_b(io_->port(), 0xB, "127.0.0.66");
    v1::key_state held;
    held.held_count = 1;
    held.held[0] = {60, 100, 0, 0};
    victim_b.send(victim_b.key_state(held, std::nullopt, false)); // tag-less
    victim_b.send(victim_b.key_state(held, honest.key()));        // another's key
    victim_b.send(victim_b.key_state(held, v1::derive_session_key(v1::random_master_secret(),
                                                                  0xB))); // another secret
    auto tampered = honest.key_state(held);
    tampered.back() ^= std::byte{1}; // a valid datagram with one payload bit changed
    victim_b.send(tampered);
    victim_b.send(victim_b.ping()); // valid for B, but B is not playing: no pong to reflect
    EXPECT_EQ(settle_and_count_states(), 0) << "no forged state reached the render thread";
    EXPECT_EQ(count(counters_.bad_tags), 4u);
    EXPECT_EQ(count(counters_.unanswered_pings), 1u);
    EXPECT_EQ(victim_b.receive().size(), 0u) << "0 bytes to the spoofed address";
}

TEST_F(UdpTrust, AReplayFromAnotherAddressMovesNothingAndGetsNothing) {
    udp_peer a(io_->port(), 0xA);
    udp_peer spoof(io_->port(), 0xA, "127.0.0.77");
    const auto first = a.key_state();
    a.send(first);
    const auto second = a.key_state();
    a.send(second);
    EXPECT_EQ(settle_and_count_states(), 2);
    (void)a.receive();

    // Captured datagrams, replayed from the spoofed address, again and again.
    for (int i = 0; i < 5; ++i) {
        spoof.send(first);
        spoof.send(second);
    }
    const auto ping = a.ping();
    spoof.send(ping); // a valid ping, but not from the player's address
    EXPECT_EQ(settle_and_count_states(), 0);
    EXPECT_EQ(count(counters_.stale_packets), 10u);
    EXPECT_EQ(count(counters_.unanswered_pings), 1u);
    EXPECT_EQ(count(counters_.rebinds), 0u);
    EXPECT_EQ(spoof.receive().size(), 0u) << "0 bytes to the spoofed address";

    // The player's own ping is answered once; its replay is not.
    a.send(ping);
    a.send(ping);
    std::this_thread::sleep_for(150ms);
    int pongs = 0;
    for (const auto& d : a.receive()) {
        v1::header h;
        v1::clock_pong pong;
        pongs += !v1::decode(d, h, pong) && v1::verify(d, a.key()) ? 1 : 0;
    }
    EXPECT_EQ(pongs, 1);
    EXPECT_EQ(count(counters_.replayed_packets), 1u);
}

TEST_F(UdpTrust, ANatRebindingIsFollowedOnAFreshValidDatagram) {
    udp_peer a(io_->port(), 0xA);
    a.send_state();
    EXPECT_EQ(settle_and_count_states(), 1);
    (void)a.receive();
    // The same session from a new source port (its NAT re-bound): the next state moves the
    // stream there, the old address hears nothing more.
    udp_peer moved(io_->port(), 0xA);
    for (int i = 0; i < 2; ++i)
        (void)a.key_state(); // the sequences it used meanwhile (lost on the way)
    moved.send(a.key_state());
    EXPECT_EQ(settle_and_count_states(), 1);
    EXPECT_EQ(count(counters_.rebinds), 1u);
    moved.send(moved.ping());
    std::this_thread::sleep_for(300ms); // a player_info (every 250 ms) and the pong
    EXPECT_GT(bytes_from_node(moved, a.key()), 0u);
    EXPECT_EQ(a.receive().size(), 0u);
}

TEST_F(UdpTrust, AFloodingSourceIsCutOffBeforeAnyWorkAndOthersStillPlay) {
    udp_peer honest(io_->port(), 0xA);
    udp_peer flood(io_->port(), 0xF, "127.0.0.88");
    honest.send_state();
    EXPECT_EQ(settle_and_count_states(), 1);
    // Far above what any client sends: tag-less garbage at full speed.
    const auto junk = flood.key_state({}, std::nullopt, false);
    const int sent = 3 * static_cast<int>(r::source_limiter::k_burst);
    for (int i = 0; i < sent; ++i)
        flood.send(junk);
    // The honest player keeps sending, as a client does (20 a second): a state of its may be
    // lost in a socket buffer the flood filled, but the next ones come through.
    int honest_states = 0;
    for (int i = 0; i < 60 && honest_states == 0; ++i) {
        honest.send_state();
        std::this_thread::sleep_for(50ms);
        r::ingress_event ev;
        while (ingress_.try_pop(ev))
            honest_states += ev.what == r::ingress_event::kind::key_state ? 1 : 0;
    }
    EXPECT_GE(honest_states, 1) << "the honest player still plays";
    EXPECT_GT(count(counters_.source_limited), 0u);
    // What passed the limiter was checked and dropped; none of it was answered.
    EXPECT_LE(count(counters_.source_limited) + count(counters_.unadmitted),
              static_cast<std::uint64_t>(sent))
        << "each flood datagram the socket buffer kept was counted once";
    EXPECT_EQ(count(counters_.stale_packets), 0u);
    EXPECT_EQ(flood.receive().size(), 0u);
}

TEST_F(UdpTrust, OnlySessionsTheControlPlaneHandedOutMayBeginToPlay) {
    // Keyed correctly (the secret is shared here), but no performer holds session C.
    udp_peer c(io_->port(), 0xC);
    c.send_state();
    c.send(c.ping());
    EXPECT_EQ(settle_and_count_states(), 0);
    EXPECT_EQ(count(counters_.unadmitted), 2u);
    EXPECT_EQ(c.receive().size(), 0u);
    // A performer joined as C: it plays.
    io_->admit(0xC);
    c.send_state();
    EXPECT_EQ(settle_and_count_states(), 1);
    EXPECT_GT(bytes_from_node(c, c.key()), 0u);
    // It left: the slot it holds plays on until it falls silent...
    io_->release(0xC);
    c.send_state();
    EXPECT_EQ(settle_and_count_states(), 1);
    // ...but a session that left before it ever played never begins.
    io_->admit(0xD);
    io_->release(0xD);
    udp_peer d(io_->port(), 0xD);
    d.send_state();
    EXPECT_EQ(settle_and_count_states(), 0);
    EXPECT_EQ(count(counters_.unadmitted), 3u);
}
