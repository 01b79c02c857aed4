// A performer's own instrument on the render side, with its real parts: an SF2 built from a
// sample by gno::soundfonts, loaded by user_instrument off the render thread, installed into a
// FluidSynth voice bank on the render thread without a single allocation (this executable counts
// every malloc), heard at its pitch while the neighbour plays GM, handed back through the
// retirement ring and freed by the instrument library.
#include "gno/render/instrument_library.hpp"
#include "gno/render/voice_bank.hpp"
#include "gno/test/analysis.hpp"
#include "gno/test/process.hpp"
#include "sine_sf2.hpp"

#include <cmath>
#include <gno/test/alloc_counter.hpp>
#include <gtest/gtest.h>
#include <numbers>

#ifndef GNO_TEST_SF2
#error "GNO_TEST_SF2 must name the project's test soundfont"
#endif

namespace gno::render {
namespace {

constexpr int k_rate = 48000;
constexpr int k_frame = 240;

std::unique_ptr<user_instrument> load_sine(const test::temp_dir& dir, const std::string& name,
                                           double hz,
                                           std::shared_ptr<std::atomic<std::size_t>> live) {
    const auto path = dir / name;
    const std::size_t size = test_sf2::write(test_sf2::sine_bank(hz), path);
    std::string error;
    auto u = user_instrument::load(7, path, size, std::move(live), error);
    EXPECT_TRUE(u) << error;
    return u;
}

class OwnInstrument : public ::testing::Test {
protected:
    void SetUp() override {
        bank_ = std::make_unique<voice_bank>(voice_bank_config{GNO_TEST_SF2, 2, 4, 64, k_rate}, 0);
        bank_->set_retirement(&retired_);
        for (auto& b : buffers_)
            b.assign(k_frame, 0.0f);
        for (std::size_t i = 0; i < 4; ++i)
            ptrs_[i] = buffers_[i].data();
    }
    // FluidSynth's stopped voices hold on to the samples they played until they are reused or
    // the synthesiser goes: what came back is deleted after the bank (at once, then).
    void TearDown() override {
        bank_.reset();
        user_instrument* u = nullptr;
        while (retired_.try_pop(u))
            delete u;
        for (user_instrument* b : handed_back_)
            delete b;
    }

    /// Renders `seconds` with `events` due at the first frame; each player's left stem.
    std::array<std::vector<float>, 2> render(double seconds, std::vector<bank_event> events = {}) {
        std::array<std::vector<float>, 2> out;
        render_into(out, seconds, events);
        return out;
    }
    /// The same into `out`, whose capacity is reserved: the frames allocate nothing here.
    void render_into(std::array<std::vector<float>, 2>& out, double seconds,
                     std::vector<bank_event>& events) {
        for (int f = 0; f < static_cast<int>(seconds * k_rate) / k_frame; ++f) {
            for (auto& e : events)
                e.at = r_;
            bank_->render(r_, k_frame, f == 0 ? std::span(events) : std::span<bank_event>(), ptrs_);
            r_ += k_frame;
            for (int p = 0; p < 2; ++p)
                out[static_cast<std::size_t>(p)].insert(
                    out[static_cast<std::size_t>(p)].end(),
                    buffers_[static_cast<std::size_t>(2 * p)].begin(),
                    buffers_[static_cast<std::size_t>(2 * p)].end());
        }
    }
    static bank_event note(int player, note_event::kind what, int key) {
        bank_event e;
        e.player = player;
        e.ev.what = what;
        e.ev.key = static_cast<std::uint8_t>(key);
        e.ev.value = 100;
        return e;
    }
    static double pitch(const std::vector<float>& x) {
        return test::estimate_pitch_hz(test::slice_seconds(x, k_rate, 0.2, 0.7), k_rate, 100.0,
                                       2000.0)
            .value_or(0.0);
    }
    /// Allocations (and frees) on any thread while `f` runs.
    template <typename F>
    std::uint64_t allocations(F&& f) {
        const auto before = test::g_allocations.load();
        test::g_alloc_armed.store(true);
        f();
        test::g_alloc_armed.store(false);
        return test::g_allocations.load() - before;
    }

