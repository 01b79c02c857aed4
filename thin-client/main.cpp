// gno-client: parses options and runs one performer session (all logic is in gno::client).
#include <cstdio>
#include <gno/client/cli_options.hpp>
#include <gno/client/session.hpp>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    std::string error;
    const auto options = gno::client::parse_cli(args, error);
    if (!options) {
        std::fprintf(stderr, "gno-client: %s\n", error.c_str());
        return 2;
    }
    if (options->help) {
        std::fputs(gno::client::cli_usage(), stdout);
        return 0;
    }
    return gno::client::run_session(*options);
}
