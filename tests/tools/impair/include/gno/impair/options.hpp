#pragma once
// Command line of gno-impair. Thread: any (pure).

#include <boost/asio/ip/udp.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <gno/impair/impairment.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gno::impair {

/// A total outage: from `start_s` seconds after the proxy starts, for `duration_s` seconds,
/// every datagram in both directions is dropped (a cable pulled, a Wi-Fi dead spot).
struct outage_window {
    double start_s = 0.0;
    double duration_s = 0.0;
};

struct proxy_options {
    boost::asio::ip::udp::endpoint listen;
    boost::asio::ip::udp::endpoint upstream;
    impairment_params up;               // client -> server
    impairment_params down;             // server -> client
    std::optional<std::uint64_t> seed;  // none = nondeterministic
    std::filesystem::path stats_file;   // empty = no stats file
    double rebind_after_s = 0.0;        // 0 = never re-bind
    std::size_t max_queue = 10000;      // packets waiting for their delay, both directions
    std::size_t max_clients = 256;      // distinct client addresses (one upstream socket each)
    std::vector<outage_window> outages; // --outage S:D, in the order given (may overlap)
};

/// Either options or an error a user can act on (one line).
struct parse_result {
    proxy_options options;
    std::string error;
    bool help = false;
};

/// Parses argv[1..]. Direction-specific options (--up-X, --down-X) override --X whatever
/// their order on the line.
[[nodiscard]] parse_result parse_options(const std::vector<std::string_view>& args);

/// The --help text.
[[nodiscard]] std::string usage();

} // namespace gno::impair
