#pragma once
// Where the decoded mix goes: a JACK client (default) or a real-time-paced WAV writer.
// Both pull from `playout::render`, once per period, on their own audio thread.

#include "gno/client/playout.hpp"
#include "gno/client/wav_file.hpp"

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

namespace gno::client {

/// Start-up failure the user can fix (no JACK server, wrong sample rate, unwritable file).
class audio_out_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class audio_out {
public:
    virtual ~audio_out() = default;
    /// Main thread: starts pulling from the playout. Throws audio_out_error.
    virtual void start() = 0;
    /// Main thread: stops pulling and finalises output (idempotent).
    virtual void stop() = 0;
};

struct jack_options {
    std::string client_name = "gno-client";
    bool connect = true; // to system:playback_1/2
};

/// JACK output ports out_left/out_right. The process callback only calls playout::render.
/// Throws audio_out_error if no JACK server is running (never starts one) or it does not run
/// at 48 kHz.
std::unique_ptr<audio_out> make_jack_audio_out(playout& source, const jack_options& options);

/// Writes the playout to a WAV file from a thread paced by the steady clock: one period every
/// period duration, at absolute deadlines. The header is refreshed every second.
std::unique_ptr<audio_out> make_wav_audio_out(playout& source, const std::string& path,
                                              wav_format format);

} // namespace gno::client
