#include "gno/client/server_link.hpp"

#include "gno/client/clock_estimator.hpp"
#include "gno/client/key_state_sender.hpp"
#include "gno/client/steady_time.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gno/proto/v1/datagram.hpp>
#include <stdexcept>
#include <thread>

namespace gno::client {

namespace net = boost::asio;
using udp = net::ip::udp;
namespace v1 = proto::v1;

namespace {
// The network thread sleeps until the next key-state send or ping is due (or a key moves):
// a fixed fast tick would wake it a thousand times a second for nothing.
constexpr std::int64_t k_min_wait_ns = 500'000;
void bump(std::atomic<std::uint64_t>& c) noexcept {
    c.fetch_add(1, std::memory_order_relaxed);
}
} // namespace

struct server_link::impl {
    impl(const link_config& cfg, playout& audio)
        : config_(cfg), audio_(audio), socket_(io_), timer_(io_) {
        boost::system::error_code ec;
        udp::resolver resolver(io_);
        auto results = resolver.resolve(cfg.host, std::to_string(cfg.port), ec);
        if (ec || results.empty())
            throw std::runtime_error("cannot resolve server '" + cfg.host + "': " + ec.message() +
                                     "; check --server HOST:PORT");
        server_ = *results.begin();
        socket_.open(server_.protocol(), ec);
        if (!ec)
            socket_.connect(server_, ec); // only the server's datagrams are received
        if (ec)
            throw std::runtime_error("cannot open a UDP socket to " + cfg.host + ": " +
                                     ec.message());
        counters_.session_id.store(cfg.session_id);
        sender_.set_program(cfg.program, cfg.bank, steady_now_ns());
        if (cfg.solo_request)
            sender_.set_solo_request(true, steady_now_ns());
        sender_.set_short_articulation(cfg.style == articulation::short_notes, steady_now_ns());
        publish_instrument();
    }

    // The instrument the sender's states carry, for the status and the page.
    void publish_instrument() noexcept {
        const instrument now{sender_.program(), sender_.bank(),
                             sender_.short_articulation() ? articulation::short_notes
                                                          : articulation::sustained};
        counters_.instrument.store(now.packed(), std::memory_order_relaxed);
    }

    // --- network thread ---

    void do_receive() {
        socket_.async_receive(net::buffer(rx_), [this](boost::system::error_code ec,
                                                       std::size_t n) { on_receive(ec, n); });
    }

    void on_receive(boost::system::error_code ec, std::size_t n) {
        if (ec == net::error::operation_aborted)
            return;
        // Other errors (e.g. ECONNREFUSED from ICMP while the server is down) are transient.
        if (!ec) {
            const std::int64_t now = steady_now_ns();
            dispatch(std::span<const std::byte>(rx_.data(), n), now);
            publish_server_clock(now);
        }
        do_receive();
    }

    void dispatch(std::span<const std::byte> d, std::int64_t now) {
        v1::header h;
        std::span<const std::byte> payload;
        if (v1::decode_header(d, h, payload)) {
            bump(counters_.datagrams_bad);
            audio_.buffer().count_bad();
            return;
        }
        // Only the server holds our key: anything else that reaches this socket (a spoofed
        // source address, someone else's session) is dropped before it is looked at.
        if (h.session_id != config_.session_id || !v1::verify(d, config_.key)) {
            bump(counters_.datagrams_bad);
            if (h.session_id == config_.session_id)
                bump(counters_.datagrams_forged);
            if (h.type == v1::packet_type::audio_frame)
                audio_.buffer().count_bad();
            return;
        }
        switch (h.type) {
        case v1::packet_type::audio_frame:
            audio_.buffer().push(d); // decoded fully on the audio side
            return;
        case v1::packet_type::clock_pong: {
            v1::clock_pong pong;
            if (v1::decode(d, h, pong)) {
                bump(counters_.datagrams_bad);
                return;
            }
            bump(counters_.pongs_received);
            switch (clock_.add_sample(pong.t0_ns, pong.t1_ns, pong.t2_ns, now)) {
            case pong_verdict::used:
            case pong_verdict::held:
            case pong_verdict::resynced:
            case pong_verdict::path_changed:
                break;
            default: // impossible times, or a t0 we never sent / already had: dropped
                bump(counters_.datagrams_bad);
                break;
            }
            counters_.rtt_us.store(clock_.rtt_us(), std::memory_order_relaxed);
            return;
        }
        case v1::packet_type::player_info:
            on_player_info(d, h, now);
            return;
        default:
            bump(counters_.datagrams_bad); // pings and key states are not for us
            return;
        }
    }

