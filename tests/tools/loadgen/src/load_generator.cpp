// The load generator's one loop: every player's schedule in a min-heap of due times, one
// ppoll over the shared sockets, recvmmsg batches in, sendmmsg batches out.
#include "local_clock.hpp"
#include "reception.hpp"
#include "report.hpp"
#include "server_clock.hpp"
#include "simulated_player.hpp"
#include "sound_check.hpp"
#include "udp_batch.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <gno/loadgen/loadgen.hpp>
#include <gno/proto/v1/auth.hpp>
#include <gno/proto/v1/datagram.hpp>
#include <netinet/in.h>
#include <poll.h>
#include <stdexcept>

namespace gno::loadgen {
namespace v1 = proto::v1;

namespace {

// Players per socket: 32 of them receive 6400 frames a second, which even the default
// 208 KiB receive buffer holds for ~30 ms of a stalled loop.
constexpr int k_players_per_socket = 32;
// Drained per socket and wake-up at most, so one busy socket cannot starve the schedule.
constexpr int k_max_batches_per_drain = 16;
// The loop wakes on a 1 ms grid, like the real client's network tick: due sends are grouped,
// and a due time is never late by more than that.
constexpr std::int64_t k_tick_ns = 1'000'000;
constexpr std::int64_t k_clock_timeout_ns = 3'000'000'000;
// Each player pings once a second for the round trip its key states report (rtt_us): a quarter
// of the real client's rate after its first 30 s, so the load stays key states and audio.
constexpr std::int64_t k_ping_interval_ns = 1'000'000'000;
// A pong later than this is not a round trip worth reporting (and not one of ours).
constexpr std::int64_t k_max_rtt_ns = 10'000'000'000;
// The GM families an orchestra has, pianos to pipes (programs 0..79). Synth leads, pads and
// effects (80..103) hold voices for seconds after release, which no orchestral part does.
constexpr int k_programs = 80;
constexpr std::uint64_t k_golden = 0x9E3779B97F4A7C15ULL;

struct due_entry {
    std::int64_t due_ns;
    int player;
};
// std::*_heap build a max-heap; this order puts the earliest due time on top.
bool later(const due_entry& a, const due_entry& b) noexcept {
    return a.due_ns > b.due_ns;
}

std::pair<sockaddr_storage, socklen_t> server_address(const options& o) {
    sockaddr_storage ss{};
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    if (inet_pton(AF_INET, o.host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(o.port);
        return {ss, static_cast<socklen_t>(sizeof(sockaddr_in))};
    }
    ss = {};
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET6, o.host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(o.port);
        return {ss, static_cast<socklen_t>(sizeof(sockaddr_in6))};
    }
    throw std::runtime_error("--server host '" + o.host + "' is not a numeric address");
}

std::uint8_t program_of(std::uint64_t seed, int player) {
    // A seeded rotation stepped by 37 (coprime with 80): up to 80 players all differ.
    const auto offset = static_cast<int>(seeded_random(seed).next() % k_programs);
    return static_cast<std::uint8_t>((offset + player * 37) % k_programs);
}

} // namespace

struct load_generator::impl {
    impl(const options& o, const std::atomic<bool>& stop_flag) : opts(o), stop(stop_flag) {
        const auto [address, address_size] = server_address(o);
        if (!o.report.empty()) {
            report.reset(std::fopen(o.report.c_str(), "w"));
            if (!report)
                throw std::runtime_error("cannot write --report " + o.report.string() + ": " +
                                         std::strerror(errno));
        }
        const int socket_count = (o.players + k_players_per_socket - 1) / k_players_per_socket;
        for (int s = 0; s < socket_count; ++s) {
            sockets.push_back(
                std::make_unique<shared_socket>(address, address_size, k_players_per_socket));
            pollfds.push_back({sockets.back()->fd(), POLLIN, 0});
        }
        // Sampled players spread over the range (player 0, and evenly after it).
        decode_slot.assign(static_cast<std::size_t>(o.players), -1);
        for (int k = 0; k < o.decode; ++k) {
            const auto i = static_cast<std::size_t>(static_cast<std::int64_t>(k) * o.players /
                                                    std::max(o.decode, 1));
            decode_slot[i] = static_cast<int>(checks.size());
            checks.emplace_back();
        }
        pcm.assign(static_cast<std::size_t>(k_max_frame_samples * k_channels), 0.0f);
        reception.resize(static_cast<std::size_t>(o.players));
        players.reserve(static_cast<std::size_t>(o.players));
        heap.reserve(static_cast<std::size_t>(o.players));

