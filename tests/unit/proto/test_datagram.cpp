#include "gno/proto/v1/datagram.hpp"

#include <algorithm>
#include <cmath>
#include <gtest/gtest.h>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace v1 = gno::proto::v1;
using bytes = std::vector<std::byte>;

namespace {

v1::key_state chord() {
    v1::key_state s;
    s.bank = 0;
    s.program = 40;
    s.sustain = 64;
    s.expression = 100;
    s.rtt_us = 123456;
    s.loss_permille = 25;
    s.held_count = 3;
    s.held[0] = {60, 90, 1'000'000'123, 48'000};
    s.held[1] = {64, 91, -5, 0};
    s.held[2] = {67, 127, 9'000'000'000'000, 1'234'567'890};
    s.released_count = 1;
    s.released[0] = {72, 777, 888};
    s.flags = v1::k_solo_request;
    return s;
}

v1::header hdr(std::uint32_t seq = 7) {
    v1::header h;
    h.session_id = 0xDEADBEEF;
    h.sequence = seq;
    h.timestamp_ns = -42;
    return h;
}

bytes encode_ok(const v1::key_state& s) {
    bytes out(v1::k_max_datagram);
    std::error_code ec;
    auto n = v1::encode(hdr(), s, out, ec);
    EXPECT_FALSE(ec) << ec.message();
    out.resize(n);
    return out;
}

void set_u8(bytes& b, std::size_t off, std::uint8_t v) {
    b.at(off) = std::byte{v};
}

} // namespace

TEST(KeyState, RoundTripsEveryField) {
    auto in = chord();
    auto wire = encode_ok(in);
    EXPECT_EQ(wire.size(), v1::k_header_size + 14 + 3 * 18 + 1 * 17);
    v1::header h;
    v1::key_state out;
    ASSERT_FALSE(v1::decode(wire, h, out));
    EXPECT_EQ(h.type, v1::packet_type::key_state);
    EXPECT_EQ(h.session_id, 0xDEADBEEFu);
    EXPECT_EQ(h.sequence, 7u);
    EXPECT_EQ(h.timestamp_ns, -42);
    EXPECT_EQ(out.program, 40);
    EXPECT_EQ(out.sustain, 64);
    EXPECT_EQ(out.expression, 100);
    EXPECT_EQ(out.rtt_us, 123456u);
    EXPECT_EQ(out.loss_permille, 25);
    ASSERT_EQ(out.held_count, 3);
    EXPECT_EQ(out.held[2].key, 67);
    EXPECT_EQ(out.held[2].velocity, 127);
    EXPECT_EQ(out.held[2].t_sync_ns, 9'000'000'000'000);
    EXPECT_EQ(out.held[2].r_heard, 1'234'567'890);
    EXPECT_EQ(out.held[1].t_sync_ns, -5);
    ASSERT_EQ(out.released_count, 1);
    EXPECT_EQ(out.released[0].key, 72);
    EXPECT_EQ(out.released[0].r_heard, 888);
    EXPECT_EQ(out.flags, v1::k_solo_request);
}

TEST(KeyState, ArticulationFlagRoundTripsAndUnknownBitsPass) {
    // The short articulation is a flag bit beside the solo request: the same wire format, so
    // an older server reads the state and plays the notes sustained.
    auto in = chord();
    in.flags = v1::k_solo_request | v1::k_short_articulation;
    auto wire = encode_ok(in);
    EXPECT_EQ(wire.size(), v1::k_header_size + 14 + 3 * 18 + 1 * 17);
    v1::header h;
    v1::key_state out;
    ASSERT_FALSE(v1::decode(wire, h, out));
    EXPECT_EQ(out.flags, v1::k_solo_request | v1::k_short_articulation);
    // Bits a later version may define are carried, not refused: receivers ignore them.
    in.flags = 0xFC | v1::k_short_articulation;
    wire = encode_ok(in);
    ASSERT_FALSE(v1::decode(wire, h, out));
    EXPECT_EQ(out.flags, 0xFE);
    EXPECT_FALSE(out.flags & v1::k_solo_request);
}

TEST(KeyState, HeaderIsBigEndian) {
    auto wire = encode_ok(chord());
    EXPECT_EQ(wire[0], std::byte{'G'});
    EXPECT_EQ(wire[1], std::byte{'N'});
    EXPECT_EQ(wire[2], std::byte{'O'});
    EXPECT_EQ(wire[3], std::byte{'!'});
    EXPECT_EQ(wire[4], std::byte{1});
    EXPECT_EQ(wire[8], std::byte{0xDE});
    EXPECT_EQ(wire[11], std::byte{0xEF});
}

TEST(KeyState, FullStateFitsOneDatagram) {
    v1::key_state s;
    s.held_count = v1::k_max_held;
    for (std::uint8_t i = 0; i < v1::k_max_held; ++i)
        s.held[i] = {static_cast<std::uint8_t>(30 + i), 80, 1, 2};
    s.released_count = v1::k_max_released;
    for (std::uint8_t i = 0; i < v1::k_max_released; ++i)
        s.released[i] = {static_cast<std::uint8_t>(70 + i), 3, 4};
    auto wire = encode_ok(s);
    EXPECT_LE(wire.size(), v1::k_max_datagram);
    v1::header h;
    v1::key_state out;
    EXPECT_FALSE(v1::decode(wire, h, out));
    EXPECT_EQ(out.held_count, v1::k_max_held);
}

TEST(KeyState, EveryTruncationIsRejectedWithoutTouchingOutput) {
    auto wire = encode_ok(chord());
    for (std::size_t n = 0; n < wire.size(); ++n) {
        v1::header h;
        v1::key_state out;
        out.program = 99;
        auto ec = v1::decode(std::span(wire).first(n), h, out);
        EXPECT_TRUE(ec) << "length " << n;
        EXPECT_EQ(out.program, 99) << "output changed on error at length " << n;
    }
}

TEST(KeyState, TrailingBytesAreRejected) {
    auto wire = encode_ok(chord());
    wire.push_back(std::byte{0});
    v1::header h;
    v1::key_state out;
    EXPECT_EQ(v1::decode(wire, h, out), v1::errc::bad_length);
}

TEST(KeyState, WrongMagicVersionType) {
    auto good = encode_ok(chord());
    v1::header h;
    v1::key_state out;
    auto b = good;
    set_u8(b, 0, 'X');
    EXPECT_EQ(v1::decode(b, h, out), v1::errc::bad_magic);
    b = good;
    set_u8(b, 4, 2);
    EXPECT_EQ(v1::decode(b, h, out), v1::errc::bad_version);
    b = good;
    set_u8(b, 5, 9);
    EXPECT_EQ(v1::decode(b, h, out), v1::errc::bad_type);
    b = good;
    set_u8(b, 5, static_cast<std::uint8_t>(v1::packet_type::clock_ping));
    EXPECT_TRUE(v1::decode(b, h, out)); // a key state is not a ping
    v1::audio_frame af;
    EXPECT_EQ(v1::decode(good, h, af), v1::errc::bad_type);
}

TEST(KeyState, OversizeCountsAreRejected) {
    auto b = encode_ok(chord());
    // held_count lives at payload offset 11.
    set_u8(b, v1::k_header_size + 11, v1::k_max_held + 1);
    v1::header h;
    v1::key_state out;
    EXPECT_EQ(v1::decode(b, h, out), v1::errc::too_many_keys);
    b = encode_ok(chord());
    set_u8(b, v1::k_header_size + 12, 255);
    EXPECT_EQ(v1::decode(b, h, out), v1::errc::too_many_keys);
}

TEST(KeyState, CountDisagreeingWithLengthIsRejected) {
    auto b = encode_ok(chord());
    set_u8(b, v1::k_header_size + 11, 2); // claims 2 held keys, carries 3
    v1::header h;
    v1::key_state out;
    EXPECT_EQ(v1::decode(b, h, out), v1::errc::bad_length);
}

TEST(KeyState, DuplicateKeysAreRejected) {
    auto s = chord();
    s.held[1].key = s.held[0].key;
    bytes out(v1::k_max_datagram);
    std::error_code ec;
    EXPECT_EQ(v1::encode(hdr(), s, out, ec), 0u);
    EXPECT_EQ(ec, v1::errc::duplicate_key);
    // And the decoder refuses the same thing made by hand.
    auto b = encode_ok(chord());
    set_u8(b, v1::k_header_size + 14 + 18, 60); // second held key := 60
    v1::header h;
    v1::key_state st;
    EXPECT_EQ(v1::decode(b, h, st), v1::errc::duplicate_key);
}

TEST(KeyState, KeyAndVelocityRanges) {
    auto b = encode_ok(chord());
    v1::header h;
    v1::key_state st;
    auto k = b;
    set_u8(k, v1::k_header_size + 14, 128);
    EXPECT_EQ(v1::decode(k, h, st), v1::errc::bad_key);
    auto v = b;
    set_u8(v, v1::k_header_size + 15, 0);
    EXPECT_EQ(v1::decode(v, h, st), v1::errc::bad_velocity);
    v = b;
    set_u8(v, v1::k_header_size + 15, 200);
    EXPECT_EQ(v1::decode(v, h, st), v1::errc::bad_velocity);
    auto p = b;
    set_u8(p, v1::k_header_size + 2, 128); // program
    EXPECT_EQ(v1::decode(p, h, st), v1::errc::bad_value);
}

TEST(Datagram, OversizeAndForeign) {
    bytes big(v1::k_max_datagram + 1);
    v1::header h;
    std::span<const std::byte> payload;
    EXPECT_EQ(v1::decode_header(big, h, payload), v1::errc::oversize);
    bytes junk = {std::byte{1}, std::byte{2}, std::byte{3}};
    EXPECT_EQ(v1::decode_header(junk, h, payload), v1::errc::truncated);
    bytes zeros(64);
    EXPECT_EQ(v1::decode_header(zeros, h, payload), v1::errc::bad_magic);
}

TEST(AudioFrame, RoundTripViewsPayload) {
    bytes opus(77);
    for (std::size_t i = 0; i < opus.size(); ++i)
        opus[i] = std::byte(i * 3);
    v1::audio_frame f;
    f.render_sample = 48'000LL * 3600 * 30;
    f.frame_samples = 240;
    f.channels = 2;
    f.mix_id = 5;
    f.opus = opus;
    bytes out(v1::k_max_datagram);
    std::error_code ec;
    auto n = v1::encode(hdr(9), f, out, ec);
    ASSERT_FALSE(ec);
    out.resize(n);
    v1::header h;
    v1::audio_frame g;
    ASSERT_FALSE(v1::decode(out, h, g));
    EXPECT_EQ(h.sequence, 9u);
    EXPECT_EQ(g.render_sample, f.render_sample);
    EXPECT_EQ(g.frame_samples, 240);
    EXPECT_EQ(g.mix_id, 5u);
    ASSERT_EQ(g.opus.size(), opus.size());
    EXPECT_TRUE(std::equal(g.opus.begin(), g.opus.end(), opus.begin()));
    EXPECT_GE(g.opus.data(), out.data());
    EXPECT_LT(g.opus.data(), out.data() + out.size());
}

TEST(AudioFrame, RejectsOversizeOpusAndBadShape) {
    bytes opus(v1::k_max_opus_bytes + 1, std::byte{1});
    v1::audio_frame f;
    f.frame_samples = 240;
    f.opus = opus;
    bytes out(2000);
    std::error_code ec;
    EXPECT_EQ(v1::encode(hdr(), f, out, ec), 0u);
    EXPECT_EQ(ec, v1::errc::bad_length);
    f.opus = std::span(opus).first(10);
    f.frame_samples = 100;
    EXPECT_EQ(v1::encode(hdr(), f, out, ec), 0u);
    EXPECT_EQ(ec, v1::errc::bad_value);
    f.frame_samples = 240;
    bytes tiny(20);
    EXPECT_EQ(v1::encode(hdr(), f, tiny, ec), 0u);
    EXPECT_EQ(ec, v1::errc::buffer_too_small);
}

TEST(Clock, PingPongRoundTrip) {
    bytes out(100);
    std::error_code ec;
    auto n = v1::encode(hdr(), v1::clock_pong{1, -2, 3}, out, ec);
    ASSERT_EQ(n, v1::k_header_size + 24);
    v1::header h;
    v1::clock_pong p;
    ASSERT_FALSE(v1::decode(std::span(out).first(n), h, p));
    EXPECT_EQ(p.t0_ns, 1);
    EXPECT_EQ(p.t1_ns, -2);
    EXPECT_EQ(p.t2_ns, 3);
    n = v1::encode(hdr(), v1::clock_ping{77}, out, ec);
    v1::clock_ping q;
    ASSERT_FALSE(v1::decode(std::span(out).first(n), h, q));
    EXPECT_EQ(q.t0_ns, 77);
    EXPECT_TRUE(v1::decode(std::span(out).first(n - 1), h, q));
}

TEST(Errors, HaveReadableMessages) {
    std::error_code ec = v1::errc::duplicate_key;
    EXPECT_EQ(std::string(ec.category().name()), "gno.proto");
    EXPECT_NE(ec.message().find("duplicate"), std::string::npos);
}

TEST(PlayerInfo, RoundTripAndRanges) {
    v1::player_info in;
    in.mode = v1::timing_mode::one_cycle;
    in.flags = 1;
    in.advance_ns = 123'456'789;
    in.cycle_beats = 16;
    in.tempo_milli_bpm = 100'000;
    in.cycle_origin = 480'000;
    in.piece_start = 960'000;
    in.soloist_session = 77;
    in.solo_start = 1'440'000;
    in.late_events = 3;
    in.change_at = 2'000'000;
    in.next_tempo_milli_bpm = 120'000;
    in.next_cycle_beats = 12;
    bytes out(v1::k_max_datagram);
    std::error_code ec;
    const auto n = v1::encode(hdr(), in, out, ec);
    ASSERT_EQ(n, v1::k_header_size + 62);
    v1::header h;
    v1::player_info got;
    ASSERT_FALSE(v1::decode(std::span(out).first(n), h, got));
    EXPECT_EQ(got.mode, v1::timing_mode::one_cycle);
    EXPECT_EQ(got.advance_ns, in.advance_ns);
    EXPECT_EQ(got.cycle_origin, in.cycle_origin);
    EXPECT_EQ(got.piece_start, in.piece_start);
    EXPECT_EQ(got.soloist_session, 77u);
    EXPECT_EQ(got.solo_start, in.solo_start);
    EXPECT_EQ(got.late_events, 3u);
    EXPECT_EQ(got.change_at, 2'000'000);
    EXPECT_EQ(got.next_tempo_milli_bpm, 120'000u);
    EXPECT_EQ(got.next_cycle_beats, 12);
    for (std::size_t cut = 0; cut < n; ++cut)
        EXPECT_TRUE(v1::decode(std::span(out).first(cut), h, got));
    out[v1::k_header_size] = std::byte{3}; // no such mode
    EXPECT_EQ(v1::decode(std::span(out).first(n), h, got), v1::errc::bad_value);
    in.next_cycle_beats = 0; // a planned change needs a cycle
    EXPECT_EQ(v1::encode(hdr(), in, out, ec), 0u);
    EXPECT_EQ(ec, v1::errc::bad_value);
    in.next_cycle_beats = 12;
    in.cycle_beats = 0;
    EXPECT_EQ(v1::encode(hdr(), in, out, ec), 0u);
    EXPECT_EQ(ec, v1::errc::bad_value);
}

TEST(Datagram, AnOpusSectionStemCarriesItsPacketAndRejectsBadFields) {
    bytes packet(300);
    for (std::size_t i = 0; i < packet.size(); ++i)
        packet[i] = static_cast<std::byte>((i * 7) & 0xFF);
    bytes out(v1::k_max_datagram);
    std::error_code ec;
    const auto n = v1::encode_opus_stem(hdr(), 48'000, 16, 240, true, packet, out, ec);
    ASSERT_EQ(n, v1::k_header_size + 16 + packet.size()) << ec.message();
    v1::header h;
    v1::section_stem got;
    ASSERT_FALSE(v1::decode(std::span(out).first(n), h, got));
    EXPECT_TRUE(got.opus());
    EXPECT_TRUE(got.opus_start());
    EXPECT_EQ(got.render_sample, 48'000);
    EXPECT_EQ(got.frame_samples, 240);
    EXPECT_EQ(got.section, 16);
    ASSERT_EQ(got.pcm.size(), packet.size());
    EXPECT_TRUE(std::equal(got.pcm.begin(), got.pcm.end(), packet.begin()));
    // Encoder: an Opus frame of another size, an empty or oversized packet.
    EXPECT_EQ(v1::encode_opus_stem(hdr(), 0, 0, 480, false, packet, out, ec), 0u);
    EXPECT_EQ(v1::encode_opus_stem(hdr(), 0, 0, 240, false, {}, out, ec), 0u);
    const bytes huge(v1::k_max_opus_bytes + 1);
    EXPECT_EQ(v1::encode_opus_stem(hdr(), 0, 0, 240, false, huge, out, ec), 0u);
    EXPECT_EQ(ec, v1::errc::bad_value);
    // Decoder: a scale with an Opus packet, an unknown flag, a frame size Opus stems do not use.
    bytes bad(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n));
    bad[v1::k_header_size + 12] = std::byte{0x3F};
    EXPECT_EQ(v1::decode(bad, h, got), v1::errc::bad_value);
    bad[v1::k_header_size + 12] = std::byte{0};
    bad[v1::k_header_size + 11] = std::byte{5};
    EXPECT_EQ(v1::decode(bad, h, got), v1::errc::bad_value);
    bad[v1::k_header_size + 11] = std::byte{2}; // a stream's start, yet not Opus
    EXPECT_EQ(v1::decode(bad, h, got), v1::errc::bad_value);
    bad[v1::k_header_size + 11] = std::byte{1};
    bad[v1::k_header_size + 9] = std::byte{200};
    EXPECT_EQ(v1::decode(bad, h, got), v1::errc::bad_value);
}

TEST(Datagram, SectionStemRoundTripsWithinQuantisationAndRejectsBadFields) {
    std::vector<float> left(240), right(240);
    for (std::size_t i = 0; i < left.size(); ++i) {
        left[i] = 1.7f * std::sin(0.05f * static_cast<float>(i)); // a bus may exceed full scale
        right[i] = -0.3f * std::cos(0.02f * static_cast<float>(i));
    }
    bytes out(v1::k_max_datagram);
    std::error_code ec;
    const auto n = v1::encode_stem(hdr(), 96'000, 14, left, right, out, ec);
    ASSERT_EQ(n, v1::k_header_size + 16 + 4 * 240) << ec.message();
    v1::header h;
    v1::section_stem got;
    ASSERT_FALSE(v1::decode(std::span(out).first(n), h, got));
    EXPECT_EQ(h.type, v1::packet_type::section_stem);
    EXPECT_EQ(got.render_sample, 96'000);
    EXPECT_EQ(got.frame_samples, 240);
    EXPECT_EQ(got.section, 14);
    for (std::size_t i = 0; i < left.size(); ++i) {
        // Half a step of 16 bits below the slice's peak (1.7).
        EXPECT_NEAR(got.sample(i, 0), left[i], 1.7f / 32767.0f) << i;
        EXPECT_NEAR(got.sample(i, 1), right[i], 1.7f / 32767.0f) << i;
    }
    for (std::size_t cut = 0; cut < n; ++cut)
        EXPECT_TRUE(v1::decode(std::span(out).first(cut), h, got));
    // A silent slice has scale 0 and decodes to zeros.
    std::vector<float> zeros(120, 0.0f);
    const auto z = v1::encode_stem(hdr(), 0, 0, zeros, zeros, out, ec);
    ASSERT_GT(z, 0u);
    ASSERT_FALSE(v1::decode(std::span(out).first(z), h, got));
    EXPECT_EQ(got.scale, 0.0f);
    EXPECT_EQ(got.sample(119, 1), 0.0f);
    // Encoder: too many samples, channels of different sizes, a non-finite sample.
    std::vector<float> big(v1::k_max_stem_samples + 1, 0.1f);
    EXPECT_EQ(v1::encode_stem(hdr(), 0, 0, big, big, out, ec), 0u);
    EXPECT_EQ(v1::encode_stem(hdr(), 0, 0, left, zeros, out, ec), 0u);
    left[3] = std::numeric_limits<float>::infinity();
    EXPECT_EQ(v1::encode_stem(hdr(), 0, 0, left, right, out, ec), 0u);
    EXPECT_EQ(ec, v1::errc::bad_value);
    // Decoder: a section out of range, a negative scale, a length that disagrees.
    const auto m = v1::encode_stem(hdr(), 0, 3, zeros, zeros, out, ec);
    ASSERT_GT(m, 0u);
    bytes bad(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(m));
    bad[v1::k_header_size + 10] = std::byte{40}; // section 40
    EXPECT_EQ(v1::decode(bad, h, got), v1::errc::bad_value);
    bad[v1::k_header_size + 10] = std::byte{3};
    bad[v1::k_header_size + 12] = std::byte{0xBF}; // scale -0.5f
    bad[v1::k_header_size + 13] = std::byte{0x00};
    EXPECT_EQ(v1::decode(bad, h, got), v1::errc::bad_value);
    bad[v1::k_header_size + 12] = std::byte{0x7F}; // scale 3.4e38: samples would be infinite
    bad[v1::k_header_size + 13] = std::byte{0x7F};
    EXPECT_EQ(v1::decode(bad, h, got), v1::errc::bad_value);
    bad[v1::k_header_size + 12] = std::byte{0};
    bad[v1::k_header_size + 13] = std::byte{0};
    bad[v1::k_header_size + 9] = std::byte{119}; // 119 samples declared, 120 carried
    EXPECT_EQ(v1::decode(bad, h, got), v1::errc::bad_length);
}

TEST(Datagram, TimingStateRoundTripsExactlyAndRejectsBadFields) {
    v1::timing_state in;
    in.version = 1'795'000'000'007; // a wall-clock ms
    in.origin = 2;
    in.mode = v1::timing_mode::one_cycle;
    in.tempo_bpm = 100.0 / 3.0; // not a round number: carried to the last bit
    in.cycle_beats = 12;
    in.cycle_origin = 1'234'567;
    in.piece_start = 1'234'567;
    in.change_at = 2'000'000;
    in.change_tempo_bpm = 132.5;
    in.change_cycle_beats = 8;
    in.piece = "Sinfonia \xc3\xa0 tre"; // UTF-8 is fine
    bytes out(v1::k_max_datagram);
    std::error_code ec;
    const auto n = v1::encode(hdr(), in, out, ec);
    ASSERT_EQ(n, v1::k_header_size + 59 + in.piece.size()) << ec.message();
    v1::header h;
    v1::timing_state got;
    ASSERT_FALSE(v1::decode(std::span(out).first(n), h, got));
    EXPECT_EQ(h.type, v1::packet_type::timing_state);
    EXPECT_EQ(got.version, in.version);
    EXPECT_EQ(got.origin, 2u);
    EXPECT_EQ(got.mode, v1::timing_mode::one_cycle);
    EXPECT_EQ(got.tempo_bpm, in.tempo_bpm);
    EXPECT_EQ(got.cycle_beats, 12);
    EXPECT_EQ(got.cycle_origin, in.cycle_origin);
    EXPECT_EQ(got.piece_start, in.piece_start);
    EXPECT_EQ(got.change_at, in.change_at);
    EXPECT_EQ(got.change_tempo_bpm, 132.5);
    EXPECT_EQ(got.change_cycle_beats, 8);
    EXPECT_EQ(got.piece, in.piece);
    for (std::size_t cut = 0; cut < n; ++cut)
        EXPECT_TRUE(v1::decode(std::span(out).first(cut), h, got)) << cut;

    // Encoder: every field out of range is refused, and nothing is written.
    auto refused = [&](auto change) {
        v1::timing_state m = in;
        change(m);
        return v1::encode(hdr(), m, out, ec) == 0 && ec == v1::errc::bad_value;
    };
    EXPECT_TRUE(refused([](auto& m) { m.version = 0; }));
    EXPECT_TRUE(refused([](auto& m) { m.mode = static_cast<v1::timing_mode>(3); }));
    EXPECT_TRUE(refused([](auto& m) { m.flags = 1; }));
    EXPECT_TRUE(refused([](auto& m) { m.tempo_bpm = std::nan(""); }));
    EXPECT_TRUE(refused([](auto& m) { m.tempo_bpm = 0.5; }));
    EXPECT_TRUE(refused([](auto& m) { m.tempo_bpm = 1000.5; }));
    EXPECT_TRUE(refused([](auto& m) { m.cycle_beats = 0; }));
    EXPECT_TRUE(refused([](auto& m) { m.cycle_beats = 257; }));
    EXPECT_TRUE(refused([](auto& m) { m.piece_start = -2; }));
    EXPECT_TRUE(refused([](auto& m) { m.cycle_origin = std::int64_t{1} << 60; }));
    EXPECT_TRUE(refused([](auto& m) { m.change_at = -2; }));
    EXPECT_TRUE(
        refused([](auto& m) { m.change_tempo_bpm = std::numeric_limits<double>::infinity(); }));
    EXPECT_TRUE(refused([](auto& m) { m.change_cycle_beats = 0; }));
    EXPECT_TRUE(refused([](auto& m) {
        m.change_at = -1; // no change planned, yet a planned tempo
    }));
    EXPECT_TRUE(refused([](auto& m) { m.piece = "line\nbreak"; }));
    const std::string long_name(v1::k_max_piece_name + 1, 'a');
    EXPECT_TRUE(refused([&](auto& m) { m.piece = long_name; }));
    in.change_at = -1;
    in.change_tempo_bpm = 0;
    in.change_cycle_beats = 0;
    in.piece = {};
    ASSERT_EQ(v1::encode(hdr(), in, out, ec), v1::k_header_size + 59);

    // Decoder: a name length that disagrees, a NaN tempo, a mode beyond one-cycle.
    const auto m = v1::encode(hdr(), in, out, ec);
    bytes bad(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(m));
    bad[v1::k_header_size + 58] = std::byte{1};
    EXPECT_EQ(v1::decode(bad, h, got), v1::errc::bad_length);
    bad[v1::k_header_size + 58] = std::byte{0};
    bytes nan_tempo = bad;
    for (std::size_t i = 0; i < 8; ++i)
        nan_tempo[v1::k_header_size + 14 + i] = std::byte{0xFF};
    EXPECT_EQ(v1::decode(nan_tempo, h, got), v1::errc::bad_value);
    bad[v1::k_header_size + 12] = std::byte{3};
    EXPECT_EQ(v1::decode(bad, h, got), v1::errc::bad_value);
}

TEST(Datagram, NodeInfoRoundTripsAndRejectsBadFields) {
    v1::node_info in;
    in.udp_port = 47000;
    in.control_port = 47080;
    in.players = 97;
    in.max_players = 300;
    in.sections = (1u << 5) | (1u << 16); // strings and drums
    in.flags = 1;
    in.host = "gno-node-2.example.org";
    bytes out(v1::k_max_datagram);
    std::error_code ec;
    const auto n = v1::encode(hdr(), in, out, ec);
    ASSERT_EQ(n, v1::k_header_size + 14 + in.host.size()) << ec.message();
    v1::header h;
    v1::node_info got;
    ASSERT_FALSE(v1::decode(std::span(out).first(n), h, got));
    EXPECT_EQ(h.type, v1::packet_type::node_info);
    EXPECT_EQ(got.udp_port, 47000);
    EXPECT_EQ(got.control_port, 47080);
    EXPECT_EQ(got.players, 97);
    EXPECT_EQ(got.max_players, 300);
    EXPECT_EQ(got.sections, in.sections);
    EXPECT_EQ(got.flags, 1);
    EXPECT_EQ(got.host, in.host);
    for (std::size_t cut = 0; cut < n; ++cut)
        EXPECT_TRUE(v1::decode(std::span(out).first(cut), h, got)) << cut;
    // An empty host: players reach the node where its peers do.
    in.host = {};
    ASSERT_EQ(v1::encode(hdr(), in, out, ec), v1::k_header_size + 14);
    // Encoder: a host with a space or too long, a section beyond the drums, port 0.
    for (const std::string_view host : {std::string_view("a b"), std::string_view("\x01")}) {
        in.host = host;
        EXPECT_EQ(v1::encode(hdr(), in, out, ec), 0u);
        EXPECT_EQ(ec, v1::errc::bad_value);
    }
    const std::string long_host(v1::k_max_node_host + 1, 'a');
    in.host = long_host;
    EXPECT_EQ(v1::encode(hdr(), in, out, ec), 0u);
    in.host = "h";
    in.sections = 1u << 17;
    EXPECT_EQ(v1::encode(hdr(), in, out, ec), 0u);
    in.sections = 1;
    in.udp_port = 0;
    EXPECT_EQ(v1::encode(hdr(), in, out, ec), 0u);
    in.udp_port = 1;
    // Decoder: a host length that disagrees, a control character in the host.
    const auto m = v1::encode(hdr(), in, out, ec);
    ASSERT_GT(m, 0u);
    bytes bad(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(m));
    bad[v1::k_header_size + 13] = std::byte{2};
    EXPECT_EQ(v1::decode(bad, h, got), v1::errc::bad_length);
    bad[v1::k_header_size + 13] = std::byte{1};
    bad[v1::k_header_size + 14] = std::byte{'\n'};
    EXPECT_EQ(v1::decode(bad, h, got), v1::errc::bad_value);
}
