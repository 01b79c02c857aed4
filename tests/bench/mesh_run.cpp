#include "mesh_run.hpp"

#include "gno/test/process.hpp"
#include "gno/test/text.hpp"
#include "gno/test/udp_secret.hpp"
#include "line_tail.hpp"
#include "proc_stats.hpp"
#include "report.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

namespace gno::bench {

namespace {
using namespace std::chrono_literals;
using test::json_number;
using test::wait_for_match;
constexpr double k_join_slack_s = 5;
constexpr double k_tail_s = 5;
} // namespace

std::string mesh_result::json() const {
    std::ostringstream o;
    o << "{\"nodes\":" << params.nodes << ",\"players_per_node\":" << params.players
      << ",\"mix\":\"" << params.mix << "\",\"mesh_codec\":\"" << params.mesh_codec
      << "\",\"seconds\":" << fmt(params.seconds, 4) << ",\"cores\":" << cores
      << ",\"loadgen_cores\":" << fmt(loadgen_cores, 3) << ",\"per_node\":[";
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        const auto& n = nodes[i];
        o << (i ? "," : "") << "{\"node\":" << n.node << ",\"players\":" << fmt(n.players)
          << ",\"frames\":" << fmt(n.frames) << ",\"late_frames\":" << fmt(n.late_frames)
          << ",\"cpu_cores\":" << fmt(n.cpu_cores, 3)
          << ",\"to_players_mbps\":" << fmt(n.to_players_mbps, 4)
          << ",\"to_mesh_mbps\":" << fmt(n.to_mesh_mbps, 4)
          << ",\"stems_in_per_s\":" << fmt(n.from_mesh_per_s, 5)
          << ",\"late_stems\":" << fmt(n.late_stems)
          << ",\"block_time_p99_us\":" << fmt(n.block_time_p99_us)
          << ",\"rss_mib\":" << fmt(n.rss_mib, 4) << "}";
    }
    o << "]";
    if (!error.empty())
        o << ",\"error\":\"" << json_text(error) << "\"";
    o << "}";
    return o.str();
}

