// gno-loadgen: N simulated players in one process against a gno-server on this machine.
// Parses options and wires signals to the load generator; all work happens in gno::loadgen.

#include <atomic>
#include <csignal>
#include <cstdio>
#include <exception>
#include <gno/loadgen/loadgen.hpp>
#include <string_view>
#include <vector>

namespace {

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_signal(int) {
    g_stop.store(true, std::memory_order_relaxed);
}

void install_signal_handlers() {
    // No SA_RESTART: the loop's ppoll returns at once with EINTR and sees the flag.
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

} // namespace

int main(int argc, char** argv) {
    const std::vector<std::string_view> args(argv + 1, argv + argc);
    const auto parsed = gno::loadgen::parse_options(args);
    if (parsed.help) {
        std::fputs(gno::loadgen::usage().c_str(), stdout);
        return 0;
    }
    if (!parsed.error.empty()) {
        std::fprintf(stderr, "gno-loadgen: %s (see --help)\n", parsed.error.c_str());
        return 2;
    }
    install_signal_handlers();
    try {
        gno::loadgen::load_generator generator(parsed.opts, g_stop);
        const auto s = generator.run();
        if (s.receive_overflows > 0)
            std::fprintf(stderr,
                         "gno-loadgen: warning: our own sockets dropped %llu datagrams (this "
                         "process fell behind); they are counted as lost frames\n",
                         static_cast<unsigned long long>(s.receive_overflows));
        if (s.send_errors > 0)
            std::fprintf(stderr, "gno-loadgen: warning: %llu datagrams could not be sent\n",
                         static_cast<unsigned long long>(s.send_errors));
        if (s.bad_datagrams > 0)
            std::fprintf(stderr,
                         "gno-loadgen: warning: %llu datagrams were undecodable or not ours\n",
                         static_cast<unsigned long long>(s.bad_datagrams));
        std::printf("%s\n", gno::loadgen::summary_json(s).c_str());
        std::fflush(stdout);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "gno-loadgen: %s\n", e.what());
        return 1;
    }
}
