#pragma once
// Recordings of the audience mix (DESIGN.md §6): Ogg Opus made with libopusenc, and/or the PCM
// itself as a 32-bit float WAV (the exact samples, before Opus: what a re-render from the
// performance logs reproduces, perf_log.hpp). The render thread hands frames over an SPSC ring;
// this writer thread encodes and writes them.
//
// Crash-safe: Ogg pages go straight to the file descriptor as libopusenc completes them (no
// stdio buffer; at most one second apart), and the WAV header is rewritten every second, so a
// server killed with SIGKILL leaves files that play up to their last page or second. stop()
// drains what is queued and finalises both, so a SIGINT/SIGTERM loses nothing.
// Thread: construct/stop on a control thread; the ring's producer is the render thread.

#include "gno/proto/wav_file.hpp"
#include "gno/render/counters.hpp"
#include "gno/render/frames.hpp"
#include "gno/render/recorder_paths.hpp"
#include "gno/render/spsc_ring.hpp"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

struct OggOpusEnc;

namespace gno::render {

class recorder {
public:
    /// Creates the files; throws with a message naming the path when one cannot be written.
    recorder(const recording_paths& paths, int sample_rate, spsc_ring<pcm_frame>& ring,
             node_counters& counters);
    ~recorder();
    recorder(const recorder&) = delete;
    recorder& operator=(const recorder&) = delete;

    /// Drains the ring, finalises the Ogg stream and the WAV header, closes. Idempotent.
    void stop();

private:
    void run();
    void drain();

    spsc_ring<pcm_frame>& ring_;
    node_counters& counters_;
    OggOpusEnc* enc_ = nullptr;
    int fd_ = -1; // the Ogg file, written by libopusenc's callbacks
    std::unique_ptr<proto::wav_file> wav_;
    std::vector<float> left_, right_; // one frame, deinterleaved for the WAV writer
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

} // namespace gno::render
