#include "gno/render/service_notify.hpp"

#include <cstdlib>
#include <cstring>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace gno::render {

service_notify::service_notify() {
    if (const char* s = std::getenv("NOTIFY_SOCKET"); s && (s[0] == '/' || s[0] == '@'))
        socket_path_ = s;
    const char* usec = std::getenv("WATCHDOG_USEC");
    const char* pid = std::getenv("WATCHDOG_PID");
    if (usec && (!pid || std::strtoll(pid, nullptr, 10) == ::getpid())) {
        const long long us = std::strtoll(usec, nullptr, 10);
        if (us > 0)
            watchdog_ = std::chrono::microseconds(us / 2);
    }
}

bool service_notify::send(std::string_view state) const {
    if (socket_path_.empty())
        return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path_.size() >= sizeof addr.sun_path)
        return false;
    std::memcpy(addr.sun_path, socket_path_.data(), socket_path_.size());
    if (addr.sun_path[0] == '@')
        addr.sun_path[0] = '\0'; // Linux's abstract namespace
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_path_.size());
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    const auto sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                               reinterpret_cast<const sockaddr*>(&addr), len);
    ::close(fd);
    return sent == static_cast<ssize_t>(state.size());
}

} // namespace gno::render
