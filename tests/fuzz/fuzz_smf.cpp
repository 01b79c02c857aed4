// libFuzzer target: the Standard MIDI File parser over arbitrary bytes. A parsed file must be
// internally consistent: notes in non-decreasing tick order, times finite and non-negative.
#include "gno/proto/smf.hpp"

#include <cmath>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    gno::proto::smf::file f;
    const std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
    if (gno::proto::smf::parse(in, f))
        return 0;
    for (const auto& t : f.tracks) {
        std::uint64_t last = 0;
        for (const auto& n : t.notes) {
            if (n.tick < last || n.key > 127 || !std::isfinite(n.seconds) || n.seconds < 0)
                std::abort();
            last = n.tick;
        }
    }
    return 0;
}
