// Performers' own instruments and the node's soundfonts, end to end: a real gno-server, a
// performer joined over the WebSocket who uploads WAV samples with a key map over HTTP
// (POST /api/instrument, multipart) and plays from a raw UDP session with the id it was given;
// what it receives is decoded with libopus and analysed (pitch, presence, decay). Bad uploads are
// answered without disturbing a second player, and bad soundfonts stop the server with one line.
#include "e2e_support.hpp"
#include "gno/test/raw_http.hpp"
#include "gno/test/ws_client.hpp"
#include "raw_session.hpp"

#include <arpa/inet.h>
#include <fstream>
#include <netinet/in.h>
#include <opus/opus.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef GNO_TEST_SF2
#error "GNO_TEST_SF2 must name the project's test soundfont"
#endif

namespace gno::e2e {
namespace {

constexpr int k_rate = 48000;
using nlohmann::json;
using test::ws_client;
using clock_type = std::chrono::steady_clock;

struct node {
    server_process srv;
    std::uint16_t control = 0;
};

node start_node(const test::temp_dir& dir, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--join-code",      "performer:play-code:0",
                                  "--join-code",      "conductor:lead-code",
                                  "--instrument-dir", (dir / "instruments").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    node n{start_server(dir, args), 0};
    const auto port = wait_for_line(n.srv.log, "control on tcp [0-9.]+:([0-9]+)");
    if (port)
        n.control = static_cast<std::uint16_t>(std::stoi(*port));
    return n;
}

// ---- HTTP, by hand (gno/test/raw_http.hpp): what a client sends is exactly what the test says.

using test::http_answer;
using test::http_exchange;

constexpr const char* k_boundary = "gnoTestBoundary7";

struct form {
    std::string body;
    void field(const std::string& name, const std::string& value) {
        body += std::string("--") + k_boundary + "\r\nContent-Disposition: form-data; name=\"" +
                name + "\"\r\n\r\n" + value + "\r\n";
    }
    void file(const std::string& name, const std::vector<std::byte>& bytes) {
        body += std::string("--") + k_boundary + "\r\nContent-Disposition: form-data; name=\"" +
                name + "\"; filename=\"" + name + "\"\r\nContent-Type: audio/wav\r\n\r\n";
        body.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        body += "\r\n";
    }
    std::string done() const { return body + "--" + k_boundary + "--\r\n"; }
};

std::string bearer(const json& welcome) {
    return "Authorization: Bearer " + std::to_string(welcome["player"].get<std::uint32_t>()) + ":" +
           welcome["session_key"].get<std::string>() + "\r\n";
}

http_answer upload(std::uint16_t control, const std::string& auth, const std::string& body) {
    return http_exchange(control,
                         "POST /api/instrument HTTP/1.1\r\n" + auth +
                             "Content-Type: multipart/form-data; boundary=" + k_boundary +
                             "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n",
                         body);
}

/// A sine WAV (16-bit mono, 48 kHz): what a performer records.
std::vector<std::byte> sine_wav(double hz, double seconds) {
    test::audio_clip c;
    c.sample_rate = k_rate;
    c.channels = 1;
    c.samples.resize(static_cast<std::size_t>(seconds * k_rate));
    for (std::size_t n = 0; n < c.samples.size(); ++n)
        c.samples[n] = 0.5f * static_cast<float>(std::sin(2.0 * std::numbers::pi * hz *
                                                          static_cast<double>(n) / k_rate));
    return test::encode_wav(c, test::wav_sample_format::pcm16);
}

// A 330 Hz tone whose loop (the last 0.9 s of a second) holds whole periods, with root key 64.
std::string tone_upload() {
    form f;
    f.field("map", R"({"name":"Sine E","samples":[{"file":"e4.wav","root":64,"lo":0,"hi":127,
                      "loop":true,"loop_start":4800,"loop_end":48000}]})");
    f.file("e4.wav", sine_wav(330.0, 1.0));
    return f.done();
}

// ---- The player's side: key states out, frames in (with the time each arrived), decoding.

struct player {
    raw_session s;
    std::map<std::int64_t, clock_type::time_point> arrived; // render sample -> arrival
    player(std::uint16_t port, std::uint32_t id, int key) : s(port, id, key) {}

