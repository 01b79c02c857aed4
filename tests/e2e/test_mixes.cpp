// The mixes end to end (DESIGN.md §6): real gno-server, real gno-client processes or raw UDP
// sessions on 127.0.0.1, audio checked by analysis of what the players receive.
#include "e2e_support.hpp"
#include "gno/proto/v1/datagram.hpp"
#include "raw_session.hpp"

#include <arpa/inet.h>
#include <map>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace gno::e2e {
namespace {

constexpr int k_rate = 48000;

// --mix own: three performers hold three notes with no partial in common; each one's output
// holds the two others and not itself (mix-minus).
TEST(Mixes, EachPerformerHearsTheOthersAndNotThemselves) {
    test::temp_dir dir("gno-e2e-mix-minus");
    auto srv = start_server(dir, {"--mix", "own", "--mode", "time-advanced"});
    ASSERT_NE(srv.port, 0);
    const int keys[3] = {57, 61, 77}; // A3 220 Hz, C#4 277.2 Hz, F5 698.5 Hz
    const double hz[3] = {220.0, 277.18, 698.46};
    std::vector<test::child_process> clients;
    for (int i = 0; i < 3; ++i) {
        const std::string name = "player" + std::to_string(i);
        clients.push_back(
            start_client(dir, srv.port,
                         {"--program", "73", "--play", "hold:" + std::to_string(keys[i]) + ":4000",
                          "--duration", "6", "--output", (dir / (name + ".wav")).string()},
                         name));
    }
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(clients[static_cast<std::size_t>(i)].wait_for_exit(60s), std::optional<int>(0))
            << test::read_file(dir / ("player" + std::to_string(i) + ".err"));
    for (int i = 0; i < 3; ++i) {
        const auto mono = read_mono(dir / ("player" + std::to_string(i) + ".wav"));
        const auto onset = test::first_sample_above_dbfs(mono, -40.0);
        ASSERT_TRUE(onset) << "player " << i << " heard nothing";
        const double t0 = static_cast<double>(*onset) / k_rate;
        // All three hold their notes from about t0 to t0 + 3.5 s (they start together).
        const auto seg = test::slice_seconds(mono, k_rate, t0 + 1.0, t0 + 2.5);
        for (int j = 0; j < 3; ++j) {
            const double level = test::tone_level_db(seg, k_rate, hz[j], hz[j] * 0.02);
            if (i == j)
                EXPECT_LT(level, -35.0) << "player " << i << " hears itself";
            else
                EXPECT_GT(level, -20.0) << "player " << i << " does not hear player " << j;
        }
    }
    srv.proc.signal(SIGINT);
    const auto summary = wait_for_line(srv.log, "stopped[^;]*; (\\{.*\\})");
    ASSERT_TRUE(summary);
    EXPECT_EQ(json_number(*summary, "distinct_mixes"), 3.0);
}

// DESIGN.md §9: three render nodes (separate processes) exchange section stems. Four
// performers with their own mixes (mix-minus), two on node 1 and one each on nodes 2 and 3,
// hold four notes with no partial in common: each hears the three others, on whatever node,
// and not itself. A node's egress to its players grows with its own players; its egress to
// the mesh with its sections, not with the players anywhere.
TEST(Mixes, PerformersOnThreeNodesHearEachOtherAndNotThemselves) {
    test::temp_dir dir("gno-e2e-mix-nodes");
    std::uint16_t mesh_port[3];
    for (auto& p : mesh_port)
        p = free_ports().first;
    auto node_args = [&](int n) {
        auto a = test::mesh_node_args(dir.path(), mesh_port, static_cast<std::size_t>(n));
        a.insert(a.end(), {"--mix", "own", "--mode", "time-advanced"});
        return a;
    };
    std::vector<server_process> nodes;
    for (int n = 0; n < 3; ++n) {
        nodes.push_back(start_server(dir, node_args(n), "node" + std::to_string(n + 1)));
        ASSERT_NE(nodes.back().port, 0);
    }
    for (int n = 1; n < 3; ++n)
        ASSERT_TRUE(wait_for_line(nodes[static_cast<std::size_t>(n)].log, "timeline (of node 1)"))
            << "node " << n + 1 << " did not take node 1's timeline";
    const int keys[4] = {57, 61, 77, 70}; // A3 220, C#4 277.2, F5 698.5, A#4 466.2 Hz
    const double hz[4] = {220.0, 277.18, 698.46, 466.16};
    const int on_node[4] = {0, 1, 2, 0};
    std::vector<test::child_process> clients;
    for (int i = 0; i < 4; ++i) {
        const std::string name = "player" + std::to_string(i);
        clients.push_back(
            start_client(dir, nodes[static_cast<std::size_t>(on_node[i])].port,
                         {"--program", "73", "--play", "hold:" + std::to_string(keys[i]) + ":4000",
                          "--duration", "6", "--output", (dir / (name + ".wav")).string()},
                         name));
    }
    for (int i = 0; i < 4; ++i)
        ASSERT_EQ(clients[static_cast<std::size_t>(i)].wait_for_exit(60s), std::optional<int>(0))
            << test::read_file(dir / ("player" + std::to_string(i) + ".err"));
    for (int i = 0; i < 4; ++i) {
        const auto mono = read_mono(dir / ("player" + std::to_string(i) + ".wav"));
        const auto onset = test::first_sample_above_dbfs(mono, -40.0);
        ASSERT_TRUE(onset) << "player " << i << " heard nothing";
        const double t0 = static_cast<double>(*onset) / k_rate;
        const auto seg = test::slice_seconds(mono, k_rate, t0 + 1.0, t0 + 2.5);
        for (int j = 0; j < 4; ++j) {
            const double level = test::tone_level_db(seg, k_rate, hz[j], hz[j] * 0.02);
            if (i == j)
                EXPECT_LT(level, -35.0) << "player " << i << " hears itself";
            else
                EXPECT_GT(level, -20.0)
                    << "player " << i << " (node " << on_node[i] + 1 << ") does not hear player "
                    << j << " (node " << on_node[j] + 1 << ")";
        }
    }
    std::optional<double> to_players[3], to_mesh[3];
    for (int n = 0; n < 3; ++n) {
        auto& node = nodes[static_cast<std::size_t>(n)];
        node.proc.signal(SIGINT);
        const auto summary = wait_for_line(node.log, "stopped[^;]*; (\\{.*\\})");
        ASSERT_TRUE(summary) << "node " << n + 1;
        to_players[n] = json_number(*summary, "bytes_out");
        to_mesh[n] = json_number(*summary, "mesh_bytes_out");
        ASSERT_TRUE(to_players[n] && to_mesh[n] && *to_players[n] > 0 && *to_mesh[n] > 0)
            << *summary;
        EXPECT_EQ(json_number(*summary, "mesh_late_stems"), 0.0) << "node " << n + 1;
    }
    // Node 1 streams to two players, nodes 2 and 3 to one each; each sends one section (the
    // flutes) to two peers for about as long.
    for (int n = 1; n < 3; ++n) {
        const double players_ratio = *to_players[0] / *to_players[n];
        const double mesh_ratio = *to_mesh[0] / *to_mesh[n];
        EXPECT_GT(players_ratio, 1.6) << "node " << n + 1;
        EXPECT_LT(players_ratio, 2.5) << "node " << n + 1;
        EXPECT_GT(mesh_ratio, 0.7) << "node " << n + 1;
        EXPECT_LT(mesh_ratio, 1.4) << "node " << n + 1;
    }
}

// DESIGN.md §9, the directory: three nodes, each serving a section. A violist asks node 1's
// directory and is sent to node 3 (the strings); a trumpeter plays on node 1. Node 3 is killed:
// the violist is told (its control link drops), asks the directories again, moves to another
// node and plays on, heard by the trumpeter and hearing it, on the same timeline. A new node 3
// takes the old one's place: the directory sends the next violist there, and node 1's mix
// picks that section up again.
TEST(Mixes, ADirectoryPlacesPlayersAndMovesThemWhenTheirNodeDies) {
    test::temp_dir dir("gno-e2e-directory");
    std::uint16_t mesh_port[3];
    for (auto& p : mesh_port)
        p = free_ports().first;
    const char* sections[3] = {"8", "1", "6"}; // brass, pianos, strings (counted from 1)
    auto node_args = [&](int n) {
        auto a = test::mesh_node_args(dir.path(), mesh_port, static_cast<std::size_t>(n));
        a.insert(a.end(), {"--sections", sections[n]});
        if (n < 2) // node 3 has no performer code: it admits whom the directory sends it
            a.insert(a.end(), {"--join-code", "performer:violins", "--join-code",
                               "conductor:baton-" + std::to_string(n)});
        return a;
    };
    auto control_port = [](const server_process& s) {
        const auto p = wait_for_line(s.log, "control on tcp [0-9.]+:([0-9]+)");
        EXPECT_TRUE(p);
        return p ? std::stoi(*p) : 0;
    };
    std::vector<server_process> nodes;
    for (int n = 0; n < 3; ++n) {
        nodes.push_back(start_server(dir, node_args(n), "node" + std::to_string(n + 1)));
        ASSERT_NE(nodes.back().port, 0);
    }
    for (int n = 1; n < 3; ++n)
        ASSERT_TRUE(wait_for_line(nodes[static_cast<std::size_t>(n)].log, "timeline (of node 1)"));
    const std::string directory = "127.0.0.1:" + std::to_string(control_port(nodes[0]));
    std::this_thread::sleep_for(1s); // every node's advert has reached node 1
    auto start_by_directory = [&](const std::string& name, int key, int hold_ms,
                                  double duration_s) {
        test::child_options o;
        o.stdout_file = dir / (name + ".log");
        o.stderr_file = dir / (name + ".err");
        return test::child_process(
            GNO_CLIENT_EXE,
            {"--directory", directory, "--join-code", "violins", "--program", "41", "--play",
             "hold:" + std::to_string(key) + ":" + std::to_string(hold_ms), "--duration",
             std::to_string(duration_s), "--no-ui", "--output", (dir / (name + ".wav")).string()},
            o);
    };
    using clock = std::chrono::steady_clock;
    auto seconds_since = [](clock::time_point t0) {
        return std::chrono::duration<double>(clock::now() - t0).count();
    };
    const double viola_hz = 466.16, trumpet_hz = 277.18, second_viola_hz = 698.46;
    const auto viola_start = clock::now();
    auto viola = start_by_directory("viola", 70, 15000, 16);
    ASSERT_TRUE(wait_for_line(dir / "viola.log", "sends us to node 3 .*section strings"))
        << test::read_file(dir / "viola.err");
    ASSERT_TRUE(wait_for_line(dir / "viola.log", "joined as player"));
    const auto trumpet_start = clock::now();
    auto trumpet = start_client(dir, nodes[0].port,
                                {"--join-code", "violins", "--control-port",
                                 std::to_string(control_port(nodes[0])), "--program", "56",
                                 "--play", "hold:61:15000", "--duration", "16", "--no-ui",
                                 "--output", (dir / "trumpet.wav").string()},
                                "trumpet");
    std::this_thread::sleep_for(5s);
    nodes[2].proc.signal(SIGKILL);
    const auto moved = wait_for_line(dir / "viola.log", "moving to node ([12]) ", 15s);
    ASSERT_TRUE(moved) << "the violist was not moved: " << test::read_file(dir / "viola.log")
                       << test::read_file(dir / "viola.err");
    const double moved_at_viola = seconds_since(viola_start);
    const double moved_at_trumpet = seconds_since(trumpet_start);
    // A new node 3 (the same id and mesh port; new player ports) takes the old one's place.
    std::this_thread::sleep_for(1s);
    nodes.push_back(start_server(dir, node_args(2), "node3-again"));
    ASSERT_TRUE(wait_for_line(nodes.back().log, "timeline (of node 1)"));
    std::this_thread::sleep_for(1s);
    const double second_at_trumpet = seconds_since(trumpet_start);
    auto second_viola = start_by_directory("viola2", 77, 4000, 5);
    ASSERT_TRUE(wait_for_line(dir / "viola2.log", "sends us to node 3 "))
        << test::read_file(dir / "viola2.log") << test::read_file(dir / "viola2.err");
    for (auto* c : {&viola, &trumpet, &second_viola})
        ASSERT_EQ(c->wait_for_exit(60s), std::optional<int>(0));

    // Time in a client's WAV runs from about its start (it opens the file before it joins).
    const auto trumpet_hears = read_mono(dir / "trumpet.wav");
    const auto viola_hears = read_mono(dir / "viola.wav");
    auto level = [](const std::vector<float>& mono, double from, double to, double hz) {
        return test::tone_level_db(test::slice_seconds(mono, k_rate, from, to), k_rate, hz,
                                   hz * 0.02);
    };
    EXPECT_GT(level(trumpet_hears, 1.5, 3.0, viola_hz), -20.0)
        << "node 1 does not mix the violist on node 3";
    EXPECT_GT(level(trumpet_hears, moved_at_trumpet + 0.5, moved_at_trumpet + 2.0, viola_hz), -20.0)
        << "the violist is not heard after moving to node " << *moved;
    EXPECT_GT(level(viola_hears, moved_at_viola + 0.5, moved_at_viola + 2.0, trumpet_hz), -20.0)
        << "the violist hears nothing of node 1 after moving";
    EXPECT_GT(level(viola_hears, moved_at_viola + 0.5, moved_at_viola + 2.0, viola_hz), -20.0)
        << "the violist's held note did not go on at node " << *moved;
    EXPECT_GT(
        level(trumpet_hears, second_at_trumpet + 1.5, second_at_trumpet + 3.5, second_viola_hz),
        -20.0)
        << "node 1 does not mix the new node 3's section";
}

// Two sessions playing for about a second; returns them with what they received.
std::pair<std::unique_ptr<raw_session>, std::unique_ptr<raw_session>> play_two(std::uint16_t port) {
    auto a = std::make_unique<raw_session>(port, 0x1001, 60);
    auto b = std::make_unique<raw_session>(port, 0x1002, 67);
    const auto until = std::chrono::steady_clock::now() + 1500ms;
    while (std::chrono::steady_clock::now() < until) {
        a->send_state();
        b->send_state();
        for (int i = 0; i < 10; ++i) {
            pollfd fds[2] = {{a->fd(), POLLIN, 0}, {b->fd(), POLLIN, 0}};
            ::poll(fds, 2, 5);
            a->receive();
            b->receive();
        }
    }
    return {std::move(a), std::move(b)};
}

// --mix shared: every player receives the same encoded packet, byte for byte, for every frame.
TEST(Mixes, SharedMixPacketsAreByteIdenticalForEveryPlayer) {
    test::temp_dir dir("gno-e2e-shared");
    auto srv = start_server(dir, {"--mix", "shared"});
    ASSERT_NE(srv.port, 0);
    auto [a, b] = play_two(srv.port);
    int common = 0;
    for (const auto& [r, fa] : a->frames) {
        const auto it = b->frames.find(r);
        if (it == b->frames.end())
            continue;
        ++common;
        EXPECT_EQ(fa.first, 0u);
        EXPECT_EQ(it->second.first, 0u);
        EXPECT_EQ(fa.second, it->second.second) << "render sample " << r;
    }
    EXPECT_GT(common, 100) << "frames both sessions received";
}

// --mix own: each player's packets are its own mix (its mix id), and they differ.
TEST(Mixes, OwnMixPacketsAreEachPlayersOwn) {
    test::temp_dir dir("gno-e2e-own");
    auto srv = start_server(dir, {"--mix", "own"});
    ASSERT_NE(srv.port, 0);
    auto [a, b] = play_two(srv.port);
    int common = 0, differ = 0;
    for (const auto& [r, fa] : a->frames) {
        const auto it = b->frames.find(r);
        if (it == b->frames.end())
            continue;
        ++common;
        EXPECT_NE(fa.first, 0u);
        EXPECT_NE(fa.first, it->second.first);
        differ += fa.second != it->second.second ? 1 : 0;
    }
    EXPECT_GT(common, 100);
    EXPECT_GT(differ, common / 2);
}

} // namespace
} // namespace gno::e2e