    // The server's timing parameters for this player: checked, then published whole.
    void on_player_info(std::span<const std::byte> d, v1::header& h, std::int64_t now) {
        v1::player_info info;
        if (v1::decode(d, h, info) || h.session_id != config_.session_id || !usable(info)) {
            bump(counters_.datagrams_bad);
            bump(counters_.player_info_bad);
            return;
        }
        // A reordered older one must not roll the state back (sequence numbers wrap; a jump
        // back by more than 64 is a restarted server, whose state is the one to take).
        const auto back = static_cast<std::int32_t>(h.sequence - player_seq_);
        if (player_count_ > 0 && back < 0 && back > -64)
            return;
        player_seq_ = h.sequence;
        ++player_count_;
        timing_.player.store(player_timing{true, now, player_count_, info});
        bump(counters_.player_info_received);
    }

    // Republishes the clock estimate as a line through `now` (its slope over the next 10 ms),
    // after every received datagram: audio arrives every few ms, so the line never strays far
    // from clock_estimator's (slewing) mapping. Reads only its public conversion.
    void publish_server_clock(std::int64_t now) {
        if (clock_.pongs_used() == 0)
            return; // no estimate yet: server_time_ns is the local clock
        constexpr std::int64_t k_slope_span_ns = 10'000'000;
        server_clock_map m;
        m.synchronised = true;
        m.settled = clock_.synchronised();
        m.local_ns = now;
        m.server_ns = clock_.server_time_ns(now);
        m.rate = static_cast<double>(clock_.server_time_ns(now + k_slope_span_ns) - m.server_ns) /
                 static_cast<double>(k_slope_span_ns);
        if (!(m.rate > 0.99 && m.rate < 1.01))
            m.rate = 1.0; // beyond 1 %: not a clock rate; keep the offset only
        timing_.server_clock.store(m);
    }

    // Arms the timer for the next due send (a re-arm cancels the wait in progress, whose
    // handler then does nothing).
    void do_tick() {
        const std::int64_t now = steady_now_ns();
        const std::int64_t due = std::min(sender_.next_deadline_ns(), clock_.next_ping_ns(now));
        timer_.expires_after(std::chrono::nanoseconds(std::max(due - now, k_min_wait_ns)));
        timer_.async_wait([this](boost::system::error_code ec) {
            if (ec)
                return;
            on_tick();
            do_tick();
        });
    }

    void on_tick() {
        const std::int64_t now = steady_now_ns();
        if (clock_.ping_due(now)) {
            clock_.ping_sent(now);
            v1::header h;
            h.session_id = config_.session_id;
            h.sequence = ping_seq_++;
            h.timestamp_ns = now;
            send(h, v1::clock_ping{now});
            bump(counters_.pings_sent);
        }
        flush_key_state(now);
    }

    void flush_key_state(std::int64_t now) {
        update_downlink_loss(now);
        // The latest round trip, not the window's minimum: the server logs their mean and
        // minimum per player (its network statistics, paper §7.1).
        sender_.set_link(clock_.last_rtt_us(), loss_permille_);
        if (auto state = sender_.poll(now)) {
            v1::header h;
            h.session_id = config_.session_id;
            h.sequence = key_seq_++;
            // Server time at sending (the server takes arrival minus this as the uplink delay);
            // clock pings instead carry the local clock, in t0 and here.
            h.timestamp_ns = clock_.server_time_ns(now);
            send(h, *state);
            bump(counters_.key_state_sent);
        }
    }

