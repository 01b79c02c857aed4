#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <gno/test/process.hpp>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <system_error>
#include <thread>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;
using gno::test::child_options;
using gno::test::child_process;

TEST(ChildProcess, ReportsTheExitCode) {
    child_process p("sh", {"-c", "exit 7"});
    EXPECT_GT(p.pid(), 0);
    EXPECT_EQ(p.wait_for_exit(5s), 7);
    EXPECT_EQ(p.wait_for_exit(0ms), 7); // remembered after reaping
    EXPECT_FALSE(p.running());
    EXPECT_FALSE(p.signal(SIGTERM));
}

TEST(ChildProcess, PassesEnvironmentAndRedirectsOutput) {
    gno::test::temp_dir dir;
    child_options o;
    o.env = {{"GNO_PROBE", "hello world"}, {"HOME", "/overridden"}};
    o.stdout_file = dir / "out.txt";
    o.stderr_file = dir / "err.txt";
    child_process p("sh", {"-c", "echo \"$GNO_PROBE $HOME\"; echo oops >&2"}, o);
    ASSERT_EQ(p.wait_for_exit(5s), 0);
    EXPECT_EQ(gno::test::read_file(dir / "out.txt"), "hello world /overridden\n");
    EXPECT_EQ(gno::test::read_file(dir / "err.txt"), "oops\n");
}

TEST(ChildProcess, TimesOutThenStopsWithSigterm) {
    child_process p("sleep", {"30"});
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(p.wait_for_exit(100ms).has_value());
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 100ms);
    EXPECT_TRUE(p.running());
    EXPECT_EQ(p.stop(), 128 + SIGTERM);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

TEST(ChildProcess, StopEscalatesToSigkill) {
    child_process p("sh", {"-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"});
    // Give the shell time to install its trap before we send SIGTERM.
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(p.stop(300ms), 128 + SIGKILL);
}

TEST(ChildProcess, DestructorKillsAndReaps) {
    pid_t pid = 0;
    {
        child_process p("sleep", {"30"});
        pid = p.pid();
        ASSERT_EQ(::kill(pid, 0), 0);
    }
    // Reaped, so not even a zombie is left.
    EXPECT_EQ(::kill(pid, 0), -1);
    EXPECT_EQ(errno, ESRCH);
}

TEST(ChildProcess, MissingProgramThrows) {
    EXPECT_THROW(child_process("gno-no-such-program-xyz", {}), std::system_error);
    EXPECT_THROW(child_process("/nonexistent/prog", {}), std::system_error);
}

TEST(ChildProcess, MoveTransfersOwnership) {
    child_process a("sh", {"-c", "exit 3"});
    child_process b(std::move(a));
    EXPECT_EQ(a.pid(), -1); // NOLINT(bugprone-use-after-move): checking the moved-from state
    EXPECT_EQ(b.wait_for_exit(5s), 3);
}

TEST(WaitFor, TrueWhenThePredicateHoldsFalseAtTimeout) {
    int calls = 0;
    EXPECT_TRUE(gno::test::wait_for([&] { return ++calls == 3; }, 1s, 1ms));
    EXPECT_EQ(calls, 3);
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(gno::test::wait_for([] { return false; }, 50ms, 5ms));
    const auto waited = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(waited, 50ms);
    EXPECT_LT(waited, 1s);
}

TEST(ReadFile, MissingFileIsEmpty) {
    EXPECT_EQ(gno::test::read_file("/nonexistent/x"), "");
}

TEST(FreePort, UdpPortCanBeBound) {
    const auto port = gno::test::free_udp_port();
    ASSERT_NE(port, 0);
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
    EXPECT_NE(gno::test::free_tcp_port(), 0);
}

TEST(TempDir, RemovedUnlessKeepIsSet) {
    // The developer running the tests may have set it; restore it afterwards.
    const char* outer = std::getenv("GNO_KEEP_TEST_FILES");
    const std::optional<std::string> saved =
        outer ? std::optional<std::string>(outer) : std::nullopt;
    ::unsetenv("GNO_KEEP_TEST_FILES");
    std::filesystem::path kept;
    {
        gno::test::temp_dir dir("gno-unit");
        kept = dir.path();
        ASSERT_TRUE(std::filesystem::is_directory(kept));
        EXPECT_EQ(kept.filename().string().rfind("gno-unit-", 0), 0u);
        std::filesystem::create_directories(dir / "a" / "b");
        std::ofstream(dir / "a" / "b" / "f.txt") << "x";
    }
    EXPECT_FALSE(std::filesystem::exists(kept));

    ASSERT_EQ(::setenv("GNO_KEEP_TEST_FILES", "1", 1), 0);
    {
        gno::test::temp_dir dir;
        kept = dir.path();
    }
    if (saved)
        ::setenv("GNO_KEEP_TEST_FILES", saved->c_str(), 1);
    else
        ::unsetenv("GNO_KEEP_TEST_FILES");
    EXPECT_TRUE(std::filesystem::is_directory(kept));
    std::filesystem::remove_all(kept);
}

} // namespace
