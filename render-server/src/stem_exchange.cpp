#include "gno/render/stem_exchange.hpp"

#include "gno/render/render_clock.hpp"
#include "gno/render/timing.hpp"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <cmath>
#include <opus/opus.h>
#include <poll.h>
#include <stdexcept>

namespace gno::render {

void opus_encoder_free::operator()(OpusEncoder* e) const noexcept {
    opus_encoder_destroy(e);
}
void opus_decoder_free::operator()(OpusDecoder* d) const noexcept {
    opus_decoder_destroy(d);
}

namespace net = boost::asio;
using net::ip::udp;
namespace v1 = proto::v1;

namespace {

// Keys of the mesh: one per node id, from the shared secret; the top bit keeps them apart from
// any player session key should a node's UDP secret and the mesh secret be the same file.
constexpr std::uint32_t k_node_key_space = 0x8000'0000u;

v1::session_key node_key(const v1::master_secret& secret, std::uint32_t node_id) {
    return v1::derive_session_key(secret, k_node_key_space | node_id);
}

/// One NTP-style sample from a pong received at `t3` (the asker's clock, as t0 was).
struct clock_sample {
    std::int64_t rtt = 0;
    std::int64_t offset = 0; // the answerer's clock minus the asker's
};
clock_sample sample_of(const v1::clock_pong& pong, std::int64_t t3) noexcept {
    return {(t3 - pong.t0_ns) - (pong.t2_ns - pong.t1_ns),
            ((pong.t1_ns - pong.t0_ns) + (pong.t2_ns - t3)) / 2};
}

v1::timing_state to_message(const shared_timing& s) noexcept {
    const timing_config& c = s.config;
    v1::timing_state m;
    m.version = s.version;
    m.origin = s.origin;
    m.mode = c.mode;
    m.tempo_bpm = c.tempo_bpm;
    m.cycle_beats = static_cast<std::uint16_t>(c.cycle_beats);
    m.cycle_origin = c.cycle_origin;
    m.piece_start = c.piece_start;
    if (c.change.at >= 0) {
        m.change_at = c.change.at;
        m.change_tempo_bpm = c.change.tempo_bpm;
        m.change_cycle_beats = static_cast<std::uint16_t>(c.change.cycle_beats);
    }
    m.piece = s.piece;
    return m;
}

/// A peer's state, as it sent it (its timeline).
shared_timing from_message(const v1::timing_state& m, int sample_rate) {
    shared_timing s;
    s.version = m.version;
    s.origin = m.origin;
    timing_config& c = s.config;
    c.sample_rate = sample_rate;
    c.mode = m.mode;
    c.tempo_bpm = m.tempo_bpm;
    c.cycle_beats = m.cycle_beats;
    c.cycle_origin = m.cycle_origin;
    c.piece_start = m.piece_start;
    if (m.change_at >= 0)
        c.change = {m.change_at, m.change_tempo_bpm, m.change_cycle_beats};
    s.piece.assign(m.piece);
    return s;
}

} // namespace

stem_exchange::stem_exchange(const server_config& cfg, node_counters& counters,
                             spsc_ring<stem_block>& outbound, spsc_ring<stem_slice>& inbound)
    : cfg_(cfg), counters_(counters), outbound_(outbound), inbound_(inbound),
      now_ns_([] { return monotonic_ns(); }), socket_(io_), tick_(io_), outbound_ready_(io_) {
    std::string error;
    const auto secret = v1::read_master_secret(cfg.mesh.secret_file, error);
    if (!secret)
        throw option_error("--mesh-secret-file: " + error);
    own_key_ = node_key(*secret, cfg.mesh.node_id);
    token_key_ = render::token_key(*secret);
    stem_sequence_ = v1::first_sequence();
    ping_sequence_ = v1::first_sequence();
    advert_sequence_ = v1::first_sequence();
    timing_sequence_ = v1::first_sequence();

    if (cfg.mesh.opus) {
        // Packets of 5 ms (2.5 ms with 2.5 ms frames): every frame size is a whole number.
        opus_frame_ = std::min(cfg.frame_samples, static_cast<int>(v1::k_max_stem_samples));
        for (auto& e : encoders_) {
            int err = OPUS_OK;
            e.reset(opus_encoder_create(cfg.sample_rate, 2, OPUS_APPLICATION_RESTRICTED_LOWDELAY,
                                        &err));
            if (err != OPUS_OK || !e)
                throw std::runtime_error(std::string("--mesh-codec opus: ") + opus_strerror(err));
            opus_encoder_ctl(e.get(), OPUS_SET_BITRATE(k_mesh_opus_bps));
            opus_encoder_ctl(e.get(), OPUS_SET_COMPLEXITY(5));
        }
        encoded_next_.fill(-1);
    }
    {
        // The lookahead of the encoder every node of a mesh uses (its peers' too, whatever
        // this node sends): where a received packet's audio belongs.
        int err = OPUS_OK;
        const std::unique_ptr<OpusEncoder, opus_encoder_free> probe(
            opus_encoder_create(cfg.sample_rate, 2, OPUS_APPLICATION_RESTRICTED_LOWDELAY, &err));
        if (err != OPUS_OK || !probe)
            throw std::runtime_error(std::string("Opus: ") + opus_strerror(err));
        opus_encoder_ctl(probe.get(), OPUS_GET_LOOKAHEAD(&opus_lookahead_));
    }
    // A frame of every section for every peer may leave at once.
    port_ = bind_udp(socket_, cfg.listen_address, cfg.mesh.port, 1 << 21, "the mesh port",
                     "--mesh-port");

    boost::system::error_code ec;
    for (const auto& c : cfg.mesh.peers) {
        peer& p = peers_.emplace_back();
        p.config = c;
        p.key = node_key(*secret, c.node_id);
        p.decoders.resize(static_cast<std::size_t>(k_sections));
        // An address is taken as it is; a name is resolved now, and again while it fails.
        const auto a = net::ip::make_address(c.host, ec);
        if (!ec) {
            p.endpoint = udp::endpoint(a, c.port);
            p.resolved = true;
        } else {
            udp::resolver r(io_);
            const auto found = r.resolve(udp::v4(), c.host, std::to_string(c.port), ec);
            if (!ec && !found.empty()) {
                p.endpoint = *found.begin();
                p.resolved = true;
            }
        }
    }
    publish_status();
}

stem_exchange::~stem_exchange() = default;

std::optional<stem_exchange::found_timeline>
stem_exchange::find_timeline(std::chrono::milliseconds wait) {
    // Pings every 50 ms on this node's monotonic clock; each pong gives the peer's timeline
    // against it. The best of the first answering peer's samples (min RTT) after 300 ms more.
    struct best {
        std::int64_t rtt = -1;
        std::int64_t epoch = 0; // monotonic ns of the peer's sample 0
    };
    std::vector<best> found(peers_.size());
    const std::int64_t start = monotonic_ns();
    std::int64_t deadline = start + std::chrono::nanoseconds(wait).count();
    std::int64_t next_ping = start;
    bool any = false;
    while (monotonic_ns() < deadline) {
        const std::int64_t now = monotonic_ns();
        if (now >= next_ping) {
            for (auto& p : peers_)
                if (p.resolved)
                    send_ping(p);
            next_ping = now + 50'000'000;
        }
        pollfd pfd{socket_.native_handle(), POLLIN, 0};
        const auto left_ms =
            std::max<std::int64_t>(1, (std::min(next_ping, deadline) - monotonic_ns()) / 1'000'000);
        if (::poll(&pfd, 1, static_cast<int>(left_ms)) <= 0)
            continue;
        boost::system::error_code ec;
        const std::size_t n = socket_.receive_from(net::buffer(rx_), from_, 0, ec);
        const std::int64_t t3 = monotonic_ns();
        if (ec)
            continue;
        const auto datagram = std::span<const std::byte>(rx_).first(n);
        v1::header h;
        v1::clock_pong pong;
        if (v1::decode(datagram, h, pong))
            continue;
        peer* p = find_peer(h.session_id);
        if (!p || !v1::verify(datagram, p->key))
            continue;
        // The peer's timeline is this monotonic clock minus its sample 0's monotonic time.
        const clock_sample c = sample_of(pong, t3);
        auto& b = found[static_cast<std::size_t>(p - peers_.data())];
        if (b.rtt < 0 || c.rtt < b.rtt)
            b = {c.rtt, -c.offset};
        if (!any) {
            any = true;
            deadline = std::min(deadline, t3 + 300'000'000);
        }
    }
    std::optional<found_timeline> best_found;
    for (std::size_t i = 0; i < peers_.size(); ++i)
        if (found[i].rtt >= 0 && (!best_found || peers_[i].config.node_id < best_found->node_id))
            best_found = found_timeline{found[i].epoch, peers_[i].config.node_id};
    return best_found;
}

void stem_exchange::run() {
    do_receive();
    outbound_ready_.wait([this] { drain_outbound(); });
    do_tick();
    io_.run();
}

void stem_exchange::stop() {
    net::post(io_, [this] {
        draining_ = true;
        send_adverts();
        io_.stop();
    });
}

void stem_exchange::notify_outbound() noexcept {
    outbound_ready_.notify();
}

stem_exchange::peer* stem_exchange::find_peer(std::uint32_t node_id) noexcept {
    for (auto& p : peers_)
        if (p.config.node_id == node_id)
            return &p;
    return nullptr;
}

void stem_exchange::send_ping(peer& p) {
    v1::header h;
    h.session_id = cfg_.mesh.node_id;
    h.sequence = ++ping_sequence_;
    // Before run() the timeline is the monotonic clock (find_timeline); the pong echoes t0.
    const std::int64_t t0 = now_ns_();
    h.timestamp_ns = t0;
    send_sealed(h, v1::clock_ping{t0}, p.endpoint);
}

void stem_exchange::send_adverts() {
    if (!advert_)
        return;
    const directory_node self = advert_();
    v1::node_info m;
    m.udp_port = self.udp_port;
    m.control_port = self.control_port;
    m.players = static_cast<std::uint16_t>(std::clamp(self.players, 0, 65535));
    m.max_players = static_cast<std::uint16_t>(std::clamp(self.max_players, 0, 65535));
    m.sections = self.sections;
    m.flags = (self.draining || draining_) ? 1 : 0;
    m.host = self.host;
    const v1::header h = next_header(advert_sequence_);
    send_sealed_to_peers(h, m);
}

void stem_exchange::announce_timing() {
    net::post(io_, [this] { send_timing(); });
}

void stem_exchange::send_talkback(std::int64_t at, std::vector<float> pcm) {
    net::post(io_, [this, at, pcm = std::move(pcm)] {
        send_pcm(at, v1::k_talkback_stem, pcm, pcm); // mono: left = right
    });
}

void stem_exchange::send_pcm(std::int64_t r, std::uint8_t section, std::span<const float> left,
                             std::span<const float> right) {
    // One datagram per slice of up to k_max_stem_samples, tagged once, sent to every peer.
    for (std::size_t at = 0; at < left.size(); at += v1::k_max_stem_samples) {
        const std::size_t n = std::min(v1::k_max_stem_samples, left.size() - at);
        const v1::header h = next_header(stem_sequence_);
        std::error_code ec;
        const auto size = v1::encode_stem(h, r + static_cast<std::int64_t>(at), section,
                                          left.subspan(at, n), right.subspan(at, n), tx_, ec);
        if (size > 0)
            seal_and_send(size);
    }
}

void stem_exchange::seal_and_send(std::size_t size) {
    v1::seal(std::span(tx_).first(size), own_key_);
    send_to_peers(std::span(tx_).first(size));
}

void stem_exchange::send_timing() {
    if (!timing_source_)
        return;
    const shared_timing s = timing_source_();
    if (s.version == 0)
        return; // every node is still on its own options: nothing to agree on yet
    const v1::timing_state m = to_message(s);
    const v1::header h = next_header(timing_sequence_);
    send_sealed_to_peers(h, m);
}

v1::header stem_exchange::next_header(std::uint32_t& sequence) {
    v1::header h;
    h.session_id = cfg_.mesh.node_id;
    h.sequence = ++sequence;
    h.timestamp_ns = now_ns_();
    return h;
}

template <typename Message>
void stem_exchange::send_sealed_to_peers(const v1::header& h, const Message& m) {
    for (auto& p : peers_)
        if (p.resolved)
            send_sealed(h, m, p.endpoint);
}

template <typename Message>
void stem_exchange::send_sealed(const v1::header& h, const Message& m, const udp::endpoint& to) {
    std::error_code ec;
    const auto n = v1::encode(h, m, tx_, ec);
    if (n == 0)
        return;
    v1::seal(std::span(tx_).first(n), own_key_);
    boost::system::error_code sec;
    socket_.send_to(net::buffer(tx_.data(), n), to, 0, sec);
}

void stem_exchange::do_receive() {
    socket_.async_receive_from(net::buffer(rx_), from_,
                               [this](boost::system::error_code ec, std::size_t n) {
                                   if (ec == net::error::operation_aborted)
                                       return;
                                   if (!ec)
                                       on_datagram(n);
                                   do_receive();
                               });
}

void stem_exchange::on_datagram(std::size_t size) {
    counters_.mesh_datagrams_in.fetch_add(1, std::memory_order_relaxed);
    const auto datagram = std::span<const std::byte>(rx_).first(size);
    v1::header h;
    std::span<const std::byte> payload;
    peer* p = nullptr;
    if (v1::decode_header(datagram, h, payload) || !(p = find_peer(h.session_id)) ||
        !v1::verify(datagram, p->key)) {
        counters_.mesh_bad_packets.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    const std::int64_t now = now_ns_();
    v1::section_stem stem;
    v1::timing_state timing;
    switch (h.type) {
    case v1::packet_type::section_stem: {
        if (v1::decode(datagram, h, stem) ||
            (stem.section >= k_sections && stem.section != v1::k_talkback_stem) ||
            (stem.section == v1::k_talkback_stem && stem.opus())) {
            counters_.mesh_bad_packets.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        if (!p->stems_seen.accept(h.sequence))
            return; // a duplicate
        break;
    }
    case v1::packet_type::clock_ping: {
        v1::clock_ping ping;
        if (v1::decode(datagram, h, ping) || !p->pings_seen.accept(h.sequence)) {
            counters_.mesh_bad_packets.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        v1::header out;
        out.session_id = cfg_.mesh.node_id;
        out.sequence = h.sequence;
        out.timestamp_ns = now;
        send_sealed(out, v1::clock_pong{ping.t0_ns, now, now_ns_()}, from_);
        break;
    }
    case v1::packet_type::node_info: {
        v1::node_info info;
        if (v1::decode(datagram, h, info) || !p->adverts_seen.accept(h.sequence)) {
            counters_.mesh_bad_packets.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        auto& n = p->node;
        n.known = true;
        n.host.assign(info.host);
        n.udp_port = info.udp_port;
        n.control_port = info.control_port;
        n.players = info.players;
        n.max_players = info.max_players;
        n.sections = info.sections;
        n.draining = (info.flags & 1u) != 0;
        break;
    }
    case v1::packet_type::timing_state: {
        if (v1::decode(datagram, h, timing)) {
            counters_.mesh_bad_packets.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        if (!p->timings_seen.accept(h.sequence))
            return; // a duplicate
        break;
    }
    case v1::packet_type::clock_pong: {
        v1::clock_pong pong;
        if (v1::decode(datagram, h, pong) || !p->pongs_seen.accept(h.sequence)) {
            counters_.mesh_bad_packets.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        const clock_sample c = sample_of(pong, now);
        if (c.rtt < 0 || c.rtt > 2'000'000'000)
            return; // not an answer to a ping of this run
        take_offset_sample(*p, c.rtt, c.offset);
        break;
    }
    default:
        counters_.mesh_bad_packets.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    // Authenticated: the peer is alive, and where it speaks from is where it listens.
    p->last_heard_ns = monotonic_ns();
    if (from_ != p->endpoint) {
        p->endpoint = from_;
        p->resolved = true;
    }
    // A timing state is placed by the peer's clock offset, as its stems are; one that comes
    // before the offset is known comes again with the next ping.
    if (h.type == v1::packet_type::timing_state && p->synced && timing_sink_)
        timing_sink_(on_own_timeline(from_message(timing, cfg_.sample_rate), p->offset_samples));
    if (h.type != v1::packet_type::section_stem)
        return;
    if (!p->synced) {
        counters_.mesh_unsynced.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    if (stem.section == v1::k_talkback_stem) {
        // A conductor's talk-back on the peer: it plays here where it plays there.
        std::array<float, v1::k_max_stem_samples> pcm;
        for (std::size_t i = 0; i < stem.frame_samples; ++i)
            pcm[i] = stem.sample(i, 0);
        p->talkback_heard_ns = monotonic_ns();
        if (talkback_sink_)
            talkback_sink_(p->config.node_id, stem.render_sample - p->offset_samples,
                           std::span<const float>(pcm).first(stem.frame_samples));
        return;
    }
    if (stem.opus()) {
        receive_opus(*p, stem);
        return;
    }
    stem_slice* out = inbound_.claim();
    if (!out) {
        counters_.mesh_inbound_overflows.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    out->render_sample = stem.render_sample - p->offset_samples;
    out->frame_samples = stem.frame_samples;
    out->section = stem.section;
    for (std::size_t i = 0; i < stem.frame_samples; ++i) {
        out->left[i] = stem.sample(i, 0);
        out->right[i] = stem.sample(i, 1);
    }
    inbound_.commit();
    ++p->slices_in;
}

bool stem_exchange::take_offset_sample(peer& p, std::int64_t rtt, std::int64_t offset) {
    p.samples[p.sample_next] = {rtt, offset};
    p.sample_next = (p.sample_next + 1) % p.samples.size();
    p.sample_count = std::min(p.sample_count + 1, p.samples.size());
    auto best = p.samples[0];
    for (std::size_t i = 1; i < p.sample_count; ++i)
        if (p.samples[i].first < best.first)
            best = p.samples[i];
    p.rtt_ns = best.first;
    p.offset_ns = best.second;
    const auto samples = static_cast<std::int64_t>(
        std::llround(static_cast<double>(best.second) * cfg_.sample_rate / 1e9));
    // A few samples first (a slow first answer can be off by half its round trip), then a
    // little hysteresis: the best estimate's noise (tens of µs) must not move a peer's stems
    // back and forth by a sample; a real step (a peer that started alone) moves them at once.
    constexpr std::size_t k_samples_needed = 4;
    constexpr std::int64_t k_hysteresis = 2;
    if (p.sample_count < k_samples_needed)
        return false;
    if (p.synced && std::abs(samples - p.offset_samples) <= k_hysteresis)
        return false;
    p.synced = true;
    p.offset_samples = samples;
    return true;
}

void stem_exchange::send_to_peers(std::span<const std::byte> datagram) {
    for (auto& p : peers_) {
        if (!p.resolved)
            continue;
        boost::system::error_code ec;
        socket_.send_to(net::buffer(datagram.data(), datagram.size()), p.endpoint, 0, ec);
        if (ec)
            continue; // a peer that is down refuses: its stems are lost, nobody waits
        counters_.mesh_datagrams_out.fetch_add(1, std::memory_order_relaxed);
        counters_.mesh_bytes_out.fetch_add(datagram.size(), std::memory_order_relaxed);
    }
}

void stem_exchange::push_slice(std::int64_t at, int frames, std::uint8_t section) {
    stem_slice* out = inbound_.claim();
    if (!out) {
        counters_.mesh_inbound_overflows.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    out->render_sample = at;
    out->frame_samples = static_cast<std::uint16_t>(frames);
    out->section = section;
    for (std::size_t i = 0; i < static_cast<std::size_t>(frames); ++i) {
        out->left[i] = pcm_[2 * i];
        out->right[i] = pcm_[2 * i + 1];
    }
    inbound_.commit();
}

void stem_exchange::receive_opus(peer& p, const v1::section_stem& stem) {
    constexpr std::int64_t k_max_concealed = 4; // packets; a longer gap starts afresh
    auto& d = p.decoders[stem.section];
    const std::int64_t frames = stem.frame_samples;
    if (!d.decoder) {
        int err = OPUS_OK;
        d.decoder.reset(opus_decoder_create(cfg_.sample_rate, 2, &err));
        if (err != OPUS_OK || !d.decoder) {
            d.decoder.reset();
            counters_.mesh_bad_packets.fetch_add(1, std::memory_order_relaxed);
            return;
        }
    }
    if (opus_packet_get_nb_samples(reinterpret_cast<const unsigned char*>(stem.pcm.data()),
                                   static_cast<opus_int32>(stem.pcm.size()),
                                   cfg_.sample_rate) != stem.frame_samples) {
        counters_.mesh_bad_packets.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    if (d.next >= 0 && stem.render_sample < d.next) {
        // Behind the stream: a reordered packet, whose place has been concealed or played (a
        // new stream is always later) - unless far behind: the peer's timeline began again.
        if (d.next - stem.render_sample < cfg_.sample_rate)
            return;
        d.next = -1;
    }
    if (stem.opus_start()) {
        opus_decoder_ctl(d.decoder.get(), OPUS_RESET_STATE); // a new stream of this section
        d.next = stem.render_sample;
    }
    // Where this node places the audio of a packet for render sample r: its timeline, and the
    // codec's lookahead earlier (the packet's first samples are the input's from that far back).
    auto place = [&](std::int64_t r) {
        return r - p.offset_samples - opus_lookahead_;
    };
    if (d.next >= 0 && stem.render_sample > d.next &&
        stem.render_sample - d.next <= k_max_concealed * frames &&
        (stem.render_sample - d.next) % frames == 0) {
        for (std::int64_t r = d.next; r < stem.render_sample; r += frames) {
            const int n = opus_decode_float(d.decoder.get(), nullptr, 0, pcm_.data(),
                                            static_cast<int>(frames), 0);
            if (n > 0)
                push_slice(place(r), n, stem.section);
        }
    } else if (stem.render_sample != d.next) {
        // Joined mid-stream, or lost more than can be concealed: the decoder starts afresh
        // (the stream's own history is gone; a few ms sound off until it settles).
        opus_decoder_ctl(d.decoder.get(), OPUS_RESET_STATE);
    }
    const int n = opus_decode_float(
        d.decoder.get(), reinterpret_cast<const unsigned char*>(stem.pcm.data()),
        static_cast<opus_int32>(stem.pcm.size()), pcm_.data(), static_cast<int>(frames), 0);
    if (n <= 0) {
        counters_.mesh_bad_packets.fetch_add(1, std::memory_order_relaxed);
        d.next = -1;
        return;
    }
    d.next = stem.render_sample + n;
    push_slice(place(stem.render_sample), n, stem.section);
    ++p.slices_in;
}

void stem_exchange::send_opus(const stem_block& b) {
    const auto s = static_cast<std::size_t>(b.section);
    OpusEncoder* enc = encoders_[s].get();
    for (int at = 0; at + opus_frame_ <= b.frame_samples; at += opus_frame_) {
        const std::int64_t r = b.render_sample + at;
        const bool start = encoded_next_[s] != r;
        if (start)
            opus_encoder_ctl(enc, OPUS_RESET_STATE); // the section sounds again: a new stream
        encoded_next_[s] = r + opus_frame_;
        for (int i = 0; i < opus_frame_; ++i) {
            pcm_[2 * static_cast<std::size_t>(i)] = b.left[static_cast<std::size_t>(at + i)];
            pcm_[2 * static_cast<std::size_t>(i) + 1] = b.right[static_cast<std::size_t>(at + i)];
        }
        const int bytes = opus_encode_float(enc, pcm_.data(), opus_frame_, packet_.data(),
                                            static_cast<opus_int32>(packet_.size()));
        if (bytes <= 0) {
            encoded_next_[s] = -1;
            continue;
        }
        const v1::header h = next_header(stem_sequence_);
        std::error_code ec;
        const auto size = v1::encode_opus_stem(
            h, r, b.section, static_cast<std::uint16_t>(opus_frame_), start,
            std::as_bytes(std::span(packet_).first(static_cast<std::size_t>(bytes))), tx_, ec);
        if (size > 0)
            seal_and_send(size);
    }
}

void stem_exchange::drain_outbound() {
    while (const stem_block* b = outbound_.front()) {
        if (opus_frame_ > 0) {
            send_opus(*b);
            outbound_.release();
            continue;
        }
        send_pcm(b->render_sample, b->section, std::span(b->left).first(b->frame_samples),
                 std::span(b->right).first(b->frame_samples));
        outbound_.release();
    }
}

void stem_exchange::resolve(peer& p) {
    if (p.resolving)
        return;
    p.resolving = true;
    auto resolver = std::make_shared<udp::resolver>(io_);
    const std::size_t index = static_cast<std::size_t>(&p - peers_.data());
    resolver->async_resolve(
        udp::v4(), p.config.host, std::to_string(p.config.port),
        [this, resolver, index](boost::system::error_code ec, udp::resolver::results_type found) {
            peer& q = peers_[index];
            q.resolving = false;
            if (!ec && !found.empty() && !q.resolved) {
                q.endpoint = *found.begin();
                q.resolved = true;
            }
        });
}

void stem_exchange::do_tick() {
    send_adverts();
    send_timing();
    for (auto& p : peers_) {
        if (p.talkback_heard_ns != 0 && monotonic_ns() - p.talkback_heard_ns >
                                            std::chrono::nanoseconds(k_talkback_gap).count()) {
            p.talkback_heard_ns = 0;
            if (talkback_sink_)
                talkback_sink_(p.config.node_id, 0, {});
        }
    }
    for (auto& p : peers_) {
        if (p.resolved)
            send_ping(p);
        // A peer gone quiet may have come back elsewhere (a new pod): ask its name again.
        const bool gone =
            p.last_heard_ns != 0 &&
            monotonic_ns() - p.last_heard_ns > std::chrono::nanoseconds(k_peer_timeout).count();
        if (gone && !p.resolving)
            p.resolved = false;
        if (!p.resolved)
            resolve(p);
    }
    publish_status();
    tick_.expires_after(k_ping_interval);
    tick_.async_wait([this](boost::system::error_code ec) {
        if (!ec)
            do_tick();
    });
}

void stem_exchange::publish_status() {
    std::vector<mesh_peer_status> s;
    const std::int64_t now = monotonic_ns();
    for (const auto& p : peers_) {
        mesh_peer_status st;
        st.node_id = p.config.node_id;
        if (p.resolved)
            st.address = p.endpoint.address().to_string() + ":" + std::to_string(p.endpoint.port());
        st.up = p.last_heard_ns != 0 &&
                now - p.last_heard_ns <= std::chrono::nanoseconds(k_peer_timeout).count();
        st.synced = p.synced;
        st.offset_us = p.offset_ns / 1000;
        st.offset_samples = p.offset_samples;
        st.rtt_us = p.rtt_ns / 1000;
        st.slices_in = p.slices_in;
        st.node = p.node;
        st.node.node_id = p.config.node_id;
        st.node.up = st.up;
        if (st.node.host.empty() && p.resolved)
            st.node.host = p.endpoint.address().to_string();
        s.push_back(std::move(st));
    }
    std::lock_guard lock(status_mu_);
    status_ = std::move(s);
}

std::vector<mesh_peer_status> stem_exchange::peers() const {
    std::lock_guard lock(status_mu_);
    return status_;
}

} // namespace gno::render
