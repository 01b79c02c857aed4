#pragma once
// What the node's two UDP endpoints (udp_io: players; stem_exchange: peer nodes) share: binding
// a socket with an error an operator can act on, and the render thread's "ready" signal to the
// network thread that owns the socket (an eventfd the thread's io_context waits on).

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <string>
#include <string_view>

namespace gno::render {

/// Opens and binds `socket` to `address`:`port` (0: any free port), non-blocking, with
/// `buffer_bytes` of kernel buffer each way; returns the bound port. Throws
/// std::runtime_error naming `what` and the option that moves it (`port_option`).
std::uint16_t bind_udp(boost::asio::ip::udp::socket& socket, const std::string& address,
                       std::uint16_t port, int buffer_bytes, std::string_view what,
                       std::string_view port_option);

/// "Frames are ready": notify() from the render thread, on_ready() on the io_context's thread.
class ready_signal {
public:
    /// Throws std::runtime_error when the eventfd cannot be made.
    explicit ready_signal(boost::asio::io_context& io);
    ~ready_signal();
    ready_signal(const ready_signal&) = delete;
    ready_signal& operator=(const ready_signal&) = delete;

    /// Any thread, realtime-safe: one non-blocking eventfd write.
    void notify() noexcept;

    /// The io_context's thread: calls `on_ready()` after notifies (several may make one call),
    /// until the io_context stops.
    template <typename F>
    void wait(F on_ready) {
        event_.async_read_some(boost::asio::buffer(&buf_, sizeof buf_),
                               [this, on_ready](boost::system::error_code ec, std::size_t) {
                                   if (ec == boost::asio::error::operation_aborted)
                                       return;
                                   on_ready();
                                   wait(on_ready);
                               });
    }

private:
    int fd_ = -1;
    boost::asio::posix::stream_descriptor event_;
    std::uint64_t buf_ = 0;
};

} // namespace gno::render
