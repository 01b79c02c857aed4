#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/socket_base.hpp>
#include <cstdio>
#include <fstream>
#include <gno/impair/proxy.hpp>
#include <random>
#include <sstream>

namespace gno::impair {

namespace asio = boost::asio;
using udp = asio::ip::udp;

namespace {

constexpr std::size_t k_max_datagram = 65536;
// Large kernel buffers so a test that sends a burst measures our loss model, not the
// kernel's (the kernel caps the value at net.core.rmem_max).
constexpr int k_socket_buffer_bytes = 4 << 20;

void enlarge_buffers(udp::socket& socket) {
    boost::system::error_code ignored;
    socket.set_option(asio::socket_base::receive_buffer_size(k_socket_buffer_bytes), ignored);
    socket.set_option(asio::socket_base::send_buffer_size(k_socket_buffer_bytes), ignored);
    socket.non_blocking(true, ignored); // sends must never stall the one thread
}

std::uint64_t seed_for(const proxy_options& o, std::uint64_t stream) {
    // Two independent streams from one seed, so traffic in one direction never shifts the
    // random choices made for the other.
    if (o.seed)
        return *o.seed * 0x9E3779B97F4A7C15ull + stream;
    return (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
}

void counters_json(std::ostringstream& out, const direction_counters& c) {
    out << "{\"packets_in\":" << c.packets_in << ",\"bytes_in\":" << c.bytes_in
        << ",\"forwarded\":" << c.forwarded << ",\"bytes_forwarded\":" << c.bytes_forwarded
        << ",\"dropped\":" << c.dropped << ",\"lost\":" << c.lost
        << ",\"burst_lost\":" << c.burst_lost << ",\"outage_lost\":" << c.outage_lost
        << ",\"queue_full\":" << c.queue_full << ",\"send_errors\":" << c.send_errors
        << ",\"duplicated\":" << c.duplicated << ",\"reordered\":" << c.reordered << "}";
}

} // namespace

struct udp_proxy::upstream_link {
    explicit upstream_link(asio::io_context& io) : socket(io), buffer(k_max_datagram) {}
    udp::socket socket;
    udp::endpoint from;
    std::vector<std::byte> buffer;
};

struct udp_proxy::session {
    explicit session(asio::io_context& io, udp::endpoint c) : client(c), rebind_timer(io) {}
    udp::endpoint client;
    std::shared_ptr<upstream_link> link;
    asio::steady_timer rebind_timer;
    // Latest due time per direction, for keep_order.
    std::array<clock::time_point, 2> last_due{};
};

udp_proxy::udp_proxy(asio::io_context& io, proxy_options options)
    : io_(io), options_(std::move(options)), listen_socket_(io, options_.listen),
      client_buffer_(k_max_datagram), up_model_(options_.up, seed_for(options_, 1)),
      down_model_(options_.down, seed_for(options_, 2)), queue_timer_(io), stats_timer_(io) {
    enlarge_buffers(listen_socket_);
}

udp::endpoint udp_proxy::listen_endpoint() const {
    return listen_socket_.local_endpoint();
}

void udp_proxy::start() {
    started_ = clock::now();
    do_receive_client();
    if (!options_.stats_file.empty()) {
        write_stats();
        schedule_stats();
    }
}

void udp_proxy::do_receive_client() {
    listen_socket_.async_receive_from(
        asio::buffer(client_buffer_), client_from_,
        [this](const boost::system::error_code& ec, std::size_t n) { on_receive_client(ec, n); });
}

void udp_proxy::on_receive_client(const boost::system::error_code& ec, std::size_t size) {
    if (ec == asio::error::operation_aborted)
        return;
    if (!ec) {
        auto it = sessions_.find(client_from_);
        if (it == sessions_.end()) {
            if (sessions_.size() >= options_.max_clients) {
                ++up_.packets_in;
                up_.bytes_in += size;
                ++up_.dropped;
                do_receive_client();
                return;
            }
            auto s = std::make_shared<session>(io_, client_from_);
            open_link(s);
            schedule_rebind(s);
            it = sessions_.emplace(client_from_, std::move(s)).first;
        }
        impair(direction::up, it->second, client_buffer_.data(), size);
    }
    // Other errors (e.g. ICMP port unreachable reported on a UDP socket) are per-datagram.
    do_receive_client();
}

void udp_proxy::open_link(const std::shared_ptr<session>& s) {
    auto link = std::make_shared<upstream_link>(io_);
    link->socket.open(options_.upstream.protocol());
    // Port 0 while the old link is still open: the kernel must pick a different port.
    link->socket.bind(udp::endpoint(options_.upstream.protocol(), 0));
    enlarge_buffers(link->socket);
    if (s->link) {
        boost::system::error_code ignored;
        s->link->socket.close(ignored);
    }
    s->link = link;
    do_receive_upstream(s, link);
}

void udp_proxy::do_receive_upstream(const std::shared_ptr<session>& s,
                                    const std::shared_ptr<upstream_link>& link) {
    // The handler holds the link, not just the session: after a re-bind the old link's
    // aborted receive still owns its buffer until it completes.
    link->socket.async_receive_from(
        asio::buffer(link->buffer), link->from,
        [this, s, link](const boost::system::error_code& ec, std::size_t n) {
            if (ec == asio::error::operation_aborted || !link->socket.is_open())
                return;
            if (!ec && link->from == options_.upstream)
                impair(direction::down, s, link->buffer.data(), n);
            do_receive_upstream(s, link);
        });
}

void udp_proxy::schedule_rebind(const std::shared_ptr<session>& s) {
    if (options_.rebind_after_s <= 0.0)
        return;
    s->rebind_timer.expires_after(
        std::chrono::microseconds{static_cast<std::int64_t>(options_.rebind_after_s * 1e6)});
    s->rebind_timer.async_wait([this, s](const boost::system::error_code& ec) {
        if (ec)
            return;
        open_link(s);
        ++rebinds_;
        schedule_rebind(s);
    });
}

void udp_proxy::impair(direction dir, const std::shared_ptr<session>& s, const std::byte* data,
                       std::size_t size) {
    auto& c = counters(dir);
    ++c.packets_in;
    c.bytes_in += size;
    if (in_outage(clock::now())) {
        count_outage_loss(dir); // before the loss model: an outage draws no random numbers
        return;
    }
    auto& model = dir == direction::up ? up_model_ : down_model_;
    const auto& params = model.params();
    std::vector<std::byte> bytes(data, data + size);
    if (params.transparent()) {
        send(dir, *s, bytes);
        return;
    }
    const packet_plan plan = model.next();
    if (plan.dropped) {
        ++c.dropped;
        ++c.lost;
        if (plan.burst)
            ++c.burst_lost;
        return;
    }
    if (plan.copies > 1)
        ++c.duplicated;
    const auto now = clock::now();
    auto& last_due = s->last_due[dir == direction::up ? 0 : 1];
    for (int i = 0; i < plan.copies; ++i) {
        const auto& copy = plan.copy[static_cast<std::size_t>(i)];
        auto due = now + copy.delay;
        if (copy.held_back) {
            ++c.reordered;
        } else if (params.keep_order) {
            // Held-back copies neither wait for nor delay the others: they are the reorder.
            due = std::max(due, last_due);
            last_due = due;
        }
        if (queue_.size() >= options_.max_queue) {
            ++c.queue_full;
            ++c.dropped;
            continue;
        }
        // The last copy takes the buffer; an earlier one (a duplicate) gets its own.
        std::vector<std::byte> payload;
        if (i + 1 < plan.copies)
            payload = bytes;
        else
            payload = std::move(bytes);
        queue_.emplace(std::pair{due, next_seq_++}, queued_packet{dir, s, std::move(payload)});
    }
    arm_timer();
}

bool udp_proxy::in_outage(clock::time_point t) const noexcept {
    const std::chrono::duration<double> since = t - started_;
    return std::any_of(options_.outages.begin(), options_.outages.end(), [&](const auto& o) {
        return since.count() >= o.start_s && since.count() < o.start_s + o.duration_s;
    });
}

void udp_proxy::count_outage_loss(direction dir) {
    auto& c = counters(dir);
    ++c.dropped;
    ++c.lost;
    ++c.outage_lost;
}

void udp_proxy::send(direction dir, session& s, const std::vector<std::byte>& bytes) {
    auto& c = counters(dir);
    if (in_outage(clock::now())) {
        count_outage_loss(dir); // in flight when the link went down
        return;
    }
    boost::system::error_code ec;
    if (dir == direction::up)
        s.link->socket.send_to(asio::buffer(bytes), options_.upstream, 0, ec);
    else
        listen_socket_.send_to(asio::buffer(bytes), s.client, 0, ec);
    if (ec) {
        ++c.send_errors;
        ++c.dropped;
        return;
    }
    ++c.forwarded;
    c.bytes_forwarded += bytes.size();
}

void udp_proxy::arm_timer() {
    if (queue_.empty())
        return;
    const auto due = queue_.begin()->first.first;
    if (timer_due_ && *timer_due_ <= due)
        return; // already armed for this packet or an earlier one
    timer_due_ = due;
    queue_timer_.expires_at(due);
    queue_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec == asio::error::operation_aborted)
            return; // re-armed for an earlier packet; that wait will serve the queue
        timer_due_.reset();
        on_timer();
    });
}

