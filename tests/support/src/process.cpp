#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <gno/test/process.hpp>
#include <iostream>
#include <iterator>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <system_error>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace gno::test {
namespace {

std::system_error errno_error(const std::string& what) {
    return std::system_error(errno, std::generic_category(), what);
}

// PATH lookup in the parent, so that "not found" is an exception with a name in it rather
// than an exit status 127 from a half-started child.
std::string resolve_program(const std::string& program) {
    if (program.find('/') != std::string::npos)
        return program;
    const char* path = std::getenv("PATH");
    std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
    std::size_t start = 0;
    while (start <= dirs.size()) {
        const std::size_t end = std::min(dirs.find(':', start), dirs.size());
        std::string dir = dirs.substr(start, end - start);
        const std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + program;
        if (::access(candidate.c_str(), X_OK) == 0)
            return candidate;
        start = end + 1;
    }
    throw std::system_error(ENOENT, std::generic_category(),
                            "program not found in PATH: " + program);
}

int open_output(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        throw errno_error("cannot open " + path.string());
    return fd;
}

int decode_status(int status) {
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

std::uint16_t free_port(int type) {
    const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        throw errno_error("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        const auto err = errno_error("bind 127.0.0.1:0");
        ::close(fd);
        throw err;
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

} // namespace

child_process::child_process(std::string program, std::vector<std::string> args,
                             child_options options) {
    const std::string resolved = resolve_program(program);

    // Everything the child needs is built before fork: after fork in a threaded process only
    // async-signal-safe calls are allowed.
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string_view entry(*e);
        const auto key = entry.substr(0, entry.find('='));
        bool overridden = false;
        for (const auto& [k, v] : options.env)
            overridden = overridden || k == key;
        if (!overridden)
            env_strings.emplace_back(entry);
    }
    for (const auto& [k, v] : options.env)
        env_strings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : env_strings)
        envp.push_back(s.data());
    envp.push_back(nullptr);

    std::vector<std::string> argv_strings;
    argv_strings.push_back(program);
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : argv_strings)
        argv.push_back(s.data());
    argv.push_back(nullptr);

    int out_fd = -1;
    int err_fd = -1;
    if (!options.stdout_file.empty())
        out_fd = open_output(options.stdout_file);
    if (!options.stderr_file.empty()) {
        try {
            err_fd = open_output(options.stderr_file);
        } catch (...) {
            if (out_fd >= 0)
                ::close(out_fd);
            throw;
        }
    }
    // The child reports a failed exec through this pipe; a successful exec closes it.
    int report[2];
    if (::pipe2(report, O_CLOEXEC) != 0)
        throw errno_error("pipe2");
    const pid_t parent = ::getpid();

    const pid_t pid = ::fork();
    if (pid == 0) {
        if (options.kill_with_parent) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent)
                ::_exit(127); // the parent died before prctl took effect
        }
        if (out_fd >= 0)
            ::dup2(out_fd, STDOUT_FILENO);
        if (err_fd >= 0)
            ::dup2(err_fd, STDERR_FILENO);
        // Tests may block signals in helper threads; the child must start clean.
        sigset_t all;
        ::sigemptyset(&all);
        ::sigprocmask(SIG_SETMASK, &all, nullptr);
        ::execve(resolved.c_str(), argv.data(), envp.data());
        const int err = errno;
        [[maybe_unused]] const auto n = ::write(report[1], &err, sizeof err);
        ::_exit(127);
    }
    const int fork_errno = errno;
    ::close(report[1]);
    if (out_fd >= 0)
        ::close(out_fd);
    if (err_fd >= 0)
        ::close(err_fd);
    if (pid < 0) {
        ::close(report[0]);
        throw std::system_error(fork_errno, std::generic_category(), "fork");
    }
    int exec_errno = 0;
    ssize_t n = 0;
    do {
        n = ::read(report[0], &exec_errno, sizeof exec_errno);
    } while (n < 0 && errno == EINTR);
    ::close(report[0]);
    if (n == static_cast<ssize_t>(sizeof exec_errno)) {
        ::waitpid(pid, nullptr, 0);
        throw std::system_error(exec_errno, std::generic_category(), "cannot execute " + resolved);
    }
    pid_ = pid;
}

child_process::~child_process() {
    kill_and_reap();
}

child_process::child_process(child_process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), status_(std::exchange(other.status_, std::nullopt)) {}

child_process& child_process::operator=(child_process&& other) noexcept {
    if (this != &other) {
        kill_and_reap();
        pid_ = std::exchange(other.pid_, -1);
        status_ = std::exchange(other.status_, std::nullopt);
    }
    return *this;
}

bool child_process::signal(int signo) noexcept {
    if (pid_ <= 0 || status_)
        return false;
    return ::kill(pid_, signo) == 0;
}

std::optional<int> child_process::wait_for_exit(std::chrono::milliseconds timeout) {
    if (status_ || pid_ <= 0)
        return status_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto nap = std::chrono::microseconds{500};
    for (;;) {
        int status = 0;
        const pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            status_ = decode_status(status);
            return status_;
        }
        if (r < 0 && errno != EINTR) {
            status_ = -1; // not our child any more; nothing left to wait for
            return status_;
        }
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline)
            return std::nullopt;
        std::this_thread::sleep_for(
            std::min<std::chrono::steady_clock::duration>(nap, deadline - now));
        nap = std::min(nap * 2, std::chrono::microseconds{20000});
    }
}

bool child_process::running() {
    return pid_ > 0 && !wait_for_exit(std::chrono::milliseconds{0});
}

int child_process::stop(std::chrono::milliseconds grace) {
    if (signal(SIGTERM)) {
        if (auto status = wait_for_exit(grace))
            return *status;
    }
    kill_and_reap();
    return status_.value_or(-1);
}

void child_process::kill_and_reap() noexcept {
    if (pid_ <= 0 || status_)
        return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    pid_t r = 0;
    do {
        r = ::waitpid(pid_, &status, 0);
    } while (r < 0 && errno == EINTR);
    status_ = r == pid_ ? decode_status(status) : -1;
}

bool wait_for(const std::function<bool()>& predicate, std::chrono::milliseconds timeout,
              std::chrono::milliseconds poll) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (predicate())
            return true;
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline)
            return false;
        std::this_thread::sleep_for(
            std::min<std::chrono::steady_clock::duration>(poll, deadline - now));
    }
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return {};
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::uint16_t free_udp_port() {
    return free_port(SOCK_DGRAM);
}

std::uint16_t free_tcp_port() {
    return free_port(SOCK_STREAM);
}

temp_dir::temp_dir(std::string_view prefix) {
    const char* tmp = std::getenv("TMPDIR");
    std::filesystem::path base = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
    std::string pattern = (base / (std::string(prefix) + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr)
        throw errno_error("mkdtemp " + pattern);
    path_ = pattern;
}

temp_dir::~temp_dir() {
    remove();
}

temp_dir::temp_dir(temp_dir&& other) noexcept : path_(std::exchange(other.path_, {})) {}

temp_dir& temp_dir::operator=(temp_dir&& other) noexcept {
    if (this != &other) {
        remove();
        path_ = std::exchange(other.path_, {});
    }
    return *this;
}

void temp_dir::remove() noexcept {
    if (path_.empty())
        return;
    if (std::getenv("GNO_KEEP_TEST_FILES") != nullptr) {
        std::cerr << "GNO_KEEP_TEST_FILES: keeping " << path_.string() << '\n';
    } else {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    path_.clear();
}

} // namespace gno::test