        std::string secret_error;
        const auto secret = v1::read_master_secret(o.udp_secret_file.string(), secret_error);
        if (!secret)
            throw std::runtime_error(secret_error);
        keys.reserve(static_cast<std::size_t>(o.players));
        for (int i = 0; i < o.players; ++i)
            keys.push_back(
                v1::derive_session_key(*secret, o.session_base + static_cast<std::uint32_t>(i)));

        if (o.epoch_ns) {
            offset_ns = -*o.epoch_ns;
        } else {
            const auto estimate =
                estimate_server_clock(*sockets[0], batch, o.session_base, keys[0],
                                      program_of(o.seed, 0), k_clock_timeout_ns, stop);
            if (estimate) {
                offset_ns = estimate->offset_ns;
                first_sequence = estimate->key_states_sent;
                ping_sequence = estimate->pings_sent;
            } else if (!stop.load()) {
                throw std::runtime_error(
                    "no clock_pong from gno-server at " + o.host + ":" + std::to_string(o.port) +
                    " within 3 s: is it running there with a free player slot? (or pass "
                    "--epoch-ns from its \"epoch_monotonic_ns\" line)");
            }
            // Stopped before any answer: run() ends at once and still prints its line.
        }
    }

    // --- the load generator's thread from here on ---

    void start_players(std::int64_t start) {
        const auto ramp_ns = static_cast<std::int64_t>(opts.ramp_s * 1e9);
        for (int i = 0; i < opts.players; ++i) {
            seeded_random r(opts.seed ^ (k_golden * static_cast<std::uint64_t>(i + 1)));
            player_setup s;
            s.session_id = opts.session_base + static_cast<std::uint32_t>(i);
            s.program = program_of(opts.seed, i);
            s.chord_phase_ns = start + static_cast<std::int64_t>(r.next() % k_chord_period_ns);
            s.seed = r.next();
            s.join_ns = start + ramp_ns * i / opts.players;
            s.copies = i < opts.flood_players ? opts.flood_factor : 1;
            s.first_sequence = i == 0 ? first_sequence : 0;
            players.emplace_back(s);
            heap.push_back({players.back().next_due_ns(), i});
        }
        std::make_heap(heap.begin(), heap.end(), later);
    }

    key_stamps stamps(int i, std::int64_t now) const noexcept {
        return {now + offset_ns, reception[static_cast<std::size_t>(i)].newest_render_sample()};
    }

    // Queues the state just written to `state` as player i's datagram(s): one, or a flooding
    // player's copies, each with its own sequence number. The link fields are this player's
    // view, as a real client fills them: its latest round trip and last second's audio loss.
    void queue_key_state(int i, std::int64_t now) noexcept {
        simulated_player& p = players[static_cast<std::size_t>(i)];
        shared_socket& s = *sockets[static_cast<std::size_t>(i / k_players_per_socket)];
        audio_reception& a = reception[static_cast<std::size_t>(i)];
        state.rtt_us = a.rtt_us();
        state.loss_permille = a.loss_permille(now);
        for (int copy = 0; copy < p.copies(); ++copy) {
            auto slot = s.slot();
            if (slot.empty()) {
                s.flush();
                slot = s.slot();
            }
            v1::header h;
            h.session_id = p.session_id();
            h.sequence = p.take_sequence();
            h.timestamp_ns = now + offset_ns; // server time at sending: the server's uplink delay
            std::error_code ec;
            const std::size_t n = v1::encode(h, state, slot, ec);
            if (n == 0) {
                ++encode_errors;
                return;
            }
            v1::seal(slot.first(n), keys[static_cast<std::size_t>(i)]);
            s.commit(n);
            if (p.flooding())
                ++flood_packets;
        }
    }

    void run_due(std::int64_t now) noexcept {
        while (!heap.empty() && heap.front().due_ns <= now) {
            std::pop_heap(heap.begin(), heap.end(), later);
            due_entry& e = heap.back();
            simulated_player& p = players[static_cast<std::size_t>(e.player)];
            if (p.on_due(now, stamps(e.player, now), state))
                queue_key_state(e.player, now);
            e.due_ns = p.next_due_ns(); // always after `now`: the loop cannot spin here
            std::push_heap(heap.begin(), heap.end(), later);
        }
    }

