#include "udp_batch.hpp"

#include "local_clock.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace gno::loadgen {
namespace {

[[noreturn]] void fail(const char* what) {
    throw std::runtime_error(std::string("cannot set up a UDP socket (") + what +
                             "): " + std::strerror(errno));
}

} // namespace

shared_socket::shared_socket(const sockaddr_storage& server, socklen_t server_size,
                             std::size_t batch_slots)
    : buffer_(batch_slots * k_slot_bytes), iov_(batch_slots), messages_(batch_slots) {
    fd_ = ::socket(server.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0)
        fail("socket");
    // A group of players receives a frame each every 5 ms: 4 MiB (capped by net.core.rmem_max)
    // rides out a loop stalled for tens of ms on a loaded machine; drops are counted anyway.
    const int rcvbuf = 4 << 20;
    const int on = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    ::setsockopt(fd_, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    ::setsockopt(fd_, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&server), server_size) != 0) {
        const int saved = errno;
        ::close(fd_);
        fd_ = -1;
        errno = saved;
        fail("connect");
    }
    for (std::size_t i = 0; i < batch_slots; ++i)
        iov_[i].iov_base = buffer_.data() + i * k_slot_bytes;
}

shared_socket::~shared_socket() {
    if (fd_ >= 0)
        ::close(fd_);
}

std::span<std::byte> shared_socket::slot() noexcept {
    if (queued_ == messages_.size())
        return {};
    return {buffer_.data() + queued_ * k_slot_bytes, k_slot_bytes};
}

void shared_socket::commit(std::size_t size) noexcept {
    iov_[queued_].iov_len = size;
    messages_[queued_] = {};
    messages_[queued_].msg_hdr.msg_iov = &iov_[queued_];
    messages_[queued_].msg_hdr.msg_iovlen = 1;
    ++queued_;
}

void shared_socket::flush() noexcept {
    std::size_t done = 0;
    int retries = 0;
    while (done < queued_) {
        const int n =
            ::sendmmsg(fd_, messages_.data() + done, static_cast<unsigned>(queued_ - done), 0);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
            continue;
        }
        // ECONNREFUSED reports an earlier ICMP error once; the next call may well succeed.
        if ((errno == EINTR || errno == ECONNREFUSED) && ++retries <= 2)
            continue;
        send_errors_ += queued_ - done; // buffer full or no server: dropped, as UDP would
        break;
    }
    sent_ += done;
    queued_ = 0;
}

receive_batch::receive_batch()
    : data_(k_batch * k_datagram_bytes), control_(k_batch * k_control_bytes) {
    for (std::size_t i = 0; i < k_batch; ++i)
        iov_[i] = {data_.data() + i * k_datagram_bytes, k_datagram_bytes};
}

std::size_t receive_batch::receive(shared_socket& from) noexcept {
    for (std::size_t i = 0; i < k_batch; ++i) {
        messages_[i] = {};
        messages_[i].msg_hdr.msg_iov = &iov_[i];
        messages_[i].msg_hdr.msg_iovlen = 1;
        messages_[i].msg_hdr.msg_control = control_.data() + i * k_control_bytes;
        messages_[i].msg_hdr.msg_controllen = k_control_bytes;
    }
    const int n = ::recvmmsg(from.fd(), messages_.data(), k_batch, MSG_DONTWAIT, nullptr);
    if (n <= 0) {
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            from.count_receive_error(); // e.g. ECONNREFUSED while the server is down
        return 0;
    }
    const std::int64_t read_ns = realtime_ns();
    for (int i = 0; i < n; ++i) {
        msghdr& h = messages_[static_cast<std::size_t>(i)].msg_hdr;
        arrival_[static_cast<std::size_t>(i)] = read_ns;
        for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
            if (c->cmsg_level != SOL_SOCKET)
                continue;
            if (c->cmsg_type == SCM_TIMESTAMPNS) {
                timespec ts{};
                std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
                arrival_[static_cast<std::size_t>(i)] =
                    std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
            } else if (c->cmsg_type == SO_RXQ_OVFL) {
                std::uint32_t drops = 0;
                std::memcpy(&drops, CMSG_DATA(c), sizeof drops);
                from.saw_drops(drops);
            }
        }
    }
    return static_cast<std::size_t>(n);
}

std::span<const std::byte> receive_batch::datagram(std::size_t i) const noexcept {
    return {data_.data() + i * k_datagram_bytes, messages_[i].msg_len};
}

} // namespace gno::loadgen
