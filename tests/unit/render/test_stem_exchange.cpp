// Two stem exchanges of one mesh in this process, on loopback (DESIGN.md §9): a section's frames
// go from node 1 to node 2 and land on the samples they were rendered for, as PCM (exactly) and
// as Opus (placed back by the codec's lookahead, the tone kept), also when the section falls
// silent and sounds again (a new stream on both ends).
#include "gno/render/render_clock.hpp"
#include "gno/render/stem_exchange.hpp"
#include "gno/test/analysis.hpp"
#include "gno/test/process.hpp"
#include "gno/test/udp_secret.hpp"

#include <algorithm>
#include <boost/asio/ip/udp.hpp>
#include <cmath>
#include <gtest/gtest.h>
#include <map>
#include <numbers>
#include <thread>

namespace r = gno::render;
using namespace std::chrono_literals;

namespace {

std::uint16_t free_port() {
    boost::asio::io_context io;
    boost::asio::ip::udp::socket s(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    return s.local_endpoint().port();
}

// Node 1's section 3: silent until `on`, a 440 Hz tone at half scale from there.
float signal(std::int64_t r, std::int64_t on) {
    if (r < on)
        return 0.0f;
    return 0.5f * static_cast<float>(std::sin(2.0 * std::numbers::pi * 440.0 *
                                              static_cast<double>(r - on) / 48000.0));
}

struct mesh_node {
    r::server_config cfg;
    r::node_counters counters;
    r::spsc_ring<r::stem_block> out{512};
    r::spsc_ring<r::stem_slice> in{8192};
    std::unique_ptr<r::stem_exchange> x;
    std::thread thread;

    mesh_node(const std::filesystem::path& dir, std::uint32_t id, std::uint16_t port,
              std::uint32_t peer_id, std::uint16_t peer_port, bool opus) {
        cfg.mesh.node_id = id;
        cfg.mesh.port = port;
        cfg.mesh.secret_file = gno::test::udp_secret_file(dir).string();
        cfg.mesh.peers = {{peer_id, "127.0.0.1", peer_port}};
        cfg.mesh.opus = opus;
        x = std::make_unique<r::stem_exchange>(cfg, counters, out, in);
        x->set_timeline([] { return r::monotonic_ns(); });
        thread = std::thread([this] { x->run(); });
    }
    ~mesh_node() {
        x->stop();
        thread.join();
    }
};

// Sends frames [0, 200) of section 3 from node 1, leaving out `gap`, and returns what node 2
// placed, by its render sample.
struct received {
    std::map<std::int64_t, float> got; // by node 2's render sample
    double offset = 0; // node 2's estimate of node 1's clock against its own, in samples
};
received exchange(bool opus, std::int64_t on, std::vector<std::pair<int, int>> gaps) {
    gno::test::temp_dir dir("gno-stem-exchange");
    const auto p1 = free_port(), p2 = free_port();
    mesh_node n1(dir.path(), 1, p1, 2, p2, opus), n2(dir.path(), 2, p2, 1, p1, opus);
    for (int i = 0; i < 100 && !(n2.x->peers().at(0).synced && n1.x->peers().at(0).up); ++i)
        std::this_thread::sleep_for(50ms);
    EXPECT_TRUE(n2.x->peers().at(0).synced) << "node 2 never placed node 1's clock";
    std::map<std::int64_t, float> got;
    auto drain = [&] {
        while (const r::stem_slice* s = n2.in.front()) {
            EXPECT_EQ(s->section, 3);
            for (std::size_t i = 0; i < s->frame_samples; ++i)
                got[s->render_sample + static_cast<std::int64_t>(i)] = s->left[i];
            n2.in.release();
        }
    };
    for (int k = 0; k < 200; ++k) {
        if (std::any_of(gaps.begin(), gaps.end(),
                        [k](const auto& g) { return k >= g.first && k < g.second; }))
            continue;
        r::stem_block* b = n1.out.claim();
        if (!b) {
            ADD_FAILURE() << "node 1's outbound ring is full";
            break;
        }
        b->render_sample = 240 * k;
        b->frame_samples = 240;
        b->section = 3;
        for (int i = 0; i < 240; ++i)
            b->left[static_cast<std::size_t>(i)] = b->right[static_cast<std::size_t>(i)] =
                signal(240 * k + i, on);
        n1.out.commit();
        if (k % 8 == 7) {
            n1.x->notify_outbound();
            std::this_thread::sleep_for(5ms);
            drain();
        }
    }
    n1.x->notify_outbound();
    std::this_thread::sleep_for(200ms);
    drain();
    // The same clock on both: node 2's offset for node 1 is within the estimate's hysteresis.
    // Node 2 places node 1's slices by the clock offset in force (the same clock on both: the
    // pings' asymmetry, a sample or so when idle, more on a loaded machine or under a
    // sanitizer); it moved at most once (hysteresis) while the frames went through.
    return {std::move(got), static_cast<double>(n2.x->peers().at(0).offset_samples)};
}

std::optional<std::int64_t> first_above(const std::map<std::int64_t, float>& got, std::int64_t from,
                                        float level) {
    for (auto it = got.lower_bound(from); it != got.end(); ++it)
        if (std::abs(it->second) > level)
            return it->first;
    return std::nullopt;
}

std::vector<float> segment(const std::map<std::int64_t, float>& got, std::int64_t from,
                           std::int64_t n) {
    std::vector<float> v;
    for (std::int64_t r = from; r < from + n; ++r) {
        const auto it = got.find(r);
        v.push_back(it == got.end() ? 0.0f : it->second);
    }
    return v;
}

// The shift (samples, within +-20) that best places `got` on node 1's signal over [from, from+n),
// and the error left there, in dB of the signal: the shift is node 2's clock offset estimate of
// node 1 (the same clock: 0, or a sample or two), the error what the transport changed.
std::pair<int, double> placement(const std::map<std::int64_t, float>& got, std::int64_t on,
                                 std::int64_t from, std::int64_t n) {
    std::pair<int, double> best{0, 1e9};
    for (int shift = -20; shift <= 20; ++shift) {
        double err = 0, sig = 0;
        for (std::int64_t r = from; r < from + n; ++r) {
            const auto it = got.find(r);
            const double want = signal(r + shift, on);
            const double d = (it == got.end() ? 0.0 : it->second) - want;
            err += d * d;
            sig += want * want;
        }
        const double db = 10.0 * std::log10(err / sig + 1e-30);
        if (db < best.second)
            best = {shift, db};
    }
    return best;
}

TEST(StemExchange, PcmStemsLandOnTheirSamplesExactly) {
    const auto [got, offset] = exchange(false, 10'000, {});
    ASSERT_FALSE(got.empty());
    const auto [shift, error_db] = placement(got, 10'000, 9'600, 9'600);
    EXPECT_NEAR(shift, offset, 3.0); // in force at the end; a step of hysteresis before
    EXPECT_LT(error_db, -80.0) << "16-bit slices should be exact to ~-90 dB";
}

TEST(StemExchange, OpusStemsArePlacedBackByTheCodecsLookaheadAndKeepTheTone) {
    // The tone from sample 10000; the section falls silent (frames 100..119, and 150..151,
    // not sent) and sounds again: a new stream on both ends, placed as the first was; the
    // short silence is not concealed as if packets were lost.
    const std::int64_t on = 10'000;
    const auto [got, offset] = exchange(true, on, {{100, 120}, {150, 152}});
    ASSERT_FALSE(got.empty());
    // The attack: within the codec's pre-echo of where it was rendered.
    const auto onset = first_above(got, 0, 0.1f);
    ASSERT_TRUE(onset);
    EXPECT_NEAR(static_cast<double>(*onset), static_cast<double>(on) - offset, 24.0);
    const auto [shift, error_db] = placement(got, on, on + 2400, 9600);
    EXPECT_NEAR(shift, offset, 3.0) << "not placed back by the lookahead";
    EXPECT_LT(error_db, -15.0);
    const auto tone = segment(got, on + 2400, 9600);
    EXPECT_NEAR(gno::test::tone_amplitude(tone, 48000, 440.0), 0.5, 0.05);
    // After the gap: nothing placed for the frames never sent, and the new stream carries the
    // tone on its samples again.
    const std::int64_t back = 120 * 240;
    EXPECT_FALSE(got.contains(100 * 240 + 240)) << "samples placed for a frame never sent";
    const auto [shift2, error2_db] = placement(got, on, back + 480, 4800);
    EXPECT_NEAR(shift2, offset, 3.0);
    EXPECT_LT(error2_db, -15.0);
    EXPECT_FALSE(got.contains(150 * 240 + 240 - static_cast<std::int64_t>(offset)))
        << "a short silence was concealed as lost packets";
    const auto [shift3, error3_db] = placement(got, on, 152 * 240 + 480, 4800);
    EXPECT_NEAR(shift3, offset, 3.0);
    EXPECT_LT(error3_db, -15.0);
}

} // namespace
