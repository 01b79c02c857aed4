#include "scale_run.hpp"

#include "gno/test/process.hpp"
#include "gno/test/text.hpp"
#include "gno/test/udp_secret.hpp"
#include "line_tail.hpp"
#include "proc_stats.hpp"
#include "report.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>
#include <unistd.h>
#include <vector>

namespace gno::bench {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using test::json_number;
using test::wait_for_match;

constexpr int k_frame_samples = 240; // 5 ms
constexpr double k_frame_us = k_frame_samples * 1e6 / 48000.0;
constexpr int k_spare_slots = 4;     // --max-players N + a few: a rejoin never finds no slot
constexpr int k_max_slots = 1024;    // gno-server's --max-players limit
constexpr double k_tail_s = 5;       // the load generator outlives the window by this much
constexpr double k_join_slack_s = 3; // how much longer than the ramp joining may take

} // namespace

std::string scale_result::json() const {
    std::ostringstream o;
    o << "{\"players\":" << players << ",\"distinct_mixes\":" << fmt(distinct_mixes)
      << ",\"seconds\":" << fmt(seconds, 4) << ",\"frames\":" << fmt(frames)
      << ",\"late_frames\":" << fmt(late_frames) << ",\"late_starts\":" << fmt(late_starts)
      << ",\"block_time_p50_us\":" << fmt(block_time_p50_us)
      << ",\"block_time_p99_us\":" << fmt(block_time_p99_us)
      << ",\"cpu_per_player_pct\":" << fmt(cpu_per_player_pct, 4)
      << ",\"added_latency_p99_us\":" << fmt(added_latency_p99_us)
      << ",\"rss_mib\":" << fmt(rss_mib, 4)
      << ",\"opus_complexity_min\":" << fmt(opus_complexity_min)
      << ",\"synth_degrade_max\":" << fmt(synth_degrade_max)
      << ",\"encode_complexity_used\":" << encode_complexity_used
      << ",\"ceiling_players\":" << fmt(std::floor(ceiling_players))
      << ",\"efficiency\":" << fmt(efficiency, 3) << ",\"loadgen_cores\":" << fmt(loadgen_cores, 3)
      << ",\"ceiling_players_server\":" << fmt(std::floor(ceiling_players_server))
      << ",\"efficiency_server\":" << fmt(efficiency_server, 3)
      << ",\"synth_us_per_voice_frame\":" << fmt(costs.synth_us_per_voice_frame, 4)
      << ",\"encode_us_per_stream_frame\":" << fmt(costs.encode_us_per_stream_frame, 4)
      << ",\"send_us_per_datagram\":" << fmt(costs.send_us_per_datagram, 4)
      << ",\"mix_us_per_player_frame\":" << fmt(costs.mix_us_per_player_frame, 4)
      << ",\"voices_per_player\":" << fmt(voices_per_player, 4) << ",\"loss_pct\":" << fmt(loss_pct)
      << ",\"gap_p99_us\":" << fmt(gap_p99_us)
      << ",\"decoded_with_sound\":" << fmt(decoded_with_sound);
    // Context for reading the line: what was asked, the whole run, the alternatives measured.
    o << ",\"mix\":\"" << mix << "\",\"late_frames_run\":" << fmt(late_frames_run)
      << ",\"encode_time_p99_us\":" << fmt(encode_time_p99_us) << ",\"cores\":" << cores
      << ",\"encode_complexity\":" << costs.encode_complexity
      << ",\"encode_us_per_stream_frame_c0\":" << fmt(costs.encode_us_per_stream_frame_c0, 4)
      << ",\"synth_voices\":" << fmt(costs.synth_voices, 4);
    if (!limit.empty())
        o << ",\"limit\":\"" << json_text(limit) << "\"";
    if (!error.empty())
        o << ",\"error\":\"" << json_text(error) << "\"";
    o << "}";
    return o.str();
}

bool server_has_option(const std::filesystem::path& server_exe, const std::string& option) {
    test::temp_dir dir("gno-bench-help");
    test::child_options o;
    o.stdout_file = dir / "help.txt";
    o.stderr_file = dir / "help.err";
    test::child_process help(server_exe.string(), {"--help"}, o);
    help.wait_for_exit(10s);
    const std::string text = test::read_file(dir / "help.txt");
    for (auto at = text.find(option); at != std::string::npos; at = text.find(option, at + 1)) {
        const auto end = at + option.size();
        if (end == text.size() || text[end] == ' ' || text[end] == '\n')
            return true;
    }
    return false;
}

