#pragma once
// Section stems across render nodes (DESIGN.md §9): each node sends the section buses it
// renders to every peer and receives theirs, on a UDP port of its own, so that every node can
// build complete mixes for its own players (the paper's Figure 3, as a full mesh: a node's
// egress to the mesh grows with its peers and its own sections, never with the players).
//
// - Stems are block-scaled 16-bit PCM slices on the shared render timeline (proto
//   section_stem): no codec delay, so a slice lands on the sample it was rendered for. With
//   --mesh-codec opus, each section is one continuous Opus stream instead (restricted low
//   delay, 160 kbit/s stereo, packets of 5 ms or the 2.5 ms frame): the receiver places the
//   decoded audio back by the codec's lookahead, conceals up to 4 lost packets, and starts a
//   section's stream afresh (both ends) when it falls silent and sounds again.
// - Timeline: a starting node adopts the timeline of the first peer that answers its clock
//   pings (find_timeline), so beats, cycles and piece starts coincide on every node. Pings go
//   on every 200 ms; each peer's offset (min-RTT of the last 16) places its slices, so a node
//   that started alone, or a host clock that drifts, still lines up.
// - Trust: every datagram is tagged with its sender's key, derived from the mesh secret the
//   nodes share and the sender's node id; anything else is dropped and counted. An
//   authenticated peer's source address is followed (a restarted pod with a new address).
// - Liveness: a peer not heard for 1.5 s is down; its sections fall silent in the mixes (no
//   node ever waits for a stem) and come back with its first slices when it (or its
//   replacement, the same node id) returns.
//
// Thread: the mesh thread runs run(); the render thread meets it only through the two rings
// and notify_outbound(); peers() from any thread.

#include "gno/proto/v1/auth.hpp"
#include "gno/render/config.hpp"
#include "gno/render/counters.hpp"
#include "gno/render/directory.hpp"
#include "gno/render/frames.hpp"
#include "gno/render/spsc_ring.hpp"
#include "gno/render/timing.hpp"
#include "gno/render/udp_socket.hpp"

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

struct OpusEncoder;
struct OpusDecoder;

namespace gno::render {

inline constexpr int k_mesh_opus_bps = 160'000;

struct opus_encoder_free {
    void operator()(OpusEncoder* e) const noexcept;
};
struct opus_decoder_free {
    void operator()(OpusDecoder* d) const noexcept;
};

/// What a node knows of one peer, as /metrics and the directory show it.
struct mesh_peer_status {
    std::uint32_t node_id = 0;
    std::string address;             // where its datagrams go (host:port); empty: not resolved yet
    bool up = false;                 // heard within the last 1.5 s
    bool synced = false;             // its clock offset is known, so its slices are placed
    std::int64_t offset_us = 0;      // its timeline minus this node's (the latest estimate)
    std::int64_t offset_samples = 0; // the offset in force: where its slices are placed
    std::int64_t rtt_us = 0;         // of the best recent ping
    std::uint64_t slices_in = 0;
    // What it last said of itself (proto node_info, every 200 ms): where players reach it,
    // how full it is. `node.host` is its node_info's, else the address it speaks from.
    directory_node node;
};

class stem_exchange {
public:
    static constexpr std::chrono::milliseconds k_ping_interval{200};
    static constexpr std::chrono::milliseconds k_peer_timeout{1500};

    /// Reads the mesh secret, binds the mesh port and resolves the peers (a name that does not
    /// resolve yet is tried again later); throws option_error / std::runtime_error with the fix.
    stem_exchange(const server_config& cfg, node_counters& counters,
                  spsc_ring<stem_block>& outbound, spsc_ring<stem_slice>& inbound);
    ~stem_exchange();

