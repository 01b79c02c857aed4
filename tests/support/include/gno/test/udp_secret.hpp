#pragma once
// The UDP master secret of every test rig's node (DESIGN.md §8): gno-server and gno-client
// take it as --udp-secret-file, and a test speaking raw UDP derives its session keys from it;
// a test mesh's nodes share it as their --mesh-secret-file too.

#include "gno/proto/v1/auth.hpp"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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

/// gno-server's options for node `index` + 1 of a mesh on loopback whose nodes have
/// `mesh_ports` (in node order): its id, mesh port, the test secret (dir/udp-secret) as the
/// mesh's, and every other node as a peer.
inline std::vector<std::string> mesh_node_args(const std::filesystem::path& dir,
                                               std::span<const std::uint16_t> mesh_ports,
                                               std::size_t index) {
    std::vector<std::string> a = {"--node-id",          std::to_string(index + 1),
                                  "--mesh-port",        std::to_string(mesh_ports[index]),
                                  "--mesh-secret-file", udp_secret_file(dir).string()};
    for (std::size_t m = 0; m < mesh_ports.size(); ++m)
        if (m != index)
            a.insert(a.end(), {"--peer", std::to_string(m + 1) +
                                             "@127.0.0.1:" + std::to_string(mesh_ports[m])});
    return a;
}

} // namespace gno::test
