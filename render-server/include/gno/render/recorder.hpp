#pragma once
// Recording of the audience mix as Ogg Opus with libopusenc (DESIGN.md §6). The render thread
// hands frames over an SPSC ring; this writer thread encodes and writes them. stop() drains
// what is queued and finalises the file, so a SIGINT/SIGTERM loses nothing.
// Thread: construct/stop on a control thread; the ring's producer is the render thread.

#include "gno/render/counters.hpp"
#include "gno/render/frames.hpp"
#include "gno/render/spsc_ring.hpp"

#include <atomic>
#include <string>
#include <thread>

struct OggOpusEnc;

namespace gno::render {

class recorder {
public:
    /// Creates the file; throws with a message naming the path when it cannot be written.
    recorder(const std::string& path, int sample_rate, spsc_ring<pcm_frame>& ring,
             node_counters& counters);
    ~recorder();
    recorder(const recorder&) = delete;
    recorder& operator=(const recorder&) = delete;

    /// Drains the ring, finalises the Ogg stream and closes the file. Idempotent.
    void stop();

private:
    void run();
    void drain();

    spsc_ring<pcm_frame>& ring_;
    node_counters& counters_;
    OggOpusEnc* enc_ = nullptr;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

} // namespace gno::render
