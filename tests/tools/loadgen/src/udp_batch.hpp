#pragma once
// The load generator's UDP side: a few connected sockets, each shared by a group of players
// (the server keys players by session id and answers the address it heard from), written with
// sendmmsg and read with recvmmsg. Everything is sized at start-up; no allocation per packet.
// Thread: the load generator's thread; not thread-safe.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <sys/socket.h>
#include <vector>

namespace gno::loadgen {

/// A non-blocking UDP socket connected to the server, and its outgoing batch.
class shared_socket {
public:
    /// One key state with two held keys and eight releases is 226 bytes.
    static constexpr std::size_t k_slot_bytes = 512;

    /// Start-up: opens the socket (only the server's datagrams are received), asks for a large
    /// receive buffer (a stalled loop must not lose frames) and for kernel arrival stamps and
    /// drop counts. Throws std::runtime_error naming the failed call.
    shared_socket(const sockaddr_storage& server, socklen_t server_size, std::size_t batch_slots);
    ~shared_socket();
    shared_socket(const shared_socket&) = delete;
    shared_socket& operator=(const shared_socket&) = delete;

    [[nodiscard]] int fd() const noexcept { return fd_; }

    /// Room for the next datagram of the batch (k_slot_bytes); empty when the batch is full.
    [[nodiscard]] std::span<std::byte> slot() noexcept;
    /// The slot just returned now holds a datagram of `size` bytes.
    void commit(std::size_t size) noexcept;
    [[nodiscard]] bool pending() const noexcept { return queued_ > 0; }
    /// Sends the batch. What the kernel refuses (full buffer, no server) is counted, not kept.
    void flush() noexcept;

    /// The kernel's count of datagrams dropped on this socket (SO_RXQ_OVFL), as last seen.
    void saw_drops(std::uint32_t drops) noexcept { drops_ = drops > drops_ ? drops : drops_; }

    [[nodiscard]] std::uint64_t sent() const noexcept { return sent_; }
    [[nodiscard]] std::uint64_t send_errors() const noexcept { return send_errors_; }
    [[nodiscard]] std::uint64_t receive_drops() const noexcept { return drops_; }
    [[nodiscard]] std::uint64_t receive_errors() const noexcept { return receive_errors_; }
    void count_receive_error() noexcept { ++receive_errors_; }

private:
    int fd_ = -1;
    std::vector<std::byte> buffer_;
    std::vector<iovec> iov_;
    std::vector<mmsghdr> messages_;
    std::size_t queued_ = 0;
    std::uint64_t sent_ = 0;
    std::uint64_t send_errors_ = 0;
    std::uint64_t receive_errors_ = 0;
    std::uint32_t drops_ = 0;
};

/// Buffers for one recvmmsg call, shared by every socket (one reader drains them in turn).
class receive_batch {
public:
    static constexpr std::size_t k_batch = 64;
    static constexpr std::size_t k_datagram_bytes = 1536; // above k_max_datagram: never cut

    receive_batch();

    /// Reads up to k_batch datagrams from `from` without blocking; returns how many (0 when
    /// none is waiting or on an error, which is counted on the socket).
    std::size_t receive(shared_socket& from) noexcept;

    [[nodiscard]] std::span<const std::byte> datagram(std::size_t i) const noexcept;
    /// When the kernel queued datagram `i` (CLOCK_REALTIME ns; the read time if unstamped).
    [[nodiscard]] std::int64_t arrival_ns(std::size_t i) const noexcept { return arrival_[i]; }

private:
    static constexpr std::size_t k_control_bytes = 64;
    std::vector<std::byte> data_;
    std::vector<std::byte> control_;
    std::array<iovec, k_batch> iov_{};
    std::array<mmsghdr, k_batch> messages_{};
    std::array<std::int64_t, k_batch> arrival_{};
};

} // namespace gno::loadgen
