#include "gno/render/opus_stage.hpp"

#include <opus/opus.h>
#include <stdexcept>
#include <string>

namespace gno::render {

opus_stage::opus_stage(const opus_stage_config& cfg)
    : frame_samples_(cfg.frame_samples), complexity_(cfg.complexity) {
    // Frames under 10 ms are CELT-only: restricted low-delay drops SILK's extra look-ahead.
    // From 10 ms on, SILK/hybrid frames can carry in-band FEC, so use the general mode.
    const int application = cfg.frame_samples * 100 < cfg.sample_rate
                                ? OPUS_APPLICATION_RESTRICTED_LOWDELAY
                                : OPUS_APPLICATION_AUDIO;
    int err = 0;
    enc_ = opus_encoder_create(cfg.sample_rate, cfg.channels, application, &err);
    if (err != OPUS_OK || !enc_)
        throw std::runtime_error(std::string("Opus encoder: ") + opus_strerror(err));
    opus_encoder_ctl(enc_, OPUS_SET_BITRATE(cfg.bitrate));
    opus_encoder_ctl(enc_, OPUS_SET_COMPLEXITY(cfg.complexity));
    opus_encoder_ctl(enc_, OPUS_SET_INBAND_FEC(1));
    opus_encoder_ctl(enc_, OPUS_SET_PACKET_LOSS_PERC(cfg.expected_loss_pct));
    opus_encoder_ctl(enc_, OPUS_SET_SIGNAL(OPUS_SIGNAL_MUSIC));
}

opus_stage::~opus_stage() {
    opus_encoder_destroy(enc_);
}

std::size_t opus_stage::encode(std::span<const float> interleaved,
                               std::span<std::byte> out) noexcept {
    const opus_int32 n = opus_encode_float(enc_, interleaved.data(), frame_samples_,
                                           reinterpret_cast<unsigned char*>(out.data()),
                                           static_cast<opus_int32>(out.size()));
    return n > 0 ? static_cast<std::size_t>(n) : 0;
}

void opus_stage::reset() noexcept {
    opus_encoder_ctl(enc_, OPUS_RESET_STATE);
}

void opus_stage::set_complexity(int complexity) noexcept {
    complexity_ = complexity;
    opus_encoder_ctl(enc_, OPUS_SET_COMPLEXITY(complexity));
}

} // namespace gno::render
