#pragma once
// A SoundFont of known shape for render tests, built by gno::soundfonts: one looped sine
// recorded at root key 64 (on key 64 it sounds `hz`, whatever GM does) with a chosen release.

#include "gno/soundfonts/sf2_writer.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <numbers>
#include <vector>

namespace gno::render::test_sf2 {

inline soundfonts::sf2_bank sine_bank(double hz, double release_s = 0.3) {
    constexpr int k_rate = 48000;
    soundfonts::sf2_bank b;
    soundfonts::sf2_sample s;
    s.name = "sine";
    std::vector<float> x(k_rate);
    const double cycles = std::round(hz * 0.9); // whole periods in the 0.9 s loop
    for (std::size_t n = 0; n < x.size(); ++n)
        x[n] = 0.5f * static_cast<float>(std::sin(2.0 * std::numbers::pi * cycles / 0.9 *
                                                  static_cast<double>(n) / k_rate));
    s.pcm = soundfonts::to_pcm16(x);
    s.root_key = 64;
    s.loop = soundfonts::sample_loop{4800, 48000};
    b.samples.push_back(s);
    soundfonts::sf2_zone z;
    z.loop = true;
    z.envelope.release_s = release_s;
    b.presets.push_back({"sine", 0, 0, {z}});
    return b;
}

/// Writes `bank` as an SF2 file at `path`; its size in bytes (0 and a test failure if the
/// writer refused it).
inline std::size_t write(const soundfonts::sf2_bank& bank, const std::filesystem::path& path) {
    std::string error;
    const auto bytes = soundfonts::write_sf2(bank, error);
    EXPECT_FALSE(bytes.empty()) << error;
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return bytes.size();
}

} // namespace gno::render::test_sf2
