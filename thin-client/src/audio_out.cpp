#include "gno/client/audio_out.hpp"

#include "gno/client/steady_time.hpp"

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <jack/jack.h>
#include <jack/midiport.h>
#include <span>
#include <string>

namespace gno::client {
namespace {

// libjack reports a missing server on stderr in several lines; we print one actionable line.
void jack_quiet(const char*) {}
void jack_to_stderr(const char* msg) {
    std::fprintf(stderr, "gno-client: jack: %s\n", msg);
}

/// "a, b, c" of the JACK MIDI output ports there are, or "none".
std::string midi_output_ports(jack_client_t* client) {
    const char** ports = jack_get_ports(client, nullptr, JACK_DEFAULT_MIDI_TYPE, JackPortIsOutput);
    std::string list;
    for (const char** p = ports; p != nullptr && *p != nullptr; ++p)
        list += (list.empty() ? "" : ", ") + std::string(*p);
    if (ports != nullptr)
        jack_free(static_cast<void*>(ports));
    return list.empty() ? "none" : list;
}

/// Whether a JACK client called `name` exists. jack2 reports a refused exact name only as
/// JackFailure|JackServerError, so a short-lived client of our own asks the server.
bool jack_client_exists(const std::string& name) {
    jack_status_t status{};
    jack_client_t* probe = jack_client_open("gno-client-name-check", JackNoStartServer, &status);
    if (probe == nullptr)
        return false;
    char* uuid = jack_get_uuid_for_client_name(probe, name.c_str());
    const bool exists = uuid != nullptr;
    if (uuid != nullptr)
        jack_free(uuid);
    jack_client_close(probe);
    return exists;
}

class jack_audio_out final : public audio_out {
public:
    jack_audio_out(playout& source, const jack_options& options, midi_input* midi,
                   local_monitor* monitor)
        : source_(source), options_(options), midi_(midi), monitor_(monitor) {
        jack_set_error_function(jack_quiet);
        jack_set_info_function(jack_quiet);
        jack_status_t status{};
        // Exact name: JACK would otherwise rename a second "gno-client" to "gno-client-01",
        // and whatever connects to our ports by name would reach the first one.
        client_ = jack_client_open(
            options.client_name.c_str(),
            static_cast<jack_options_t>(JackNoStartServer | JackUseExactName), &status);
        if (client_ == nullptr) {
            if (status & JackServerFailed)
                throw audio_out_error(
                    "no JACK server is running; start one (e.g. `jackd -d dummy -r 48000` or "
                    "`jackd -d alsa`) or pass --output FILE.wav");
            if ((status & JackNameNotUnique) || jack_client_exists(options.client_name))
                throw audio_out_error("a JACK client named " + options.client_name +
                                      " already exists; pass --jack-name OTHER");
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
        if (midi_ != nullptr)
            midi_port_ =
                jack_port_register(client_, "midi_in", JACK_DEFAULT_MIDI_TYPE, JackPortIsInput, 0);
        if (left_ == nullptr || right_ == nullptr || (midi_ != nullptr && midi_port_ == nullptr)) {
            jack_client_close(client_);
            client_ = nullptr;
            throw audio_out_error("cannot register JACK ports");
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
        if (midi_port_ != nullptr && !options_.midi_from.empty())
            connect_midi_from(ours + ":midi_in");
    }

    void stop() override {
        if (client_ == nullptr)
            return;
        jack_deactivate(client_);
        jack_client_close(client_);
        client_ = nullptr;
    }

private:
    /// Main thread: --midi-from; a missing or unsuitable port is one warning line, not an error.
    void connect_midi_from(const std::string& ours) {
        const std::string& from = options_.midi_from;
        jack_port_t* port = jack_port_by_name(client_, from.c_str());
        const bool midi_output = port != nullptr && (jack_port_flags(port) & JackPortIsOutput) &&
                                 std::string(jack_port_type(port)) == JACK_DEFAULT_MIDI_TYPE;
        const int rc = midi_output ? jack_connect(client_, from.c_str(), ours.c_str()) : -1;
        if (rc == 0 || rc == EEXIST)
            return;
        const char* why = port == nullptr ? "there is no JACK port"
                          : !midi_output  ? "not a JACK MIDI output port:"
                                          : "could not connect JACK port";
        std::fprintf(stderr,
                     "gno-client: warning: --midi-from: %s %s; MIDI output ports: %s; playing on "
                     "without it (connect one to %s yourself)\n",
                     why, from.c_str(), midi_output_ports(client_).c_str(), ours.c_str());
    }

    // JACK process thread, RT-safe: only playout::render, local_monitor::render_add,
    // midi_input::receive and atomics.
    static int process(jack_nframes_t n, void* arg) {
        auto* self = static_cast<jack_audio_out*>(arg);
        const std::int64_t now = steady_now_ns();
        if (self->midi_port_ != nullptr)
            self->receive_midi(n, now);
        auto* l = static_cast<float*>(jack_port_get_buffer(self->left_, n));
        auto* r = static_cast<float*>(jack_port_get_buffer(self->right_, n));
        self->source_.render(l, r, n, now, self->latency_.load(std::memory_order_relaxed));
        if (self->monitor_ != nullptr)
            self->monitor_->render_add(l, r, n);
        return 0;
    }

    // JACK process thread, RT-safe. This period's events arrived during the previous one;
    // event.time is the frame offset within the period. So an event is stamped at the
    // callback's start minus one period plus its offset: its arrival time, give or take the
    // callback's scheduling jitter.
    void receive_midi(jack_nframes_t n, std::int64_t now) noexcept {
        void* buffer = jack_port_get_buffer(midi_port_, n);
        const jack_nframes_t count = jack_midi_get_event_count(buffer);
        for (jack_nframes_t i = 0; i < count; ++i) {
            jack_midi_event_t event{};
            if (jack_midi_event_get(&event, buffer, i) != 0)
                continue;
            const auto offset =
                static_cast<std::int64_t>(event.time) - static_cast<std::int64_t>(n);
            midi_->receive(std::span<const std::uint8_t>(event.buffer, event.size),
                           now + offset * 1'000'000'000 / k_sample_rate);
        }
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
    midi_input* midi_ = nullptr;       // null: no MIDI port
    local_monitor* monitor_ = nullptr; // null: the own voice comes from the server only
    jack_port_t* midi_port_ = nullptr;
    std::atomic<std::int64_t> latency_{0};
};

class wav_audio_out final : public audio_out {
public:
    static constexpr std::size_t k_period = 240; // 5 ms

    wav_audio_out(playout& source, const std::string& path, proto::wav_format format,
                  local_monitor* monitor)
        : source_(source), monitor_(monitor), file_(path, format) {}
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
            if (monitor_ != nullptr)
                monitor_->render_add(l.data(), r.data(), k_period);
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
    local_monitor* monitor_;
    proto::wav_file file_;
    std::atomic<bool> running_{false};
    std::thread thread_;
};

} // namespace

std::unique_ptr<audio_out> make_jack_audio_out(playout& source, const jack_options& options,
                                               midi_input* midi, local_monitor* monitor) {
    return std::make_unique<jack_audio_out>(source, options, midi, monitor);
}

std::unique_ptr<audio_out> make_wav_audio_out(playout& source, const std::string& path,
                                              proto::wav_format format, local_monitor* monitor) {
    try {
        return std::make_unique<wav_audio_out>(source, path, format, monitor);
    } catch (const std::runtime_error& e) {
        throw audio_out_error(std::string(e.what()) + "; pass another --output path");
    }
}

} // namespace gno::client
