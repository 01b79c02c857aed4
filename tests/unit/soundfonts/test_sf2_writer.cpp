// The SF2 writer: its RIFF layout checked byte by byte against the SF2 2.01 specification, what
// it refuses, and what FluidSynth makes of what it writes - the project's own test soundfont
// (gno-test.sf2, synthesised at build time) heard by pitch and by how its notes decay.
#include "fluid_render.hpp"
#include "gno/soundfonts/sf2_writer.hpp"
#include "gno/test/analysis.hpp"
#include "gno/test/process.hpp"

#include <cmath>
#include <cstring>
#include <fstream>
#include <gtest/gtest.h>
#include <map>

#ifndef GNO_TEST_SF2
#error "GNO_TEST_SF2 must name the project's test soundfont"
#endif

namespace gno::soundfonts {
namespace {

using test::fluid_render;
using test::k_rate;

std::uint32_t le32(const std::vector<std::byte>& b, std::size_t at) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i)
        v = (v << 8) | std::to_integer<std::uint32_t>(b[at + static_cast<std::size_t>(i)]);
    return v;
}
std::uint16_t le16(const std::vector<std::byte>& b, std::size_t at) {
    return static_cast<std::uint16_t>(std::to_integer<unsigned>(b[at]) |
                                      (std::to_integer<unsigned>(b[at + 1]) << 8));
}
std::string fourcc(const std::vector<std::byte>& b, std::size_t at) {
    std::string s(4, ' ');
    std::memcpy(s.data(), b.data() + at, 4);
    return s;
}

// The sub-chunks of a LIST chunk at `at`: id -> (offset of contents, size).
std::vector<std::pair<std::string, std::pair<std::size_t, std::uint32_t>>>
list_chunks(const std::vector<std::byte>& b, std::size_t at) {
    std::vector<std::pair<std::string, std::pair<std::size_t, std::uint32_t>>> out;
    const std::uint32_t size = le32(b, at + 4);
    std::size_t p = at + 12;
    while (p < at + 8 + size) {
        const std::uint32_t n = le32(b, p + 4);
        out.push_back({fourcc(b, p), {p + 8, n}});
        p += 8 + n + n % 2;
    }
    return out;
}

sf2_bank small_bank() {
    sf2_bank b;
    b.name = "unit";
    sf2_sample s;
    s.name = "ramp";
    for (int i = 0; i < 100; ++i)
        s.pcm.push_back(static_cast<std::int16_t>(100 * i + 1));
    s.root_key = 62;
    s.loop = sample_loop{20, 80};
    b.samples.push_back(s);
    sf2_preset p{"Ramp", 3, 7, {}};
    sf2_zone z;
    z.key_lo = 40;
    z.key_hi = 70;
    z.loop = true;
    p.zones.push_back(z);
    b.presets.push_back(p);
    return b;
}

