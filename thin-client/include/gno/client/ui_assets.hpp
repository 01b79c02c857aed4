#pragma once
// The performer's web page (thin-client/ui/ and the conductor's images), embedded in gno-client
// at build time so the client serves it with nothing installed beside it. Thread: any.

#include <span>
#include <string_view>

namespace gno::client {

struct ui_asset {
    std::string_view path; // relative to the UI's root
    std::string_view content_type;
    std::string_view body;
};

[[nodiscard]] std::span<const ui_asset> ui_assets() noexcept;

} // namespace gno::client
