#include "gno/render/udp_io.hpp"

#include <boost/asio/post.hpp>
#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <vector>

namespace gno::render {
namespace net = boost::asio;
namespace v1 = proto::v1;
using udp = net::ip::udp;

namespace {
constexpr std::size_t k_batch = 64;

std::int64_t to_ns(std::chrono::milliseconds ms) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(ms).count();
}
} // namespace

bool source_limiter::take(const udp::endpoint& from, std::int64_t now_ns) noexcept {
    std::uint64_t h = from.port();
    if (from.address().is_v4()) {
        h = h << 32 | from.address().to_v4().to_uint();
    } else {
        for (const auto b : from.address().to_v6().to_bytes())
            h = h * 1099511628211u ^ b;
    }
    h *= 0x9E3779B97F4A7C15u; // Fibonacci hashing: the high bits pick the bucket
    bucket& b = buckets_[h >> 52];
    static_assert(k_buckets == std::size_t{1} << 12);
    if (b.last_ns != 0)
        b.tokens = std::min(k_burst, b.tokens + static_cast<double>(now_ns - b.last_ns) * 1e-9 *
                                                    k_per_second);
    b.last_ns = now_ns;
    if (b.tokens < 1.0)
        return false;
    b.tokens -= 1.0;
    return true;
}

udp_io::udp_io(const server_config& cfg, const v1::master_secret& secret, node_counters& counters,
               timing_state& timing, spsc_ring<ingress_event>& ingress,
               std::span<spsc_ring<encoded_frame>* const> egress,
               std::function<std::int64_t()> server_now_ns, link_sink links)
    : cfg_(cfg), secret_(secret), counters_(counters), timing_(timing), ingress_(ingress),
      egress_(egress.begin(), egress.end()), now_ns_(std::move(server_now_ns)), socket_(io_),
      egress_ready_(io_), expire_timer_(io_), info_timer_(io_), link_sink_(std::move(links)),
      link_timer_(io_), players_(cfg.max_players), default_mix_(default_mix_profile(cfg)),
      batch_bufs_(k_batch), batch_msgs_(k_batch), batch_iovs_(k_batch) {
    open_admission_ = !cfg.udp_secret_file.empty();
    rate_.resize(static_cast<std::size_t>(cfg.max_players));
    slot_instrument_.assign(static_cast<std::size_t>(cfg.max_players), 0);
    if (link_sink_)
        links_.resize(static_cast<std::size_t>(cfg.max_players));
    delays_.assign(static_cast<std::size_t>(cfg.max_players),
                   uplink_delay(to_ns(cfg.timing.default_advance), 0));
    for (int i = 0; i < cfg.max_players; ++i)
        reset_advance(i);
    // Room for bursts of key states and a frame's worth of fan-out.
    port_ = bind_udp(socket_, cfg.listen_address, cfg.port, 1 << 21, "UDP", "--port");
}

udp_io::~udp_io() = default;

void udp_io::run() {
    do_receive();
    egress_ready_.wait([this] { drain_egress(); });
    do_expire();
    do_player_info();
    if (link_sink_) {
        link_timer_.expires_after(k_link_report_interval);
        do_link_report();
    }
    io_.run();
}

void udp_io::stop() {
    net::post(io_, [this] {
        if (link_sink_)
            report_links(); // the last part-second too: the statistics log ends with the session
        io_.stop();
    });
}

void udp_io::notify_egress() noexcept {
    egress_ready_.notify();
}

void udp_io::do_receive() {
    socket_.async_receive_from(net::buffer(rx_), from_,
                               [this](boost::system::error_code ec, std::size_t n) {
                                   if (ec == net::error::operation_aborted)
                                       return;
                                   if (!ec)
                                       on_datagram(n);
                                   do_receive();
                               });
}

