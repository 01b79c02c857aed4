#pragma once
// The conductor's console (render-server/console/), embedded in the binary at build time so a
// node serves it with nothing installed beside it. Thread: any (constant data).

#include <span>
#include <string_view>

namespace gno::render {

struct console_asset {
    std::string_view path; // relative to /console/
    std::string_view content_type;
    std::string_view body;
};

[[nodiscard]] std::span<const console_asset> console_assets() noexcept;

} // namespace gno::render
