#pragma once
// What the mix tests hear: every packet a render engine hands to egress, decoded with one
// libopus decoder per mix id, in the order the packets leave the engine's rings.

#include "gno/render/render_engine.hpp"

#include <gtest/gtest.h>
#include <map>
#include <opus/opus.h>
#include <span>
#include <vector>

namespace gno::render::test {

class egress_decoder {
public:
    egress_decoder() = default;
    egress_decoder(const egress_decoder&) = delete;
    egress_decoder& operator=(const egress_decoder&) = delete;
    ~egress_decoder() {
        for (auto& [id, dec] : decoders_)
            opus_decoder_destroy(dec);
    }

    /// Pops every packet the engine has handed to egress and calls
    /// on_frame(const encoded_frame&, std::span<const float> left channel decoded).
    template <typename F>
    void drain(render_engine& engine, int frame_samples, F&& on_frame) {
        pcm_.resize(static_cast<std::size_t>(frame_samples) * 2);
        left_.resize(static_cast<std::size_t>(frame_samples));
        encoded_frame f;
        for (auto* ring : engine.egress()) {
            while (ring->try_pop(f)) {
                OpusDecoder*& dec = decoders_[f.mix_id];
                if (!dec) {
                    int err = 0;
                    dec = opus_decoder_create(48000, 2, &err);
                    ASSERT_EQ(err, OPUS_OK);
                }
                const int n = opus_decode_float(
                    dec, reinterpret_cast<const unsigned char*>(f.bytes.data()),
                    static_cast<opus_int32>(f.size), pcm_.data(), frame_samples, 0);
                ASSERT_EQ(n, frame_samples);
                for (std::size_t s = 0; s < left_.size(); ++s)
                    left_[s] = pcm_[2 * s];
                on_frame(f, std::span<const float>(left_));
            }
        }
    }

private:
    std::map<std::uint32_t, OpusDecoder*> decoders_;
    std::vector<float> pcm_, left_;
};

} // namespace gno::render::test
