#pragma once
// An SF2 2.01 writer (the SoundFont 2.01 specification, "RIFF sfbk"): mono 16-bit samples,
// presets of one instrument each, zones mapped by key range. What FluidSynth and every other
// SF2 player loads: INFO (ifil, isng, INAM, ISFT), sdta/smpl (each sample followed by 46 zero
// samples), pdta (phdr pbag pmod pgen inst ibag imod igen shdr, each with its terminal record).
//
// Pure: bytes in memory, no I/O. Untrusted descriptions (a performer's upload) come back as an
// error string, never an exception. Thread: any.

#include <cstddef>
#include <cstdint>
#include <istream>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace gno::soundfonts {

/// A loop inside a sample, in sample frames from its first: [start, end), end - start >= 8.
struct sample_loop {
    std::uint32_t start = 0;
    std::uint32_t end = 0;
};

/// One mono recording at its own rate, pitched at `root_key` (+ `tune_cents`).
struct sf2_sample {
    std::string name; // up to 19 ASCII characters are kept
    std::vector<std::int16_t> pcm;
    int sample_rate = 48000; // 8000..192000
    int root_key = 60;       // MIDI key the recording sounds at
    int tune_cents = 0;      // -99..99: pitch correction applied on playback
    std::optional<sample_loop> loop;
};

/// The volume envelope of a zone (SF2 generators 33-38), in seconds and dB of attenuation.
struct sf2_envelope {
    double attack_s = 0.003;
    double hold_s = 0.0;
    double decay_s = 0.0;    // 0: straight to sustain
    double sustain_db = 0.0; // attenuation while held, 0..144 dB
    double release_s = 0.3;  // after the key is released
};

/// A key range of the instrument played by one sample.
struct sf2_zone {
    int sample = 0; // index into sf2_bank::samples
    int key_lo = 0;
    int key_hi = 127;
    int root_key = -1; // overridingRootKey; -1: the sample's own
    bool loop = false; // sampleModes 1 (loop while held) when the sample has a loop
    sf2_envelope envelope;
    double attenuation_db = 0.0; // initialAttenuation, 0..144
    int exclusive_class = 0;     // 0: none (drum kits: a closed hat stops an open one)
};

/// A preset (bank, program) with one instrument of the same name.
struct sf2_preset {
    std::string name;
    int bank = 0; // 0..16383 (128: GM percussion)
    int program = 0;
    std::vector<sf2_zone> zones;
};

struct sf2_bank {
    std::string name = "gno";
    std::vector<sf2_sample> samples;
    std::vector<sf2_preset> presets;
};

/// SF2 bytes, or an empty vector and `error` saying what is wrong with the description.
[[nodiscard]] std::vector<std::byte> write_sf2(const sf2_bank& bank, std::string& error);

/// Float PCM in [-1, 1] to 16-bit (rounded, clamped; NaN becomes 0).
[[nodiscard]] std::vector<std::int16_t> to_pcm16(std::span<const float> samples);

/// Checks an SF2's RIFF layout without reading its samples: "RIFF" "sfbk" holding the INFO, sdta
/// and pdta lists, every chunk inside the file. Empty when it holds; else what is wrong (a
/// truncated or foreign file), so that a loader is never handed one. Reads `in` from its start.
[[nodiscard]] std::string sf2_layout_error(std::istream& in);

/// SF2 timecents of a duration (1200 * log2(seconds)), clamped to the range players accept.
[[nodiscard]] std::int16_t timecents(double seconds) noexcept;

} // namespace gno::soundfonts