TEST(Sf2Writer, WritesTheRiffLayoutOfSf2) {
    std::string error;
    const auto b = write_sf2(small_bank(), error);
    ASSERT_TRUE(error.empty()) << error;
    ASSERT_GT(b.size(), 100u);
    EXPECT_EQ(fourcc(b, 0), "RIFF");
    EXPECT_EQ(le32(b, 4), b.size() - 8);
    EXPECT_EQ(fourcc(b, 8), "sfbk");

    // Three LIST chunks in order: INFO, sdta, pdta.
    std::size_t at = 12;
    std::vector<std::string> lists;
    std::map<std::string, std::size_t> list_at;
    while (at < b.size()) {
        EXPECT_EQ(fourcc(b, at), "LIST");
        lists.push_back(fourcc(b, at + 8));
        list_at[lists.back()] = at;
        at += 8 + le32(b, at + 4);
    }
    EXPECT_EQ(at, b.size());
    ASSERT_EQ(lists, (std::vector<std::string>{"INFO", "sdta", "pdta"}));

    const auto info = list_chunks(b, list_at["INFO"]);
    ASSERT_GE(info.size(), 3u);
    EXPECT_EQ(info[0].first, "ifil");
    EXPECT_EQ(le16(b, info[0].second.first), 2);
    EXPECT_EQ(le16(b, info[0].second.first + 2), 1);
    EXPECT_EQ(info[1].first, "isng");
    EXPECT_EQ(info[2].first, "INAM");
    for (const auto& [id, where] : info)
        EXPECT_EQ(where.second % 2, 0u) << id << " is not padded to an even size";

    // smpl: the 100 points, then 46 zero points.
    const auto sdta = list_chunks(b, list_at["sdta"]);
    ASSERT_EQ(sdta.size(), 1u);
    EXPECT_EQ(sdta[0].first, "smpl");
    EXPECT_EQ(sdta[0].second.second, (100u + 46u) * 2u);
    const std::size_t smpl = sdta[0].second.first;
    EXPECT_EQ(le16(b, smpl), 1);
    EXPECT_EQ(le16(b, smpl + 2 * 99), 9901);
    for (std::size_t i = 100; i < 146; ++i)
        EXPECT_EQ(le16(b, smpl + 2 * i), 0) << "point " << i;

    // pdta: the nine sub-chunks in order, each a whole number of records plus the terminal one.
    const auto pdta = list_chunks(b, list_at["pdta"]);
    const std::vector<std::pair<std::string, std::uint32_t>> want = {
        {"phdr", 38}, {"pbag", 4},  {"pmod", 10}, {"pgen", 4}, {"inst", 22},
        {"ibag", 4},  {"imod", 10}, {"igen", 4},  {"shdr", 46}};
    ASSERT_EQ(pdta.size(), want.size());
    std::map<std::string, std::pair<std::size_t, std::uint32_t>> c;
    for (std::size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(pdta[i].first, want[i].first);
        EXPECT_EQ(pdta[i].second.second % want[i].second, 0u) << want[i].first;
        c[pdta[i].first] = pdta[i].second;
    }
    EXPECT_EQ(c["phdr"].second, 2u * 38u); // the preset and EOP
    EXPECT_EQ(c["pmod"].second, 10u);      // the terminal record alone
    EXPECT_EQ(c["shdr"].second, 2u * 46u); // the sample and EOS
    const std::size_t phdr = c["phdr"].first;
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.data() + phdr)), "Ramp");
    EXPECT_EQ(le16(b, phdr + 20), 7); // program
    EXPECT_EQ(le16(b, phdr + 22), 3); // bank
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.data() + phdr + 38)), "EOP");
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.data() + c["inst"].first + 22)), "EOI");
    const std::size_t shdr = c["shdr"].first;
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.data() + shdr)), "ramp");
    EXPECT_EQ(le32(b, shdr + 20), 0u);   // start
    EXPECT_EQ(le32(b, shdr + 24), 100u); // end
    EXPECT_EQ(le32(b, shdr + 28), 20u);  // loop start
    EXPECT_EQ(le32(b, shdr + 32), 80u);  // loop end
    EXPECT_EQ(le32(b, shdr + 36), 48000u);
    EXPECT_EQ(std::to_integer<int>(b[shdr + 40]), 62);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.data() + shdr + 46)), "EOS");

    // The instrument zone: keyRange first, sampleID last, loop mode and root key in between.
    const std::size_t igen = c["igen"].first;
    const std::uint32_t gens = c["igen"].second / 4 - 1;
    ASSERT_GE(gens, 3u);
    EXPECT_EQ(le16(b, igen), 43);
    EXPECT_EQ(le16(b, igen + 2), 40 | (70 << 8));
    EXPECT_EQ(le16(b, igen + 4 * (gens - 1)), 53);
    std::map<int, int> g;
    for (std::uint32_t i = 0; i < gens; ++i)
        g[le16(b, igen + 4 * i)] = static_cast<std::int16_t>(le16(b, igen + 4 * i + 2));
    EXPECT_EQ(g[54], 1);                              // sampleModes: loop
    EXPECT_EQ(g[58], 62);                             // overridingRootKey
    EXPECT_NEAR(g[38], 1200.0 * std::log2(0.3), 1.0); // release 0.3 s
    EXPECT_LT(g[34], -8000);                          // a short attack
}

TEST(Sf2Writer, RefusesWhatAnSf2CannotHold) {
    std::string error;
    auto bad = [&](auto change) {
        sf2_bank b = small_bank();
        change(b);
        error.clear();
        return write_sf2(b, error).empty() && !error.empty();
    };
    EXPECT_TRUE(bad([](sf2_bank& b) { b.presets.clear(); }));
    EXPECT_TRUE(bad([](sf2_bank& b) { b.presets[0].zones[0].key_lo = 80; })) << error;
    EXPECT_TRUE(bad([](sf2_bank& b) { b.presets[0].zones[0].sample = 3; }));
    EXPECT_TRUE(bad([](sf2_bank& b) { b.samples[0].loop = sample_loop{90, 120}; }));
    EXPECT_TRUE(bad([](sf2_bank& b) { b.samples[0].loop = sample_loop{50, 52}; }));
    EXPECT_TRUE(bad([](sf2_bank& b) { b.samples[0].sample_rate = 1000; }));
    EXPECT_TRUE(bad([](sf2_bank& b) { b.samples[0].pcm.resize(4); }));
    EXPECT_TRUE(bad([](sf2_bank& b) { b.presets.push_back(b.presets[0]); })) << error;
    EXPECT_NE(error.find("bank 3 program 7"), std::string::npos) << error;
    // Long names are cut to the 20-byte field, never overflow it.
    sf2_bank b = small_bank();
    b.presets[0].name = std::string(60, 'x');
    EXPECT_FALSE(write_sf2(b, error).empty()) << error;
}

class TestSoundfont : public ::testing::Test {
protected:
    void SetUp() override {
        synth_ = std::make_unique<fluid_render>(GNO_TEST_SF2);
        ASSERT_TRUE(synth_->loaded()) << "FluidSynth could not load " << GNO_TEST_SF2;
    }
    std::unique_ptr<fluid_render> synth_;
};

double key_hz(int key) {
    return 440.0 * std::pow(2.0, (key - 69) / 12.0);
}

