#include "unit_costs.hpp"

#include "gno/render/config.hpp"
#include "gno/render/frames.hpp"
#include "gno/render/mixer.hpp"
#include "gno/render/opus_stage.hpp"
#include "gno/render/voice_bank.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <netinet/in.h>
#include <span>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace gno::bench {
namespace {

using clock_type = std::chrono::steady_clock;

double us_since(clock_type::time_point t0) {
    return std::chrono::duration<double, std::micro>(clock_type::now() - t0).count();
}

// Other processes share this machine's cores: the median of a few passes is what the code
// costs, not what a neighbour's burst did to one pass.
double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

constexpr int k_passes = 5;

// An orchestra's worth of GM melodic programs (0-based) and a comfortable chord root for each.
constexpr std::array<std::pair<int, int>, 16> k_programs{{
    {0, 60},  // acoustic grand piano
    {40, 67}, // violin
    {41, 60}, // viola
    {42, 48}, // cello
    {43, 36}, // contrabass
    {48, 60}, // string ensemble
    {52, 60}, // choir aahs
    {56, 65}, // trumpet
    {57, 53}, // trombone
    {60, 57}, // French horn
    {68, 69}, // oboe
    {70, 48}, // bassoon
    {71, 62}, // clarinet
    {73, 74}, // flute
    {46, 55}, // orchestral harp
    {24, 55}, // nylon guitar
}};

// Chord shapes over the root, cycled: each strike moves to new keys while the last chord's
// release tails still sound, as in playing.
constexpr std::array<std::array<int, 3>, 4> k_chords{
    {{0, 4, 7}, {2, 5, 9}, {-1, 3, 8}, {1, 6, 10}}};

class udp_socket {
public:
    udp_socket() : fd_(::socket(AF_INET, SOCK_DGRAM, 0)) {
        if (fd_ < 0)
            throw std::system_error(errno, std::generic_category(), "socket");
    }
    ~udp_socket() { ::close(fd_); }
    udp_socket(const udp_socket&) = delete;
    udp_socket& operator=(const udp_socket&) = delete;
    [[nodiscard]] int fd() const noexcept { return fd_; }

private:
    int fd_;
};

} // namespace

