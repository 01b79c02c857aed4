#pragma once
// The node's real-time UDP endpoint (DESIGN.md §3, §8): ingress (limit, check the tag, decode,
// filter, hand key states to the render thread) and egress (tagged) (fan encoded mix frames out to
// the players, batched with sendmmsg). Both run on one network thread that owns the socket and the
// player directory, so neither needs a lock; the render thread meets it only through two SPSC rings
// and an eventfd it writes to say "frames are ready".

#include "gno/proto/v1/auth.hpp"
#include "gno/render/config.hpp"
#include "gno/render/counters.hpp"
#include "gno/render/frames.hpp"
#include "gno/render/link_stats.hpp"
#include "gno/render/player_directory.hpp"
#include "gno/render/player_timing.hpp"
#include "gno/render/spsc_ring.hpp"
#include "gno/render/udp_socket.hpp"
#include "gno/render/uplink_delay.hpp"
#include "gno/render/user_instrument.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <sys/socket.h>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace gno::render {

/// A token bucket on one player's key states: a real client sends ~20-50 a second (20 Hz idle,
/// 4 per change), so 150 a second with bursts of 40 leaves room for any playing.
struct key_state_rate {
    static constexpr double k_per_second = 150.0;
    static constexpr double k_burst = 40.0;
    double tokens = k_burst;
    std::int64_t last_ns = 0;
    bool take(std::int64_t now_ns) noexcept {
        if (last_ns != 0)
            tokens = std::min(k_burst,
                              tokens + static_cast<double>(now_ns - last_ns) * 1e-9 * k_per_second);
        last_ns = now_ns;
        if (tokens < 1.0)
            return false;
        tokens -= 1.0;
        return true;
    }
};

/// Token buckets per source address and port, hashed into a fixed table and checked before a
/// datagram is even decoded: a flooding source costs the node a hash and a compare. A client
/// sends ~20-60 datagrams a second; a load generator carries 32 sessions on one socket.
class source_limiter {
public:
    static constexpr std::size_t k_buckets = 4096;
    static constexpr double k_per_second = 4000.0;
    static constexpr double k_burst = 2000.0;
    bool take(const boost::asio::ip::udp::endpoint& from, std::int64_t now_ns) noexcept;

private:
    struct bucket {
        double tokens = k_burst;
        std::int64_t last_ns = 0;
    };
    std::vector<bucket> buckets_ = std::vector<bucket>(k_buckets);
};

class udp_io {
public:
    /// Receives each second's link_report (link_stats.hpp), on the network thread: it may
    /// allocate but must not block for long (network_stats_log::submit queues it).
    using link_sink = std::function<void(link_report)>;
    static constexpr std::chrono::seconds k_link_report_interval{1};

    /// Binds the socket; throws std::runtime_error naming the fix when the port is busy.
    /// `server_now_ns` reads the server timeline (any thread). `links`: where the per-player
    /// link statistics go once a second; empty: nowhere (none are gathered).
    /// `secret`: the node's UDP master secret; a datagram counts only if its tag is the one
    /// its session's key (derived from it) gives.
    udp_io(const server_config& cfg, const proto::v1::master_secret& secret,
           node_counters& counters, timing_state& timing, spsc_ring<ingress_event>& ingress,
           std::span<spsc_ring<encoded_frame>* const> egress,
           std::function<std::int64_t()> server_now_ns, link_sink links = {});
    ~udp_io();

    /// Network thread: runs until stop().
    void run();
    /// Any thread.
    void stop();
    /// Render thread, realtime-safe: one non-blocking eventfd write.
    void notify_egress() noexcept;

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

