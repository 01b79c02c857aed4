// The analysis functions against real instrument tones: General MIDI piano and flute rendered
// by FluidSynth from the soundfont the product uses. Skipped if the soundfont is not installed.

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fluidsynth.h>
#include <gno/test/analysis.hpp>
#include <gtest/gtest.h>
#include <memory>
#include <string>
#include <vector>

#ifndef GNO_TEST_SOUNDFONT
#error "GNO_TEST_SOUNDFONT must name a General MIDI soundfont"
#endif

namespace {

constexpr int k_rate = 48000;

class soundfont_synth {
public:
    soundfont_synth() : settings_(new_fluid_settings(), delete_fluid_settings) {
        fluid_settings_setnum(settings_.get(), "synth.sample-rate", k_rate);
        // Dry signal: reverb tails would blur onsets and the chorus detunes.
        fluid_settings_setint(settings_.get(), "synth.reverb.active", 0);
        fluid_settings_setint(settings_.get(), "synth.chorus.active", 0);
        synth_.reset(new_fluid_synth(settings_.get()));
        loaded_ = fluid_synth_sfload(synth_.get(), GNO_TEST_SOUNDFONT, 1) != FLUID_FAILED;
    }
    [[nodiscard]] bool loaded() const { return loaded_; }

    // Mono render of notes (start time, key) on one program; each note lasts `length_s`.
    std::vector<float> render(int program, const std::vector<std::pair<double, int>>& notes,
                              double length_s, double total_s) {
        std::vector<float> left(64);
        std::vector<float> right(64);
        // Nothing from the previous render may still sound: a reset lets notes release, so
        // kill them and render until the output is digital silence.
        fluid_synth_all_sounds_off(synth_.get(), -1);
        for (int block = 0; block < 1000; ++block) {
            fluid_synth_write_float(synth_.get(), 64, left.data(), 0, 1, right.data(), 0, 1);
            if (std::all_of(left.begin(), left.end(), [](float v) { return v == 0.0f; }) &&
                std::all_of(right.begin(), right.end(), [](float v) { return v == 0.0f; }))
                break;
        }
        fluid_synth_program_change(synth_.get(), 0, program);
        std::vector<float> out;
        const auto total = static_cast<std::size_t>(total_s * k_rate);
        for (std::size_t pos = 0; pos < total; pos += 64) {
            const double t0 = static_cast<double>(pos) / k_rate;
            const double t1 = static_cast<double>(pos + 64) / k_rate;
            for (const auto& [start, key] : notes) {
                if (start >= t0 && start < t1)
                    fluid_synth_noteon(synth_.get(), 0, key, 100);
                if (start + length_s >= t0 && start + length_s < t1)
                    fluid_synth_noteoff(synth_.get(), 0, key);
            }
            fluid_synth_write_float(synth_.get(), 64, left.data(), 0, 1, right.data(), 0, 1);
            for (std::size_t i = 0; i < 64; ++i)
                out.push_back(0.5f * (left[i] + right[i]));
        }
        return out;
    }

private:
    struct synth_deleter {
        void operator()(fluid_synth_t* s) const { delete_fluid_synth(s); }
    };
    std::unique_ptr<fluid_settings_t, decltype(&delete_fluid_settings)> settings_;
    std::unique_ptr<fluid_synth_t, synth_deleter> synth_;
    bool loaded_ = false;
};

double key_hz(int key) {
    return 440.0 * std::pow(2.0, (key - 69) / 12.0);
}

class SoundfontPitch : public ::testing::Test {
protected:
    void SetUp() override {
        if (!std::filesystem::exists(GNO_TEST_SOUNDFONT))
            GTEST_SKIP() << "soundfont not installed: " << GNO_TEST_SOUNDFONT;
        synth_ = std::make_unique<soundfont_synth>();
        ASSERT_TRUE(synth_->loaded());
    }
    std::unique_ptr<soundfont_synth> synth_;
};

void expect_pitch_of(soundfont_synth& synth, int program, const std::vector<int>& keys) {
    for (int key : keys) {
        const auto x = synth.render(program, {{0.0, key}}, 1.2, 1.2);
        // Skip the attack; analyse the settled tone (a second of it, so that the spectral
        // reference below resolves low notes).
        const auto segment = gno::test::slice_seconds(x, k_rate, 0.1, 1.1);
        const auto f = gno::test::estimate_pitch_hz(segment, k_rate, 25.0, 4500.0);
        ASSERT_TRUE(f.has_value()) << "program " << program << " key " << key;
        // The reference, found independently: the strongest of the first three partials by a
        // fine Goertzel search, divided by its number. (A bass piano note's first partial is
        // weak and off; its pitch is carried by the 2nd and 3rd.)
        const double nominal = key_hz(key);
        double peak_hz = nominal;
        double peak = 0.0;
        int partial = 1;
        for (int h = 1; h <= 3; ++h) {
            const double centre = nominal * h;
            for (double hz = centre * 0.985; hz < centre * 1.015; hz += centre * 0.001) {
                const double a = gno::test::tone_amplitude(segment, k_rate, hz);
                if (a > peak) {
                    peak = a;
                    peak_hz = hz / h;
                    partial = h;
                }
            }
        }
        // Coarse steps of 0.1 %, then 0.01 % around the best.
        const double coarse_hz = peak_hz * partial;
        for (double hz = coarse_hz * 0.999; hz < coarse_hz * 1.001; hz += coarse_hz * 0.0001) {
            const double a = gno::test::tone_amplitude(segment, k_rate, hz);
            if (a > peak) {
                peak = a;
                peak_hz = hz / partial;
            }
        }
        const std::string where = "program " + std::to_string(program) + " key " +
                                  std::to_string(key) + " got " + std::to_string(*f) + " peak " +
                                  std::to_string(peak_hz);
        // Within 0.5 % of the partial actually sounding (the reference itself is only good to
        // a tenth of a percent or so on a decaying, stretched piano tone)...
        EXPECT_NEAR(*f / peak_hz, 1.0, 0.005) << where;
        // ...and of the key: the soundfont's samples are up to ~0.7 % off equal temperament,
        // far from the 6 % of a semitone or the 100 % of an octave error.
        EXPECT_NEAR(*f / nominal, 1.0, 0.015) << where;
    }
}

TEST_F(SoundfontPitch, AcousticGrandPiano) {
    expect_pitch_of(*synth_, 0, {28, 33, 40, 48, 55, 60, 64, 69, 76, 81, 88, 96});
}

TEST_F(SoundfontPitch, Flute) {
    expect_pitch_of(*synth_, 73, {60, 62, 67, 72, 76, 79, 84, 88, 91, 96});
}

TEST_F(SoundfontPitch, PianoOnsetsWithin5ms) {
    // Each note is struck while the previous one is still releasing (about 10-15 dB down).
    const std::vector<std::pair<double, int>> notes = {
        {0.10, 60}, {0.40, 64}, {0.65, 67}, {1.00, 72}, {1.30, 48}, {1.70, 84}, {1.95, 36}};
    const auto x = synth_->render(0, notes, 0.2, 2.4);
    const auto onsets = gno::test::detect_onsets(x, k_rate);
    ASSERT_EQ(onsets.size(), notes.size());
    // Notes start at the 64-frame block that contains their time, up to 1.3 ms early.
    for (std::size_t i = 0; i < notes.size(); ++i)
        EXPECT_NEAR(onsets[i], notes[i].first, 0.005) << "note " << i;
}

} // namespace