double measure_synth(const unit_cost_params& p, double& mean_voices, std::vector<float>* mix_out) {
    using render::bank_event;
    using render::note_event;
    // The server's bank shape (server_config's players per bank, lanes and voices).
    const render::server_config server_shape;
    const int k_players = server_shape.players_per_bank;
    constexpr int k_warmup_frames = 200;
    constexpr int k_measured_frames = 800;
    constexpr int k_restrike_frames = 100; // every 0.5 s at 5 ms frames
    const int n = p.frame_samples;
    render::voice_bank bank({p.soundfont.string(), k_players, server_shape.lanes_per_player,
                             server_shape.polyphony_per_bank, 48000},
                            0);

    std::vector<float> stem_storage(static_cast<std::size_t>(2 * k_players * n));
    std::vector<float*> stems(static_cast<std::size_t>(2 * k_players));
    for (std::size_t i = 0; i < stems.size(); ++i)
        stems[i] = stem_storage.data() + i * static_cast<std::size_t>(n);
    std::vector<std::array<int, 3>> held(k_players, {-1, -1, -1});
    std::vector<int> strikes(k_players, 0);
    std::vector<std::pair<std::int64_t, bank_event>> due;
    std::vector<bank_event> events;
    if (mix_out)
        mix_out->assign(static_cast<std::size_t>(2 * n * k_measured_frames), 0.0f);

    // The measured frames in k_passes chunks, each longer than a re-strike cycle; the median
    // chunk's cost per voice is the answer.
    constexpr int k_chunk = k_measured_frames / k_passes;
    static_assert(k_chunk > k_restrike_frames);
    std::vector<double> chunk_us(k_passes), chunk_voices(k_passes);
    for (int f = 0; f < k_warmup_frames + k_measured_frames; ++f) {
        const std::int64_t r = static_cast<std::int64_t>(f) * n;
        due.clear();
        for (int pl = 0; pl < k_players; ++pl) {
            const auto [program, root] = k_programs[static_cast<std::size_t>(pl) % 16];
            const auto add = [&](note_event::kind what, int key, int value) {
                bank_event e{r, pl, note_event{}};
                e.ev.what = what;
                e.ev.key = static_cast<std::uint8_t>(key);
                e.ev.value = static_cast<std::uint8_t>(value);
                due.emplace_back(bank.issue_point(e), e);
            };
            if (f == 0) {
                add(note_event::kind::program, 0, program);
                continue;
            }
            // Players re-strike at staggered times, as an orchestra's parts do.
            const int phase = (f + pl * 7) % k_restrike_frames;
            if (phase == 0)
                for (int& key : held[static_cast<std::size_t>(pl)])
                    if (key >= 0) {
                        add(note_event::kind::note_off, key, 0);
                        key = -1;
                    }
            if (phase == 1) {
                auto& chord = held[static_cast<std::size_t>(pl)];
                const auto& shape =
                    k_chords[static_cast<std::size_t>(strikes[static_cast<std::size_t>(pl)]++) %
                             k_chords.size()];
                for (std::size_t k = 0; k < 3; ++k) {
                    chord[k] = root + shape[k];
                    add(note_event::kind::note_on, chord[k], 70 + 10 * static_cast<int>(k));
                }
            }
        }
        std::stable_sort(due.begin(), due.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        events.clear();
        for (const auto& d : due)
            events.push_back(d.second);

        const auto t0 = clock_type::now();
        bank.render(r, n, events, stems);
        const double us = us_since(t0);
        if (f < k_warmup_frames)
            continue;
        const auto chunk = static_cast<std::size_t>((f - k_warmup_frames) / k_chunk);
        chunk_us[chunk] += us;
        chunk_voices[chunk] += bank.active_voices();
        if (mix_out) {
            float* out = mix_out->data() + static_cast<std::size_t>(2 * n * (f - k_warmup_frames));
            for (int i = 0; i < n; ++i) {
                float l = 0, rr = 0;
                for (int pl = 0; pl < k_players; ++pl) {
                    l += stems[static_cast<std::size_t>(2 * pl)][i];
                    rr += stems[static_cast<std::size_t>(2 * pl + 1)][i];
                }
                out[2 * i] = render::soft_limit(0.3f * l);
                out[2 * i + 1] = render::soft_limit(0.3f * rr);
            }
        }
    }
    double voice_frames = 0;
    std::vector<double> per_voice;
    for (int c = 0; c < k_passes; ++c) {
        const auto uc = static_cast<std::size_t>(c);
        voice_frames += chunk_voices[uc];
        if (chunk_voices[uc] > 0)
            per_voice.push_back(chunk_us[uc] / chunk_voices[uc]);
    }
    mean_voices = voice_frames / k_measured_frames;
    return median(per_voice);
}

double measure_encode(const unit_cost_params& p, int complexity, const std::vector<float>& music) {
    render::opus_stage enc({48000, 2, p.frame_samples, p.bitrate, complexity, 10});
    const auto frame = static_cast<std::size_t>(2 * p.frame_samples);
    const std::size_t frames = music.size() / frame;
    std::array<std::byte, 1500> packet{};
    const auto encode = [&](std::size_t f) {
        enc.encode(std::span<const float>(music).subspan(f * frame, frame), packet);
    };
    for (std::size_t f = 0; f < std::min<std::size_t>(frames, 50); ++f) // encoder state settles
        encode(f);
    std::vector<double> passes;
    for (int pass = 0; pass < k_passes && frames > 0; ++pass) {
        const auto t0 = clock_type::now();
        for (std::size_t f = 0; f < frames; ++f)
            encode(f);
        passes.push_back(us_since(t0) / static_cast<double>(frames));
    }
    return median(passes);
}

double measure_send() {
    constexpr int k_receivers = 8;
    constexpr int k_batch = 64;
    constexpr int k_batches = 200; // per pass
    constexpr std::size_t k_size = 100;
    udp_socket sender;
    std::vector<std::unique_ptr<udp_socket>> receivers;
    std::vector<sockaddr_in> addrs(k_receivers);
    for (int i = 0; i < k_receivers; ++i) {
        receivers.push_back(std::make_unique<udp_socket>());
        sockaddr_in& a = addrs[static_cast<std::size_t>(i)];
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = 0;
        socklen_t len = sizeof a;
        if (::bind(receivers.back()->fd(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
            ::getsockname(receivers.back()->fd(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
            throw std::system_error(errno, std::generic_category(), "bind loopback receiver");
    }
    std::vector<std::array<std::byte, k_size>> bufs(k_batch);
    std::vector<iovec> iovs(k_batch);
    std::vector<mmsghdr> msgs(k_batch);
    for (int i = 0; i < k_batch; ++i) {
        const auto u = static_cast<std::size_t>(i);
        for (std::size_t b = 0; b < k_size; ++b)
            bufs[u][b] = static_cast<std::byte>((b * 31 + u * 7) & 0xff);
        iovs[u] = {bufs[u].data(), k_size};
        msgs[u] = {};
        msgs[u].msg_hdr.msg_name = &addrs[u % k_receivers];
        msgs[u].msg_hdr.msg_namelen = sizeof(sockaddr_in);
        msgs[u].msg_hdr.msg_iov = &iovs[u];
        msgs[u].msg_hdr.msg_iovlen = 1;
    }
    std::array<std::byte, 2048> rx{};
    const auto drain = [&] {
        for (const auto& r : receivers)
            while (::recv(r->fd(), rx.data(), rx.size(), MSG_DONTWAIT) > 0) {
            }
    };
    std::vector<double> passes;
    for (int pass = 0; pass < k_passes; ++pass) {
        double us = 0;
        std::size_t sent_total = 0;
        for (int b = 0; b < k_batches; ++b) {
            const auto t0 = clock_type::now();
            int done = 0;
            while (done < k_batch) {
                const int sent = ::sendmmsg(sender.fd(), msgs.data() + done,
                                            static_cast<unsigned>(k_batch - done), 0);
                if (sent <= 0) {
                    if (errno == EINTR)
                        continue;
                    throw std::system_error(errno, std::generic_category(), "sendmmsg");
                }
                done += sent;
            }
            us += us_since(t0);
            sent_total += k_batch;
            // Full receive queues would drop datagrams early and make sending look cheap.
            drain();
        }
        passes.push_back(us / static_cast<double>(sent_total));
    }
    return median(passes);
}

double measure_mix_minus(const unit_cost_params& p) {
    // The engine's own mixer: every GM section in use (the worst case for an own mix), personal
    // levels that differ per player, the own voice removed, the click added.
    constexpr int k_players = 64;
    constexpr int k_frames = 100; // per pass
    const int n = p.frame_samples;
    const auto un = static_cast<std::size_t>(n);
    std::uint32_t x = 12345;
    const auto next = [&x] {
        x = x * 1664525u + 1013904223u;
        return static_cast<float>(x >> 8) / 16777216.0f - 0.5f;
    };
    std::vector<float> stems(2 * k_players * un);
    for (float& v : stems)
        v = 0.2f * next();
    render::section_buses buses(render::k_max_frame_samples);
    buses.clear(n);
    for (int pl = 0; pl < k_players; ++pl) {
        const float* l = stems.data() + 2 * static_cast<std::size_t>(pl) * un;
        buses.add(pl % render::k_sections, l, l + un, 1.0f, n);
    }
    std::vector<render::mix_profile> profiles(k_players);
    for (auto& prof : profiles) {
        prof = render::mix_profile::uniform(0.7f, 0.0f);
        for (float& v : prof.section_level)
            v = 0.5f + next();
    }
    std::vector<float> click(un, 0.0f), out(2 * un);
    volatile float sink = 0;
    std::vector<double> passes;
    for (int pass = 0; pass < k_passes; ++pass) {
        const auto t0 = clock_type::now();
        for (int f = 0; f < k_frames; ++f)
            for (int pl = 0; pl < k_players; ++pl) {
                const float* l = stems.data() + 2 * static_cast<std::size_t>(pl) * un;
                render::build_own_mix(buses, profiles[static_cast<std::size_t>(pl)],
                                      {pl % render::k_sections, 1.0f, l, l + un}, 0.7f, click, {},
                                      out);
                sink = sink + out[static_cast<std::size_t>(pl)];
            }
        passes.push_back(us_since(t0) / (k_frames * k_players));
    }
    return median(passes);
}

unit_costs measure_unit_costs(const unit_cost_params& p) {
    unit_costs c;
    std::vector<float> music;
    c.synth_us_per_voice_frame = measure_synth(p, c.synth_voices, &music);
    c.encode_complexity = p.complexity;
    c.encode_us_per_stream_frame = measure_encode(p, p.complexity, music);
    c.encode_us_per_stream_frame_c0 = measure_encode(p, 0, music);
    c.send_us_per_datagram = measure_send();
    c.mix_us_per_player_frame = measure_mix_minus(p);
    return c;
}

} // namespace gno::bench