void udp_proxy::on_timer() {
    const auto now = clock::now();
    while (!queue_.empty() && queue_.begin()->first.first <= now) {
        auto node = queue_.extract(queue_.begin());
        auto& packet = node.mapped();
        send(packet.dir, *packet.target, packet.bytes);
    }
    arm_timer();
}

void udp_proxy::schedule_stats() {
    stats_timer_.expires_after(std::chrono::seconds{1});
    stats_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec)
            return;
        write_stats();
        schedule_stats();
    });
}

std::string udp_proxy::stats_json() const {
    std::ostringstream out;
    out << "{\"up\":";
    counters_json(out, up_);
    out << ",\"down\":";
    counters_json(out, down_);
    out << ",\"clients\":" << sessions_.size() << ",\"rebinds\":" << rebinds_
        << ",\"queued\":" << queue_.size() << ",\"started_ns\":"
        << std::chrono::duration_cast<std::chrono::nanoseconds>(started_.time_since_epoch()).count()
        << "}";
    return out.str();
}

void udp_proxy::write_stats() const {
    if (options_.stats_file.empty())
        return;
    auto tmp = options_.stats_file;
    tmp += ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << stats_json() << '\n';
        if (!out)
            return; // a test reading stats will notice; the proxy keeps forwarding
    }
    std::error_code ec;
    std::filesystem::rename(tmp, options_.stats_file, ec);
}

} // namespace gno::impair
