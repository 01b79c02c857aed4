#pragma once
// The performer client's CPU cost (issue 6: at most 2 % of one core while playing with the
// page closed), measured with real processes on this machine: a gno-server with a performer
// join code, optionally a gno-loadgen with other players in the mix, and one gno-client that
// joins with the code and plays notes the whole time, its audio to a WAV file written in real
// time or to a private jackd (dummy driver). Its page server runs; no browser opens it. After a
// warm-up the client's CPU time is read from /proc twice, `seconds` apart; its summary at exit
// must show that it played and heard the mix. Used by `gno-bench client`.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace gno::bench {

struct client_params {
    double seconds = 30;  // the measured window
    double warm_up_s = 3; // after the client is up, before the window opens
    bool use_jack = false;
    int other_players = 0; // simulated players in the mix besides the client (gno-loadgen)
    double budget_pct = 2.0;
    std::filesystem::path server_exe, client_exe, loadgen_exe;
    std::filesystem::path work_dir;
};

/// One thread of the client over the window.
struct thread_cpu {
    int tid = 0;
    std::string name;         // /proc/PID/task/TID/comm
    double pct = 0;           // of one core
    double wakeups_per_s = 0; // context switches a second: how often it ran
};

struct client_result {
    double seconds = 0; // the window as measured
    std::string audio;  // wav | jack
    int other_players = 0;
    double cpu_pct = 0;  // of one core: user + system, from the process's CPU clock
    double user_pct = 0; // cpu_pct split as the kernel's tick sampling splits it
    double sys_pct = 0;
    double rss_mib = 0; // peak (VmHWM)
    int threads = 0;
    std::vector<thread_cpu> per_thread; // by thread id: the order they were started in
    double frames_decoded = 0;          // the client's whole run (summary)
    double audio_received = 0;
    double key_state_sent = 0;
    double notes_on = 0;
    double budget_pct = 0;
    std::string machine;  // "<cores> cores, <model name>"
    std::string load_avg; // /proc/loadavg's three averages when the window opened
    std::string error;    // non-empty when the run failed or the client did not play

    [[nodiscard]] bool within_budget() const { return error.empty() && cpu_pct <= budget_pct; }
    [[nodiscard]] std::string json() const;
};

/// Runs the measurement; blocks for about warm_up_s + seconds + a few seconds. Throws only
/// what starting a process throws (a program that cannot be executed, jackd not starting).
client_result run_client(const client_params& p);

} // namespace gno::bench
