#pragma once
// Real processes, ports and scratch directories for end-to-end tests.
// Thread: a child_process or temp_dir object is used by one thread at a time; the free
// functions are safe from any thread.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace gno::test {

struct child_options {
    /// Added to (or overriding) this process's environment.
    std::vector<std::pair<std::string, std::string>> env;
    /// Empty = inherit. Files are created or appended to; the same path for both interleaves.
    std::filesystem::path stdout_file;
    std::filesystem::path stderr_file;
    /// SIGKILL the child if the thread that started it dies (so a crashed or timed-out test
    /// leaves no servers behind). Turn off if the starting thread ends before the child should.
    bool kill_with_parent = true;
};

/// A running program, killed (SIGKILL) and reaped when the object is destroyed.
class child_process {
public:
    /// Starts `program` (searched in PATH unless it contains '/') with argv[1..] = args.
    /// Throws std::system_error if it cannot be found or executed.
    child_process(std::string program, std::vector<std::string> args, child_options options = {});
    ~child_process();

    child_process(child_process&& other) noexcept;
    child_process& operator=(child_process&& other) noexcept;
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    [[nodiscard]] pid_t pid() const noexcept { return pid_; }

    /// Sends a signal; false if the child has already been reaped or kill() failed.
    bool signal(int signo) noexcept;

    /// Waits up to `timeout` for the child to exit. Returns its exit code, or 128 + signal
    /// number if a signal ended it (as a shell reports it); nullopt if it is still running.
    /// Once it has exited, every later call returns the same status at once.
    std::optional<int> wait_for_exit(std::chrono::milliseconds timeout);

    /// True until the child has exited (reaps it if it has).
    [[nodiscard]] bool running();

    /// SIGTERM, up to `grace` to exit, then SIGKILL; returns the exit status as wait_for_exit.
    int stop(std::chrono::milliseconds grace = std::chrono::milliseconds{3000});

private:
    void kill_and_reap() noexcept;

    pid_t pid_ = -1;
    std::optional<int> status_;
};

/// Polls `predicate` every `poll` until it returns true (-> true) or `timeout` passes (-> false).
/// The predicate is always tried once more at the deadline.
bool wait_for(const std::function<bool()>& predicate, std::chrono::milliseconds timeout,
              std::chrono::milliseconds poll = std::chrono::milliseconds{10});

/// Whole file as a string; empty if it does not exist or cannot be read.
[[nodiscard]] std::string read_file(const std::filesystem::path& path);

/// A UDP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
/// Another process may take it in between; prefer letting the program under test bind :0.
[[nodiscard]] std::uint16_t free_udp_port();

/// Same for TCP.
[[nodiscard]] std::uint16_t free_tcp_port();

/// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction unless
/// the environment variable GNO_KEEP_TEST_FILES is set (then its path is printed to stderr).
class temp_dir {
public:
    /// Throws std::system_error if the directory cannot be created.
    explicit temp_dir(std::string_view prefix = "gno-test");
    ~temp_dir();

    temp_dir(temp_dir&& other) noexcept;
    temp_dir& operator=(temp_dir&& other) noexcept;
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
    /// path() / name, for building file names in one expression.
    [[nodiscard]] std::filesystem::path operator/(const std::filesystem::path& name) const {
        return path_ / name;
    }

private:
    void remove() noexcept;

    std::filesystem::path path_;
};

} // namespace gno::test