    void run_for(std::chrono::milliseconds d) {
        const auto until = clock_type::now() + d;
        while (clock_type::now() < until) {
            s.send_state();
            for (int i = 0; i < 4; ++i) {
                pollfd fd{s.fd(), POLLIN, 0};
                ::poll(&fd, 1, 5);
                s.receive();
                const auto now = clock_type::now();
                for (auto it = s.frames.rbegin(); it != s.frames.rend(); ++it) {
                    if (arrived.contains(it->first))
                        break;
                    arrived[it->first] = now;
                }
            }
        }
    }
    [[nodiscard]] std::int64_t last() const {
        return s.frames.empty() ? 0 : s.frames.rbegin()->first;
    }
    /// Mono decode of the frames in [from, to) (render samples), with the render sample of each
    /// decoded sample's frame start.
    std::vector<float> decode(std::int64_t from, std::int64_t to,
                              std::vector<std::int64_t>* starts = nullptr) const {
        int err = 0;
        OpusDecoder* dec = opus_decoder_create(k_rate, 2, &err);
        std::vector<float> out;
        std::array<float, 2 * 960> pcm{};
        for (auto it = s.frames.lower_bound(from); it != s.frames.end() && it->first < to; ++it) {
            const auto& bytes = it->second.second;
            const int n =
                opus_decode_float(dec, reinterpret_cast<const unsigned char*>(bytes.data()),
                                  static_cast<opus_int32>(bytes.size()), pcm.data(), 960, 0);
            for (int i = 0; i < n; ++i) {
                out.push_back(0.5f * (pcm[2 * static_cast<std::size_t>(i)] +
                                      pcm[2 * static_cast<std::size_t>(i) + 1]));
                if (starts)
                    starts->push_back(it->first);
            }
        }
        opus_decoder_destroy(dec);
        return out;
    }
};

std::optional<double> metric(std::uint16_t control, const std::string& name) {
    const auto a = http_exchange(control, "GET /metrics HTTP/1.1\r\n", "");
    const auto at = a.body.find("\n" + name + " ");
    if (at == std::string::npos)
        return std::nullopt;
    return std::stod(a.body.substr(at + name.size() + 2));
}

// Plays `key` in strikes (held 400 ms, 100 ms off) from the moment `from` on and finds when a
// sustained `hz` is first heard; the delay from `from` to the arrival of that audio.
std::optional<std::chrono::milliseconds> first_heard(player& p, int key, double hz,
                                                     clock_type::time_point from,
                                                     std::chrono::milliseconds within) {
    const std::int64_t r0 = p.last();
    while (clock_type::now() - from < within) {
        p.s.set_key(key);
        p.run_for(400ms);
        p.s.set_key(-1);
        p.run_for(100ms);
    }
    std::vector<std::int64_t> starts;
    const auto mono = p.decode(r0, p.last() + 1, &starts);
    // The first onset whose next 100 ms hold the tone: when the frame it starts in arrived.
    const auto onsets = test::detect_onsets(mono, k_rate);
    for (const double t : onsets) {
        const auto seg = test::slice_seconds(mono, k_rate, t + 0.02, t + 0.12);
        if (test::tone_level_db(seg, k_rate, hz, hz * 0.01) < -3.0)
            continue;
        const auto it = p.arrived.find(
            starts[std::min(starts.size() - 1, static_cast<std::size_t>(t * k_rate))]);
        if (it == p.arrived.end())
            continue;
        return std::chrono::duration_cast<std::chrono::milliseconds>(
            std::max(it->second - from, clock_type::duration::zero()));
    }
    return std::nullopt;
}

