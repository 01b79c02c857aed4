#pragma once
// Where the decoded mix goes: a JACK client (default) or a real-time-paced WAV writer.
// Both pull from `playout::render`, once per period, on their own audio thread, and add the
// local monitor (--own-voice local) on top when there is one.

#include "gno/client/local_monitor.hpp"
#include "gno/client/midi_input.hpp"
#include "gno/client/playout.hpp"
#include "gno/proto/wav_file.hpp"

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
    std::string client_name = "gno-client"; // exact: a name in use is an error, not renamed
    bool connect = true;                    // to system:playback_1/2, and midi_from
    std::string midi_from; // a JACK MIDI output port to connect to midi_in at start (optional)
};

/// JACK output ports out_left/out_right and, when `midi` is given, a MIDI input port midi_in
/// whose events the process callback hands to `midi->receive` (it is midi's one producer; midi
/// must outlive the audio_out). The process callback only calls playout::render and that, and
/// `monitor->render_add` after it when a monitor is given (it must outlive the audio_out).
/// Throws audio_out_error if no JACK server is running (never starts one), it does not run at
/// 48 kHz, or a client with the same name exists. A missing --midi-from port is a warning on
/// stderr that lists the MIDI output ports there are.
std::unique_ptr<audio_out> make_jack_audio_out(playout& source, const jack_options& options,
                                               midi_input* midi = nullptr,
                                               local_monitor* monitor = nullptr);

/// Writes the playout to a WAV file from a thread paced by the steady clock: one period every
/// period duration, at absolute deadlines. The header is refreshed every second. A `monitor`
/// (optional; it must outlive the audio_out) is added after playout::render, as with JACK.
std::unique_ptr<audio_out> make_wav_audio_out(playout& source, const std::string& path,
                                              proto::wav_format format,
                                              local_monitor* monitor = nullptr);

} // namespace gno::client
