// Performance logs (perf_log.hpp): the render engine journals a performance, the writer turns it
// into MIDI files, and a re-render from those files gives the same audience mix, sample for
// sample. Real FluidSynth with the GM soundfont; the files are real SMF.
#include "gno/proto/smf.hpp"
#include "gno/render/perf_log.hpp"
#include "gno/render/render_engine.hpp"
#include "gno/render/timing.hpp"
#include "gno/test/analysis.hpp"
#include "ingress_events.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <iterator>
#include <map>
#include <thread>
#include <unistd.h>
#include <vector>

namespace r = gno::render;
namespace v1 = gno::proto::v1;
namespace fs = std::filesystem;

namespace {

constexpr int k_rate = 48000;

fs::path fresh_dir(const std::string& name) {
    const auto dir =
        fs::temp_directory_path() / ("gno-perf-log-" + name + "-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    return dir;
}

std::vector<std::byte> read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> out(raw.size());
    std::memcpy(out.data(), raw.data(), raw.size());
    return out;
}

/// A node's render engine with a performance log, driven on a virtual timeline from a frame
/// well after 0 (the log's tick 0 is the first frame, not render sample 0).
class PerfLog : public ::testing::Test {
protected:
    PerfLog() {
        cfg_.soundfont = GNO_TEST_SOUNDFONT;
        cfg_.max_players = 8;
        cfg_.players_per_bank = 4; // two banks, rendered by two threads
        cfg_.render_threads = 2;
        cfg_.perf_log_dir = dir_.string();
        cfg_.silence_timeout = std::chrono::milliseconds(1000);
    }
    ~PerfLog() override { fs::remove_all(dir_); }

    void start() {
        engine_ = std::make_unique<r::render_engine>(cfg_, counters_, timing_, ingress_, nullptr);
        engine_->set_perf_log(&ring_);
        writer_ = std::make_unique<r::perf_log_writer>(cfg_.perf_log_dir, cfg_, ring_, counters_);
    }

    /// A key state holding `keys`, each struck `late_samples` after the frame start, stamped as a
    /// synchronised client would: the live mode plays it at its stamp + the uplink budget.
    v1::key_state keys(std::initializer_list<int> held, int program, int bank = 0,
                       int late_samples = 0) const {
        v1::key_state s;
        s.program = static_cast<std::uint8_t>(program);
        s.bank = static_cast<std::uint16_t>(bank);
        for (int k : held) {
            s.held[s.held_count++] = {static_cast<std::uint8_t>(k), 90,
                                      r::samples_to_ns(r_ + late_samples, k_rate), 0};
        }
        return s;
    }

    void push(r::ingress_event::kind what, int slot, const v1::key_state& s = {}) {
        r::test::push_event(ingress_, what, slot, s);
    }

    /// Renders up to (not including) render sample `until`, keeping every frame's audience mix.
    void render_until(std::int64_t until) {
        while (r_ < until) {
            engine_->render_frame(r_);
            auto mix = engine_->last_mix();
            live_[r_].assign(mix.begin(), mix.end());
            r_ += cfg_.frame_samples;
        }
    }
    std::int64_t at_s(double s) const { return start_ + static_cast<std::int64_t>(s * k_rate); }

    struct comparison {
        std::size_t differing = 0; // frames whose samples differ from the live render's
        double energy = 0;         // sum of squares of the re-rendered mix
    };
    /// Re-renders `log` and compares it frame by frame with what the node rendered live: every
    /// frame must be one the node rendered, and every rendered frame must come back.
    comparison replay_and_compare(const r::perf_log& log) {
        comparison c;
        std::size_t frames = 0;
        r::replay(log, "", 2, 0.0, [&](std::int64_t fr, std::span<const float> mix) {
            ++frames;
            const auto it = live_.find(fr);
            ASSERT_NE(it, live_.end()) << "a frame the node did not render: " << fr;
            ASSERT_EQ(it->second.size(), mix.size());
            if (std::memcmp(it->second.data(), mix.data(), mix.size() * sizeof(float)) != 0)
                ++c.differing;
            for (float v : mix)
                c.energy += double{v} * v;
        });
        EXPECT_EQ(frames, live_.size());
        return c;
    }

    fs::path dir_ = fresh_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    r::server_config cfg_;
    r::node_counters counters_;
    r::timing_state timing_{8};
    r::spsc_ring<r::ingress_event> ingress_{256};
    r::spsc_ring<r::log_record> ring_{65536};
    std::unique_ptr<r::render_engine> engine_;
    std::unique_ptr<r::perf_log_writer> writer_;
    const std::int64_t start_ = 10 * k_rate; // the node's first frame
    std::int64_t r_ = start_;
    std::map<std::int64_t, std::vector<float>> live_; // frame -> interleaved audience mix
};

} // namespace