    // The pings of every player, spread evenly over the interval: one player's at a time.
    void ping_due(std::int64_t now) noexcept {
        const std::int64_t step = std::max<std::int64_t>(k_ping_interval_ns / opts.players, 1);
        while (next_ping_ns <= now) {
            const int i = next_ping_player;
            next_ping_player = (next_ping_player + 1) % opts.players;
            next_ping_ns += step;
            if (!players[static_cast<std::size_t>(i)].joined())
                continue; // the server answers only players that stream
            shared_socket& s = *sockets[static_cast<std::size_t>(i / k_players_per_socket)];
            auto slot = s.slot();
            if (slot.empty()) {
                s.flush();
                slot = s.slot();
            }
            v1::header h;
            h.session_id = players[static_cast<std::size_t>(i)].session_id();
            h.sequence = ping_sequence++;
            h.timestamp_ns = now;
            std::error_code ec;
            if (const std::size_t n = v1::encode(h, v1::clock_ping{now}, slot, ec); n > 0) {
                v1::seal(slot.first(n), keys[static_cast<std::size_t>(i)]);
                s.commit(n);
            } else {
                ++encode_errors;
            }
        }
    }

    void flush_all() noexcept {
        for (auto& s : sockets)
            if (s->pending())
                s->flush();
    }

    void drain(std::size_t socket_index) noexcept {
        shared_socket& s = *sockets[socket_index];
        for (int round = 0; round < k_max_batches_per_drain; ++round) {
            const std::size_t n = batch.receive(s);
            if (n == 0)
                return;
            const std::int64_t now = monotonic_ns();
            for (std::size_t i = 0; i < n; ++i)
                dispatch(batch.datagram(i), batch.arrival_ns(i), socket_index, now);
            if (n < receive_batch::k_batch)
                return;
        }
    }

    void dispatch(std::span<const std::byte> d, std::int64_t arrival_ns, std::size_t socket_index,
                  std::int64_t now) noexcept {
        v1::header h;
        std::span<const std::byte> payload;
        if (v1::decode_header(d, h, payload)) {
            ++bad_datagrams;
            return;
        }
        // Ours only if the session is one of ours and came to the socket that player uses.
        const std::uint32_t index = h.session_id - opts.session_base;
        const bool ours = index < static_cast<std::uint32_t>(opts.players) &&
                          index / k_players_per_socket == socket_index;
        switch (h.type) {
        case v1::packet_type::audio_frame: {
            v1::audio_frame frame;
            if (!ours || v1::decode(d, h, frame) || frame.frame_samples == 0) {
                ++bad_datagrams;
                return;
            }
            audio_reception& a = reception[index];
            const std::int64_t frame_ns =
                std::int64_t{frame.frame_samples} * 1'000'000'000 / k_sample_rate;
            const bool in_order =
                a.on_frame(h.sequence, arrival_ns, frame_ns, frame.render_sample, gaps);
            if (a.received() == 1)
                a.set_first_local_ns(now);
            if (const int slot = decode_slot[index]; slot >= 0 && in_order)
                checks[static_cast<std::size_t>(slot)].on_frame(frame.opus, pcm);
            return;
        }
        case v1::packet_type::player_info:
            if (ours)
                reception[index].on_player_info();
            else
                ++bad_datagrams;
            return;
        case v1::packet_type::clock_pong: {
            v1::clock_pong pong;
            if (!ours || v1::decode(d, h, pong)) {
                ++bad_datagrams;
                return;
            }
            // t0 is our monotonic clock at sending, t1/t2 the server's at receipt and answer.
            const std::int64_t rtt = (now - pong.t0_ns) - (pong.t2_ns - pong.t1_ns);
            if (pong.t0_ns <= now && rtt >= 0 && rtt < k_max_rtt_ns)
                reception[index].on_round_trip(rtt);
            return; // or a late answer to the start-up pings
        }
        default:
            ++bad_datagrams;
            return;
        }
    }

    void release_everyone(std::int64_t now) noexcept {
        for (int i = 0; i < opts.players; ++i)
            if (players[static_cast<std::size_t>(i)].release_all(now, stamps(i, now), state))
                queue_key_state(i, now);
        flush_all();
    }

