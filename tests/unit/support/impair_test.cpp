// gno-impair: the model and options in-process, the proxy as a real process between two UDP
// sockets on loopback.

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <gno/impair/impairment.hpp>
#include <gno/impair/options.hpp>
#include <gno/test/process.hpp>
#include <gtest/gtest.h>
#include <map>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <set>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#ifndef GNO_IMPAIR_PATH
#error "GNO_IMPAIR_PATH must name the gno-impair executable"
#endif

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// ---------------------------------------------------------------- model and options

TEST(ImpairModel, LossFractionAndDeterminism) {
    gno::impair::impairment_params p;
    p.loss = 0.3;
    gno::impair::impairment_model a(p, 42);
    gno::impair::impairment_model b(p, 42);
    gno::impair::impairment_model c(p, 43);
    int lost = 0;
    int differ = 0;
    for (int i = 0; i < 20000; ++i) {
        const auto pa = a.next();
        lost += pa.dropped ? 1 : 0;
        EXPECT_EQ(pa.dropped, b.next().dropped);
        differ += pa.dropped != c.next().dropped ? 1 : 0;
    }
    EXPECT_NEAR(lost / 20000.0, 0.3, 0.015);
    EXPECT_GT(differ, 1000); // another seed is another sequence
}

TEST(ImpairModel, GilbertElliottLosesInBursts) {
    gno::impair::impairment_params p;
    p.burst_enter = 0.05;
    p.burst_exit = 0.3;
    p.burst_loss = 1.0;
    gno::impair::impairment_model m(p, 9);
    int lost = 0;
    int bursts = 0;
    bool previous = false;
    constexpr int k_n = 50000;
    for (int i = 0; i < k_n; ++i) {
        const auto plan = m.next();
        if (plan.dropped) {
            EXPECT_TRUE(plan.burst);
            ++lost;
            bursts += previous ? 0 : 1;
        }
        previous = plan.dropped;
    }
    // Stationary bad-state share 0.05 / (0.05 + 0.3); mean burst length 1 / 0.3.
    EXPECT_NEAR(static_cast<double>(lost) / k_n, 0.05 / 0.35, 0.02);
    EXPECT_NEAR(static_cast<double>(lost) / bursts, 1.0 / 0.3, 0.4);
}

TEST(ImpairModel, DelayJitterAndReorder) {
    gno::impair::impairment_params p;
    p.delay_ms = 50;
    p.jitter_ms = 10;
    p.reorder = 0.25;
    p.reorder_ms = 100;
    gno::impair::impairment_model m(p, 1);
    int held = 0;
    for (int i = 0; i < 4000; ++i) {
        const auto plan = m.next();
        ASSERT_EQ(plan.copies, 1);
        const auto& c = plan.copy[0];
        const auto base = c.held_back ? 150ms : 50ms;
        EXPECT_GE(c.delay, base - 10ms);
        EXPECT_LE(c.delay, base + 10ms);
        held += c.held_back ? 1 : 0;
    }
    EXPECT_NEAR(held / 4000.0, 0.25, 0.03);
}

gno::impair::parse_result parse(std::vector<std::string_view> args) {
    return gno::impair::parse_options(args);
}

TEST(ImpairOptions, DirectionSpecificOverridesBothWaysInAnyOrder) {
    const auto r = parse({"--up-loss", "0.5", "--listen", "127.0.0.1:0", "--loss=0.1", "--upstream",
                          "127.0.0.1:9000", "--down-delay-ms", "7", "--delay-ms", "3",
                          "--jitter-keep-order", "--seed", "5"});
    ASSERT_EQ(r.error, "");
    EXPECT_EQ(r.options.up.loss, 0.5);
    EXPECT_EQ(r.options.down.loss, 0.1);
    EXPECT_EQ(r.options.up.delay_ms, 3);
    EXPECT_EQ(r.options.down.delay_ms, 7);
    EXPECT_TRUE(r.options.up.keep_order);
    EXPECT_TRUE(r.options.down.keep_order);
    EXPECT_EQ(r.options.seed, 5u);
    EXPECT_EQ(r.options.upstream.port(), 9000);
}

