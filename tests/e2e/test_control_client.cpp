// gno-client on the control plane, end to end: a real gno-server, gno-client --join-code, and
// a conductor's WebSocket. What the client heard is analysed from its WAV output.
#include "e2e_support.hpp"
#include "gno/test/ws_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <csignal>
#include <iostream>
#include <thread>

namespace gno::e2e {
namespace {

constexpr int k_rate = 48000;
using nlohmann::json;
using test::ws_client;

const std::vector<std::string> k_codes{"--join-code", "performer:play-code:0", "--join-code",
                                       "conductor:lead-code"};

struct node {
    server_process srv;
    std::uint16_t control = 0;
};

node start_node(const test::temp_dir& dir) {
    node n{start_server(dir, k_codes), 0};
    if (const auto port = wait_for_line(n.srv.log, "control on tcp [0-9.]+:([0-9]+)"))
        n.control = static_cast<std::uint16_t>(std::stoi(*port));
    return n;
}

// gno-server on fixed ports, so a restarted one is found where the first one was.
test::child_process start_fixed(const test::temp_dir& dir, const std::string& name,
                                std::uint16_t udp, std::uint16_t control) {
    auto args = k_codes;
    args.insert(args.end(),
                {"--port", std::to_string(udp), "--control-port", std::to_string(control)});
    test::child_options o;
    o.stdout_file = dir / (name + ".log");
    o.stderr_file = dir / (name + ".err");
    test::child_process p(GNO_SERVER_EXE, args, o);
    EXPECT_TRUE(wait_for_line(dir / (name + ".log"), "control on tcp [0-9.]+:([0-9]+)"))
        << name << " did not start: " << test::read_file(dir / (name + ".err"));
    return p;
}

double level_440(const std::vector<float>& mono, double from_s, double to_s) {
    return test::tone_level_db(test::slice_seconds(mono, k_rate, from_s, to_s), k_rate, 440.0, 8.8);
}

// (a) Joins with a code, plays A4, is seen in the conductor's roster under the player id the
// welcome gave, and logs the image the conductor sends to everyone.
TEST(ControlClient, JoinsWithACodePlaysAndLogsTheConductorsImage) {
    test::temp_dir dir("gno-e2e-control-client");
    auto n = start_node(dir);
    ASSERT_NE(n.control, 0);
    ws_client lead(n.control);
    ASSERT_EQ(lead.join("lead-code", "conductor", "Maestro")["type"], "welcome");

    auto client = start_client(
        dir, n.srv.port,
        {"--join-code", "play-code", "--control-port", std::to_string(n.control), "--name", "Flo",
         "--program", "73", "--play", "hold:69:2000", "--duration", "4", "--output",
         (dir / "client.wav").string(), "--summary", (dir / "client.json").string()});
    const auto player = wait_for_line(dir / "client.log", "joined as player ([0-9]+)", 10s);
    ASSERT_TRUE(player) << test::read_file(dir / "client.err");
    const auto id = static_cast<std::uint32_t>(std::stoul(*player));

    // The roster shows the player under its id, with key states arriving over UDP.
    bool seen = false;
    for (int i = 0; i < 6 && !seen; ++i) {
        const auto roster = lead.next_of("roster", 2000ms);
        ASSERT_TRUE(roster);
        for (const auto& p : (*roster)["players"])
            if (p.value("player", 0u) == id && p.value("name", "") == "Flo" &&
                p.value("udp", false))
                seen = true;
    }
    EXPECT_TRUE(seen) << "player " << id << " not in the roster with UDP";

    lead.send(json{{"type", "image"}, {"section", "all"}, {"image", "swell"}}.dump());
    EXPECT_TRUE(wait_for_line(dir / "client.log", "gno-client: (image all swell)", 5s))
        << test::read_file(dir / "client.log");

    ASSERT_EQ(client.wait_for_exit(20s), std::optional<int>(0))
        << test::read_file(dir / "client.err");
    EXPECT_EQ(json_number(test::read_file(dir / "client.json"), "session_id").value_or(-1),
              static_cast<double>(id));
    const auto mono = read_mono(dir / "client.wav");
    const auto onset = test::first_sample_above_dbfs(mono, -40.0);
    ASSERT_TRUE(onset) << "no sound in the client's output";
    const double t0 = static_cast<double>(*onset) / k_rate;
    EXPECT_GT(level_440(mono, t0 + 0.2, t0 + 1.5), -15.0) << "what it heard is not A4";
}

// (b) A wrong code: a clear refusal and a non-zero exit, without retrying.
TEST(ControlClient, AWrongCodeIsRefusedClearlyAndExitsNonZero) {
    test::temp_dir dir("gno-e2e-control-refused");
    auto n = start_node(dir);
    ASSERT_NE(n.control, 0);
    const auto t0 = std::chrono::steady_clock::now();
    const auto rc = run_client(dir, n.srv.port,
                               {"--join-code", "not-the-code", "--control-port",
                                std::to_string(n.control), "--play", "hold:69:500", "--no-ui"});
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
    ASSERT_TRUE(rc);
    EXPECT_NE(*rc, 0);
    const auto err = test::read_file(dir / "client.err");
    EXPECT_NE(err.find("gno-client: the server refused the join code: "), std::string::npos) << err;
    EXPECT_EQ(count_of(err, "refused"), 1u) << err;
}

// (c) The server dies mid-play and comes back on the same ports: the client joins again by
// itself within ~2 s, moves to its new player id, and sounds again.
TEST(ControlClient, RejoinsARestartedServerAndSoundsAgain) {
    test::temp_dir dir("gno-e2e-control-restart");
    const auto [udp, control] = free_ports();
    auto first = start_fixed(dir, "server1", udp, control);
    auto client =
        start_client(dir, udp,
                     {"--join-code", "play-code", "--control-port", std::to_string(control),
                      "--program", "73", "--play", "hold:69:10500", "--duration", "11", "--output",
                      (dir / "client.wav").string(), "--summary", (dir / "client.json").string()});
    ASSERT_TRUE(wait_for_line(dir / "client.log", "joined as player ([0-9]+)", 10s))
        << test::read_file(dir / "client.err");
    std::this_thread::sleep_for(4s);

    first.signal(SIGKILL);
    first.wait_for_exit(5s);
    const auto restarted = std::chrono::steady_clock::now();
    auto second = start_fixed(dir, "server2", udp, control);
    bool rejoined = false;
    while (std::chrono::steady_clock::now() - restarted < 5s) {
        if (count_of(test::read_file(dir / "client.log"), "joined as player") >= 2) {
            rejoined = true;
            break;
        }
        std::this_thread::sleep_for(20ms);
    }
    const auto took = std::chrono::steady_clock::now() - restarted;
    std::cout << "re-joined " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
              << " ms after the restart began\n";
    ASSERT_TRUE(rejoined) << test::read_file(dir / "client.log");
    EXPECT_LT(took, 2500ms) << "re-joined only after "
                            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                            << " ms";
    EXPECT_NE(test::read_file(dir / "client.log").find("control link lost"), std::string::npos);

    ASSERT_EQ(client.wait_for_exit(30s), std::optional<int>(0))
        << test::read_file(dir / "client.err");
    const auto mono = read_mono(dir / "client.wav");
    const double len = static_cast<double>(mono.size()) / k_rate;
    ASSERT_GT(len, 9.0);
    // The restart came ~5 s in; the last 2.5 s are well after the re-join.
    EXPECT_GT(level_440(mono, len - 2.8, len - 0.3), -15.0)
        << "no A4 after the restart; log: " << test::read_file(dir / "client.log");
}

// A server killed and restarted in the middle of a phrase: the client re-joins, the phrase
// plays on (its notes sound after the restart), and when the phrase is over nothing is left
// sounding: no note held over from before the kill, none stuck by a lost key-up.
TEST(ControlClient, PlaysOnThroughAServerRestartMidPhraseWithNoStuckNotes) {
    test::temp_dir dir("gno-e2e-control-midpiece");
    const auto [udp, control] = free_ports();
    auto first = start_fixed(dir, "server1", udp, control);
    // 24 notes of 250 ms with 250 ms gaps: 12 s; the client stops 2.5 s after the last one.
    auto client =
        start_client(dir, udp,
                     {"--join-code", "play-code", "--control-port", std::to_string(control),
                      "--program", "19", "--play", "phrase:24:250:250", "--duration", "14.5",
                      "--output", (dir / "client.wav").string(), "--no-ui"});
    ASSERT_TRUE(wait_for_line(dir / "client.log", "joined as player ([0-9]+)", 10s))
        << test::read_file(dir / "client.err");
    std::this_thread::sleep_for(4s);
    first.signal(SIGKILL); // mid-phrase: some note is down now or 250 ms from now
    first.wait_for_exit(5s);
    auto second = start_fixed(dir, "server2", udp, control);
    ASSERT_EQ(client.wait_for_exit(40s), std::optional<int>(0))
        << test::read_file(dir / "client.err");
    EXPECT_EQ(count_of(test::read_file(dir / "client.log"), "joined as player"), 2u)
        << test::read_file(dir / "client.log");

    const auto mono = read_mono(dir / "client.wav");
    const double len = static_cast<double>(mono.size()) / k_rate;
    ASSERT_GT(len, 13.0);
    // --duration counts from the phrase's downbeat, so the phrase ends 2.5 s before the WAV.
    const double phrase_end = len - 2.5;
    const auto env = test::rms_envelope_dbfs(mono, k_rate, 0.25);
    // Notes sound after the restart (the last 4 s of the phrase, well after the re-join) ...
    int sounding = 0;
    for (double t = phrase_end - 4.0; t < phrase_end - 0.5; t += 0.25)
        sounding += env[static_cast<std::size_t>(t / 0.25)] > -35.0;
    EXPECT_GE(sounding, 5) << "the phrase did not play on after the restart";
    // ... and after the phrase's last release (organ: stops at once) everything is silent.
    for (double t = phrase_end + 0.75; t + 0.25 < len - 0.2; t += 0.25)
        EXPECT_LT(env[static_cast<std::size_t>(t / 0.25)], -55.0)
            << "a stuck note at " << t << " s of " << len << " s";
}

} // namespace
} // namespace gno::e2e