mesh_result run_mesh(const mesh_params& p) {
    mesh_result res;
    res.params = p;
    res.cores = available_cores();
    const auto& dir = p.work_dir;
    std::filesystem::create_directories(dir);
    const std::string secret = test::udp_secret_file(dir).string();
    const double loadgen_s = p.ramp_s + k_join_slack_s + p.settle_s + p.seconds + k_tail_s;
    const auto n_nodes = static_cast<std::size_t>(p.nodes);

    std::vector<std::uint16_t> mesh_ports;
    for (std::size_t n = 0; n < n_nodes; ++n)
        mesh_ports.push_back(free_udp_port());
    std::vector<std::unique_ptr<test::child_process>> servers, loadgens;
    std::vector<std::string> ports, epochs;
    std::vector<line_tail> stats;
    for (std::size_t n = 0; n < n_nodes; ++n) {
        const std::string name = "node" + std::to_string(n + 1);
        std::filesystem::remove(dir / (name + ".stats"));
        std::vector<std::string> args = {"--port",
                                         "0",
                                         "--max-players",
                                         std::to_string(p.players + 4),
                                         "--frame-ms",
                                         "5",
                                         "--mode",
                                         "time-advanced",
                                         "--mix",
                                         p.mix,
                                         "--stats",
                                         (dir / (name + ".stats")).string(),
                                         "--udp-secret-file",
                                         secret,
                                         "--duration",
                                         std::to_string(static_cast<int>(loadgen_s + 120))};
        const auto mesh = test::mesh_node_args(dir, mesh_ports, n);
        args.insert(args.end(), mesh.begin(), mesh.end());
        args.insert(args.end(), {"--mesh-codec", p.mesh_codec});
        test::child_options so;
        so.stdout_file = dir / (name + ".log");
        so.stderr_file = dir / (name + ".err");
        std::filesystem::remove(so.stdout_file);
        servers.push_back(std::make_unique<test::child_process>(p.server_exe.string(), args, so));
        // In order: each later node takes node 1's timeline as it starts.
        const auto port = wait_for_match(so.stdout_file, "listening on udp [0-9.]+:([0-9]+)", 20s);
        const auto epoch = wait_for_match(so.stdout_file, "epoch_monotonic_ns ([0-9]+)", 5s);
        if (!port || !epoch) {
            res.error = name + " did not start: " + first_line(test::read_file(so.stderr_file));
            return res;
        }
        ports.push_back(*port);
        epochs.push_back(*epoch);
        stats.emplace_back(dir / (name + ".stats"));
    }
    for (std::size_t n = 0; n < n_nodes; ++n) {
        test::child_options lo;
        lo.stdout_file = dir / ("loadgen" + std::to_string(n + 1) + ".log");
        lo.stderr_file = dir / ("loadgen" + std::to_string(n + 1) + ".err");
        loadgens.push_back(std::make_unique<test::child_process>(
            p.loadgen_exe.string(),
            std::vector<std::string>{"--server", "127.0.0.1:" + ports[n], "--players",
                                     std::to_string(p.players), "--seconds", fmt(loadgen_s),
                                     "--seed", std::to_string(p.seed + n), "--ramp-s",
                                     fmt(p.ramp_s), "--epoch-ns", epochs[n], "--udp-secret-file",
                                     secret, "--session-base", std::to_string(1000 + 10000 * n)},
            lo));
    }
    // Everyone in on every node.
    const auto started = std::chrono::steady_clock::now();
    std::vector<double> seen(n_nodes, 0);
    auto all_in = [&] {
        return std::all_of(seen.begin(), seen.end(), [&](double s) { return s >= p.players; });
    };
    while (!all_in() && seconds_since(started) < p.ramp_s + k_join_slack_s) {
        for (std::size_t n = 0; n < n_nodes; ++n)
            for (const auto& line : stats[n].poll())
                seen[n] = json_number(line, "players").value_or(seen[n]);
        std::this_thread::sleep_for(50ms);
    }
    if (!all_in()) {
        std::ostringstream why;
        why << "not every player joined in time:";
        for (std::size_t n = 0; n < n_nodes; ++n)
            why << " node " << n + 1 << " " << seen[n];
        res.error = why.str();
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(p.settle_s));

    // The window: a stats line of every node, each with its CPU time read right after it.
    std::vector<std::optional<std::string>> first(n_nodes), last(n_nodes);
    std::vector<std::optional<double>> cpu0(n_nodes), cpu1(n_nodes);
    double lg0 = 0, lg1 = 0;
    for (std::size_t n = 0; n < n_nodes; ++n) {
        first[n] = stats[n].next(2s);
        cpu0[n] = tick_cpu_seconds(stat_path(servers[n]->pid()));
        lg0 += tick_cpu_seconds(stat_path(loadgens[n]->pid())).value_or(0);
    }
    const auto t0 = std::chrono::steady_clock::now();
    while (seconds_since(t0) < p.seconds) {
        std::this_thread::sleep_for(200ms);
        for (auto& s : stats)
            s.poll();
    }
    const double window = seconds_since(t0);
    for (std::size_t n = 0; n < n_nodes; ++n) {
        last[n] = stats[n].next(2s);
        cpu1[n] = tick_cpu_seconds(stat_path(servers[n]->pid()));
        lg1 += tick_cpu_seconds(stat_path(loadgens[n]->pid())).value_or(0);
    }
    res.loadgen_cores = (lg1 - lg0) / window;
    for (std::size_t n = 0; n < n_nodes; ++n) {
        mesh_node_result r;
        r.node = static_cast<int>(n + 1);
        if (!first[n] || !last[n] || !cpu0[n] || !cpu1[n]) {
            res.error = "node " + std::to_string(n + 1) + " stopped reporting in the window";
            res.nodes.push_back(r);
            continue;
        }
        const auto diff = [&](const char* key) {
            return json_number(*last[n], key).value_or(0) - json_number(*first[n], key).value_or(0);
        };
        r.players = json_number(*last[n], "players").value_or(0);
        r.frames = diff("frames");
        r.late_frames = diff("late_frames");
        r.cpu_cores = (*cpu1[n] - *cpu0[n]) / window;
        r.to_players_mbps = diff("bytes_out") * 8 / window / 1e6;
        r.to_mesh_mbps = diff("mesh_bytes_out") * 8 / window / 1e6;
        r.from_mesh_per_s = diff("mesh_datagrams_in") / window;
        r.late_stems = diff("mesh_late_stems");
        r.block_time_p99_us = json_number(*last[n], "block_time_p99_us").value_or(0);
        r.rss_mib = status_number(servers[n]->pid(), "VmHWM:").value_or(0) / 1024.0;
        res.nodes.push_back(r);
    }
    for (auto& l : loadgens)
        l->wait_for_exit(std::chrono::milliseconds(static_cast<long>((k_tail_s + 30) * 1000)));
    for (auto& s : servers) {
        s->signal(SIGINT);
        s->wait_for_exit(20s);
    }
    return res;
}

} // namespace gno::bench
