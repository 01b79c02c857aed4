#pragma once
// A private JACK server for one test: jackd with the dummy driver (no sound card, no realtime
// privileges), under a unique server name so parallel tests never share a graph.
// Thread: one thread owns a jackd_server.

#include <chrono>
#include <filesystem>
#include <gno/test/process.hpp>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gno::test {

struct jackd_options {
    int sample_rate = 48000;
    int period = 256;
    int capture_channels = 2;
    int playback_channels = 2;
    /// The server name is "<prefix>_<pid>_<counter>_<random>".
    std::string name_prefix = "gno_test";
    std::chrono::milliseconds start_timeout{10000};
    /// Where jackd's stdout and stderr go; empty = a file in a private temp_dir.
    std::filesystem::path log_file;
};

/// Starts jackd and returns once it accepts clients; stops it (SIGTERM, then SIGKILL after
/// 3 s) on destruction. Throws std::runtime_error with jackd's log if it does not come up.
class jackd_server {
public:
    explicit jackd_server(jackd_options options = {});
    ~jackd_server();

    jackd_server(const jackd_server&) = delete;
    jackd_server& operator=(const jackd_server&) = delete;

    /// The server name: pass it as JACK_DEFAULT_SERVER in a client's environment, or to
    /// jack_client_open with JackServerName.
    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    [[nodiscard]] int sample_rate() const noexcept { return options_.sample_rate; }
    [[nodiscard]] int period() const noexcept { return options_.period; }
    [[nodiscard]] const std::filesystem::path& log_path() const noexcept { return log_path_; }

    /// Environment entries a child needs to use this server (for child_options::env):
    /// JACK_DEFAULT_SERVER=<name> and JACK_NO_START_SERVER=1.
    [[nodiscard]] std::vector<std::pair<std::string, std::string>> client_env() const;

    /// True while jackd is running and answers `jack_lsp -s <name>`.
    [[nodiscard]] bool accepting_clients();

    /// Stops jackd now (idempotent); returns its exit status.
    int stop();

private:
    jackd_options options_;
    std::string name_;
    std::unique_ptr<temp_dir> log_dir_;
    std::filesystem::path log_path_;
    std::optional<child_process> process_;
    std::optional<int> exit_status_;
};

} // namespace gno::test