TEST(ImpairOptions, BadOptionsAreOneLineErrors) {
    const std::vector<std::vector<std::string_view>> bad = {
        {"--listen", "127.0.0.1:0"},                              // no upstream
        {"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:0"}, // port 0 upstream
        {"--listen", "nowhere", "--upstream", "127.0.0.1:1"},     // not ADDR:PORT
        {"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--loss", "1.5"},
        {"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--delay-ms", "-1"},
        {"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--sideways-loss", "0"},
        {"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--seed"},
        {"--listen", "127.0.0.1:70000", "--upstream", "127.0.0.1:1"},
    };
    for (const auto& args : bad) {
        const auto r = parse(args);
        EXPECT_FALSE(r.error.empty()) << args.back();
        EXPECT_EQ(r.error.find('\n'), std::string::npos);
    }
}

TEST(ImpairOptions, OutageWindowsRepeatAndAreChecked) {
    const auto r = parse({"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9000", "--outage",
                          "2:3", "--outage=0.5:0.25"});
    ASSERT_EQ(r.error, "");
    ASSERT_EQ(r.options.outages.size(), 2u);
    EXPECT_EQ(r.options.outages[0].start_s, 2.0);
    EXPECT_EQ(r.options.outages[0].duration_s, 3.0);
    EXPECT_EQ(r.options.outages[1].start_s, 0.5);
    EXPECT_EQ(r.options.outages[1].duration_s, 0.25);
    EXPECT_TRUE(r.options.up.transparent()); // an outage is no random impairment

    for (const std::string_view bad : {"3", "-1:2", "1:0", "1:-1", "a:b", "1:2:3", ":2", ""}) {
        const auto e =
            parse({"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--outage", bad});
        EXPECT_NE(e.error.find("--outage"), std::string::npos) << bad << ": " << e.error;
        EXPECT_EQ(e.error.find('\n'), std::string::npos);
    }
    // Both directions or none: there is no one-way outage.
    EXPECT_FALSE(
        parse({"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--up-outage", "1:1"})
            .error.empty());
    EXPECT_FALSE(
        parse({"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--outage"}).error.empty());
}

// ---------------------------------------------------------------- the real proxy

// A UDP socket on 127.0.0.1 with a port the kernel chose.
class udp_peer {
public:
    udp_peer() {
        fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        EXPECT_GE(fd_, 0);
        const int big = 4 << 20;
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
        sockaddr_in addr = loopback(0);
        EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        socklen_t len = sizeof addr;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
    }
    ~udp_peer() { ::close(fd_); }
    udp_peer(const udp_peer&) = delete;
    udp_peer& operator=(const udp_peer&) = delete;

    [[nodiscard]] std::uint16_t port() const { return port_; }

    void send_to(std::uint16_t port, const std::string& payload) const {
        const sockaddr_in addr = loopback(port);
        ::sendto(fd_, payload.data(), payload.size(), 0, reinterpret_cast<const sockaddr*>(&addr),
                 sizeof addr);
    }

    struct datagram {
        std::string payload;
        std::uint16_t from_port;
        clock_type::time_point at;
    };

    std::optional<datagram> receive(std::chrono::milliseconds timeout) const {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1)
            return std::nullopt;
        char buf[2048];
        sockaddr_in from{};
        socklen_t len = sizeof from;
        const auto n =
            ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n < 0)
            return std::nullopt;
        return datagram{std::string(buf, static_cast<std::size_t>(n)), ntohs(from.sin_port),
                        clock_type::now()};
    }

    /// Everything that arrives until the line has been quiet for `quiet`.
    std::vector<datagram> drain(std::chrono::milliseconds quiet) const {
        std::vector<datagram> out;
        while (auto d = receive(quiet))
            out.push_back(std::move(*d));
        return out;
    }

private:
    static sockaddr_in loopback(std::uint16_t port) {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(port);
        return addr;
    }

    int fd_ = -1;
    std::uint16_t port_ = 0;
};

// The number after "key": inside the JSON object named `object` ("" = top level).
std::optional<double> json_number(const std::string& json, const std::string& object,
                                  const std::string& key) {
    std::size_t begin = 0;
    std::size_t end = json.size();
    if (!object.empty()) {
        begin = json.find("\"" + object + "\":{");
        if (begin == std::string::npos)
            return std::nullopt;
        end = json.find('}', begin);
    }
    const auto at = json.find("\"" + key + "\":", begin);
    if (at == std::string::npos || at > end)
        return std::nullopt;
    return std::strtod(json.c_str() + at + key.size() + 3, nullptr);
}

