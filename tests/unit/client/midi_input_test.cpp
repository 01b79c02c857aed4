#include <array>
#include <chrono>
#include <gno/client/midi_input.hpp>
#include <gtest/gtest.h>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gno::client {
namespace {

using kind = midi_message::kind;

std::optional<midi_message> parse(std::initializer_list<std::uint8_t> bytes) {
    const std::vector<std::uint8_t> v(bytes);
    return parse_midi_message(v);
}

TEST(midi_parse, note_on_and_off_on_any_channel) {
    const auto on = parse({0x90, 69, 100});
    ASSERT_TRUE(on);
    EXPECT_EQ(on->what, kind::note_on);
    EXPECT_EQ(on->channel, 0);
    EXPECT_EQ(on->key, 69);
    EXPECT_EQ(on->velocity, 100);
    const auto off = parse({0x8F, 60, 64});
    ASSERT_TRUE(off);
    EXPECT_EQ(off->what, kind::note_off);
    EXPECT_EQ(off->channel, 15);
    EXPECT_EQ(off->key, 60);
    const auto on9 = parse({0x99, 36, 1});
    ASSERT_TRUE(on9);
    EXPECT_EQ(on9->what, kind::note_on);
    EXPECT_EQ(on9->channel, 9);
}

TEST(midi_parse, note_on_with_velocity_zero_is_a_note_off) {
    const auto m = parse({0x93, 72, 0});
    ASSERT_TRUE(m);
    EXPECT_EQ(m->what, kind::note_off);
    EXPECT_EQ(m->key, 72);
    EXPECT_EQ(m->channel, 3);
}

TEST(midi_parse, all_notes_off_and_all_sound_off_release_everything) {
    const auto a = parse({0xB0, 123, 0});
    ASSERT_TRUE(a);
    EXPECT_EQ(a->what, kind::all_notes_off);
    const auto b = parse({0xB5, 120, 0});
    ASSERT_TRUE(b);
    EXPECT_EQ(b->what, kind::all_notes_off);
    EXPECT_EQ(b->channel, 5);
}

TEST(midi_parse, other_messages_are_ignored) {
    EXPECT_FALSE(parse({0xB0, 64, 127}));    // sustain pedal
    EXPECT_FALSE(parse({0xB0, 7, 100}));     // volume
    EXPECT_FALSE(parse({0xB0, 0, 1}));       // bank select MSB: the channel picks the bank
    EXPECT_FALSE(parse({0xB0, 32, 1}));      // bank select LSB
    EXPECT_FALSE(parse({0xB0, 81, 127}));    // General Purpose 6: only 5 is the articulation
    EXPECT_FALSE(parse({0xD0, 40}));         // channel pressure
    EXPECT_FALSE(parse({0xA0, 60, 10}));     // poly aftertouch
    EXPECT_FALSE(parse({0xE0, 0, 64}));      // pitch bend
    EXPECT_FALSE(parse({0xF8}));             // clock
    EXPECT_FALSE(parse({0xFE}));             // active sensing
    EXPECT_FALSE(parse({0xF0, 0x7E, 0xF7})); // sysex
}

TEST(midi_parse, short_long_and_garbage_messages_are_rejected) {
    EXPECT_FALSE(parse({}));
    EXPECT_FALSE(parse({0x90}));
    EXPECT_FALSE(parse({0x90, 60}));
    EXPECT_FALSE(parse({0x90, 60, 100, 0})); // one JACK event is one message
    EXPECT_FALSE(parse({60, 100}));          // running status: JACK never delivers it
    EXPECT_FALSE(parse({60, 100, 0x90}));    // data byte first
    EXPECT_FALSE(parse({0x90, 0x80, 100}));  // status byte where data belongs
    EXPECT_FALSE(parse({0x90, 60, 0xFF}));
    EXPECT_FALSE(parse({0xB0, 0xFB, 0}));
    EXPECT_FALSE(parse({0xC0}));       // a program change without its program
    EXPECT_FALSE(parse({0xC0, 5, 0})); // or with a byte too many
    EXPECT_FALSE(parse({0xC0, 0x80})); // or a status byte for a program
    EXPECT_FALSE(parse({0xB0, 80}));   // CC 80 without its value
    EXPECT_FALSE(parse({0xB0, 80, 0x80}));
}

// Issue 7: the instrument from MIDI. A program change (2 bytes) on any channel; CC 80
// (General Purpose 5) carries the articulation.
TEST(midi_parse, program_change_and_cc80_pick_the_instrument) {
    const auto program = parse({0xC0, 48});
    ASSERT_TRUE(program);
    EXPECT_EQ(program->what, kind::program);
    EXPECT_EQ(program->channel, 0);
    EXPECT_EQ(program->value, 48);
    const auto kit = parse({0xC9, 25});
    ASSERT_TRUE(kit);
    EXPECT_EQ(kit->what, kind::program);
    EXPECT_EQ(kit->channel, 9);
    EXPECT_EQ(kit->value, 25);
    const auto short_on = parse({0xB3, 80, 127});
    ASSERT_TRUE(short_on);
    EXPECT_EQ(short_on->what, kind::articulation);
    EXPECT_EQ(short_on->channel, 3);
    EXPECT_EQ(short_on->value, 127);
    const auto off = parse({0xB0, 80, 0});
    ASSERT_TRUE(off);
    EXPECT_EQ(off->what, kind::articulation);
    EXPECT_EQ(off->value, 0);
}

// Every message of up to 3 bytes: a result always describes the bytes it came from, and the
// parser never looks past the span (each case is a vector of exactly that size, so the address
// sanitizer preset catches a read past it).
TEST(midi_parse, every_short_message_parses_consistently) {
    int accepted = 0;
    for (int len = 0; len <= 3; ++len) {
        const int combos = 1 << (8 * len);
        std::vector<std::uint8_t> v(static_cast<std::size_t>(len));
        for (int c = 0; c < combos; ++c) {
            for (int i = 0; i < len; ++i)
                v[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(c >> (8 * i));
            const auto m = parse_midi_message(v);
            if (!m)
                continue;
            ++accepted;
            ASSERT_EQ(m->channel, v[0] & 0x0F);
            if (m->what == kind::program) {
                ASSERT_EQ(len, 2);
                ASSERT_EQ(v[0] & 0xF0, 0xC0);
                ASSERT_EQ(m->value, v[1]);
                continue;
            }
            ASSERT_EQ(len, 3);
            if (m->what == kind::articulation) {
                ASSERT_EQ(v[0] & 0xF0, 0xB0);
                ASSERT_EQ(v[1], k_cc_articulation);
                ASSERT_EQ(m->value, v[2]);
            } else if (m->what == kind::note_on) {
                ASSERT_EQ(v[0] & 0xF0, 0x90);
                ASSERT_EQ(m->key, v[1]);
                ASSERT_EQ(m->velocity, v[2]);
                ASSERT_GT(m->velocity, 0);
            } else if (m->what == kind::note_off) {
                ASSERT_TRUE((v[0] & 0xF0) == 0x80 || ((v[0] & 0xF0) == 0x90 && v[2] == 0));
                ASSERT_EQ(m->key, v[1]);
            } else {
                ASSERT_EQ(v[0] & 0xF0, 0xB0);
                ASSERT_TRUE(v[1] == 120 || v[1] == 123);
            }
        }
    }
    // note-off and note-on: 16 channels x 128 keys x 128 velocities each; 3 controllers x 128
    // values; program changes: 16 channels x 128 programs.
    EXPECT_EQ(accepted, 2 * 16 * 128 * 128 + 16 * 3 * 128 + 16 * 128);
}

TEST(midi_input, queues_key_messages_with_their_stamp_and_counts_the_rest) {
    midi_input in;
    const std::array<std::uint8_t, 3> on{0x90, 69, 100};
    const std::array<std::uint8_t, 2> pressure{0xD0, 3};
    in.receive(on, 1'000);
    in.receive(pressure, 2'000);
    in.receive({}, 3'000);
    const auto e = in.next();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->local_ns, 1'000);
    EXPECT_EQ(e->message.what, kind::note_on);
    EXPECT_EQ(e->message.key, 69);
    EXPECT_FALSE(in.next());
    EXPECT_EQ(in.counters().received.load(), 1u);
    EXPECT_EQ(in.counters().ignored.load(), 2u);
    EXPECT_EQ(in.counters().dropped.load(), 0u);
}

TEST(midi_input, a_full_ring_drops_and_counts_instead_of_blocking) {
    midi_input in;
    const std::array<std::uint8_t, 3> on{0x90, 60, 100};
    for (std::size_t i = 0; i < midi_input::k_capacity + 5; ++i)
        in.receive(on, static_cast<std::int64_t>(i));
    EXPECT_EQ(in.counters().received.load(), midi_input::k_capacity);
    EXPECT_EQ(in.counters().dropped.load(), 5u);
    std::size_t n = 0;
    while (const auto e = in.next()) {
        EXPECT_EQ(e->local_ns, static_cast<std::int64_t>(n)); // the oldest are kept, in order
        ++n;
    }
    EXPECT_EQ(n, midi_input::k_capacity);
}

/// Records key movements as text; thread-safe so a forwarder thread may call it.
class recording_sink final : public key_sink {
public:
    void key_down(std::uint8_t key, std::uint8_t velocity, std::int64_t local_ns) override {
        const std::lock_guard lock(mutex_);
        log_.push_back("down " + std::to_string(key) + " " + std::to_string(velocity) + " @" +
                       std::to_string(local_ns));
    }
    void key_up(std::uint8_t key, std::int64_t local_ns) override {
        const std::lock_guard lock(mutex_);
        log_.push_back("up " + std::to_string(key) + " @" + std::to_string(local_ns));
    }
    void program_change(std::uint8_t program, std::uint16_t bank) override {
        const std::lock_guard lock(mutex_);
        log_.push_back("program " + std::to_string(program) + " bank " + std::to_string(bank));
    }
    void articulation_change(articulation style) override {
        const std::lock_guard lock(mutex_);
        log_.push_back("articulation " + std::string(articulation_name(style)));
    }
    std::vector<std::string> log() const {
        const std::lock_guard lock(mutex_);
        return log_;
    }

private:
    mutable std::mutex mutex_;
    std::vector<std::string> log_;
};

midi_event event(std::int64_t at, kind what, std::uint8_t key = 0, std::uint8_t velocity = 0) {
    return {at, midi_message{what, 0, key, velocity}};
}

TEST(midi_keys, note_messages_move_keys_and_all_notes_off_releases_the_held_ones) {
    recording_sink sink;
    midi_keys keys;
    keys.apply(event(10, kind::note_on, 60, 90), sink);
    keys.apply(event(20, kind::note_on, 64, 80), sink);
    keys.apply(event(30, kind::note_off, 60), sink);
    keys.apply(event(40, kind::note_off, 61), sink); // never held: not forwarded
    EXPECT_TRUE(keys.held(64));
    EXPECT_FALSE(keys.held(60));
    keys.apply(event(50, kind::all_notes_off), sink);
    EXPECT_FALSE(keys.held(64));
    keys.apply(event(60, kind::all_notes_off), sink); // nothing held: nothing to say
    const std::vector<std::string> want = {"down 60 90 @10", "down 64 80 @20", "up 60 @30",
                                           "up 64 @50"};
    EXPECT_EQ(sink.log(), want);
}

TEST(midi_keys, a_held_key_struck_again_is_forwarded_and_released_once) {
    recording_sink sink;
    midi_keys keys;
    keys.apply(event(10, kind::note_on, 69, 100), sink);
    keys.apply(event(20, kind::note_on, 69, 50), sink);
    keys.apply(event(30, kind::note_off, 69), sink);
    keys.apply(event(40, kind::note_off, 69), sink);
    const std::vector<std::string> want = {"down 69 100 @10", "down 69 50 @20", "up 69 @30"};
    EXPECT_EQ(sink.log(), want);
}

TEST(midi_keys, program_change_picks_a_kit_on_channel_10_and_cc80_the_articulation) {
    recording_sink sink;
    midi_keys keys;
    const auto at = [](std::int64_t t, kind what, std::uint8_t channel, std::uint8_t value) {
        midi_message m{what, channel, 0, 0, value};
        return midi_event{t, m};
    };
    keys.apply(at(10, kind::program, 0, 48), sink);  // channel 1: GM 49, strings
    keys.apply(at(20, kind::program, 9, 0), sink);   // channel 10: the Standard kit
    keys.apply(at(30, kind::program, 15, 19), sink); // channel 16: organ again
    keys.apply(at(40, kind::articulation, 0, 64), sink);
    keys.apply(at(50, kind::articulation, 0, 63), sink);
    keys.apply(at(60, kind::articulation, 4, 127), sink);
    keys.apply(at(70, kind::articulation, 4, 0), sink);
    const std::vector<std::string> want = {"program 48 bank 0",      "program 0 bank 128",
                                           "program 19 bank 0",      "articulation short",
                                           "articulation sustained", "articulation short",
                                           "articulation sustained"};
    EXPECT_EQ(sink.log(), want);
}

TEST(midi_forwarder, forwards_from_its_thread_and_releases_held_keys_on_stop) {
    using namespace std::chrono_literals;
    midi_input in;
    recording_sink sink;
    midi_forwarder forwarder(in, sink);
    const std::array<std::uint8_t, 3> on60{0x90, 60, 100};
    const std::array<std::uint8_t, 3> on62{0x91, 62, 70};
    const std::array<std::uint8_t, 3> off60{0x80, 60, 0};
    in.receive(on60, 100);
    in.receive(on62, 200);
    in.receive(off60, 300);
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (sink.log().size() < 3 && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(1ms);
    const std::vector<std::string> want = {"down 60 100 @100", "down 62 70 @200", "up 60 @300"};
    EXPECT_EQ(sink.log(), want);
    forwarder.stop();
    const auto log = sink.log();
    ASSERT_EQ(log.size(), 4u);
    EXPECT_EQ(log[3].rfind("up 62 @", 0), 0u) << log[3];
    forwarder.stop(); // idempotent
    EXPECT_EQ(sink.log().size(), 4u);
}

} // namespace
} // namespace gno::client
