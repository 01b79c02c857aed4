// A voice bank's tails (voice_bank.hpp), with real FluidSynth and an SF2 of known shape built
// by gno::soundfonts: a looped sine whose release falls 96 dB in 2 s (FluidSynth's volume
// envelope is linear in dB), so how loud a tail is at any moment is known. A released note's
// tail is ended once it is inaudible, a faint tail gives its lane to the player's next note,
// and a loud one rings on.
#include "gno/render/voice_bank.hpp"
#include "gno/test/process.hpp"
#include "sine_sf2.hpp"

#include <algorithm>
#include <cmath>
#include <gtest/gtest.h>

namespace gno::render {
namespace {

constexpr int k_rate = 48000;
constexpr int k_frame = 240;
// 960 samples = 4 frames = 15 grid blocks: a frame starting there starts on FluidSynth's grid,
// so a note due k samples into it has phase k and can be placed exactly.
constexpr int k_grid_frames = 4;

float peak(std::span<const float> x) {
    float m = 0.0f;
    for (float v : x)
        m = std::max(m, std::fabs(v));
    return m;
}

class VoiceBankTails : public ::testing::Test {
protected:
    void SetUp() override {
        // One player, two lanes: few enough that a third phase must find a lane taken.
        bank_ = std::make_unique<voice_bank>(
            voice_bank_config{sine_sf2().string(), 1, 2, 64, k_rate}, 0);
        for (auto& b : buffers_)
            b.assign(k_frame, 0.0f);
        ptrs_ = {buffers_[0].data(), buffers_[1].data()};
    }

    /// The sine at 333 Hz (300 whole periods in its loop), its release 96 dB in 2 s.
    std::filesystem::path sine_sf2() {
        const auto path = dir_ / "sine.sf2";
        test_sf2::write(test_sf2::sine_bank(333.3, 2.0), path);
        return path;
    }

    /// Renders one frame with `events` (each due `offset` samples into it); returns how many
    /// were imprecise and appends the player's left stem to heard_.
    int frame(std::vector<bank_event> events = {}) {
        for (auto& e : events)
            e.at += r_;
        const int imprecise = bank_->render(r_, k_frame, events, ptrs_);
        heard_.insert(heard_.end(), buffers_[0].begin(), buffers_[0].end());
        r_ += k_frame;
        return imprecise;
    }
    /// Renders up to the next frame on FluidSynth's grid, then that frame with `events`.
    int on_grid(std::vector<bank_event> events) {
        while ((r_ / k_frame) % k_grid_frames != 0)
            frame();
        return frame(std::move(events));
    }
    void seconds(double s) {
        for (int f = 0; f < static_cast<int>(s * k_rate) / k_frame; ++f)
            frame();
    }
    static bank_event note(note_event::kind what, int key, int offset) {
        bank_event e;
        e.at = offset;
        e.ev.what = what;
        e.ev.key = static_cast<std::uint8_t>(key);
        e.ev.value = 100;
        return e;
    }
    static bank_event on(int key, int offset) {
        return note(note_event::kind::note_on, key, offset);
    }
    static bank_event off(int key, int offset) {
        return note(note_event::kind::note_off, key, offset);
    }
    /// The last frame's peak of the player's stem.
    [[nodiscard]] float last_frame_peak() const { return peak(std::span(heard_).last(k_frame)); }

