#include "proc_stats.hpp"

#include "gno/test/text.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <fstream>
#include <netinet/in.h>
#include <sched.h>
#include <sstream>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace gno::bench {

std::vector<std::string> stat_fields(const std::filesystem::path& stat) {
    std::ifstream in(stat);
    std::string line;
    std::vector<std::string> fields;
    if (!std::getline(in, line))
        return fields;
    const auto close = line.rfind(')');
    if (close == std::string::npos || close + 2 > line.size())
        return fields;
    std::istringstream words(line.substr(close + 2));
    for (std::string w; words >> w;)
        fields.push_back(w);
    return fields;
}

std::optional<double> tick_cpu_seconds(const std::filesystem::path& stat) {
    const auto f = stat_fields(stat);
    if (f.size() < 13) // utime and stime are fields 14 and 15
        return std::nullopt;
    const auto utime = test::parse_double(f[11]);
    const auto stime = test::parse_double(f[12]);
    if (!utime || !stime)
        return std::nullopt;
    return (*utime + *stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::optional<double> status_value(const std::string& line, std::string_view key) {
    if (!line.starts_with(key))
        return std::nullopt;
    const auto begin = line.find_first_not_of(" \t", key.size());
    if (begin == std::string::npos)
        return std::nullopt;
    const auto end = line.find_first_of(" \t", begin);
    return test::parse_double(std::string_view(line).substr(begin, end - begin));
}

std::optional<double> status_number(pid_t pid, std::string_view key) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
        if (const auto v = status_value(line, key))
            return v;
    return std::nullopt;
}

std::filesystem::path stat_path(pid_t pid) {
    return "/proc/" + std::to_string(pid) + "/stat";
}

/// A UDP port free on 127.0.0.1 right now (the kernel's pick), for a mesh port its peers must
/// know before the node starts.
std::uint16_t free_udp_port() {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    std::uint16_t port = 0;
    if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        ::close(fd);
    return port;
}

int available_cores() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0)
        return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    return CPU_COUNT(&set);
}

} // namespace gno::bench
