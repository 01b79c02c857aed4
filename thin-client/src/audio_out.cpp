#include "gno/client/audio_out.hpp"

#include "gno/client/steady_time.hpp"

#include <array>
#include <chrono>
#include <cstdio>
#include <jack/jack.h>

namespace gno::client {
namespace {

// libjack reports a missing server on stderr in several lines; we print one actionable line.
void jack_quiet(const char*) {}
void jack_to_stderr(const char* msg) {
    std::fprintf(stderr, "gno-client: jack: %s\n", msg);
}

class jack_audio_out final : public audio_out {
public:
    jack_audio_out(playout& source, const jack_options& options)
        : source_(source), options_(options) {
        jack_set_error_function(jack_quiet);
        jack_set_info_function(jack_quiet);
        jack_status_t status{};
        client_ = jack_client_open(options.client_name.c_str(), JackNoStartServer, &status);
        if (client_ == nullptr) {
            if (status & JackServerFailed)
                throw audio_out_error(
                    "no JACK server is running; start one (e.g. `jackd -d dummy -r 48000` or "
                    "`jackd -d alsa`) or pass --output FILE.wav");
            throw audio_out_error("cannot open JACK client '" + options.client_name +
                                  "' (status 0x" + std::to_string(static_cast<int>(status)) +
                                  "); try another --jack-name or pass --output FILE.wav");
        }
        jack_set_error_function(jack_to_stderr);
        const jack_nframes_t rate = jack_get_sample_rate(client_);
        if (rate != static_cast<jack_nframes_t>(k_sample_rate)) {
            jack_client_close(client_);
            client_ = nullptr;
            throw audio_out_error("the JACK server runs at " + std::to_string(rate) +
                                  " Hz; gno-client needs 48000 (restart jackd with -r 48000) or "
                                  "pass --output FILE.wav");
        }
        left_ =
            jack_port_register(client_, "out_left", JACK_DEFAULT_AUDIO_TYPE, JackPortIsOutput, 0);
        right_ =
            jack_port_register(client_, "out_right", JACK_DEFAULT_AUDIO_TYPE, JackPortIsOutput, 0);
        if (left_ == nullptr || right_ == nullptr) {
            jack_client_close(client_);
            client_ = nullptr;
            throw audio_out_error("cannot register JACK output ports");
        }
        jack_set_process_callback(client_, &jack_audio_out::process, this);
        jack_set_latency_callback(client_, &jack_audio_out::on_latency, this);
    }

    ~jack_audio_out() override { stop(); }

    void start() override {
        if (jack_activate(client_) != 0)
            throw audio_out_error("cannot activate the JACK client");
        update_latency();
        if (!options_.connect)
            return;
        const std::string ours = std::string(jack_get_client_name(client_));
        if (jack_connect(client_, (ours + ":out_left").c_str(), "system:playback_1") != 0 ||
            jack_connect(client_, (ours + ":out_right").c_str(), "system:playback_2") != 0)
            std::fprintf(stderr, "gno-client: warning: could not connect to system:playback_1/2; "
                                 "connect the ports yourself or pass --no-connect\n");
    }

    void stop() override {
        if (client_ == nullptr)
            return;
        jack_deactivate(client_);
        jack_client_close(client_);
        client_ = nullptr;
    }

private:
    // JACK process thread, RT-safe: only playout::render and atomics.
    static int process(jack_nframes_t n, void* arg) {
        auto* self = static_cast<jack_audio_out*>(arg);
        auto* l = static_cast<float*>(jack_port_get_buffer(self->left_, n));
        auto* r = static_cast<float*>(jack_port_get_buffer(self->right_, n));
        self->source_.render(l, r, n, steady_now_ns(),
                             self->latency_.load(std::memory_order_relaxed));
        return 0;
    }

    static void on_latency(jack_latency_callback_mode_t mode, void* arg) {
        if (mode == JackPlaybackLatency)
            static_cast<jack_audio_out*>(arg)->update_latency();
    }

    void update_latency() {
        jack_latency_range_t range{};
        jack_port_get_latency_range(left_, JackPlaybackLatency, &range);
        latency_.store(range.max, std::memory_order_relaxed);
    }

    playout& source_;
    jack_options options_;
    jack_client_t* client_ = nullptr;
    jack_port_t* left_ = nullptr;
    jack_port_t* right_ = nullptr;
    std::atomic<std::int64_t> latency_{0};
};

class wav_audio_out final : public audio_out {
public:
    static constexpr std::size_t k_period = 240; // 5 ms

    wav_audio_out(playout& source, const std::string& path, wav_format format)
        : source_(source), file_(path, format) {}
    ~wav_audio_out() override { stop(); }

    void start() override {
        running_.store(true);
        thread_ = std::thread([this] { run(); });
    }

    void stop() override {
        running_.store(false);
        if (thread_.joinable())
            thread_.join();
        file_.close();
    }

private:
    void run() {
        using clock = std::chrono::steady_clock;
        std::array<float, k_period> l{};
        std::array<float, k_period> r{};
        const auto period = std::chrono::nanoseconds(1'000'000'000LL * k_period / k_sample_rate);
        const auto t0 = clock::now();
        std::uint64_t k = 0;
        std::uint64_t since_header = 0;
        while (running_.load(std::memory_order_relaxed)) {
            const auto deadline = t0 + period * static_cast<std::int64_t>(k);
            std::this_thread::sleep_until(deadline);
            source_.render(l.data(), r.data(), k_period, steady_now_ns(), 0);
            file_.write(l.data(), r.data(), k_period);
            ++k;
            since_header += k_period;
            if (since_header >= static_cast<std::uint64_t>(k_sample_rate)) {
                file_.update_header();
                since_header = 0;
            }
        }
    }

    playout& source_;
    wav_file file_;
    std::atomic<bool> running_{false};
    std::thread thread_;
};

} // namespace

std::unique_ptr<audio_out> make_jack_audio_out(playout& source, const jack_options& options) {
    return std::make_unique<jack_audio_out>(source, options);
}

std::unique_ptr<audio_out> make_wav_audio_out(playout& source, const std::string& path,
                                              wav_format format) {
    try {
        return std::make_unique<wav_audio_out>(source, path, format);
    } catch (const std::runtime_error& e) {
        throw audio_out_error(e.what());
    }
}

} // namespace gno::client