    test::temp_dir dir_{"gno-voice-bank"};
    std::unique_ptr<voice_bank> bank_;
    std::array<std::vector<float>, 2> buffers_;
    std::array<float*, 2> ptrs_{};
    std::vector<float> heard_;
    std::int64_t r_ = 0;
};

TEST_F(VoiceBankTails, AReleasedNoteEndsOnceItsTailIsInaudible) {
    ASSERT_EQ(on_grid({on(64, 10)}), 0);
    seconds(0.3);
    const float held = last_frame_peak();
    ASSERT_GT(held, 0.05f) << "the note sounds while held";
    frame({off(64, 0)});
    const auto released_at = heard_.size();
    seconds(2.5);
    EXPECT_EQ(bank_->active_voices(), 0);
    EXPECT_EQ(bank_->tails_ended(), 1u);

    // Where the sound stops, and how loud it was just before: below -60 dBFS, so the cut is
    // inaudible; well before the envelope's own end (96 dB below the note, 2 s after release).
    std::size_t last = heard_.size();
    while (last > 0 && heard_[last - 1] == 0.0f)
        --last;
    ASSERT_GT(last, released_at);
    const float before_end = peak(std::span(heard_).subspan(last - 480, 480));
    EXPECT_LT(before_end, 0.0011f) << "the tail was cut while audible";
    const double tail_s = static_cast<double>(last - released_at) / k_rate;
    // From `held` down to -60 dBFS at 48 dB a second.
    const double expected_s = (20.0 * std::log10(held) + 60.0) / 48.0;
    EXPECT_NEAR(tail_s, expected_s, 0.1);
    EXPECT_LT(tail_s, 1.6);
}

TEST_F(VoiceBankTails, AFaintTailGivesItsLaneToTheNextNoteAtAnotherPhase) {
    // Two notes at two phases, one lane each, both released.
    ASSERT_EQ(on_grid({on(60, 10)}), 0);
    ASSERT_EQ(on_grid({on(64, 20)}), 0);
    seconds(0.2);
    frame({off(60, 0), off(64, 0)});
    // Until the two tails are faint (below -40 dBFS together) but still sounding.
    for (int f = 0; f < 400 && last_frame_peak() >= 0.009f; ++f)
        frame();
    ASSERT_LT(last_frame_peak(), 0.009f);
    ASSERT_GT(last_frame_peak(), 0.0011f);
    ASSERT_EQ(bank_->tails_ended(), 0u);

    // A third phase: a lane is taken from a faint tail, and the note is placed exactly.
    EXPECT_EQ(on_grid({on(67, 30)}), 0);
    EXPECT_EQ(bank_->tails_ended(), 1u);
    seconds(0.1);
    EXPECT_GT(last_frame_peak(), 0.05f) << "the new note sounds";
}

TEST_F(VoiceBankTails, ALoudTailRingsOnAndTheNextNoteGoesToTheNearestPhase) {
    ASSERT_EQ(on_grid({on(60, 10)}), 0);
    ASSERT_EQ(on_grid({on(64, 20)}), 0);
    seconds(0.2);
    frame({off(60, 0), off(64, 0)});
    const float ringing = last_frame_peak();
    ASSERT_GT(ringing, 0.05f);

    // Both lanes ring loudly: nothing is cut; the note goes to the nearest phase (imprecise).
    EXPECT_EQ(on_grid({on(67, 30)}), 1);
    EXPECT_EQ(bank_->tails_ended(), 0u);
    seconds(0.1);
    EXPECT_EQ(bank_->active_voices(), 3);
}

// FluidSynth mixes at most 128 audio groups apart (and every lane into one beyond): a bank is
// refused past that, and at that size its last player is heard on its own stem.
TEST(VoiceBank, AFullBankKeepsItsLastPlayerApartAndALargerOneIsRefused) {
    test::temp_dir dir("gno-voice-bank-full");
    const auto sf2 = dir / "sine.sf2";
    test_sf2::write(test_sf2::sine_bank(333.3), sf2);
    constexpr int k_lanes = 3;
    constexpr int k_players = voice_bank::k_max_lanes / k_lanes;
    EXPECT_THROW(voice_bank({sf2.string(), k_players + 1, k_lanes, 64, k_rate}, 0),
                 std::runtime_error);

    voice_bank bank({sf2.string(), k_players, k_lanes, 64, k_rate}, 0);
    std::vector<std::vector<float>> stems(2 * k_players, std::vector<float>(k_frame));
    std::vector<float*> ptrs;
    for (auto& st : stems)
        ptrs.push_back(st.data());
    bank_event e;
    e.player = k_players - 1;
    e.ev.what = note_event::kind::note_on;
    e.ev.key = 64;
    e.ev.value = 100;
    std::vector<bank_event> events{e};
    float last = 0.0f, first = 0.0f;
    for (int f = 0; f < 40; ++f) {
        bank.render(std::int64_t{f} * k_frame, k_frame,
                    f == 0 ? std::span(events) : std::span<bank_event>(), ptrs);
        last = std::max(last, peak(stems[2 * (k_players - 1)]));
        first = std::max(first, peak(stems[0]));
    }
    EXPECT_GT(last, 0.05f) << "the last player's note is on its stem";
    EXPECT_EQ(first, 0.0f) << "and nowhere else";
}

} // namespace
} // namespace gno::render
