#include "gno/render/instrument_library.hpp"

#include "gno/soundfonts/instrument_upload.hpp"
#include "gno/soundfonts/sf2_writer.hpp"

#include <chrono>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <system_error>
#include <unistd.h>
#include <vector>

namespace gno::render {
namespace {

// Long enough for the render thread to have rendered blocks since it stopped the voices.
constexpr auto k_retire_delay = std::chrono::milliseconds(250);
constexpr auto k_reap_interval = std::chrono::milliseconds(50);

// One retired instrument being freed: destroying it waits until FluidSynth lets go of its
// samples (user_instrument.hpp), so each has a thread of its own and none waits for another.
struct undertaker {
    std::shared_ptr<std::atomic<bool>> done = std::make_shared<std::atomic<bool>>(false);
    std::jthread thread;
};

std::string mib(std::size_t bytes) {
    return std::to_string((bytes + (1u << 19)) >> 20) + " MiB";
}

} // namespace

instrument_library::instrument_library(instrument_library_config cfg)
    : cfg_(std::move(cfg)), live_bytes_(std::make_shared<std::atomic<std::size_t>>(0)),
      retired_(cfg_.retire_capacity) {
    std::error_code ec;
    if (cfg_.directory.empty()) {
        auto pattern =
            (std::filesystem::temp_directory_path(ec) / "gno-instruments-XXXXXX").string();
        if (ec || !::mkdtemp(pattern.data()))
            throw std::runtime_error("cannot make a directory for performers' instruments under " +
                                     std::filesystem::temp_directory_path(ec).string() +
                                     "; pass --instrument-dir DIR");
        dir_ = pattern;
        made_dir_ = true;
    } else {
        dir_ = cfg_.directory;
        std::filesystem::create_directories(dir_, ec);
        if (ec || !std::filesystem::is_directory(dir_) || ::access(dir_.c_str(), W_OK) != 0)
            throw std::runtime_error("cannot write performers' instruments to --instrument-dir " +
                                     cfg_.directory + (ec ? " (" + ec.message() + ")" : "") +
                                     "; pass a writable directory");
    }
    reaper_ = std::jthread([this](std::stop_token stop) { reap(stop); });
}

instrument_library::~instrument_library() {
    reaper_.request_stop();
    if (reaper_.joinable())
        reaper_.join();
    // Whatever is still on its way back: the voice banks are gone, nothing plays it.
    user_instrument* u = nullptr;
    while (retired_.try_pop(u))
        delete u;
    if (made_dir_) {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
}

void instrument_library::reap(std::stop_token stop) {
    std::deque<std::pair<std::chrono::steady_clock::time_point, user_instrument*>> dying;
    // Destroyed (joined) when the reaper ends: at the library's end, when no voice bank is left
    // to hold a sample, so every one of them finishes.
    std::vector<undertaker> undertakers;
    std::mutex mu;
    std::condition_variable_any wake;
    for (;;) {
        {
            std::unique_lock lock(mu);
            wake.wait_for(lock, stop, k_reap_interval, [] { return false; });
        }
        const auto now = std::chrono::steady_clock::now();
        user_instrument* u = nullptr;
        while (retired_.try_pop(u))
            dying.emplace_back(now, u);
        const bool stopping = stop.stop_requested();
        while (!dying.empty() && (stopping || now - dying.front().first >= k_retire_delay)) {
            undertaker t;
            t.thread = std::jthread([u = dying.front().second, done = t.done, this] {
                delete u;
                freed_.fetch_add(1, std::memory_order_relaxed);
                done->store(true);
            });
            undertakers.push_back(std::move(t));
            dying.pop_front();
        }
        std::erase_if(undertakers, [](const undertaker& t) { return t.done->load(); });
        if (stopping)
            return;
    }
}

instrument_library::built instrument_library::build(std::uint32_t session,
                                                    std::string_view content_type,
                                                    std::string_view body) {
    const auto started = std::chrono::steady_clock::now();
    built b;
    auto refuse = [&](int status, const char* code, std::string message) {
        b.status = status;
        b.error = code;
        b.message = std::move(message);
        refused_.fetch_add(1, std::memory_order_relaxed);
        return std::move(b);
    };
    const auto upload = soundfonts::parse_instrument_upload(content_type, body,
                                                            "player " + std::to_string(session));
    if (!upload.ok())
        return refuse(400, "bad_upload", upload.error);
    std::string error;
    const auto sf2 = soundfonts::write_sf2(upload.bank, error);
    if (sf2.empty())
        return refuse(400, "bad_upload", error);
    const std::size_t live = live_bytes_->load();
    if (live + sf2.size() > cfg_.budget_bytes)
        return refuse(503, "over_budget",
                      "this node already holds " + mib(live) +
                          " of performers' instruments and takes " + mib(cfg_.budget_bytes) +
                          "; try again later, or with shorter samples");

    // Written beside, then renamed: FluidSynth never reads half a file.
    const auto path =
        dir_ / ("player-" + std::to_string(session) + "-" + std::to_string(++sequence_) + ".sf2");
    auto tmp = path;
    tmp += ".tmp";
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        f.write(reinterpret_cast<const char*>(sf2.data()),
                static_cast<std::streamsize>(sf2.size()));
        if (!f) {
            std::error_code ec;
            std::filesystem::remove(tmp, ec);
            return refuse(500, "build_failed", "cannot write " + tmp.string());
        }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::filesystem::remove(tmp, ec);
        return refuse(500, "build_failed", "cannot write " + path.string());
    }
    b.instrument = user_instrument::load(session, path, sf2.size(), live_bytes_, error);
    if (!b.instrument)
        return refuse(500, "build_failed", error);
    built_.fetch_add(1, std::memory_order_relaxed);

    const auto& preset = upload.bank.presets.front();
    nlohmann::json zones = nlohmann::json::array();
    for (const auto& z : preset.zones) {
        const auto& s = upload.bank.samples[static_cast<std::size_t>(z.sample)];
        zones.push_back({{"lo", z.key_lo},
                         {"hi", z.key_hi},
                         {"root", s.root_key},
                         {"loop", z.loop},
                         {"seconds", static_cast<double>(s.pcm.size()) / s.sample_rate}});
    }
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
    b.json =
        nlohmann::json{{"type", "instrument"}, {"player", session},       {"name", preset.name},
                       {"zones", zones},       {"sf2_bytes", sf2.size()}, {"build_ms", ms}}
            .dump();
    return b;
}

instrument_library::stats instrument_library::counters() const noexcept {
    stats s;
    s.built = built_.load(std::memory_order_relaxed);
    s.refused = refused_.load(std::memory_order_relaxed);
    s.freed = freed_.load(std::memory_order_relaxed);
    s.live_bytes = live_bytes_->load(std::memory_order_relaxed);
    return s;
}

} // namespace gno::render
