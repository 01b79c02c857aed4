#include "client_run.hpp"

#include "gno/test/jackd.hpp"
#include "gno/test/process.hpp"
#include "gno/test/text.hpp"
#include "gno/test/udp_secret.hpp"
#include "proc_stats.hpp"
#include "report.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string_view>
#include <system_error>
#include <thread>
#include <time.h>
#include <unistd.h>

namespace gno::bench {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using test::json_number;
using test::wait_for_match;

constexpr const char* k_join_code = "BENCH-CODE";
constexpr double k_frames_per_s = 200; // gno-server's default 5 ms frame
// The client plays phrase:N:150:100, four notes a second, for longer than it will run.
constexpr int k_note_ms = 150;
constexpr int k_gap_ms = 100;
constexpr int k_max_notes = 10'000;    // gno-client's limit for phrase:N
constexpr double k_start_slack_s = 30; // joining, the downbeat, stopping
constexpr auto k_client_up = 20s;      // the client joins within 10 s or gives up
constexpr auto k_client_grace = 5s;    // SIGINT to exit: notes off, summary written
constexpr auto k_server_grace = 10s;

struct cpu_times {
    double total_s = 0; // the process's CPU clock: nanoseconds, every thread it has had
    double user_ticks = 0;
    double sys_ticks = 0;
};

// The whole process's CPU time. The total comes from its CPU clock (the scheduler's run time,
// to the nanosecond); utime and stime in /proc/PID/stat come in clock ticks, and the kernel
// splits them by sampling which mode a tick found the process in, so they only give the split.
std::optional<cpu_times> process_cpu(pid_t pid) {
    clockid_t cpu_clock{};
    timespec ts{};
    if (::clock_getcpuclockid(pid, &cpu_clock) != 0 || ::clock_gettime(cpu_clock, &ts) != 0)
        return std::nullopt;
    const auto f = stat_fields(stat_path(pid));
    if (f.size() < 13) // utime and stime are fields 14 and 15
        return std::nullopt;
    const auto utime = test::parse_double(f[11]);
    const auto stime = test::parse_double(f[12]);
    if (!utime || !stime)
        return std::nullopt;
    return cpu_times{static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9, *utime,
                     *stime};
}

struct thread_sample {
    std::string name;
    double cpu_s = 0;
    double switches = 0; // voluntary + involuntary context switches: how often it ran
};

// How often a thread has run: its voluntary and involuntary context switches.
double context_switches(const std::filesystem::path& status) {
    std::ifstream in(status);
    double n = 0;
    for (std::string line; std::getline(in, line);)
        for (const char* key : {"voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"})
            n += status_value(line, key).value_or(0);
    return n;
}

// Each live thread's CPU time: schedstat's nanoseconds where the kernel has them, else the
// thread's utime + stime in clock ticks.
std::map<int, thread_sample> thread_cpu_times(pid_t pid) {
    std::map<int, thread_sample> out;
    const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
    std::error_code ec;
    for (std::filesystem::directory_iterator it(tasks, ec), end; !ec && it != end;
         it.increment(ec)) {
        const auto tid = test::parse_int<int>(it->path().filename().string());
        if (!tid)
            continue;
        thread_sample s;
        std::ifstream comm(it->path() / "comm");
        std::getline(comm, s.name);
        std::ifstream sched(it->path() / "schedstat");
        double run_ns = 0;
        if (sched >> run_ns) {
            s.cpu_s = run_ns / 1e9;
        } else {
            const auto ticks = tick_cpu_seconds(it->path() / "stat");
            if (!ticks)
                continue; // the thread has just ended
            s.cpu_s = *ticks;
        }
        s.switches = context_switches(it->path() / "status");
        out[*tid] = s;
    }
    return out;
}

std::string machine_description() {
    const long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
    std::string model = "unknown CPU";
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("model name", 0) == 0) {
            const auto colon = line.find(':');
            if (colon != std::string::npos && colon + 2 <= line.size())
                model = line.substr(colon + 2);
            break;
        }
    }
    return std::to_string(cores) + " cores, " + model;
}

