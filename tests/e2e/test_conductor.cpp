// The conductor's controls (and a performer's own mix) end to end: a real gno-server, a
// performer that joins over the WebSocket and plays from a raw UDP session with the id it was
// given, and a conductor's WebSocket. What the performer receives is decoded with libopus and
// analysed.
#include "e2e_support.hpp"
#include "gno/test/raw_http.hpp"
#include "gno/test/udp_secret.hpp"
#include "gno/test/ws_client.hpp"
#include "raw_session.hpp"

#include <algorithm>
#include <cmath>
#include <opus/opus.h>
#include <poll.h>

namespace gno::e2e {
namespace {

constexpr int k_rate = 48000;
using nlohmann::json;
using test::ws_client;

struct node {
    server_process srv;
    std::uint16_t control = 0;
};

node start_node(const test::temp_dir& dir, std::vector<std::string> extra = {},
                const std::string& name = "server") {
    std::vector<std::string> args{"--join-code", "performer:play-code:0", "--join-code",
                                  "conductor:lead-code"};
    args.insert(args.end(), extra.begin(), extra.end());
    node n{start_server(dir, args, name), 0};
    const auto port = wait_for_line(n.srv.log, "control on tcp [0-9.]+:([0-9]+)");
    if (port)
        n.control = static_cast<std::uint16_t>(std::stoi(*port));
    return n;
}

// Two nodes of a mesh (node1.log, node2.log), node 1 first: node 2 takes its timeline.
std::vector<node> start_mesh(const test::temp_dir& dir) {
    const std::uint16_t mesh_port[2] = {free_ports().first, free_ports().first};
    std::vector<node> nodes;
    for (std::size_t n = 0; n < 2; ++n) {
        nodes.push_back(start_node(dir, test::mesh_node_args(dir.path(), mesh_port, n),
                                   "node" + std::to_string(n + 1)));
        if (nodes.back().control == 0)
            break;
    }
    return nodes;
}

// Plays for `d`, receiving all the while.
void play_for(raw_session& s, std::chrono::milliseconds d) {
    const auto until = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < until) {
        s.send_state();
        for (int i = 0; i < 4; ++i) {
            pollfd fd{s.fd(), POLLIN, 0};
            ::poll(&fd, 1, 5);
            s.receive();
        }
    }
}

std::int64_t last_frame(const raw_session& s) {
    return s.frames.empty() ? 0 : s.frames.rbegin()->first;
}

// Decodes the frames in [from, to) (render samples), mono.
std::vector<float> decode(const raw_session& s, std::int64_t from, std::int64_t to) {
    int err = 0;
    OpusDecoder* dec = opus_decoder_create(k_rate, 2, &err);
    std::vector<float> out;
    std::array<float, 2 * 960> pcm{};
    for (auto it = s.frames.lower_bound(from); it != s.frames.end() && it->first < to; ++it) {
        const auto& bytes = it->second.second;
        const int n = opus_decode_float(dec, reinterpret_cast<const unsigned char*>(bytes.data()),
                                        static_cast<opus_int32>(bytes.size()), pcm.data(), 960, 0);
        for (int i = 0; i < n; ++i)
            out.push_back(0.5f * (pcm[2 * static_cast<std::size_t>(i)] +
                                  pcm[2 * static_cast<std::size_t>(i) + 1]));
    }
    opus_decoder_destroy(dec);
    return out;
}

double level_440(const raw_session& s, std::int64_t from, std::int64_t to) {
    const auto mono = decode(s, from, to);
    return mono.size() < 4800 ? -200.0 : test::tone_level_db(mono, k_rate, 440.0, 10.0);
}

// Mute silences a player in the mix and unmute brings it back; a kick frees its slot, closes
// its WebSocket and stops its stream.
TEST(Conductor, MuteSilencesAPlayerAndKickStopsIt) {
    test::temp_dir dir("gno-e2e-conductor-mute");
    auto n = start_node(dir);
    ASSERT_NE(n.control, 0);
    ws_client lead(n.control), perf(n.control);
    ASSERT_EQ(lead.join("lead-code", "conductor", "Maestro")["type"], "welcome");
    const json w = perf.join("play-code", "performer", "Ann");
    ASSERT_EQ(w["type"], "welcome");
    const auto session = w["player"].get<std::uint32_t>();
    raw_session s(n.srv.port, session, 69); // A4, 440 Hz, piano

    play_for(s, 1500ms);
    const std::int64_t before_mute = last_frame(s);
    lead.send(json{{"type", "mute"}, {"player", session}, {"muted", true}}.dump());
    play_for(s, 1500ms);
    const std::int64_t before_unmute = last_frame(s);
    lead.send(json{{"type", "mute"}, {"player", session}, {"muted", false}}.dump());
    play_for(s, 1500ms);
    const std::int64_t before_kick = last_frame(s);

    const std::int64_t half_s = k_rate / 2;
    const double playing = level_440(s, before_mute - k_rate, before_mute);
    const double muted = level_440(s, before_mute + half_s, before_unmute);
    const double unmuted = level_440(s, before_unmute + half_s, before_kick);
    EXPECT_GT(playing, -30.0);
    EXPECT_LT(muted, playing - 40.0) << "still heard while muted";
    // Back, clearly above the muted level: the held piano note has decayed by then, and frames
    // a loaded machine drops splice clicks into the decoded mix, so not at its first level.
    EXPECT_GT(unmuted, std::max(muted + 30.0, -20.0)) << "not back after unmute";

    lead.send(json{{"type", "kick"}, {"player", session}}.dump());
    const auto kicked = perf.next_of("kick");
    ASSERT_TRUE(kicked);
    EXPECT_EQ((*kicked)["player"], session);
    EXPECT_FALSE(perf.next(2000ms));
    EXPECT_TRUE(perf.closed());
    const std::size_t frames_at_kick = s.frames.size();
    play_for(s, 300ms); // frames already in flight may still land
    const std::size_t settled = s.frames.size();
    play_for(s, 1000ms);
    EXPECT_EQ(s.frames.size(), settled) << "still streamed to after the kick";
    EXPECT_GE(settled, frames_at_kick);
}

// A piece started from the console and a tempo set before it reach every player's timing.
TEST(Conductor, PieceStartAndTempoReachThePlayers) {
    test::temp_dir dir("gno-e2e-conductor-piece");
    auto n = start_node(dir, {"--mode", "one-cycle"});
    ASSERT_NE(n.control, 0);
    ws_client lead(n.control), perf(n.control);
    ASSERT_EQ(lead.join("lead-code", "conductor", "Maestro")["type"], "welcome");
    const auto session = perf.join("play-code", "performer", "Ann")["player"].get<std::uint32_t>();
    raw_session s(n.srv.port, session, 60);
    play_for(s, 500ms);
    ASSERT_TRUE(s.last_info);
    EXPECT_EQ(s.last_info->tempo_milli_bpm, 100'000u);

    lead.send(R"({"type":"timing","tempo_bpm":120,"cycle_beats":8})");
    const auto t = perf.next_of("timing");
    ASSERT_TRUE(t);
    EXPECT_EQ((*t)["tempo_bpm"], 120.0);
    lead.send(R"({"type":"piece","name":"Round","start_in_ms":3000})");
    const auto p = perf.next_of("piece");
    ASSERT_TRUE(p);
    const auto start = (*p)["start_sample"].get<std::int64_t>();
    EXPECT_EQ((*p)["name"], "Round");
    EXPECT_GT(start, last_frame(s));
    play_for(s, 800ms); // player_info goes out four times a second
    ASSERT_TRUE(s.last_info);
    EXPECT_EQ(s.last_info->piece_start, start);
    EXPECT_EQ(s.last_info->cycle_origin, start);
    EXPECT_EQ(s.last_info->tempo_milli_bpm, 120'000u);
    EXPECT_EQ(s.last_info->cycle_beats, 8u);

    // A performer may not start pieces.
    perf.send(R"({"type":"piece","start_in_ms":0})");
    EXPECT_EQ((*perf.next_of("error"))["code"], "forbidden");
}

// DESIGN.md §9: two render nodes of a mesh, one conductor on node 1. Its mode, tempo and cycle,
// its piece start and a tempo change it plans mid-piece reach the performers of node 2 too —
// over their WebSocket and in the timing their node sends them over UDP, on the same render
// samples as node 1's — and a conductor on node 2 sees the change planned by node 1's.
TEST(Conductor, OnOneNodeLeadsThePlayersOfEveryNodeOfTheMesh) {
    test::temp_dir dir("gno-e2e-conductor-mesh");
    const auto nodes = start_mesh(dir);
    ASSERT_TRUE(nodes.size() == 2 && nodes[1].control != 0 &&
                wait_for_line(nodes[1].srv.log, "timeline (of node 1)"));
    ws_client lead(nodes[0].control), perf1(nodes[0].control), perf2(nodes[1].control),
        lead2(nodes[1].control);
    ASSERT_EQ(lead.join("lead-code", "conductor", "Maestro")["type"], "welcome");
    ASSERT_EQ(lead2.join("lead-code", "conductor", "Second")["type"], "welcome");
    const auto id1 = perf1.join("play-code", "performer", "Ann")["player"].get<std::uint32_t>();
    const auto id2 = perf2.join("play-code", "performer", "Bo")["player"].get<std::uint32_t>();
    raw_session s1(nodes[0].srv.port, id1, 60), s2(nodes[1].srv.port, id2, 64);
    play_for(s1, 300ms);
    play_for(s2, 300ms);
    ASSERT_TRUE(s2.last_info);
    EXPECT_EQ(s2.last_info->mode, proto::v1::timing_mode::live); // the nodes' own options

    lead.send(R"({"type":"timing","mode":"one-cycle","tempo_bpm":120,"cycle_beats":8})");
    const auto t = perf2.next_of("timing");
    ASSERT_TRUE(t) << "node 2's performer was not told of node 1's conductor's timing";
    EXPECT_EQ((*t)["mode"], "one-cycle");
    EXPECT_EQ((*t)["tempo_bpm"], 120.0);
    EXPECT_EQ((*t)["cycle_beats"], 8);
    lead.send(R"({"type":"piece","name":"Round","start_in_ms":1500})");
    const auto p1 = perf1.next_of("piece");
    const auto p2 = perf2.next_of("piece");
    ASSERT_TRUE(p1 && p2);
    const auto start = (*p1)["start_sample"].get<std::int64_t>();
    EXPECT_EQ((*p2)["name"], "Round");
    // The same instant on both nodes' timeline (node 2 took node 1's; the offset between
    // them, measured by the mesh's pings, is within a few samples on a loaded machine).
    EXPECT_NEAR(static_cast<double>((*p2)["start_sample"].get<std::int64_t>()),
                static_cast<double>(start), 10.0);
    play_for(s2, 600ms); // player_info goes out four times a second
    ASSERT_TRUE(s2.last_info);
    EXPECT_EQ(s2.last_info->mode, proto::v1::timing_mode::one_cycle);
    EXPECT_EQ(s2.last_info->tempo_milli_bpm, 120'000u);
    EXPECT_EQ(s2.last_info->cycle_beats, 8u);
    EXPECT_NEAR(static_cast<double>(s2.last_info->piece_start), static_cast<double>(start), 10.0);
    EXPECT_NEAR(static_cast<double>(s2.last_info->cycle_origin), static_cast<double>(start), 10.0);

    // Mid-piece, a new tempo is planned on a cycle boundary a cycle ahead: the same on both.
    play_for(s1, 1500ms);
    lead.send(R"({"type":"timing","tempo_bpm":90})");
    ASSERT_TRUE(perf1.next_of("timing"));
    const auto t2 = perf2.next_of("timing");
    ASSERT_TRUE(t2);
    EXPECT_EQ((*t2)["tempo_bpm"], 90.0);
    play_for(s1, 600ms);
    play_for(s2, 600ms);
    ASSERT_TRUE(s1.last_info && s2.last_info);
    ASSERT_GT(s1.last_info->change_at, start);
    EXPECT_EQ((s1.last_info->change_at - start) % (8 * 24000), 0) << "not on a cycle boundary";
    EXPECT_NEAR(static_cast<double>(s2.last_info->change_at),
                static_cast<double>(s1.last_info->change_at), 10.0);
    EXPECT_EQ(s2.last_info->next_tempo_milli_bpm, 90'000u);
    // Node 2 knows a change is planned: its own conductor may not plan another yet.
    lead2.send(R"({"type":"timing","tempo_bpm":140})");
    const auto refused = lead2.next_of("error");
    ASSERT_TRUE(refused);
    EXPECT_EQ((*refused)["code"], "refused");
    // Both nodes render by the same version of the conductor's timing, as /metrics says.
    std::vector<std::string> versions;
    for (const auto& n : nodes) {
        const auto m = test::http_exchange(n.control, "GET /metrics HTTP/1.1\r\n", "");
        const auto at = m.body.find("\ngno_mesh_timing_version ");
        ASSERT_NE(at, std::string::npos) << m.body;
        versions.push_back(m.body.substr(at + 25, m.body.find('\n', at + 1) - at - 25));
    }
    EXPECT_EQ(versions[0], versions[1]);
    EXPECT_NE(versions[0], "0");
}

// The render sample of the first frame of `s` whose decoded mix is louder than `rms`.
std::optional<std::int64_t> first_loud_frame(const raw_session& s, double rms) {
    int err = 0;
    OpusDecoder* dec = opus_decoder_create(k_rate, 2, &err);
    std::array<float, 2 * 960> pcm{};
    std::optional<std::int64_t> found;
    for (const auto& [r, f] : s.frames) {
        const auto& bytes = f.second;
        const int n = opus_decode_float(dec, reinterpret_cast<const unsigned char*>(bytes.data()),
                                        static_cast<opus_int32>(bytes.size()), pcm.data(), 960, 0);
        double sum = 0;
        for (int i = 0; i < 2 * n; ++i)
            sum += static_cast<double>(pcm[static_cast<std::size_t>(i)]) *
                   pcm[static_cast<std::size_t>(i)];
        if (n > 0 && std::sqrt(sum / (2 * n)) > rms) {
            found = r;
            break;
        }
    }
    opus_decoder_destroy(dec);
    return found;
}

// The conductor's talk-back on node 1 of a mesh reaches node 2's performers too: they are told
// it is on and off as by their own conductor, and it sounds in both nodes' mixes from the same
// render sample (each node plays it where node 1 placed it on the shared timeline).
TEST(Conductor, TalkBackOnOneNodeIsHeardOnEveryNodeAtTheSameTime) {
    test::temp_dir dir("gno-e2e-talkback-mesh");
    const auto nodes = start_mesh(dir);
    ASSERT_TRUE(nodes.size() == 2 && nodes[1].control != 0 &&
                wait_for_line(nodes[1].srv.log, "timeline (of node 1)"));
    ws_client lead(nodes[0].control), perf1(nodes[0].control), perf2(nodes[1].control);
    ASSERT_EQ(lead.join("lead-code", "conductor", "Maestro")["type"], "welcome");
    const auto id1 = perf1.join("play-code", "performer", "Ann")["player"].get<std::uint32_t>();
    const auto id2 = perf2.join("play-code", "performer", "Bo")["player"].get<std::uint32_t>();
    raw_session s1(nodes[0].srv.port, id1, -1), s2(nodes[1].srv.port, id2, -1); // no notes
    auto both = [&](std::chrono::milliseconds d) {
        const auto until = std::chrono::steady_clock::now() + d;
        do {
            for (raw_session* s : {&s1, &s2}) {
                s->send_state();
                pollfd fd{s->fd(), POLLIN, 0};
                ::poll(&fd, 1, 2);
                s->receive();
            }
        } while (std::chrono::steady_clock::now() < until);
    };
    both(1000ms);
    ASSERT_FALSE(first_loud_frame(s2, 0.01)) << "node 2's mix is not silent before the talk-back";

    lead.send(R"({"type":"talkback_begin"})");
    // One second of 1 kHz at half scale, in 20 ms chunks at the pace a browser sends them.
    const auto t0 = std::chrono::steady_clock::now();
    for (int k = 0; k < 50; ++k) {
        std::vector<std::uint8_t> chunk(2 * 960);
        for (int i = 0; i < 960; ++i) {
            const double t = static_cast<double>(k * 960 + i) / k_rate;
            const auto v = static_cast<std::int16_t>(16384.0 * std::sin(2.0 * M_PI * 1000.0 * t));
            chunk[2 * static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v & 0xFF);
            chunk[2 * static_cast<std::size_t>(i) + 1] = static_cast<std::uint8_t>((v >> 8) & 0xFF);
        }
        lead.send_binary(chunk);
        both(std::chrono::duration_cast<std::chrono::milliseconds>(
            t0 + (k + 1) * 20ms - std::chrono::steady_clock::now()));
    }
    // Told as the first of it arrived.
    const auto on = perf2.next_of("talkback");
    ASSERT_TRUE(on) << "node 2's performer was not told of node 1's talk-back";
    EXPECT_EQ((*on)["state"], "on");
    lead.send(R"({"type":"talkback_end"})");
    const auto off = perf2.next_of("talkback");
    ASSERT_TRUE(off);
    EXPECT_EQ((*off)["state"], "off");
    both(1000ms);

    const auto on1 = first_loud_frame(s1, 0.05);
    const auto on2 = first_loud_frame(s2, 0.05);
    ASSERT_TRUE(on1) << "node 1's performer did not hear the talk-back";
    ASSERT_TRUE(on2) << "node 2's performer did not hear node 1's talk-back";
    EXPECT_LE(std::abs(*on1 - *on2), 240) << "node 1 at " << *on1 << ", node 2 at " << *on2;
    const auto heard = decode(s2, *on2 + 4800, *on2 + 4800 + 24000);
    EXPECT_GT(test::tone_level_db(heard, k_rate, 1000.0, 20.0), -3.0) << "not the 1 kHz talk-back";
}

// A performer's own mix (--mix own): alone, it does not hear itself (mix-minus); asking for its
// own voice at level 1 brings its 440 Hz in, and 0 takes it out again. The answers say so.
TEST(PerformerMix, OwnLevelBringsThePlayersVoiceInAndOut) {
    test::temp_dir dir("gno-e2e-own-level");
    auto n = start_node(dir, {"--mix", "own"});
    ASSERT_NE(n.control, 0);
    ws_client perf(n.control);
    const json w = perf.join("play-code", "performer", "Ann");
    ASSERT_EQ(w["type"], "welcome");
    const auto session = w["player"].get<std::uint32_t>();
    raw_session s(n.srv.port, session, 69); // A4, 440 Hz, piano

    play_for(s, 1500ms);
    const std::int64_t before_in = last_frame(s);
    perf.send(R"({"type":"mix","own":1})");
    const auto in = perf.next_of("mix");
    ASSERT_TRUE(in);
    EXPECT_EQ((*in)["own"], 1.0);
    EXPECT_EQ((*in)["mix_mode"], "own");
    EXPECT_EQ((*in)["applied"], true);
    play_for(s, 1500ms);
    const std::int64_t before_out = last_frame(s);
    perf.send(R"({"type":"mix","own":0})");
    const auto out = perf.next_of("mix");
    ASSERT_TRUE(out);
    EXPECT_EQ((*out)["own"], 0.0);
    play_for(s, 1500ms);
    const std::int64_t end = last_frame(s);

    const std::int64_t half_s = k_rate / 2;
    const double alone = level_440(s, before_in - k_rate, before_in);
    const double heard = level_440(s, before_in + half_s, before_out);
    const double gone = level_440(s, before_out + half_s, end);
    // Its mix streamed all along, silent or not: the levels are measured, not missing.
    EXPECT_GT(decode(s, before_in - k_rate, before_in).size(), 40000u);
    EXPECT_GT(decode(s, before_out + half_s, end).size(), 40000u);
    EXPECT_GT(heard, -30.0) << "own level 1 and still not heard";
    EXPECT_LT(alone, heard - 40.0) << "heard itself before asking (not mix-minus)";
    EXPECT_LT(gone, heard - 40.0) << "still heard itself at own level 0";
    for (const auto& [r, f] : s.frames)
        ASSERT_NE(f.first, 0u) << "a shared-mix packet on an own-mix node";
}

// A shared-mix node keeps a performer's levels but cannot honour them, and says so.
TEST(PerformerMix, ASharedMixNodeAnswersThatTheLevelsAreNotHeard) {
    test::temp_dir dir("gno-e2e-shared-level");
    auto n = start_node(dir);
    ASSERT_NE(n.control, 0);
    ws_client perf(n.control);
    ASSERT_EQ(perf.join("play-code", "performer", "Ann")["type"], "welcome");
    perf.send(R"({"type":"mix","own":1,"sections":{"piano":0.5}})");
    const auto m = perf.next_of("mix");
    ASSERT_TRUE(m);
    EXPECT_EQ((*m)["own"], 1.0);
    EXPECT_EQ((*m)["sections"]["piano"], 0.5);
    EXPECT_EQ((*m)["mix_mode"], "shared");
    EXPECT_EQ((*m)["applied"], false);
    perf.send(R"({"type":"mix","own":5})");
    const auto e = perf.next_of("error");
    ASSERT_TRUE(e);
    EXPECT_EQ((*e)["message"], "field 'own' must be from 0.0 to 2.0");
}

} // namespace
} // namespace gno::e2e
