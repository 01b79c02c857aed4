// The live /listen stream (issue 7): a real gno-server, a client holding A4 into it, and
// listeners on plain TCP sockets. The captured bytes are checked by the real opusinfo and
// opusdec, and the decoded audio by analysis.

#include "e2e_support.hpp"
#include "gno/test/raw_http.hpp"

#include <arpa/inet.h>
#include <fstream>
#include <future>
#include <netinet/in.h>
#include <poll.h>
#include <sstream>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace gno;
using namespace gno::e2e;

namespace {

constexpr int k_rate = 48000;

using test::connect_local;

bool send_all(int fd, std::string_view s) {
    while (!s.empty()) {
        const auto n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        s.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

std::string request(std::string_view target) {
    return "GET " + std::string(target) +
           " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
}

// Everything the server sends for `target` within `for_how_long` (or until it closes).
std::string http_get(std::uint16_t port, std::string_view target,
                     std::chrono::milliseconds for_how_long = 5s) {
    const int fd = connect_local(port);
    if (fd < 0 || !send_all(fd, request(target)))
        return {};
    std::string out;
    const auto until = std::chrono::steady_clock::now() + for_how_long;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            until - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            break;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
            break;
        char buf[8192];
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

struct http_reply {
    std::string head, body;
};

http_reply split(const std::string& raw) {
    const auto end = raw.find("\r\n\r\n");
    if (end == std::string::npos)
        return {raw, {}};
    return {raw.substr(0, end), raw.substr(end + 4)};
}

// The whole Ogg pages at the start of `bytes` (a listener that hangs up cuts the last one).
std::string whole_pages(const std::string& bytes) {
    std::size_t at = 0;
    while (at + 27 <= bytes.size() && bytes.compare(at, 4, "OggS") == 0) {
        const std::size_t segments = static_cast<unsigned char>(bytes[at + 26]);
        if (at + 27 + segments > bytes.size())
            break;
        std::size_t body = 0;
        for (std::size_t i = 0; i < segments; ++i)
            body += static_cast<unsigned char>(bytes[at + 27 + i]);
        if (at + 27 + segments + body > bytes.size())
            break;
        at += 27 + segments + body;
    }
    return bytes.substr(0, at);
}

// One unlabelled value from /metrics.
std::optional<double> metric(std::uint16_t control, const std::string& name) {
    const auto body = split(http_get(control, "/metrics", 3s)).body;
    const auto at = body.find("\n" + name + " ");
    if (at == std::string::npos)
        return std::nullopt;
    return std::stod(body.substr(at + name.size() + 2));
}

struct listen_node {
    server_process srv;
    std::uint16_t control = 0;
};

listen_node start_listen_node(const test::temp_dir& dir) {
    listen_node n{start_server(dir, {}), 0};
    if (const auto port = wait_for_line(n.srv.log, "control on tcp [0-9.]+:([0-9]+)"))
        n.control = static_cast<std::uint16_t>(std::stoi(*port));
    return n;
}

int run_tool(const test::temp_dir& dir, const std::string& tool, std::vector<std::string> args,
             const std::string& name) {
    test::child_options o;
    o.stdout_file = dir / (name + ".log");
    o.stderr_file = dir / (name + ".err");
    test::child_process p(tool, std::move(args), o);
    return p.wait_for_exit(60s).value_or(-1);
}

// Checks one listener's capture: the response, the Ogg headers first, opusinfo's verdict.
std::filesystem::path check_capture(const test::temp_dir& dir, const std::string& raw,
                                    const std::string& name) {
    const auto reply = split(raw);
    EXPECT_TRUE(reply.head.starts_with("HTTP/1.1 200")) << reply.head;
    EXPECT_NE(reply.head.find("Content-Type: audio/ogg"), std::string::npos) << reply.head;
    EXPECT_NE(reply.head.find("Cache-Control: no-store"), std::string::npos) << reply.head;
    const std::string ogg = whole_pages(reply.body);
    EXPECT_TRUE(ogg.starts_with("OggS")) << name;
    EXPECT_EQ(ogg.find("OpusHead"), 28u) << "the first page is the Opus header";
    EXPECT_NE(ogg.find("OpusTags"), std::string::npos);
    // Four seconds of live pages at one per 100 ms at most.
    EXPECT_GT(ogg.size(), 2000u);
    const auto file = dir / (name + ".opus");
    std::ofstream(file, std::ios::binary) << ogg;
    // opusinfo exits 1 on any warning, and a live capture has no end of stream to mark: that
    // one warning is expected ("normal for live streams"), every other one fails.
    run_tool(dir, "/usr/bin/opusinfo", {file.string()}, name + "-opusinfo");
    const auto report = test::read_file(dir / (name + "-opusinfo.log")) +
                        test::read_file(dir / (name + "-opusinfo.err"));
    EXPECT_NE(report.find("type opus"), std::string::npos) << report;
    EXPECT_NE(report.find("Playback length"), std::string::npos) << report;
    std::istringstream lines(report);
    for (std::string line; std::getline(lines, line);) {
        const bool complaint =
            line.find("WARNING") != std::string::npos || line.find("rror") != std::string::npos;
        if (complaint) {
            EXPECT_NE(line.find("EOS not set on stream 1 (normal for live streams)"),
                      std::string::npos)
                << report;
        }
    }
    return file;
}

} // namespace

// Two listeners at once hear the same held A4: both streams are valid Ogg Opus from their
// first byte, and the decoded audio is 440 Hz.
TEST(Listen, TwoListenersHearTheAudienceMixAsValidOggOpus) {
    test::temp_dir dir("gno-e2e-listen");
    auto n = start_listen_node(dir);
    ASSERT_NE(n.control, 0);
    const auto page = split(http_get(n.control, "/listen/", 3s));
    EXPECT_NE(page.body.find("src=\"/listen\""), std::string::npos) << page.head;

    auto a = std::async(std::launch::async, [&] { return http_get(n.control, "/listen", 5s); });
    auto b = std::async(std::launch::async, [&] { return http_get(n.control, "/listen", 5s); });
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(metric(n.control, "gno_listeners"), std::optional<double>(2));
    auto client = start_client(dir, n.srv.port,
                               {"--program", "73", "--play", "hold:69:3000", "--duration", "4",
                                "--output", (dir / "client.wav").string()});
    const auto first = check_capture(dir, a.get(), "first");
    check_capture(dir, b.get(), "second");
    EXPECT_EQ(client.wait_for_exit(20s), std::optional<int>(0))
        << test::read_file(dir / "client.err");

    const auto mono = decode_opus(dir, first);
    const auto onset = test::first_sample_above_dbfs(mono, -40.0);
    ASSERT_TRUE(onset) << "the listener heard nothing";
    const double t0 = static_cast<double>(*onset) / k_rate;
    const auto pitch = test::estimate_pitch_hz(
        test::slice_seconds(mono, k_rate, t0 + 0.2, t0 + 0.9), k_rate, 100.0, 2000.0);
    ASSERT_TRUE(pitch);
    EXPECT_NEAR(*pitch, 440.0, 4.4);
    // Listeners gone: nobody listens, nothing is encoded.
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(metric(n.control, "gno_listeners"), std::optional<double>(0));
    EXPECT_EQ(metric(n.control, "gno_listeners_dropped_total"), std::optional<double>(0));
}

// A listener that never reads is dropped and counted, within seconds and with bounded memory,
// while another keeps its stream.
TEST(Listen, AListenerThatNeverReadsIsDroppedWhileAnotherPlaysOn) {
    test::temp_dir dir("gno-e2e-listen-slow");
    auto n = start_listen_node(dir);
    ASSERT_NE(n.control, 0);
    // Audio that does not compress to nothing, so the stalled socket fills quickly.
    auto client = start_client(dir, n.srv.port,
                               {"--program", "73", "--play", "hold:69:20000", "--duration", "22",
                                "--output", (dir / "client.wav").string()});
    const int stalled = connect_local(n.control, 4096);
    ASSERT_GE(stalled, 0);
    ASSERT_TRUE(send_all(stalled, request("/listen")));
    auto good = std::async(std::launch::async, [&] { return http_get(n.control, "/listen", 16s); });
    std::optional<double> dropped;
    const auto until = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < until) {
        dropped = metric(n.control, "gno_listeners_dropped_total");
        if (dropped && *dropped >= 1)
            break;
        std::this_thread::sleep_for(250ms);
    }
    EXPECT_EQ(dropped, std::optional<double>(1)) << "the stalled listener was not dropped";
    EXPECT_EQ(metric(n.control, "gno_listeners"), std::optional<double>(1));
    ::close(stalled);
    const auto raw = good.get();
    check_capture(dir, raw, "good");
    // The one that read got the whole 16 s: about 12 kB/s of a flute at 96 kb/s (10 s would
    // be under 120 kB).
    EXPECT_GT(split(raw).body.size(), 150u * 1000u);
}