std::string load_average() {
    std::ifstream in("/proc/loadavg");
    std::string a, b, c;
    in >> a >> b >> c;
    return a + " " + b + " " + c;
}

// SIGINT (our programs then stop cleanly), SIGKILL after `grace`; the exit status.
std::optional<int> interrupt(test::child_process& child, std::chrono::milliseconds grace) {
    child.signal(SIGINT);
    if (const auto rc = child.wait_for_exit(grace))
        return rc;
    child.signal(SIGKILL);
    child.wait_for_exit(2s);
    return std::nullopt;
}

// Whatever way the run ends, a child it started is stopped as interrupt() stops it, not
// killed outright as test::child_process's destructor would. Declared after the child.
class stop_at_exit {
public:
    stop_at_exit(test::child_process& child, std::chrono::milliseconds grace)
        : child_(child), grace_(grace) {}
    ~stop_at_exit() {
        if (child_.running())
            interrupt(child_, grace_);
    }
    stop_at_exit(const stop_at_exit&) = delete;
    stop_at_exit& operator=(const stop_at_exit&) = delete;

private:
    test::child_process& child_;
    std::chrono::milliseconds grace_;
};

// Sleeps `s` seconds, waking every 100 ms to see that every child still runs; false if one
// has exited. Reads nothing else: the bench stays out of the measurement.
bool sleep_while_running(double s, const std::vector<test::child_process*>& children) {
    const auto until = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                               std::chrono::duration<double>(s));
    for (auto now = clock_type::now(); now < until; now = clock_type::now()) {
        for (auto* c : children)
            if (!c->running())
                return false;
        std::this_thread::sleep_for(std::min<clock_type::duration>(100ms, until - now));
    }
    return true;
}

} // namespace

std::string client_result::json() const {
    std::ostringstream o;
    o << "{\"bench\":\"client\",\"seconds\":" << fmt(seconds, 4) << ",\"audio\":\"" << audio
      << "\",\"other_players\":" << other_players << ",\"cpu_pct_of_one_core\":" << fmt(cpu_pct, 3)
      << ",\"user_pct\":" << fmt(user_pct, 3) << ",\"sys_pct\":" << fmt(sys_pct, 3)
      << ",\"rss_mib\":" << fmt(rss_mib, 4) << ",\"threads\":" << threads
      << ",\"frames_decoded\":" << fmt(frames_decoded)
      << ",\"audio_received\":" << fmt(audio_received)
      << ",\"key_state_sent\":" << fmt(key_state_sent) << ",\"notes_on\":" << fmt(notes_on)
      << ",\"budget_pct\":" << fmt(budget_pct, 3)
      << ",\"within_budget\":" << (within_budget() ? "true" : "false") << ",\"machine\":\""
      << json_text(machine) << "\",\"load_avg\":\"" << load_avg << "\",\"per_thread\":[";
    for (std::size_t i = 0; i < per_thread.size(); ++i) {
        const auto& t = per_thread[i];
        o << (i ? "," : "") << "{\"tid\":" << t.tid << ",\"name\":\"" << json_text(t.name)
          << "\",\"pct\":" << fmt(t.pct, 3)
          << ",\"wakeups_per_s\":" << fmt(std::round(t.wakeups_per_s)) << "}";
    }
    o << "]";
    if (!error.empty())
        o << ",\"error\":\"" << json_text(error) << "\"";
    o << "}";
    return o.str();
}