    /// Any thread: a session the control plane handed out (a performer joined): it may begin
    /// to play. Without --udp-secret-file only admitted sessions may (a datagram of any other
    /// is dropped unread, even one a node with the same secret keyed in an earlier run); with
    /// it, any session keyed from the shared secret may (test rigs, load generators).
    void admit(std::uint32_t session);
    /// Any thread: its performer left; a slot it holds plays on until it falls silent.
    void release(std::uint32_t session);
    /// Any thread: the conductor muted (or unmuted) a session; it holds across rejoins.
    void set_muted(std::uint32_t session, bool muted);
    /// Any thread: the conductor granted a session the next solo cycle (one-cycle mode).
    void grant_solo(std::uint32_t session);
    /// Any thread: a kicked session: its slot is freed and its key states dropped from now on.
    void dismiss(std::uint32_t session);
    /// Any thread: a performer's own-mix levels (player_timing.hpp). They hold across rejoins
    /// of the session (a slot freed by silence and taken again), until set back to the
    /// defaults or the session is dismissed; a freed slot returns to the defaults.
    void set_mix(std::uint32_t session, const mix_profile& levels);
    /// Any thread: `session`'s own instrument, to the render thread for the slot it holds, or
    /// kept until its first key state takes one; it replaces any it had. The slot going back
    /// to GM (freed, dismissed, or remove_instrument) lets it go.
    void install_instrument(std::uint32_t session, std::unique_ptr<user_instrument> inst);
    /// Any thread: `session` plays GM again (its performer removed the instrument or left).
    void remove_instrument(std::uint32_t session);

private:
    void do_receive();
    void on_datagram(std::size_t size);
    void drain_egress();
    /// Adds one audio datagram for a player to the batch; false when the player is not
    /// listening (unknown, or silent for longer than the audio timeout).
    bool queue_audio(player_directory::entry& p, const proto::v1::audio_frame& af,
                     std::int64_t now);
    void flush_audio();
    void do_expire();
    /// A slot was freed (expiry or dismissal): its link's last window, and a leave event.
    void on_slot_freed(int slot, std::int64_t now);
    /// `inst` (nullptr: back to GM) for `slot`, through the ingress ring; false when it is full
    /// (then the caller still owns `inst`).
    bool push_instrument(int slot, user_instrument* inst);
    /// An instrument waiting for `session`, now in `slot`: on its way.
    void flush_pending_instrument(std::uint32_t session, int slot);
    void send_pong(const proto::v1::header& h, std::int64_t t1_ns);
    void do_player_info();
    void send_player_info(int slot);
    /// A new player in `slot`: a fresh uplink measurement and the default advance.
    void reset_advance(int slot);
    /// Closes every player's link interval and hands the report to the sink.
    void report_links();
    /// Once a second: report_links().
    void do_link_report();
    [[nodiscard]] std::uint32_t late_events(int slot) const noexcept;

    server_config cfg_;
    proto::v1::master_secret secret_;
    source_limiter sources_;
    node_counters& counters_;
    timing_state& timing_;
    spsc_ring<ingress_event>& ingress_;
    std::vector<spsc_ring<encoded_frame>*> egress_; // one per render crew member
    std::function<std::int64_t()> now_ns_;

    boost::asio::io_context io_;
    boost::asio::ip::udp::socket socket_;
    ready_signal egress_ready_;
    boost::asio::steady_timer expire_timer_;
    boost::asio::steady_timer info_timer_;
    std::vector<uplink_delay> delays_; // per slot
    std::vector<key_state_rate> rate_; // per slot
    link_sink link_sink_;
    boost::asio::steady_timer link_timer_;
    std::vector<link_accumulator> links_;      // per slot; empty without a sink
    std::vector<player_link_window> departed_; // freed since the last report
    std::uint32_t info_sequence_ = 0;
    std::uint16_t port_ = 0;

    player_directory players_;
    std::unordered_set<std::uint32_t> muted_sessions_;     // network thread
    std::unordered_set<std::uint32_t> dismissed_sessions_; // network thread
    // Sessions that may begin to play (network thread): as many as the control plane has
    // performers. Unused with a shared secret (open_admission_).
    std::unordered_set<std::uint32_t> admitted_sessions_;
    bool open_admission_ = false;
    // Sessions whose own-mix levels are not the defaults (network thread): as many as the
    // control plane has performers who changed theirs (it sets the defaults back as one leaves).
    std::unordered_map<std::uint32_t, mix_profile> mixes_;
    // Own instruments waiting for their session's slot (network thread): at most one per
    // performer the control plane has, which removes it as the performer leaves.
    std::unordered_map<std::uint32_t, std::unique_ptr<user_instrument>> pending_instruments_;
    std::vector<std::uint8_t> slot_instrument_; // per slot: an own instrument was sent its way
    mix_profile default_mix_;
    boost::asio::ip::udp::endpoint from_;
    std::array<std::byte, 2048> rx_{};
    std::uint32_t pong_sequence_ = 0;
    // One sendmmsg batch, reused by every drain.
    std::vector<std::array<std::byte, proto::v1::k_max_datagram>> batch_bufs_;
    std::vector<mmsghdr> batch_msgs_;
    std::vector<iovec> batch_iovs_;
    std::size_t batched_ = 0;
};

} // namespace gno::render
