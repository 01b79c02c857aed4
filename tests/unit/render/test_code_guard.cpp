// Wrong codes per address (code_guard.hpp): a few mistakes are free, a guesser is held off
// until its window ends, an IPv6 host is one /64, other addresses are not affected, and the
// table stays bounded.
#include "gno/render/code_guard.hpp"

#include <gtest/gtest.h>
#include <string>

namespace r = gno::render;
using boost::asio::ip::make_address;

namespace {

constexpr std::int64_t k_s = 1'000'000'000;

TEST(CodeGuard, LocksAnAddressOutAfterItsFailuresUntilTheWindowEnds) {
    r::code_guard g({3, std::chrono::seconds(60), 16});
    const auto a = make_address("203.0.113.7");
    const auto b = make_address("203.0.113.8");
    for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(g.allowed(a, 10 * k_s + i)) << i;
        g.failed(a, 10 * k_s + i);
    }
    EXPECT_FALSE(g.allowed(a, 11 * k_s));
    EXPECT_FALSE(g.allowed(a, 69 * k_s)); // the window began at 10 s
    EXPECT_TRUE(g.allowed(b, 11 * k_s));  // another address is not held up
    EXPECT_TRUE(g.allowed(a, 70 * k_s));  // a new window
    g.failed(a, 70 * k_s);
    EXPECT_TRUE(g.allowed(a, 71 * k_s)); // one failure of three in it
}

TEST(CodeGuard, AnIpv6HostIsItsSlash64AndAMappedIpv4IsItsIpv4) {
    r::code_guard g({2, std::chrono::seconds(60), 16});
    g.failed(make_address("2001:db8:1:2::1"), 0);
    g.failed(make_address("2001:db8:1:2:ffff::9"), 0); // the same /64
    EXPECT_FALSE(g.allowed(make_address("2001:db8:1:2:abcd::1"), k_s));
    EXPECT_TRUE(g.allowed(make_address("2001:db8:1:3::1"), k_s)); // the next /64
    g.failed(make_address("192.0.2.1"), 0);
    g.failed(make_address("::ffff:192.0.2.1"), 0);
    EXPECT_FALSE(g.allowed(make_address("192.0.2.1"), k_s));
    EXPECT_TRUE(g.allowed(make_address("::ffff:192.0.2.2"), k_s));
}

TEST(CodeGuard, TheTableIsBoundedAndForgetsEndedWindowsFirst) {
    r::code_guard g({1, std::chrono::seconds(60), 4});
    auto addr = [](int i) {
        return make_address("198.51.100." + std::to_string(i));
    };
    for (int i = 0; i < 4; ++i)
        g.failed(addr(i), 0);
    g.failed(addr(9), k_s); // full of live windows: not tracked
    EXPECT_TRUE(g.allowed(addr(9), k_s));
    EXPECT_FALSE(g.allowed(addr(0), k_s));
    g.failed(addr(9), 61 * k_s); // the others' windows have ended: room again
    EXPECT_FALSE(g.allowed(addr(9), 62 * k_s));
    EXPECT_TRUE(g.allowed(addr(0), 62 * k_s));
}

TEST(CodeGuard, NoLimitWhenFailuresIsZero) {
    r::code_guard g({0, std::chrono::seconds(60), 4});
    for (int i = 0; i < 100; ++i)
        g.failed(make_address("192.0.2.1"), 0);
    EXPECT_TRUE(g.allowed(make_address("192.0.2.1"), 0));
}

} // namespace