// Both root samples of the looped tone, transposed up and down, play in tune.
TEST_F(TestSoundfont, TheToneIsInTuneAcrossTheKeyboard) {
    ASSERT_TRUE(synth_->select(0, 0));
    for (const int key : {36, 48, 57, 60, 69, 72, 76, 84}) {
        const auto x = synth_->play(key, 1.0, 1.0);
        const auto f = gno::test::estimate_pitch_hz(gno::test::slice_seconds(x, k_rate, 0.2, 0.9),
                                                    k_rate, 50.0, 1500.0);
        ASSERT_TRUE(f) << "key " << key;
        EXPECT_NEAR(1200.0 * std::log2(*f / key_hz(key)), 0.0, 5.0)
            << "key " << key << ": " << *f << " Hz";
    }
}

// Percussion decays by itself within a fraction of a second; the looped tone held 2 s does not
// decay at all while held (it loops), and stops within its release once let go.
TEST_F(TestSoundfont, DrumsDecayShortAndTheHeldToneSustains) {
    ASSERT_TRUE(synth_->select(128, 0));
    for (const int key : {36, 38, 42}) {
        const auto x = synth_->play(key, 0.05, 1.5);
        const auto d = gno::test::onset_to_decay_s(x, k_rate, 40.0);
        ASSERT_TRUE(d) << "drum key " << key << " never decayed 40 dB";
        EXPECT_LT(*d, 0.6) << "drum key " << key;
        std::cout << "[ measure  ] drum key " << key << " onset to -40 dB: " << *d * 1000
                  << " ms\n";
    }
    ASSERT_TRUE(synth_->select(0, 0));
    const auto held = synth_->play(60, 2.0, 3.0);
    const auto hold = gno::test::slice_seconds(held, k_rate, 0.0, 2.0);
    EXPECT_FALSE(gno::test::onset_to_decay_s(hold, k_rate, 40.0)) << "the held tone decayed";
    const double early = gno::test::rms_dbfs(gno::test::slice_seconds(held, k_rate, 0.2, 0.5));
    const double late = gno::test::rms_dbfs(gno::test::slice_seconds(held, k_rate, 1.6, 1.9));
    EXPECT_NEAR(late, early, 1.0) << "the loop does not sustain";
    const auto released = gno::test::onset_to_decay_s(held, k_rate, 40.0);
    ASSERT_TRUE(released) << "the tone did not stop after its release";
    EXPECT_GT(*released, 2.0);
    EXPECT_LT(*released, 2.0 + 0.6) << "release ~0.3 s";

    // The pluck is not looped: held, it still dies away.
    ASSERT_TRUE(synth_->select(0, 1));
    const auto pluck = synth_->play(60, 2.0, 2.0);
    EXPECT_LT(gno::test::rms_dbfs(gno::test::slice_seconds(pluck, k_rate, 1.7, 2.0)),
              gno::test::rms_dbfs(gno::test::slice_seconds(pluck, k_rate, 0.0, 0.3)) - 15.0);
}

// A bank written here and loaded by FluidSynth: an instrument from one sample at 330 Hz with
// root key 64 plays 330 Hz on key 64 and an octave up on 76.
TEST(Sf2WriterWithFluidSynth, ASampleIsPlayedAtItsRootAndTransposed) {
    sf2_bank b;
    sf2_sample s;
    s.name = "e4";
    std::vector<float> x(24000);
    for (std::size_t n = 0; n < x.size(); ++n)
        x[n] = 0.5f * static_cast<float>(std::sin(2 * 3.14159265358979 * 330.0 *
                                                  static_cast<double>(n) / 24000.0));
    s.pcm = to_pcm16(x);
    s.sample_rate = 24000; // a rate of its own: FluidSynth converts
    s.root_key = 64;
    s.loop = sample_loop{2400, 24000}; // 0.9 s: 297 whole periods of 330 Hz
    b.samples.push_back(s);
    sf2_preset p{"E", 0, 0, {}};
    sf2_zone z;
    z.loop = true;
    p.zones.push_back(z);
    b.presets.push_back(p);
    std::string error;
    const auto bytes = write_sf2(b, error);
    ASSERT_FALSE(bytes.empty()) << error;
    gno::test::temp_dir dir("gno-sf2");
    const auto path = dir / "e.sf2";
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    fluid_render synth(path.string());
    ASSERT_TRUE(synth.loaded());
    ASSERT_TRUE(synth.select(0, 0));
    for (const auto& [key, hz] :
         {std::pair{64, 330.0}, std::pair{76, 660.0}, std::pair{52, 165.0}}) {
        const auto y = synth.play(key, 1.5, 1.5);
        const auto f = gno::test::estimate_pitch_hz(gno::test::slice_seconds(y, k_rate, 0.2, 1.4),
                                                    k_rate, 80.0, 1500.0);
        ASSERT_TRUE(f) << "key " << key;
        EXPECT_NEAR(*f, hz, hz * 0.005) << "key " << key;
    }
}

} // namespace
} // namespace gno::soundfonts