// gno-impair between a client and `upstream_port`, started with `extra` options.
class impair_process {
public:
    impair_process(std::uint16_t upstream_port, std::vector<std::string> extra) {
        std::vector<std::string> args = {"--listen",   "127.0.0.1:0",
                                         "--upstream", "127.0.0.1:" + std::to_string(upstream_port),
                                         "--stats",    stats_path().string()};
        args.insert(args.end(), extra.begin(), extra.end());
        gno::test::child_options o;
        o.stdout_file = dir_ / "stdout";
        o.stderr_file = dir_ / "stderr";
        process_.emplace(GNO_IMPAIR_PATH, args, o);
        const bool up = gno::test::wait_for(
            [&] {
                return gno::test::read_file(dir_ / "stdout").find('\n') != std::string::npos ||
                       !process_->running();
            },
            5s, 2ms);
        const auto out = gno::test::read_file(dir_ / "stdout");
        const std::string prefix = "listening 127.0.0.1:";
        if (!up || out.rfind(prefix, 0) != 0)
            throw std::runtime_error("gno-impair did not start: " + out +
                                     gno::test::read_file(dir_ / "stderr"));
        port_ = static_cast<std::uint16_t>(std::stoi(out.substr(prefix.size())));
    }

    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] std::filesystem::path stats_path() const { return dir_ / "stats.json"; }

    /// SIGTERM, expect a clean exit, return the final stats.
    std::string stop() {
        EXPECT_TRUE(process_->signal(SIGTERM));
        EXPECT_EQ(process_->wait_for_exit(3s), 0) << gno::test::read_file(dir_ / "stderr");
        return gno::test::read_file(stats_path());
    }

private:
    gno::test::temp_dir dir_{"gno-impair-test"};
    std::optional<gno::test::child_process> process_;
    std::uint16_t port_ = 0;
};

// Sends `count` datagrams "<seq>" in small bursts, draining `server` as it goes so the test's
// own socket buffer never overflows; returns what arrived.
std::vector<udp_peer::datagram> pump(const udp_peer& client, const udp_peer& server,
                                     std::uint16_t proxy_port, int count,
                                     std::chrono::milliseconds quiet = 200ms) {
    std::vector<udp_peer::datagram> got;
    for (int i = 0; i < count; ++i) {
        client.send_to(proxy_port, std::to_string(i));
        if (i % 20 == 19) {
            std::this_thread::sleep_for(1ms);
            while (auto d = server.receive(0ms))
                got.push_back(std::move(*d));
        }
    }
    auto rest = server.drain(quiet);
    got.insert(got.end(), rest.begin(), rest.end());
    return got;
}

TEST(ImpairProxy, LossDeliversTheRightFractionAndCountsIt) {
    udp_peer server;
    udp_peer client;
    impair_process proxy(server.port(), {"--loss", "0.3", "--seed", "42"});
    const auto got = pump(client, server, proxy.port(), 2000);
    const double fraction = static_cast<double>(got.size()) / 2000.0;
    EXPECT_NEAR(fraction, 0.7, 0.05);

    const auto stats = proxy.stop();
    EXPECT_EQ(json_number(stats, "up", "packets_in"), 2000.0) << stats;
    EXPECT_EQ(json_number(stats, "up", "forwarded"), static_cast<double>(got.size())) << stats;
    EXPECT_EQ(json_number(stats, "up", "lost"), 2000.0 - static_cast<double>(got.size()));
    EXPECT_EQ(json_number(stats, "up", "dropped"), 2000.0 - static_cast<double>(got.size()));
    EXPECT_GT(json_number(stats, "up", "bytes_in").value_or(0), 2000 * 1.0);
    EXPECT_EQ(json_number(stats, "down", "packets_in"), 0.0);
    EXPECT_EQ(json_number(stats, "", "clients"), 1.0);
}

TEST(ImpairProxy, SameSeedLosesTheSamePackets) {
    std::vector<std::set<std::string>> delivered;
    for (int run = 0; run < 2; ++run) {
        udp_peer server;
        udp_peer client;
        impair_process proxy(server.port(), {"--loss", "0.5", "--seed", "1234"});
        std::set<std::string> seqs;
        for (const auto& d : pump(client, server, proxy.port(), 300, 100ms))
            seqs.insert(d.payload);
        delivered.push_back(seqs);
    }
    EXPECT_EQ(delivered[0], delivered[1]);
    EXPECT_GT(delivered[0].size(), 100u);
    EXPECT_LT(delivered[0].size(), 200u);
}