TEST_F(PerfLog, ReplayReproducesTheAudienceMixSampleForSample) {
    // Overload steps every 20 frames (nothing is ever light enough): the synthesiser's degrade
    // levels, which change how voices sound, are part of what the log must carry.
    cfg_.overload_high = 0.0;
    cfg_.overload_low = -1.0;
    start();
    push(r::ingress_event::kind::join, 0);
    push(r::ingress_event::kind::join, 1);
    push(r::ingress_event::kind::join, 5);
    render_until(at_s(0.1));
    push(r::ingress_event::kind::key_state, 0, keys({60, 64, 67}, 0, 0, 37)); // piano chord
    push(r::ingress_event::kind::key_state, 1, keys({45}, 32, 0, 101));       // bass
    push(r::ingress_event::kind::key_state, 5, keys({38}, 0, 128, 5));        // snare, GM kit
    render_until(at_s(0.6));
    push(r::ingress_event::kind::key_state, 0, keys({62}, 0, 0, 200)); // chord off, one key on
    push(r::ingress_event::kind::key_state, 5, keys({36, 42}, 0, 128, 77));
    push(r::ingress_event::kind::join, 2);
    push(r::ingress_event::kind::key_state, 2, keys({72}, 40, 0, 13)); // violin
    render_until(at_s(1.2));
    timing_.players[2].muted.store(true); // the conductor mutes the violin for a while
    push(r::ingress_event::kind::key_state, 1, keys({47}, 33, 0, 150)); // another program
    render_until(at_s(2.0));
    timing_.players[2].muted.store(false);
    push(r::ingress_event::kind::leave, 1); // the bass leaves holding a note
    render_until(at_s(2.3));
    push(r::ingress_event::kind::join, 1); // a new player in the same slot
    push(r::ingress_event::kind::key_state, 1, keys({57}, 73, 0, 3));
    render_until(at_s(2.8));
    // Frames skipped (a stalled clock): the node goes on 100 ms later.
    r_ += 20 * cfg_.frame_samples;
    push(r::ingress_event::kind::key_state, 2, keys({}, 40));
    render_until(at_s(4.5)); // slot 0 and 5 fell silent long ago: timed out, notes released
    writer_->stop();
    ASSERT_GT(counters_.degrade_steps.load(), 3u);
    ASSERT_GT(counters_.timeouts.load(), 0u);
    ASSERT_EQ(counters_.log_overflows.load(), 0u);

    // The files: node.mid and one per session (slot 1 twice), each a valid SMF.
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_))
        names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"node.mid", "slot-0-1.mid", "slot-1-2.mid",
                                               "slot-1-5.mid", "slot-2-4.mid", "slot-5-3.mid"}));
    gno::proto::smf::file piano;
    ASSERT_FALSE(gno::proto::smf::parse(read_bytes(dir_ / "slot-0-1.mid"), piano));
    ASSERT_EQ(piano.tracks.size(), 1u);
    ASSERT_EQ(piano.tracks[0].notes.size(), 8u); // 3 on + 3 off, then 62 on and off
    // A tick is a sample from the first frame: the chord sounds 37 samples into the frame at
    // 0.1 s, plus the 50 ms uplink budget of the live mode.
    const auto chord = piano.tracks[0].notes[0];
    EXPECT_TRUE(chord.on);
    // (The stamp went through ns and back: within a sample.)
    EXPECT_NEAR(static_cast<double>(chord.tick),
                static_cast<double>(at_s(0.1) + 37 + k_rate / 20 - start_), 1.0);
    EXPECT_NEAR(chord.seconds, 0.1 + (37.0 + 2400.0) / k_rate, 1.5 / k_rate);
    gno::proto::smf::file drums;
    ASSERT_FALSE(gno::proto::smf::parse(read_bytes(dir_ / "slot-5-3.mid"), drums));
    ASSERT_FALSE(drums.tracks[0].notes.empty());
    EXPECT_EQ(drums.tracks[0].notes[0].channel, 9); // the GM kit on MIDI channel 10

    // The re-render.
    const auto log = r::load_perf_log({dir_.string()});
    EXPECT_EQ(log.first_frame, start_);
    EXPECT_EQ(log.last_frame, r_ - cfg_.frame_samples);
    EXPECT_EQ(log.lost, 0u);
    const auto [differing, energy] = replay_and_compare(log);
    EXPECT_EQ(differing, 0u);
    EXPECT_GT(energy, 100.0); // the performance is audible, not a silence that matches silence
}

TEST_F(PerfLog, FilesAreValidMidiWhileTheNodeRuns) {
    // A node killed at any moment leaves files that parse: each is rewritten whole each second.
    start();
    push(r::ingress_event::kind::join, 3);
    push(r::ingress_event::kind::key_state, 3, keys({69}, 0));
    render_until(at_s(0.5));
    push(r::ingress_event::kind::key_state, 3, keys({}, 0));
    render_until(at_s(1.0));
    std::this_thread::sleep_for(std::chrono::milliseconds(2500)); // the writer's flush, loaded
    for (const char* name : {"node.mid", "slot-3-1.mid"}) {
        gno::proto::smf::file f;
        ASSERT_FALSE(gno::proto::smf::parse(read_bytes(dir_ / name), f)) << name;
    }
    gno::proto::smf::file f;
    ASSERT_FALSE(gno::proto::smf::parse(read_bytes(dir_ / "slot-3-1.mid"), f));
    EXPECT_EQ(f.tracks[0].notes.size(), 2u); // the note and its release, both before the horizon
    // Without an end record, a re-render goes on past the last event by the tail asked for.
    const auto log = r::load_perf_log({dir_.string()});
    EXPECT_EQ(log.last_frame, -1);
    std::size_t frames = 0;
    r::replay(log, "", 1, 0.5, [&](std::int64_t, std::span<const float>) { ++frames; });
    EXPECT_GE(frames, static_cast<std::size_t>(0.5 * k_rate / cfg_.frame_samples));
    writer_->stop();
}

