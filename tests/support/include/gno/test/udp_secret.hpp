#pragma once
// The UDP master secret of every test rig's node (DESIGN.md §8): gno-server and gno-client
// take it as --udp-secret-file, and a test speaking raw UDP derives its session keys from it.

#include "gno/proto/v1/auth.hpp"

#include <filesystem>
#include <fstream>
#include <string_view>

namespace gno::test {

inline constexpr std::string_view k_udp_secret_hex =
    "6a1f0c3e9b5d2a7f4e8c1b6d3a9f0e2c5b7d4a1e8f3c6b9d2e5a7c0f4b1d8e3a";

/// The secret as the node holds it.
inline proto::v1::master_secret udp_secret() {
    return *proto::v1::parse_master_secret(k_udp_secret_hex);
}

/// `session`'s key under the test secret.
inline proto::v1::session_key udp_session_key(std::uint32_t session) {
    return proto::v1::derive_session_key(udp_secret(), session);
}

/// Writes the secret to dir/udp-secret (once) and returns its path.
inline std::filesystem::path udp_secret_file(const std::filesystem::path& dir) {
    const auto path = dir / "udp-secret";
    if (!std::filesystem::exists(path)) {
        std::ofstream(path) << k_udp_secret_hex << '\n';
    }
    return path;
}

} // namespace gno::test