// The whole life of a performer's instrument: before it the performer's drum kit has nothing on
// key 64; a 330 Hz sample uploaded with root key 64 is heard on key 64 within 5 s of the
// response (measured: the arrival of the first decoded audio holding it), an octave up on 76;
// DELETE brings the kit back; a second upload, then the performer leaving, frees it all.
TEST(Instruments, AnUploadedSampleIsPlayedAcrossTheKeyboardWithinFiveSeconds) {
    test::temp_dir dir("gno-e2e-instrument");
    auto n = start_node(dir, {"--soundfont", GNO_TEST_SF2});
    ASSERT_NE(n.control, 0);
    auto perf = std::make_unique<ws_client>(n.control);
    const json w = perf->join("play-code", "performer", "Ann");
    ASSERT_EQ(w["type"], "welcome");
    player p(n.srv.port, w["player"].get<std::uint32_t>(), 64);
    p.s.set_instrument(128, 0); // the test kit: nothing on key 64
    p.run_for(1000ms);
    const auto before = p.decode(p.last() - k_rate / 2, p.last() + 1);
    ASSERT_GT(before.size(), 20000u) << "no stream before the upload";
    EXPECT_LT(test::rms_dbfs(before), -60.0) << "key 64 sounded on the kit before the upload";
    p.s.set_key(-1); // let go: the first strike after the response is a new note
    p.run_for(200ms);

    const auto sent = clock_type::now();
    const auto a = upload(n.control, bearer(w), tone_upload());
    const auto answered = clock_type::now();
    ASSERT_EQ(a.status, 200) << a.body;
    const json reply = json::parse(a.body);
    EXPECT_EQ(reply["type"], "instrument");
    EXPECT_EQ(reply["player"], w["player"]);
    EXPECT_EQ(reply["zones"].size(), 1u);
    std::cout << "[ measure  ] upload to response: "
              << std::chrono::duration_cast<std::chrono::milliseconds>(answered - sent).count()
              << " ms (built in " << reply["build_ms"].get<double>() << " ms, "
              << reply["sf2_bytes"] << " SF2 bytes)\n";

    const auto heard = first_heard(p, 64, 330.0, answered, 2500ms);
    ASSERT_TRUE(heard) << "330 Hz never heard on key 64 after the upload";
    EXPECT_LT(*heard, 5000ms);
    std::cout << "[ measure  ] response to 330 Hz heard on key 64: " << heard->count() << " ms\n";

    // Held, key 64 is the sample at its root; key 76 an octave up.
    for (const auto& [key, hz] : {std::pair{64, 330.0}, std::pair{76, 660.0}}) {
        p.s.set_key(-1);
        p.run_for(200ms);
        p.s.set_key(key);
        const std::int64_t from = p.last();
        p.run_for(1200ms);
        const auto held = p.decode(from + k_rate / 4, p.last());
        const auto f = test::estimate_pitch_hz(held, k_rate, 100.0, 1500.0);
        ASSERT_TRUE(f) << "key " << key << " has no pitch";
        EXPECT_NEAR(*f, hz, hz * 0.01) << "key " << key;
        std::cout << "[ measure  ] key " << key << ": " << *f << " Hz\n";
    }

    // DELETE: the kit again, and the instrument freed.
    const auto d = http_exchange(n.control, "DELETE /api/instrument HTTP/1.1\r\n" + bearer(w), "");
    EXPECT_EQ(d.status, 200) << d.body;
    p.s.set_key(-1);
    p.run_for(300ms);
    p.s.set_key(64);
    const std::int64_t after_delete = p.last();
    p.run_for(1000ms);
    EXPECT_LT(test::rms_dbfs(p.decode(after_delete + k_rate / 4, p.last())), -60.0)
        << "still the uploaded instrument after DELETE";
    // Freed once FluidSynth has reused the voices that played it: the next notes of the bank
    // (four overlapping strikes of the test tone take its four lowest voices).
    p.s.set_instrument(0, 0);
    for (const int key : {60, 62, 64, 65}) {
        p.s.set_key(key);
        p.run_for(60ms);
    }
    p.s.set_key(-1);
    EXPECT_TRUE(test::wait_for(
        [&] {
            p.run_for(100ms);
            return metric(n.control, "gno_instruments_bytes") == 0.0;
        },
        3s))
        << "the instrument was not freed";

    // Uploaded again, then the performer leaves: freed with it (never played: at once).
    ASSERT_EQ(upload(n.control, bearer(w), tone_upload()).status, 200);
    EXPECT_GT(metric(n.control, "gno_instruments_bytes").value_or(0), 0.0);
    p.run_for(300ms);
    perf.reset();
    EXPECT_TRUE(
        test::wait_for([&] { return metric(n.control, "gno_instruments_bytes") == 0.0; }, 3s))
        << "the instrument outlived its performer";
    EXPECT_TRUE(std::filesystem::is_empty(dir / "instruments")) << "SF2 files left behind";
    EXPECT_EQ(metric(n.control, "gno_instruments_built_total"), 2.0);
}

