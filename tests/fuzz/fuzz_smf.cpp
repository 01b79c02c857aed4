// libFuzzer target: the Standard MIDI File parser over arbitrary bytes. A parsed file must be
// internally consistent: notes and kept events in non-decreasing tick order, times finite and
// non-negative, kept payloads inside the input.
#include "gno/proto/smf.hpp"

#include <cmath>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    gno::proto::smf::file f;
    const std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
    // Every event kept (what a performance log reader asks for): each payload inside the input.
    if (!gno::proto::smf::parse(in, f, nullptr, {.keep_events = true})) {
        for (const auto& t : f.tracks) {
            std::uint64_t last = 0;
            for (const auto& e : t.events) {
                if (e.tick < last || std::uint64_t{e.data_offset} + e.data_size > size)
                    std::abort();
                last = e.tick;
            }
        }
    }
    f = {};
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
