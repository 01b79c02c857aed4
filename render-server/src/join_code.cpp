// --join-code's parser, apart from the control plane that uses the codes: gno-server's options
// (server_options.cpp) and the option fuzzer build it without Boost.Beast.
#include "gno/render/control_plane.hpp"

#include <charconv>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gno::render {

join_code parse_join_code(std::string_view spec) {
    constexpr const char* k_syntax = "a join code is ROLE:CODE[:PROGRAM[:MAX]], e.g. "
                                     "performer:violins, performer:violins:40:12 or "
                                     "listener:hall::500";
    join_code c;
    // ROLE, CODE, then optionally PROGRAM (empty when only MAX follows) and MAX.
    std::vector<std::string_view> fields;
    for (std::size_t from = 0;;) {
        const auto colon = spec.find(':', from);
        fields.push_back(spec.substr(from, colon == std::string_view::npos ? colon : colon - from));
        if (colon == std::string_view::npos)
            break;
        from = colon + 1;
    }
    if (fields.size() < 2 || fields.size() > 4)
        throw std::invalid_argument(k_syntax);
    const auto r = control::parse_role(fields[0]);
    if (!r)
        throw std::invalid_argument("join code role must be performer, conductor, ops or listener");
    c.who = *r;
    if (fields[1].size() < 4 || fields[1].size() > 128)
        throw std::invalid_argument("a join code is 4 to 128 characters");
    c.code = std::string(fields[1]);
    // Whole decimal numbers only: no sign, space or trailing junk.
    auto number = [](std::string_view text, long lo, long hi) -> std::optional<long> {
        long v = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < lo ||
            v > hi)
            return std::nullopt;
        return v;
    };
    if (fields.size() >= 3 && !(fields.size() == 4 && fields[2].empty())) {
        const auto v = number(fields[2], 0, 128);
        if (!v)
            throw std::invalid_argument("join code program must be 0..127, or 128 for drums");
        if (*v == 128) {
            c.bank = 128;
            c.program = 0;
        } else {
            c.program = static_cast<int>(*v);
        }
    }
    if (fields.size() == 4) {
        const auto v = number(fields[3], 1, 65535);
        if (!v)
            throw std::invalid_argument("join code MAX (how many may be joined with it at once) "
                                        "must be 1..65535, e.g. performer:violins::40");
        c.max_members = static_cast<int>(*v);
    }
    return c;
}

} // namespace gno::render
