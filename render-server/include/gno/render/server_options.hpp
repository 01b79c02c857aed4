#pragma once
// gno-server's command line (the node itself; the `render` subcommand has its own). Parsing is
// pure: no I/O, no exit, no exception — a bad command line is an error string, so main decides
// what to print and the fuzzer can feed it anything (tests/fuzz/fuzz_server_options.cpp).
// Thread: any (main, at start-up).

#include "gno/render/config.hpp"

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace gno::render {

/// What the command line asks for. `cfg.control.codes` stays empty when no --join-code is
/// given: main then makes one per role (randomness is not the parser's business).
struct server_args {
    server_config cfg;
    std::optional<double> duration_s; // --duration: stop by itself after this many seconds
    bool help = false;                // --help: print server_usage() and exit 0
    std::string error;                // empty: ok; else one line naming the fix
};

/// Parses the arguments after the program name. Stops at the first error or at --help.
[[nodiscard]] server_args parse_server_args(std::span<const std::string_view> args);

/// The --help text.
[[nodiscard]] std::string_view server_usage() noexcept;

} // namespace gno::render
