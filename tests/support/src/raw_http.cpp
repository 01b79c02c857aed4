#include "gno/test/raw_http.hpp"

#include <array>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace gno::test {

int connect_local(std::uint16_t port, int rcvbuf) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (rcvbuf > 0)
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

http_answer http_exchange(std::uint16_t port, const std::string& head, const std::string& body,
                          std::chrono::milliseconds timeout) {
    using steady = std::chrono::steady_clock;
    const auto started = steady::now();
    http_answer a;
    const int fd = connect_local(port);
    if (fd < 0)
        return a;
    const std::string request = head + "Host: 127.0.0.1\r\nConnection: close\r\n\r\n" + body;
    for (std::size_t sent = 0; sent < request.size();) {
        const auto n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break; // refused early: read what the server said
        sent += static_cast<std::size_t>(n);
    }
    std::string in;
    std::array<char, 65536> buf;
    while (steady::now() - started < timeout) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 20) <= 0)
            continue;
        const auto n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n <= 0)
            break;
        in.append(buf.data(), static_cast<std::size_t>(n));
    }
    ::close(fd);
    a.took = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started);
    const auto last = in.rfind("HTTP/1.1 ");
    if (last != std::string::npos && in.size() > last + 12)
        a.status = std::stoi(in.substr(last + 9, 3));
    const auto end = in.find("\r\n\r\n", last == std::string::npos ? 0 : last);
    if (end != std::string::npos) {
        a.head = in.substr(0, end);
        a.body = in.substr(end + 4);
    }
    return a;
}

} // namespace gno::test