// Bad uploads get a clear refusal - a lying WAV header a 400 naming the chunk, no credentials
// 401, someone else's 403, a 2 GB Content-Length 413 before a byte of it is sent - while a
// second player's note plays on, every frame of it.
TEST(Instruments, BadUploadsAreRefusedAndThePerformanceGoesOn) {
    test::temp_dir dir("gno-e2e-instrument-bad");
    auto n = start_node(dir, {"--soundfont", GNO_TEST_SF2});
    ASSERT_NE(n.control, 0);
    ws_client ann(n.control), bob(n.control), lead(n.control);
    const json wa = ann.join("play-code", "performer", "Ann");
    const json wb = bob.join("play-code", "performer", "Bob");
    const json wl = lead.join("lead-code", "conductor", "Maestro");
    ASSERT_EQ(wa["type"], "welcome");
    ASSERT_EQ(wb["type"], "welcome");
    ASSERT_EQ(wl["type"], "welcome");
    player b(n.srv.port, wb["player"].get<std::uint32_t>(), 69); // the test tone, 440 Hz
    b.run_for(1000ms);
    const std::int64_t start = b.last();

    int refused = 0;
    auto expect_refusal = [&](const http_answer& a, int status, const std::string& words) {
        ++refused;
        EXPECT_EQ(a.status, status) << a.body;
        EXPECT_NE(a.body.find(words), std::string::npos) << a.body;
        b.run_for(300ms); // the player plays on in between
    };

    form lying;
    lying.field("map", R"({"samples":[{"file":"a.wav","root":64}]})");
    auto wav = sine_wav(330.0, 0.5);
    const std::string as_text(reinterpret_cast<const char*>(wav.data()), wav.size());
    const auto data_at = as_text.find("data");
    ASSERT_NE(data_at, std::string::npos);
    for (int i = 0; i < 4; ++i) // the data chunk says 64 MiB
        wav[data_at + 4 + static_cast<std::size_t>(i)] =
            static_cast<std::byte>((64u << 20) >> (8 * i));
    lying.file("a.wav", wav);
    expect_refusal(upload(n.control, bearer(wa), lying.done()), 400, "a.wav: chunk 'data' says");

    expect_refusal(upload(n.control, "", tone_upload()), 401, "Authorization: Bearer");
    auto wrong = wa;
    wrong["session_key"] = std::string(32, '0');
    expect_refusal(upload(n.control, bearer(wrong), tone_upload()), 403, "bad_session");
    expect_refusal(upload(n.control, bearer(wl), tone_upload()), 403, "only a performer");

    // 2 GB announced, nothing sent: refused from the header alone, at once.
    const auto big = http_exchange(n.control,
                                   "POST /api/instrument HTTP/1.1\r\n" + bearer(wa) +
                                       "Content-Type: multipart/form-data; boundary=x\r\n"
                                       "Content-Length: 2147483648\r\n",
                                   "", 5s);
    expect_refusal(big, 413, "too_large");
    EXPECT_LT(big.took, 2000ms) << "the 413 waited for a body";
    std::cout << "[ measure  ] 2 GB Content-Length refused in " << big.took.count() << " ms\n";
    // Chunked: no length to check first, so not taken.
    expect_refusal(http_exchange(n.control,
                                 "POST /api/instrument HTTP/1.1\r\n" + bearer(wa) +
                                     "Transfer-Encoding: chunked\r\n",
                                 "5\r\nhello\r\n0\r\n\r\n"),
                   411, "Content-Length");

    b.run_for(500ms);
    const std::int64_t end = b.last();
    // The stream went on (loopback: a frame lost is a frame not rendered or not sent), and the
    // note sounds in every half second.
    const auto expected = static_cast<std::size_t>((end - start) / 240);
    const auto got = static_cast<std::size_t>(
        std::distance(b.s.frames.lower_bound(start), b.s.frames.upper_bound(end)));
    EXPECT_GE(got, expected * 95 / 100) << "frames missing while uploads were refused";
    for (std::int64_t r = start; r + k_rate / 2 <= end; r += k_rate / 2) {
        const auto seg = b.decode(r, r + k_rate / 2);
        EXPECT_GT(test::tone_level_db(seg, k_rate, 440.0, 5.0), -10.0) << "at " << r;
        EXPECT_GT(test::rms_dbfs(seg), -30.0) << "at " << r;
    }
    EXPECT_EQ(metric(n.control, "gno_instrument_uploads_refused_total"), double(refused));
    EXPECT_EQ(metric(n.control, "gno_instruments_bytes"), 0.0);
    n.srv.proc.signal(SIGINT);
    EXPECT_EQ(stopped_stat(n.srv.log, "ingress_overflows"), 0.0);
    EXPECT_EQ(stopped_stat(n.srv.log, "bad_packets"), 0.0);
}