void udp_io::on_datagram(std::size_t size) {
    counters_.packets_in.fetch_add(1, std::memory_order_relaxed);
    const std::int64_t now = now_ns_();
    if (!sources_.take(from_, now)) {
        // One source flooding: dropped before any work, so it costs nobody a late frame.
        counters_.source_limited.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    const auto datagram = std::span<const std::byte>(rx_).first(size);
    v1::header h;
    std::span<const std::byte> payload;
    if (v1::decode_header(datagram, h, payload) ||
        (h.type != v1::packet_type::key_state && h.type != v1::packet_type::clock_ping)) {
        counters_.bad_packets.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    if (!dismissed_sessions_.empty() && dismissed_sessions_.contains(h.session_id)) {
        // Kicked by the conductor or ops: nothing of theirs is played or answered.
        counters_.rejected_players.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    const auto known = players_.find(h.session_id);
    if (!known && !open_admission_ && !admitted_sessions_.contains(h.session_id)) {
        // A session no performer holds now: forged, long gone, or from a node's earlier run.
        counters_.unadmitted.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    // The tag first: nothing unproven is decoded further, answered or followed (DESIGN.md §8).
    const v1::session_key key = known ? players_.entries()[static_cast<std::size_t>(*known)].key
                                      : v1::derive_session_key(secret_, h.session_id);
    if (!v1::verify(datagram, key)) {
        counters_.bad_tags.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    switch (h.type) {
    case v1::packet_type::key_state: {
        ingress_event* ev = ingress_.claim();
        if (!ev) {
            counters_.ingress_overflows.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        // Decode straight into the ring slot; nothing is committed unless it is valid.
        if (v1::decode(datagram, h, ev->state)) {
            counters_.bad_packets.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        const auto r = players_.on_key_state(h.session_id, h.sequence, from_, now, key);
        if (r.what == player_directory::verdict::full) {
            counters_.rejected_players.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        if (!links_.empty() && r.slot >= 0) {
            // Every valid key state of a player counts for its link, a stale (reordered or
            // duplicate) or rate-limited one too: it crossed the network.
            auto& link = links_[static_cast<std::size_t>(r.slot)];
            if (r.what == player_directory::verdict::joined)
                link.start(r.slot, h.session_id, now, late_events(r.slot));
            link.on_key_state(h.sequence, h.timestamp_ns, now, ev->state.rtt_us,
                              ev->state.loss_permille);
        }
        if (r.what == player_directory::verdict::stale) {
            // A duplicate, a reordered or a replayed key state: nothing new, and never a reason
            // to stream anywhere else.
            counters_.stale_packets.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        if (r.rebound)
            counters_.rebinds.fetch_add(1, std::memory_order_relaxed);
        if (r.what == player_directory::verdict::joined) {
            rate_[static_cast<std::size_t>(r.slot)] = key_state_rate{};
            timing_.players[static_cast<std::size_t>(r.slot)].muted.store(
                muted_sessions_.contains(h.session_id), std::memory_order_relaxed);
            const auto kept = mixes_.find(h.session_id);
            timing_.players[static_cast<std::size_t>(r.slot)].mix.store(
                kept == mixes_.end() ? default_mix_ : kept->second);
        }
        if (!rate_[static_cast<std::size_t>(r.slot)].take(now)) {
            // A player sending far above a client's schedule (a bug or an attack) must not
            // crowd the others out of the ingress ring: its excess is dropped and counted.
            counters_.rate_limited.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        if (r.what == player_directory::verdict::joined)
            reset_advance(r.slot);
        if (delays_[static_cast<std::size_t>(r.slot)].add(now - h.timestamp_ns))
            timing_.players[static_cast<std::size_t>(r.slot)].advance_ns.store(
                delays_[static_cast<std::size_t>(r.slot)].advance_ns(), std::memory_order_relaxed);
        if (r.what == player_directory::verdict::joined) {
            // The join must precede the state: copy the state into the next slot.
            ingress_event* next = nullptr;
            if (ingress_.capacity() - ingress_.size() >= 2) {
                const v1::key_state state = ev->state;
                ev->what = ingress_event::kind::join;
                ev->slot = static_cast<std::uint16_t>(r.slot);
                ev->arrival_ns = now;
                ingress_.commit();
                next = ingress_.claim();
                next->state = state;
                ev = next;
            } else {
                counters_.ingress_overflows.fetch_add(1, std::memory_order_relaxed);
                return;
            }
        }
        ev->what = ingress_event::kind::key_state;
        ev->slot = static_cast<std::uint16_t>(r.slot);
        ev->arrival_ns = now;
        ingress_.commit();
        if (r.what == player_directory::verdict::joined)
            send_player_info(r.slot);
        if (!pending_instruments_.empty())
            flush_pending_instrument(h.session_id, r.slot);
        break;
    }
    case v1::packet_type::clock_ping:
        send_pong(h, now);
        break;
    default:
        break; // filtered above
    }
}

void udp_io::send_pong(const v1::header& h, std::int64_t t1_ns) {
    v1::clock_ping ping;
    v1::header ph;
    if (v1::decode(std::span<const std::byte>(rx_).first(h.payload_size + v1::k_header_size), ph,
                   ping)) {
        counters_.bad_packets.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    // Answer only players that are streaming, at the address their newest key state came
    // from: a pong never goes anywhere that has not proven the key (no reflection off this
    // node to a third party), and each ping is answered once (a replay gets nothing).
    const auto slot = players_.find(h.session_id);
    if (!slot || players_.entries()[static_cast<std::size_t>(*slot)].address != from_) {
        counters_.unanswered_pings.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    auto& p = players_.entries()[static_cast<std::size_t>(*slot)];
    if (!p.pings.accept(h.sequence)) {
        counters_.replayed_packets.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    counters_.pings.fetch_add(1, std::memory_order_relaxed);
    v1::header out;
    out.session_id = h.session_id;
    out.sequence = ++pong_sequence_;
    const std::int64_t t2 = now_ns_();
    out.timestamp_ns = t2;
    std::array<std::byte, v1::k_header_size + 24> buf;
    std::error_code ec;
    const auto n = v1::encode(out, v1::clock_pong{ping.t0_ns, t1_ns, t2}, buf, ec);
    v1::seal(std::span(buf).first(n), p.key);
    boost::system::error_code sec;
    socket_.send_to(net::buffer(buf.data(), n), from_, 0, sec);
    if (sec)
        counters_.send_errors.fetch_add(1, std::memory_order_relaxed);
}

void udp_io::flush_audio() {
    std::size_t done = 0;
    while (done < batched_) {
        const int sent = ::sendmmsg(socket_.native_handle(), batch_msgs_.data() + done,
                                    static_cast<unsigned>(batched_ - done), 0);
        if (sent <= 0) {
            if (errno == EINTR)
                continue;
            // A full socket buffer (EAGAIN) or an unreachable address: the datagram is lost
            // for this frame, counted; the next frame will try again.
            counters_.send_errors.fetch_add(1, std::memory_order_relaxed);
            ++done;
            continue;
        }
        for (std::size_t i = done; i < done + static_cast<std::size_t>(sent); ++i)
            counters_.bytes_out.fetch_add(batch_msgs_[i].msg_len, std::memory_order_relaxed);
        counters_.packets_out.fetch_add(static_cast<std::uint64_t>(sent),
                                        std::memory_order_relaxed);
        done += static_cast<std::size_t>(sent);
    }
    batched_ = 0;
}

bool udp_io::queue_audio(player_directory::entry& p, const v1::audio_frame& af, std::int64_t now) {
    if (!p.used || now - p.last_heard_ns > to_ns(cfg_.audio_timeout))
        return false; // never stream to an address that has gone quiet
    v1::header h;
    h.session_id = p.session_id;
    h.sequence = ++p.audio_sequence;
    h.timestamp_ns = now;
    std::error_code ec;
    const auto n = v1::encode(h, af, batch_bufs_[batched_], ec);
    if (n == 0)
        return false;
    v1::seal(std::span(batch_bufs_[batched_]).first(n), p.key);
    batch_iovs_[batched_] = {batch_bufs_[batched_].data(), n};
    batch_msgs_[batched_] = {};
    batch_msgs_[batched_].msg_hdr.msg_name = p.address.data();
    batch_msgs_[batched_].msg_hdr.msg_namelen = static_cast<socklen_t>(p.address.size());
    batch_msgs_[batched_].msg_hdr.msg_iov = &batch_iovs_[batched_];
    batch_msgs_[batched_].msg_hdr.msg_iovlen = 1;
    if (++batched_ == k_batch)
        flush_audio();
    return true;
}

void udp_io::drain_egress() {
    const std::int64_t now = now_ns_();
    encoded_frame frame;
    for (auto* ring : egress_) {
        while (ring->try_pop(frame)) {
            v1::audio_frame af;
            af.render_sample = frame.render_sample;
            af.frame_samples = frame.frame_samples;
            af.channels = k_channels;
            af.mix_id = frame.mix_id;
            af.opus = std::span<const std::byte>(frame.bytes).first(frame.size);
            if (frame.mix_id == 0) {
                // The shared mix: one encoded packet, every listening player.
                for (auto& p : players_.entries())
                    queue_audio(p, af, now);
            } else if (frame.mix_id <= players_.entries().size()) {
                // An own mix: its player only.
                queue_audio(players_.entries()[frame.mix_id - 1], af, now);
            }
        }
    }
    if (batched_ > 0)
        flush_audio();
}

void udp_io::reset_advance(int slot) {
    // A_i covers the uplink's p99 plus a margin, one frame and the synthesiser's grid lead.
    const std::int64_t margin =
        to_ns(cfg_.advance_margin) + samples_to_ns(cfg_.frame_samples + 64, cfg_.sample_rate);
    delays_[static_cast<std::size_t>(slot)] =
        uplink_delay(to_ns(cfg_.timing.default_advance), margin);
    timing_.players[static_cast<std::size_t>(slot)].advance_ns.store(
        to_ns(cfg_.timing.default_advance), std::memory_order_relaxed);
}

void udp_io::send_player_info(int slot) {
    const auto& p = players_.entries()[static_cast<std::size_t>(slot)];
    const timing_config t = timing_.config.load();
    v1::player_info info;
    info.mode = t.mode;
    info.advance_ns = t.mode == timing_mode::live
                          ? to_ns(t.uplink_budget)
                          : timing_.players[static_cast<std::size_t>(slot)].advance_ns.load(
                                std::memory_order_relaxed);
    // The tempo and cycle in force now, and the planned change while it is still ahead.
    const timing_segment seg = segment_at(t, ns_to_samples(now_ns_(), cfg_.sample_rate));
    info.cycle_beats = static_cast<std::uint16_t>(seg.cycle_beats);
    info.tempo_milli_bpm = static_cast<std::uint32_t>(seg.tempo_bpm * 1000.0 + 0.5);
    info.cycle_origin = seg.origin;
    if (t.change.at >= 0 && seg.origin != t.change.at) {
        info.change_at = t.change.at;
        info.next_tempo_milli_bpm = static_cast<std::uint32_t>(t.change.tempo_bpm * 1000.0 + 0.5);
        info.next_cycle_beats = static_cast<std::uint16_t>(t.change.cycle_beats);
    }
    info.piece_start = t.piece_start;
    const int solo = timing_.solo_slot.load(std::memory_order_relaxed);
    if (solo >= 0 && players_.entries()[static_cast<std::size_t>(solo)].used) {
        info.soloist_session = players_.entries()[static_cast<std::size_t>(solo)].session_id;
        info.solo_start = timing_.solo_start.load(std::memory_order_relaxed);
        info.flags = solo == slot ? 1 : 0;
    }
    info.late_events =
        timing_.players[static_cast<std::size_t>(slot)].late_events.load(std::memory_order_relaxed);
    v1::header h;
    h.session_id = p.session_id;
    h.sequence = ++info_sequence_;
    h.timestamp_ns = now_ns_();
    std::array<std::byte, v1::k_header_size + 64> buf;
    std::error_code ec;
    const auto n = v1::encode(h, info, buf, ec);
    if (n == 0)
        return;
    v1::seal(std::span(buf).first(n), p.key);
    boost::system::error_code sec;
    socket_.send_to(net::buffer(buf.data(), n), p.address, 0, sec);
    if (sec)
        counters_.send_errors.fetch_add(1, std::memory_order_relaxed);
}

void udp_io::do_player_info() {
    // Four times a second: cheap (48-byte payload) and quick to follow a changed A_i.
    info_timer_.expires_after(std::chrono::milliseconds(250));
    info_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec)
            return;
        const std::int64_t now = now_ns_();
        const std::int64_t audio_timeout = to_ns(cfg_.audio_timeout);
        for (std::size_t slot = 0; slot < players_.entries().size(); ++slot) {
            const auto& p = players_.entries()[slot];
            if (p.used && now - p.last_heard_ns <= audio_timeout)
                send_player_info(static_cast<int>(slot));
        }
        do_player_info();
    });
}

void udp_io::do_expire() {
    expire_timer_.expires_after(std::chrono::seconds(1));
    expire_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec)
            return;
        const std::int64_t now = now_ns_();
        players_.expire(now, to_ns(cfg_.expire_timeout),
                        [this, now](int slot) { on_slot_freed(slot, now); });
        do_expire();
    });
}

void udp_io::on_slot_freed(int slot, std::int64_t now) {
    if (!links_.empty() && links_[static_cast<std::size_t>(slot)].active())
        departed_.push_back(
            links_[static_cast<std::size_t>(slot)].take(now, late_events(slot), true));
    timing_.players[static_cast<std::size_t>(slot)].muted.store(false, std::memory_order_relaxed);
    timing_.players[static_cast<std::size_t>(slot)].mix.store(default_mix_);
    ingress_event* ev = ingress_.claim();
    if (!ev) {
        counters_.ingress_overflows.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    ev->what = ingress_event::kind::leave;
    ev->slot = static_cast<std::uint16_t>(slot);
    ev->arrival_ns = now_ns_();
    ingress_.commit();
    // The slot's own instrument goes with its player (a slot reused would drop it anyway).
    if (slot_instrument_[static_cast<std::size_t>(slot)] && push_instrument(slot, nullptr))
        slot_instrument_[static_cast<std::size_t>(slot)] = 0;
}

bool udp_io::push_instrument(int slot, user_instrument* inst) {
    ingress_event* ev = ingress_.claim();
    if (!ev) {
        counters_.ingress_overflows.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    ev->what = ingress_event::kind::instrument;
    ev->slot = static_cast<std::uint16_t>(slot);
    ev->arrival_ns = now_ns_();
    ev->instrument = inst;
    ingress_.commit();
    return true;
}

void udp_io::flush_pending_instrument(std::uint32_t session, int slot) {
    const auto it = pending_instruments_.find(session);
    if (it == pending_instruments_.end() || !push_instrument(slot, it->second.get()))
        return;                 // none, or the ring is full: the next key state tries again
    (void)it->second.release(); // the render thread's now
    pending_instruments_.erase(it);
    slot_instrument_[static_cast<std::size_t>(slot)] = 1;
}

void udp_io::install_instrument(std::uint32_t session, std::unique_ptr<user_instrument> inst) {
    net::post(io_, [this, session, inst = std::move(inst)]() mutable {
        if (dismissed_sessions_.contains(session))
            return; // kicked: nothing of theirs plays again
        // A newer upload replaces one still waiting (freed here: rare, and never installed).
        pending_instruments_.insert_or_assign(session, std::move(inst));
        if (const auto slot = players_.find(session))
            flush_pending_instrument(session, *slot);
    });
}

void udp_io::remove_instrument(std::uint32_t session) {
    net::post(io_, [this, session] {
        pending_instruments_.erase(session);
        const auto slot = players_.find(session);
        if (slot && slot_instrument_[static_cast<std::size_t>(*slot)] &&
            push_instrument(*slot, nullptr))
            slot_instrument_[static_cast<std::size_t>(*slot)] = 0;
    });
}

void udp_io::admit(std::uint32_t session) {
    net::post(io_, [this, session] { admitted_sessions_.insert(session); });
}

void udp_io::release(std::uint32_t session) {
    net::post(io_, [this, session] { admitted_sessions_.erase(session); });
}

void udp_io::set_muted(std::uint32_t session, bool muted) {
    net::post(io_, [this, session, muted] {
        if (muted)
            muted_sessions_.insert(session);
        else
            muted_sessions_.erase(session);
        if (const auto slot = players_.find(session))
            timing_.players[static_cast<std::size_t>(*slot)].muted.store(muted,
                                                                         std::memory_order_relaxed);
    });
}

void udp_io::grant_solo(std::uint32_t session) {
    net::post(io_, [this, session] {
        const auto slot = players_.find(session);
        if (!slot)
            return;
        ingress_event* ev = ingress_.claim();
        if (!ev) {
            counters_.ingress_overflows.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        ev->what = ingress_event::kind::solo_grant;
        ev->slot = static_cast<std::uint16_t>(*slot);
        ev->arrival_ns = now_ns_();
        ingress_.commit();
    });
}

void udp_io::set_mix(std::uint32_t session, const mix_profile& levels) {
    net::post(io_, [this, session, levels] {
        if (levels == default_mix_)
            mixes_.erase(session);
        else
            mixes_.insert_or_assign(session, levels);
        if (const auto slot = players_.find(session))
            timing_.players[static_cast<std::size_t>(*slot)].mix.store(levels);
    });
}

void udp_io::dismiss(std::uint32_t session) {
    net::post(io_, [this, session] {
        dismissed_sessions_.insert(session);
        mixes_.erase(session);
        if (const auto slot = players_.remove(session))
            on_slot_freed(*slot, now_ns_());
    });
}

std::uint32_t udp_io::late_events(int slot) const noexcept {
    return timing_.players[static_cast<std::size_t>(slot)].late_events.load(
        std::memory_order_relaxed);
}

void udp_io::report_links() {
    link_report report;
    report.server_ns = now_ns_();
    report.players.reserve(departed_.size() + players_.size());
    report.players.insert(report.players.end(), departed_.begin(), departed_.end());
    departed_.clear();
    for (std::size_t slot = 0; slot < links_.size(); ++slot)
        if (links_[slot].active())
            report.players.push_back(
                links_[slot].take(report.server_ns, late_events(static_cast<int>(slot))));
    link_sink_(std::move(report));
}

void udp_io::do_link_report() {
    // On a fixed grid (expires_at, not after), so reports stay a second apart on average.
    link_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec)
            return;
        report_links();
        link_timer_.expires_at(link_timer_.expiry() + k_link_report_interval);
        do_link_report();
    });
}

} // namespace gno::render