client_result run_client(const client_params& p) {
    client_result res;
    res.audio = p.use_jack ? "jack" : "wav";
    res.other_players = p.other_players;
    res.budget_pct = p.budget_pct;
    res.machine = machine_description();
    const auto& dir = p.work_dir;
    std::filesystem::create_directories(dir);

    const double run_s = p.warm_up_s + p.seconds + k_start_slack_s;
    const int notes = static_cast<int>(std::ceil(run_s * 1000 / (k_note_ms + k_gap_ms)));
    if (notes > k_max_notes) {
        res.error = "--seconds " + fmt(p.seconds) + " is longer than the client's longest phrase";
        return res;
    }

    std::optional<test::jackd_server> jack;
    std::vector<std::pair<std::string, std::string>> client_env;
    if (p.use_jack) {
        test::jackd_options jo; // dummy driver, 48 kHz, 256-frame periods
        jo.name_prefix = "gno_bench";
        jo.log_file = dir / "jackd.log";
        jack.emplace(jo);
        client_env = jack->client_env();
    }

    std::vector<std::string> args = {"--udp-secret-file",
                                     test::udp_secret_file(dir).string(),
                                     "--port",
                                     "0",
                                     "--join-code",
                                     std::string("performer:") + k_join_code,
                                     "--duration",
                                     std::to_string(static_cast<int>(run_s + 120))};
    if (p.other_players > 0) {
        args.push_back("--max-players");
        args.push_back(std::to_string(p.other_players + 4));
    }
    test::child_options so;
    so.stdout_file = dir / "server.log";
    so.stderr_file = dir / "server.err";
    test::child_process server(p.server_exe.string(), args, so);
    const stop_at_exit stop_server(server, k_server_grace);
    const auto port = wait_for_match(so.stdout_file, "listening on udp [0-9.]+:([0-9]+)", 20s);
    const auto control_port = wait_for_match(so.stdout_file, "control on tcp [0-9.]+:([0-9]+)", 2s);
    const auto epoch = wait_for_match(so.stdout_file, "epoch_monotonic_ns ([0-9]+)", 2s);
    if (!port || !control_port || !epoch) {
        res.error = "gno-server did not start: " + first_line(test::read_file(so.stderr_file));
        return res;
    }

    std::optional<test::child_process> loadgen;
    std::optional<stop_at_exit> stop_loadgen;
    test::child_options lo;
    lo.stdout_file = dir / "loadgen.log";
    lo.stderr_file = dir / "loadgen.err";
    if (p.other_players > 0) {
        if (p.loadgen_exe.empty()) {
            res.error = "other players need gno-loadgen, which is not part of this build";
            return res;
        }
        loadgen.emplace(p.loadgen_exe.string(),
                        std::vector<std::string>{
                            "--udp-secret-file", test::udp_secret_file(dir).string(), "--server",
                            "127.0.0.1:" + *port, "--players", std::to_string(p.other_players),
                            "--seconds", fmt(run_s), "--ramp-s", "1", "--epoch-ns", *epoch},
                        lo);
        stop_loadgen.emplace(*loadgen, k_server_grace);
    }

    args = {"--server",
            "127.0.0.1:" + *port,
            "--join-code",
            k_join_code,
            "--control-port",
            *control_port,
            "--name",
            "bench",
            "--play",
            "phrase:" + std::to_string(notes) + ":" + std::to_string(k_note_ms) + ":" +
                std::to_string(k_gap_ms),
            "--ui-port",
            "0", // the page is served (a free port), and no browser opens it
            "--summary",
            (dir / "client-summary.json").string()};
    if (p.use_jack) {
        args.push_back("--jack-name");
        args.push_back("gno-bench-client"); // connected to the dummy system:playback_1/2
    } else {
        args.push_back("--output");
        args.push_back((dir / "client.wav").string());
    }
    test::child_options co;
    co.env = client_env;
    co.stdout_file = dir / "client.log";
    co.stderr_file = dir / "client.err";
    test::child_process client(p.client_exe.string(), args, co);
    const stop_at_exit stop_client(client, k_client_grace);
    const auto client_err = [&] {
        return first_line(test::read_file(co.stderr_file));
    };
    if (!wait_for_match(co.stdout_file, "performer page on", k_client_up)) {
        res.error = client.running() ? "gno-client did not come up within 20 s"
                                     : "gno-client exited at start: " + client_err();
        return res;
    }

    std::vector<test::child_process*> watched = {&server, &client};
    if (loadgen)
        watched.push_back(&*loadgen);
    // Which child ended the run early, how, and the first line of what it said.
    const auto lost = [&] {
        const auto ended = [](test::child_process& c, const char* name,
                              const std::filesystem::path& err) {
            const auto rc = c.wait_for_exit(0ms);
            const auto said = first_line(test::read_file(err));
            return std::string(name) + " exited during the run with status " +
                   std::to_string(rc.value_or(-1)) + (said.empty() ? "" : ": " + said);
        };
        if (!client.running())
            return ended(client, "gno-client", co.stderr_file);
        if (!server.running())
            return ended(server, "gno-server", so.stderr_file);
        return ended(*loadgen, "gno-loadgen", lo.stderr_file);
    };
    if (!sleep_while_running(p.warm_up_s, watched)) {
        res.error = lost();
        return res;
    }

    // The window: the client's CPU time, whole-process and per thread, at both ends.
    res.load_avg = load_average();
    const auto cpu0 = process_cpu(client.pid());
    const auto threads0 = thread_cpu_times(client.pid());
    const auto t0 = clock_type::now();
    const bool ran = sleep_while_running(p.seconds, watched);
    const auto cpu1 = process_cpu(client.pid());
    const auto threads1 = thread_cpu_times(client.pid());
    res.seconds = seconds_since(t0);
    res.rss_mib = status_number(client.pid(), "VmHWM:").value_or(0) / 1024.0;
    res.threads = static_cast<int>(status_number(client.pid(), "Threads:").value_or(0));
    if (!ran || !cpu0 || !cpu1) {
        res.error = ran ? "cannot read the client's CPU time from /proc" : lost();
        return res;
    }
    res.cpu_pct = (cpu1->total_s - cpu0->total_s) / res.seconds * 100.0;
    const double user_ticks = cpu1->user_ticks - cpu0->user_ticks;
    const double ticks = user_ticks + cpu1->sys_ticks - cpu0->sys_ticks;
    res.user_pct = ticks > 0 ? res.cpu_pct * user_ticks / ticks : 0.0;
    res.sys_pct = res.cpu_pct - res.user_pct;
    for (const auto& [tid, s] : threads1) {
        const auto before = threads0.find(tid);
        const auto& start = before == threads0.end() ? thread_sample{} : before->second;
        res.per_thread.push_back({tid, s.name, (s.cpu_s - start.cpu_s) / res.seconds * 100.0,
                                  (s.switches - start.switches) / res.seconds});
    }

    // Stop: the client first (its summary says what it did), then the others.
    const auto client_rc = interrupt(client, k_client_grace);
    if (loadgen)
        interrupt(*loadgen, k_server_grace);
    interrupt(server, k_server_grace);
    if (jack)
        jack->stop();

    const std::string summary = test::read_file(dir / "client-summary.json");
    res.frames_decoded = json_number(summary, "frames_decoded").value_or(0);
    res.audio_received = json_number(summary, "audio_received").value_or(0);
    res.key_state_sent = json_number(summary, "key_state_sent").value_or(0);
    res.notes_on = json_number(summary, "notes_on").value_or(0);
    // A client that did nothing must not pass: it played notes and decoded the mix all along.
    const double frames_floor = 0.9 * p.seconds * k_frames_per_s;
    if (client_rc != 0)
        res.error = "gno-client " +
                    (client_rc ? "exited with " + std::to_string(*client_rc)
                               : std::string("did not stop on SIGINT within 5 s")) +
                    ": " + client_err();
    else if (summary.empty())
        res.error = "gno-client wrote no summary";
    else if (res.audio_received <= 0 || res.frames_decoded < frames_floor)
        res.error = "gno-client heard too little: " + fmt(res.frames_decoded) +
                    " frames decoded, fewer than " + fmt(frames_floor);
    else if (res.key_state_sent <= 0 || res.notes_on <= 0)
        res.error = "gno-client played no note";
    return res;
}

} // namespace gno::bench
