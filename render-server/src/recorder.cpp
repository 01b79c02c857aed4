#include "gno/render/recorder.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <opus/opusenc.h>
#include <stdexcept>
#include <unistd.h>

namespace gno::render {
namespace {

// libopusenc's output callbacks: every completed page goes to the kernel at once.
int write_pages(void* user, const unsigned char* ptr, opus_int32 len) {
    const int fd = *static_cast<int*>(user);
    while (len > 0) {
        const ssize_t n = ::write(fd, ptr, static_cast<std::size_t>(len));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return 1; // libopusenc reports OPE_WRITE_FAIL
        }
        ptr += n;
        len -= static_cast<opus_int32>(n);
    }
    return 0;
}

int close_pages(void* user) {
    int& fd = *static_cast<int*>(user);
    const int rc = ::close(fd);
    fd = -1;
    return rc == 0 ? 0 : 1;
}

} // namespace

recorder::recorder(const recording_paths& paths, int sample_rate, spsc_ring<pcm_frame>& ring,
                   node_counters& counters)
    : ring_(ring), counters_(counters), left_(k_max_frame_samples), right_(k_max_frame_samples) {
    if (!paths.wav.empty()) {
        try {
            wav_ = std::make_unique<proto::wav_file>(paths.wav, proto::wav_format::f32,
                                                     static_cast<std::uint32_t>(sample_rate));
        } catch (const std::runtime_error& e) {
            throw std::runtime_error(std::string("cannot create recording: ") + e.what() +
                                     "; check the directory exists and is writable");
        }
    }
    if (!paths.opus.empty()) {
        fd_ = ::open(paths.opus.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd_ < 0)
            throw std::runtime_error("cannot create recording " + paths.opus + " (" +
                                     std::strerror(errno) +
                                     "); check the directory exists and is writable");
        OggOpusComments* comments = ope_comments_create();
        ope_comments_add(comments, "TITLE", "Global Net Orchestra audience mix");
        ope_comments_add(comments, "ENCODER", "gno-server");
        const OpusEncCallbacks callbacks{write_pages, close_pages};
        int err = 0;
        enc_ = ope_encoder_create_callbacks(&callbacks, &fd_, comments, sample_rate, k_channels, 0,
                                            &err);
        ope_comments_destroy(comments);
        if (!enc_ || err != OPE_OK) {
            ::close(fd_);
            fd_ = -1;
            throw std::runtime_error("cannot create recording " + paths.opus + " (" +
                                     ope_strerror(err) + ")");
        }
        ope_encoder_ctl(enc_, OPUS_SET_BITRATE(128000));
        // Pages at most ~1 s apart, so little is lost if the process dies; no look-ahead for
        // frame-size decisions (libopusenc would otherwise hold 2 s more back).
        ope_encoder_ctl(enc_, OPE_SET_MUXING_DELAY(sample_rate));
        ope_encoder_ctl(enc_, OPE_SET_DECISION_DELAY(0));
        ope_encoder_flush_header(enc_);
    }
    thread_ = std::thread([this] { run(); });
}

recorder::~recorder() {
    stop();
}

void recorder::drain() {
    pcm_frame frame;
    while (ring_.try_pop(frame)) {
        const int n = frame.frame_samples;
        if (enc_)
            ope_encoder_write_float(enc_, frame.samples.data(), n);
        if (wav_) {
            for (int i = 0; i < n; ++i) {
                left_[static_cast<std::size_t>(i)] = frame.samples[2 * static_cast<std::size_t>(i)];
                right_[static_cast<std::size_t>(i)] =
                    frame.samples[2 * static_cast<std::size_t>(i) + 1];
            }
            wav_->write(left_.data(), right_.data(), static_cast<std::size_t>(n));
        }
        counters_.recorded_samples.fetch_add(static_cast<std::uint64_t>(n),
                                             std::memory_order_relaxed);
    }
}

void recorder::run() {
    auto next_header = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (!stopping_.load(std::memory_order_acquire)) {
        drain();
        if (wav_ && std::chrono::steady_clock::now() >= next_header) {
            wav_->update_header(); // the WAV stays readable up to here if the process dies
            next_header += std::chrono::seconds(1);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    drain();
}

void recorder::stop() {
    if (stopping_.exchange(true, std::memory_order_acq_rel) && !thread_.joinable())
        return;
    if (thread_.joinable())
        thread_.join();
    if (enc_) {
        ope_encoder_drain(enc_);
        ope_encoder_destroy(enc_); // closes fd_ through close_pages
        enc_ = nullptr;
    }
    if (wav_)
        wav_->close();
}

} // namespace gno::render