TEST_F(PerfLog, BadLogsAreClearErrors) {
    start();
    push(r::ingress_event::kind::join, 0);
    push(r::ingress_event::kind::key_state, 0, keys({60}, 0));
    render_until(at_s(0.3));
    writer_->stop();
    auto message = [](const std::vector<std::string>& paths) {
        try {
            (void)r::load_perf_log(paths);
        } catch (const std::runtime_error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(message({(dir_ / "nothing-here").string()}).find("no such performance log"),
              std::string::npos);
    EXPECT_NE(message({(dir_ / "slot-0-1.mid").string()}).find("no node.mid"), std::string::npos);
    EXPECT_NE(message({dir_.string(), (dir_ / "slot-0-1.mid").string()}).find("twice"),
              std::string::npos);
    // A truncated file names itself and where it broke.
    const auto bytes = read_bytes(dir_ / "slot-0-1.mid");
    {
        std::ofstream out(dir_ / "slot-0-1.mid", std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(bytes.data()),
                  static_cast<std::streamsize>(bytes.size() - 9));
    }
    const auto m = message({dir_.string()});
    EXPECT_NE(m.find("slot-0-1.mid"), std::string::npos) << m;
    EXPECT_NE(m.find("truncated"), std::string::npos) << m;
    // Another performance's file does not mix in.
    fs::remove(dir_ / "slot-0-1.mid");
    const auto other = fresh_dir("other");
    {
        r::server_config c = cfg_;
        c.perf_log_dir = other.string();
        r::node_counters counters;
        r::timing_state timing{8};
        r::spsc_ring<r::ingress_event> ingress{16};
        r::spsc_ring<r::log_record> ring{1024};
        r::render_engine e(c, counters, timing, ingress, nullptr);
        e.set_perf_log(&ring);
        r::perf_log_writer w(c.perf_log_dir, c, ring, counters);
        r::test::push_event(ingress, r::ingress_event::kind::join, 4);
        e.render_frame(0);
        w.stop();
    }
    const auto foreign = message({dir_.string(), (other / "slot-4-1.mid").string()});
    EXPECT_NE(foreign.find("another performance"), std::string::npos) << foreign;
    fs::remove_all(other);
}

// Issue 7: the short articulation's own note-offs are journaled pushes, so the re-render plays
// them too, and drops the same one (a key struck again within the short length).
TEST_F(PerfLog, ShortArticulationReplaysItsOwnNoteEndsSampleForSample) {
    cfg_.silence_timeout = std::chrono::milliseconds(5000); // the keys stay down throughout
    start();
    push(r::ingress_event::kind::join, 0);
    render_until(at_s(0.1));
    auto s = keys({60, 67}, 48, 0, 11); // strings, staccato
    s.flags = v1::k_short_articulation;
    push(r::ingress_event::kind::key_state, 0, s);
    render_until(at_s(0.2));
    // 60 released and struck again 100 ms after its first strike; 67 still held.
    s.held[0].t_sync_ns = r::samples_to_ns(r_ + 17, k_rate);
    s.released_count = 1;
    s.released[0] = {60, r::samples_to_ns(r_ + 5, k_rate), 0};
    push(r::ingress_event::kind::key_state, 0, s);
    render_until(at_s(1.6));
    writer_->stop();
    ASSERT_EQ(counters_.log_overflows.load(), 0u);
    EXPECT_EQ(counters_.note_ons.load(), 3u);
    // Live: both keys still down, yet the strings fell silent after their short notes.
    std::vector<float> late;
    for (std::int64_t f = at_s(1.2); f < at_s(1.6); f += cfg_.frame_samples)
        for (std::size_t i = 0; i < live_.at(f).size(); i += 2)
            late.push_back(live_.at(f)[i]);
    EXPECT_LT(gno::test::rms_dbfs(late), -60.0);

    const auto log = r::load_perf_log({dir_.string()});
    EXPECT_EQ(log.lost, 0u);
    std::size_t short_ends = 0;
    for (const auto& rec : log.records)
        if (rec.what == r::log_record::kind::push && rec.ev.what == r::note_event::kind::note_off &&
            rec.ev.value == r::k_short_note_off)
            ++short_ends;
    EXPECT_EQ(short_ends, 3u); // one per strike, the dropped one included
    const auto [differing, energy] = replay_and_compare(log);
    EXPECT_EQ(differing, 0u);
    EXPECT_GT(energy, 1.0);
}