    /// Control thread, before run(): pings the peers for up to `wait` and returns the
    /// CLOCK_MONOTONIC ns at which the render timeline of the answering peer with the lowest
    /// node id was at sample 0; nullopt when none answered (this node starts the timeline).
    struct found_timeline {
        std::int64_t epoch_ns = 0; // CLOCK_MONOTONIC ns of its sample 0
        std::uint32_t node_id = 0; // whose it is
    };
    std::optional<found_timeline> find_timeline(std::chrono::milliseconds wait);
    /// Before run(): the node's server timeline, in ns (server_timeline.hpp).
    void set_timeline(std::function<std::int64_t()> now_ns) { now_ns_ = std::move(now_ns); }
    /// Before run(): what this node tells its peers of itself with every ping (node id, up and
    /// known are ignored), called on the mesh thread.
    void set_advert(std::function<directory_node()> advert) { advert_ = std::move(advert); }

    /// Before run(): the conductor's timing this node shares (version 0: none yet, nothing
    /// sent), and what to do with a newer one from a peer (its render samples already moved
    /// onto this node's timeline). Both are called on the mesh thread.
    void set_timing(std::function<shared_timing()> source,
                    std::function<void(const shared_timing&)> sink) {
        timing_source_ = std::move(source);
        timing_sink_ = std::move(sink);
    }
    /// Before run(): what to do with a peer conductor's talk-back: mono PCM from node `from`
    /// that plays from render sample `at` (on this node's timeline); an empty span when it has
    /// ended (nothing more from that node for k_talkback_gap). Called on the mesh thread.
    using talkback_sink =
        std::function<void(std::uint32_t from, std::int64_t at, std::span<const float> pcm)>;
    void set_talkback(talkback_sink sink) { talkback_sink_ = std::move(sink); }
    /// Any thread: this node's conductor's talk-back, `pcm` playing from render sample `at`,
    /// to every peer (in section_stem slices of proto k_talkback_stem).
    void send_talkback(std::int64_t at, std::vector<float> pcm);
    static constexpr std::chrono::milliseconds k_talkback_gap{600};

    /// Any thread: sends the shared timing to every peer now (a conductor here changed it);
    /// it goes again with every ping, so a peer that missed it or started later catches up.
    void announce_timing();

    /// Mesh thread: runs until stop().
    void run();
    /// Any thread: tells the peers this node is draining (so their directories send nobody
    /// here), then ends run().
    void stop();
    /// Render thread, realtime-safe: one non-blocking eventfd write ("stems are ready").
    void notify_outbound() noexcept;

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    /// The key the mesh's directory tags join tokens with (directory.hpp).
    [[nodiscard]] const proto::v1::session_key& token_key() const noexcept { return token_key_; }
    /// Any thread: every peer, in configuration order (a copy, at most 200 ms old).
    [[nodiscard]] std::vector<mesh_peer_status> peers() const;

private:
    struct peer {
        mesh_peer config;
        proto::v1::session_key key{};
        boost::asio::ip::udp::endpoint endpoint;
        bool resolved = false;
        bool resolving = false;
        std::int64_t last_heard_ns = 0; // monotonic; 0: never
        proto::v1::replay_window stems_seen;
        proto::v1::replay_window pongs_seen;
        proto::v1::replay_window pings_seen;
        proto::v1::replay_window adverts_seen;
        proto::v1::replay_window timings_seen;
        directory_node node; // its last node_info (host: as it said)
        // Clock offset samples (rtt, offset) of the last pongs, and the offset in force.
        std::array<std::pair<std::int64_t, std::int64_t>, 16> samples{};
        std::size_t sample_count = 0;
        std::size_t sample_next = 0;
        bool synced = false;
        std::int64_t offset_ns = 0;
        std::int64_t offset_samples = 0;
        std::int64_t rtt_ns = 0;
        std::uint64_t slices_in = 0;
        // With Opus stems: a decoder per section, made at its first packet, and the sample
        // its next packet continues from (-1: none yet).
        struct section_decoder {
            std::unique_ptr<OpusDecoder, opus_decoder_free> decoder;
            std::int64_t next = -1;
        };
        std::vector<section_decoder> decoders;
        std::int64_t talkback_heard_ns = 0; // monotonic, its last talk-back slice; 0: none open
    };

