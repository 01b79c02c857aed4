// libFuzzer target: every v1 decoder over arbitrary bytes. A decoded message must re-encode to
// a datagram that decodes to the same thing (no state the codec cannot represent). The tag
// check reads any input safely, a forged tag never passes, and sealing makes one that does.
#include "gno/proto/v1/auth.hpp"
#include "gno/proto/v1/datagram.hpp"

#include <array>
#include <cstdlib>
#include <cstring>

namespace v1 = gno::proto::v1;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
    std::array<std::byte, v1::k_max_datagram> out{};
    std::error_code ec;
    v1::header h;
    std::span<const std::byte> payload;
    static const v1::session_key key = v1::derive_session_key(v1::master_secret{}, 7);
    const bool tagged = v1::verify(in, key); // any bytes: never out of bounds
    if (v1::decode_header(in, h, payload))
        return 0;
    if (tagged)
        std::abort(); // the fuzzer forged a BLAKE2b tag: impossible in practice
    std::memcpy(out.data(), data, size);
    v1::seal(std::span(out).first(size), key);
    if (!v1::verify(std::span(out).first(size), key))
        std::abort();

    v1::key_state ks;
    if (!v1::decode(in, h, ks)) {
        const auto n = v1::encode(h, ks, out, ec);
        if (ec || n != size || std::memcmp(out.data(), data, size) != 0)
            std::abort();
    }
    v1::audio_frame af;
    if (!v1::decode(in, h, af)) {
        const auto n = v1::encode(h, af, out, ec);
        if (ec || n != size || std::memcmp(out.data(), data, size) != 0)
            std::abort();
    }
    v1::player_info info;
    if (!v1::decode(in, h, info)) {
        const auto n = v1::encode(h, info, out, ec);
        if (ec || n != size || std::memcmp(out.data(), data, size) != 0)
            std::abort();
    }
    v1::clock_ping ping;
    if (!v1::decode(in, h, ping) && v1::encode(h, ping, out, ec) != size)
        std::abort();
    v1::clock_pong pong;
    if (!v1::decode(in, h, pong) && v1::encode(h, pong, out, ec) != size)
        std::abort();
    v1::node_info node;
    if (!v1::decode(in, h, node)) {
        const auto n = v1::encode(h, node, out, ec);
        if (ec || n != size || std::memcmp(out.data(), data, size) != 0)
            std::abort();
    }
    v1::timing_state timing;
    if (!v1::decode(in, h, timing)) {
        const auto n = v1::encode(h, timing, out, ec);
        if (ec || n != size || std::memcmp(out.data(), data, size) != 0)
            std::abort();
    }
    v1::section_stem stem;
    if (!v1::decode(in, h, stem) && stem.opus()) {
        const auto n = v1::encode_opus_stem(h, stem.render_sample, stem.section, stem.frame_samples,
                                            stem.opus_start(), stem.pcm, out, ec);
        if (ec || n != size || std::memcmp(out.data(), data, size) != 0)
            std::abort();
    } else if (!v1::decode(in, h, stem)) {
        // Every sample is readable, and the slice re-encodes to a datagram of the same size.
        std::array<float, v1::k_max_stem_samples> l{}, r{};
        for (std::size_t i = 0; i < stem.frame_samples; ++i) {
            l[i] = stem.sample(i, 0);
            r[i] = stem.sample(i, 1);
        }
        const auto n = v1::encode_stem(h, stem.render_sample, stem.section,
                                       std::span(l).first(stem.frame_samples),
                                       std::span(r).first(stem.frame_samples), out, ec);
        if (n != size)
            std::abort();
    }
    return 0;
}
