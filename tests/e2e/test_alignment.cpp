// DESIGN.md §4 end to end: players behind different network delays, with clocks the server
// does not know, play a unison; their onsets in the rendered stems must coincide within 1 ms
// (48 samples). Real gno-server, gno-client and gno-impair processes; one-cycle also through
// a real jackd (dummy driver).
#include "alignment_run.hpp"
#include "gno/test/process.hpp"

#include <gtest/gtest.h>

namespace gno::e2e {
namespace {

bench::alignment_params unison(const std::string& mode, const test::temp_dir& dir) {
    bench::alignment_params p;
    p.mode = mode;
    p.notes = 8;
    p.cycle_beats = 4; // a 2.4 s cycle keeps the test short
    p.piece_start_s = 8;
    p.server_exe = GNO_SERVER_EXE;
    p.client_exe = GNO_CLIENT_EXE;
    p.impair_exe = GNO_IMPAIR_EXE;
    p.work_dir = dir.path();
    return p;
}

void expect_aligned(const bench::alignment_result& r, std::size_t players) {
    ASSERT_TRUE(r.error.empty()) << r.error;
    EXPECT_EQ(r.beats, 8u) << r.json();
    EXPECT_EQ(r.onsets, 8u * players) << r.json();
    EXPECT_LE(r.alignment_error_max_samples, 48.0) << r.json();
    EXPECT_LE(r.spread_p99_samples, 48.0) << r.json();
    EXPECT_EQ(r.late_events, 0u) << r.json();
}

TEST(Alignment, TimeAdvancedUnisonAcross20And250MsCoincides) {
    test::temp_dir dir("gno-e2e-align-ta");
    auto p = unison("time-advanced", dir);
    p.players = {{20, 0, 0, 1234.5, 60}, {250, 0, 0, -3210.0, -80}};
    expect_aligned(bench::run_alignment(p), 2);
}

TEST(Alignment, OneCycleUnisonAcross20And250MsThroughJackCoincides) {
    test::temp_dir dir("gno-e2e-align-oc");
    auto p = unison("one-cycle", dir);
    p.players = {{20, 0, 0, 2500.0, 40}, {250, 0, 0, -700.0, -100}};
    p.use_jack = true;
    expect_aligned(bench::run_alignment(p), 2);
}

TEST(Alignment, LiveUnisonWithinTheUplinkBudgetCoincides) {
    test::temp_dir dir("gno-e2e-align-live");
    auto p = unison("live", dir);
    p.players = {{10, 0, 0, 800.0, 20}, {35, 0, 0, -1500.0, -50}}; // both within U = 50 ms
    expect_aligned(bench::run_alignment(p), 2);
}

// DESIGN.md §9: three render nodes (separate processes) exchange section stems; one player on
// each, behind 20, 120 and 250 ms. Their stems coincide on the shared timeline, and what each
// node mixes from its peers starts on the very sample their players' stems do.
TEST(Alignment, TimeAdvancedAcrossThreeNodesCoincidesInEveryNodesMix) {
    test::temp_dir dir("gno-e2e-align-nodes");
    auto p = unison("time-advanced", dir);
    p.nodes = 3;
    p.players = {{20, 0, 0, 1234.5, 60}, {120, 0, 0, -3210.0, -80}, {250, 0, 0, 400.0, 10}};
    const auto r = bench::run_alignment(p);
    expect_aligned(r, 3);
    // Every node mixed its two peers' players, once a beat, where their stems start: two equal
    // attacks summed cross -60 dBFS up to ~7 samples before either alone does; a slice placed
    // a frame (240 samples) or the mix delay off would be far outside.
    EXPECT_EQ(r.mix_onsets, 3u * 8u) << r.json();
    EXPECT_LE(r.mix_error_max_samples, 10.0) << r.json();
}

// The same across three nodes in one-cycle mode, with the timing coming from a conductor on
// node 1 (mode, tempo, cycle, piece start over its WebSocket) rather than every node's
// options: the mesh carries it to nodes 2 and 3, whose players' events land a cycle after
// they were heard, on the same beats as node 1's.
TEST(Alignment, OneCycleAcrossThreeNodesLedByAConductorOnNode1Coincides) {
    test::temp_dir dir("gno-e2e-align-nodes-oc");
    auto p = unison("one-cycle", dir);
    p.nodes = 3;
    p.conducted = true;
    p.players = {{20, 0, 0, 1234.5, 60}, {120, 0, 0, -3210.0, -80}, {250, 0, 0, 400.0, 10}};
    const auto r = bench::run_alignment(p);
    expect_aligned(r, 3);
    EXPECT_EQ(r.mix_onsets, 3u * 8u) << r.json();
    EXPECT_LE(r.mix_error_max_samples, 10.0) << r.json();
}

} // namespace
} // namespace gno::e2e