std::string render_threads_option(const std::filesystem::path& server_exe) {
    for (const char* name : {"--render-threads", "--workers"})
        if (server_has_option(server_exe, name))
            return name;
    return "";
}

scale_result run_scale(const scale_params& p, const unit_costs& costs) {
    scale_result res;
    res.players = p.players;
    res.mix = p.mix;
    res.costs = costs;
    res.cores = available_cores();
    const auto& dir = p.work_dir;
    std::filesystem::create_directories(dir);
    const auto stats_file = dir / "server-stats.jsonl";
    // A kept directory may be reused: the processes append, and a stale "listening on" line
    // would send the load to the last run's port.
    for (const char* name :
         {"server-stats.jsonl", "server.log", "server.err", "loadgen.log", "loadgen.err"})
        std::filesystem::remove(dir / name);

    const double loadgen_s = p.ramp_s + k_join_slack_s + p.settle_s + p.seconds + k_tail_s;
    std::vector<std::string> args;
    const auto option = [&args](const std::string& name, const std::string& value) {
        args.push_back(name);
        args.push_back(value);
    };
    option("--port", "0");
    option("--max-players", std::to_string(std::min(k_max_slots, p.players + k_spare_slots)));
    option("--complexity", std::to_string(p.complexity));
    option("--bitrate", std::to_string(p.bitrate));
    option("--frame-ms", "5");
    option("--mode", "time-advanced");
    option("--stats", stats_file.string());
    if (server_has_option(p.server_exe, "--udp-secret-file")) // older servers take no tags
        option("--udp-secret-file", test::udp_secret_file(dir).string());
    // A safety net: the bench stops it long before, unless the bench itself dies.
    option("--duration", std::to_string(static_cast<int>(loadgen_s + 120)));
    // Older servers render one shared mix and have no --mix.
    if (server_has_option(p.server_exe, "--mix")) {
        option("--mix", p.mix);
    } else if (p.mix != "shared") {
        res.error = "this gno-server has no --mix option: only --mix shared can be measured";
        return res;
    }
    if (p.render_threads > 0) {
        const auto threads = render_threads_option(p.server_exe);
        if (threads.empty()) {
            res.error = "this gno-server cannot be given its number of render threads";
            return res;
        }
        option(threads, std::to_string(p.render_threads));
    }
    test::child_options so;
    so.stdout_file = dir / "server.log";
    so.stderr_file = dir / "server.err";
    test::child_process server(p.server_exe.string(), args, so);
    const auto port = wait_for_match(so.stdout_file, "listening on udp [0-9.]+:([0-9]+)", 20s);
    const auto epoch = wait_for_match(so.stdout_file, "epoch_monotonic_ns ([0-9]+)", 5s);
    if (!port || !epoch) {
        res.error = "gno-server did not start: " + first_line(test::read_file(so.stderr_file));
        return res;
    }

    test::child_options lo;
    lo.stdout_file = dir / "loadgen.log";
    lo.stderr_file = dir / "loadgen.err";
    args.clear();
    option("--server", "127.0.0.1:" + *port);
    option("--players", std::to_string(p.players));
    option("--seconds", fmt(loadgen_s));
    option("--seed", std::to_string(p.seed));
    option("--ramp-s", fmt(p.ramp_s));
    option("--epoch-ns", *epoch);
    option("--udp-secret-file", test::udp_secret_file(dir).string());
    test::child_process loadgen(p.loadgen_exe.string(), args, lo);
    const auto loadgen_started = clock_type::now();

    // Everyone in: the server's player gauge reaches N.
    line_tail stats(stats_file);
    bool joined = false;
    double seen_players = 0;
    while (!joined && seconds_since(loadgen_started) < p.ramp_s + k_join_slack_s &&
           loadgen.running() && server.running()) {
        for (const auto& line : stats.poll()) {
            seen_players = json_number(line, "players").value_or(seen_players);
            joined = joined || seen_players >= p.players;
        }
        std::this_thread::sleep_for(50ms);
    }
    if (!server.running() || !loadgen.running()) {
        res.error =
            !server.running()
                ? "gno-server exited: " + first_line(test::read_file(so.stderr_file))
                : "gno-loadgen exited early: " + first_line(test::read_file(lo.stderr_file));
        return res;
    }
    if (!joined)
        res.error = "only " + fmt(seen_players) + " of " + std::to_string(p.players) +
                    " players had joined after " + fmt(p.ramp_s + k_join_slack_s) + " s";
    std::this_thread::sleep_for(std::chrono::duration<double>(p.settle_s));

    // The window: two stats lines, each with the server's CPU time read right after it.
    const auto first = stats.next(2s);
    const auto cpu0 = tick_cpu_seconds(stat_path(server.pid()));
    const auto lg_cpu0 = tick_cpu_seconds(stat_path(loadgen.pid()));
    const auto t0 = clock_type::now();
    double voices_sum = 0, players_sum = 0;
    std::vector<std::string> inside;
    while (seconds_since(t0) < p.seconds && server.running()) {
        std::this_thread::sleep_for(100ms);
        auto lines = stats.poll();
        inside.insert(inside.end(), lines.begin(), lines.end());
    }
    const auto last = stats.next(2s, &inside);
    const auto cpu1 = tick_cpu_seconds(stat_path(server.pid()));
    const auto lg_cpu1 = tick_cpu_seconds(stat_path(loadgen.pid()));
    res.seconds = seconds_since(t0);
    if (!first || !last || !cpu0 || !cpu1) {
        res.error = "gno-server stopped reporting during the window: " +
                    first_line(test::read_file(so.stderr_file));
        return res;
    }
    inside.push_back(*last);
    for (const auto& line : inside) {
        voices_sum += json_number(line, "voices").value_or(0);
        players_sum += json_number(line, "players").value_or(0);
    }
    const auto diff = [&](const char* key) {
        return json_number(*last, key).value_or(0) - json_number(*first, key).value_or(0);
    };
    res.frames = diff("frames");
    res.late_frames = diff("late_frames");
    res.late_starts = diff("late_starts");
    res.distinct_mixes = json_number(*last, "distinct_mixes");
    res.block_time_p50_us = json_number(*last, "block_time_p50_us");
    res.block_time_p99_us = json_number(*last, "block_time_p99_us");
    res.added_latency_p99_us = json_number(*last, "added_latency_p99_us");
    res.opus_complexity_min = json_number(*last, "opus_complexity_min");
    res.synth_degrade_max = json_number(*last, "synth_degrade_max");
    res.encode_time_p99_us = json_number(*last, "encode_time_p99_us");
    res.voices_per_player = players_sum > 0 ? voices_sum / players_sum : 0;
    res.cpu_per_player_pct = (*cpu1 - *cpu0) / res.seconds / std::max(1, p.players) * 100.0;
    if (lg_cpu0 && lg_cpu1)
        res.loadgen_cores = (*lg_cpu1 - *lg_cpu0) / res.seconds;
    if (res.frames <= 0 && res.error.empty())
        res.error = "gno-server rendered no frame in the window";

    // The load generator's view, once it has finished its run.
    const double lg_budget_s = std::max(5.0, loadgen_s + 30 - seconds_since(loadgen_started));
    const auto lg_rc =
        loadgen.wait_for_exit(std::chrono::milliseconds(std::lround(lg_budget_s * 1000)));
    const std::string lg_out = test::read_file(lo.stdout_file);
    const auto brace = lg_out.rfind("{\"");
    const std::string lg_json = brace == std::string::npos ? "" : lg_out.substr(brace);
    res.loss_pct = json_number(lg_json, "loss_pct");
    res.gap_p99_us = json_number(lg_json, "gap_p99_us");
    res.decoded_with_sound = json_number(lg_json, "decoded_with_sound");
    if (res.error.empty()) {
        if (lg_rc != 0 || lg_json.empty())
            res.error = "gno-loadgen " +
                        (lg_rc ? "exited with " + std::to_string(*lg_rc) : std::string("hung")) +
                        ": " + first_line(test::read_file(lo.stderr_file));
        else if (const auto j = json_number(lg_json, "joined"); j && *j < p.players)
            res.error = "gno-loadgen joined only " + fmt(*j) + " players";
    }

    res.rss_mib = status_number(server.pid(), "VmHWM:").value_or(0) / 1024.0;
    server.signal(SIGINT);
    server.wait_for_exit(20s);
    if (const auto summary = wait_for_match(so.stdout_file, "stopped[^;]*; (\\{.*\\})", 2s))
        res.late_frames_run = json_number(*summary, "late_frames").value_or(0);

    // The ceiling: every core doing nothing but this work, one frame at a time — the work the
    // run actually did: the voices it sounded, the complexity it encoded at (the overload
    // steps may have lowered it to 0), one mix per distinct mix.
    const double n = std::max(1, p.players);
    const double mixes = res.distinct_mixes.value_or(p.mix == "own" ? n : 1.0);
    const bool at_zero = res.opus_complexity_min && *res.opus_complexity_min == 0;
    res.encode_complexity_used = at_zero ? 0 : costs.encode_complexity;
    const double encode_us =
        at_zero ? costs.encode_us_per_stream_frame_c0 : costs.encode_us_per_stream_frame;
    const double cost_us = res.voices_per_player * costs.synth_us_per_voice_frame +
                           encode_us * mixes / n + costs.send_us_per_datagram +
                           costs.mix_us_per_player_frame * mixes / n;
    res.ceiling_players = cost_us > 0 ? res.cores * k_frame_us / cost_us : 0;
    res.efficiency = res.ceiling_players > 0 ? p.players / res.ceiling_players : 0;
    const double server_cores = std::max(0.0, res.cores - res.loadgen_cores);
    res.ceiling_players_server = cost_us > 0 ? server_cores * k_frame_us / cost_us : 0;
    res.efficiency_server =
        res.ceiling_players_server > 0 ? p.players / res.ceiling_players_server : 0;
    return res;
}

