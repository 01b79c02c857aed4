#pragma once
// The end-to-end tests' own JACK client against a private jackd: audio inputs it records, each
// into a buffer sized at construction, and optionally a MIDI output that sends one message at
// the start of a period. Thread: the test thread calls everything; the process callback
// touches only the buffers and atomics (no allocation, no locks).

#include "gno/test/process.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <jack/jack.h>
#include <jack/midiport.h>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace gno::e2e {

class jack_test_client {
public:
    static constexpr double k_max_record_s = 60.0;
    static constexpr int k_rate = 48000;

    /// Opens `name` on jackd `server` with the audio inputs `inputs` and, with `midi_out`, a
    /// MIDI output port named "midi_out". Throws std::runtime_error if JACK refuses.
    jack_test_client(const std::string& server, const std::string& name,
                     const std::vector<std::string>& inputs, bool midi_out = false) {
        jack_status_t status{};
        client_ = jack_client_open(
            name.c_str(),
            static_cast<jack_options_t>(JackServerName | JackNoStartServer | JackUseExactName),
            &status, server.c_str());
        if (client_ == nullptr)
            throw std::runtime_error("the test's JACK client cannot open (status " +
                                     std::to_string(static_cast<int>(status)) + ")");
        if (midi_out) {
            midi_out_ = jack_port_register(client_, "midi_out", JACK_DEFAULT_MIDI_TYPE,
                                           JackPortIsOutput, 0);
            if (midi_out_ == nullptr)
                throw std::runtime_error("the test's JACK client cannot register midi_out");
        }
        for (const auto& in : inputs) {
            jack_port_t* p = jack_port_register(client_, in.c_str(), JACK_DEFAULT_AUDIO_TYPE,
                                                JackPortIsInput, 0);
            if (p == nullptr)
                throw std::runtime_error("the test's JACK client cannot register " + in);
            ports_.push_back(p);
            recorded_.emplace_back(static_cast<std::size_t>(k_max_record_s * k_rate));
        }
        jack_set_process_callback(client_, &jack_test_client::process, this);
        if (jack_activate(client_) != 0)
            throw std::runtime_error("the test's JACK client cannot activate");
    }
    ~jack_test_client() { stop(); }
    jack_test_client(const jack_test_client&) = delete;
    jack_test_client& operator=(const jack_test_client&) = delete;

    [[nodiscard]] jack_client_t* client() const noexcept { return client_; }
    [[nodiscard]] std::string port(const std::string& short_name) const {
        return std::string(jack_get_client_name(client_)) + ":" + short_name;
    }
    [[nodiscard]] bool port_exists(const std::string& full_name) const {
        return jack_port_by_name(client_, full_name.c_str()) != nullptr;
    }
    [[nodiscard]] int port_flags(const std::string& full_name) const {
        jack_port_t* p = jack_port_by_name(client_, full_name.c_str());
        return p != nullptr ? jack_port_flags(p) : 0;
    }
    [[nodiscard]] bool connected(const std::string& a, const std::string& b) const {
        jack_port_t* p = jack_port_by_name(client_, a.c_str());
        return p != nullptr && jack_port_connected_to(p, b.c_str()) != 0;
    }
    bool connect(const std::string& from, const std::string& to) {
        const int rc = jack_connect(client_, from.c_str(), to.c_str());
        return rc == 0 || rc == EEXIST;
    }

    /// Sends one MIDI message (at most 3 bytes) at the start of the next period; returns the
    /// recorded-frame index it went out at (its place in recording()), or nullopt if no period
    /// ran within 5 s. Needs the MIDI output.
    std::optional<std::size_t> send(std::initializer_list<std::uint8_t> bytes) {
        std::uint32_t packed = static_cast<std::uint32_t>(bytes.size()) << 24;
        int shift = 0;
        for (const auto b : bytes) {
            packed |= static_cast<std::uint32_t>(b) << shift;
            shift += 8;
        }
        pending_.store(packed);
        if (!test::wait_for([&] { return pending_.load() == 0; }, std::chrono::seconds(5),
                            std::chrono::milliseconds(1)))
            return std::nullopt;
        return sent_at_.load();
    }

    /// Frames recorded so far.
    [[nodiscard]] std::size_t frames() const noexcept { return frames_.load(); }

    /// Deactivates (idempotent); then the recordings are complete and safe to read.
    void stop() {
        if (client_ == nullptr)
            return;
        jack_deactivate(client_);
        jack_client_close(client_);
        client_ = nullptr;
    }
    /// What input `i` heard, from the first period on.
    [[nodiscard]] std::vector<float> recording(std::size_t i) const {
        const auto& r = recorded_[i];
        return {r.begin(),
                r.begin() + static_cast<std::ptrdiff_t>(std::min(frames_.load(), r.size()))};
    }

private:
    // JACK process thread: no allocation, no locks.
    static int process(jack_nframes_t n, void* arg) {
        auto* self = static_cast<jack_test_client*>(arg);
        const std::size_t at = self->frames_.load(std::memory_order_relaxed);
        if (self->midi_out_ != nullptr) {
            void* midi = jack_port_get_buffer(self->midi_out_, n);
            jack_midi_clear_buffer(midi);
            if (const std::uint32_t m = self->pending_.load(); m != 0) {
                const std::array<jack_midi_data_t, 3> bytes = {
                    static_cast<jack_midi_data_t>(m), static_cast<jack_midi_data_t>(m >> 8),
                    static_cast<jack_midi_data_t>(m >> 16)};
                jack_midi_event_write(midi, 0, bytes.data(), std::min<std::size_t>(m >> 24, 3));
                self->sent_at_.store(at);
                self->pending_.store(0);
            }
        }
        for (std::size_t c = 0; c < self->ports_.size(); ++c) {
            const auto* in = static_cast<const float*>(jack_port_get_buffer(self->ports_[c], n));
            auto& out = self->recorded_[c];
            for (jack_nframes_t i = 0; i < n && at + i < out.size(); ++i)
                out[at + i] = in[i];
        }
        self->frames_.store(at + n);
        return 0;
    }

    jack_client_t* client_ = nullptr;
    jack_port_t* midi_out_ = nullptr;
    std::vector<jack_port_t*> ports_;
    std::vector<std::vector<float>> recorded_;
    std::atomic<std::size_t> frames_{0};
    std::atomic<std::uint32_t> pending_{0}; // size << 24 | bytes, 0 = none
    std::atomic<std::size_t> sent_at_{0};
};

} // namespace gno::e2e