    // The downlink loss the key states carry (proto key_state::loss_permille): audio frames
    // lost over the last completed second, so the server can average it over any window.
    void update_downlink_loss(std::int64_t now) {
        if (now - loss_mark_ns_ < k_loss_interval_ns)
            return;
        const auto& jc = audio_.buffer().counters();
        const auto expected = jc.frames_expected.load(std::memory_order_relaxed);
        const auto got = jc.packets_received.load(std::memory_order_relaxed) -
                         jc.packets_duplicate.load(std::memory_order_relaxed);
        const std::uint64_t want = expected - loss_mark_expected_;
        const std::uint64_t came = got - loss_mark_got_;
        // Late frames of the previous second can make `came` the larger: no loss, not less.
        const std::uint64_t lost = want > came ? want - came : 0;
        loss_permille_ = static_cast<std::uint16_t>(
            want > 0 ? std::min<std::uint64_t>(lost * 1000 / want, 1000) : 0);
        loss_mark_ns_ = now;
        loss_mark_expected_ = expected;
        loss_mark_got_ = got;
    }

    template <typename Message>
    void send(const v1::header& h, const Message& m) {
        std::error_code ec;
        const std::size_t n = v1::encode(h, m, tx_, ec);
        if (ec) {
            bump(counters_.send_errors);
            return;
        }
        v1::seal(std::span(tx_).first(n), config_.key);
        boost::system::error_code sec;
        socket_.send(net::buffer(tx_.data(), n), 0, sec); // UDP: does not block for long
        if (sec)
            bump(counters_.send_errors);
    }

    // Before the first pong the server time is unknown: an unstamped key (0) plays on arrival,
    // where the local clock (far from the server's) would be refused as absurdly early or late.
    key_stamps stamp(std::int64_t local_ns) const {
        return {clock_.has_estimate() ? clock_.server_time_ns(local_ns) : 0,
                audio_.heard_render_sample(local_ns)};
    }

