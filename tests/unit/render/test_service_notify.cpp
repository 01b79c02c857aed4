// The service manager's protocol (deploy/systemd/gno-server.service: Type=notify, WatchdogSec):
// what gno-server sends arrives on a real unix datagram socket named by $NOTIFY_SOCKET.
#include "gno/render/service_notify.hpp"

#include <cstdlib>
#include <filesystem>
#include <gno/test/process.hpp>
#include <gtest/gtest.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

struct env_var {
    env_var(const char* name, const std::string& value) : name_(name) {
        ::setenv(name, value.c_str(), 1);
    }
    ~env_var() { ::unsetenv(name_); }
    const char* name_;
};

TEST(ServiceNotify, ReadyAndWatchdogReachTheManagersSocket) {
    gno::test::temp_dir dir("gno-notify");
    const auto path = (dir / "notify").string();
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    ASSERT_LT(path.size(), sizeof addr.sun_path);
    path.copy(addr.sun_path, path.size());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

    env_var socket("NOTIFY_SOCKET", path);
    env_var usec("WATCHDOG_USEC", "10000000");
    env_var pid("WATCHDOG_PID", std::to_string(::getpid()));
    const gno::render::service_notify n;
    EXPECT_TRUE(n.active());
    ASSERT_TRUE(n.watchdog_interval());
    EXPECT_EQ(n.watchdog_interval()->count(), 5'000'000); // half the timeout
    for (const std::string state : {"READY=1", "WATCHDOG=1"}) {
        ASSERT_TRUE(n.send(state));
        char buf[64] = {};
        const auto got = ::recv(fd, buf, sizeof buf, 0);
        EXPECT_EQ(std::string(buf, got > 0 ? static_cast<std::size_t>(got) : 0), state);
    }
    ::close(fd);
}

TEST(ServiceNotify, OutsideAServiceManagerNothingIsSent) {
    ::unsetenv("NOTIFY_SOCKET");
    env_var pid("WATCHDOG_PID", "1"); // another process's watchdog
    env_var usec("WATCHDOG_USEC", "10000000");
    const gno::render::service_notify n;
    EXPECT_FALSE(n.active());
    EXPECT_FALSE(n.watchdog_interval());
    EXPECT_FALSE(n.send("READY=1"));
}

} // namespace