TEST(ImpairProxy, DelayIsObservedInBothDirections) {
    udp_peer server;
    udp_peer client;
    impair_process proxy(server.port(), {"--up-delay-ms", "50", "--down-delay-ms", "30"});
    std::atomic<bool> done{false};
    std::vector<std::chrono::nanoseconds> one_way;
    std::thread echo([&] {
        // The server answers the address it saw, as ours does: the proxy's upstream socket.
        while (!done) {
            if (auto d = server.receive(20ms)) {
                const auto sent =
                    clock_type::time_point(std::chrono::nanoseconds(std::stoll(d->payload)));
                one_way.push_back(d->at - sent);
                server.send_to(d->from_port, d->payload);
            }
        }
    });
    std::vector<std::chrono::nanoseconds> round_trip;
    for (int i = 0; i < 10; ++i) {
        client.send_to(proxy.port(), std::to_string(clock_type::now().time_since_epoch().count()));
        std::this_thread::sleep_for(10ms);
    }
    while (auto d = client.receive(300ms)) {
        const auto sent = clock_type::time_point(std::chrono::nanoseconds(std::stoll(d->payload)));
        round_trip.push_back(d->at - sent);
    }
    done = true;
    echo.join();
    ASSERT_EQ(one_way.size(), 10u);
    ASSERT_EQ(round_trip.size(), 10u);
    for (auto t : one_way) {
        EXPECT_GE(t, 50ms);
        EXPECT_LT(t, 150ms);
    }
    for (auto t : round_trip) {
        EXPECT_GE(t, 80ms);
        EXPECT_LT(t, 200ms);
    }
}

TEST(ImpairProxy, DuplicatesAreDeliveredAndCounted) {
    udp_peer server;
    udp_peer client;
    impair_process proxy(server.port(), {"--duplicate", "0.5", "--seed", "7"});
    const auto got = pump(client, server, proxy.port(), 500);
    std::map<std::string, int> copies;
    for (const auto& d : got)
        ++copies[d.payload];
    EXPECT_EQ(copies.size(), 500u);
    int doubled = 0;
    for (const auto& [seq, n] : copies) {
        EXPECT_TRUE(n == 1 || n == 2) << seq << " arrived " << n << " times";
        doubled += n == 2 ? 1 : 0;
    }
    EXPECT_NEAR(doubled / 500.0, 0.5, 0.07);
    const auto stats = proxy.stop();
    EXPECT_EQ(json_number(stats, "up", "duplicated"), static_cast<double>(doubled)) << stats;
    EXPECT_EQ(json_number(stats, "up", "forwarded"), static_cast<double>(got.size()));
}

int count_out_of_order(const std::vector<udp_peer::datagram>& got) {
    int out_of_order = 0;
    int highest = -1;
    for (const auto& d : got) {
        const int seq = std::stoi(d.payload);
        if (seq < highest)
            ++out_of_order;
        highest = std::max(highest, seq);
    }
    return out_of_order;
}

TEST(ImpairProxy, JitterKeepsOrderWhenAskedAndReorderHoldsPacketsBack) {
    {
        udp_peer server;
        udp_peer client;
        impair_process proxy(server.port(), {"--jitter-ms", "10", "--delay-ms", "10",
                                             "--jitter-keep-order", "--seed", "3"});
        const auto got = pump(client, server, proxy.port(), 400);
        EXPECT_EQ(got.size(), 400u);
        EXPECT_EQ(count_out_of_order(got), 0);
    }
    {
        udp_peer server;
        udp_peer client;
        impair_process proxy(server.port(),
                             {"--reorder", "0.1", "--reorder-ms", "20", "--seed", "3"});
        const auto got = pump(client, server, proxy.port(), 400);
        EXPECT_EQ(got.size(), 400u);
        EXPECT_GT(count_out_of_order(got), 0);
        const auto stats = proxy.stop();
        EXPECT_NEAR(json_number(stats, "up", "reordered").value_or(0), 40.0, 20.0) << stats;
    }
}

TEST(ImpairProxy, RebindMovesTheClientToANewSourcePort) {
    udp_peer server;
    udp_peer client;
    impair_process proxy(server.port(), {"--rebind-after-s", "0.2"});
    std::set<std::uint16_t> source_ports;
    int echoed = 0;
    const auto end = clock_type::now() + 900ms;
    int sent = 0;
    while (clock_type::now() < end) {
        client.send_to(proxy.port(), std::to_string(sent++));
        if (auto d = server.receive(50ms)) {
            source_ports.insert(d->from_port);
            server.send_to(d->from_port, d->payload); // answer the current address
        }
        if (client.receive(50ms))
            ++echoed;
        std::this_thread::sleep_for(5ms);
    }
    EXPECT_GE(source_ports.size(), 3u);
    EXPECT_GE(echoed, sent * 8 / 10); // replies follow the client across re-binds
    const auto stats = proxy.stop();
    EXPECT_GE(json_number(stats, "", "rebinds").value_or(0), 3.0) << stats;
}

