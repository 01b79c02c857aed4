#include "sound_check.hpp"

#include <algorithm>
#include <cmath>
#include <opus.h>
#include <stdexcept>
#include <string>

namespace gno::loadgen {

void sound_check::decoder_delete::operator()(OpusDecoder* d) const noexcept {
    opus_decoder_destroy(d);
}

sound_check::sound_check() {
    int err = OPUS_OK;
    decoder_.reset(opus_decoder_create(k_sample_rate, k_channels, &err));
    if (err != OPUS_OK || !decoder_)
        throw std::runtime_error(std::string("cannot create an Opus decoder: ") +
                                 opus_strerror(err));
}

sound_check::~sound_check() = default;
sound_check::sound_check(sound_check&&) noexcept = default;
sound_check& sound_check::operator=(sound_check&&) noexcept = default;

void sound_check::on_frame(std::span<const std::byte> opus, std::span<float> scratch) noexcept {
    const int max_samples =
        static_cast<int>(std::min<std::size_t>(scratch.size() / k_channels, k_max_frame_samples));
    const int n =
        opus_decode_float(decoder_.get(), reinterpret_cast<const unsigned char*>(opus.data()),
                          static_cast<opus_int32>(opus.size()), scratch.data(), max_samples, 0);
    if (n < 0) {
        ++decode_errors_;
        return;
    }
    // -50 dBFS as a mean square: (10^(-50/20))^2.
    static const double k_threshold = std::pow(10.0, k_sound_dbfs / 10.0);
    for (int i = 0; i < n; ++i, ++decoded_samples_) {
        if (decoded_samples_ < k_skip_samples)
            continue;
        for (int c = 0; c < k_channels; ++c) {
            const double v = scratch[static_cast<std::size_t>(i * k_channels + c)];
            window_sum_squares_ += v * v;
        }
        if (++window_fill_ == k_window_samples) {
            const double mean_square =
                window_sum_squares_ / (static_cast<double>(k_window_samples) * k_channels);
            ++windows_;
            if (mean_square > k_threshold)
                ++loud_windows_;
            window_fill_ = 0;
            window_sum_squares_ = 0.0;
        }
    }
}

} // namespace gno::loadgen
