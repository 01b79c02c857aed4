// Trust on the real-time UDP channel (DESIGN.md §8), end to end: a real gno-server, honest
// players through one gno-impair and an attacker through another. What the attacker's proxy
// carried back, the node's counters and the audience mix show that nothing unproven was
// played, answered or followed; a real gno-client shows that a NAT re-binding, duplicates and
// reordering are followed or filtered without harm to what is heard.
#include "e2e_support.hpp"
#include "gno/proto/v1/auth.hpp"
#include "gno/proto/v1/datagram.hpp"
#include "gno/test/loopback_udp.hpp"

#include <cmath>
#include <csignal>
#include <cstring>
#include <iostream>
#include <map>
#include <poll.h>
#include <random>

namespace gno::e2e {
namespace {

namespace v1 = proto::v1;
constexpr int k_rate = 48000;
using datagram = std::vector<std::byte>;

double key_hz(int key) {
    return 440.0 * std::pow(2.0, (key - 69) / 12.0);
}

/// A key state for `session` holding `key` (-1: none), GM program 73 "Flute"; its tag is zero.
datagram key_state_datagram(std::uint32_t session, std::uint32_t sequence, int key) {
    v1::header h;
    h.session_id = session;
    h.sequence = sequence;
    v1::key_state s;
    s.program = 73;
    if (key >= 0) {
        s.held_count = 1;
        s.held[0] = {static_cast<std::uint8_t>(key), 100, 0, 0};
    }
    datagram d(v1::k_max_datagram);
    std::error_code ec;
    d.resize(v1::encode(h, s, d, ec));
    EXPECT_FALSE(d.empty()) << ec.message();
    return d;
}

/// A clock ping of `session`; its tag is zero.
datagram ping_datagram(std::uint32_t session, std::uint32_t sequence) {
    v1::header h;
    h.type = v1::packet_type::clock_ping;
    h.session_id = session;
    h.sequence = sequence;
    datagram d(v1::k_max_datagram);
    std::error_code ec;
    d.resize(v1::encode(h, v1::clock_ping{12345}, d, ec));
    EXPECT_FALSE(d.empty()) << ec.message();
    return d;
}

datagram sealed(datagram d, const v1::session_key& key) {
    v1::seal(d, key);
    return d;
}

// One UDP socket talking to a port on 127.0.0.1 (a proxy): sends the datagrams it is given and
// keeps what comes back: audio frames by render sample, pongs, and every byte.
class udp_peer {
public:
    udp_peer(std::uint16_t port, std::optional<v1::session_key> key) : socket_(port), key_(key) {}

    void send(std::span<const std::byte> d) { socket_.send(d); }

    /// Receives for `d` (at least one pass).
    void receive_for(std::chrono::milliseconds d) {
        const auto until = std::chrono::steady_clock::now() + d;
        do {
            pollfd p{socket_.fd(), POLLIN, 0};
            ::poll(&p, 1, 2);
            drain();
        } while (std::chrono::steady_clock::now() < until);
    }

    /// The render sample of the newest audio frame so far (-1: none).
    std::int64_t newest_frame() const { return frames.empty() ? -1 : frames.rbegin()->first; }

    std::map<std::int64_t, std::size_t> frames; // render sample -> frame samples
    int pongs = 0;
    int bad_tags = 0; // datagrams that did not carry our key's tag
    std::size_t datagrams = 0;
    std::size_t bytes = 0;

private:
    void drain() {
        socket_.receive([this](std::span<const std::byte> d) {
            ++datagrams;
            bytes += d.size();
            if (key_ && !v1::verify(d, *key_)) {
                ++bad_tags;
                return;
            }
            v1::header h;
            v1::audio_frame f;
            v1::clock_pong pong;
            if (!v1::decode(d, h, f))
                frames[f.render_sample] = f.frame_samples;
            else if (!v1::decode(d, h, pong))
                ++pongs;
        });
    }