    void do_receive();
    void on_datagram(std::size_t size);
    void drain_outbound();
    void do_tick();
    void resolve(peer& p);
    void send_ping(peer& p);
    /// This node's node_info (one sequence number) to every resolved peer.
    void send_adverts();
    /// The shared timing (one sequence number) to every resolved peer.
    void send_timing();
    /// A header from this node with the next number of `sequence` (one per kind of datagram).
    proto::v1::header next_header(std::uint32_t& sequence);
    /// send_sealed to every resolved peer.
    template <typename Message>
    void send_sealed_to_peers(const proto::v1::header& h, const Message& m);
    /// Encodes `m` under `h`, tags it with this node's key and sends it to `to`.
    template <typename Message>
    void send_sealed(const proto::v1::header& h, const Message& m,
                     const boost::asio::ip::udp::endpoint& to);
    /// A pong's sample; true when it moved the offset in force.
    bool take_offset_sample(peer& p, std::int64_t rtt, std::int64_t offset);
    void publish_status();
    peer* find_peer(std::uint32_t node_id) noexcept;
    void send_to_peers(std::span<const std::byte> datagram);
    /// Tags the first `size` bytes of tx_ (an encoded datagram) and sends them to every peer.
    void seal_and_send(std::size_t size);
    /// A section's samples from render sample `r` as PCM section_stem slices, to every peer.
    void send_pcm(std::int64_t r, std::uint8_t section, std::span<const float> left,
                  std::span<const float> right);
    /// One section's frame as Opus packets (opus_frame_ samples each), to every peer.
    void send_opus(const stem_block& b);
    /// A peer's Opus packet (and the concealment of lost ones before it) into the inbound ring.
    void receive_opus(peer& p, const proto::v1::section_stem& stem);
    /// Hands `frames` decoded stereo samples (interleaved in pcm_) to the render thread as a
    /// slice at this node's render sample `at`.
    void push_slice(std::int64_t at, int frames, std::uint8_t section);

    server_config cfg_;
    node_counters& counters_;
    spsc_ring<stem_block>& outbound_;
    spsc_ring<stem_slice>& inbound_;
    std::function<std::int64_t()> now_ns_;
    std::function<directory_node()> advert_;
    std::function<shared_timing()> timing_source_;
    talkback_sink talkback_sink_;
    std::function<void(const shared_timing&)> timing_sink_;
    std::uint32_t timing_sequence_ = 0;
    bool draining_ = false;
    std::uint32_t advert_sequence_ = 0;
    proto::v1::session_key own_key_{};
    proto::v1::session_key token_key_{};
    std::uint32_t stem_sequence_ = 0;
    std::uint32_t ping_sequence_ = 0;

    boost::asio::io_context io_;
    boost::asio::ip::udp::socket socket_;
    boost::asio::steady_timer tick_;
    ready_signal outbound_ready_;
    std::array<std::byte, proto::v1::k_max_datagram> rx_{};
    std::array<std::byte, proto::v1::k_max_datagram> tx_{};
    boost::asio::ip::udp::endpoint from_;
    std::uint16_t port_ = 0;
    std::vector<peer> peers_;
    // Opus stems (cfg.mesh.opus): an encoder per section and the sample each continues from.
    int opus_frame_ = 0;     // samples per packet: 120 or 240; 0: PCM stems
    int opus_lookahead_ = 0; // the codec's delay, in samples: a packet's audio starts this early
    std::array<std::unique_ptr<OpusEncoder, opus_encoder_free>, k_sections> encoders_;
    std::array<std::int64_t, k_sections> encoded_next_{};
    std::array<float, 2 * proto::v1::k_max_stem_samples> pcm_{};
    std::array<unsigned char, proto::v1::k_max_opus_bytes> packet_{};

    mutable std::mutex status_mu_;
    std::vector<mesh_peer_status> status_;
};

} // namespace gno::render
