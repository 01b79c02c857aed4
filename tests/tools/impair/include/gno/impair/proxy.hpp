#pragma once
// The impairment proxy: clients send to the listen socket; each client address gets its own
// upstream socket (so the server sees one address per client, like a NAT) and the server's
// replies go back to that client. Datagrams are impaired per direction and held in one
// time-ordered, bounded queue served by a single timer.
// Thread: everything runs on the io_context's one thread; no locks because nothing is shared.

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <gno/impair/impairment.hpp>
#include <gno/impair/options.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace gno::impair {

/// Counters for one direction, as written to the stats file.
struct direction_counters {
    std::uint64_t packets_in = 0;
    std::uint64_t bytes_in = 0;
    std::uint64_t forwarded = 0; // datagrams sent on, duplicates included
    std::uint64_t bytes_forwarded = 0;
    std::uint64_t dropped = 0;     // every datagram not sent: lost + queue_full + send_errors
                                   // (+ over the client limit, up only)
    std::uint64_t lost = 0;        // dropped by the loss model (burst losses included) or an
                                   // outage
    std::uint64_t burst_lost = 0;  // of which in the Gilbert-Elliott bad state
    std::uint64_t outage_lost = 0; // of which in an --outage window (arriving or in flight)
    std::uint64_t queue_full = 0;
    std::uint64_t send_errors = 0;
    std::uint64_t duplicated = 0;
    std::uint64_t reordered = 0; // copies deliberately held back
};

class udp_proxy {
public:
    /// Binds the listen socket; throws boost::system::system_error if it cannot.
    udp_proxy(boost::asio::io_context& io, proxy_options options);

    /// Starts receiving and the periodic stats file; the --outage windows count from here.
    void start();

    /// The bound listen address (with the real port when --listen asked for port 0).
    [[nodiscard]] boost::asio::ip::udp::endpoint listen_endpoint() const;

    /// All counters as one JSON object, with "started_ns", the steady clock (CLOCK_MONOTONIC on
    /// Linux) at start() in ns, from which the outage windows count.
    [[nodiscard]] std::string stats_json() const;

    /// Writes stats_json() to the stats file (if any) atomically: readers never see half.
    void write_stats() const;

private:
    enum class direction { up, down };
    struct upstream_link;
    struct session;
    struct queued_packet {
        direction dir;
        std::shared_ptr<session> target;
        std::vector<std::byte> bytes;
    };
    using clock = std::chrono::steady_clock;

    void do_receive_client();
    void on_receive_client(const boost::system::error_code& ec, std::size_t size);
    void open_link(const std::shared_ptr<session>& s);
    void do_receive_upstream(const std::shared_ptr<session>& s,
                             const std::shared_ptr<upstream_link>& link);
    void schedule_rebind(const std::shared_ptr<session>& s);
    void impair(direction dir, const std::shared_ptr<session>& s, const std::byte* data,
                std::size_t size);
    void send(direction dir, session& s, const std::vector<std::byte>& bytes);
    [[nodiscard]] bool in_outage(clock::time_point t) const noexcept;
    void count_outage_loss(direction dir);
    void arm_timer();
    void on_timer();
    void schedule_stats();
    direction_counters& counters(direction dir) { return dir == direction::up ? up_ : down_; }

    boost::asio::io_context& io_;
    proxy_options options_;
    boost::asio::ip::udp::socket listen_socket_;
    boost::asio::ip::udp::endpoint client_from_;
    std::vector<std::byte> client_buffer_;
    std::map<boost::asio::ip::udp::endpoint, std::shared_ptr<session>> sessions_;
    impairment_model up_model_;
    impairment_model down_model_;
    // Time-ordered; the sequence number keeps equal due times in arrival order.
    std::map<std::pair<clock::time_point, std::uint64_t>, queued_packet> queue_;
    std::uint64_t next_seq_ = 0;
    boost::asio::steady_timer queue_timer_;
    std::optional<clock::time_point> timer_due_;
    boost::asio::steady_timer stats_timer_;
    direction_counters up_;
    direction_counters down_;
    std::uint64_t rebinds_ = 0;
    clock::time_point started_ = clock::now(); // reset by start()
};

} // namespace gno::impair