    test::loopback_udp socket_;
    std::optional<v1::session_key> key_;
};

/// The largest stretch of render samples in [from, to] that no received frame covers.
std::int64_t largest_hole(const std::map<std::int64_t, std::size_t>& frames, std::int64_t from,
                          std::int64_t to) {
    std::int64_t covered_to = from, hole = 0;
    for (auto it = frames.lower_bound(from); it != frames.end() && it->first <= to; ++it) {
        hole = std::max(hole, it->first - covered_to);
        covered_to = std::max(covered_to, it->first + static_cast<std::int64_t>(it->second));
    }
    return std::max(hole, to - covered_to);
}

/// A number in one direction's counters ("up" or "down") of gno-impair's --stats JSON.
std::optional<double> proxy_stat(const std::string& stats, const std::string& direction,
                                 const std::string& key) {
    const auto at = stats.find('"' + direction + "\":{");
    if (at == std::string::npos)
        return std::nullopt;
    return json_number(stats.substr(at, stats.find('}', at) - at + 1), key);
}

/// Stops a gno-impair and returns its final --stats JSON.
std::string stop_proxy(proxy_process& p, const std::filesystem::path& stats) {
    EXPECT_TRUE(p.proc.signal(SIGINT));
    EXPECT_EQ(p.proc.wait_for_exit(10s), std::optional<int>(0));
    return test::read_file(stats);
}

/// Stops gno-server and returns its exit line ("stopped; {json}").
std::string stop_server(server_process& s, const test::temp_dir& dir) {
    EXPECT_TRUE(s.proc.signal(SIGINT));
    EXPECT_EQ(s.proc.wait_for_exit(20s), std::optional<int>(0))
        << test::read_file(dir / "server.err");
    return wait_for_line(s.log, "(stopped.*)", 5s).value_or("");
}

double number(const std::string& json, const std::string& key) {
    const auto v = json_number(json, key);
    EXPECT_TRUE(v) << key << " missing from: " << json;
    return v.value_or(-1.0);
}

// Acceptance: forged, replayed and tag-less datagrams: 0 accepted, 0 bytes sent back to a
// spoofed address. An honest player holds R (MIDI 63), then K (60), through proxy A; an
// attacker, through its own proxy B, sends thousands of datagrams for that player's session
// and for new ones, holding J (66) with sequences far ahead, and byte-exact replays of the
// player's earlier R states and pings. Proxy B counts every byte the node sends its way.
TEST(Trust, ForgedReplayedAndTaglessDatagramsAreNeitherPlayedNorAnswered) {
    constexpr int k_r = 63, k_k = 60, k_j = 66;
    constexpr std::uint32_t k_session = 31337;
    constexpr int k_hostile = 4000;
    test::temp_dir dir("gno-e2e-trust");
    test::temp_dir attacker_dir("gno-e2e-trust-attacker"); // proxy B's own log and stats
    const auto audience = dir / "audience.wav";
    auto srv = start_server(dir, {"--record-wav", audience.string()});
    ASSERT_NE(srv.port, 0);
    auto proxy_a = start_proxy(dir, srv.port, {});
    auto proxy_b = start_proxy(attacker_dir, srv.port, {});
    ASSERT_NE(proxy_a.port, 0);
    ASSERT_NE(proxy_b.port, 0);

    const auto key = test::udp_session_key(k_session);
    udp_peer honest(proxy_a.port, key);
    udp_peer attacker(proxy_b.port, std::nullopt);
    std::uint32_t sequence = 1000, ping_sequence = 1000;
    std::vector<datagram> states, pings; // the honest player's, to replay
    auto play = [&](int held) {
        states.push_back(sealed(key_state_datagram(k_session, ++sequence, held), key));
        honest.send(states.back());
    };

    // The honest player: R for 1 s (pinging), then K for 1 s.
    for (int i = 0; i < 50; ++i) {
        play(k_r);
        if (i % 5 == 1) {
            pings.push_back(sealed(ping_datagram(k_session, ++ping_sequence), key));
            honest.send(pings.back());
        }
        honest.receive_for(20ms);
    }
    ASSERT_FALSE(honest.frames.empty()) << "the honest player hears nothing";
    const std::size_t replayable = states.size();
    for (int i = 0; i < 50; ++i) {
        play(k_k);
        honest.receive_for(20ms);
    }

    // The attack, about 1000 datagrams a second, while the player holds K. Sequences far ahead
    // of the player's: taken, they would be the newest state.
    std::mt19937 rng(20240607);
    auto below = [&](std::size_t n) { // a random number in [0, n)
        return static_cast<std::uint32_t>(rng() % n);
    };
    const auto other_master = [] {
        auto m = test::udp_secret();
        m[0] ^= std::byte{1};
        return m;
    }();
    std::map<std::string, int> sent;
    int expect_bad_tags = 0, expect_stale = 0, expect_unanswered = 0;
    auto forged_state = [&](std::uint32_t session) {
        return key_state_datagram(session, sequence + 1'000'000 + below(1000), k_j);
    };
    auto hostile = [&](int i) {
        datagram d;
        switch (i % 10) {
        case 0: // no tag at all
            d = forged_state(k_session);
            ++sent["tag-less"];
            break;
        case 1: { // a random tag
            d = forged_state(k_session);
            for (std::size_t b = 0; b < v1::k_tag_size; ++b)
                d[v1::k_tag_offset + b] = std::byte(rng());
            ++sent["random tag"];
            break;
        }
        case 2: // keyed by another node's secret
            d = sealed(forged_state(k_session), v1::derive_session_key(other_master, k_session));
            ++sent["other secret"];
            break;
        case 3: // keyed for another session
            d = sealed(forged_state(k_session), test::udp_session_key(k_session + 1));
            ++sent["other session's key"];
            break;
        case 4: { // a valid R state of the player's, its sequence moved ahead
            d = states[below(replayable)];
            const std::uint32_t ahead = htonl(sequence + 1'000'000 + below(1000));
            std::memcpy(d.data() + 12, &ahead, 4);
            ++sent["tampered replay"];
            break;
        }
        case 5: // a new player: a forged join
            d = sealed(forged_state(40000 + below(1000)),
                       v1::derive_session_key(other_master, k_session));
            ++sent["forged join"];
            break;
        case 6: // a tag-less ping
            d = ping_datagram(k_session, ping_sequence + 1 + below(1000));
            ++sent["tag-less ping"];
            break;
        case 7: // a replayed ping: valid, but not from the player's address
            d = pings[below(pings.size())];
            ++sent["replayed ping"];
            ++expect_unanswered;
            break;
        default: // byte-exact replays of the player's R states
            d = states[below(replayable)];
            ++sent["replayed state"];
            ++expect_stale;
            break;
        }
        if (i % 10 < 7)
            ++expect_bad_tags;
        attacker.send(d);
    };
    const std::int64_t attack_from = honest.newest_frame();
    const int pongs_before_attack = honest.pongs;
    int hostile_sent = 0, own_address_replays = 0;
    for (int step = 0; hostile_sent < k_hostile; ++step) {
        play(k_k);
        for (int i = 0; i < 20 && hostile_sent < k_hostile; ++i)
            hostile(hostile_sent++);
        if (step % 25 == 0) { // a replayed ping from the player's own address, too
            honest.send(pings.front());
            ++own_address_replays;
        }
        honest.receive_for(20ms);
        attacker.receive_for(0ms);
    }
    const std::int64_t attack_to = honest.newest_frame();
    for (int i = 0; i < 25; ++i) {
        play(k_k);
        honest.receive_for(20ms);
    }
    for (int i = 0; i < 60; ++i) { // released: the audience hears K's release, then silence
        play(-1);
        honest.receive_for(20ms);
        attacker.receive_for(0ms);
    }

    const auto b_stats = stop_proxy(proxy_b, attacker_dir / "proxy-stats.json");
    const auto stopped = stop_server(srv, dir);
    stop_proxy(proxy_a, dir / "proxy-stats.json");
    ASSERT_FALSE(stopped.empty()) << test::read_file(srv.log);

    // 0 bytes to the spoofed address: the node sent nothing to proxy B's socket, and proxy B
    // forwarded every hostile datagram.
    EXPECT_EQ(proxy_stat(b_stats, "up", "forwarded"), static_cast<double>(k_hostile)) << b_stats;
    EXPECT_EQ(proxy_stat(b_stats, "down", "packets_in"), 0.0) << b_stats;
    EXPECT_EQ(proxy_stat(b_stats, "down", "bytes_in"), 0.0) << b_stats;
    EXPECT_EQ(attacker.datagrams, 0u);

    // 0 accepted: every hostile datagram is in a rejection counter, and what each kind should
    // be is what it was (the source limit, if the machine bunched them, takes any kind).
    const double bad_tags = number(stopped, "bad_tags");
    const double stale = number(stopped, "stale_packets");
    const double unanswered = number(stopped, "unanswered_pings");
    const double limited = number(stopped, "source_limited");
    EXPECT_EQ(bad_tags + stale + unanswered + limited, k_hostile) << stopped;
    EXPECT_NEAR(bad_tags, expect_bad_tags, limited) << stopped;
    EXPECT_NEAR(stale, expect_stale, limited) << stopped;
    EXPECT_NEAR(unanswered, expect_unanswered, limited) << stopped;
    EXPECT_EQ(number(stopped, "replayed_packets"), own_address_replays) << stopped;
    EXPECT_EQ(number(stopped, "rebinds"), 0.0) << stopped;
    EXPECT_EQ(number(stopped, "rejected_players"), 0.0) << stopped;
    // R and K, each pressed and released once: no forged or replayed state sounded a note.
    EXPECT_EQ(number(stopped, "note_ons"), 2.0) << stopped;
    EXPECT_EQ(number(stopped, "note_offs"), 2.0) << stopped;
    // The player's pings were answered once each, the replays from its address not at all.
    EXPECT_EQ(number(stopped, "pings"), static_cast<double>(pings.size())) << stopped;
    EXPECT_EQ(honest.pongs, static_cast<int>(pings.size()));
    EXPECT_EQ(honest.pongs, pongs_before_attack);
    EXPECT_EQ(honest.bad_tags, 0);

    // The player's audio kept flowing: no frame missing for longer than 100 ms while attacked.
    ASSERT_GT(attack_to - attack_from, 3 * k_rate);
    EXPECT_LT(largest_hole(honest.frames, attack_from, attack_to), k_rate / 10)
        << honest.frames.size() << " frames";

    // What the audience heard: R, then K, and never J; R never again after K began.
    const auto mix = read_mono(audience);
    constexpr double k_window_s = 0.1;
    std::optional<double> k_from;
    double j_max = test::k_silence_dbfs, r_after_k_max = test::k_silence_dbfs;
    int k_windows = 0;
    for (double t = 0; t + k_window_s <= static_cast<double>(mix.size()) / k_rate;
         t += k_window_s) {
        const auto w = test::slice_seconds(mix, k_rate, t, t + k_window_s);
        if (test::rms_dbfs(w) < -50.0)
            continue;
        const double j = test::tone_level_db(w, k_rate, key_hz(k_j), 3.0);
        const double r = test::tone_level_db(w, k_rate, key_hz(k_r), 3.0);
        const double k = test::tone_level_db(w, k_rate, key_hz(k_k), 3.0);
        j_max = std::max(j_max, j);
        if (!k_from && k > -10.0 && r < -20.0)
            k_from = t;
        if (k_from && t > *k_from + 0.5)
            r_after_k_max = std::max(r_after_k_max, r);
        if (k > -10.0)
            ++k_windows;
    }
    ASSERT_TRUE(k_from) << "K never sounded in the audience mix";
    EXPECT_LT(j_max, -25.0) << "the forged key J sounded";
    EXPECT_LT(r_after_k_max, -25.0) << "a replayed state sounded R again";
    EXPECT_GE(k_windows, 50) << "K did not sound through the attack";

    std::cout << "trust: " << k_hostile << " hostile datagrams (";
    for (const auto& [kind, n] : sent)
        std::cout << n << ' ' << kind << (kind == sent.rbegin()->first ? "" : ", ");
    std::cout << "), 0 accepted, " << proxy_stat(b_stats, "down", "bytes_in").value_or(-1)
              << " bytes to the spoofed address; node: bad_tags " << bad_tags << ", stale " << stale
              << ", unanswered pings " << unanswered << ", source-limited " << limited << "; J "
              << j_max << " dB, R after K " << r_after_k_max
              << " dB; largest audio hole while attacked "
              << 1000.0 * static_cast<double>(largest_hole(honest.frames, attack_from, attack_to)) /
                     k_rate
              << " ms\n";
}

// Acceptance: a NAT re-binding is followed. A gno-client holds a flute note for 7 s through a
// proxy that moves it to a new port every 2 s: the node follows each move, and what the
// client plays has no gap longer than the move costs (its next key state, <= 50 ms apart).
TEST(Trust, NatRebindingIsFollowedWithoutAGap) {
    test::temp_dir dir("gno-e2e-rebind");
    auto srv = start_server(dir, {});
    ASSERT_NE(srv.port, 0);
    auto proxy = start_proxy(dir, srv.port, {"--rebind-after-s", "2"});
    ASSERT_NE(proxy.port, 0);
    const auto rc = run_client(dir, proxy.port,
                               {"--program", "73", "--play", "hold:60:7000", "--duration", "8"});
    ASSERT_EQ(rc, std::optional<int>(0)) << test::read_file(dir / "client.err");
    const auto stopped = stop_server(srv, dir);
    const auto proxy_stats = stop_proxy(proxy, dir / "proxy-stats.json");
    const std::string summary = test::read_file(dir / "client.json");

    const double moved = number(proxy_stats, "rebinds");
    const double followed = number(stopped, "rebinds");
    EXPECT_GE(followed, 2.0) << stopped;
    EXPECT_LE(followed, moved) << stopped << '\n' << proxy_stats;

    // Frames kept coming: the client concealed (or, waiting for frames, played silence for) at
    // most ~200 ms of audio per move, and 200 ms before its first frame.
    const double concealed = number(summary, "frames_plc") + number(summary, "frames_fec") +
                             number(summary, "frames_silent");
    EXPECT_LE(concealed, 40.0 * (moved + 1)) << summary;

    // And the note held: no 10 ms window of the held note more than 20 dB below its median.
    const auto mono = read_mono(dir / "client.wav");
    const auto onset = test::first_sample_above_dbfs(mono, -40.0);
    ASSERT_TRUE(onset) << "no sound in the client's output";
    const double t0 = static_cast<double>(*onset) / k_rate;
    const auto held = test::slice_seconds(mono, k_rate, t0 + 0.2, t0 + 6.9);
    ASSERT_GT(held.size(), static_cast<std::size_t>(6 * k_rate)) << "output too short";
    auto env = test::rms_envelope_dbfs(held, k_rate, 0.01);
    auto sorted = env;
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<long>(sorted.size() / 2),
                     sorted.end());
    const double median = sorted[sorted.size() / 2];
    int run = 0, longest = 0;
    for (const double l : env) {
        run = l < median - 20.0 ? run + 1 : 0;
        longest = std::max(longest, run);
    }
    EXPECT_LE(longest * 10, 100) << "a " << longest * 10 << " ms gap in the held note";
    const auto pitch = test::estimate_pitch_hz(
        test::slice_seconds(mono, k_rate, t0 + 5.0, t0 + 6.5), k_rate, 100.0, 2000.0);
    ASSERT_TRUE(pitch);
    EXPECT_NEAR(*pitch, key_hz(60), key_hz(60) * 0.01);
    std::cout << "rebind: proxy moved " << moved << " times, node followed " << followed
              << "; client concealed " << concealed << " frames, longest dip " << longest * 10
              << " ms, median level " << median << " dBFS\n";
}

// Acceptance: duplicated and reordered key states (30 % each, and jitter) are filtered: the
// audience hears the phrase's 28 notes at their pitches, no more, and silence after the last
// release (no stuck note).
TEST(Trust, DuplicatedAndReorderedKeyStatesPlayThePhraseExactly) {
    constexpr int k_notes = 28;
    test::temp_dir dir("gno-e2e-dup");
    const auto audience = dir / "audience.wav";
    auto srv = start_server(dir, {"--record-wav", audience.string()});
    ASSERT_NE(srv.port, 0);
    auto proxy = start_proxy(dir, srv.port,
                             {"--duplicate", "0.3", "--reorder", "0.3", "--reorder-ms", "15",
                              "--jitter-ms", "4", "--seed", "1729"});
    ASSERT_NE(proxy.port, 0);
    const auto rc = run_client(dir, proxy.port,
                               {"--program", "73", "--play", "phrase:" + std::to_string(k_notes)});
    ASSERT_EQ(rc, std::optional<int>(0)) << test::read_file(dir / "client.err");
    std::this_thread::sleep_for(500ms);
    const auto stopped = stop_server(srv, dir);
    const auto proxy_stats = stop_proxy(proxy, dir / "proxy-stats.json");

    // The proxy did duplicate and reorder, and the node filtered what was not new.
    EXPECT_GT(proxy_stat(proxy_stats, "up", "duplicated").value_or(0), 20.0) << proxy_stats;
    EXPECT_GT(proxy_stat(proxy_stats, "up", "reordered").value_or(0), 20.0) << proxy_stats;
    const double stale = number(stopped, "stale_packets");
    EXPECT_GT(stale, 20.0) << stopped;
    // Each duplicate's second copy was dropped: a key state as stale, a ping as replayed (or
    // unanswered, before the player's first key state).
    EXPECT_GE(stale + number(stopped, "replayed_packets") + number(stopped, "unanswered_pings"),
              proxy_stat(proxy_stats, "up", "duplicated").value_or(0))
        << stopped << '\n'
        << proxy_stats;
    EXPECT_EQ(number(stopped, "note_ons"), k_notes) << stopped;
    EXPECT_EQ(number(stopped, "note_offs"), k_notes) << stopped;

    const auto rec = read_mono(audience);
    test::onset_params p; // 10 dB: a flute note played while the previous one still releases
    p.min_gap_s = 0.1;
    const auto onsets = test::detect_onsets(rec, k_rate, p);
    EXPECT_EQ(onsets.size(), static_cast<std::size_t>(k_notes));
    ASSERT_FALSE(onsets.empty());
    EXPECT_EQ(notes_with_their_pitch(rec, onsets.front(), k_notes, true), k_notes);
    // The last note is released 150 ms after its onset; a second later the mix is silent.
    const double last_release = onsets.front() + 0.25 * (k_notes - 1) + 0.15;
    ASSERT_GT(static_cast<double>(rec.size()) / k_rate, last_release + 1.5) << "recording short";
    const double after = test::rms_dbfs(test::slice_seconds(
        rec, k_rate, last_release + 1.0, static_cast<double>(rec.size()) / k_rate));
    EXPECT_LT(after, -60.0) << "a note is stuck";

    // The client saw the duplicated frames as such and heard the phrase too. Its downlink was
    // duplicated, reordered and jittered as well, and a frame that came too late is concealed,
    // which can smear a note's 65 ms analysis window: allow two.
    const std::string summary = test::read_file(dir / "client.json");
    EXPECT_GT(number(summary, "packets_duplicate"), 0.0) << summary;
    const auto mono = read_mono(dir / "client.wav");
    const auto client_onsets = test::detect_onsets(mono, k_rate, p);
    ASSERT_FALSE(client_onsets.empty());
    const int client_notes = notes_with_their_pitch(mono, client_onsets.front(), k_notes, false);
    EXPECT_GE(client_notes, k_notes - 2) << summary;
    const double client_last_release = client_onsets.front() + 0.25 * (k_notes - 1) + 0.15;
    ASSERT_GT(static_cast<double>(mono.size()) / k_rate, client_last_release + 1.5);
    EXPECT_LT(test::rms_dbfs(test::slice_seconds(mono, k_rate, client_last_release + 1.0,
                                                 static_cast<double>(mono.size()) / k_rate)),
              -60.0)
        << "the client hears a stuck note";
    std::cout << "duplicate/reorder: proxy duplicated "
              << proxy_stat(proxy_stats, "up", "duplicated").value_or(-1) << " and reordered "
              << proxy_stat(proxy_stats, "up", "reordered").value_or(-1)
              << " datagrams to the node; it dropped " << stale << " stale; " << onsets.size()
              << " notes in the audience mix, " << after << " dBFS after the last release; the "
              << "client heard " << client_notes << " at their pitch (" << client_onsets.size()
              << " onsets)\n";
}

} // namespace
} // namespace gno::e2e