// A soundfont that is not there, or cut short, or not an SF2 at all: exit status 2 and one line
// that names the file and the fix.
TEST(Instruments, AMissingOrCorruptSoundfontStopsTheServerWithOneLine) {
    test::temp_dir dir("gno-e2e-bad-sf2");
    {
        std::ifstream in(GNO_TEST_SF2, std::ios::binary);
        std::string whole((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        ASSERT_GT(whole.size(), 100000u);
        std::ofstream(dir / "cut.sf2", std::ios::binary).write(whole.data(), 100000);
        std::ofstream(dir / "text.sf2") << "not a soundfont\n";
    }
    const std::vector<std::pair<std::string, std::string>> cases = {
        {(dir / "missing.sf2").string(), "soundfont not found"},
        {(dir / "cut.sf2").string(), "truncated"},
        {(dir / "text.sf2").string(), "not an SF2 file"}};
    for (const auto& [path, words] : cases) {
        test::child_options o;
        o.stdout_file = dir / "out.log";
        o.stderr_file = dir / "err.log";
        std::filesystem::remove(dir / "err.log");
        test::child_process srv(GNO_SERVER_EXE, {"--port", "0", "--soundfont", path}, o);
        EXPECT_EQ(srv.wait_for_exit(20s), std::optional<int>(2)) << path;
        const auto err = test::read_file(dir / "err.log");
        EXPECT_NE(err.find(words), std::string::npos) << err;
        EXPECT_NE(err.find(path), std::string::npos) << err;
        EXPECT_NE(err.find("--soundfont"), std::string::npos) << err;
        EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    }
}

// Percussion is short and a sustained note is not (GM FluidR3): the snare (bank 128, key 38)
// struck five times decays 40 dB within 600 ms of each onset; a church organ (bank 0,
// program 19) held for 2 s does not decay at all while held.
TEST(Instruments, DrumsDecayShortAndAHeldOrganSustains) {
    test::temp_dir dir("gno-e2e-decay");
    auto srv = start_server(dir, {});
    ASSERT_NE(srv.port, 0);
    player p(srv.port, 0x7001, -1);
    p.s.set_instrument(128, 0);
    p.run_for(500ms);
    const std::int64_t drums_from = p.last();
    for (int i = 0; i < 5; ++i) {
        p.s.set_key(38);
        p.run_for(80ms);
        p.s.set_key(-1);
        p.run_for(720ms);
    }
    const auto drums = p.decode(drums_from, p.last());
    const auto onsets = test::detect_onsets(drums, k_rate);
    ASSERT_GE(onsets.size(), 5u) << "the snare was not heard five times";
    double longest = 0;
    for (const double t : onsets) {
        const auto hit = test::slice_seconds(drums, k_rate, t - 0.01, t + 0.75);
        const auto d = test::onset_to_decay_s(hit, k_rate, 40.0);
        ASSERT_TRUE(d) << "the snare at " << t << " s never decayed 40 dB";
        EXPECT_LT(*d, 0.6) << "the snare at " << t << " s";
        longest = std::max(longest, *d);
    }
    std::cout << "[ measure  ] snare onset to -40 dB, longest of " << onsets.size() << ": "
              << longest * 1000 << " ms\n";

    p.s.set_instrument(0, 19);
    p.run_for(300ms);
    const std::int64_t organ_from = p.last();
    p.s.set_key(60);
    p.run_for(2000ms);
    p.s.set_key(-1);
    p.run_for(1500ms);
    const auto organ = p.decode(organ_from, p.last());
    const auto onset = test::first_sample_above_dbfs(organ, -40.0);
    ASSERT_TRUE(onset) << "the organ was not heard";
    const double t0 = static_cast<double>(*onset) / k_rate;
    const auto held = test::slice_seconds(organ, k_rate, t0, t0 + 1.9);
    EXPECT_FALSE(test::onset_to_decay_s(held, k_rate, 40.0)) << "the held organ decayed";
    const auto whole = test::onset_to_decay_s(organ, k_rate, 40.0);
    ASSERT_TRUE(whole) << "the organ did not stop after its release";
    EXPECT_GT(*whole, 1.9);
    std::cout << "[ measure  ] organ held 2 s: onset to -40 dB " << *whole * 1000 << " ms\n";
}

} // namespace
} // namespace gno::e2e
