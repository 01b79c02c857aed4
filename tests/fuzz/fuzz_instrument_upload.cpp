// libFuzzer target: a performer's instrument upload over arbitrary bytes - the multipart
// container, its JSON key map and the strict WAV reader behind it - then, for what parses, the
// SF2 writer. What parses must make an SF2 (or say why not), and every WAV the reader accepts
// holds finite samples of a rate it allows.
#include "gno/soundfonts/instrument_upload.hpp"

#include <cmath>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
    const auto wav = gno::soundfonts::read_wav(in);
    if (wav.ok()) {
        if (wav.samples.empty() || wav.sample_rate < 8000 || wav.sample_rate > 96000)
            std::abort();
        for (const float v : wav.samples)
            if (!std::isfinite(v))
                std::abort();
    }
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    const auto up =
        gno::soundfonts::parse_instrument_upload("multipart/form-data; boundary=b", body, "fuzz");
    if (up.ok()) {
        std::string error;
        if (gno::soundfonts::write_sf2(up.bank, error).empty() && error.empty())
            std::abort();
    }
    return 0;
}