    link_config config_;
    playout& audio_;
    net::io_context io_;
    udp::socket socket_;
    net::steady_timer timer_;
    udp::endpoint server_;
    std::array<std::byte, 2048> rx_{};
    std::array<std::byte, v1::k_max_datagram> tx_{};
    key_state_sender sender_;
    clock_estimator clock_;
    // From the wall clock: a restarted client is newer than anything it sent before (auth.hpp).
    std::uint32_t key_seq_ = v1::first_sequence();
    std::uint32_t ping_seq_ = v1::first_sequence();
    link_counters counters_;
    link_timing timing_;
    std::uint32_t player_seq_ = 0;
    std::uint32_t player_count_ = 0;
    static constexpr std::int64_t k_loss_interval_ns = 1'000'000'000;
    std::int64_t loss_mark_ns_ = 0;
    std::uint64_t loss_mark_expected_ = 0;
    std::uint64_t loss_mark_got_ = 0;
    std::uint16_t loss_permille_ = 0;
    std::thread thread_;
};

server_link::server_link(const link_config& config, playout& audio)
    : impl_(std::make_unique<impl>(config, audio)) {}

server_link::~server_link() {
    stop();
}

void server_link::start() {
    impl* p = impl_.get();
    net::post(p->io_, [p] {
        p->do_receive();
        p->on_tick(); // speak first, at once
        p->do_tick();
    });
    p->thread_ = std::thread([p] { p->io_.run(); });
}

void server_link::key_down(std::uint8_t key, std::uint8_t velocity, std::int64_t local_ns) {
    impl* p = impl_.get();
    net::post(p->io_, [p, key, velocity, local_ns] {
        if (p->sender_.note_on(key, velocity, p->stamp(local_ns), steady_now_ns()))
            bump(p->counters_.notes_on);
        p->flush_key_state(steady_now_ns()); // a change goes out at once
        p->do_tick();                        // and its repeats follow it
    });
}

void server_link::key_up(std::uint8_t key, std::int64_t local_ns) {
    impl* p = impl_.get();
    net::post(p->io_, [p, key, local_ns] {
        if (p->sender_.note_off(key, p->stamp(local_ns), steady_now_ns()))
            bump(p->counters_.notes_off);
        p->flush_key_state(steady_now_ns());
        p->do_tick();
    });
}

void server_link::all_notes_off() {
    impl* p = impl_.get();
    net::post(p->io_, [p] {
        const std::int64_t now = steady_now_ns();
        const auto held = p->sender_.held_count();
        p->sender_.all_notes_off(p->stamp(now), now);
        p->counters_.notes_off.fetch_add(held, std::memory_order_relaxed);
        p->flush_key_state(now);
        p->do_tick();
    });
}

void server_link::set_solo_request(bool on) {
    impl* p = impl_.get();
    net::post(p->io_, [p, on] {
        const std::int64_t now = steady_now_ns();
        p->sender_.set_solo_request(on, now);
        p->flush_key_state(now);
        p->do_tick();
    });
}

void server_link::set_program(std::uint8_t program, std::uint16_t bank) {
    impl* p = impl_.get();
    net::post(p->io_, [p, program, bank] {
        const std::int64_t now = steady_now_ns();
        p->sender_.set_program(program, bank, now);
        p->publish_instrument();
        p->flush_key_state(now);
        p->do_tick();
    });
}

void server_link::set_articulation(articulation style) {
    impl* p = impl_.get();
    net::post(p->io_, [p, style] {
        const std::int64_t now = steady_now_ns();
        p->sender_.set_short_articulation(style == articulation::short_notes, now);
        p->publish_instrument();
        p->flush_key_state(now);
        p->do_tick();
    });
}

instrument server_link::current_instrument() const noexcept {
    return instrument::unpack(impl_->counters_.instrument.load(std::memory_order_relaxed));
}

void server_link::switch_session(std::uint32_t id, const proto::v1::session_key& key) {
    impl* p = impl_.get();
    net::post(p->io_, [p, id, key] {
        if (id == 0 || (id == p->config_.session_id && key == p->config_.key))
            return;
        const std::int64_t now = steady_now_ns();
        // Whatever the old session still sounds is released (if its server is still there).
        key_state_sender old = p->sender_;
        old.all_notes_off(p->stamp(now), now);
        v1::header h;
        h.session_id = p->config_.session_id;
        h.sequence = p->key_seq_++;
        h.timestamp_ns = p->clock_.server_time_ns(now);
        p->send(h, old.snapshot(now));

        p->config_.session_id = id;
        p->config_.key = key;
        p->counters_.session_id.store(id);
        bump(p->counters_.session_switches);
        p->clock_ = clock_estimator{};
        p->sender_.forget_stamps(); // the held keys' stamps are the old server's time
        p->timing_.server_clock.store(server_clock_map{});
        p->player_count_ = 0;
        p->key_seq_ = v1::first_sequence();
        p->ping_seq_ = v1::first_sequence();
        h.session_id = id;
        h.sequence = p->key_seq_++;
        h.timestamp_ns = p->clock_.server_time_ns(now);
        p->send(h, p->sender_.snapshot(now));
        bump(p->counters_.key_state_sent);
        p->do_tick(); // the new session pings at once
    });
}

bool server_link::move_to(const std::string& host, std::uint16_t port) {
    net::io_context ioc;
    udp::resolver resolver(ioc);
    boost::system::error_code ec;
    const auto found = resolver.resolve(host, std::to_string(port), ec);
    if (ec || found.empty())
        return false;
    const udp::endpoint to = *found.begin();
    impl* p = impl_.get();
    net::post(p->io_, [p, to] {
        boost::system::error_code e;
        if (to.protocol() != p->server_.protocol()) {
            p->socket_.close(e);
            p->socket_.open(to.protocol(), e);
            p->do_receive();
        }
        p->server_ = to;
        p->socket_.connect(to, e); // only the new node's datagrams are received
    });
    return true;
}

void server_link::stop() {
    if (!impl_ || !impl_->thread_.joinable())
        return;
    impl_->io_.stop();
    impl_->thread_.join();
}

const link_counters& server_link::counters() const noexcept {
    return impl_->counters_;
}

const link_timing& server_link::timing() const noexcept {
    return impl_->timing_;
}

} // namespace gno::client