scale_result find_max_players(scale_params p, const unit_costs& costs, double probe_seconds,
                              const std::function<void(const scale_result&)>& on_probe) {
    const int cap = k_max_slots - k_spare_slots;
    const auto base_dir = p.work_dir;
    const auto run = [&](int players, double seconds, const std::string& name) {
        scale_params q = p;
        q.players = players;
        q.seconds = seconds;
        q.work_dir = base_dir / (name + "-" + std::to_string(players));
        return run_scale(q, costs);
    };
    int lo = 0; // most players that kept up
    int hi = 0; // fewest that did not; 0 = none yet
    int n = std::clamp(p.players, 1, cap);
    std::optional<scale_result> smallest_failure;
    // A search stopped by the load generator (players that never joined) is not the server's
    // limit: the result says which it was.
    const auto limit = [&] {
        if (!smallest_failure)
            return "no late frame up to the server's " + std::to_string(cap) + " player slots";
        const auto& f = *smallest_failure;
        return "with " + std::to_string(f.players) +
               " players: " + (f.error.empty() ? fmt(f.late_frames) + " late frames" : f.error);
    };
    for (;;) {
        auto r = run(n, probe_seconds, "probe");
        on_probe(r);
        if (r.frames <= 0) // the run itself failed: nothing to search
            return r;
        if (r.kept_up()) {
            lo = n;
        } else {
            hi = n;
            smallest_failure = std::move(r);
        }
        if (hi == 0) {
            if (n >= cap)
                break;
            n = std::min(cap, 2 * n);
            continue;
        }
        // Bisect to within 5 %: each probe costs tens of seconds.
        if (hi - lo <= std::max(1, lo / 20))
            break;
        n = (lo + hi) / 2;
    }
    if (lo == 0) {
        smallest_failure->limit = limit();
        smallest_failure->error +=
            (smallest_failure->error.empty() ? "" : "; ") + std::string("no player count kept up");
        return *smallest_failure;
    }
    // A longer run can meet what a short probe did not; step down a little if it does.
    for (int attempt = 0;; ++attempt) {
        auto r = run(lo, p.seconds, "confirm");
        r.limit = limit();
        if (r.kept_up() || attempt == 2 || lo == 1 || r.frames <= 0)
            return r;
        on_probe(r);
        lo = std::max(1, lo * 9 / 10);
    }
}

} // namespace gno::bench