    summary totals(std::int64_t start, std::int64_t end) const {
        summary s;
        s.players = opts.players;
        s.seconds = static_cast<double>(end - start) / 1e9;
        for (const auto& a : reception) {
            s.joined += a.received() > 0 ? 1 : 0;
            s.frames_received += a.received();
            s.frames_lost += a.lost();
            s.late_gaps += a.late_gaps();
        }
        const std::uint64_t expected = s.frames_received + s.frames_lost;
        s.loss_pct =
            expected ? 100.0 * static_cast<double>(s.frames_lost) / static_cast<double>(expected)
                     : 0.0;
        s.gap_p50_us = gaps.quantile_us(0.50);
        s.gap_p99_us = gaps.quantile_us(0.99);
        s.gap_max_us = gaps.max_us();
        s.decoded = static_cast<int>(checks.size());
        for (const auto& c : checks)
            s.decoded_with_sound += c.has_sound() ? 1 : 0;
        s.flood_packets = flood_packets;
        for (const auto& sock : sockets) {
            s.packets_sent += sock->sent();
            s.send_errors += sock->send_errors();
            s.receive_overflows += sock->receive_drops();
        }
        s.send_errors += encode_errors;
        s.bad_datagrams = bad_datagrams;
        return s;
    }

    void write_report() const {
        if (!report)
            return;
        for (std::size_t i = 0; i < players.size(); ++i) {
            const int slot = decode_slot[i];
            const auto line =
                player_report_line({static_cast<int>(i), &players[i], &reception[i],
                                    slot >= 0 ? &checks[static_cast<std::size_t>(slot)] : nullptr});
            std::fputs(line.c_str(), report.get());
        }
        if (std::fflush(report.get()) != 0)
            std::fprintf(stderr, "gno-loadgen: warning: could not write all of --report %s\n",
                         opts.report.c_str());
    }

    summary run() {
        const std::int64_t start = monotonic_ns();
        const std::int64_t end = start + static_cast<std::int64_t>(opts.seconds * 1e9);
        start_players(start);
        next_ping_ns = start;
        std::int64_t now = start;
        while (!stop.load(std::memory_order_relaxed)) {
            now = monotonic_ns();
            if (now >= end)
                break;
            run_due(now);
            ping_due(now);
            flush_all();
            // Sleep to the tick at or after the next due time (or the end), unless data comes.
            const std::int64_t next =
                std::min({heap.empty() ? end : heap.front().due_ns, next_ping_ns, end});
            const std::int64_t wake =
                start + (next - start + k_tick_ns - 1) / k_tick_ns * k_tick_ns;
            const std::int64_t wait_ns = std::max<std::int64_t>(0, wake - monotonic_ns());
            const timespec timeout{static_cast<time_t>(wait_ns / 1'000'000'000),
                                   static_cast<long>(wait_ns % 1'000'000'000)};
            const int ready = ::ppoll(pollfds.data(), pollfds.size(), &timeout, nullptr);
            if (ready <= 0)
                continue; // timeout, or EINTR from a signal: the loop head checks `stop`
            for (std::size_t s = 0; s < pollfds.size(); ++s)
                if (pollfds[s].revents != 0)
                    drain(s);
        }
        now = monotonic_ns();
        release_everyone(now); // the server's voices stop now, not at its silence timeout
        const summary s = totals(start, now);
        write_report();
        return s;
    }

    struct file_close {
        void operator()(std::FILE* f) const noexcept { std::fclose(f); }
    };

    options opts;
    const std::atomic<bool>& stop;
    std::vector<std::unique_ptr<shared_socket>> sockets;
    std::vector<pollfd> pollfds;
    receive_batch batch;
    std::vector<simulated_player> players;
    std::vector<audio_reception> reception;
    std::vector<int> decode_slot; // per player: index into checks, or -1
    std::vector<sound_check> checks;
    std::vector<float> pcm; // decode scratch, shared (one thread)
    gap_histogram gaps;
    std::vector<due_entry> heap; // one entry per player, ordered by `later`
    v1::key_state state;         // scratch for the state being sent
    std::unique_ptr<std::FILE, file_close> report;
    std::int64_t offset_ns = 0;       // server time = local monotonic + offset
    std::uint32_t first_sequence = 0; // of player 0, after the clock exchange's key states
    std::int64_t next_ping_ns = 0;
    int next_ping_player = 0;
    std::uint32_t ping_sequence = 0;
    std::vector<v1::session_key> keys; // per player, from the node's secret
    std::uint64_t flood_packets = 0;
    std::uint64_t encode_errors = 0;
    std::uint64_t bad_datagrams = 0;
};

load_generator::load_generator(const options& opts, const std::atomic<bool>& stop)
    : impl_(std::make_unique<impl>(opts, stop)) {}

load_generator::~load_generator() = default;

summary load_generator::run() {
    return impl_->run();
}

} // namespace gno::loadgen
