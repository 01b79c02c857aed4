#include <atomic>
#include <csignal>
#include <gno/test/jackd.hpp>
#include <random>
#include <stdexcept>
#include <unistd.h>

namespace gno::test {
namespace {

std::string unique_server_name(const std::string& prefix) {
    // pid + counter is unique among live processes; the random part keeps a name left behind
    // by a crashed run with a recycled pid from colliding.
    static std::atomic<unsigned> counter{0};
    std::random_device rd;
    return prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
           std::to_string(rd() % 100000);
}

} // namespace

jackd_server::jackd_server(jackd_options options)
    : options_(std::move(options)), name_(unique_server_name(options_.name_prefix)) {
    if (options_.log_file.empty()) {
        log_dir_ = std::make_unique<temp_dir>("gno-jackd");
        log_path_ = log_dir_->path() / "jackd.log";
    } else {
        log_path_ = options_.log_file;
    }
    child_options child;
    // No D-Bus device reservation (there is no session bus in a test) and never auto-start
    // a second server from inside this one.
    child.env = {{"JACK_NO_AUDIO_RESERVATION", "1"}, {"JACK_NO_START_SERVER", "1"}};
    child.stdout_file = log_path_;
    child.stderr_file = log_path_;
    // --no-realtime: runs as any user, root included, without rtprio limits. The dummy driver
    // paces the graph from a timer, so clients see a real period clock.
    process_.emplace("jackd",
                     std::vector<std::string>{"--no-realtime", "-n", name_, "-d", "dummy", "-r",
                                              std::to_string(options_.sample_rate), "-p",
                                              std::to_string(options_.period), "-C",
                                              std::to_string(options_.capture_channels), "-P",
                                              std::to_string(options_.playback_channels)},
                     child);
    const bool up = wait_for([this] { return !process_->running() || accepting_clients(); },
                             options_.start_timeout, std::chrono::milliseconds{50});
    if (!up || !process_->running()) {
        stop();
        throw std::runtime_error("jackd server '" + name_ + "' did not start" +
                                 (up ? " (it exited)" : " (timed out)") + "; its log (" +
                                 log_path_.string() + "):\n" + read_file(log_path_));
    }
}

jackd_server::~jackd_server() {
    stop();
}

std::vector<std::pair<std::string, std::string>> jackd_server::client_env() const {
    return {{"JACK_DEFAULT_SERVER", name_}, {"JACK_NO_START_SERVER", "1"}};
}

bool jackd_server::accepting_clients() {
    if (!process_ || !process_->running())
        return false;
    try {
        child_options probe;
        probe.env = client_env();
        probe.stdout_file = "/dev/null";
        probe.stderr_file = "/dev/null";
        child_process lsp("jack_lsp", {"-s", name_}, probe);
        const auto status = lsp.wait_for_exit(std::chrono::milliseconds{5000});
        return status && *status == 0;
    } catch (const std::system_error&) {
        return false; // jack_lsp missing: treated as "not yet", so start-up reports the log
    }
}

int jackd_server::stop() {
    if (!exit_status_ && process_) {
        exit_status_ = process_->stop(std::chrono::milliseconds{3000});
        process_.reset();
    }
    return exit_status_.value_or(-1);
}

} // namespace gno::test
