// gno-make-test-sf2 OUT.sf2: the project's own small soundfont for fast tests, synthesised here
// (no recordings, no licence questions) and written with gno::soundfonts' SF2 writer.
//   bank 0   program 0  "Test Tone"   a looped harmonic tone, roots C3 (keys 0-59), C5 (60-127)
//   bank 0   program 1  "Test Pluck"  a decaying plucked tone, not looped, root C4, every key
//   bank 128 program 0  "Test Kit"    one-shots on the GM keys 36 kick, 38 snare, 42 closed hat
// Every loop holds a whole number of periods and the sample's tuning makes up the difference, so
// the tone is clean and in tune to within a cent.
#include "gno/soundfonts/sf2_writer.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numbers>
#include <vector>

namespace {

using namespace gno::soundfonts;

constexpr int k_rate = 48000;
constexpr double k_two_pi = 2.0 * std::numbers::pi;

double key_hz(int key) {
    return 440.0 * std::pow(2.0, (key - 69) / 12.0);
}

std::vector<float> normalised(std::vector<float> x, float peak) {
    float m = 0;
    for (const float v : x)
        m = std::max(m, std::abs(v));
    if (m > 0)
        for (auto& v : x)
            v *= peak / m;
    return x;
}

// One second of a harmonic tone near `key`'s pitch, periodic over its second half (the loop).
sf2_sample looped_tone(int key, const char* name) {
    constexpr int loop_len = k_rate / 2;
    const double f = key_hz(key);
    const double cycles = std::round(f * loop_len / k_rate);
    const double played = cycles * k_rate / loop_len; // a whole number of periods per loop
    std::vector<float> x(static_cast<std::size_t>(2 * loop_len));
    for (std::size_t n = 0; n < x.size(); ++n) {
        const double ph = k_two_pi * played * static_cast<double>(n) / k_rate;
        x[n] = static_cast<float>(std::sin(ph) + 0.35 * std::sin(2 * ph) + 0.18 * std::sin(3 * ph) +
                                  0.08 * std::sin(4 * ph));
    }
    sf2_sample s;
    s.name = name;
    s.pcm = to_pcm16(normalised(std::move(x), 0.8f));
    s.sample_rate = k_rate;
    s.root_key = key;
    s.tune_cents = static_cast<int>(std::lround(1200.0 * std::log2(f / played)));
    s.loop =
        sample_loop{static_cast<std::uint32_t>(loop_len), static_cast<std::uint32_t>(2 * loop_len)};
    return s;
}

// Two seconds of a plucked string: harmonics that die away, the higher ones sooner.
sf2_sample pluck(int key) {
    const double f = key_hz(key);
    std::vector<float> x(static_cast<std::size_t>(2 * k_rate));
    for (std::size_t n = 0; n < x.size(); ++n) {
        const double t = static_cast<double>(n) / k_rate;
        double v = 0;
        for (int h = 1; h <= 6; ++h)
            v += std::exp(-t * (1.5 + 1.2 * h)) / h * std::sin(k_two_pi * f * h * t);
        x[n] = static_cast<float>(v * std::min(1.0, t / 0.002));
    }
    sf2_sample s;
    s.name = "pluck";
    s.pcm = to_pcm16(normalised(std::move(x), 0.8f));
    s.sample_rate = k_rate;
    s.root_key = key;
    return s;
}

// Deterministic white noise in [-1, 1].
struct noise {
    std::uint32_t state = 0x2545F491u;
    float next() {
        state = state * 1664525u + 1013904223u;
        return static_cast<float>(state >> 8) / 8388608.0f - 1.0f;
    }
};

sf2_sample drum(const char* name, int key, double seconds, auto&& voice) {
    std::vector<float> x(static_cast<std::size_t>(seconds * k_rate));
    for (std::size_t n = 0; n < x.size(); ++n)
        x[n] = static_cast<float>(voice(static_cast<double>(n) / k_rate));
    sf2_sample s;
    s.name = name;
    s.pcm = to_pcm16(normalised(std::move(x), 0.9f));
    s.sample_rate = k_rate;
    s.root_key = key;
    return s;
}

sf2_zone zone(int sample, int lo, int hi, bool loop = false) {
    sf2_zone z;
    z.sample = sample;
    z.key_lo = lo;
    z.key_hi = hi;
    z.loop = loop;
    return z;
}

sf2_bank test_bank() {
    sf2_bank b;
    b.name = "gno test soundfont";
    b.samples.push_back(looped_tone(48, "tone C3"));
    b.samples.push_back(looped_tone(72, "tone C5"));
    b.samples.push_back(pluck(60));

    double kick_phase = 0;
    b.samples.push_back(drum("kick", 36, 0.5, [&](double t) {
        const double f = 50.0 + 100.0 * std::exp(-t / 0.04);
        kick_phase += k_two_pi * f / k_rate;
        return std::exp(-t / 0.12) * std::sin(kick_phase);
    }));
    noise snare_noise;
    b.samples.push_back(drum("snare", 38, 0.4, [&](double t) {
        return 0.6 * snare_noise.next() * std::exp(-t / 0.05) +
               0.4 * std::sin(k_two_pi * 185.0 * t) * std::exp(-t / 0.04);
    }));
    noise hat_noise;
    float last = 0;
    b.samples.push_back(drum("closed hat", 42, 0.2, [&](double t) {
        const float n = hat_noise.next();
        const float high = n - last; // a first difference: the noise's top octaves
        last = n;
        return high * std::exp(-t / 0.02);
    }));

    sf2_preset tone{"Test Tone", 0, 0, {}};
    tone.zones = {zone(0, 0, 59, true), zone(1, 60, 127, true)};
    b.presets.push_back(tone);

    sf2_preset pl{"Test Pluck", 0, 1, {}};
    sf2_zone all = zone(2, 0, 127);
    all.envelope.release_s = 0.2;
    pl.zones = {all};
    b.presets.push_back(pl);

    sf2_preset kit{"Test Kit", 128, 0, {}};
    for (int i = 0; i < 3; ++i) {
        const int key = b.samples[static_cast<std::size_t>(3 + i)].root_key;
        sf2_zone z = zone(3 + i, key, key);
        z.envelope.attack_s = 0.001;
        kit.zones.push_back(z);
    }
    b.presets.push_back(kit);
    return b;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: gno-make-test-sf2 OUT.sf2\n";
        return 2;
    }
    std::string error;
    const auto bytes = write_sf2(test_bank(), error);
    if (bytes.empty()) {
        std::cerr << "gno-make-test-sf2: " << error << "\n";
        return 1;
    }
    // Written beside, then renamed: a build never sees half a file.
    const std::filesystem::path out = argv[1];
    const auto tmp = std::filesystem::path(out).concat(".tmp");
    std::error_code ec;
    std::filesystem::create_directories(out.parent_path(), ec);
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        f.write(reinterpret_cast<const char*>(bytes.data()),
                static_cast<std::streamsize>(bytes.size()));
        if (!f) {
            std::cerr << "gno-make-test-sf2: cannot write " << tmp << "\n";
            return 1;
        }
    }
    std::filesystem::rename(tmp, out, ec);
    if (ec) {
        std::cerr << "gno-make-test-sf2: cannot rename to " << out << ": " << ec.message() << "\n";
        return 1;
    }
    return 0;
}
