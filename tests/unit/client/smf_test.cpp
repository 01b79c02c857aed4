#include <gno/proto/smf.hpp>
#include <gtest/gtest.h>
#include <initializer_list>
#include <vector>

namespace gno::proto::smf {
namespace {

std::vector<std::byte> bytes(std::initializer_list<int> v) {
    std::vector<std::byte> out;
    for (int b : v)
        out.push_back(static_cast<std::byte>(b));
    return out;
}

void append(std::vector<std::byte>& a, const std::vector<std::byte>& b) {
    a.insert(a.end(), b.begin(), b.end());
}

std::vector<std::byte> chunk(const char* id, const std::vector<std::byte>& body) {
    std::vector<std::byte> out;
    for (int i = 0; i < 4; ++i)
        out.push_back(static_cast<std::byte>(id[i]));
    const auto n = static_cast<std::uint32_t>(body.size());
    append(out, bytes({int(n >> 24), int((n >> 16) & 0xFF), int((n >> 8) & 0xFF), int(n & 0xFF)}));
    append(out, body);
    return out;
}

/// Format 1, 480 ticks per quarter. Track 0: 120 BPM, then 60 BPM from tick 960 (1.0 s).
/// Track 1: C4 0.0-0.5 s (note-off by running status, velocity 0), E4 0.5-1.0 s, a text meta
/// and a sysex, G4 at tick 1440 (2.0 s, one quarter at 60 BPM after the change) to 1680 (2.5 s).
std::vector<std::byte> sample_file() {
    auto f = chunk("MThd", bytes({0, 1, 0, 2, 0x01, 0xE0}));
    append(f, chunk("MTrk", bytes({0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20,       // 500000
                                   0x87, 0x40, 0xFF, 0x51, 0x03, 0x0F, 0x42, 0x40, // 1000000
                                   0x00, 0xFF, 0x2F, 0x00})));
    append(f, chunk("MTrk", bytes({0x00, 0x90, 0x3C, 0x64,                 // C4 on
                                   0x83, 0x60, 0x3C, 0x00,                 // +480 C4 off (running)
                                   0x00, 0x40, 0x50,                       // E4 on (running)
                                   0x83, 0x60, 0x80, 0x40, 0x00,           // +480 E4 off
                                   0x00, 0xFF, 0x01, 0x03, 'a',  'b', 'c', // text
                                   0x00, 0xF0, 0x02, 0x7E, 0xF7,           // sysex
                                   0x83, 0x60, 0x90, 0x43, 0x70,           // +480 G4 on
                                   0x81, 0x70, 0x43, 0x00,                 // +240 G4 off
                                   0x00, 0xFF, 0x2F, 0x00})));
    return f;
}

TEST(smf, parses_notes_with_tempo_map_and_running_status) {
    file f;
    const auto data = sample_file();
    ASSERT_FALSE(parse(data, f));
    EXPECT_EQ(f.format, 1);
    EXPECT_EQ(f.ticks_per_quarter, 480);
    ASSERT_EQ(f.tracks.size(), 2u);
    EXPECT_TRUE(f.tracks[0].notes.empty());
    ASSERT_EQ(f.tempo_map.size(), 2u);
    struct want {
        std::uint64_t tick;
        double seconds;
        int key;
        int velocity;
        bool on;
    };
    const std::vector<want> expected = {{0, 0.0, 60, 100, true},    {480, 0.5, 60, 0, false},
                                        {480, 0.5, 64, 80, true},   {960, 1.0, 64, 0, false},
                                        {1440, 2.0, 67, 112, true}, {1680, 2.5, 67, 0, false}};
    const auto& notes = f.tracks[1].notes;
    ASSERT_EQ(notes.size(), expected.size());
    for (std::size_t i = 0; i < notes.size(); ++i) {
        SCOPED_TRACE(i);
        EXPECT_EQ(notes[i].tick, expected[i].tick);
        EXPECT_DOUBLE_EQ(notes[i].seconds, expected[i].seconds);
        EXPECT_EQ(notes[i].key, expected[i].key);
        EXPECT_EQ(notes[i].velocity, expected[i].velocity);
        EXPECT_EQ(notes[i].on, expected[i].on);
    }
    EXPECT_DOUBLE_EQ(ticks_to_seconds(f.tempo_map, f.ticks_per_quarter, 1200), 1.5);
}

TEST(smf, every_truncation_is_an_error_and_never_crashes) {
    const auto data = sample_file();
    for (std::size_t n = 0; n < data.size(); ++n) {
        SCOPED_TRACE(n);
        file f;
        std::size_t where = 999999;
        const auto ec = parse(std::span(data.data(), n), f, &where);
        EXPECT_TRUE(ec);
        EXPECT_TRUE(f.tracks.empty());
        EXPECT_LE(where, n);
    }
}

TEST(smf, malformed_input_gives_specific_errors) {
    file f;
    EXPECT_EQ(parse(bytes({'R', 'I', 'F', 'F', 0, 0, 0, 6}), f), errc::not_smf);
    auto fmt2 = chunk("MThd", bytes({0, 2, 0, 1, 0x01, 0xE0}));
    EXPECT_EQ(parse(fmt2, f), errc::unsupported_format);
    auto smpte = chunk("MThd", bytes({0, 0, 0, 1, 0xE7, 0x28}));
    EXPECT_EQ(parse(smpte, f), errc::unsupported_division);

    auto no_status = chunk("MThd", bytes({0, 0, 0, 1, 0x01, 0xE0}));
    append(no_status, chunk("MTrk", bytes({0x00, 0x3C, 0x40})));
    EXPECT_EQ(parse(no_status, f), errc::bad_event);

    auto long_varlen = chunk("MThd", bytes({0, 0, 0, 1, 0x01, 0xE0}));
    append(long_varlen, chunk("MTrk", bytes({0x81, 0x81, 0x81, 0x81, 0x01, 0x90, 0x3C, 0x40})));
    EXPECT_EQ(parse(long_varlen, f), errc::bad_varlen);

    auto meta_past_chunk = chunk("MThd", bytes({0, 0, 0, 1, 0x01, 0xE0}));
    append(meta_past_chunk, chunk("MTrk", bytes({0x00, 0xFF, 0x01, 0x7F, 'x'})));
    EXPECT_EQ(parse(meta_past_chunk, f), errc::truncated);
}

TEST(smf, format_0_with_unknown_chunk_and_no_end_of_track) {
    auto f0 = chunk("MThd", bytes({0, 0, 0, 1, 0x00, 0x60}));
    append(f0, chunk("XFIH", bytes({1, 2, 3})));
    append(f0, chunk("MTrk", bytes({0x00, 0x99, 0x24, 0x7F, 0x60, 0x89, 0x24, 0x00})));
    file f;
    ASSERT_FALSE(parse(f0, f));
    ASSERT_EQ(f.tracks.size(), 1u);
    ASSERT_EQ(f.tracks[0].notes.size(), 2u);
    EXPECT_EQ(f.tracks[0].notes[0].channel, 9);
    EXPECT_DOUBLE_EQ(f.tracks[0].notes[1].seconds, 0.5); // 96 ticks at 120 BPM, 96 tpq
}

} // namespace
} // namespace gno::proto::smf