// An outage drops everything both ways from S to S + D seconds after the proxy starts, and
// nothing before or after. A datagram is judged when the proxy takes it, never before the test
// sent it: one sent after the window always passes, one sent in it is lost unless the proxy
// stalls for the 100 ms margin, one sent 100 ms before it passes unless the same.
TEST(ImpairProxy, OutageDropsEverythingBothWaysInItsWindowOnly) {
    udp_peer server;
    udp_peer client;
    impair_process proxy(server.port(), {"--outage", "0.5:0.4"});
    const auto started_ns = json_number(gno::test::read_file(proxy.stats_path()), "", "started_ns");
    ASSERT_TRUE(started_ns);
    const auto started =
        clock_type::time_point(std::chrono::nanoseconds(static_cast<std::int64_t>(*started_ns)));
    auto since_start = [&](clock_type::time_point t) {
        return std::chrono::duration<double>(t - started).count();
    };
    // Every 10 ms each side sends its send time; the server answers at the proxy's upstream
    // address once it knows it.
    std::map<std::string, double> sent_up;
    std::map<std::string, double> sent_down;
    std::set<std::string> got_up;
    std::set<std::string> got_down;
    std::optional<std::uint16_t> upstream_port;
    for (int i = 0; clock_type::now() < started + 1300ms; ++i) {
        const auto now = clock_type::now();
        const std::string up = "u" + std::to_string(i);
        sent_up[up] = since_start(now);
        client.send_to(proxy.port(), up);
        if (upstream_port) {
            const std::string down = "d" + std::to_string(i);
            sent_down[down] = since_start(now);
            server.send_to(*upstream_port, down);
        }
        while (auto d = server.receive(0ms)) {
            upstream_port = d->from_port;
            got_up.insert(d->payload);
        }
        while (auto d = client.receive(0ms))
            got_down.insert(d->payload);
        std::this_thread::sleep_until(now + 10ms);
    }
    for (const auto& d : server.drain(100ms))
        got_up.insert(d.payload);
    for (const auto& d : client.drain(100ms))
        got_down.insert(d.payload);

    auto check = [](const std::map<std::string, double>& sent, const std::set<std::string>& got,
                    const char* way) {
        int in_window = 0;
        for (const auto& [payload, t] : sent) {
            const bool arrived = got.contains(payload);
            if (t >= 0.9 || t < 0.4)
                EXPECT_TRUE(arrived) << way << " " << payload << " sent at " << t << " s";
            else if (t >= 0.5 && t < 0.8) {
                EXPECT_FALSE(arrived) << way << " " << payload << " sent at " << t << " s";
                ++in_window;
            }
        }
        EXPECT_GE(in_window, 10) << way; // the loop kept its pace through the window
        return static_cast<double>(sent.size() - got.size());
    };
    const double lost_up = check(sent_up, got_up, "up");
    const double lost_down = check(sent_down, got_down, "down");
    const auto stats = proxy.stop();
    EXPECT_EQ(json_number(stats, "up", "outage_lost"), lost_up) << stats;
    EXPECT_EQ(json_number(stats, "up", "lost"), lost_up) << stats;
    EXPECT_EQ(json_number(stats, "down", "outage_lost"), lost_down) << stats;
    EXPECT_EQ(json_number(stats, "down", "dropped"), lost_down) << stats;
}

TEST(ImpairProxy, StatsFileIsRewrittenWhileRunning) {
    udp_peer server;
    udp_peer client;
    impair_process proxy(server.port(), {});
    client.send_to(proxy.port(), "a");
    ASSERT_TRUE(server.receive(1s).has_value());
    // The periodic write (every second) must show the packet without stopping the proxy.
    EXPECT_TRUE(gno::test::wait_for(
        [&] {
            return json_number(gno::test::read_file(proxy.stats_path()), "up", "forwarded") == 1.0;
        },
        3s, 20ms));
}

TEST(ImpairProxy, BadOptionsExitWithStatus2) {
    gno::test::temp_dir dir;
    gno::test::child_options o;
    o.stderr_file = dir / "stderr";
    gno::test::child_process p(
        GNO_IMPAIR_PATH, {"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--loss", "2"},
        o);
    EXPECT_EQ(p.wait_for_exit(5s), 2);
    const auto err = gno::test::read_file(dir / "stderr");
    EXPECT_NE(err.find("--loss"), std::string::npos) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

} // namespace
