#include "gno/render/udp_socket.hpp"

#include <boost/asio/ip/address.hpp>
#include <stdexcept>
#include <sys/eventfd.h>
#include <unistd.h>

namespace gno::render {

namespace net = boost::asio;

std::uint16_t bind_udp(net::ip::udp::socket& socket, const std::string& address, std::uint16_t port,
                       int buffer_bytes, std::string_view what, std::string_view port_option) {
    boost::system::error_code ec;
    const auto a = net::ip::make_address(address, ec);
    if (ec)
        throw std::runtime_error("invalid --listen address: " + address);
    const net::ip::udp::endpoint local(a, port);
    socket.open(local.protocol(), ec);
    if (!ec)
        socket.bind(local, ec);
    if (ec)
        throw std::runtime_error(
            "cannot bind " + std::string(what) + " " + address + ":" + std::to_string(port) + " (" +
            ec.message() + "); stop the other process or pass " + std::string(port_option) + " N");
    socket.non_blocking(true);
    socket.set_option(net::socket_base::receive_buffer_size(buffer_bytes), ec);
    socket.set_option(net::socket_base::send_buffer_size(buffer_bytes), ec);
    return socket.local_endpoint().port();
}

ready_signal::ready_signal(net::io_context& io) : event_(io) {
    fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd_ < 0)
        throw std::runtime_error("eventfd failed");
    event_.assign(::dup(fd_));
}

ready_signal::~ready_signal() {
    if (fd_ >= 0)
        ::close(fd_);
}

void ready_signal::notify() noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
}

} // namespace gno::render