    spsc_ring<user_instrument*> retired_{8};
    std::vector<user_instrument*> handed_back_;
    std::unique_ptr<voice_bank> bank_;
    std::array<std::vector<float>, 4> buffers_;
    std::array<float*, 4> ptrs_{};
    std::int64_t r_ = 0;
    test::temp_dir dir_{"gno-own-instrument"};
};

TEST_F(OwnInstrument, InstalledWithoutAllocatingHeardAtItsPitchAndHandedBack) {
    auto u = load_sine(dir_, "a.sf2", 550.0, nullptr);
    ASSERT_TRUE(u);
    user_instrument* raw = u.release();
    // Installed and played on the render thread: not one allocation, FluidSynth's included.
    std::array<std::vector<float>, 2> heard;
    for (auto& h : heard)
        h.reserve(2 * k_rate);
    std::vector<bank_event> notes{note(0, note_event::kind::note_on, 64),
                                  note(1, note_event::kind::note_on, 64)};
    const auto n = allocations([&] {
        bank_->install(0, raw);
        render_into(heard, 1.0, notes);
    });
    if (test::alloc_hook_active()) {
        EXPECT_EQ(n, 0u) << "the install or its notes allocated on the render thread";
    }
    EXPECT_TRUE(bank_->has_own_instrument(0));
    EXPECT_NEAR(pitch(heard[0]), 550.0, 5.0) << "player 0 does not play its own instrument";
    EXPECT_NEAR(pitch(heard[1]), 329.6, 4.0) << "player 1 lost its GM tone";

    // A program change while it has its own is remembered, not followed ...
    bank_event prog = note(0, note_event::kind::program, 0);
    prog.ev.value = 1; // the test pluck
    render(0.1, {note(0, note_event::kind::note_off, 64), prog});
    heard = render(1.0, {note(0, note_event::kind::note_on, 64)});
    EXPECT_NEAR(pitch(heard[0]), 550.0, 5.0) << "a program change replaced the own instrument";

    // ... and back to GM it is that program; the instrument comes back through the ring.
    const auto m = allocations([&] { bank_->install(0, nullptr); });
    if (test::alloc_hook_active()) {
        EXPECT_EQ(m, 0u);
    }
    user_instrument* back = nullptr;
    ASSERT_TRUE(retired_.try_pop(back));
    EXPECT_EQ(back, raw);
    EXPECT_FALSE(bank_->has_own_instrument(0));
    heard = render(1.0, {note(0, note_event::kind::note_on, 64)});
    EXPECT_NEAR(pitch(heard[0]), 329.6, 4.0) << "not the GM program after the own instrument";
    handed_back_.push_back(back);
    EXPECT_EQ(bank_->lost_retirements(), 0u);
}

// A slot reused by a new player: the last one's instrument goes, sounding notes and all.
TEST_F(OwnInstrument, AResetSlotGoesBackToGmAndLetsItsInstrumentGo) {
    auto u = load_sine(dir_, "b.sf2", 550.0, nullptr);
    ASSERT_TRUE(u);
    user_instrument* raw = u.release();
    bank_->install(1, raw);
    render(0.3, {note(1, note_event::kind::note_on, 64)});
    bank_->reset_player(1);
    user_instrument* back = nullptr;
    ASSERT_TRUE(retired_.try_pop(back));
    EXPECT_EQ(back, raw);
    const auto after = render(0.3);
    EXPECT_LT(test::rms_dbfs(test::slice_seconds(after[1], k_rate, 0.05, 0.3)), -80.0)
        << "its note outlived the reset";
    handed_back_.push_back(back);
    // The bank's destructor frees what is still installed.
    auto v = load_sine(dir_, "c.sf2", 440.0, nullptr);
    bank_->install(0, v.release());
}

// The library: an upload becomes an instrument on disk and in memory, counted against the
// budget; what comes back through the ring is freed (file and all) a moment later.
TEST(InstrumentLibrary, BuildsAnUploadAndFreesWhatComesBack) {
    test::temp_dir dir("gno-instrument-library");
    instrument_library lib({(dir / "lib").string(), 1u << 20, 8});
    // A WAV of the same sine, in a multipart body.
    std::string wav = "RIFF";
    auto put32 = [&](std::uint32_t v) {
        for (int i = 0; i < 4; ++i)
            wav.push_back(static_cast<char>(v >> (8 * i)));
    };
    const std::uint32_t frames = 4800;
    put32(36 + 2 * frames);
    wav += "WAVEfmt ";
    put32(16);
    wav += std::string("\x01\x00\x01\x00", 4);
    put32(48000);
    put32(96000);
    wav += std::string("\x02\x00\x10\x00", 4);
    wav += "data";
    put32(2 * frames);
    for (std::uint32_t i = 0; i < frames; ++i) {
        const auto v =
            static_cast<std::int16_t>(10000 * std::sin(2 * std::numbers::pi * 440.0 * i / 48000));
        wav.push_back(static_cast<char>(v & 0xFF));
        wav.push_back(static_cast<char>((v >> 8) & 0xFF));
    }
    const std::string body = "--b\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n"
                             R"({"samples":[{"file":"a.wav","root":69}]})"
                             "\r\n--b\r\nContent-Disposition: form-data; name=\"a.wav\"; "
                             "filename=\"a.wav\"\r\n\r\n" +
                             wav + "\r\n--b--\r\n";
    auto built = lib.build(42, "multipart/form-data; boundary=b", body);
    ASSERT_TRUE(built.instrument) << built.message;
    EXPECT_EQ(built.status, 200);
    EXPECT_NE(built.json.find("\"player\":42"), std::string::npos) << built.json;
    const auto path = built.instrument->path();
    EXPECT_TRUE(std::filesystem::exists(path));
    EXPECT_EQ(lib.counters().live_bytes, built.instrument->bytes());

    const auto bad = lib.build(42, "multipart/form-data; boundary=b", body.substr(0, 200));
    EXPECT_EQ(bad.status, 400);
    EXPECT_FALSE(bad.message.empty());
    // Over a budget of 100 bytes.
    {
        instrument_library small({(dir / "small").string(), 100, 8});
        const auto over = small.build(42, "multipart/form-data; boundary=b", body);
        EXPECT_EQ(over.status, 503);
        EXPECT_NE(over.message.find("try again"), std::string::npos) << over.message;
    }

    ASSERT_TRUE(lib.retired().try_push(built.instrument.release()));
    EXPECT_TRUE(test::wait_for([&] { return lib.counters().freed == 1; }, std::chrono::seconds(3)));
    EXPECT_EQ(lib.counters().live_bytes, 0u);
    EXPECT_FALSE(std::filesystem::exists(path));
}

} // namespace
} // namespace gno::render
