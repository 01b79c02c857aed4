#include "gno/render/recorder.hpp"

#include <chrono>
#include <opus/opusenc.h>
#include <stdexcept>

namespace gno::render {

recorder::recorder(const std::string& path, int sample_rate, spsc_ring<pcm_frame>& ring,
                   node_counters& counters)
    : ring_(ring), counters_(counters) {
    OggOpusComments* comments = ope_comments_create();
    ope_comments_add(comments, "TITLE", "Global Net Orchestra audience mix");
    ope_comments_add(comments, "ENCODER", "gno-server");
    int err = 0;
    enc_ = ope_encoder_create_file(path.c_str(), comments, sample_rate, k_channels, 0, &err);
    ope_comments_destroy(comments);
    if (!enc_ || err != OPE_OK)
        throw std::runtime_error("cannot create recording " + path + " (" + ope_strerror(err) +
                                 "); check the directory exists and is writable");
    ope_encoder_ctl(enc_, OPUS_SET_BITRATE(128000));
    // Pages at most ~1 s apart, so little is lost if the process dies.
    ope_encoder_ctl(enc_, OPE_SET_MUXING_DELAY(sample_rate));
    ope_encoder_flush_header(enc_);
    thread_ = std::thread([this] { run(); });
}

recorder::~recorder() {
    stop();
}

void recorder::drain() {
    pcm_frame frame;
    while (ring_.try_pop(frame)) {
        ope_encoder_write_float(enc_, frame.samples.data(), frame.frame_samples);
        counters_.recorded_samples.fetch_add(frame.frame_samples, std::memory_order_relaxed);
    }
}

void recorder::run() {
    while (!stopping_.load(std::memory_order_acquire)) {
        drain();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    drain();
}

void recorder::stop() {
    if (!enc_)
        return;
    stopping_.store(true, std::memory_order_release);
    if (thread_.joinable())
        thread_.join();
    ope_encoder_drain(enc_);
    ope_encoder_destroy(enc_);
    enc_ = nullptr;
}

} // namespace gno::render
