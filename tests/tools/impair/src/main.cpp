// gno-impair: a UDP impairment proxy for tests (the test machines' kernels have no netem).
// Parses options and wires the proxy to an io_context; all work happens in gno::impair.

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <exception>
#include <gno/impair/options.hpp>
#include <gno/impair/proxy.hpp>
#include <iostream>
#include <string_view>
#include <vector>

int main(int argc, char** argv) {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    auto parsed = gno::impair::parse_options(args);
    if (parsed.help) {
        std::cout << gno::impair::usage();
        return 0;
    }
    if (!parsed.error.empty()) {
        std::cerr << "gno-impair: " << parsed.error << " (see --help)\n";
        return 2;
    }
    try {
        boost::asio::io_context io(1);
        gno::impair::udp_proxy proxy(io, parsed.options);
        boost::asio::signal_set signals(io, SIGINT, SIGTERM);
        signals.async_wait([&](const boost::system::error_code& ec, int) {
            if (ec)
                return;
            proxy.write_stats();
            io.stop();
        });
        proxy.start();
        const auto ep = proxy.listen_endpoint();
        // Tests wait for this line before sending.
        std::cout << "listening " << ep.address().to_string() << ':' << ep.port() << std::endl;
        io.run();
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "gno-impair: " << e.what() << '\n';
        return 1;
    }
}
