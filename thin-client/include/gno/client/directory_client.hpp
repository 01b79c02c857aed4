#pragma once
// Asking a mesh's directory where to play (DESIGN.md §9; render-server's directory.hpp): a
// POST of the performer's code and instrument to http://HOST:PORT/api/directory, answered with
// the node serving its section and a join token for that node. Used at start-up and again when
// the node is lost (then `avoid` names it, and every directory the last answer listed is tried
// in turn, so the one that died is no obstacle).
// Thread: any (each call has its own io_context); blocks for at most `timeout` per directory.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gno::client {

struct directory_endpoint {
    std::string host;
    std::uint16_t port = 0;
};

/// A directory's answer.
struct placement {
    std::uint32_t node = 0;
    std::string host;
    std::uint16_t udp_port = 0;
    std::uint16_t control_port = 0;
    std::string section;
    std::string token;
    std::vector<directory_endpoint> directories; // where to ask again; the chosen node last
};

struct directory_request {
    std::string code;
    int program = 0;
    int bank = 0;
    std::uint32_t avoid = 0; // a node just lost; 0 none
};

/// Pure: the JSON body of a request, and a 200 answer's body parsed (nullopt when malformed).
[[nodiscard]] std::string encode_directory_request(const directory_request& r);
[[nodiscard]] std::optional<placement> parse_placement(std::string_view body) noexcept;
/// Pure: "HOST:PORT" (IPv6 in brackets) -> endpoint; nullopt when malformed.
[[nodiscard]] std::optional<directory_endpoint> parse_endpoint(std::string_view text) noexcept;

/// Asks each directory in turn until one places us. On failure nullopt, and `error` says what
/// the last one answered (a refused code is final: `refused` is set and nobody else is asked).
[[nodiscard]] std::optional<placement>
ask_directories(const std::vector<directory_endpoint>& directories, const directory_request& r,
                std::string& error, bool& refused,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(1500));

} // namespace gno::client
