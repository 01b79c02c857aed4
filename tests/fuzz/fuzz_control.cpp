// libFuzzer target: the control channel's parser over arbitrary text. It must never throw or
// crash, must refuse with a reason, and what it accepts must be a message some role may send
// or a join, and must re-encode as JSON.
#include "gno/proto/v1/control.hpp"

#include <cstdlib>
#include <string_view>

namespace c = gno::proto::v1::control;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto r = c::parse(text);
    if (!r.message) {
        if (r.error.code.empty() || r.error.message.empty())
            std::abort();
        return 0;
    }
    const auto& m = *r.message;
    const bool someone = c::allowed(m, c::role::performer) || c::allowed(m, c::role::conductor) ||
                         c::allowed(m, c::role::ops) || std::holds_alternative<c::join>(m);
    if (!someone)
        std::abort();
    if (c::encode_broadcast(m, 1, "x", c::role::conductor).empty())
        std::abort();
    return 0;
}
