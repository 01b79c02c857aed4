#pragma once
// One UDP socket talking to a port on 127.0.0.1 (a node, or a proxy in front of one), for tests
// that play a player by hand: send datagrams, take whatever has arrived without blocking.

#include <arpa/inet.h>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <netinet/in.h>
#include <span>
#include <string>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>

namespace gno::test {

class loopback_udp {
public:
    /// Sends to 127.0.0.1:port; bound to `local_ip` (any port) when given, else by the first
    /// send. Throws if the socket cannot be made or bound.
    explicit loopback_udp(std::uint16_t port, const char* local_ip = nullptr)
        : fd_(::socket(AF_INET, SOCK_DGRAM, 0)) {
        if (fd_ < 0)
            throw std::system_error(errno, std::generic_category(), "UDP socket");
        if (local_ip) {
            sockaddr_in local{};
            local.sin_family = AF_INET;
            ::inet_pton(AF_INET, local_ip, &local.sin_addr);
            if (::bind(fd_, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
                const int e = errno;
                ::close(fd_);
                throw std::system_error(e, std::generic_category(),
                                        std::string("bind UDP socket to ") + local_ip);
            }
        }
        to_.sin_family = AF_INET;
        to_.sin_port = htons(port);
        to_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    ~loopback_udp() { ::close(fd_); }
    loopback_udp(const loopback_udp&) = delete;
    loopback_udp& operator=(const loopback_udp&) = delete;

    void send(std::span<const std::byte> d) const {
        ::sendto(fd_, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&to_), sizeof to_);
    }

    /// Calls on_datagram(std::span<const std::byte>) for every datagram that has arrived.
    template <typename F>
    void receive(F&& on_datagram) const {
        std::array<std::byte, 2048> buf;
        for (;;) {
            const auto n = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
            if (n <= 0)
                return;
            on_datagram(std::span<const std::byte>(buf).first(static_cast<std::size_t>(n)));
        }
    }

    [[nodiscard]] int fd() const noexcept { return fd_; }

private:
    int fd_;
    sockaddr_in to_{};
};

} // namespace gno::test
